package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/watch"
)

// Watch keeps the app deployed as it changes: an up, then an up after every
// batch of changes. A change that comes during a build cancels that build (it
// is stale) and starts another; one that comes during a deploy waits for it,
// then deploys the newest state. A failed redeploy is reported and the loop
// goes on (the previous version keeps serving); only a failed first up ends it.
type Watch struct {
	Up    *Up
	Delay time.Duration // quiet period after a change; 0: draft.toml's watch-delay, else watch.DefaultDelay
	// Connected, when set, starts after the first successful up and runs until
	// the loop ends (draft connect's forwarding and logs).
	Connected func(ctx context.Context) error
	// Redeployed, when set, is told of each redeploy's outcome.
	Redeployed func(res *UpResult, err error)
}

// Run watches until ctx is done; it returns nil then.
func (w *Watch) Run(ctx context.Context) error {
	u := w.Up
	dir, err := appDir(u.Dir)
	if err != nil {
		return err
	}
	_, env, err := loadEnvironment(dir, u.Environment)
	if err != nil {
		return err
	}
	delay := w.Delay
	if delay == 0 && env.WatchDelay > 0 {
		delay = time.Duration(env.WatchDelay * float64(time.Second))
	}
	if delay == 0 {
		delay = watch.DefaultDelay
	}
	var include []string
	for _, p := range append([]string{env.Chart, env.Dockerfile}, env.Values...) {
		if p != "" {
			include = append(include, p)
		}
	}
	// Watch before the first up, so that a change made during it is not missed.
	opts := []watch.Option{watch.WithDelay(delay), watch.WithInclude(include...)}
	if u.UI != nil {
		opts = append(opts, watch.WithLog(u.UI.Writer()))
	}
	watcher, err := watch.New(dir, opts...)
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(wctx) }()

	first, err := u.Run(ctx)
	if err != nil {
		return err
	}
	w.report(first, nil)
	var bg sync.WaitGroup
	defer bg.Wait()
	if w.Connected != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := w.Connected(wctx); err != nil && wctx.Err() == nil {
				u.say("connect stopped: %v", err)
			}
		}()
	}
	u.say("watching %s for changes (%d folders, %s of quiet before a redeploy); Ctrl-C to stop", dir, watcher.Watches(), delay)

	l := &loop{w: w}
	defer l.cancelAndWait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("the watch ended")
			}
			return err
		case b, ok := <-watcher.Batches():
			if !ok {
				continue // watchErr tells why
			}
			u.say("changed: %s", summarize(b.Paths))
			l.changed(ctx)
		case r := <-l.done():
			l.finished(ctx, r)
		}
	}
}

// report tells of a successful up.
func (w *Watch) report(res *UpResult, err error) {
	if w.Redeployed != nil {
		w.Redeployed(res, err)
		return
	}
	w.Up.say("%s", UpSummary(res))
}

// UpSummary is one line on a successful up.
func UpSummary(res *UpResult) string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	if res.Unchanged {
		digest := res.Image.DigestStr()
		if len(digest) > 19 {
			digest = digest[:19]
		}
		return fmt.Sprintf("nothing changed: release %s runs %s (revision %d); checked in %s", res.Release, digest, res.Revision, res.Total.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s is ready: revision %d in namespace %s, in %s (build %s, push %s, deploy %s)", res.Release, res.Revision, res.Namespace,
		r(res.Total), r(res.Build), r(res.Push), r(res.Deploy))
}

// loop runs one up at a time and remembers whether another is due.
type loop struct {
	w       *Watch
	mu      sync.Mutex
	phase   string
	cancel  context.CancelFunc
	results chan upOutcome
	pending bool
}

type upOutcome struct {
	res *UpResult
	err error
}

func (l *loop) done() <-chan upOutcome {
	if l.results == nil {
		return nil // no up running: never ready
	}
	return l.results
}

// changed starts an up, or cancels a stale build, or queues one after a deploy.
func (l *loop) changed(ctx context.Context) {
	if l.results == nil {
		l.start(ctx)
		return
	}
	l.pending = true
	l.mu.Lock()
	building := l.phase != PhaseDeploy
	l.mu.Unlock()
	if building {
		l.w.Up.say("a newer change came during the build: cancelling it")
		l.cancel()
	}
}

func (l *loop) start(ctx context.Context) {
	uctx, cancel := context.WithCancel(ctx)
	l.cancel, l.results, l.phase = cancel, make(chan upOutcome, 1), ""
	up := *l.w.Up
	up.Phase = func(p string) {
		l.mu.Lock()
		l.phase = p
		l.mu.Unlock()
	}
	go func() {
		res, err := up.Run(uctx)
		l.results <- upOutcome{res, err}
	}()
}

func (l *loop) finished(ctx context.Context, r upOutcome) {
	l.cancel()
	l.results = nil
	u := l.w.Up
	switch {
	case r.err != nil && errors.Is(r.err, context.Canceled) && ctx.Err() == nil:
		// A stale build, cancelled: the pending change starts the next.
	case r.err != nil:
		for _, line := range DiagnosisLines(r.err) {
			u.say("%s", line)
		}
		u.say("redeploy failed: %v; watching for the next change", r.err)
	default:
		l.w.report(r.res, nil)
	}
	if l.w.Redeployed != nil && r.err != nil && !errors.Is(r.err, context.Canceled) {
		l.w.Redeployed(r.res, r.err)
	}
	if l.pending && ctx.Err() == nil {
		l.pending = false
		l.start(ctx)
	}
}

func (l *loop) cancelAndWait() {
	if l.results != nil {
		l.cancel()
		<-l.results
	}
}

// DiagnosisLines are the lines that explain a failed rollout in err: the
// failed pod's last log lines and its events (none for other errors).
func DiagnosisLines(err error) []string {
	var re *deploy.RolloutError
	if !errors.As(err, &re) {
		return nil
	}
	g := re.Diagnosis
	var out []string
	if len(g.LogTail) > 0 {
		out = append(out, fmt.Sprintf("last log lines of %s/%s:", g.Pod, g.Container))
		for _, l := range g.LogTail {
			out = append(out, "  | "+l)
		}
	}
	if len(g.Events) > 0 {
		who := g.Pod
		if who == "" {
			who = g.Workload
		}
		out = append(out, "events of "+who+":")
		for _, e := range g.Events {
			out = append(out, "  "+e)
		}
	}
	return out
}

func summarize(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}

// UpSettings reads draft.toml's watch and auto-connect for the environment
// (false when there is no draft.toml: up itself will say so).
func UpSettings(dir, environment string) (watch, autoConnect bool) {
	d, err := appDir(dir)
	if err != nil {
		return false, false
	}
	_, env, err := loadEnvironment(d, environment)
	if err != nil {
		return false, false
	}
	return env.Watch, env.AutoConnect
}
