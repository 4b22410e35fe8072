package kube

import (
	"context"
	"errors"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrNoPods is returned when the selector matches no pod at all.
var ErrNoPods = errors.New("no pods match the selector")

// PodWatch keeps the pods of a selector up to date from an informer and
// tells its waiters whenever they change.
type PodWatch struct {
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
}

// PodHandler receives the pods as they come and go (isInitial: listed at
// start).
type PodHandler struct {
	Add    func(p *corev1.Pod, isInitial bool)
	Update func(p *corev1.Pod)
	Remove func(p *corev1.Pod)
}

func NewPodWatch(client kubernetes.Interface, namespace, selector string) *PodWatch {
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
	w := &PodWatch{
		// The wrapper tells the reflector whether the client can stream its
		// first list as watch events (the API server can; the fake cannot).
		informer: cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Pod{}, 0, cache.Indexers{}),
		changed:  make(chan struct{}),
	}
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.Notify() },
		UpdateFunc: func(any, any) { w.Notify() },
		DeleteFunc: func(any) { w.Notify() },
	})
	return w
}

// On adds a handler; call it before Start.
func (w *PodWatch) On(h PodHandler) {
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, isInitial bool) {
			if p, ok := obj.(*corev1.Pod); ok && h.Add != nil {
				h.Add(p, isInitial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok && h.Update != nil {
				h.Update(p)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok && h.Remove != nil {
				h.Remove(p)
			}
		},
	})
}

// Start runs the informer until ctx ends and waits for its first list.
// The returned channel is closed once the informer has stopped.
func (w *PodWatch) Start(ctx context.Context) (<-chan struct{}, error) {
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

// Notify wakes those waiting for a change, as a change of the pods does
// (for a change of what the caller knows of them).
func (w *PodWatch) Notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// Pods returns the pods now known, and a channel closed at the next change.
func (w *PodWatch) Pods() ([]*corev1.Pod, <-chan struct{}) {
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

// Newer orders pods by creation, then name.
func Newer(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// Live are the pods not being deleted, newest first; all of them when every
// pod is being deleted.
func Live(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, pods...)
	}
	sort.Slice(out, func(i, j int) bool { return Newer(out[i], out[j]) })
	return out
}

// PodReady reports whether the pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SameTemplate tells whether a ReplicaSet runs a Deployment's pod template,
// as the deployment controller does: the ReplicaSet's copy only adds the
// pod-template-hash label.
func SameTemplate(rs, dep *corev1.PodTemplateSpec) bool {
	a, b := rs.DeepCopy(), dep.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}
