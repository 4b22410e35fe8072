//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/draftk8s/draft/internal/testenv"
	"github.com/draftk8s/draft/internal/testkit"
)

var (
	buildOnce sync.Once
	draftPath string
	buildErr  error
)

// draftBin is the binary under test: $DRAFT_BIN (make e2e sets it), else one
// built from this checkout once.
func draftBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DRAFT_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		draftPath = filepath.Join(os.TempDir(), "draft-e2e-bin")
		out, err := exec.Command("go", "build", "-o", draftPath, filepath.Join(root, "cmd", "draft")).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building draft: %v", buildErr)
	}
	return draftPath
}

// run is one run of the draft binary.
type run struct {
	stdout, stderr string
	code           int
	events         []map[string]any // with --output json
}

func (r run) event(kind string) map[string]any {
	for _, e := range r.events {
		if e["event"] == kind {
			return e
		}
	}
	return nil
}

func draft(t *testing.T, dir string, env []string, args ...string) run {
	t.Helper()
	if len(args) > 0 && args[0] == "up" {
		testenv.BaseImagesOf(t, dir) // built on first use
	}
	cmd := exec.Command(draftBin(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running draft: %v", err)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			r.events = append(r.events, e)
		}
	}
	return r
}

// mustDraft runs draft and fails the test unless it succeeds.
func mustDraft(t *testing.T, dir string, env []string, args ...string) run {
	t.Helper()
	r := draft(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("draft %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// copyApp copies e2e/testdata/NAME into a new directory named NAME.
func copyApp(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	testkit.CopyTree(t, filepath.Join("testdata", name), dst)
	return dst
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// get forwards to a Ready pod of the release (through the API server, as
// draft connect will) and returns what GET / answers.
func get(t *testing.T, cfg *rest.Config, cs *kubernetes.Clientset, ns, release string, port int) string {
	t.Helper()
	ctx := context.Background()
	var pod string
	deadline := time.Now().Add(30 * time.Second)
	for pod == "" {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					pod = p.Name
				}
			}
		}
		if pod == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no Ready pod of %s in %s", release, ns)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return getPod(t, cfg, cs, ns, pod, port)
}

// getPod GETs / of the pod's port through a port-forward of its own.
func getPod(t *testing.T, cfg *rest.Config, cs *kubernetes.Clientset, ns, pod string, port int) string {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() { close(stop); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward to %s: %v", pod, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("port-forward to %s not ready", pod)
	}
	ports, _ := fw.GetPorts()
	var last error
	for i := 0; i < 20; i++ {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(b))
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET through the port-forward to %s: %v", pod, last)
	return ""
}

// revisions counts the Helm revisions of a release (its storage Secrets).
func revisions(t *testing.T, cs *kubernetes.Clientset, ns, release string) int {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + release})
	if err != nil {
		t.Fatal(err)
	}
	return len(s.Items)
}

// pack describes how each e2e app behaves.
type pack struct {
	app        string
	port       int
	source     string // the file holding the version
	firstPath  string // the build path of the first up
	changePath string // the build path of a one-line change
	broken     string // source of a version that never becomes Ready
	set        []string
}

var packs = []pack{
	{app: "go-app", port: 8080, source: "main.go", firstPath: "daemonless-go", changePath: "daemonless-go",
		broken: "package main\n\nimport \"os\"\n\nfunc main() { println(\"broken on purpose\"); os.Exit(3) }\n"},
	{app: "python-app", port: 8080, source: "app.py", firstPath: "daemonless-source", changePath: "daemonless-source",
		broken: "print('broken on purpose', flush=True)\nraise SystemExit(3)\n"},
	{app: "node-app", port: 3000, source: "server.js", firstPath: "docker", changePath: "daemonless-source",
		broken: "console.log('broken on purpose');\nprocess.exit(3);\n"},
	{app: "ruby-app", port: 8080, source: "app.rb", firstPath: "daemonless-source", changePath: "daemonless-source",
		broken: "puts 'broken on purpose'\nexit 3\n"},
	{app: "php-app", port: 8080, source: "index.php", firstPath: "daemonless-source", changePath: "daemonless-source",
		broken: "<?php\nhttp_response_code(500);\necho \"broken on purpose\\n\";\n", set: []string{"probes.type=http"}},
	{app: "java-app", port: 8080, source: "src/main/java/com/example/App.java", firstPath: "docker", changePath: "docker",
		broken: "package com.example;\n\npublic class App {\n    public static void main(String[] args) {\n        System.out.println(\"broken on purpose\");\n        System.exit(3);\n    }\n}\n"},
}

// TestUpEveryPack: for each pack, create; up (Ready, answers); up again with
// nothing changed (no push, no revision); a one-line change (the daemonless
// path where it applies); a broken version (diagnosed, rolled back, the
// previous version still serving); delete (nothing left).
func TestUpEveryPack(t *testing.T) {
	cfg, cs, _ := cluster(t)
	for _, p := range packs {
		p := p
		t.Run(p.app, func(t *testing.T) {
			ns := namespace(t, cs)
			dir := copyApp(t, p.app)
			// A fresh nonce makes the content (and so the tag) new to the registry.
			f, _ := os.OpenFile(filepath.Join(dir, p.source), os.O_APPEND|os.O_WRONLY, 0)
			comment := "//"
			if p.app == "python-app" || p.app == "ruby-app" {
				comment = "#"
			}
			fmt.Fprintf(f, "\n%s run %d\n", comment, time.Now().UnixNano())
			f.Close()
			mustDraft(t, dir, nil, "create")
			if len(p.set) > 0 {
				edit(t, filepath.Join(dir, "draft.toml"), "set = []", `set = ["`+strings.Join(p.set, `", "`)+`"]`)
			}
			up := func(args ...string) run {
				return draft(t, dir, nil, append([]string{"up", "-n", ns, "-o", "json"}, args...)...)
			}
			// 1. First up.
			start := time.Now()
			r := up()
			if r.code != 0 {
				t.Fatalf("first up: exit %d\n%s", r.code, r.stderr)
			}
			if b := r.event("build"); b == nil || b["path"] != p.firstPath {
				t.Errorf("first up built with %v, want %s", b, p.firstPath)
			}
			if r.event("ready") == nil {
				t.Errorf("first up: no ready event")
			}
			t.Logf("first up in %s", time.Since(start).Round(time.Millisecond))
			if got := get(t, cfg, cs, ns, p.app, p.port); got != p.app+" v1" {
				t.Fatalf("the app answered %q, want %q", got, p.app+" v1")
			}
			revs := revisions(t, cs, ns, p.app)

			// 2. Nothing changed.
			start = time.Now()
			r = up()
			if r.code != 0 || r.event("unchanged") == nil || r.event("push") != nil || r.event("build") != nil {
				t.Errorf("unchanged up: exit %d, events %v\n%s", r.code, r.events, r.stderr)
			}
			if n := revisions(t, cs, ns, p.app); n != revs {
				t.Errorf("unchanged up made a revision: %d -> %d", revs, n)
			}
			t.Logf("unchanged up in %s", time.Since(start).Round(time.Millisecond))

			// 3. A one-line change.
			edit(t, filepath.Join(dir, p.source), `"v1"`, `"v2"`)
			start = time.Now()
			r = up()
			if r.code != 0 {
				t.Fatalf("up after a change: exit %d\n%s", r.code, r.stderr)
			}
			if b := r.event("build"); b == nil || b["path"] != p.changePath {
				t.Errorf("a one-line change built with %v, want %s", b, p.changePath)
			}
			if push := r.event("push"); push != nil && push["uploaded"] != nil {
				t.Logf("a one-line change: %s, %.0f bytes uploaded, up in %s", p.changePath, push["uploaded"], time.Since(start).Round(time.Millisecond))
			}
			if got := get(t, cfg, cs, ns, p.app, p.port); got != p.app+" v2" {
				t.Fatalf("after the change the app answered %q, want %q", got, p.app+" v2")
			}

			// 4. A broken version: diagnosed, rolled back, v2 still serving.
			if err := os.WriteFile(filepath.Join(dir, p.source), []byte(p.broken), 0o644); err != nil {
				t.Fatal(err)
			}
			r = draft(t, dir, nil, "up", "-n", ns, "--timeout", "90s")
			if r.code == 0 {
				t.Fatalf("up of a broken app succeeded\n%s", r.stderr)
			}
			for _, want := range []string{"did not become ready", "rolled back to revision"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("broken up: stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if p.app != "php-app" && !strings.Contains(r.stderr, "broken on purpose") {
				t.Errorf("broken up: the crashed container's log is not shown:\n%s", r.stderr)
			}
			if got := get(t, cfg, cs, ns, p.app, p.port); got != p.app+" v2" {
				t.Errorf("after the failed up the app answered %q, want the previous %q", got, p.app+" v2")
			}

			// 5. Delete.
			mustDraft(t, dir, nil, "delete", "-n", ns)
			pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + p.app})
			if len(pods.Items) != 0 || revisions(t, cs, ns, p.app) != 0 {
				t.Errorf("after delete: %d pods, %d revisions left", len(pods.Items), revisions(t, cs, ns, p.app))
			}
			r = draft(t, dir, nil, "delete", "-n", ns)
			if r.code == 0 || !strings.Contains(r.stderr, "there is no release "+p.app) {
				t.Errorf("second delete: exit %d, %s", r.code, r.stderr)
			}
			if r := draft(t, dir, nil, "delete", "-n", ns, "--ignore-not-found"); r.code != 0 {
				t.Errorf("delete --ignore-not-found: exit %d, %s", r.code, r.stderr)
			}
		})
	}
}

// TestUpErrors: each failure is one clear sentence and a non-zero exit.
func TestUpErrors(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	base := copyApp(t, "python-app")
	mustDraft(t, base, nil, "create")
	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	os.WriteFile(unreachable, []byte(kubeconfig("local", "https://127.0.0.1:1")), 0o600)
	remote := filepath.Join(t.TempDir(), "remote.kubeconfig")
	os.WriteFile(remote, []byte(kubeconfig("prod", "https://prod.example.invalid:6443")), 0o600)

	tests := []struct {
		name  string
		prep  func(dir string)
		env   []string
		args  []string
		want  string
		nsArg bool
		early bool // refused before anything was built
	}{
		{name: "no registry", env: []string{"DRAFT_REGISTRY="}, want: "no registry to push to: set one with --registry"},
		{name: "registry unreachable", args: []string{"--registry", "127.0.0.1:1"}, want: "cannot reach the registry at 127.0.0.1:1"},
		{name: "cluster unreachable", env: []string{"KUBECONFIG=" + unreachable}, want: "127.0.0.1:1"},
		{name: "context not allowed", env: []string{"KUBECONFIG=" + remote}, want: "not a local cluster"},
		{name: "namespace missing", args: []string{"-n", "no-such-namespace-here"}, want: "namespace no-such-namespace-here does not exist", early: true},
		{name: "bad set value", prep: func(dir string) { edit(t, filepath.Join(dir, "draft.toml"), "set = []", `set = ["replicas.b"]`) },
			want: `key "b" has no value`, early: true},
		{name: "malformed draft.toml", prep: func(dir string) {
			edit(t, filepath.Join(dir, "draft.toml"), "wait = true", "wait = true\n    wiat = 3")
		}, want: `draft.toml:13: unknown field "environments.development.wiat"`},
		{name: "unknown environment", args: []string{"-e", "prod"}, want: `has no environment "prod"`},
		{name: "missing chart", prep: func(dir string) { os.RemoveAll(filepath.Join(dir, "charts")) }, want: "there is no chart at charts/python-app"},
		{name: "Dockerfile syntax error", prep: func(dir string) { edit(t, filepath.Join(dir, "Dockerfile"), "WORKDIR /app", "WORKDIR /app\nRUNN echo") }, want: "unknown instruction", nsArg: true},
		{name: "build failure", prep: func(dir string) {
			edit(t, filepath.Join(dir, "Dockerfile"), "WORKDIR /app", "WORKDIR /app\nRUN echo failing on purpose && false")
		}, want: "failed (exit code 1)", nsArg: true},
		{name: "unknown builder", args: []string{"--builder", "kaniko"}, want: "--builder \"kaniko\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "python-app")
			testkit.CopyTree(t, base, dir)
			if tt.prep != nil {
				tt.prep(dir)
			}
			args := append([]string{"up"}, tt.args...)
			if tt.nsArg || len(tt.args) == 0 || tt.args[0] != "-n" {
				args = append(args, "-n", ns)
			}
			r := draft(t, dir, tt.env, args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want a failure\n%s", r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last line of stderr = %q, want an Error line with %q\n%s", last, tt.want, r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
				t.Errorf("a stack trace:\n%s", r.stderr)
			}
			if tt.early && (strings.Contains(r.stderr, "building ") || strings.Contains(r.stderr, "pushed ")) {
				t.Errorf("built or pushed before refusing:\n%s", r.stderr)
			}
		})
	}
}

// TestUpInterrupted: Ctrl-C during the build, the push and the deploy leaves
// no half-deployed release, and the next up works.
func TestUpInterrupted(t *testing.T) {
	cfg, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "go-app")
	mustDraft(t, dir, nil, "create")
	mustDraft(t, dir, nil, "up", "-n", ns)
	for i, stage := range []string{"build", "push", "progress"} {
		edit(t, filepath.Join(dir, "main.go"), fmt.Sprintf(`"v%d"`, i+1), fmt.Sprintf(`"v%d"`, i+2))
		cmd := exec.Command(draftBin(t), "up", "-n", ns, "-o", "json")
		cmd.Dir = dir
		out, _ := cmd.StdoutPipe()
		var errOut testkit.LockedBuffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt as the stage begins: on its event, or (build) on
		// draft's first line, which says the build starts (or that the
		// image is in the registry: then the interrupt lands in the
		// deploy). A fixed pause could land before draft listens for
		// signals, on a busy machine.
		if stage == "build" {
			for deadline := time.Now().Add(30 * time.Second); errOut.Len() == 0 && time.Now().Before(deadline); {
				time.Sleep(2 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGINT)
		}
		dec := json.NewDecoder(out)
		for stage != "build" {
			var e map[string]any
			if dec.Decode(&e) != nil {
				break
			}
			if e["event"] == stage || (stage == "push" && e["event"] == "build") {
				cmd.Process.Signal(syscall.SIGINT)
				break
			}
		}
		io.Copy(io.Discard, out)
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		t.Logf("interrupted at %s: exit %d", stage, code)
		switch {
		case code == 0 && stage == "push":
			t.Logf("(up finished before the interrupt landed: the push takes tens of milliseconds)")
		case code != 130:
			// The build (a Go build, 0.3 s) and the rollout (a second)
			// are long enough for the interrupt to land in them.
			t.Errorf("up interrupted during its %s exited %d, want 130\n%s", stage, code, errOut.String())
		case !strings.Contains(errOut.String(), "interrupted") || !(strings.Contains(errOut.String(), ": nothing was deployed, release go-app is as it was") ||
			strings.Contains(errOut.String(), "rolled back to revision") || strings.Contains(errOut.String(), "undoing it is still under way")):
			// the interrupt says what it stopped and what it left (the
			// build may have been skipped: the image can be in the registry)
			t.Errorf("up interrupted during its %s does not say what it stopped and left:\n%s", stage, errOut.String())
		}
		if strings.Contains(errOut.String(), "goroutine ") {
			t.Errorf("stack trace after Ctrl-C:\n%s", errOut.String())
		}
		// No release left pending; the next up works and serves the new version.
		r := mustDraft(t, dir, nil, "up", "-n", ns)
		if strings.Contains(r.stderr, "another operation") {
			t.Errorf("next up met a pending release:\n%s", r.stderr)
		}
		if got := get(t, cfg, cs, ns, "go-app", 8080); got != fmt.Sprintf("go-app v%d", i+2) {
			t.Errorf("after the interrupted up and another, the app answered %q", got)
		}
	}
}

func kubeconfig(name, server string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    insecure-skip-tls-verify: true
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[1]s
current-context: %[1]s
users:
- name: %[1]s
  user:
    token: not-a-real-token
`, name, server)
}

// TestTasks: pre-up runs before the build (and a failing one stops up),
// post-deploy runs inside the new container, cleanup runs after delete.
func TestTasks(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	marks := t.TempDir()
	tasks := fmt.Sprintf(`[pre-up]
  check = "echo pre-up ran > %[1]s/pre-up"
[post-deploy]
  greet = "echo hello from $(hostname)"
[cleanup]
  tidy = "echo cleanup ran > %[1]s/cleanup"
`, marks)
	os.WriteFile(filepath.Join(dir, ".draft-tasks.toml"), []byte(tasks), 0o644)
	r := mustDraft(t, dir, nil, "up", "-n", ns)
	if b, _ := os.ReadFile(filepath.Join(marks, "pre-up")); string(b) != "pre-up ran\n" {
		t.Errorf("pre-up did not run: %q", b)
	}
	if !strings.Contains(r.stderr, "hello from python-app-") {
		t.Errorf("post-deploy did not run in the pod:\n%s", r.stderr)
	}
	mustDraft(t, dir, nil, "delete", "-n", ns)
	if b, _ := os.ReadFile(filepath.Join(marks, "cleanup")); string(b) != "cleanup ran\n" {
		t.Errorf("cleanup did not run: %q", b)
	}
	os.WriteFile(filepath.Join(dir, ".draft-tasks.toml"), []byte("[pre-up]\n  lint = \"echo lint failed; exit 4\"\n"), 0o644)
	r = draft(t, dir, nil, "up", "-n", ns)
	if r.code == 0 || !strings.Contains(r.stderr, "the pre-up task lint (echo lint failed; exit 4) failed: exit status 4") {
		t.Errorf("a failing pre-up: exit %d\n%s", r.code, r.stderr)
	}
	if revisions(t, cs, ns, "python-app") != 0 {
		t.Errorf("a failing pre-up still deployed")
	}
}
