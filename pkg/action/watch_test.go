package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/draftk8s/draft/pkg/watch"
)

// fakeUps plays up for the watch loop: it reads the app's file when its
// build starts, "builds" for build, waits for its gate, and "deploys" what
// it read (or fails when the file says "syntax error").
type fakeUps struct {
	file  string
	build time.Duration
	// slow, when set, is how long a deploy of content saying "slow" takes;
	// an interrupt then rolls it back.
	slow time.Duration

	mu       sync.Mutex
	started  []time.Time
	deployed []string // contents, in order
	deployAt []time.Time
	failed   []string
}

func (f *fakeUps) run(ctx context.Context, u *Up) (*UpResult, error) {
	if u.Phase != nil {
		u.Phase(PhaseBuild)
	}
	f.mu.Lock()
	f.started = append(f.started, time.Now())
	f.mu.Unlock()
	b, err := os.ReadFile(f.file)
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(f.build):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if strings.Contains(string(b), "syntax error") {
		return nil, errors.New("build failed: " + string(b))
	}
	if u.Gate != nil {
		if err := u.Gate(ctx); err != nil {
			return nil, err
		}
	}
	if u.Phase != nil {
		u.Phase(PhaseDeploy)
	}
	f.mu.Lock()
	f.deployed = append(f.deployed, string(b))
	f.deployAt = append(f.deployAt, time.Now())
	f.mu.Unlock()
	took := 20 * time.Millisecond
	if strings.Contains(string(b), "slow") {
		took = f.slow
	}
	select {
	case <-time.After(took):
	case <-ctx.Done():
		return nil, fmt.Errorf("deploying release app revision %d was interrupted; rolled back to revision 1: %w", len(f.deployed), ctx.Err())
	}
	return &UpResult{Release: "app"}, nil
}

func (f *fakeUps) snapshot() (deployed, failed []string, starts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deployed...), append([]string(nil), f.failed...), len(f.started)
}

// startFakeWatch runs a Watch with fake ups on a scratch app until the test
// ends, which stops it as Ctrl-C does: with no redeploy running, no error.
func startFakeWatch(t *testing.T, build time.Duration) (*fakeUps, string) {
	t.Helper()
	f, file, stop := runFakeWatch(t, &fakeUps{build: build})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Watch.Run: %v", err)
		}
	})
	return f, file
}

// runFakeWatch runs a Watch with the fake ups f on a scratch app, and waits
// for its first deploy; stop cancels it and returns what Run returned.
func runFakeWatch(t *testing.T, f *fakeUps) (_ *fakeUps, file string, stop func() error) {
	t.Helper()
	dir := t.TempDir()
	toml := "[environments]\n  [environments.development]\n    name = \"app\"\n    watch-delay = 0.2\n"
	if err := os.WriteFile(filepath.Join(dir, "draft.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "app.py")
	if err := os.WriteFile(file, []byte("v0"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.file = file
	w := &Watch{Up: &Up{Target: Target{Dir: dir}}, run: f.run, Redeployed: func(_ *UpResult, err error) {
		if err != nil {
			f.mu.Lock()
			f.failed = append(f.failed, err.Error())
			f.mu.Unlock()
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if d, _, _ := f.snapshot(); len(d) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first up did not deploy")
		}
	}
	time.Sleep(100 * time.Millisecond) // the watch is set up before the first up
	return f, file, stop
}

func writeApp(t *testing.T, file, content string) time.Time {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// waitDeployed waits until n deploys happened, then for a quiet while.
func (f *fakeUps) waitDeployed(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if d, _, _ := f.snapshot(); len(d) >= n {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // nothing more comes
	d, _, _ := f.snapshot()
	return d
}

// A save: the build starts once the save has paused, before the quiet period
// is over; the deploy waits for the quiet period; one deploy.
func TestWatchBuildsEarlyDeploysAfterTheQuiet(t *testing.T) {
	f, file := startFakeWatch(t, 300*time.Millisecond)
	saved := writeApp(t, file, "v1")
	d := f.waitDeployed(t, 2)
	if strings.Join(d, " ") != "v0 v1" {
		t.Fatalf("deployed %q, want v0 then v1", d)
	}
	f.mu.Lock()
	started, deployedAt := f.started[len(f.started)-1], f.deployAt[1]
	f.mu.Unlock()
	if s := started.Sub(saved); s >= 200*time.Millisecond {
		t.Errorf("the build started %s after the save, want before the quiet period (200 ms) is over", s)
	}
	if s := deployedAt.Sub(saved); s < 300*time.Millisecond {
		t.Errorf("deployed %s after the save, before the build could end", s)
	}
}

// A slow build does not deploy before the quiet period ends: with a build
// faster than the quiet period, the deploy still waits for it.
func TestWatchEarlyBuildWaitsForTheQuiet(t *testing.T) {
	f, file := startFakeWatch(t, 10*time.Millisecond)
	saved := writeApp(t, file, "v1")
	f.waitDeployed(t, 2)
	f.mu.Lock()
	deployedAt := f.deployAt[1]
	f.mu.Unlock()
	if s := deployedAt.Sub(saved); s < 200*time.Millisecond {
		t.Errorf("deployed %s after the save, before the quiet period (200 ms) was over", s)
	}
}

// Changes with pauses longer than the early start but shorter than the
// quiet period (a git checkout): the early builds are given up, one deploy,
// of the last state.
func TestWatchPausingBurstIsOneDeploy(t *testing.T) {
	f, file := startFakeWatch(t, 300*time.Millisecond)
	for i := 1; i <= 5; i++ {
		writeApp(t, file, "v"+string(rune('0'+i)))
		time.Sleep(120 * time.Millisecond)
	}
	d := f.waitDeployed(t, 2)
	if strings.Join(d, " ") != "v0 v5" {
		t.Fatalf("deployed %q, want v0 then only v5", d)
	}
	if _, _, starts := f.snapshot(); starts < 4 {
		t.Errorf("%d ups started, want one early up per pause", starts)
	}
}

// A state that does not build, followed by a fix before the quiet period
// is over: the failure is never told, the fix deploys. Left as is, a failure
// is told once, after the quiet period.
func TestWatchEarlyFailure(t *testing.T) {
	f, file := startFakeWatch(t, 10*time.Millisecond)
	writeApp(t, file, "syntax error")
	time.Sleep(100 * time.Millisecond) // the early build fails
	writeApp(t, file, "v1")
	d := f.waitDeployed(t, 2)
	if _, failed, _ := f.snapshot(); len(failed) != 0 || strings.Join(d, " ") != "v0 v1" {
		t.Fatalf("deployed %q, failures %q; want v1 deployed and no failure", d, failed)
	}

	saved := writeApp(t, file, "syntax error again")
	var failed []string
	for deadline := time.Now().Add(5 * time.Second); len(failed) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_, failed, _ = f.snapshot()
	}
	told := time.Since(saved)
	time.Sleep(400 * time.Millisecond)
	_, failed, _ = f.snapshot()
	if len(failed) != 1 {
		t.Fatalf("failures %q, want one", failed)
	}
	if told < 200*time.Millisecond {
		t.Errorf("the failure was told %s after the save, before the quiet period was over", told)
	}
}

// Ctrl-C during a redeploy: Run returns the redeploy's own error (what it
// left: rolled back), so that the exit code is an interrupt's, and the
// outcome is told as every redeploy's is.
func TestWatchInterruptedRedeploy(t *testing.T) {
	f, file, stop := runFakeWatch(t, &fakeUps{build: 10 * time.Millisecond, slow: time.Hour})
	writeApp(t, file, "slow v1")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if d, _, _ := f.snapshot(); len(d) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the redeploy did not start deploying")
		}
	}
	err := stop()
	if !errors.Is(err, context.Canceled) || !strings.Contains(fmt.Sprint(err), "rolled back to revision 1") {
		t.Errorf("Watch.Run: %v, want the interrupted deploy's error", err)
	}
	if _, failed, _ := f.snapshot(); len(failed) != 1 || !strings.Contains(failed[0], "interrupted") {
		t.Errorf("outcomes told: %q, want the interrupted redeploy", failed)
	}
}

// The loop's order of notices, driven by hand: a select picks at random
// among the channels ready, so a burst's Early can come after its batch,
// and a batch can follow an Early that an early up started on while more
// changes came after it.
func TestWatchLoopNoticesOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	f := &fakeUps{file: filepath.Join(dir, "app.py"), build: 20 * time.Millisecond}
	ctx := context.Background()
	settle := func(l *loop) { // runs the loop's ups to their end
		for l.results != nil {
			select {
			case r := <-l.results:
				l.finished(ctx, r)
			case <-time.After(5 * time.Second):
				t.Fatal("an up never ended: it waits for a gate no batch will open")
			}
		}
	}
	l := &loop{w: &Watch{Up: &Up{}, run: f.run, Redeployed: func(*UpResult, error) {}}}
	t0 := time.Now()

	// The batch, then the Early of the same burst: the Early is old news.
	writeApp(t, f.file, "v1")
	l.batch(ctx, batchOf(t0, "app.py"))
	l.early(ctx, batchOf(t0, "app.py"))
	settle(l)
	if d, _, _ := f.snapshot(); strings.Join(d, " ") != "v1" {
		t.Fatalf("deployed %q, want v1 once", d)
	}

	// An early up on the first Early; the burst changed again (its second
	// Early not received) before its batch: the early up is given up, and
	// the newest state deploys.
	writeApp(t, f.file, "v2")
	l.early(ctx, batchOf(t0.Add(time.Second), "app.py"))
	writeApp(t, f.file, "v3")
	time.Sleep(10 * time.Millisecond) // the early up read v2
	l.batch(ctx, batchOf(t0.Add(2*time.Second), "app.py"))
	settle(l)
	if d, _, _ := f.snapshot(); strings.Join(d, " ") != "v1 v3" {
		t.Fatalf("deployed %q, want v1 then v3 (v2 was built before the burst's last change)", d)
	}
}

func batchOf(at time.Time, paths ...string) watch.Batch { return watch.Batch{Paths: paths, At: at} }
