//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

// connectRun is draft connect running in the background.
type connectRun struct {
	cmd    *exec.Cmd
	stdout *testkit.LockedBuffer
	stderr *testkit.LockedBuffer
	url    string
	done   chan struct{}
}

// startConnect starts draft connect in dir and waits for its first URL.
func startConnect(t *testing.T, dir string, args ...string) *connectRun {
	t.Helper()
	c := &connectRun{stdout: &testkit.LockedBuffer{}, stderr: &testkit.LockedBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(draftBin(t), append([]string{"connect"}, args...)...)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	re := regexp.MustCompile(`^http://127\.0\.0\.1:\d+`)
	deadline := time.Now().Add(30 * time.Second)
	for c.url == "" {
		line, _, _ := strings.Cut(c.stdout.String(), "\n")
		c.url = re.FindString(line)
		select {
		case <-c.done:
			t.Fatalf("draft connect exited (%v)\nstdout:\n%s\nstderr:\n%s", c.cmd.ProcessState, c.stdout, c.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("draft connect printed no URL\nstdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// interrupt sends Ctrl-C and checks that connect ends promptly and cleanly.
func (c *connectRun) interrupt(t *testing.T) {
	t.Helper()
	start := time.Now()
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, for the report
		<-c.done
		t.Fatalf("draft connect still runs 10 s after Ctrl-C\nstderr:\n%s", c.stderr)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 && code != 130 {
		t.Errorf("draft connect exited %d after Ctrl-C\nstderr:\n%s", code, c.stderr)
	}
	if s := c.stderr.String(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") {
		t.Errorf("a stack trace on stderr:\n%s", s)
	}
	t.Logf("draft connect ended %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(c.url, "http://"), time.Second); err == nil {
		t.Errorf("%s still accepts connections after connect ended", c.url)
	}
}

// readyWatch records when this test saw each pod of a release become Ready.
type readyWatch struct {
	mu    sync.Mutex
	ready map[string]time.Time
}

func watchReady(t *testing.T, cs *kubernetes.Clientset, ns, release string) *readyWatch {
	t.Helper()
	rw := &readyWatch{ready: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if kube.PodReady(p) {
				rw.mu.Lock()
				if _, seen := rw.ready[p.Name]; !seen {
					rw.ready[p.Name] = time.Now()
				}
				rw.mu.Unlock()
			}
		}
	}()
	return rw
}

// readyAfter waits for a pod to become Ready after since.
func (rw *readyWatch) readyAfter(t *testing.T, since time.Time) (string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		rw.mu.Lock()
		for name, at := range rw.ready {
			if at.After(since) {
				rw.mu.Unlock()
				return name, at
			}
		}
		rw.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pod became Ready after %s", since.Format(time.RFC3339Nano))
	return "", time.Time{}
}

// requestLoop GETs url every 20 ms, each on a new connection, until stop.
type requestLoop struct {
	mu   sync.Mutex
	reqs []loopRequest
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

type loopRequest struct {
	sent, done time.Time
	body       string
	err        error
}

func startLoop(url string) *requestLoop {
	l := &requestLoop{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				r := loopRequest{sent: time.Now()}
				resp, err := client.Get(url)
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.body, err = strings.TrimSpace(string(b)), rerr
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				r.done, r.err = time.Now(), err
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
			}()
		}
	}()
	return l
}

// waitBody waits until a request sent after since is answered with body.
func (l *requestLoop) waitBody(t *testing.T, body string, since time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, r := range l.reqs {
			if r.err == nil && r.body == body && r.sent.After(since) {
				l.mu.Unlock()
				return r.done
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no answer %q within 60 s", body)
	return time.Time{}
}

// keptAlive GETs a URL every 20 ms on one kept-alive connection (a new one
// only when the last has closed), recording whether each answer came on a
// connection that had answered before.
type keptAlive struct {
	mu      sync.Mutex
	answers []keptAnswer
	stop    chan struct{}
	done    chan struct{}
}

type keptAnswer struct {
	body   string
	reused bool
	at     time.Time
}

func startKeptAlive(t *testing.T, url, want string) *keptAlive {
	t.Helper()
	k := &keptAlive{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	go func() {
		defer close(k.done)
		defer client.CloseIdleConnections()
		for {
			var reused bool
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				k.mu.Lock()
				k.answers = append(k.answers, keptAnswer{strings.TrimSpace(string(b)), reused, time.Now()})
				k.mu.Unlock()
			}
			select {
			case <-k.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	k.first(t, want)
	return k
}

// first waits for the first answer body and says whether it came on a
// reused connection.
func (k *keptAlive) first(t *testing.T, body string) (bool, time.Time) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		k.mu.Lock()
		for _, a := range k.answers {
			if a.body == body {
				k.mu.Unlock()
				return a.reused, a.at
			}
		}
		k.mu.Unlock()
	}
	t.Fatalf("the kept-alive connection never answered %q", body)
	return false, time.Time{}
}

func (k *keptAlive) end() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

// failedAfter returns the requests sent after t that failed (once every
// request sent has ended).
func (l *requestLoop) failedAfter(t time.Time) (failed []loopRequest, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if r.sent.After(t) {
			all++
			if r.err != nil {
				failed = append(failed, r)
			}
		}
	}
	return failed, all
}

func (l *requestLoop) end() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// TestConnect: draft connect prints the local URL and the app answers
// through it; the logs stream with pod/container prefixes; a deleted pod and
// a redeploy are followed on the same local port, with a steady request loop
// running and no request failing once the new pod is Ready; Ctrl-C ends it
// cleanly. Then draft logs prints the release's logs and exits.
func TestConnect(t *testing.T) {
	for _, app := range []struct{ name, source, v1, v2 string }{
		{"python-app", "app.py", `VERSION = "v1"`, `VERSION = "v2"`},
		{"go-app", "main.go", `const version = "v1"`, `const version = "v2"`},
	} {
		t.Run(app.name, func(t *testing.T) {
			_, cs, _ := cluster(t)
			ns := namespace(t, cs)
			dir := copyApp(t, app.name)
			mustDraft(t, dir, nil, "create")
			mustDraft(t, dir, nil, "up", "-n", ns)
			pods := watchReady(t, cs, ns, app.name)

			c := startConnect(t, dir, "-n", ns, "--tail", "5")
			if !strings.HasSuffix(strings.SplitN(c.stdout.String(), "\n", 2)[0], "-> pod port 8080 (http)") {
				t.Errorf("first line of stdout = %q, want the URL -> pod port 8080 (http)", strings.SplitN(c.stdout.String(), "\n", 2)[0])
			}
			if got := getBody(t, c.url); got != app.name+" v1" {
				t.Fatalf("GET %s = %q, want %q", c.url, got, app.name+" v1")
			}
			logPrefix := regexp.MustCompile(`(?m)^\[` + app.name + `-[a-z0-9]+-[a-z0-9]+/` + app.name + `\] request: "GET / HTTP/1.1" 200`)
			if app.name == "python-app" {
				waitOutput(t, c.stdout, logPrefix)
			}

			loop := startLoop(c.url)
			defer loop.end()
			loop.waitBody(t, app.name+" v1", time.Now())

			// kubectl delete pod: the forward recovers by itself, same port.
			list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + app.name})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("pods of %s: %v, %v", app.name, list, err)
			}
			old := list.Items[0].Name
			deleted := time.Now()
			if err := cs.CoreV1().Pods(ns).Delete(context.Background(), old, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			replacement, ready := pods.readyAfter(t, deleted)
			answered := loop.waitBody(t, app.name+" v1", ready)
			t.Logf("pod %s deleted: %s Ready after %s, answering through %s %s after Ready",
				old, replacement, ready.Sub(deleted).Round(time.Millisecond), c.url, answered.Sub(ready).Round(time.Millisecond))
			waitOutput(t, c.stderr, regexp.MustCompile(regexp.QuoteMeta(c.url)+` -> `+replacement))

			// A redeploy: the new version answers on the same port, on new
			// connections and on a kept-alive one (Go's server keeps them;
			// Python's http.server speaks HTTP/1.0 and closes each).
			var kept *keptAlive
			if app.name == "go-app" {
				kept = startKeptAlive(t, c.url, app.name+" v1")
				defer kept.end()
			}
			edit(t, filepath.Join(dir, app.source), app.v1, app.v2)
			upStart := time.Now()
			mustDraft(t, dir, nil, "up", "-n", ns)
			newPod, ready2 := pods.readyAfter(t, upStart)
			answered2 := loop.waitBody(t, app.name+" v2", upStart)
			t.Logf("redeploy: %s Ready %s after up began; v2 answered through %s %s after Ready (before Ready when negative)",
				newPod, ready2.Sub(upStart).Round(time.Millisecond), c.url, answered2.Sub(ready2).Round(time.Millisecond))
			if kept != nil {
				// Had the kept connection stayed with the old pod, the first
				// v2 would come on a new connection, once the old pod died.
				if reused, at := kept.first(t, app.name+" v2"); !reused {
					t.Errorf("the kept-alive connection did not move to the new pod: v2 came on a new connection, %s after Ready", at.Sub(ready2).Round(time.Millisecond))
				}
			}
			if app.name == "python-app" {
				waitOutput(t, c.stdout, regexp.MustCompile(`(?m)^\[`+newPod+`/python-app\] request: `))
			}
			time.Sleep(time.Second)
			loop.end()
			for _, at := range []struct {
				what string
				t    time.Time
			}{{"the replacement of the deleted pod", ready}, {"the redeployed pod", ready2}} {
				// Requests after the redeploy's Ready are checked from there;
				// those before it, from the replacement's Ready to the up.
				failed, _ := loop.failedAfter(at.t)
				var bad []string
				for _, r := range failed {
					if at.what == "the redeployed pod" || r.sent.Before(upStart) {
						bad = append(bad, fmt.Sprintf("%s: %v", r.sent.Format("15:04:05.000"), r.err))
					}
				}
				if len(bad) > 0 {
					t.Errorf("%d requests failed after %s was Ready:\n%s", len(bad), at.what, strings.Join(bad, "\n"))
				}
			}
			failed, all := loop.failedAfter(time.Time{})
			t.Logf("request loop: %d requests, %d failed in all (pod deleted %s, replacement Ready %s, up %s, new pod Ready %s)", all, len(failed),
				deleted.Format("15:04:05.000"), ready.Format("15:04:05.000"), upStart.Format("15:04:05.000"), ready2.Format("15:04:05.000"))
			for _, r := range failed {
				t.Logf("  failed: sent %s, ended %s: %v", r.sent.Format("15:04:05.000"), r.done.Format("15:04:05.000"), r.err)
			}

			c.interrupt(t)

			if app.name == "python-app" {
				r := mustDraft(t, dir, nil, "logs", "-n", ns, "--follow=false", "--tail", "3")
				// The old pod may still be there, ending: 3 lines of each pod.
				lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
				ofNew := 0
				for _, l := range lines {
					if !strings.HasPrefix(l, "["+app.name+"-") {
						t.Errorf("draft logs line %q has no [pod/container] prefix", l)
					}
					if strings.HasPrefix(l, "["+newPod+"/python-app] request: ") {
						ofNew++
					}
				}
				if ofNew != 3 || len(lines)%3 != 0 {
					t.Errorf("draft logs --follow=false --tail 3 = %q, want 3 lines of %s (and 3 of any other pod)", r.stdout, newPod)
				}
			}
		})
	}
}

// TestConnectErrors: no pods, a taken override port, Ctrl-C of draft logs.
func TestConnectErrors(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	mustDraft(t, dir, nil, "create")

	r := draft(t, dir, nil, "connect", "-n", ns)
	if r.code != 1 || !strings.Contains(r.stderr, "release python-app has no pods in namespace "+ns+": run draft up first") {
		t.Errorf("connect without a release: exit %d, stderr %q", r.code, r.stderr)
	}
	r = draft(t, dir, nil, "logs", "-n", ns, "--follow=false")
	if r.code != 1 || !strings.Contains(r.stderr, "has no pods") {
		t.Errorf("logs without a release: exit %d, stderr %q", r.code, r.stderr)
	}

	mustDraft(t, dir, nil, "up", "-n", ns)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	r = draft(t, dir, nil, "connect", "-n", ns, "--override-port", fmt.Sprintf("%d:8080", port))
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("cannot listen on local port %d for pod port 8080", port)) || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("an override on a taken port: exit %d, stderr %q", r.code, r.stderr)
	}
	r = draft(t, dir, nil, "connect", "-n", ns, "--override-port", "x:8080")
	if r.code == 0 || !strings.Contains(r.stderr, "not a port mapping") {
		t.Errorf("a bad override: exit %d, stderr %q", r.code, r.stderr)
	}

	// A free port given as an override is the one used.
	busy.Close()
	c := startConnect(t, dir, "-n", ns, "--no-logs", "--override-port", fmt.Sprintf("%d:8080", port))
	if want := fmt.Sprintf("http://127.0.0.1:%d", port); c.url != want {
		t.Errorf("URL = %s, want %s", c.url, want)
	}
	if got := getBody(t, c.url); got != "python-app v1" {
		t.Errorf("GET = %q", got)
	}
	if out := c.stdout.String(); strings.Count(out, "\n") != 1 {
		t.Errorf("with --no-logs, stdout = %q, want only the URL", out)
	}
	c.interrupt(t)

	// draft logs follows until Ctrl-C.
	cmd := exec.Command(draftBin(t), "logs", "-n", ns)
	cmd.Dir = dir
	out, _ := cmd.StdoutPipe()
	var stderr testkit.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case first <- s.Text():
			default:
			}
		}
	}()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, "[python-app-") {
			t.Errorf("draft logs line %q has no [pod/container] prefix", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("draft logs printed nothing\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 0 && code != 130 {
			t.Errorf("draft logs exited %d after Ctrl-C: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("draft logs still runs 10 s after Ctrl-C")
	}

	// The release deleted while connect runs: connect says so and ends (it
	// waited forever before).
	c = startConnect(t, dir, "-n", ns, "--no-logs")
	mustDraft(t, dir, nil, "delete", "-n", ns)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("draft connect still runs 30 s after its release was deleted\nstderr:\n%s", c.stderr)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(c.stderr.String(), "release python-app is gone") {
		t.Errorf("connect after the release was deleted: exit %d\nstderr:\n%s", code, c.stderr)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func waitOutput(t *testing.T, b *testkit.LockedBuffer, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !re.MatchString(b.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in:\n%s", re, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
