package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"
)

// workload is a Deployment of a release, as its manifest declares it.
type workload struct {
	namespace, name string
	selector        labels.Selector
	replicas        int32 // as declared; the live object's spec decides
}

func (w workload) String() string { return w.name }

// workloadsOf returns the Deployments in a release's manifest.
func workloadsOf(manifest, namespace string) ([]workload, error) {
	var out []workload
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			continue // Helm built this manifest; what it cannot parse is not ours to wait on
		}
		if head.Kind != "Deployment" || !strings.HasPrefix(head.APIVersion, "apps/") {
			continue
		}
		var dep appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &dep); err != nil {
			return nil, fmt.Errorf("reading a Deployment of the release manifest: %w", err)
		}
		if dep.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("reading the selector of Deployment %s: %w", dep.Name, err)
		}
		w := workload{namespace: dep.Namespace, name: dep.Name, selector: sel, replicas: 1}
		if w.namespace == "" {
			w.namespace = namespace
		}
		if dep.Spec.Replicas != nil {
			w.replicas = *dep.Spec.Replicas
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].namespace+"/"+out[i].name < out[j].namespace+"/"+out[j].name })
	return out, nil
}

// observed holds the informer stores of one workload.
type observed struct {
	workload
	deployments cache.Store // nil when only pods are watched
	replicaSets cache.Store
	pods        cache.Store
}

// deployment returns the live Deployment, or nil.
func (w *observed) deployment() *appsv1.Deployment {
	if w.deployments == nil {
		return nil
	}
	obj, ok, _ := w.deployments.GetByKey(w.namespace + "/" + w.name)
	if !ok {
		return nil
	}
	d, _ := obj.(*appsv1.Deployment)
	return d
}

func (w *observed) replicaSetList() []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	if w.replicaSets == nil {
		return nil
	}
	for _, o := range w.replicaSets.List() {
		if rs, ok := o.(*appsv1.ReplicaSet); ok && w.selector.Matches(labels.Set(rs.Labels)) {
			out = append(out, rs)
		}
	}
	return out
}

func (w *observed) podList() []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range w.pods.List() {
		if p, ok := o.(*corev1.Pod); ok && w.selector.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// informerSet is a set of informers on the workloads of a release: every change
// to them is signalled on changed, so that the rollout is re-evaluated the
// moment the API server reports it, without polling.
type informerSet struct {
	items   []*observed
	changed chan struct{}
	failed  chan error // a watch that cannot work (forbidden)
	stop    func()
}

// startInformers starts informers on ws (their Deployments and ReplicaSets too,
// unless podsOnly) and waits until they have listed what exists.
func (d *Deployer) startInformers(ctx context.Context, ws []workload, podsOnly bool) (*informerSet, error) {
	s := &informerSet{changed: make(chan struct{}, 1), failed: make(chan error, 1)}
	st := &informerStart{s: s}
	for _, w := range ws {
		item, err := st.observe(d.client, w, podsOnly)
		if err != nil {
			return nil, err
		}
		s.items = append(s.items, item)
	}
	if err := st.run(ctx, ws[0].namespace); err != nil {
		return nil, err
	}
	return s, nil
}

// kick signals a change (at most one waits: the rollout reads it all again).
func (s *informerSet) kick() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// watchError ends the wait when a watch cannot work (forbidden,
// unauthorized); other errors are retried by the reflector.
func (s *informerSet) watchError(_ *cache.Reflector, err error) {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		select {
		case s.failed <- err:
		default:
		}
	}
}

// informerStart is an informerSet being made: its factories, and what
// tells when each informer has listed.
type informerStart struct {
	s         *informerSet
	factories []informers.SharedInformerFactory
	checkers  []cache.DoneChecker
}

// add hooks an informer to the set and returns its store.
func (st *informerStart) add(inf cache.SharedIndexInformer) (cache.Store, error) {
	if err := inf.SetWatchErrorHandler(st.s.watchError); err != nil {
		return nil, err
	}
	if err := inf.SetTransform(stripManagedFields); err != nil {
		return nil, err
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { st.s.kick() },
		UpdateFunc: func(any, any) { st.s.kick() },
		DeleteFunc: func(any) { st.s.kick() },
	}
	if _, err := inf.AddEventHandler(handler); err != nil {
		return nil, err
	}
	st.checkers = append(st.checkers, inf.HasSyncedChecker())
	return inf.GetStore(), nil
}

// observe makes the informers of one workload: its pods (and ReplicaSets)
// by its selector, the Deployment by its name.
func (st *informerStart) observe(client kubernetes.Interface, w workload, podsOnly bool) (*observed, error) {
	item := &observed{workload: w}
	bySelector := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(w.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = w.selector.String() }))
	st.factories = append(st.factories, bySelector)
	var err error
	if item.pods, err = st.add(bySelector.Core().V1().Pods().Informer()); err != nil || podsOnly {
		return item, err
	}
	byName := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(w.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.name).String()
		}))
	st.factories = append(st.factories, byName)
	if item.deployments, err = st.add(byName.Apps().V1().Deployments().Informer()); err != nil {
		return nil, err
	}
	if item.replicaSets, err = st.add(bySelector.Apps().V1().ReplicaSets().Informer()); err != nil {
		return nil, err
	}
	return item, nil
}

// run starts the factories and waits until every informer has listed, or a
// watch cannot work (that error), or ctx ends; on an error they are stopped.
func (st *informerStart) run(ctx context.Context, namespace string) error {
	stopCh := make(chan struct{})
	var once sync.Once
	st.s.stop = func() {
		once.Do(func() {
			close(stopCh)
			for _, f := range st.factories {
				f.Shutdown()
			}
		})
	}
	for _, f := range st.factories {
		f.Start(stopCh)
	}
	syncCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	synced := make(chan bool, 1)
	go func() { synced <- cache.WaitFor(syncCtx, "", st.checkers...) }()
	select {
	case ok := <-synced:
		if !ok {
			st.s.stop()
			return ctx.Err()
		}
	case err := <-st.s.failed:
		cancel()
		<-synced
		st.s.stop()
		return fmt.Errorf("watching the rollout in namespace %s: %w", namespace, err)
	}
	return nil
}

// stripManagedFields keeps the informers' caches small. It strips a copy:
// an object a watch hands over may be shared (client-go's fake clientset
// gives its tracker's own, which other readers copy meanwhile).
func stripManagedFields(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok || len(m.GetManagedFields()) == 0 {
		return obj, nil
	}
	if ro, ok := obj.(runtime.Object); ok {
		c := ro.DeepCopyObject()
		if cm, ok := c.(metav1.Object); ok {
			cm.SetManagedFields(nil)
			return c, nil
		}
	}
	return obj, nil
}

// listOnce reads the current state of ws, one list per kind, into stores
// that evaluate reads as it reads the informers'.
func (d *Deployer) listOnce(ctx context.Context, ws []workload) ([]*observed, error) {
	var out []*observed
	for _, w := range ws {
		item := &observed{
			workload:    w,
			deployments: cache.NewStore(cache.MetaNamespaceKeyFunc),
			replicaSets: cache.NewStore(cache.MetaNamespaceKeyFunc),
			pods:        cache.NewStore(cache.MetaNamespaceKeyFunc),
		}
		dep, err := d.client.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			out = append(out, item)
			continue
		}
		if err != nil {
			return nil, err
		}
		_ = item.deployments.Add(dep)
		opts := metav1.ListOptions{LabelSelector: w.selector.String()}
		rss, err := d.client.AppsV1().ReplicaSets(w.namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range rss.Items {
			_ = item.replicaSets.Add(&rss.Items[i])
		}
		pods, err := d.client.CoreV1().Pods(w.namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			_ = item.pods.Add(&pods.Items[i])
		}
		out = append(out, item)
	}
	return out, nil
}
