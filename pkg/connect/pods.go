package connect

import (
	"context"
	"errors"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrNoPods is returned when the selector matches no pod at all.
var ErrNoPods = errors.New("no pods match the selector")

// podWatch keeps the pods of a selector up to date from an informer and
// tells its waiters whenever they change.
type podWatch struct {
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
}

// handler receives the pods as they come and go (isInitial: listed at start).
type handler struct {
	add    func(p *corev1.Pod, isInitial bool)
	update func(p *corev1.Pod)
	remove func(p *corev1.Pod)
}

func newPodWatch(client kubernetes.Interface, namespace, selector string) *podWatch {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return client.CoreV1().Pods(namespace).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return client.CoreV1().Pods(namespace).Watch(ctx, o)
		},
	}
	w := &podWatch{
		// The wrapper tells the reflector whether the client can stream its
		// first list as watch events (the API server can; the fake cannot).
		informer: cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Pod{}, 0, cache.Indexers{}),
		changed:  make(chan struct{}),
	}
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify() },
		UpdateFunc: func(any, any) { w.notify() },
		DeleteFunc: func(any) { w.notify() },
	})
	return w
}

// on adds a handler; call it before run.
func (w *podWatch) on(h handler) {
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, isInitial bool) {
			if p, ok := obj.(*corev1.Pod); ok && h.add != nil {
				h.add(p, isInitial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok && h.update != nil {
				h.update(p)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok && h.remove != nil {
				h.remove(p)
			}
		},
	})
}

// start runs the informer until ctx ends and waits for its first list.
// The returned channel is closed once the informer has stopped.
func (w *podWatch) start(ctx context.Context) (<-chan struct{}, error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.informer.RunWithContext(ctx)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		<-done
		return done, ctx.Err()
	}
	return done, nil
}

func (w *podWatch) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// pods returns the pods now known, and a channel closed at the next change.
func (w *podWatch) pods() ([]*corev1.Pod, <-chan struct{}) {
	w.mu.Lock()
	ch := w.changed
	w.mu.Unlock()
	var out []*corev1.Pod
	for _, o := range w.informer.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, ch
}

// target is the pod a new connection to port goes to: the newest Ready pod
// that is not being deleted and declares port (any such pod when port is 0
// or no Ready pod declares it). nil when there is none. A pod for which
// early reports true counts as Ready (see early.go); early may be nil.
func target(pods []*corev1.Pod, port int, early func(*corev1.Pod) bool) *corev1.Pod {
	var best, bestAny *corev1.Pod
	for _, p := range pods {
		if !serving(p) && (early == nil || p.DeletionTimestamp != nil || !early(p)) {
			continue
		}
		if bestAny == nil || newer(p, bestAny) {
			bestAny = p
		}
		if port != 0 && declares(p, port) && (best == nil || newer(p, best)) {
			best = p
		}
	}
	if best != nil {
		return best
	}
	if port != 0 {
		for _, p := range pods {
			if declares(p, port) {
				// Some pod declares the port, but none of those is Ready:
				// the port is not served by the other pods either.
				return nil
			}
		}
	}
	return bestAny
}

// serving reports whether p takes new connections: Ready, running, not deleted.
func serving(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func declares(p *corev1.Pod, port int) bool {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if int(cp.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

// newer orders pods by creation, then name.
func newer(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// live are the pods not being deleted, newest first; all of them when every
// pod is being deleted.
func live(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, pods...)
	}
	sort.Slice(out, func(i, j int) bool { return newer(out[i], out[j]) })
	return out
}
