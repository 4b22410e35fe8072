package action

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"

	"github.com/draftk8s/draft/internal/deploysim"
	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/ui"
)

// upFixture is an app that create wrote, a registry in memory, and a
// simulated cluster (internal/deploysim) behind Up's Deps.
type upFixture struct {
	t        *testing.T
	dir      string
	registry string // host:port of the in-memory registry
	sim      *deploysim.Cluster
	resolved int // how many times up resolved the cluster
	mu       sync.Mutex
	events   []Event
}

const upNS = "dev"

func newUpFixture(t *testing.T, golden string) *upFixture {
	t.Helper()
	f := &upFixture{t: t, dir: filepath.Join(t.TempDir(), golden)}
	testkit.CopyTree(t, filepath.Join("testdata", "create", golden, "want"), f.dir)
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	f.registry = strings.TrimPrefix(srv.URL, "http://")
	f.sim = deploysim.New(t, upNS)
	return f
}

// up is an Up of the fixture's app, with its Deps on the simulated cluster.
func (f *upFixture) up() *Up {
	return &Up{
		Target: f.target(), Registry: f.registry, Timeout: 10 * time.Second,
		Events: func(e Event) { f.mu.Lock(); f.events = append(f.events, e); f.mu.Unlock() },
	}
}

// target is the fixture's app on the simulated cluster.
func (f *upFixture) target() Target {
	return Target{
		Dir: f.dir, Kube: kube.Options{Namespace: upNS},
		Deps: Deps{
			Resolve: func(ctx context.Context, o kube.Options) (*kube.Cluster, error) {
				f.resolved++
				return &kube.Cluster{Context: "sim", Namespace: o.Namespace, Client: f.sim.Clientset}, nil
			},
			Deployer: func(c *kube.Cluster) (*deploy.Deployer, error) {
				return deploy.New(nil, c.Namespace, deploy.WithActionConfig(f.sim.Config), deploy.WithClient(c.Client), deploy.WithTimeout(10*time.Second))
			},
			Docker: func() (build.Engine, error) { return nil, errors.New("no Docker engine in a unit test") },
		},
	}
}

// kinds lists the events seen since the last call, by kind.
func (f *upFixture) kinds() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var k []string
	for _, e := range f.events {
		k = append(k, string(e.Event))
	}
	f.events = nil
	return k
}

// A Go app, built without Docker, pushed to a registry, deployed and rolled
// out; then an up with nothing changed does nothing; then a change is a new
// revision.
func TestUpBuildsPushesAndDeploys(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	ctx := context.Background()
	res, err := f.up().Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || res.Path != "daemonless-go" || res.Uploaded == 0 || res.Unchanged || res.Namespace != upNS {
		t.Errorf("first up = %+v", res)
	}
	if !strings.HasPrefix(res.Image.String(), f.registry+"/go-plain@sha256:") {
		t.Errorf("image %s is not in the fixture's registry", res.Image)
	}
	if k := f.kinds(); !slices.Contains(k, "build") || !slices.Contains(k, "push") || !slices.Contains(k, "deploy") || !slices.Contains(k, "ready") {
		t.Errorf("first up's events: %v", k)
	}
	if got := f.sim.Statuses("go-plain"); got != "1:deployed" {
		t.Errorf("history after the first up: %s", got)
	}
	if s := UpSummary(res); !strings.HasPrefix(s, "go-plain is ready: revision 1 in namespace dev, in ") {
		t.Errorf("summary: %s", s)
	}

	// Nothing changed: nothing built, pushed or deployed.
	res, err = f.up().Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unchanged || res.Revision != 1 || res.Path != "" {
		t.Errorf("unchanged up = %+v", res)
	}
	if s := UpSummary(res); !strings.HasPrefix(s, "nothing changed: release go-plain runs sha256:") || !strings.Contains(s, "(revision 1)") {
		t.Errorf("summary: %s", s)
	}
	if k := f.kinds(); !slices.Contains(k, "unchanged") || slices.Contains(k, "build") || slices.Contains(k, "deploy") {
		t.Errorf("unchanged up's events: %v", k)
	}

	// A change to the source: a new image and revision 2.
	main := filepath.Join(f.dir, "main.go")
	b, _ := os.ReadFile(main)
	os.WriteFile(main, append(b, []byte("\n// changed\n")...), 0o644)
	res, err = f.up().Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.Unchanged {
		t.Errorf("up after a change = %+v", res)
	}
	if got := f.sim.Statuses("go-plain"); got != "1:superseded 2:deployed" {
		t.Errorf("history after the change: %s", got)
	}
}

// --builder docker with no engine says so, and nothing is deployed.
func TestUpWithoutDocker(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	u := f.up()
	u.Builder = BuilderDocker
	_, err := u.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no Docker engine in a unit test") {
		t.Fatalf("err = %v", err)
	}
	if got := f.sim.Statuses("go-plain"); got != "" {
		t.Errorf("a failed build deployed: %s", got)
	}
}

// deleteOf is a Delete of the fixture's app on its simulated cluster.
func (f *upFixture) deleteOf() *Delete {
	return &Delete{Target: f.target()}
}

// Delete uninstalls the release once its pods are gone (the simulated
// garbage collector takes them), runs the cleanup tasks, and says when there
// is no such release.
func TestDelete(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	os.WriteFile(filepath.Join(f.dir, config.TasksFileName), []byte("[cleanup]\n  mark = \"touch cleaned\"\n"), 0o644)
	ctx := context.Background()
	if _, err := f.deleteOf().Run(ctx); err == nil || !strings.Contains(err.Error(), "there is no release go-plain in namespace dev (draft delete --ignore-not-found makes this a success)") {
		t.Fatalf("deleting a release that is not there: %v", err)
	}
	d := f.deleteOf()
	d.IgnoreNotFound = true
	if res, err := d.Run(ctx); err != nil || !res.NotFound {
		t.Fatalf("--ignore-not-found: %+v, %v", res, err)
	}
	if _, err := f.up().Run(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { // the garbage collector, a while after the uninstall
		time.Sleep(200 * time.Millisecond)
		f.sim.DeletePods()
	}()
	res, err := f.deleteOf().Run(ctx)
	if err != nil || res.NotFound || res.Release != "go-plain" || res.Namespace != upNS {
		t.Fatalf("delete = %+v, %v", res, err)
	}
	if got := f.sim.Statuses("go-plain"); got != "" {
		t.Errorf("the release is still there: %s", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "cleaned")); err != nil {
		t.Errorf("the cleanup task did not run: %v", err)
	}
}

// Pre-up tasks run before the build, in the app's folder; a failing one stops
// up before anything is built or deployed.
func TestUpPreUpTasks(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	tasks := filepath.Join(f.dir, config.TasksFileName)
	os.WriteFile(tasks, []byte("[pre-up]\n  gen = \"echo generated > gen.txt\"\n"), 0o644)
	if _, err := f.up().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, "gen.txt")); err != nil || string(b) != "generated\n" {
		t.Errorf("the pre-up task's file: %q, %v", b, err)
	}
	f.kinds() // the first up's
	os.WriteFile(tasks, []byte("[pre-up]\n  fail = \"exit 3\"\n"), 0o644)
	os.WriteFile(filepath.Join(f.dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	_, err := f.up().Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fail") {
		t.Fatalf("a failing pre-up task: %v", err)
	}
	if got := f.sim.Statuses("go-plain"); got != "1:deployed" {
		t.Errorf("a failed pre-up task deployed: %s", got)
	}
	if k := f.kinds(); slices.Contains(k, "build") || slices.Contains(k, "deploy") {
		t.Errorf("built or deployed after a failed pre-up task: %v", k)
	}
}

// An up interrupted before it deploys says so, and adds no revision.
func TestUpInterrupted(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	ctx, cancel := context.WithCancel(context.Background())
	u := f.up()
	u.Phase = func(phase string) {
		if phase == PhaseDeploy {
			return
		}
		cancel() // as Ctrl-C while it builds
	}
	_, err := u.Run(ctx)
	if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want an interruption", err)
	}
	if got := f.sim.Statuses("go-plain"); got != "" {
		t.Errorf("an interrupted up deployed: %s", got)
	}
}

// Logs prints the lines of the release's pods (the fake clientset answers
// every pod's logs with "fake logs"), and says when the release has none.
func TestLogs(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	var out strings.Builder
	err := (&Logs{Target: f.target(), Tail: 10, Out: &out}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "go-plain") {
		t.Fatalf("logs of a release with no pods: %v", err)
	}
	if _, err := f.up().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := (&Logs{Target: f.target(), Tail: 10, Out: &out}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fake logs") || !strings.Contains(out.String(), "go-plain-") {
		t.Errorf("logs printed %q, want the pod's lines with its name", out.String())
	}
}

// Watch over the real Up: the first up, then a save, then a redeploy of it.
func TestWatchRedeploysOnSave(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res *UpResult
		err error
	}
	redeployed := make(chan outcome, 8) // the first up's too
	var said testkit.LockedBuffer
	u := f.up()
	u.UI = ui.New(&said)
	w := &Watch{Up: u, Delay: 100 * time.Millisecond, Redeployed: func(res *UpResult, err error) {
		redeployed <- outcome{res, err}
	}}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for f.sim.Statuses("go-plain") != "1:deployed" {
		if time.Now().After(deadline) {
			t.Fatalf("no first up: %s", f.sim.Statuses("go-plain"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	main := filepath.Join(f.dir, "main.go")
	b, _ := os.ReadFile(main)
	os.WriteFile(main, append(b, []byte("\n// saved\n")...), 0o644)
	for rev := 0; rev != 2; {
		select {
		case o := <-redeployed:
			if o.err != nil {
				t.Fatalf("redeploy: %v", o.err)
			}
			rev = o.res.Revision
		case <-time.After(20 * time.Second):
			t.Fatalf("no redeploy after a save; watch said:\n%s", said.String())
		}
	}
	if got := f.sim.Statuses("go-plain"); got != "1:superseded 2:deployed" {
		t.Errorf("history after the save: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch ended with %v", err)
	}
}

// A redeploy whose pods crash is rolled back: up fails, says so, and the
// previous revision serves again.
func TestUpRollsBackACrash(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	ctx := context.Background()
	if _, err := f.up().Run(ctx); err != nil {
		t.Fatal(err)
	}
	toml := filepath.Join(f.dir, config.FileName)
	b, _ := os.ReadFile(toml)
	os.WriteFile(toml, []byte(strings.Replace(string(b), "set = []", `set = ["podAnnotations.deploysim/behave=crash"]`, 1)), 0o644)
	_, err := f.up().Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "rolled back to revision 1") {
		t.Fatalf("err = %v, want a rollback to revision 1", err)
	}
	if got := f.sim.Statuses("go-plain"); !strings.HasSuffix(got, "3:deployed") || !strings.Contains(got, "2:failed") {
		t.Errorf("history after the rollback: %s", got)
	}
	if lines := strings.Join(DiagnosisLines(err), "\n"); !strings.Contains(lines, "fake logs") {
		t.Errorf("the diagnosis has not the crashed pod's log lines:\n%s", lines)
	}
}

// What up needs and does not find is one sentence, before anything is built.
func TestUpErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *upFixture, u *Up)
		want  string
	}{
		{"no registry", func(f *upFixture, u *Up) { u.Registry, u.Settings.Registry = "", "" }, "no registry to push to: set one with --registry"},
		{"no chart", func(f *upFixture, u *Up) { os.RemoveAll(filepath.Join(f.dir, "charts")) }, "there is no chart at charts/go-plain: run draft create"},
		{"no Dockerfile", func(f *upFixture, u *Up) { os.Remove(filepath.Join(f.dir, "Dockerfile")) }, "there is no Dockerfile in"},
		{"no draft.toml", func(f *upFixture, u *Up) { os.Remove(filepath.Join(f.dir, config.FileName)) }, "draft create"},
		{"unknown builder", func(f *upFixture, u *Up) { u.Builder = "kaniko" }, `unknown builder "kaniko"`},
		{"an unreachable cluster", func(f *upFixture, u *Up) {
			u.Deps.Resolve = func(context.Context, kube.Options) (*kube.Cluster, error) {
				return nil, errors.New("the cluster at https://127.0.0.1:1 does not answer")
			}
		}, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newUpFixture(t, "go-plain")
			u := f.up()
			tt.setup(f, u)
			_, err := u.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if k := f.kinds(); slices.Contains(k, "build") || slices.Contains(k, "deploy") {
				t.Errorf("events after the error: %v", k)
			}
		})
	}
}

// Connect of a release with no pods says so (forwarding to pods needs a
// dialer seam in pkg/connect first: its dial is the API server's SPDY).
func TestConnectNoPods(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	err := (&Connect{Target: f.target(), Hold: time.Second}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "go-plain") {
		t.Fatalf("connect with no pods: %v", err)
	}
}

// A build context whose .dockerignore (the user's own) lets key-like files
// through is warned of, with their names.
func TestUpWarnsOfSecretsInTheContext(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	os.WriteFile(filepath.Join(f.dir, ".dockerignore"), []byte("charts\ndraft.toml\n"), 0o644)
	os.MkdirAll(filepath.Join(f.dir, "config"), 0o755)
	os.WriteFile(filepath.Join(f.dir, "config", ".env"), []byte("TOKEN=x\n"), 0o644)
	os.WriteFile(filepath.Join(f.dir, "id_rsa"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600)
	if _, err := f.up().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if e.Event == "warning" && strings.Contains(e.Message, "config/.env") && strings.Contains(e.Message, "id_rsa") {
			return
		}
	}
	t.Errorf("no warning naming config/.env and id_rsa in %+v", f.events)
}

// Connect listens on a local port for each pod port and streams the pods'
// logs until interrupted; a pod that cannot be dialled is said, and connect
// goes on (the forwarding itself is pkg/connect's, tested there).
func TestConnect(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	if _, err := f.up().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	target := f.target()
	var dials atomic.Int32
	target.Deps.DialPod = func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
		dials.Add(1)
		return nil, errors.New("pod " + pod.Name + " does not answer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs, said testkit.LockedBuffer
	ready := make(chan []PortMapping, 1)
	c := &Connect{Target: target, Logs: &logs, Tail: 5, UI: ui.New(&said),
		OnReady: func(m []PortMapping) { ready <- m }}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case m := <-ready:
		if len(m) != 1 || m[0].Remote != 8080 || m[0].Local == 0 {
			t.Errorf("forwards: %+v, want pod port 8080 on a local port", m)
		}
	case err := <-done:
		t.Fatalf("connect ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("connect never became ready")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "fake logs") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "fake logs") {
		t.Errorf("no log lines streamed: %q", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("connect ended with %v after the interrupt", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect still runs 10 s after the interrupt")
	}
	t.Logf("dials: %d; said: %q", dials.Load(), said.String())
}

// A Session with draft.toml's auto-connect ups, then connects to the
// cluster up resolved (resolved once, not a second time); a flag given
// wins over draft.toml, and watch = true in draft.toml is overridden by
// --watch=false.
func TestSessionAutoConnect(t *testing.T) {
	f := newUpFixture(t, "go-plain")
	toml := filepath.Join(f.dir, config.FileName)
	b, _ := os.ReadFile(toml)
	b = bytes.Replace(b, []byte("auto-connect = false"), []byte("auto-connect = true"), 1)
	b = bytes.Replace(b, []byte("watch = false"), []byte("watch = true"), 1)
	if err := os.WriteFile(toml, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := f.up()
	u.Deps.DialPod = func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
		return nil, errors.New("not dialled in this test")
	}
	var done *UpResult
	var forwards []PortMapping
	no := false
	s := &Session{Up: u, Watch: &no,
		Connect: &Connect{OnReady: func(m []PortMapping) { forwards = m; cancel() }},
		Done:    func(res *UpResult) { done = res },
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if done == nil || done.Revision != 1 {
		t.Errorf("Done told %+v, want revision 1", done)
	}
	if len(forwards) != 1 || forwards[0].Remote != 8080 {
		t.Errorf("forwards: %+v", forwards)
	}
	if f.resolved != 1 {
		t.Errorf("the cluster was resolved %d times, want once (connect reuses up's)", f.resolved)
	}
	if got := f.sim.Statuses("go-plain"); got != "1:deployed" {
		t.Errorf("history: %s", got)
	}

	// --auto-connect=false: up only.
	f.resolved = 0
	s = &Session{Up: f.up(), Watch: &no, AutoConnect: &no, Connect: &Connect{OnReady: func([]PortMapping) { t.Error("connected with --auto-connect=false") }}}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.resolved != 1 {
		t.Errorf("resolved %d times", f.resolved)
	}
}
