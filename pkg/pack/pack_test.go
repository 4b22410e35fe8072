package pack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// inputs are the app shapes each pack is rendered for: every framework and build tool it supports.
var inputs = map[string][]Input{
	"python": {
		{Entry: "app.py"},
		{Framework: "flask", BuildTool: "pip", DepFiles: []string{"requirements.txt"}, Entry: "app", Version: ">=3.10,<3.13"},
		{Framework: "flask", BuildTool: "pip", DepFiles: []string{"requirements.txt"}, Entry: "app", Server: "gunicorn"},
		{Framework: "django", BuildTool: "pip", DepFiles: []string{"requirements.txt"}, Entry: "mysite", Server: "gunicorn", Version: "3.11.4"},
		{Framework: "django", BuildTool: "pipenv", DepFiles: []string{"Pipfile", "Pipfile.lock"}, Entry: "mysite"},
		{Framework: "fastapi", BuildTool: "pip", DepFiles: []string{"pyproject.toml"}, Entry: "main", Server: "uvicorn"},
		{Framework: "fastapi", BuildTool: "pip", DepFiles: []string{"pyproject.toml"}, Entry: "main", Server: "uvicorn", Version: "3.9"},
		{BuildTool: "poetry", DepFiles: []string{"pyproject.toml", "poetry.lock"}, Entry: "main.py"},
	},
	"node": {
		{Framework: "express", BuildTool: "npm", DepFiles: []string{"package.json", "package-lock.json"}, Entry: "server.js", Version: "^20"},
		{BuildTool: "npm", DepFiles: []string{"package.json"}},
		{Framework: "nest", BuildTool: "yarn", DepFiles: []string{"package.json", "yarn.lock"}, BuildScript: "build"},
		{Framework: "next", BuildTool: "pnpm", DepFiles: []string{"package.json", "pnpm-lock.yaml"}, BuildScript: "build"},
		{BuildTool: "yarn", DepFiles: []string{"package.json", "yarn.lock", ".yarnrc.yml"}, Entry: "index.js"},
	},
	"go": {
		{BuildTool: "go", DepFiles: []string{"go.mod", "go.sum"}, Entry: ".", Version: "1.23.4"},
		{Framework: "gin", BuildTool: "go", DepFiles: []string{"go.mod"}, Entry: "./cmd/api", Version: "1.22"},
		{BuildTool: "go", DepFiles: []string{"go.mod", "go.sum", "vendor"}, Entry: "."},
	},
	"java": {
		{Framework: "spring-boot", BuildTool: "maven", DepFiles: []string{"pom.xml"}, Version: "17"},
		{BuildTool: "maven", DepFiles: []string{"pom.xml"}, Entry: "com.example.Main", Version: "1.8"},
		{Framework: "spring-boot", BuildTool: "gradle", DepFiles: []string{"settings.gradle.kts", "build.gradle.kts"}, Version: "21"},
		{BuildTool: "gradle", DepFiles: []string{"build.gradle"}, Module: "tool", Entry: "com.example.Main"},
	},
	"ruby": {
		{Entry: "app.rb"},
		{Framework: "rails", BuildTool: "bundler", DepFiles: []string{"Gemfile", "Gemfile.lock"}, Version: "3.2.2"},
		{Framework: "sinatra", BuildTool: "bundler", DepFiles: []string{"Gemfile"}, Entry: "app.rb", Version: "~> 3.1"},
		{Framework: "rack", BuildTool: "bundler", DepFiles: []string{"Gemfile", "Gemfile.lock"}, Entry: "config.ru"},
	},
	"php": {
		{Entry: "."},
		{Framework: "laravel", BuildTool: "composer", DepFiles: []string{"composer.json", "composer.lock"}, Entry: "public", Version: "^8.2"},
		{Framework: "slim", BuildTool: "composer", DepFiles: []string{"composer.json"}, Entry: "public"},
	},
}

// metadata are the instructions allowed after the source is copied.
var metadata = map[string]bool{"user": true, "expose": true, "cmd": true, "entrypoint": true, "env": true, "label": true}

func TestEveryPackRendersAGoodDockerfileAndChart(t *testing.T) {
	packs, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(Names(packs), ","); got != "go,java,node,php,python,ruby" {
		t.Fatalf("built-in packs = %s", got)
	}
	for _, p := range packs {
		if len(inputs[p.Name]) == 0 {
			t.Errorf("pack %s has no test inputs", p.Name)
		}
		for i, in := range inputs[p.Name] {
			in.App = "demo-" + p.Name
			t.Run(fmt.Sprintf("%s/%d-%s-%s", p.Name, i, in.Framework, in.BuildTool), func(t *testing.T) {
				in.Secrets = []string{"**/.env", "!**/.env.example", "**/*.key"}
				r, err := p.Render(in)
				if err != nil {
					t.Fatal(err)
				}
				files := map[string][]byte{}
				for _, f := range r.Files {
					files[f.Path] = f.Data
				}
				checkDockerfile(t, files["Dockerfile"], r.Port, in)
				checkDockerignore(t, files[".dockerignore"])
				checkChart(t, r.Files, in.App, r.Port)
			})
		}
	}
}

func checkDockerfile(t *testing.T, df []byte, port int, in Input) {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(df))
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v\n%s", err, df)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions do not parse: %v\n%s", err, df)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("parser warnings: %v", res.Warnings)
	}
	final := stages[len(stages)-1]
	var user, exposed string
	lastContent := -1
	for i, c := range final.Commands {
		name := strings.ToLower(c.Name())
		switch cmd := c.(type) {
		case *instructions.UserCommand:
			user = cmd.User
		case *instructions.ExposeCommand:
			exposed = strings.Join(cmd.Ports, " ")
		}
		if !metadata[name] {
			lastContent = i
		}
	}
	if lastContent < 0 {
		t.Fatalf("final stage has no content\n%s", df)
	}
	if last, ok := final.Commands[lastContent].(*instructions.CopyCommand); !ok {
		t.Errorf("the last content instruction is %s, want the COPY of the source or artifact\n%s", final.Commands[lastContent].Name(), df)
	} else if uid := strings.Split(user, ":")[0]; uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER = %q, want a non-root numeric user", user)
	} else if _, err := strconv.Atoi(uid); err != nil {
		t.Errorf("USER = %q, want numeric (runAsNonRoot can only check numbers)", user)
	} else if last.From == "" && !strings.Contains(strings.Join(last.SourcePaths, " "), ".") {
		t.Errorf("last COPY copies %v, want the source", last.SourcePaths)
	}
	if exposed != strconv.Itoa(port) {
		t.Errorf("EXPOSE %q, want %d", exposed, port)
	}
	// Dependency manifests are copied and installed before the source, in the stage that copies the source.
	for _, st := range stages {
		sawDeps, sawInstall := false, false
		for _, c := range st.Commands {
			switch cmd := c.(type) {
			case *instructions.CopyCommand:
				src := strings.Join(cmd.SourcePaths, " ")
				if src == "." && cmd.From == "" {
					if len(in.DepFiles) > 0 && !contains(in.DepFiles, "vendor") && (!sawDeps || !sawInstall) {
						t.Errorf("stage %q copies the source before copying and installing %v\n%s", st.Name, in.DepFiles, df)
					}
				} else if cmd.From == "" && src != "" {
					for _, d := range strings.Fields(src) {
						if !contains(in.DepFiles, d) {
							t.Errorf("COPY %s before the source: %s is not a dependency file", src, d)
						}
					}
					sawDeps = true
				}
			case *instructions.RunCommand:
				if sawDeps {
					sawInstall = true
				}
			}
		}
	}
}

func checkDockerignore(t *testing.T, di []byte) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(string(di), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, must := range []string{".git", "charts", "draft.toml"} {
		if !lines[must] {
			t.Errorf(".dockerignore lacks %s", must)
		}
	}
	// the secrets come last, in their order, so that no rule above lets one in
	want := "# secrets, at every depth: last, so that no rule above lets one in\n**/.env\n!**/.env.example\n**/*.key\n"
	if !strings.HasSuffix(string(di), want) {
		t.Errorf(".dockerignore does not end with the secrets:\n%s", di)
	}
}

func checkChart(t *testing.T, files []File, app string, port int) {
	t.Helper()
	dir := t.TempDir()
	var chartFiles []File
	for _, f := range files {
		if strings.HasPrefix(f.Path, "charts/") {
			chartFiles = append(chartFiles, f)
		}
	}
	if _, err := Write(dir, chartFiles, false); err != nil {
		t.Fatal(err)
	}
	chartDir := filepath.Join(dir, "charts", app)
	linter := lint.All(chartDir, map[string]any{"image": map[string]any{"repository": "127.0.0.1:5000/" + app, "tag": "abc"}}, "default", false)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	render := func(vals map[string]any) map[string]string {
		t.Helper()
		rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: app, Namespace: "dev", IsInstall: true}, chartutil.DefaultCapabilities)
		if err != nil {
			t.Fatal(err)
		}
		out, err := engine.Render(ch, rv)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := render(map[string]any{"image": map[string]any{"repository": "127.0.0.1:5000/" + app, "tag": "t1", "digest": "sha256:" + strings.Repeat("a", 64)}})
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(out[app+"/templates/deployment.yaml"]), &dep); err != nil {
		t.Fatalf("deployment: %v\n%s", err, out[app+"/templates/deployment.yaml"])
	}
	if dep.Name != app || dep.Labels["app.kubernetes.io/name"] != app || dep.Labels["app.kubernetes.io/instance"] != app || dep.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("deployment name/labels: %s %v", dep.Name, dep.Labels)
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || dep.Spec.Strategy.RollingUpdate.MaxSurge == nil || dep.Spec.Strategy.RollingUpdate.MaxUnavailable == nil {
		t.Errorf("strategy: %+v", dep.Spec.Strategy)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas: %v", dep.Spec.Replicas)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if want := "127.0.0.1:5000/" + app + ":t1@sha256:" + strings.Repeat("a", 64); c.Image != want {
		t.Errorf("image = %s, want %s", c.Image, want)
	}
	if len(c.Ports) != 1 || int(c.Ports[0].ContainerPort) != port {
		t.Errorf("ports = %v, want %d", c.Ports, port)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "http" {
			t.Errorf("%s probe = %+v, want tcpSocket on http", name, p)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.PeriodSeconds > 2 {
		t.Errorf("readiness period %ds: too slow for the inner loop", c.ReadinessProbe.PeriodSeconds)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	psc := dep.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext: %+v", psc)
	}
	if c.Env[0].Name != "PORT" || c.Env[0].Value != strconv.Itoa(port) {
		t.Errorf("env = %v, want PORT=%d first", c.Env, port)
	}
	for _, off := range []string{"ingress.yaml", "hpa.yaml"} {
		if s := strings.TrimSpace(out[app+"/templates/"+off]); s != "" {
			t.Errorf("%s renders by default:\n%s", off, s)
		}
	}
	if !strings.Contains(out[app+"/templates/NOTES.txt"], "draft connect") {
		t.Errorf("NOTES.txt does not say how to reach the app")
	}
	// Switched on: ingress, HPA, http probes, envFrom a Secret.
	on := render(map[string]any{
		"ingress":     map[string]any{"enabled": true},
		"autoscaling": map[string]any{"enabled": true},
		"probes":      map[string]any{"type": "http", "path": "/healthz"},
		"envFrom":     []any{map[string]any{"secretRef": map[string]any{"name": "s"}}},
		"env":         map[string]any{"GREETING": "hi"},
	})
	for _, f := range []string{"ingress.yaml", "hpa.yaml"} {
		if !strings.Contains(on[app+"/templates/"+f], "kind:") {
			t.Errorf("%s does not render when enabled", f)
		}
	}
	var dep2 appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(on[app+"/templates/deployment.yaml"]), &dep2); err != nil {
		t.Fatal(err)
	}
	c2 := dep2.Spec.Template.Spec.Containers[0]
	if c2.ReadinessProbe.HTTPGet == nil || c2.ReadinessProbe.HTTPGet.Path != "/healthz" || dep2.Spec.Replicas != nil {
		t.Errorf("http probe / hpa replicas not applied: %+v %v", c2.ReadinessProbe, dep2.Spec.Replicas)
	}
	if len(c2.EnvFrom) != 1 || c2.EnvFrom[0].SecretRef.Name != "s" || len(c2.Env) != 2 {
		t.Errorf("envFrom/env not applied: %+v %+v", c2.EnvFrom, c2.Env)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestResolveVersion(t *testing.T) {
	packs, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	get := func(n string) *Pack { p, _ := Find(packs, n); return p }
	tests := []struct {
		pack, in, want string
		note           bool
	}{
		{"python", "", "3.12", false},
		{"python", "3.11.4", "3.11", false},
		{"python", ">=3.10", "3.12", false},
		{"python", ">=3.10,<3.13", "3.12", false},
		{"python", "~=3.10", "3.12", false},
		{"python", "==3.11.*", "3.11", false},
		{"python", "3", "3.12", false},
		{"python", ">=3.13", "3.13", false},
		{"python", ">=4", "3.12", true},
		{"node", ">=18 <21", "20", false},
		{"node", "^18.17.0", "18", false},
		{"node", "20.x", "20", false},
		{"node", "18 || 20", "20", false},
		{"node", "v22.3.0", "22", false},
		{"node", "lts/*", "22", true},
		{"go", "1.23.4", "1.23", false},
		{"go", "1.22", "1.22", false},
		{"java", "1.8", "8", true}, // older than the pack's versions: said
		{"node", "4.0.0", "4", true},
		{"python", "3.99", "3.99", true},
		{"java", "17", "17", false},
		{"ruby", "~> 3.2", "3.3", false},
		{"ruby", "3.2.2", "3.2", false},
		{"php", "^8.1", "8.3", false},
		{"php", "^8.4", "8.4", false},
		{"php", ">=8.1 <8.3", "8.2", false},
		{"php", "~8.1.0", "8.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.pack+" "+tt.in, func(t *testing.T) {
			got, note := get(tt.pack).ResolveVersion(tt.in)
			if got != tt.want || (note != "") != tt.note {
				t.Errorf("ResolveVersion(%q) = %q, %q; want %q, note %v", tt.in, got, note, tt.want, tt.note)
			}
		})
	}
}

func TestVersionWithinBounds(t *testing.T) {
	packs, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	get := func(n string) *Pack { p, _ := Find(packs, n); return p }
	tests := []struct {
		pack, in string
		bounds   map[string]string
		want     string
		note     string // "" for none
	}{
		{"php", "^8.1", map[string]string{">=8.1": "a", "^7.4|^8.0": "b"}, "8.3", ""},
		{"php", "^8.1", map[string]string{">=8.4": "symfony/string 7.3.0 (composer.lock)"}, "8.4", "symfony/string 7.3.0 (composer.lock) needs php >=8.4: the Dockerfile uses 8.4, not 8.3"},
		{"php", "", map[string]string{"^7.1.3": "laravel/framework 5.8.38 (composer.lock)"}, "8.3", "no version draft knows (8.4, 8.3, 8.2, 8.1) meets it"},
		{"php", ">=8.1 <8.3", map[string]string{">=8.3": "x 1.0 (composer.lock)"}, "8.2", "together with the app's own >=8.1 <8.3"},
		{"php", "", map[string]string{"<8.3": "y 2.0 (composer.lock)"}, "8.2", "needs php <8.3: the Dockerfile uses 8.2, not 8.3"},
		{"ruby", "", map[string]string{"< 3.0": "rails 5.2.8 (Gemfile.lock)"}, "3.3", "rails 5.2.8 (Gemfile.lock) needs ruby < 3.0, and no version draft knows"},
	}
	for _, tt := range tests {
		t.Run(tt.pack+" "+tt.in, func(t *testing.T) {
			p := get(tt.pack)
			tag, note := p.ResolveVersion(tt.in)
			got, note := p.withinBounds(tt.in, tag, note, tt.bounds)
			if got != tt.want || (tt.note == "") != (note == "") || !strings.Contains(note, tt.note) {
				t.Errorf("withinBounds(%q, %v) = %q, %q; want %q, note %q", tt.in, tt.bounds, got, note, tt.want, tt.note)
			}
		})
	}
}

func TestUserPacks(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A new pack, and an override of python that replaces only its Dockerfile.
	must(os.MkdirAll(filepath.Join(dir, "rust"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "rust", "Dockerfile"), []byte("FROM rust:1\nCOPY . .\nUSER 1000\nEXPOSE {{ .Port }}\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rust", "pack.yaml"), []byte("description: Rust\nport: 7000\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "python"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "python", "Dockerfile"), []byte("FROM python:{{ .Version }}-alpine\n"), 0o644))
	packs, err := Load(dir)
	must(err)
	rust, ok := Find(packs, "rust")
	if !ok || rust.Source != filepath.Join(dir, "rust") || rust.Overrides || rust.Port != 7000 {
		t.Fatalf("rust pack = %+v", rust)
	}
	py, _ := Find(packs, "python")
	if py.Source != filepath.Join(dir, "python") || !py.Overrides || py.DefaultVersion != "3.12" {
		t.Fatalf("python override = %+v (pack.yaml should come from the built-in pack)", py)
	}
	r, err := py.Render(Input{App: "x"})
	must(err)
	if string(r.Files[0].Data) != "FROM python:3.12-alpine\n" {
		t.Errorf("override Dockerfile = %q", r.Files[0].Data)
	}
	if r.Files[1].Path != ".dockerignore" || len(r.Files[1].Data) == 0 {
		t.Errorf("override lost the built-in .dockerignore")
	}
	// A broken pack is a clear error naming it.
	must(os.MkdirAll(filepath.Join(dir, "broken"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "broken", "Dockerfile"), []byte("FROM x\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "broken", "pack.yaml"), []byte("prot: 1\n"), 0o644))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "pack.yaml of pack broken") {
		t.Fatalf("err = %v, want an error naming pack.yaml of pack broken", err)
	}
}

func TestWriteNeverOverwritesWithoutForce(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []File{{Path: "Dockerfile", Data: []byte("theirs"), Mode: 0o644}, {Path: "charts/a/Chart.yaml", Data: []byte("x"), Mode: 0o644}}
	w, err := Write(dir, files, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "Dockerfile")); string(b) != "mine" {
		t.Errorf("Dockerfile overwritten: %q", b)
	}
	if strings.Join(w.Kept, ",") != "Dockerfile" || strings.Join(w.Wrote, ",") != "charts/a/Chart.yaml" {
		t.Errorf("written = %+v", w)
	}
	w, err = Write(dir, files, true)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "Dockerfile")); string(b) != "theirs" || len(w.Wrote) != 2 {
		t.Errorf("force: Dockerfile %q, written %+v", b, w)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".draft-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A charts symlink that leads out of the app is never written through, with
// or without force, and the file outside stays as it was.
func TestWriteRefusesSymlinksOutOfTheApp(t *testing.T) {
	app, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "demo", "values.yaml")
	if err := os.WriteFile(victim, []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(app, "charts")); err != nil {
		t.Fatal(err)
	}
	files := []File{{Path: "Dockerfile", Data: []byte("FROM scratch\n"), Mode: 0o644}, {Path: "charts/demo/values.yaml", Data: []byte("ours\n"), Mode: 0o644}}
	for _, force := range []bool{false, true} {
		w, err := Write(app, files, force)
		if err == nil || !strings.Contains(err.Error(), "a symlink on its path leads out of the app's folder") {
			t.Errorf("force=%v: err = %v, want a refusal", force, err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "theirs\n" {
			t.Errorf("force=%v: the file outside the app was written: %q", force, b)
		}
		if len(w.Wrote)+len(w.Kept) != 1 || (len(w.Wrote) == 1 && w.Wrote[0] != "Dockerfile") {
			t.Errorf("force=%v: Written %+v, want the Dockerfile only", force, w)
		}
	}
	// a link inside the app is followed as before
	os.Remove(filepath.Join(app, "charts"))
	os.MkdirAll(filepath.Join(app, "deploy"), 0o755)
	os.Symlink("deploy", filepath.Join(app, "charts"))
	if _, err := Write(app, files, true); err != nil {
		t.Fatalf("a charts link inside the app: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(app, "deploy", "demo", "values.yaml")); string(b) != "ours\n" {
		t.Errorf("through the link inside the app: %q", b)
	}
}

func TestCopyWithoutSource(t *testing.T) {
	for _, tt := range []struct{ df, want string }{
		{"FROM x\nCOPY  ./\nRUN true\n", "COPY  ./"},
		{"FROM x\nCOPY --chown=1:1 ./\n", "COPY --chown=1:1 ./"},
		{"FROM x\nADD  /app/\n", "ADD  /app/"},
		{"FROM x\nCOPY go.mod go.sum ./\nCOPY . .\n", ""},
		{"FROM x\nCOPY --from=build /out/app /app\n", ""},
		{"FROM x\nCOPY [\"a b\", \"/c/\"]\n", ""},
		{"FROM x\nCOPY a \\\n  b /c/\n", ""},
		{"# COPY nothing\nFROM x\n", ""},
	} {
		if got := copyWithoutSource([]byte(tt.df)); got != tt.want {
			t.Errorf("copyWithoutSource(%q) = %q, want %q", tt.df, got, tt.want)
		}
	}
}
