package pack

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/draftk8s/draft/templates"
)

// Input is what the pack is rendered for: the app's name and what detection
// read from its manifests.
type Input struct {
	App     string
	Port    int    // 0: the framework's or the pack's default
	Version string // the app's version or constraint, "" when it does not say
	// VersionBounds are constraints on the runtime version that the app's
	// lockfile or pinned framework imposes (constraint -> who imposes it:
	// "symfony/console 5.4.1 in composer.lock", "rails 4.2.11").
	VersionBounds  map[string]string
	Framework      string
	BuildTool      string
	DepFiles       []string
	Entry          string
	Server         string
	Module         string
	BuildScript    string   // the npm script that compiles the app ("build", "prestart:prod"), "" for none
	Prepare        bool     // the Node app has a prepare script (left out of the production install)
	Pnpm           string   // the pnpm major version to prepare with corepack ("" for corepack's choice)
	Assets         string   // the folder a PHP app's front-end build writes (public/build)
	AssetDeps      []string // the package files that build installs from
	Start          string   // the app's own start command (a Procfile's), run by a shell
	Object         string   // the app object in a Python Entry module ("app", "create_app()")
	RuntimeDirs    []string // folders the app reads at run time, to go beside a compiled binary
	Wrapper        bool     // a Gradle wrapper to build with
	Args           []string // arguments the program needs (a Go listen-address flag)
	Static         string   // the folder a front-end's build writes, to be served as files
	Cgo            []string // Go modules that need cgo
	Includes       []string // files requirements.txt includes (-r, -c), copied with it
	CollectStatic  bool     // Django: collectstatic before the server (whitenoise)
	Native         []string // packages with native parts, compiled in a build stage
	NativePackages []string // the -dev packages their build needs
	// Secrets are patterns (.dockerignore syntax) that the .dockerignore
	// written must end with, so that no rule of the pack's lets them in.
	Secrets []string
	// RunAs is how the image's process runs when the app keeps a Dockerfile
	// of its own; the zero value is the pack's Dockerfile: user 10001.
	RunAs RunAs
	// Kept: the app keeps a Dockerfile of its own; the pack's is rendered
	// (for the notes) but not written.
	Kept bool
	// Copied are the context paths a kept Dockerfile COPYs or ADDs: the
	// .dockerignore written beside it leaves out none of them.
	Copied []string
}

// RunAs is the user an image runs as, as the chart's security context must
// allow it.
type RunAs struct {
	// Mode: "" (the pack's own Dockerfile: user 10001, no capabilities),
	// "root" (no USER: the chart forces no user and keeps the runtime's
	// default capabilities), "uid" (a numeric USER: that user, no
	// capabilities), "name" (a USER by name: the image's user, which
	// Kubernetes cannot check is not root, no capabilities).
	Mode     string
	UID, GID int
	Name     string
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
	Version string // the image tag chosen
	// VersionBound: the tag is not the one the app's own version gave, for a
	// bound of its lockfile or framework (a note says which).
	VersionBound bool
	Port         int      // the port chosen
	Notes        []string // choices worth telling the user
	// IgnoreNotes tell of the .dockerignore's rules left out for a kept
	// Dockerfile (Notes are about the pack's own Dockerfile).
	IgnoreNotes []string
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
	RunAs         RunAs
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
	if len(in.VersionBounds) > 0 {
		asked := version
		if version, note = p.withinBounds(in.Version, version, note, in.VersionBounds); version != asked {
			r.VersionBound = true
		}
	}
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
	if line := copyWithoutSource(out); line != "" && !in.Kept {
		return nil, fmt.Errorf("the Dockerfile of pack %s came out with %q, a copy of nothing, for this app: write a Dockerfile of your own (draft keeps it) or choose another pack with --pack", p.Name, line)
	}
	r.Files = append(r.Files, File{Path: "Dockerfile", Data: out, Mode: 0o644})
	if di, err := fs.ReadFile(p.fsys, fileDockerignore); err == nil || len(in.Secrets) > 0 {
		di, dropped := keepCopied(di, in.Copied)
		for _, d := range dropped {
			r.IgnoreNotes = append(r.IgnoreNotes, fmt.Sprintf("the .dockerignore written does not leave out %s: your Dockerfile copies it", d))
		}
		r.Files = append(r.Files, File{Path: ".dockerignore", Data: withSecrets(di, in.Secrets), Mode: 0o644})
	}
	chart, err := p.renderChart(in.App, r.Port, in.RunAs)
	if err != nil {
		return nil, err
	}
	r.Files = append(r.Files, chart...)
	return r, nil
}

// renderChart renders the pack's own chart folder if it has one, else the shared chart.
func (p *Pack) renderChart(app string, port int, runAs RunAs) ([]File, error) {
	var src fs.FS
	if sub, err := fs.Sub(p.fsys, dirChart); err == nil {
		if _, err := fs.Stat(sub, "Chart.yaml"); err == nil {
			src = sub
		}
	}
	if src == nil {
		src, _ = fs.Sub(templates.Chart, "chart")
	}
	data := chartData{App: app, Port: port, RunAs: runAs, LivenessDelay: p.LivenessDelay}
	data.Resources.Requests, data.Resources.Limits = p.Resources.Requests, p.Resources.Limits
	files, err := renderTree(src, ChartDir(app), "chart file", data)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart of pack %s: %w", p.Name, err)
	}
	return files, nil
}

// renderTree renders every file of src with [[ ]] templates and data, as
// files below dest.
func renderTree(src fs.FS, dest, what string, data any) ([]File, error) {
	var files []File
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		out, err := execute(what+" "+name, string(b), "[[", "]]", data)
		if err != nil {
			return err
		}
		files = append(files, File{Path: path.Join(dest, name), Data: out, Mode: 0o644})
		return nil
	})
	return files, err
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
// keepCopied drops the rules of a .dockerignore that would leave out a path
// a kept Dockerfile copies (dist/ built on the host, say); it returns them.
func keepCopied(di []byte, copied []string) ([]byte, []string) {
	if len(copied) == 0 {
		return di, nil
	}
	var srcs []string
	for _, c := range copied {
		c = strings.TrimSuffix(strings.TrimPrefix(path.Clean("/"+c), "/"), "/")
		if c != "" && c != "." && !strings.ContainsAny(c, "*?[$") {
			srcs = append(srcs, c)
		}
	}
	var out []string
	var dropped []string
	for _, line := range strings.SplitAfter(string(di), "\n") {
		rule := strings.TrimSpace(line)
		if rule == "" || strings.HasPrefix(rule, "#") || strings.HasPrefix(rule, "!") {
			out = append(out, line)
			continue
		}
		pat := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(rule, "/"), "**/"), "/")
		hit := false
		for _, src := range srcs {
			for p := src; p != "." && p != "/" && !hit; p = path.Dir(p) {
				if ok, _ := path.Match(pat, p); ok {
					hit = true
				}
				if ok, _ := path.Match(pat, path.Base(p)); ok && strings.HasPrefix(rule, "**/") {
					hit = true
				}
			}
		}
		if hit {
			dropped = append(dropped, rule)
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "")), dropped
}

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

// copyWithoutSource is the first COPY or ADD line of a Dockerfile that names
// a destination alone (a template's list of sources came out empty), or "".
func copyWithoutSource(dockerfile []byte) string {
	for _, line := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (!strings.EqualFold(f[0], "COPY") && !strings.EqualFold(f[0], "ADD")) {
			continue
		}
		args := 0
		for _, a := range f[1:] {
			if !strings.HasPrefix(a, "--") {
				args++
			}
		}
		if args < 2 && !strings.HasSuffix(line, "\\") && !strings.Contains(line, "[") && !strings.Contains(line, "<<") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
