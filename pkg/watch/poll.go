package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// pollEvery is how often the folders that a system limit kept from being
// watched are looked at again.
const pollEvery = time.Second

// stamp is what a poll compares of a path.
type stamp struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

// polled is a subtree that could not be watched (a system limit was hit
// while watching it): its paths as last seen.
type polled map[string]stamp

// limitHit books that a scan of the subtree rel stopped at a system limit:
// the subtree is looked at every pollEvery until its watches can be added
// (the limit was raised, or other watches went). The limit is told once,
// not for every directory that meets it.
//
// report, when set, is told of every path of the subtree (it appeared while
// watching: what is in it is new, as scan reports for a new directory).
func (w *Watcher) limitHit(rel string, le *LimitError, report func(string)) {
	if _, ok := w.polls[rel]; ok {
		return
	}
	for p := range w.polls {
		if p == "." || strings.HasPrefix(rel, p+"/") {
			return // polled already, as part of a bigger subtree
		}
	}
	for p := range w.polls {
		if rel == "." || strings.HasPrefix(p, rel+"/") {
			delete(w.polls, p) // the new subtree holds it
		}
	}
	w.polls[rel] = w.snapshot(rel)
	if report != nil {
		for p := range w.polls[rel] {
			report(p)
		}
	}
	if !w.limitTold {
		w.limitTold = true
		w.logf("%v; until then, folders it cannot watch (%s first) are looked at every %s", le, w.abs(rel), pollEvery)
	}
}

// poll looks at every polled subtree: what changed since the last look is
// recorded in pending, as an event would be. A subtree whose watches can all
// be added now is watched from then on (after one last look).
func (w *Watcher) poll(ctx context.Context, pending map[string]bool) bool {
	changed := false
	for _, rel := range slices.Sorted(maps.Keys(w.polls)) {
		before := w.polls[rel]
		if _, err := os.Lstat(w.abs(rel)); errors.Is(err, fs.ErrNotExist) {
			delete(w.polls, rel) // gone: its parent's watch told of it
			continue
		}
		err := w.scan(ctx, rel, nil, nil)
		now := w.snapshot(rel)
		for p, s := range now {
			if old, ok := before[p]; !ok || old != s {
				if _, seen := pending[p]; !seen {
					pending[p] = !ok
				}
				changed = true
			}
		}
		for p := range before {
			if _, ok := now[p]; !ok {
				if _, seen := pending[p]; !seen {
					pending[p] = false
				}
				changed = true
			}
		}
		var le *LimitError
		if errors.As(err, &le) {
			w.polls[rel] = now
			continue
		}
		delete(w.polls, rel)
		if err != nil && ctx.Err() == nil {
			w.logf("%v", err)
		}
	}
	if len(w.polls) == 0 && w.limitTold {
		w.limitTold = false
		w.logf("every folder under %s is watched again", w.root)
	}
	return changed
}

// snapshot reads the stamps of the paths of the subtree rel that the rules
// let in (rel itself included).
func (w *Watcher) snapshot(rel string) polled {
	s := polled{}
	base := w.abs(rel)
	_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile, or unreadable: not there
		}
		r := rel
		if p != base {
			sub, _ := filepath.Rel(base, p)
			r = filepath.ToSlash(sub)
			if rel != "." {
				r = rel + "/" + r
			}
		}
		if d.IsDir() && r != "." && w.rules.skipDir(r) {
			return filepath.SkipDir
		}
		if r == "." || w.rules.ignored(r, d.IsDir()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st := stamp{mode: fi.Mode()}
		if !fi.IsDir() {
			st.size, st.mtime = fi.Size(), fi.ModTime()
		}
		s[r] = st
		return nil
	})
	return s
}

// rootGone says why the root can no longer be watched: it was removed, or
// another directory took its place. A root removed while a process still
// has it open (its working directory: rm -rf . in a shell) sends no event
// until that process lets go, hence a look at each batch.
func (w *Watcher) rootGone() error {
	fi, err := os.Stat(w.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s was removed or moved away: there is nothing left to watch", w.root)
	case err == nil && w.rootInfo != nil && !os.SameFile(fi, w.rootInfo):
		return fmt.Errorf("%s was replaced by another folder: start again in the new one", w.root)
	}
	return nil
}
