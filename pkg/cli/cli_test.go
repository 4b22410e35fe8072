package cli

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/draftk8s/draft/internal/testkit"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), strings.NewReader(""), &out, &errOut, args)
	return code, out.String(), errOut.String()
}

func TestCreateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello-app")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/hello\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	t.Setenv("DRAFT_HOME", t.TempDir())

	code, out, errOut := run(t, "create", "--explain", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "Dockerfile" || lines[len(lines)-1] != "draft.toml" || !strings.Contains(out, "charts/hello-app/values.yaml") {
		t.Errorf("stdout is not the list of files written:\n%s", out)
	}
	for _, want := range []string{"Languages by bytes:", "Chose go: go.mod at the root settles it.", "hello-app: detected go", "version 1.24", "next: draft up",
		`Start: ENTRYPOINT ["/app"] (from the main package at .)`, "Build tool: go (from go.mod)", "Version: 1.24 (from go.mod go directive)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Again: everything is kept, nothing on stdout.
	code, out, errOut = run(t, "create", "--explain", dir)
	if code != 0 || out != "" || !strings.Contains(errOut, "kept Dockerfile (it exists; --force replaces it)") ||
		!strings.Contains(errOut, "Start: your Dockerfile's (kept") {
		t.Errorf("second create: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	// A root of several apps is a project: each app's files in its folder,
	// a draft.toml at the root that lists them, each app explained.
	mono := t.TempDir()
	for _, d := range []string{"api", "web"} {
		os.MkdirAll(filepath.Join(mono, d), 0o755)
		os.WriteFile(filepath.Join(mono, d, "go.mod"), []byte("module example.com/"+d+"\n\ngo 1.24\n"), 0o644)
		os.WriteFile(filepath.Join(mono, d, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	}
	code, out, errOut = run(t, "create", "--explain", mono)
	if code != 0 || !strings.Contains(out, "api/Dockerfile\n") || !strings.Contains(out, "web/charts/web/Chart.yaml\n") || !strings.HasSuffix(out, "draft.toml\n") {
		t.Errorf("create at a project's root: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"Chose go: go.mod at the root settles it.", "api: detected go", "api (api) needs: nothing", "next: draft up (here: every app"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// --app names one app: at such a root it is still refused, with the folders.
	code, _, errOut = run(t, "create", "--app", "x", mono)
	if code == 0 || !strings.Contains(errOut, "run draft create in each") {
		t.Errorf("create --app at a project's root: exit %d, stderr %s", code, errOut)
	}
}

func TestErrorsAreOneLineWithExitCodes(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create", empty}, 1, "draft has packs for go, java, node, php, python, ruby; if this is one of them, choose it with --pack NAME"},
		{[]string{"create", "--app", "Bad_Name", empty}, 1, "is not a valid name"},
		{[]string{"create", "--port", "70000", empty}, 2, "--port 70000 is not a port"},
		{[]string{"create", "--port", "0", empty}, 2, "--port 0 is not a port: give a number from 1 to 65535"},
		{[]string{"create", "--no-such-flag"}, 2, "unknown flag: --no-such-flag"},
		{[]string{"create", "a", "b"}, 2, "accepts at most 1 arg(s), received 2; see draft create --help"},
		{[]string{"deploy"}, 2, `unknown command "deploy" for "draft"`},
		{[]string{"version", "-o", "yaml"}, 2, "unknown output format"},
		{[]string{"completion", "tcsh"}, 2, `unknown shell "tcsh": choose bash, zsh, fish or powershell`},
		{[]string{"up", "--timeout", "-5s", empty}, 2, "--timeout -5s: give a positive duration, such as 2m or 90s"},
		{[]string{"create", "--port", "abc", empty}, 2, "--port abc: not a whole number"},
		{[]string{"up", "--timeout", "soon", empty}, 2, "--timeout soon: not a duration (such as 90s, 2m or 1h30m)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if out != "" {
				t.Errorf("stdout on error: %q", out)
			}
			if !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr = %q, want one line with %q", errOut, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("files written on error: %v", entries)
	}
}

func TestPackListVersionCompletion(t *testing.T) {
	user := t.TempDir()
	os.MkdirAll(filepath.Join(user, "python"), 0o755)
	os.WriteFile(filepath.Join(user, "python", "Dockerfile"), []byte("FROM python\n"), 0o644)
	code, out, _ := run(t, "pack", "list", "--pack-dir", user)
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, filepath.Join(user, "python")+" (overrides built-in)") || !strings.Contains(out, "ruby    built-in") {
		t.Errorf("pack list: exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, "version", "--short"); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("version --short: exit %d %q", code, out)
	}
	if code, out, _ := run(t, "version", "-o", "json"); code != 0 || !strings.Contains(out, `"goVersion"`) {
		t.Errorf("version -o json: exit %d %q", code, out)
	}
	if code, out, _ := run(t, "completion", "bash"); code != 0 || !strings.Contains(out, "__start_draft") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// Every command's help is a golden file, so that a change of a flag or of
// its words is seen in review (testdata/help/; -update rewrites them).
func TestGoldenHelp(t *testing.T) {
	t.Setenv("DRAFT_HOME", "/home/you/.draft") // the --pack-dir default shows it
	for _, cmd := range []string{"", "create", "up", "connect", "logs", "delete", "pack", "version"} {
		name := cmp.Or(cmd, "draft")
		t.Run(name, func(t *testing.T) {
			args := append(strings.Fields(cmd), "--help")
			code, out, errOut := run(t, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			testkit.Golden(t, filepath.Join("testdata", "help", name+".txt"), []byte(out))
		})
	}
}
