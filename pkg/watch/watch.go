package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDelay is the quiet period after a change before its batch is sent.
//
// Classic Draft waited 2 s. Measured on the project's machine (go run
// ./bench/watch -gaps; 2 cores shared with other builds, load 1.7 to 4.8),
// the widest gap between two consecutive events of one save was 16 ms (vim's
// :w; write in place, write and rename over, delete and create, and
// JetBrains' safe write stayed under 6 ms), and of a git checkout of 1,000
// files 122 ms in 100 checkouts (median 5 ms, 90th percentile 28 ms). 200 ms
// covers them all and keeps the wait a small part of a redeploy; a burst that
// a longer stall splits in two costs one cancelled build, never a change.
const DefaultDelay = 200 * time.Millisecond

// Batch is what changed during one burst of changes.
type Batch struct {
	// Paths are the changed files and directories, slash-separated, relative to
	// the watched root, sorted, without duplicates. It is just ["."] when
	// the kernel dropped events (its queue overflowed): anything may have
	// changed.
	Paths []string
	// At is when the last change of the batch was seen.
	At time.Time
}

// Option configures a Watcher.
type Option func(*options)

type options struct {
	delay   time.Duration
	early   time.Duration
	ignore  []string
	include []string
	log     io.Writer
	// wrapAdd, when set, adds watches in place of the watcher's Add, which
	// it is given: tests inject the errors of system limits with it.
	wrapAdd func(dir string, add func(string) error) error
}

// WithDelay sets the quiet period after the last change before a batch is
// sent (DefaultDelay when not set; 0 sends each burst as soon as the events
// already queued are read).
func WithDelay(d time.Duration) Option {
	return func(o *options) { o.delay = max(d, 0) }
}

// WithEarly makes the Watcher tell, on Early, that a burst of changes has
// paused for d (less than the delay), with what it changed so far: the batch
// will most likely follow, and work that needs quiet files (a build) can
// start. When the burst then turns out to have changed nothing lasting (a
// file created and removed again), it ends with an empty Batch, so that such
// work is given up.
func WithEarly(d time.Duration) Option {
	return func(o *options) { o.early = max(d, 0) }
}

// WithIgnore leaves out more paths, in .dockerignore syntax, as if they were
// in .draftignore.
func WithIgnore(patterns ...string) Option {
	return func(o *options) { o.ignore = append(o.ignore, patterns...) }
}

// WithInclude watches paths (in .dockerignore syntax) even when .dockerignore
// leaves them out of the image, as it does draft's own files: Dockerfile,
// .dockerignore, .draftignore, draft.toml and charts always are (a custom
// Dockerfile, chart or values file is for WithInclude). .gitignore and
// .draftignore still apply to them.
func WithInclude(patterns ...string) Option {
	return func(o *options) { o.include = append(o.include, patterns...) }
}

// WithLog sets where warnings go: a directory that cannot be watched, events
// the kernel dropped. They are discarded when not set.
func WithLog(w io.Writer) Option {
	return func(o *options) {
		if w != nil {
			o.log = w
		}
	}
}

func withAddWatch(wrap func(dir string, add func(string) error) error) Option {
	return func(o *options) { o.wrapAdd = wrap }
}

// Watcher watches a directory tree. New sets up the watches; Run turns
// events into batches until its context is done.
type Watcher struct {
	root  string
	opts  options
	fsw   *fsnotify.Watcher
	add   func(dir string) error // fsw.Add, unless a test wraps it
	rules *rules
	// dirs are the watched directories, relative to root ("." is root), each
	// with how many of its subdirectories are watched.
	dirs    map[string]int32
	skipped map[string]struct{} // ignored directories met, to know them when they go
	watches atomic.Int64
	batches chan Batch
	early   chan Batch // nil without WithEarly
	ran     atomic.Bool
	closed  sync.Once
	// polls are the subtrees a system limit kept from being watched (see
	// limitHit); limitTold: the limit was told since all were last watched.
	polls     map[string]polled
	limitTold bool
	rootInfo  os.FileInfo // the root when New watched it
}

// New watches every directory under root that the rules do not leave out,
// and returns once they are all watched: a change made after New returns is
// in the first batch Run sends, even if Run starts later. A system limit on
// watches is a *LimitError that says how to raise it.
func New(root string, opts ...Option) (*Watcher, error) {
	o := options{delay: DefaultDelay, log: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("cannot watch %s: it is not a directory", root)
	}
	r, err := loadRules(abs, o.include, o.ignore)
	if err != nil {
		return nil, err
	}
	// The buffer lets the kernel's queue drain while a batch is handled.
	fsw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		if le := limitError(abs, err, 0); le != err {
			return nil, le
		}
		return nil, fmt.Errorf("watching %s: %w", root, err)
	}
	w := &Watcher{
		root:     abs,
		opts:     o,
		fsw:      fsw,
		rules:    r,
		dirs:     map[string]int32{},
		skipped:  map[string]struct{}{},
		batches:  make(chan Batch, 1),
		add:      fsw.Add,
		polls:    map[string]polled{},
		rootInfo: fi,
	}
	if o.wrapAdd != nil {
		w.add = func(dir string) error { return o.wrapAdd(dir, fsw.Add) }
	}
	if o.early > 0 && o.early < o.delay {
		w.early = make(chan Batch, 1)
	}
	if err := w.scan(context.Background(), ".", nil, nil); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

// Watches is the number of directories watched.
func (w *Watcher) Watches() int { return int(w.watches.Load()) }

// Batches delivers one Batch per burst of changes. A batch not yet received
// when the next is ready is merged into it, so nothing is lost however slow
// the receiver is. It is closed when Run returns.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Early tells that a burst has paused (see WithEarly); nil without it. A
// notice not yet received is replaced by the next.
func (w *Watcher) Early() <-chan Batch { return w.early }

// Close releases the watches. Run does it when it returns; call Close only
// when Run will not be called.
func (w *Watcher) Close() error {
	var err error
	w.closed.Do(func() { err = w.fsw.Close() })
	return err
}

// Run turns file system events into batches until ctx is done (it then
// returns nil) or the root itself goes away. Call it once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.ran.CompareAndSwap(false, true) {
		return errors.New("watch: Run was called twice")
	}
	defer close(w.batches)
	defer w.Close()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	early := time.NewTimer(time.Hour)
	early.Stop()
	defer early.Stop()
	var polling *time.Ticker // while some folders cannot be watched
	defer func() {
		if polling != nil {
			polling.Stop()
		}
	}()
	b := &burst{pending: map[string]bool{}}
	changed := func() {
		b.last = time.Now()
		timer.Reset(w.opts.delay)
		if w.early != nil {
			early.Reset(w.opts.early)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return nil
			}
			rel, ok := w.handle(ctx, ev, b.pending)
			if rel == "." {
				return fmt.Errorf("%s was removed or moved away: there is nothing left to watch", w.root)
			}
			if ok {
				b.reload = b.reload || rulesFile(rel)
				changed()
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return nil
			}
			if w.fsError(err, b) {
				changed()
			}
		case <-w.pollTicks(&polling):
			if w.poll(ctx, b.pending) {
				changed()
			}
		case <-early.C:
			if err := w.rootGone(); err != nil {
				return err
			}
			w.tellEarly(b)
		case <-timer.C:
			if err := w.rootGone(); err != nil {
				return err
			}
			w.endBurst(ctx, b)
		}
	}
}

// burst is what changed since the last batch.
type burst struct {
	pending map[string]bool // changed path -> it did not exist before the burst
	last    time.Time
	reload  bool // a rules file changed: walk the tree again once it is quiet
	told    bool // Early was told of this burst
}

// pollTicks is the polling ticker's channel while some folders cannot be
// watched (nil, which never sends, while all can); it starts and stops it.
func (w *Watcher) pollTicks(t **time.Ticker) <-chan time.Time {
	switch {
	case len(w.polls) > 0 && *t == nil:
		*t = time.NewTicker(pollEvery)
	case len(w.polls) == 0 && *t != nil:
		(*t).Stop()
		*t = nil
	}
	if *t == nil {
		return nil
	}
	return (*t).C
}

// fsError handles an error of the kernel's watch: a dropped queue of events
// makes the whole tree changed (true); another is logged.
func (w *Watcher) fsError(err error, b *burst) bool {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.logf("the kernel dropped file events under %s (its queue overflowed): looking at the whole tree again", w.root)
		b.pending["."] = false
		b.reload = true
		return true
	}
	w.logf("watching %s: %v", w.root, err)
	return false
}

// tellEarly tells Early what the burst changed so far, when it pauses; a
// batch not received yet is replaced by this one.
func (w *Watcher) tellEarly(b *burst) {
	sofar := maps.Clone(b.pending)
	w.dropTransient(sofar)
	e := Batch{Paths: sortedKeys(sofar), At: b.last}
	if _, anything := sofar["."]; anything {
		e.Paths = []string{"."}
	}
	for {
		select {
		case w.early <- e:
			b.told = true
			return
		default:
		}
		select {
		case <-w.early: // not received: this one replaces it
		default:
		}
	}
}

// endBurst sends the burst's batch once the quiet period has passed (an
// empty one when Early was told of changes that came to nothing), and walks
// the tree again if a rules file changed.
func (w *Watcher) endBurst(ctx context.Context, b *burst) {
	w.dropTransient(b.pending)
	if _, anything := b.pending["."]; anything {
		w.send(Batch{Paths: []string{"."}, At: b.last})
	} else if len(b.pending) > 0 {
		w.send(Batch{Paths: sortedKeys(b.pending), At: b.last})
	} else if b.told {
		w.send(Batch{At: b.last}) // what Early announced came to nothing
	}
	b.told = false
	clear(b.pending)
	if b.reload {
		b.reload = false
		w.resync(ctx)
	}
}

// handle records what ev changed in pending. It returns the changed path,
// relative to the root, and whether it counts.
func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event, pending map[string]bool) (string, bool) {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return "", false // a chmod or a touch changes no content
	}
	rel, ok := w.rel(ev.Name)
	if !ok {
		return "", false
	}
	if rel == "." {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return rel, false
		}
		return "", false
	}
	if _, seen := pending[rel]; seen && ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) == 0 {
		return rel, true // another write to a file already judged
	}
	_, watched := w.dirs[rel]
	_, skipped := w.skipped[rel]
	isDir := watched || skipped
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// Gone, or moved away (its new name, if in the tree, comes as a Create).
		w.forget(rel)
		delete(w.skipped, rel)
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			isDir = true
			skipped = w.rules.skipDir(rel)
			if skipped {
				w.skipped[rel] = struct{}{}
			} else {
				// Files may have been written in it before its watch was added.
				report := func(p string) {
					if _, ok := pending[p]; !ok {
						pending[p] = true
					}
				}
				if err := w.scan(ctx, rel, report, nil); err != nil {
					w.scanFailed(rel, err, report)
				}
			}
		}
	}
	if skipped || w.rules.ignored(rel, isDir) {
		return rel, false
	}
	if _, ok := pending[rel]; !ok {
		pending[rel] = ev.Has(fsnotify.Create)
	}
	return rel, true
}

// dropTransient leaves out of a batch the paths that were created during it
// and are gone already: a temporary file the batch began and ended without
// (an editor's or a tool's, under a name no rule knows) changes nothing.
func (w *Watcher) dropTransient(pending map[string]bool) {
	for p, created := range pending {
		if !created {
			continue
		}
		if _, err := os.Lstat(w.abs(p)); errors.Is(err, fs.ErrNotExist) {
			delete(pending, p)
		}
	}
}

// rel is name relative to the root, slash-separated.
func (w *Watcher) rel(name string) (string, bool) {
	if name == w.root {
		return ".", true
	}
	rel, ok := strings.CutPrefix(name, w.root+string(filepath.Separator))
	if !ok || rel == "" {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func (w *Watcher) abs(rel string) string {
	if rel == "." {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// watched books the watch of the directory rel.
func (w *Watcher) watched(rel string) {
	if _, ok := w.dirs[rel]; ok {
		return
	}
	w.dirs[rel] = 0
	w.watches.Add(1)
	if rel != "." {
		if n, ok := w.dirs[path.Dir(rel)]; ok {
			w.dirs[path.Dir(rel)] = n + 1
		}
	}
}

// unwatch drops the watch of the directory rel.
func (w *Watcher) unwatch(rel string) {
	// The kernel drops the watch of a deleted directory itself: an error
	// here only says it did.
	_ = w.fsw.Remove(w.abs(rel))
	delete(w.dirs, rel)
	w.watches.Add(-1)
	if rel != "." {
		if n, ok := w.dirs[path.Dir(rel)]; ok {
			w.dirs[path.Dir(rel)] = n - 1
		}
	}
}

// forget drops the watches of the directory rel and of those below it. A
// tree removed (rm -rf) goes deepest first, each directory without watched
// subdirectories by then: only a moved tree costs a look at every watch.
func (w *Watcher) forget(rel string) {
	n, ok := w.dirs[rel]
	if !ok {
		return
	}
	prefix := rel + "/"
	if n > 0 {
		for d := range w.dirs {
			if strings.HasPrefix(d, prefix) {
				w.unwatch(d)
			}
		}
	}
	w.unwatch(rel)
	for d := range w.skipped {
		if strings.HasPrefix(d, prefix) {
			delete(w.skipped, d)
		}
	}
}

// resync reads the rules again and walks the whole tree: directories the
// rules now let in (or that appeared unseen) get watches; those they now
// leave out (or that went unseen) lose theirs.
func (w *Watcher) resync(ctx context.Context) {
	r, err := loadRules(w.root, w.opts.include, w.opts.ignore)
	if err != nil {
		w.logf("%v: keeping the rules read before", err)
	} else {
		w.rules = r
	}
	clear(w.skipped)
	seen := map[string]struct{}{}
	if err := w.scan(ctx, ".", nil, seen); err != nil {
		w.scanFailed(".", err, nil)
		return
	}
	for d := range w.dirs {
		if _, ok := seen[d]; !ok {
			w.unwatch(d)
		}
	}
}

// send hands b to the receiver without ever blocking: a batch still waiting
// in the channel is taken back and merged into b.
func (w *Watcher) send(b Batch) {
	for {
		select {
		case w.batches <- b:
			return
		default:
		}
		select {
		case old := <-w.batches:
			b = Batch{Paths: mergePaths(old.Paths, b.Paths), At: b.At}
		default:
		}
	}
}

// scanFailed tells why the subtree rel could not be watched; one that met a
// system limit is polled (limitHit, which report is for).
func (w *Watcher) scanFailed(rel string, err error, report func(string)) {
	var le *LimitError
	switch {
	case errors.As(err, &le):
		w.limitHit(rel, le, report)
	case errors.Is(err, context.Canceled):
	default:
		w.logf("%v", err)
	}
}

func (w *Watcher) logf(format string, args ...any) {
	fmt.Fprintf(w.opts.log, format+"\n", args...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mergePaths(a, b []string) []string {
	if slices.Contains(a, ".") || slices.Contains(b, ".") {
		return []string{"."}
	}
	return slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a), b...))))
}
