package pack

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/draftk8s/draft/templates"
)

// Input is what the pack is rendered for: the app's name and what detection
// read from its manifests.
type Input struct {
	App            string
	Port           int    // 0: the framework's or the pack's default
	Version        string // the app's version or constraint, "" when it does not say
	Framework      string
	BuildTool      string
	DepFiles       []string
	Entry          string
	Server         string
	Module         string
	HasBuildScript bool
	// Secrets are patterns (.dockerignore syntax) that the .dockerignore
	// written must end with, so that no rule of the pack's lets them in.
	Secrets []string
}

// File is one file to write, its path relative to the app's directory.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Rendered is a pack rendered for an app.
type Rendered struct {
	Files   []File
	Version string   // the image tag chosen
	Port    int      // the port chosen
	Notes   []string // choices worth telling the user
}

// dockerfileData is what a pack's Dockerfile template sees.
type dockerfileData struct {
	Input
	Version string // the image tag
	Port    int
}

// chartData is what the chart template sees.
type chartData struct {
	App           string
	Port          int
	LivenessDelay int
	Resources     struct {
		Requests Resources
		Limits   Resources
	}
}

// ChartDir is where the chart of app is written, relative to the app's directory.
func ChartDir(app string) string { return path.Join("charts", app) }

// Render renders the pack's Dockerfile, .dockerignore and chart for in.
func (p *Pack) Render(in Input) (*Rendered, error) {
	r := &Rendered{}
	version, note := p.ResolveVersion(in.Version)
	r.Version = version
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	r.Port = in.Port
	if r.Port == 0 {
		r.Port = p.Port
		if fw, ok := p.Frameworks[in.Framework]; ok && fw.Port != 0 {
			r.Port = fw.Port
		}
	}
	df, err := fs.ReadFile(p.fsys, fileDockerfile)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile of pack %s: %w", p.Name, err)
	}
	out, err := execute("Dockerfile of pack "+p.Name, string(df), "{{", "}}", dockerfileData{Input: in, Version: r.Version, Port: r.Port})
	if err != nil {
		return nil, err
	}
	r.Files = append(r.Files, File{Path: "Dockerfile", Data: out, Mode: 0o644})
	if di, err := fs.ReadFile(p.fsys, fileDockerignore); err == nil || len(in.Secrets) > 0 {
		r.Files = append(r.Files, File{Path: ".dockerignore", Data: withSecrets(di, in.Secrets), Mode: 0o644})
	}
	chart, err := p.renderChart(in.App, r.Port)
	if err != nil {
		return nil, err
	}
	r.Files = append(r.Files, chart...)
	return r, nil
}

// renderChart renders the pack's own chart folder if it has one, else the shared chart.
func (p *Pack) renderChart(app string, port int) ([]File, error) {
	var src fs.FS
	if sub, err := fs.Sub(p.fsys, dirChart); err == nil {
		if _, err := fs.Stat(sub, "Chart.yaml"); err == nil {
			src = sub
		}
	}
	if src == nil {
		src, _ = fs.Sub(templates.Chart, "chart")
	}
	data := chartData{App: app, Port: port, LivenessDelay: p.LivenessDelay}
	data.Resources.Requests, data.Resources.Limits = p.Resources.Requests, p.Resources.Limits
	var files []File
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		out, err := execute("chart file "+name, string(b), "[[", "]]", data)
		if err != nil {
			return err
		}
		files = append(files, File{Path: path.Join(ChartDir(app), name), Data: out, Mode: 0o644})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rendering the chart of pack %s: %w", p.Name, err)
	}
	return files, nil
}

func execute(what, text, left, right string, data any) ([]byte, error) {
	t, err := template.New(what).Delims(left, right).Funcs(sprig.TxtFuncMap()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing the %s: %w", what, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("rendering the %s: %w", what, err)
	}
	return buf.Bytes(), nil
}

// withSecrets ends a .dockerignore with the secret patterns: last, so that no
// exception above them can let a secret in.
func withSecrets(di []byte, secrets []string) []byte {
	if len(secrets) == 0 {
		return di
	}
	out := append([]byte(nil), di...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "# secrets, at every depth: last, so that no rule above lets one in\n"...)
	for _, s := range secrets {
		out = append(out, s...)
		out = append(out, '\n')
	}
	return out
}
