//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/draftk8s/draft/internal/testenv"
)

// watching is a running `draft up --watch --auto-connect`.
type watching struct {
	cmd *exec.Cmd
	url string
	// at a project's root, each app's URL (connect's "app: URL -> port" lines)
	appURLs map[string]string
	mu      sync.Mutex
	errs    bytes.Buffer
	done    chan error
	// with --output json: the events on stdout, and the lines that are not
	stdoutDone chan struct{}
	events     int
	kinds      map[string]int // events by kind
	badStdout  []string
	stopped    bool
}

func (w *watching) stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs.String()
}

type lockedWriter struct{ w *watching }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	return l.w.errs.Write(p)
}

var urlLine = regexp.MustCompile(`^(?:([\w.-]+): )?(http://127\.0\.0\.1:\d+) -> `)

func startWatch(t *testing.T, dir, ns string, jsonOut bool, extra ...string) *watching {
	t.Helper()
	return startWatchEnv(t, nil, dir, ns, jsonOut, extra...)
}

// startWatchEnv is startWatch with these environment variables added.
func startWatchEnv(t *testing.T, env []string, dir, ns string, jsonOut bool, extra ...string) *watching {
	t.Helper()
	w := &watching{done: make(chan error, 1), stdoutDone: make(chan struct{})}
	testenv.BaseImagesOf(t, dir)
	args := append([]string{"up", "--watch", "--auto-connect", "-n", ns}, extra...)
	if jsonOut {
		args = append(args, "--output", "json")
	}
	w.cmd = exec.Command(draftBin(t), args...)
	w.cmd.Dir = dir
	if env != nil {
		w.cmd.Env = append(os.Environ(), env...)
	}
	w.cmd.Stderr = lockedWriter{w}
	out, _ := w.cmd.StdoutPipe()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			url := ""
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil && !jsonOut {
				url = m[2]
				if m[1] != "" {
					w.mu.Lock()
					if w.appURLs == nil {
						w.appURLs = map[string]string{}
					}
					w.appURLs[m[1]] = m[2]
					w.mu.Unlock()
				}
			}
			if jsonOut {
				var e struct{ Event, URL string }
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Event == "" {
					w.mu.Lock()
					w.badStdout = append(w.badStdout, sc.Text())
					w.mu.Unlock()
					continue
				}
				w.mu.Lock()
				w.events++
				if w.kinds == nil {
					w.kinds = map[string]int{}
				}
				w.kinds[e.Event]++
				w.mu.Unlock()
				if e.Event == "forward" {
					url = e.URL
				}
			}
			if url != "" {
				select {
				case urls <- url:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
		close(w.stdoutDone)
	}()
	go func() { <-w.stdoutDone; w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
		}
	})
	select {
	case w.url = <-urls:
	case err := <-w.done:
		t.Fatalf("draft up --watch ended: %v\n%s", err, w.stderr())
	case <-time.After(3 * time.Minute):
		t.Fatalf("draft up --watch --auto-connect printed no URL\n%s", w.stderr())
	}
	return w
}

// waitFor polls the connected URL until it answers want; it returns how long that took.
func (w *watching) waitFor(t *testing.T, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return w.waitForAt(t, w.url, want, timeout)
}

// urlOf is the URL connect gave the app of a project (it prints every
// app's once all listen).
func (w *watching) urlOf(t *testing.T, app string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		w.mu.Lock()
		u := w.appURLs[app]
		w.mu.Unlock()
		if u != "" {
			return u
		}
	}
	t.Fatalf("connect gave %s no URL\n%s", app, w.stderr())
	return ""
}

// waitForAt polls url until it answers want; it returns how long that took.
func (w *watching) waitForAt(t *testing.T, url, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = strings.TrimSpace(string(b))
			if last == want {
				return time.Since(start)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %q within %s (last: %q)\n%s", url, want, timeout, last, w.stderr())
	return 0
}

// ups counts the successful ups the loop reported.
func (w *watching) ups() int { return strings.Count(w.stderr(), " is ready: revision ") }

// settle waits until the loop is quiet: every change it saw has had its
// outcome told, and its output has not changed for a while. (The new code
// may answer before up has said it is ready: connect moves to a new pod as
// soon as it passes its readiness checks.)
func (w *watching) settle() {
	prev := ""
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		cur := w.stderr()
		outcome := max(strings.LastIndex(cur, " is ready: revision "), strings.LastIndex(cur, "redeploy failed"), strings.LastIndex(cur, "nothing changed: "))
		if cur == prev && outcome > strings.LastIndex(cur, "\nchanged: ") {
			return
		}
		prev = cur
	}
}

func (w *watching) stop(t *testing.T) {
	t.Helper()
	if w.stopped {
		return
	}
	w.stopped = true
	w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.done:
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != 0 && ee.ExitCode() != 130 {
			t.Errorf("draft up --watch exited %d after Ctrl-C\n%s", ee.ExitCode(), w.stderr())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("draft up --watch did not stop within 30 s of Ctrl-C")
	}
	if s := w.stderr(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic:") {
		t.Errorf("stack trace:\n%s", s)
	}
}

func write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchPython: each way editors save is one redeploy with the new code on
// the same local port; a 1,000-file burst is one redeploy; a syntax error is
// reported while the old version keeps serving; a deleted pod is recovered.
func TestWatchPython(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")
	src, _ := os.ReadFile(filepath.Join(dir, "app.py"))
	version := func(v string) string { return strings.Replace(string(src), `VERSION = "v1"`, `VERSION = "`+v+`"`, 1) }
	app := filepath.Join(dir, "app.py")

	w := startWatch(t, dir, ns, false, "--no-live-update") // every save a redeploy: live update has its own tests
	defer w.stop(t)
	w.waitFor(t, "python-app v1", time.Minute)
	w.settle()
	want := 1
	check := func(what string) {
		t.Helper()
		w.settle()
		if got := w.ups(); got != want {
			t.Errorf("%s: %d ups in all, want %d\n%s", what, got, want, w.stderr())
			want = got
		}
	}

	saves := []struct {
		name string
		save func(content string)
	}{
		{"write in place", func(c string) { write(t, app, c) }},
		{"write a temporary file and rename it over", func(c string) {
			write(t, app+".tmp~", c)
			os.Rename(app+".tmp~", app)
		}},
		{"delete and create", func(c string) {
			os.Remove(app)
			time.Sleep(20 * time.Millisecond)
			write(t, app, c)
		}},
		{"vim (4913 probe, backup, write)", func(c string) {
			write(t, filepath.Join(dir, "4913"), "")
			os.Remove(filepath.Join(dir, "4913"))
			os.Rename(app, app+"~")
			write(t, app, c)
			os.Remove(app + "~")
		}},
	}
	for i, s := range saves {
		v := fmt.Sprintf("v%d", i+2)
		start := time.Now()
		s.save(version(v))
		w.waitFor(t, "python-app "+v, time.Minute)
		t.Logf("%s: the new code answered on the same port %s after the save", s.name, time.Since(start).Round(time.Millisecond))
		want++
		check(s.name)
	}

	// A burst of 1,000 files (a git checkout) with the new version last: one redeploy.
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	for i := 0; i < 1000; i++ {
		write(t, filepath.Join(dir, "data", fmt.Sprintf("f%04d.txt", i)), fmt.Sprint(i))
	}
	write(t, app, version("burst"))
	w.waitFor(t, "python-app burst", time.Minute)
	want++
	check("a 1,000-file burst")

	// A syntax error: reported, the previous version keeps serving.
	write(t, app, string(src)+"\nthis is not python (\n")
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(w.stderr(), "redeploy failed") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(w.stderr(), "redeploy failed") {
		t.Fatalf("a syntax error was not reported\n%s", w.stderr())
	}
	w.waitFor(t, "python-app burst", 10*time.Second)
	write(t, app, version("fixed"))
	w.waitFor(t, "python-app fixed", time.Minute)

	// kubectl delete pod: the forward finds the new pod on the same port.
	out, err := exec.Command("kubectl", "-n", ns, "delete", "pod", "-l", "app.kubernetes.io/instance=python-app", "--wait=false").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl delete pod: %v %s", err, out)
	}
	took := w.waitFor(t, "python-app fixed", time.Minute)
	t.Logf("after kubectl delete pod, the same local port answered again in %s", took.Round(time.Millisecond))
}

// TestWatchGoEditDuringBuild: an edit that lands while the previous one is
// being built wins: the final edit is what serves.
func TestWatchGoEditDuringBuild(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "go-app")
	// A package that takes about a second to compile, so that an edit can
	// land while it builds (the app alone builds in 0.3 s).
	var big strings.Builder
	big.WriteString("package main\n\n")
	const funcs = 6000
	for i := range funcs {
		fmt.Fprintf(&big, "func f%d(x int) int { if x > %d { return x * %d }; return x + %d }\n", i, i, i, i)
	}
	big.WriteString("var table = []func(int) int{")
	for i := range funcs {
		fmt.Fprintf(&big, "f%d,", i)
	}
	big.WriteString("}\n")
	write(t, filepath.Join(dir, "big.go"), big.String())
	mustDraft(t, dir, nil, "create")
	src, _ := os.ReadFile(filepath.Join(dir, "main.go"))
	version := func(v string) string { return strings.Replace(string(src), `version = "v1"`, `version = "`+v+`"`, 1) }
	w := startWatch(t, dir, ns, true, "--no-live-update") // stale builds: the rebuild path (live update compiles here instead)
	defer w.stop(t)
	w.waitFor(t, "go-app v1", time.Minute)
	w.settle()
	for round := 0; round < 3; round++ {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		write(t, filepath.Join(dir, "main.go"), version(a))
		// After the quiet period, while go build runs.
		time.Sleep(watchDelay + 250*time.Millisecond)
		write(t, filepath.Join(dir, "main.go"), version(b))
		w.waitFor(t, "go-app "+b, time.Minute)
		w.settle()
		resp, err := http.Get(w.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.TrimSpace(string(body)); got != "go-app "+b {
			t.Errorf("round %d: serving %q after settling, want the final edit %q", round, got, "go-app "+b)
		}
	}
	// Each b came while a was building; a slow machine may have finished
	// some a before b's quiet period ended (a is then deployed, then b).
	cancelled := strings.Count(w.stderr(), "cancelling it")
	t.Logf("stale builds cancelled: %d of 3", cancelled)
	if cancelled == 0 {
		t.Errorf("no build was cancelled: no edit landed during a build\n%s", w.stderr())
	}
	w.stop(t)
	if len(w.badStdout) > 0 || w.events == 0 {
		t.Errorf("with --output json, stdout held %d events and %d lines that are not JSON events: %q", w.events, len(w.badStdout), w.badStdout)
	}
	// A dropped build is "cancelled", not an error.
	if w.kinds["cancelled"] < cancelled || w.kinds["error"] > 0 || w.kinds["forward"] != 1 {
		t.Errorf("events by kind %v: want at least %d cancelled, no error, one forward", w.kinds, cancelled)
	}
}

// watchDelay is draft's default quiet period (pkg/watch.DefaultDelay).
const watchDelay = 200 * time.Millisecond
