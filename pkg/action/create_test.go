package action

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/build"
)

// options for cases that need flags; the rest run with none.
var caseOptions = map[string]Create{
	"python-plain": {Port: 9000},
	"php-plain":    {App: "hello-php"},
}

// TestCreateGolden runs Create on testdata/create/<case>/src and compares the
// whole resulting tree with testdata/create/<case>/want.
func TestCreateGolden(t *testing.T) {
	cases, err := os.ReadDir(filepath.Join("testdata", "create"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		name := c.Name()
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("testdata", "create", name, "src")
			want := filepath.Join("testdata", "create", name, "want")
			// The app's folder is named after the case, so the app's name is the case's name.
			dir := filepath.Join(t.TempDir(), name)
			testkit.CopyTree(t, src, dir)
			opts := caseOptions[name]
			opts.Dir, opts.PackDir = dir, ""
			if _, err := opts.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := readTree(t, dir)
			if *testkit.Update {
				os.RemoveAll(want)
				testkit.CopyTree(t, dir, want)
				return
			}
			wantTree := readTree(t, want)
			for p, w := range wantTree {
				g, ok := got[p]
				switch {
				case !ok:
					t.Errorf("%s was not written", p)
				case g != w:
					t.Errorf("%s differs from the golden file (go test ./pkg/action -run Golden -update to accept):\n--- got\n%s\n--- want\n%s", p, g, w)
				}
			}
			for p := range got {
				if _, ok := wantTree[p]; !ok {
					t.Errorf("%s was written but is not in the golden tree", p)
				}
			}
		})
	}
}

func TestCreateKeepsFilesAndDryRunWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "keeps-dockerfile", "src"), dir)
	before := readTree(t, dir)
	res, err := (&Create{Dir: dir, DryRun: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after := readTree(t, dir); len(after) != len(before) {
		t.Fatalf("dry run wrote files: %d before, %d after", len(before), len(after))
	}
	if strings.Join(res.Written.Kept, ",") != "Dockerfile" || len(res.Written.Wrote) != len(res.Files)-1 {
		t.Errorf("dry run: kept %v, would write %v", res.Written.Kept, res.Written.Wrote)
	}
	res, err = (&Create{Dir: dir}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir)["Dockerfile"]; got != before["Dockerfile"] {
		t.Errorf("the user's Dockerfile was overwritten:\n%s", got)
	}
	// A second create keeps everything.
	res, err = (&Create{Dir: dir}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written.Wrote) != 0 || len(res.Written.Kept) != len(res.Files) {
		t.Errorf("second create wrote %v", res.Written.Wrote)
	}
}

func TestCreateErrors(t *testing.T) {
	empty := t.TempDir()
	docs := t.TempDir()
	os.WriteFile(filepath.Join(docs, "README.md"), []byte("# docs\n"), 0o644)
	app := filepath.Join(t.TempDir(), "app")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "python-plain", "src"), app)
	// a Go module whose programs are in folders of their own
	mod := t.TempDir()
	mainGo := []byte("package main\n\nfunc main() {}\n")
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/examples\n\ngo 1.22\n"), 0o644)
	for _, d := range []string{"basic", "chat"} {
		os.MkdirAll(filepath.Join(mod, d), 0o755)
		os.WriteFile(filepath.Join(mod, d, "main.go"), mainGo, 0o644)
	}
	mono := t.TempDir()
	os.MkdirAll(filepath.Join(mono, "api"), 0o755)
	os.WriteFile(filepath.Join(mono, "api", "go.mod"), []byte("module example.com/api\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(mono, "api", "main.go"), mainGo, 0o644)
	os.MkdirAll(filepath.Join(mono, "web"), 0o755)
	os.WriteFile(filepath.Join(mono, "web", "package.json"), []byte(`{"name":"web"}`), 0o644)
	os.WriteFile(filepath.Join(mono, "web", "index.js"), []byte("console.log(1)\n"), 0o644)
	javaSrc := t.TempDir()
	os.WriteFile(filepath.Join(javaSrc, "Main.java"), []byte("class Main { public static void main(String[] a) { System.out.println(1); } }\n"), 0o644)
	tests := []struct {
		name string
		c    Create
		want string
	}{
		{"java without a build file", Create{Dir: javaSrc}, "has Java sources but no pom.xml or build.gradle(.kts)"},
		{"a root of several apps, one app named", Create{Dir: mono, App: "one"}, "has no app of its own (no manifest at its root), but apps in api (go), web (node)"},
		{"go folder of a parent module", Create{Dir: filepath.Join(mod, "basic")}, "basic is a folder of the Go module at " + mod + " (its go.mod is there, not here), and an image of it must be built from the module's root"},
		{"go module of several programs", Create{Dir: mod}, "holds 2 Go programs (main packages in basic, chat) and none at its root or in cmd/"},
		{"empty tree", Create{Dir: empty}, "has no source code that draft recognises: draft has packs for go, java, node, php, python, ruby; if this is one of them, choose it with --pack NAME"},
		{"docs only", Create{Dir: docs}, "choose it with --pack NAME"},
		{"not a directory", Create{Dir: filepath.Join(app, "server.py")}, "is not a directory"},
		{"bad app name", Create{Dir: app, App: "My_App"}, `--app "My_App" is not a valid name: a name must be lower-case letters`},
		{"unknown pack", Create{Dir: app, Pack: "cobol"}, `there is no pack "cobol": the packs are go, java, node, php, python, ruby`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readTree(t, tt.c.Dir)
			_, err := tt.c.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if after := readTree(t, tt.c.Dir); len(after) != len(before) {
				t.Errorf("files written on error")
			}
		})
	}
}

func TestCreateWithPackReadsThatStacksManifests(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "both")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "node-express", "src"), dir)
	os.WriteFile(filepath.Join(dir, "app.py"), []byte(strings.Repeat("x = 1\n", 10000)), 0o644)
	res, err := (&Create{Dir: dir, Pack: "node", DryRun: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Pack.Name != "node" || res.Facts.Framework != "express" || res.Version != "22" || res.Port != 3000 {
		t.Errorf("pack %s, facts %+v, version %s, port %d", res.Pack.Name, res.Facts, res.Version, res.Port)
	}
}

func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		return out
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCreateKeepsSecretsOut writes, for every pack, an app with keys and
// credentials at several depths, runs create, and reads the build context
// as both builders send it: none of them may be in it, and the app's own
// files must be.
func TestCreateKeepsSecretsOut(t *testing.T) {
	secrets := []string{
		".env", "sub/.env", "a/b/c/.env.production", "config/id_rsa", "id_ed25519", "deploy/id_ecdsa.pub",
		"config/server.key", "certs/tls.pem", "k/store.p12", ".ssh/config", "home/.ssh/known_hosts",
		".npmrc", "web/.npmrc", "tools/.pypirc", ".netrc", "x/.git-credentials", ".aws/credentials",
		"ops/.aws/config", ".docker/config.json", "ops/.kube/config", "gcp/.config/gcloud/credentials.db",
		"infra/terraform.tfstate", "infra/terraform.tfstate.backup", ".vault-token",
	}
	keep := []string{".env.example", "sub/.env.sample", "config/settings.py"}
	apps := map[string]map[string]string{
		"python": {"requirements.txt": "flask\n", "app.py": "print(1)\n"},
		"node":   {"package.json": `{"name":"x","scripts":{"start":"node server.js"}}`, "server.js": "1\n"},
		"go":     {"go.mod": "module x\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n"},
		"ruby":   {"Gemfile": "source 'https://rubygems.org'\n", "app.rb": "1\n", "config.ru": "run 1\n"},
		"php":    {"composer.json": "{}\n", "index.php": "<?php\n"},
		"java":   {"pom.xml": "<project><modelVersion>4.0.0</modelVersion><groupId>g</groupId><artifactId>a</artifactId><version>1</version></project>\n", "src/main/java/App.java": "class App {}\n"},
	}
	for stack, files := range apps {
		t.Run(stack, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "app")
			for p, c := range files {
				write(t, filepath.Join(dir, p), c)
			}
			for _, p := range append(append([]string{}, secrets...), keep...) {
				write(t, filepath.Join(dir, p), "SECRET\n")
			}
			if _, err := (&Create{Dir: dir}).Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			c, err := build.Inspect(dir, "Dockerfile", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Secrets) > 0 {
				t.Errorf("the context still holds %q", c.Secrets)
			}
			sent := contextFiles(t, dir)
			for _, p := range secrets {
				if sent[p] {
					t.Errorf("%s is sent to the build", p)
				}
			}
			for _, p := range keep {
				if !sent[p] {
					t.Errorf("%s is not sent to the build, but it is no secret", p)
				}
			}
			for p := range files {
				if !sent[p] {
					t.Errorf("the app's own %s is not sent to the build", p)
				}
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// contextFiles lists the files of the build context as the Docker builder
// sends it (the daemonless builder's source layer reads the same walk).
func contextFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	rc, err := build.ContextTar(context.Background(), dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = true
	}
}

// A create that fails half-way says which files it wrote before the failure
// (a rerun would keep them without a word).
func TestCreateFailureListsWhatWasWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	write(t, filepath.Join(dir, "app.py"), "print(1)\n")
	write(t, filepath.Join(dir, "requirements.txt"), "flask\n")
	write(t, filepath.Join(dir, "charts"), "a file where the chart's folder goes\n")
	_, err := (&Create{Dir: dir}).Run(context.Background())
	if err == nil {
		t.Fatal("create succeeded with a file named charts in the way")
	}
	for _, want := range []string{"charts/app/", "written before that: Dockerfile, .dockerignore", "remove them, or rerun with --force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to say %q", err, want)
		}
	}
}

// A Dockerfile of its own in a language without a pack gets a chart, and
// --force never replaces that Dockerfile (there is no pack's to put there).
func TestCreateOwnDockerfileWithoutPack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "echo")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "kept-no-pack", "src"), dir)
	before, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	for _, force := range []bool{false, true} {
		res, err := (&Create{Dir: dir, Force: force}).Run(context.Background())
		if err != nil {
			t.Fatalf("force=%v: %v", force, err)
		}
		if res.Port != 7878 || res.Pack.Name != "own Dockerfile" || slices.Contains(res.Written.Wrote, "Dockerfile") {
			t.Errorf("force=%v: port %d, pack %s, wrote %v", force, res.Port, res.Pack.Name, res.Written.Wrote)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "Dockerfile")); string(after) != string(before) {
			t.Fatalf("force=%v: the Dockerfile was changed:\n%s", force, after)
		}
	}
	// without a Dockerfile the folder is still refused, naming the packs
	os.Remove(filepath.Join(dir, "Dockerfile"))
	if _, err := (&Create{Dir: dir, DryRun: true}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "choose it with --pack NAME") {
		t.Errorf("without a Dockerfile: %v", err)
	}
}

// A kept Dockerfile is the truth for the chart: create says what it took
// from it (the port, the user), and what it could not.
func TestCreateKeptDockerfileNotes(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"kept-expose-root", []string{"the chart serves port 9555 (the Dockerfile's EXPOSE 9555)", "sets no USER, so the app runs as root"}},
		{"kept-nginx-frontend", []string{"the chart serves port 80 (the port nginx serves on)", "runs as root"}},
		{"kept-named-user", []string{"port 7000", "runs as the user node: the chart drops every capability"}},
		{"kept-copies-dist", []string{"port 3000", "the .dockerignore written does not leave out dist: your Dockerfile copies it"}},
		{"keeps-dockerfile", []string{"EXPOSEs no port: the chart assumes the pack's; give the app's with --port"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.fixture)
			testkit.CopyTree(t, filepath.Join("testdata", "create", tt.fixture, "src"), dir)
			res, err := (&Create{Dir: dir, DryRun: true}).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(res.Notes, "\n")
			for _, w := range tt.want {
				if !strings.Contains(notes, w) {
					t.Errorf("notes do not say %q:\n%s", w, notes)
				}
			}
			if strings.Contains(notes, "assumes") && tt.fixture != "keeps-dockerfile" {
				t.Errorf("a note about the pack's own Dockerfile:\n%s", notes)
			}
		})
	}
	// --port wins over EXPOSE, and --force writes the pack's Dockerfile and strict chart.
	dir := filepath.Join(t.TempDir(), "kept-expose-root")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "kept-expose-root", "src"), dir)
	if res, err := (&Create{Dir: dir, DryRun: true, Port: 8081}).Run(context.Background()); err != nil || res.Port != 8081 {
		t.Errorf("--port 8081 with EXPOSE 9555: port %v, %v", res.Port, err)
	}
	res, err := (&Create{Dir: dir, DryRun: true, Force: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if strings.HasSuffix(f.Path, "values.yaml") && !strings.Contains(string(f.Data), "runAsUser: 10001") {
			t.Errorf("--force (the pack's Dockerfile) without the strict security context:\n%s", f.Data)
		}
	}
}

// Every Dockerfile create writes parses with BuildKit's parser, and every
// COPY and ADD in it names a source (an empty dependency list once rendered
// "COPY  ./", which Docker rejects).
func TestGoldenDockerfilesParse(t *testing.T) {
	wants, _ := filepath.Glob(filepath.Join("testdata", "create", "*", "want", "Dockerfile"))
	if len(wants) < 20 {
		t.Fatalf("only %d golden Dockerfiles", len(wants))
	}
	for _, p := range wants {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := parser.Parse(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		stages, _, err := instructions.Parse(res.AST, nil)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for _, st := range stages {
			for _, c := range st.Commands {
				switch cmd := c.(type) {
				case *instructions.CopyCommand:
					if len(cmd.SourcePaths) == 0 || strings.TrimSpace(cmd.DestPath) == "" {
						t.Errorf("%s: %s has no source or no destination", p, cmd)
					}
				case *instructions.AddCommand:
					if len(cmd.SourcePaths) == 0 {
						t.Errorf("%s: %s has no source", p, cmd)
					}
				}
			}
		}
	}
}
