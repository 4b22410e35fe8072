package action

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/detect"
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
	// Live turns live update on: the ups deploy the image with draft's
	// agent, and a change of source files only is synced into the running
	// pods (draft.toml's live-update = false turns it off again).
	Live bool
	// KeepLive leaves the image with the agent deployed when the watch
	// ends; by default the exact image of the tree is deployed then.
	KeepLive bool

	run func(ctx context.Context, u *Up) (*UpResult, error) // (*Up).Run; tests fake it
}

func (w *Watch) runUp(ctx context.Context, u *Up) (*UpResult, error) {
	if w.run != nil {
		return w.run(ctx, u)
	}
	return u.Run(ctx)
}

// earlyAfter is the pause in a burst after which an up starts building,
// while the rest of the quiet period runs (editors save within 20 ms).
const earlyAfter = 50 * time.Millisecond

// Run watches until ctx is done; it returns nil then.
func (w *Watch) Run(ctx context.Context) error {
	u := w.Up
	a, err := u.load()
	if err != nil {
		return err
	}
	// Watch before the first up, so that a change made during it is not missed.
	watcher, delay, err := w.newWatcher(a.dir, a.env)
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(wctx) }()

	lv, err := w.startLive(ctx)
	if err != nil {
		return err
	}
	if lv != nil {
		defer lv.close()
		lv.started()
	}
	first, err := w.runUp(ctx, u)
	if err != nil {
		return err
	}
	if lv != nil {
		lv.deployed()
		defer w.finalUp(lv)
	}
	w.report(first, nil)
	var bg sync.WaitGroup
	defer func() {
		stop() // ends Connected, also when the watch itself failed
		bg.Wait()
	}()
	if w.Connected != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := w.Connected(wctx); err != nil && wctx.Err() == nil {
				u.say("connect stopped: %v", err)
			}
		}()
	}
	u.say("watching %s for changes (%d folders, %s of quiet before a redeploy); Ctrl-C to stop", a.dir, watcher.Watches(), delay)
	l := &loop{w: w, live: lv}
	defer l.cancelAndWait()
	return l.run(ctx, watcher, watchErr)
}

// newWatcher watches the app's folder, with its chart, Dockerfile and
// values files whatever the ignore files say, and the quiet period.
func (w *Watch) newWatcher(dir string, env *config.Environment) (*watch.Watcher, time.Duration, error) {
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
	opts := []watch.Option{watch.WithDelay(delay), watch.WithEarly(earlyAfter), watch.WithInclude(include...), watch.WithLog(w.Up.UI.Writer())}
	watcher, err := watch.New(dir, opts...)
	return watcher, delay, err
}

// run takes the watcher's notices and the ups' ends until ctx ends or the
// watch does.
func (l *loop) run(ctx context.Context, watcher *watch.Watcher, watchErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return l.interrupted()
		case err := <-watchErr:
			if ctx.Err() != nil {
				return l.interrupted()
			}
			if err == nil {
				err = errors.New("the watch ended")
			}
			return err
		case b := <-watcher.Early():
			l.early(ctx, b)
		case b, ok := <-watcher.Batches():
			if !ok {
				continue // watchErr tells why
			}
			l.batch(ctx, b)
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
	if res.NotWaited {
		return fmt.Sprintf("%s is deployed: revision %d in namespace %s, in %s (build %s, push %s, deploy %s); its pods were not waited for (wait = false in draft.toml)", res.Release, res.Revision, res.Namespace,
			r(res.Total), r(res.Build), r(res.Push), r(res.Deploy))
	}
	return fmt.Sprintf("%s is ready: revision %d in namespace %s, in %s (build %s, push %s, deploy %s)", res.Release, res.Revision, res.Namespace,
		r(res.Total), r(res.Build), r(res.Push), r(res.Deploy))
}

// loop runs one up at a time and remembers which is due next. An up starts
// early, when a burst of changes pauses (watch.WithEarly), and builds while
// the rest of the quiet period runs; it deploys only once the burst's batch
// has come (its gate opens), so that a burst is still one redeploy. A change
// during its build makes it stale: it is cancelled, without a word while its
// gate is shut, and another starts. A failure before its gate opens is told
// when the batch comes, not at all when more changes come first.
type loop struct {
	w       *Watch
	mu      sync.Mutex
	phase   string
	cancel  context.CancelFunc
	results chan upOutcome
	gate    chan struct{} // closed when the running up may deploy
	open    bool          // the gate is open
	stale   bool          // the running up was cancelled
	next    int           // what to start once the running up has ended
	held    *upOutcome    // an early up's failure, told when its batch comes
	shown   bool          // this burst's changes were shown
	// basis is the At of the Early the running up started on (zero when a
	// batch started it): its batch opens the gate only if nothing changed
	// after it. nextBasis is the same for the up next starts.
	basis, nextBasis time.Time
	live             *liveUpdate // nil: every change rebuilds
	due              []string    // the paths changed since the running up started
	// batched is the At of the last batch received: an Early of a burst
	// whose batch came first (a select picks at random among the channels
	// ready) is old news.
	batched time.Time
	synced  time.Time // the At of the last Early that live update synced
}

// What loop.next starts.
const (
	startNothing = iota
	startEarly   // gate shut until the batch comes
	startNow     // gate open
)

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

func (l *loop) building() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase != PhaseDeploy
}

// early: a burst paused, having changed paths so far.
func (l *loop) early(ctx context.Context, b watch.Batch) {
	if len(b.Paths) == 0 || !b.At.After(l.batched) {
		return // nothing lasting yet, or its batch came already
	}
	if l.live != nil && l.results == nil {
		why := l.live.decide(b.Paths)
		if why == "" && len(b.Paths) > earlySyncMost {
			return // a mass change (a git checkout): synced once, when its batch comes
		}
		l.w.Up.say("changed: %s", summarize(b.Paths))
		l.shown, l.held = true, nil
		if why == "" { // a save: synced at once, again with its batch if more came
			if l.liveOrWhy(ctx, b.Paths) {
				l.synced = b.At
				return
			}
		} else {
			l.rebuilding(why)
		}
		l.start(ctx, false, b.At)
		return
	}
	l.w.Up.say("changed: %s", summarize(b.Paths))
	l.shown, l.held = true, nil
	switch {
	case l.results == nil:
		l.start(ctx, false, b.At)
	default:
		if !l.stale && l.building() {
			if l.open { // its change was over: say why it stops
				l.w.Up.say("a newer change came during the build: cancelling it")
			}
			l.stale = true
			l.cancel()
		}
		l.next, l.nextBasis = startEarly, b.At
	}
}

// batch: a burst is over (quiet for the whole delay).
func (l *loop) batch(ctx context.Context, b watch.Batch) {
	shown := l.shown
	l.shown, l.batched = false, b.At
	if len(b.Paths) == 0 { // what Early told of came to nothing
		if l.results != nil && !l.open && !l.stale {
			l.stale = true
			l.cancel()
		}
		if l.next == startEarly {
			l.next = startNothing
		}
		l.held = nil
		return
	}
	if l.live != nil && l.results == nil && b.At.Equal(l.synced) {
		return // synced at its pause, and nothing came since
	}
	if !shown {
		l.w.Up.say("changed: %s", summarize(b.Paths))
	}
	if l.results != nil {
		l.due = append(l.due, b.Paths...)
	} else if l.live != nil && l.held == nil {
		if l.liveOrWhy(ctx, b.Paths) {
			return
		}
	}
	if l.held != nil { // the early up failed on this very state
		r := *l.held
		l.held = nil
		l.report(r)
		return
	}
	switch {
	case l.results == nil:
		l.start(ctx, true, time.Time{})
	case !l.open && !l.stale && b.At.Equal(l.basis): // the early up builds this very state
		l.openGate()
	case !l.open && !l.stale: // it started before the burst's last change
		l.stale = true
		l.cancel()
		l.next = startNow
	case !l.stale && l.building():
		l.w.Up.say("a newer change came during the build: cancelling it")
		l.stale = true
		l.cancel()
		l.next = startNow
	default: // deploying, or ending: the next starts after it
		l.next = startNow
	}
}

func (l *loop) openGate() {
	if !l.open {
		close(l.gate)
		l.open = true
	}
}

func (l *loop) start(ctx context.Context, open bool, basis time.Time) {
	uctx, cancel := context.WithCancel(ctx)
	l.cancel, l.results, l.phase, l.stale = cancel, make(chan upOutcome, 1), "", false
	l.basis, l.due = basis, nil
	if l.live != nil {
		l.live.started()
	}
	l.gate, l.open = make(chan struct{}), false
	if open {
		l.openGate()
	}
	gate := l.gate
	up := *l.w.Up
	up.Phase = func(p string) {
		l.mu.Lock()
		l.phase = p
		l.mu.Unlock()
	}
	up.Gate = func(ctx context.Context) error {
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() {
		res, err := l.w.runUp(uctx, &up)
		l.results <- upOutcome{res, err}
	}()
}

func (l *loop) finished(ctx context.Context, r upOutcome) {
	l.cancel()
	l.results = nil
	switch {
	case l.stale || (r.err != nil && errors.Is(r.err, context.Canceled) && ctx.Err() == nil):
		// A stale build, cancelled: the next is due already.
	case r.err != nil && !l.open:
		l.held = &r
	default:
		l.report(r)
	}
	if r.err == nil && l.live != nil {
		l.live.deployed()
	}
	next, due := l.next, l.due
	l.next, l.due = startNothing, nil
	if next == startNow && r.err == nil && l.live != nil && ctx.Err() == nil && l.liveOrWhy(ctx, due) {
		return // what came during the up is synced instead
	}
	if ctx.Err() == nil && next != startNothing {
		l.start(ctx, next == startNow, l.nextBasis)
	}
}

// report tells of an up's outcome.
func (l *loop) report(r upOutcome) {
	if r.err != nil {
		l.failed(r, true)
		return
	}
	l.w.report(r.res, nil)
}

// failed tells of a failed up: its diagnosis, and (goingOn) that the loop
// watches on.
func (l *loop) failed(r upOutcome, goingOn bool) {
	u := l.w.Up
	for _, line := range DiagnosisLines(r.err) {
		u.say("%s", line)
	}
	if goingOn {
		u.say("redeploy failed: %v; watching for the next change", r.err)
	}
	if l.w.Redeployed != nil {
		l.w.Redeployed(r.res, r.err)
	}
}

// interrupted ends the loop once its context is done (Ctrl-C): with no
// redeploy under way, that is the way to stop and no error. A redeploy that
// it stopped is told as it ended (nothing deployed, or rolled back to the
// revision that served) and returned, so that the exit code says so; one
// that finished meanwhile is told as usual.
func (l *loop) interrupted() error {
	if l.results == nil {
		return nil
	}
	r := <-l.results // it runs under the same context: it is ending
	l.results = nil
	switch {
	case l.stale:
		return nil // dropped already for a newer change
	case r.err != nil:
		l.failed(r, false) // the error itself is the run's, told by the caller
		return r.err
	default:
		l.report(r)
		return nil
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

// liveOrWhy syncs the paths into the running pods when they can be (true),
// or says why they are rebuilt (false).
func (l *loop) liveOrWhy(ctx context.Context, paths []string) bool {
	ok, why := l.live.syncOrWhy(ctx, paths, l.w.Redeployed)
	if !ok {
		l.rebuilding(why)
	}
	return ok
}

// rebuilding says why a change is rebuilt, not synced.
func (l *loop) rebuilding(why string) { l.live.rebuilding(why) }

// earlySyncMost is the most paths a burst may have changed for live
// update to sync them as soon as it pauses (a save), not only once the
// quiet period is over (a git checkout: one sync).
const earlySyncMost = 20

// startLive sets up live update, when asked for and the app can take it,
// and says which.
func (w *Watch) startLive(ctx context.Context) (*liveUpdate, error) {
	if !w.Live {
		return nil, nil
	}
	lv, err := startLive(ctx, w.Up, "")
	if lv != nil {
		w.Up.live = lv
	}
	return lv, err
}

// startLive sets up the live update of the app u ups, and says whether it
// is on and what it does, each line after prefix; nil when it is off.
func startLive(ctx context.Context, u *Up, prefix string) (*liveUpdate, error) {
	lv, why, err := newLiveUpdate(ctx, u)
	if err != nil || lv == nil {
		if why != "" {
			u.say("%slive update is off: %s; every change rebuilds", prefix, why)
		}
		return nil, err
	}
	lv.prefix = prefix
	switch {
	case lv.plan.Kind == build.KindGo:
		lv.say("live update is on: a change is compiled here, and the new binary replaces the running one in the pods; a change of go.mod, the Dockerfile, the chart or draft.toml rebuilds")
	case lv.reload != "":
		lv.say("live update is on: a change of source files is synced into the running pods (no restart: %s); any other change rebuilds", lv.reload)
	default:
		lv.say("live update is on: a change of source files is synced into the running pods, and the app restarted; any other change rebuilds")
	}
	return lv, nil
}

// finalUp deploys the exact image of the tree, without draft's agent, when
// the watch ends, so that helm and kubectl tell the truth and the next up
// finds nothing changed; KeepLive skips it.
func (w *Watch) finalUp(lv *liveUpdate) {
	u := *w.Up
	u.live, u.Gate, u.Phase = nil, nil, nil
	w.Up.live = nil
	if w.KeepLive {
		u.say("watch mode ended: the image with draft's agent stays deployed (--keep-live); draft up deploys the exact image")
		return
	}
	lv.close()
	u.say("watch mode ended: deploying the exact image of the tree, without draft's agent, as draft up would")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := w.runUp(ctx, &u)
	if err != nil {
		u.say("the final deploy failed: %v; run draft up", err)
		return
	}
	u.say("%s", UpSummary(res))
}

func summarize(paths []string) string { return detect.ListWords(paths, 3) }
