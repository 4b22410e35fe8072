package action

import (
	"cmp"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/detect"
	"github.com/draftk8s/draft/pkg/watch"
)

// ProjectWatch keeps a project deployed as it changes: one watcher on the
// root, an up of the whole project first, then, after every batch of
// changes, an up of the apps whose folders hold a changed file (and what
// they need, which is unchanged and costs a check). A change of the root's
// draft.toml or of a service's chart ups everything. With Live, a change
// that an app's live update can take is synced into its pods instead (as
// soon as a save pauses), and only the others are upped. A failed redeploy
// is said and the loop goes on (the previous versions keep serving); only a
// failed first up ends it. Unlike an app's watch mode it neither starts
// building during the quiet period nor cancels a stale build: a batch that
// comes during an up is upped after it.
type ProjectWatch struct {
	Up    ProjectUp
	Delay time.Duration // quiet period after a change (0: watch.DefaultDelay)
	// Redeployed, when set, is told of each up's outcome (the first too),
	// and of a live update's change that was told and not upped (a
	// compile error: res nil).
	Redeployed func(res *ProjectResult, err error)
	// Connected, when set, starts after the first up and runs until the
	// loop ends (every app's ports and logs).
	Connected func(ctx context.Context) error
	// Live and KeepLive are those of Watch, for every app of the project
	// that can take live update.
	Live, KeepLive bool
}

// Run watches until ctx ends; it returns nil then.
func (w *ProjectWatch) Run(ctx context.Context) error {
	a, _, err := w.Up.Up.openProject(ctx, false)
	if err != nil {
		return err
	}
	delay := cmp.Or(w.Delay, time.Duration(a.env.WatchDelay*float64(time.Second)), watch.DefaultDelay)
	ui := w.Up.Up.UI
	w.Up.lives = nil
	if w.Live {
		if w.Up.lives, err = w.startLives(ctx, a); err != nil {
			return err
		}
		defer w.closeLives()
	}
	opts := []watch.Option{watch.WithDelay(delay), watch.WithLog(ui.Writer())}
	if len(w.Up.lives) > 0 {
		opts = append(opts, watch.WithEarly(earlyAfter))
	}
	watcher, err := watch.New(a.dir, opts...)
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(wctx) }()

	res, err := w.Up.Run(ctx)
	w.told(res, nil)
	if err != nil {
		return err
	}
	if len(w.Up.lives) > 0 {
		defer w.finalUp()
	}
	if w.Connected != nil {
		done := make(chan struct{})
		defer func() { stop(); <-done }()
		go func() {
			defer close(done)
			if err := w.Connected(wctx); err != nil && wctx.Err() == nil {
				ui.Printf("connect stopped: %v", err)
			}
		}()
	}
	ui.Printf("watching %s for changes (%d folders, %s of quiet before a redeploy); Ctrl-C to stop", a.dir, watcher.Watches(), delay)
	return w.loop(ctx, a.cfg, watcher, watchErr)
}

// loop takes the watcher's notices until ctx ends or the watch does: a
// save synced as it pauses, a batch redeployed once it is over.
func (w *ProjectWatch) loop(ctx context.Context, cfg *config.Config, watcher *watch.Watcher, watchErr <-chan error) error {
	var batched, synced time.Time // the At of the last batch, and of the last Early synced
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return cmp.Or(err, errors.New("the watch ended"))
		case b := <-watcher.Early():
			if b.At.After(batched) && len(b.Paths) <= earlySyncMost && w.early(ctx, cfg, b.Paths) {
				synced = b.At
			}
		case b, ok := <-watcher.Batches():
			if !ok {
				continue // watchErr tells why
			}
			batched = b.At
			if len(b.Paths) == 0 || b.At.Equal(synced) {
				continue // came to nothing, or synced at its pause with nothing since
			}
			w.changed(ctx, cfg, b.Paths)
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// changed redeploys the apps a batch of changes touched: syncs into their
// pods what their live updates take, ups the others.
func (w *ProjectWatch) changed(ctx context.Context, cfg *config.Config, paths []string) {
	ui := w.Up.Up.UI
	apps := appsOfChange(cfg, paths)
	if len(apps) == 0 {
		ui.Printf("changed %s: in no app's folder, nothing to redeploy", detect.ListWords(paths, 3))
		return
	}
	if len(w.Up.lives) == 0 {
		ui.Printf("changed %s: redeploying %s", detect.ListWords(paths, 3), strings.Join(apps, ", "))
		w.upOnly(ctx, apps)
		return
	}
	ui.Printf("changed: %s", summarize(paths))
	var rebuild []string
	for _, c := range w.plan(cfg, paths) {
		lv := w.Up.lives[c.app]
		ok, why := false, c.why
		if why == "" {
			ok, why = lv.syncOrWhy(ctx, c.paths, w.failed)
		}
		if !ok {
			if lv != nil {
				lv.rebuilding(why)
			}
			rebuild = append(rebuild, c.app)
		}
	}
	if len(rebuild) > 0 && ctx.Err() == nil {
		ui.Printf("redeploying %s", strings.Join(rebuild, ", "))
		w.upOnly(ctx, rebuild)
	}
}

// appChange is what a change is to one app of a project: the paths below
// its folder (relative to it) and why it is rebuilt ("" when its live
// update syncs it).
type appChange struct {
	app, why string
	paths    []string
}

// plan is what a change is to each app it touched, in name order: synced
// when the app's live update takes it, else rebuilt, and why.
func (w *ProjectWatch) plan(cfg *config.Config, paths []string) []appChange {
	wide := projectWide(paths)
	var out []appChange
	for _, n := range appsOfChange(cfg, paths) {
		c := appChange{app: n, paths: appPaths(cfg.Apps[n].Path, paths), why: wide}
		switch lv := w.Up.lives[n]; {
		case c.why != "":
		case lv == nil:
			c.why = "live update is off"
		default:
			c.why = lv.decide(c.paths)
		}
		out = append(out, c)
	}
	return out
}

// early syncs a save as soon as it pauses, when every app it touched can
// take it by live update (true); else its batch is waited for.
func (w *ProjectWatch) early(ctx context.Context, cfg *config.Config, paths []string) bool {
	plan := w.plan(cfg, paths)
	if len(plan) == 0 {
		return false
	}
	for _, c := range plan {
		if c.why != "" {
			return false
		}
	}
	w.changed(ctx, cfg, paths)
	return true
}

// upOnly ups these apps (and what they need) and tells how it went.
func (w *ProjectWatch) upOnly(ctx context.Context, apps []string) {
	up := w.Up
	up.Only = apps
	res, err := up.Run(ctx)
	if ctx.Err() == nil {
		w.told(res, err)
	}
}

func (w *ProjectWatch) failed(_ *UpResult, err error) {
	if w.Redeployed != nil {
		w.Redeployed(nil, err)
	}
}

// startLives sets up the live update of each app the watch ups, and says
// for each whether it is on.
func (w *ProjectWatch) startLives(ctx context.Context, a *app) (map[string]*liveUpdate, error) {
	names, err := a.cfg.Order()
	if len(w.Up.Only) > 0 {
		names, err = a.cfg.Closure(w.Up.Only...)
	}
	if err != nil {
		return nil, err
	}
	lives := map[string]*liveUpdate{}
	for _, n := range names {
		app := a.cfg.Apps[n]
		if app == nil {
			continue // a service: its image is the database's own
		}
		u := w.Up.Up // a copy, the app's: its folder and release
		u.Target.Dir = filepath.Join(a.dir, filepath.FromSlash(app.Path))
		u.Target.Release = n
		lv, err := startLive(ctx, &u, n+": ")
		if err != nil {
			w.closeLivesOf(lives)
			return nil, err
		}
		if lv != nil {
			lives[n] = lv
		}
	}
	return lives, nil
}

func (w *ProjectWatch) closeLives() { w.closeLivesOf(w.Up.lives) }

func (w *ProjectWatch) closeLivesOf(lives map[string]*liveUpdate) {
	for _, lv := range lives {
		lv.close()
	}
}

// finalUp deploys the exact images of the tree, without draft's agent,
// when the watch ends (see Watch.finalUp); KeepLive skips it.
func (w *ProjectWatch) finalUp() {
	say := w.Up.Up.say
	if w.KeepLive {
		say("watch mode ended: the images with draft's agent stay deployed (--keep-live); draft up deploys the exact images")
		return
	}
	w.closeLives()
	say("watch mode ended: deploying the exact images of the tree, without draft's agent, as draft up would")
	up := w.Up
	up.lives = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := up.Run(ctx)
	if res != nil {
		for _, line := range ProjectSummary(res) {
			say("%s", line)
		}
	}
	if err != nil {
		say("the final deploy failed: %v; run draft up", err)
	}
}

// told says an up's outcome, line by line.
func (w *ProjectWatch) told(res *ProjectResult, err error) {
	if res != nil {
		for _, line := range ProjectSummary(res) {
			w.Up.Up.say("%s", line)
		}
	}
	if err != nil {
		w.Up.Up.say("redeploy failed (the previous versions keep serving): %v", err)
	}
	if w.Redeployed != nil {
		w.Redeployed(res, err)
	}
}

// projectWide says why a change is every app's (the root's draft.toml, a
// service's chart, lost events): "" when it is not.
func projectWide(paths []string) string {
	for _, p := range paths {
		switch {
		case p == ".":
			return "the whole tree may have changed (file events were lost)"
		case p == config.FileName, strings.HasPrefix(p, "charts/"):
			return p + " changed (the project's)"
		}
	}
	return ""
}

// appPaths are the paths below an app's folder, relative to it.
func appPaths(dir string, paths []string) []string {
	dir = strings.TrimSuffix(dir, "/")
	var out []string
	for _, p := range paths {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			out = append(out, rel)
		} else if p == dir {
			out = append(out, ".")
		}
	}
	return out
}

// appsOfChange are the apps whose folders hold a changed path, in name
// order; every app for a change of the root's draft.toml, of a service's
// chart, or of everything (".": events were lost).
func appsOfChange(cfg *config.Config, paths []string) []string {
	all := slices.Sorted(func(yield func(string) bool) {
		for n := range cfg.Apps {
			if !yield(n) {
				return
			}
		}
	})
	var out []string
	for _, p := range paths {
		if p == "." || p == config.FileName || strings.HasPrefix(p, "charts/") {
			return all
		}
		for _, n := range all {
			dir := strings.TrimSuffix(cfg.Apps[n].Path, "/")
			if (p == dir || strings.HasPrefix(p, dir+"/")) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}
