// bench/connect: redeploys of the Python e2e app under a steady request loop
// through draft connect's local port, and through kubectl port-forward in
// the same run. For each redeploy: the time from the new pod being Ready (as
// a watch here sees it) to the first answer of the new version through the
// same local port, and the requests that failed (after the new pod was
// Ready, and at all); for kubectl port-forward, whether the rollout killed it
// and when. Needs the environment (eval "$(bash e2e/env/up)"), kubectl on
// PATH and bin/draft.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/draftk8s/draft/bench/internal/benchutil"
	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

const (
	ns      = "bench-connect"
	release = "python-app"
)

func main() {
	runs := flag.Int("runs", 50, "redeploys to measure")
	every := flag.Duration("every", 20*time.Millisecond, "one GET through each forward this often")
	draftBin := flag.String("draft", "bin/draft", "the draft binary")
	flag.Parse()
	if os.Getenv("DRAFT_REGISTRY") == "" || os.Getenv("KUBECONFIG") == "" {
		fail(`bench/connect needs the environment: eval "$(bash e2e/env/up)"`)
	}
	root := benchutil.Root()
	draft, _ := filepath.Abs(filepath.Join(root, *draftBin))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fail("%v", err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := filepath.Join(os.TempDir(), "draft-bench-connect", release)
	os.RemoveAll(filepath.Dir(dir))
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", release), dir)
	benchutil.Run(dir, nil, draft, "create")
	setVersion(dir, "bench-0")
	benchutil.Run(dir, nil, draft, "up", "-n", ns, "--create-namespace")
	defer benchutil.Run(dir, nil, draft, "delete", "-n", ns, "--ignore-not-found")

	pods := watchPods(ctx, cs)

	// draft connect, for the whole run.
	dc := exec.Command(draft, "connect", "-n", ns, "--no-logs")
	dc.Dir = dir
	dcOut, _ := dc.StdoutPipe()
	dcErr := &testkit.LockedBuffer{}
	dc.Stderr = dcErr
	if err := dc.Start(); err != nil {
		fail("draft connect: %v", err)
	}
	defer func() { dc.Process.Signal(os.Interrupt); dc.Wait() }()
	draftURL := firstMatch(dcOut, regexp.MustCompile(`http://127\.0\.0\.1:\d+`), 20*time.Second)
	if draftURL == "" {
		fail("draft connect printed no URL: %s", dcErr.String())
	}
	go io.Copy(io.Discard, dcOut)

	kpf := &kubectlForward{}
	kpf.start()
	defer kpf.stop()

	draftLoop := startLoop(ctx, func() string { return draftURL }, *every)
	kubectlLoop := startLoop(ctx, kpf.url, *every)
	waitVersion(draftLoop, "bench-0", time.Now().Add(-time.Hour), 20*time.Second)

	fmt.Fprintf(os.Stderr, "bench/connect: %d redeploys of %s, one GET every %s through %s (draft connect) and through kubectl port-forward\n", *runs, release, *every, draftURL)
	var results []result
	for i := 1; i <= *runs; i++ {
		version := fmt.Sprintf("bench-%d", i)
		setVersion(dir, version)
		start := time.Now()
		kRun := kpf.current()
		benchutil.Run(dir, nil, draft, "up", "-n", ns)
		first := waitVersion(draftLoop, version, start, 20*time.Second)
		newPod, readyAt := pods.readySince(start)
		// Let the old pod go, so that each rollout is measured on its own.
		pods.waitOne(20 * time.Second)
		time.Sleep(300 * time.Millisecond)
		r := result{version: version, start: start, end: time.Now(), ready: readyAt, pod: newPod, first: first}
		// kubectl port-forward either exits or stays up bound to the pod that
		// is gone; either way it no longer answers, and a user restarts it.
		exited, at := kpf.exitedAt(kRun)
		if exited || !answers(kpf.url(), 2*time.Second) {
			r.kDied = true
			if exited {
				r.kDiedAfter = at.Sub(start)
			} else {
				r.kDiedAfter = -1 // from its first failed request, once they have all ended
			}
			kpf.stop()
			kpf.start()
			waitVersion(kubectlLoop, "", time.Now(), 20*time.Second)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "  %2d %s: new pod Ready -> first answer through draft connect %4.0f ms; kubectl port-forward %s\n",
			i, newPod, ms(r.first.Sub(r.ready)), map[bool]string{true: "dead", false: "alive"}[r.kDied])
	}
	fmt.Fprintln(os.Stderr, "bench/connect: waiting for the last requests to end")
	time.Sleep(11 * time.Second) // the client's timeout is 10 s
	for i := range results {
		r := &results[i]
		r.failed, r.failedAfterReady, r.staleAfterReady, r.requests = draftLoop.count(r.start, r.end, r.ready, r.version)
		r.kFailed, _, _, r.kRequests = kubectlLoop.count(r.start, r.end, r.ready, r.version)
		if r.kDied && r.kDiedAfter < 0 {
			r.kDiedAfter = kubectlLoop.firstFailure(r.start, r.end).Sub(r.start)
		}
		fmt.Fprintf(os.Stderr, "  %2d: draft connect: %d of %d requests failed (%d after the new pod was Ready; %d answered by the old version after Ready); kubectl port-forward: %s, %d of %d failed\n",
			i+1, r.failed, r.requests, r.failedAfterReady, r.staleAfterReady, kdesc(*r), r.kFailed, r.kRequests)
	}
	report(results)
	if path := os.Getenv("BENCH_CONNECT_DEBUG"); path != "" {
		dump(path, draftLoop, kubectlLoop, pods, dcErr.String())
	}
	if strings.Contains(dcErr.String(), "panic") {
		fail("draft connect panicked: %s", dcErr.String())
	}
}

type result struct {
	version                            string
	pod                                string
	start, end, ready, first           time.Time
	requests, failed, failedAfterReady int
	staleAfterReady                    int
	kRequests, kFailed                 int
	kDied                              bool
	kDiedAfter                         time.Duration
}

func kdesc(r result) string {
	if r.kDied {
		return fmt.Sprintf("dead %.2f s after up began", r.kDiedAfter.Seconds())
	}
	return "survived"
}

func report(rs []result) {
	var lat, deaths []time.Duration
	failed, failedAfter, stale, reqs, kFailed, kReqs, kDied := 0, 0, 0, 0, 0, 0, 0
	for _, r := range rs {
		lat = append(lat, r.first.Sub(r.ready))
		failed += r.failed
		failedAfter += r.failedAfterReady
		stale += r.staleAfterReady
		reqs += r.requests
		kFailed += r.kFailed
		kReqs += r.kRequests
		if r.kDied {
			kDied++
			deaths = append(deaths, r.kDiedAfter)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("connect: %d redeploys of the Python app under one GET every 20 ms, same local port throughout\n", len(rs))
	fmt.Printf("  draft connect: new pod Ready -> first answer of the new version: median %.0f ms, p90 %.0f ms, max %.0f ms (goal < 300 ms)\n",
		ms(benchutil.Median(lat)), ms(pct(lat, 0.9)), ms(lat[len(lat)-1]))
	fmt.Printf("  draft connect: failed requests: %d after the new pod was Ready (goal 0), %d in all, of %d; answers of the old version after Ready: %d\n",
		failedAfter, failed, reqs, stale)
	fmt.Printf("  kubectl port-forward (restarted by the bench before the next redeploy when dead): died in %d of %d rollouts", kDied, len(rs))
	if kDied > 0 {
		fmt.Printf(" (exited, or stopped answering), a median %.2f s after draft up began", benchutil.Median(deaths).Seconds())
	}
	fmt.Printf("; failed requests %d of %d\n", kFailed, kReqs)
}

func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	return xs[int(p*float64(len(xs)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// setVersion rewrites the app's VERSION line: a one-line change.
func setVersion(dir, v string) {
	p := filepath.Join(dir, "app.py")
	b, err := os.ReadFile(p)
	if err != nil {
		fail("%v", err)
	}
	re := regexp.MustCompile(`(?m)^VERSION = ".*"$`)
	if err := os.WriteFile(p, re.ReplaceAll(b, []byte(`VERSION = "`+v+`"`)), 0o644); err != nil {
		fail("%v", err)
	}
}

// podTimes records when this process saw each pod of the release Ready and
// deleted, from a watch.
type podTimes struct {
	mu      sync.Mutex
	ready   map[string]time.Time
	present map[string]bool
}

func watchPods(ctx context.Context, cs kubernetes.Interface) *podTimes {
	pt := &podTimes{ready: map[string]time.Time{}, present: map[string]bool{}}
	started := make(chan struct{})
	go func() {
		once := sync.Once{}
		for ctx.Err() == nil {
			w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			once.Do(func() { close(started) })
			for ev := range w.ResultChan() {
				now := time.Now()
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				pt.mu.Lock()
				switch {
				case ev.Type == watch.Deleted:
					delete(pt.present, p.Name)
				default:
					pt.present[p.Name] = true
					if kube.PodReady(p) && pt.ready[p.Name].IsZero() {
						pt.ready[p.Name] = now
					}
				}
				pt.mu.Unlock()
			}
		}
	}()
	<-started
	return pt
}

// readySince is the pod that became Ready after t, and when.
func (pt *podTimes) readySince(t time.Time) (string, time.Time) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pt.mu.Lock()
		for name, at := range pt.ready {
			if at.After(t) {
				pt.mu.Unlock()
				return name, at
			}
		}
		pt.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	fail("no pod became Ready after %s", t.Format(time.RFC3339Nano))
	return "", time.Time{}
}

// waitOne waits until only one pod of the release is left.
func (pt *podTimes) waitOne(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pt.mu.Lock()
		n := len(pt.present)
		pt.mu.Unlock()
		if n <= 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kubectlForward is kubectl port-forward deploy/python-app, restarted by
// the bench (as a user would) when a rollout killed it.
type kubectlForward struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	u      string
	run    int
	exited map[int]time.Time
}

func (k *kubectlForward) start() {
	cmd := exec.Command("kubectl", "port-forward", "-n", ns, "deploy/"+release, ":8080")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		fail("kubectl port-forward: %v", err)
	}
	addr := firstMatch(out, regexp.MustCompile(`127\.0\.0\.1:\d+`), 20*time.Second)
	if addr == "" {
		fail("kubectl port-forward printed no address")
	}
	go io.Copy(io.Discard, out)
	k.mu.Lock()
	if k.exited == nil {
		k.exited = map[int]time.Time{}
	}
	k.run++
	run := k.run
	k.cmd, k.u = cmd, "http://"+addr
	k.mu.Unlock()
	go func() {
		cmd.Wait()
		k.mu.Lock()
		k.exited[run] = time.Now()
		k.mu.Unlock()
	}()
}

func (k *kubectlForward) url() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.u
}

// current is the number of the forward now running.
func (k *kubectlForward) current() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.run
}

// exitedAt reports whether the forward of run has exited, and when.
func (k *kubectlForward) exitedAt(run int) (bool, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.exited[run]
	return ok, at
}

func (k *kubectlForward) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd != nil && k.cmd.Process != nil {
		k.cmd.Process.Kill()
	}
}

// loop sends one GET every period, each on a new connection (no keep-alive:
// a kept connection stays with the pod that accepted it), and records them.
type loop struct {
	mu   sync.Mutex
	reqs []request
}

type request struct {
	sent, done time.Time
	body       string
	err        error
}

func startLoop(ctx context.Context, url func() string, period time.Duration) *loop {
	l := &loop{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			go func() {
				r := request{sent: time.Now()}
				resp, err := client.Get(url())
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					r.body = strings.TrimSpace(string(b))
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

// firstAnswer is when the first answer of version ("": any), to a request
// sent after since, came back.
func (l *loop) firstAnswer(version string, since time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, r := range l.reqs {
		if r.err == nil && r.sent.After(since) && (version == "" || strings.HasSuffix(r.body, " "+version)) {
			if first.IsZero() || r.done.Before(first) {
				first = r.done
			}
		}
	}
	return first
}

func waitVersion(l *loop, version string, since time.Time, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if t := l.firstAnswer(version, since); !t.IsZero() {
			return t
		}
		time.Sleep(10 * time.Millisecond)
	}
	fail("no answer of %s within %s", version, timeout)
	return time.Time{}
}

// answers reports whether url answers a GET within timeout.
func answers(url string, timeout time.Duration) bool {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// firstFailure is when the first request sent in [from, to) that failed was sent.
func (l *loop) firstFailure(from, to time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, r := range l.reqs {
		if r.err != nil && !r.sent.Before(from) && r.sent.Before(to) && (first.IsZero() || r.sent.Before(first)) {
			first = r.sent
		}
	}
	return first
}

// count counts the requests sent in [from, to): all, failed, failed after
// ready, and answered by another version after ready.
func (l *loop) count(from, to, ready time.Time, version string) (failed, failedAfter, stale, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if r.sent.Before(from) || !r.sent.Before(to) {
			continue
		}
		all++
		if r.err != nil {
			failed++
			if r.sent.After(ready) {
				failedAfter++
			}
		} else if r.sent.After(ready) && !strings.HasSuffix(r.body, " "+version) {
			stale++
		}
	}
	return
}

// firstMatch reads r until a line matches re.
func firstMatch(r io.Reader, re *regexp.Regexp, timeout time.Duration) string {
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			if m := re.FindString(s.Text()); m != "" {
				found <- m
				return
			}
		}
		found <- ""
	}()
	select {
	case m := <-found:
		return m
	case <-time.After(timeout):
		return ""
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/connect: "+format+"\n", a...)
	os.Exit(1)
}

// dump writes every request and draft connect's messages, for a look at
// what failed.
func dump(path string, dl, kl *loop, pt *podTimes, stderr string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	for name, l := range map[string]*loop{"draft": dl, "kubectl": kl} {
		l.mu.Lock()
		for _, r := range l.reqs {
			fmt.Fprintf(f, "%s %s %s %q %v\n", name, r.sent.Format("15:04:05.000"), r.done.Format("15:04:05.000"), r.body, r.err)
		}
		l.mu.Unlock()
	}
	pt.mu.Lock()
	for name, at := range pt.ready {
		fmt.Fprintf(f, "ready %s %s\n", at.Format("15:04:05.000"), name)
	}
	pt.mu.Unlock()
	fmt.Fprintf(f, "draft connect stderr:\n%s", stderr)
}
