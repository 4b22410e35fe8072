package action

import (
	"cmp"
	"context"
	"errors"
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
// draft.toml or of a service's chart ups everything. A failed redeploy is
// said and the loop goes on (the previous versions keep serving); only a
// failed first up ends it. Unlike an app's watch mode it neither starts
// building during the quiet period nor cancels a stale build: a batch that
// comes during an up is upped after it.
type ProjectWatch struct {
	Up    ProjectUp
	Delay time.Duration // quiet period after a change (0: watch.DefaultDelay)
	// Redeployed, when set, is told of each up's outcome (the first too).
	Redeployed func(res *ProjectResult, err error)
	// Connected, when set, starts after the first up and runs until the
	// loop ends (every app's ports and logs).
	Connected func(ctx context.Context) error
}

// Run watches until ctx ends; it returns nil then.
func (w *ProjectWatch) Run(ctx context.Context) error {
	a, _, err := w.Up.Up.openProject(ctx, false)
	if err != nil {
		return err
	}
	delay := cmp.Or(w.Delay, time.Duration(a.env.WatchDelay*float64(time.Second)), watch.DefaultDelay)
	ui := w.Up.Up.UI
	watcher, err := watch.New(a.dir, watch.WithDelay(delay), watch.WithLog(ui.Writer()))
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
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return cmp.Or(err, errors.New("the watch ended"))
		case b, ok := <-watcher.Batches():
			if !ok {
				continue // watchErr tells why
			}
			apps := appsOfChange(a.cfg, b.Paths)
			if len(apps) == 0 {
				ui.Printf("changed %s: in no app's folder, nothing to redeploy", detect.ListWords(b.Paths, 3))
				continue
			}
			ui.Printf("changed %s: redeploying %s", detect.ListWords(b.Paths, 3), strings.Join(apps, ", "))
			up := w.Up
			up.Only = apps
			res, err := up.Run(ctx)
			if ctx.Err() != nil {
				return nil
			}
			w.told(res, err)
		}
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
