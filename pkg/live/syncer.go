package live

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/draftk8s/draft/pkg/kube"
)

// Spec is what a Syncer syncs, and how the app takes it.
type Spec struct {
	Dir     string // the local folder the synced paths are relative to (the build context)
	Restart bool   // the app is restarted to take the files (else it reads them itself)
	// Source, when set, is the local file of a synced path (a binary
	// compiled here); else the path under Dir.
	Source func(path string) string
}

func (s Spec) source(p string) string {
	if s.Source != nil {
		return s.Source(p)
	}
	return filepath.Join(s.Dir, filepath.FromSlash(p))
}

// Report is what one Apply did, over every pod.
type Report struct {
	Compiled time.Duration // compiling the binary here, when one was (set by the caller)
	Same     bool          // the binary compiled is the one the pods run: nothing was synced

	Files, Deleted int           // of the change
	Pods           int           // brought to it
	Took           time.Duration // from Apply until every pod had it
	Restart        time.Duration // the longest restart of the app (0: none)
	Ready          time.Duration // the longest wait for its port after it
}

func (r Report) String() string {
	if r.Same {
		return fmt.Sprintf("compiled in %s: the binary is the one the pods run, nothing to sync", r.Compiled.Round(time.Millisecond))
	}
	what := fmt.Sprintf("%d file%s", r.Files, plural(r.Files))
	if r.Deleted > 0 {
		what += fmt.Sprintf(" and %d deletion%s", r.Deleted, plural(r.Deleted))
	}
	s := fmt.Sprintf("synced %s to %d pod%s in %s", what, r.Pods, plural(r.Pods), r.Took.Round(time.Millisecond))
	if r.Compiled > 0 {
		s = fmt.Sprintf("compiled in %s, %s", r.Compiled.Round(time.Millisecond), s)
	}
	if r.Restart > 0 {
		s += fmt.Sprintf(", app restarted in %s", (r.Restart + r.Ready).Round(time.Millisecond))
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Syncer keeps the agents of a release's pods at the newest state: every
// path changed since the image (the overlay), to each pod once, and the
// whole overlay to a pod that is new or whose container started again
// (its agent's boot id changed), which it gets before its app starts.
type Syncer struct {
	spec Spec
	dial Dialer
	pods *kube.PodWatch
	say  func(string)

	mu      sync.Mutex
	gen     int64
	overlay map[string]int64 // path -> the generation of its last change
	images  map[string]bool  // digests of the live images deployed
	workers map[types.UID]*worker
	changed chan struct{} // closed and replaced when a worker's state changes
	// restarts are the last restart of each pod's app (by pod name) that
	// a sync asked for: its end is zero while it goes on.
	restarts map[string]restart
}

type restart struct{ start, end time.Time }

// worker brings one pod to the newest generation.
type worker struct {
	uid      types.UID // the pod's, as name: never change
	name     string
	pod      *corev1.Pod // its newest state (under the Syncer's lock)
	kick     chan struct{}
	stop     context.CancelFunc
	boot     string // its agent's, "" until it answered
	gen      int64  // what it has
	restarts int32  // the container's restart count last seen
	err      error  // the last attempt's failure, nil once it succeeded
	failedAt int64  // the generation err is for
	last     reply  // the reply that brought it to gen
	// putBack are paths the pod's agent put back to what they were (the
	// app stopped with them): they go again with the next generation.
	putBack map[string]bool
}

// PutBackError is a change on which the app stopped: its pods' agents put
// the files back, and the app runs on them as before.
type PutBackError struct {
	Pods   []string
	Reason string // the agent's words
}

func (e *PutBackError) Error() string {
	return fmt.Sprintf("pod %s: %s", strings.Join(e.Pods, ", "), e.Reason)
}

// NewSyncer makes a Syncer of the pods that pods watches; say receives
// what it has to tell (a pod it cannot reach).
func NewSyncer(spec Spec, dial Dialer, pods *kube.PodWatch, say func(string)) *Syncer {
	if say == nil {
		say = func(string) {}
	}
	return &Syncer{spec: spec, dial: dial, pods: pods, say: say, overlay: map[string]int64{}, images: map[string]bool{},
		workers: map[types.UID]*worker{}, changed: make(chan struct{}), restarts: map[string]restart{}}
}

// RestartedSince reports whether a sync restarted the app of the pod (by
// name) after t, or is restarting it now: connect then sends a safe request
// that the app closed unanswered again, once the app listens again.
func (s *Syncer) RestartedSince(pod string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.restarts[pod]
	return ok && (r.end.IsZero() || r.end.After(t))
}

// Track adds an image digest that runs draft's agent: its pods are synced.
func (s *Syncer) Track(digest string) {
	s.mu.Lock()
	s.images[digest] = true
	s.mu.Unlock()
	s.pods.Notify()
}

// Mark is the newest generation: what an image built from the tree now
// holds, for Rebase once it is deployed.
func (s *Syncer) Mark() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Rebase drops the paths changed at or before generation g from the
// overlay: a new image holds them.
func (s *Syncer) Rebase(g int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.overlay, func(_ string, pg int64) bool { return pg <= g })
}

// Pending is the number of paths of the overlay (synced, not in the image).
func (s *Syncer) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.overlay)
}

// Run follows the pods until ctx ends: a worker per running pod of a live
// image.
func (s *Syncer) Run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		for uid, w := range s.workers {
			w.stop()
			delete(s.workers, uid)
		}
		s.mu.Unlock()
	}()
	for {
		all, changed := s.pods.Pods()
		s.follow(ctx, all)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// live is the digest of the live image the pod runs, "" for none.
func (s *Syncer) live(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if _, digest, ok := strings.Cut(c.Image, "@"); ok && s.images[digest] {
			return true
		}
	}
	return false
}

func (s *Syncer) follow(ctx context.Context, all []*corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[types.UID]bool{}
	for _, p := range all {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !s.live(p) {
			continue
		}
		seen[p.UID] = true
		restarts := restartCount(p)
		w := s.workers[p.UID]
		if w == nil {
			wctx, stop := context.WithCancel(ctx)
			w = &worker{uid: p.UID, name: p.Name, pod: p, kick: make(chan struct{}, 1), stop: stop, restarts: restarts}
			s.workers[p.UID] = w
			go s.work(wctx, w)
			w.poke()
			continue
		}
		w.pod = p
		if restarts != w.restarts { // its container started again: its agent has the image's files
			w.restarts, w.boot, w.gen = restarts, "", 0
			w.poke()
		}
	}
	for uid, w := range s.workers {
		if !seen[uid] {
			w.stop()
			delete(s.workers, uid)
			s.dial.Forget(uid)
			s.broadcast()
		}
	}
}

func restartCount(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func (w *worker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (s *Syncer) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// work brings its pod to the newest generation whenever poked; a pod that
// cannot be reached yet (its agent not listening) is tried again, ever
// more slowly, until it is gone.
func (s *Syncer) work(ctx context.Context, w *worker) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		for attempt := 1; ctx.Err() == nil; attempt++ {
			err := s.catchUp(ctx, w)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if attempt == 20 {
				s.say(fmt.Sprintf("live update: pod %s: %v", w.name, err))
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(time.Duration(attempt)*25*time.Millisecond, time.Second)):
			}
		}
	}
}

// catchUp sends the pod what it lacks, until it has the newest generation.
func (s *Syncer) catchUp(ctx context.Context, w *worker) error {
	for {
		s.mu.Lock()
		target, pod, boot, gen := s.gen, w.pod, w.boot, w.gen
		var paths []string
		for p, g := range s.overlay {
			if g > w.gen || boot == "" || w.putBack[p] {
				paths = append(paths, p)
			}
		}
		s.mu.Unlock()
		if boot != "" && gen >= target {
			return nil
		}
		slices.Sort(paths)
		rep, err := s.send(ctx, pod, paths, target, boot == "")
		s.mu.Lock()
		switch {
		case err != nil:
			w.err, w.failedAt = err, target
			s.dial.Forget(pod.UID)
		case err == nil && rep.PutBack:
			// The app stopped on these files: the agent put them back. Not
			// tried again: the next change sends them again, with itself.
			w.boot, w.gen, w.last = rep.Boot, target, rep
			w.err, w.failedAt = &PutBackError{Pods: []string{pod.Name}, Reason: rep.Error}, target
			if w.putBack == nil {
				w.putBack = map[string]bool{}
			}
			for _, p := range paths {
				w.putBack[p] = true
			}
		case boot != "" && rep.Boot != boot:
			// The container started again since the last sync: what it got
			// before is gone, all of it goes again.
			w.boot, w.gen, w.err = "", 0, nil
		default:
			w.boot, w.gen, w.err, w.last, w.putBack = rep.Boot, target, nil, rep, nil
		}
		s.broadcast()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (s *Syncer) send(ctx context.Context, pod *corev1.Pod, paths []string, gen int64, whole bool) (reply, error) {
	body, _, _, err := archive(s.spec.source, paths)
	if err != nil {
		return reply{}, err
	}
	c, err := s.dial.Dial(ctx, pod)
	if err != nil {
		return reply{}, err
	}
	// A first sync starts the app (or restarts it, if it started alone
	// with the image's files); later ones restart it when it must be.
	restarts := s.spec.Restart || whole
	if restarts {
		s.mu.Lock()
		s.restarts[pod.Name] = restart{start: time.Now()}
		s.mu.Unlock()
	}
	rep, err := call(ctx, c, request{Op: "sync", Gen: gen, Start: true, Restart: restarts}, body)
	if restarts {
		s.mu.Lock()
		s.restarts[pod.Name] = restart{start: s.restarts[pod.Name].start, end: time.Now()}
		s.mu.Unlock()
	}
	if err == nil && rep.Error != "" && !rep.PutBack {
		err = errors.New(rep.Error)
	}
	return rep, err
}

// Apply syncs the paths (relative to Spec.Dir; a path that is gone is
// removed) to every pod of a live image, and returns once each has them,
// or has failed.
func (s *Syncer) Apply(ctx context.Context, paths []string) (Report, error) {
	t0 := time.Now()
	_, files, deleted, err := archive(s.spec.source, paths)
	if err != nil {
		return Report{}, err
	}
	s.mu.Lock()
	s.gen++
	g := s.gen
	for _, p := range paths {
		s.overlay[p] = g
	}
	var ws []*worker
	for _, w := range s.workers {
		ws = append(ws, w)
		w.poke()
	}
	s.mu.Unlock()
	rep := Report{Files: files, Deleted: deleted}
	var failed []string
	var putBack *PutBackError
	for _, w := range ws {
		last, err := s.waitFor(ctx, w, g)
		var pb *PutBackError
		switch {
		case errors.As(err, &pb):
			if putBack == nil {
				putBack = &PutBackError{Reason: pb.Reason}
			}
			putBack.Pods = append(putBack.Pods, pb.Pods...)
		case err != nil:
			failed = append(failed, fmt.Sprintf("pod %s: %v", w.name, err))
		case last != nil:
			rep.Pods++
			rep.Restart = max(rep.Restart, time.Duration(last.RestartMS*float64(time.Millisecond)))
			rep.Ready = max(rep.Ready, time.Duration(last.ReadyMS*float64(time.Millisecond)))
		}
	}
	rep.Took = time.Since(t0)
	if putBack != nil && len(failed) == 0 {
		return rep, putBack
	}
	if len(failed) > 0 {
		return rep, errors.New(strings.Join(failed, "; "))
	}
	if rep.Pods == 0 {
		return rep, errors.New("no running pod of the release has draft's agent")
	}
	return rep, nil
}

// waitFor waits until the worker has generation g (its reply), has failed
// at it, or its pod is gone (nil, nil).
func (s *Syncer) waitFor(ctx context.Context, w *worker, g int64) (*reply, error) {
	timeout := time.After(60 * time.Second)
	for {
		s.mu.Lock()
		_, alive := s.workers[w.uid]
		gen, err, failedAt, last, changed := w.gen, w.err, w.failedAt, w.last, s.changed
		s.mu.Unlock()
		switch {
		case err != nil && failedAt >= g:
			return nil, err
		case gen >= g:
			return &last, nil
		case !alive:
			return nil, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, errors.New("no answer from its agent in 60 s")
		}
	}
}
