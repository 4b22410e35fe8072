// Package deploysim is a cluster for the unit tests of what deploys: the
// Helm SDK runs for real on its in-memory release storage, with Helm's
// printing fake as the cluster client, and a client-go fake clientset in
// which the simulator plays the deployment controller and the kubelet: when
// Helm records a revision as deployed, it rolls the release's Deployment out
// and gives the new pods the states that their image name asks for (see
// behave). It knows nothing of draft's packages.
package deploysim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/draftk8s/draft/pkg/kube"
)

// BehaveAnnotation on a pod template asks the simulator for its pods' fate
// by name ("crash", "probe", "notfound" ...: the tags behave knows), for a
// test whose images are pushed by digest (those start and answer).
const BehaveAnnotation = "deploysim/behave"

// Cluster is a simulated cluster with one linux/amd64 node and the
// namespace Namespace.
type Cluster struct {
	Namespace string
	Clientset *fake.Clientset
	Memory    *driver.Memory // Helm's release storage
	Config    *action.Configuration
	sim       *sim
}

// New starts a simulated cluster; it stops with the test.
func New(t testing.TB, namespace string) *Cluster {
	t.Helper()
	c := &Cluster{Namespace: namespace}
	c.Clientset = fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64"}}})
	wc := &watchCounter{n: map[string]int{}}
	c.Clientset.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		wc.mu.Lock()
		wc.n[a.GetResource().Resource]++
		wc.mu.Unlock()
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.sim = &sim{t: t, ns: namespace, cs: c.Clientset, watches: wc, handled: map[string]bool{}, readyAfter: 50 * time.Millisecond, gcAfter: 100 * time.Millisecond, ctx: ctx}
	c.Memory = driver.NewMemory()
	c.Memory.SetNamespace(namespace)
	hd := &hookDriver{Memory: c.Memory, onDeployed: c.sim.deployed, onGone: c.sim.uninstalled}
	c.Config = &action.Configuration{
		Releases:     storage.Init(hd),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	t.Cleanup(func() { cancel(); c.sim.wg.Wait() })
	return c
}

// SetGCAfter sets how long after an uninstall the release's Deployment,
// ReplicaSets and pods go, as the garbage collector takes them (100 ms).
func (c *Cluster) SetGCAfter(d time.Duration) {
	c.sim.mu.Lock()
	defer c.sim.mu.Unlock()
	c.sim.gcAfter = d
}

// SetReadyAfter sets how long a new pod takes to become Ready (50 ms).
func (c *Cluster) SetReadyAfter(d time.Duration) {
	c.sim.mu.Lock()
	defer c.sim.mu.Unlock()
	c.sim.readyAfter = d
}

// DeletePods deletes the namespace's pods, as the garbage collector does
// after their workload is gone.
func (c *Cluster) DeletePods() {
	ctx := context.Background()
	pods, _ := c.Clientset.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		_ = c.Clientset.CoreV1().Pods(c.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	}
}

// LastReady is when a pod was last made Ready.
func (c *Cluster) LastReady() time.Time { return c.sim.lastReady() }

// History is the release's revisions, oldest first.
func (c *Cluster) History(release string) []*release.Release {
	h, err := c.Config.Releases.History(release)
	if err != nil {
		return nil
	}
	releaseutil.SortByRevision(h)
	return h
}

// Statuses is the release's history as "1:superseded 2:deployed".
func (c *Cluster) Statuses(release string) string {
	var s []string
	for _, r := range c.History(release) {
		s = append(s, fmt.Sprintf("%d:%s", r.Version, r.Info.Status))
	}
	return strings.Join(s, " ")
}

// hookDriver is Helm's memory driver that tells when a revision is
// deployed, and when a release's last revision is deleted (uninstalled).
type hookDriver struct {
	*driver.Memory
	onDeployed func(*release.Release)
	onGone     func(name string)
}

func (h *hookDriver) Delete(key string) (*release.Release, error) {
	rls, err := h.Memory.Delete(key)
	if err == nil && rls != nil && h.onGone != nil {
		if left, _ := h.Memory.Query(map[string]string{"name": rls.Name, "owner": "helm"}); len(left) == 0 {
			h.onGone(rls.Name)
		}
	}
	return rls, err
}

func (h *hookDriver) Update(key string, rls *release.Release) error {
	err := h.Memory.Update(key, rls)
	if err == nil && rls.Info != nil && rls.Info.Status == release.StatusDeployed && h.onDeployed != nil {
		h.onDeployed(rls)
	}
	return err
}

// watchCounter counts the watches opened on the fake clientset, by resource.
type watchCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *watchCounter) get(resource string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[resource]
}

// sim plays the deployment controller, the scheduler and the kubelet.
type sim struct {
	t          testing.TB
	ns         string
	cs         *fake.Clientset
	watches    *watchCounter
	ctx        context.Context
	wg         sync.WaitGroup
	readyAfter time.Duration

	busy    sync.Mutex // one change at a time, as the API server orders them
	mu      sync.Mutex
	handled map[string]bool // release/revision
	gcAfter time.Duration   // how long after an uninstall its objects go
	readyAt time.Time       // when a pod was last made Ready
}

func (s *sim) lastReady() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyAt
}

// deployed is called when Helm records rel as deployed.
func (s *sim) deployed(rel *release.Release) {
	s.mu.Lock()
	key := fmt.Sprintf("%s/%d", rel.Name, rel.Version)
	done := s.handled[key]
	s.handled[key] = true
	s.mu.Unlock()
	if done {
		return
	}
	before := map[string]int{}
	for _, r := range []string{"deployments", "replicasets", "pods"} {
		before[r] = s.watches.get(r)
	}
	if err := s.apply(rel.Manifest); err != nil {
		s.t.Errorf("sim: %v", err)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// act once the rollout's watches are open, as a real cluster
		// acts while draft watches; a rollout nobody waits for goes on
		// after a while
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && s.ctx.Err() == nil {
			if s.watches.get("deployments") > before["deployments"] && s.watches.get("replicasets") > before["replicasets"] && s.watches.get("pods") > before["pods"] {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
		if s.ctx.Err() != nil {
			return
		}
		// A Deployment (or pod) that a test deletes while its rollout
		// goes on ends the rollout, as it ends a controller's.
		if err := s.rollout(); err != nil && s.ctx.Err() == nil && !apierrors.IsNotFound(err) {
			s.t.Errorf("sim: %v", err)
		}
	}()
}

// uninstalled plays the garbage collector a moment after a release is
// uninstalled: its Deployment, ReplicaSets and pods (by its instance label)
// go.
func (s *sim) uninstalled(name string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.mu.Lock()
		after := s.gcAfter
		s.mu.Unlock()
		select {
		case <-time.After(after):
		case <-s.ctx.Done():
			return
		}
		s.busy.Lock()
		defer s.busy.Unlock()
		ctx := context.Background()
		sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name}
		_ = s.cs.AppsV1().Deployments(s.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		_ = s.cs.AppsV1().ReplicaSets(s.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		pods, _ := s.cs.CoreV1().Pods(s.ns).List(ctx, sel)
		for _, p := range pods.Items {
			_ = s.cs.CoreV1().Pods(s.ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
		}
	}()
}

// apply does what Helm's apply does to the Deployment: create it, or change
// its spec (a new generation).
func (s *sim) apply(manifest string) error {
	s.busy.Lock()
	defer s.busy.Unlock()
	ctx := context.Background()
	var dep *appsv1.Deployment
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" {
			dep = &d
		}
	}
	if dep == nil {
		return fmt.Errorf("no Deployment in the manifest")
	}
	dep.Namespace = s.ns
	deps := s.cs.AppsV1().Deployments(s.ns)
	live, err := deps.Get(ctx, dep.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		dep.UID, dep.Generation = types.UID("uid-"+dep.Name), 1
		_, err = deps.Create(ctx, dep, metav1.CreateOptions{})
		return err
	case err != nil:
		return err
	case !kube.SameTemplate(&live.Spec.Template, &dep.Spec.Template):
		live.Spec = dep.Spec
		live.Generation++
		_, err = deps.Update(ctx, live, metav1.UpdateOptions{})
		return err
	}
	return nil
}

// rollout plays the controllers and the kubelet after an apply, for each
// Deployment of the namespace.
func (s *sim) rollout() error {
	s.busy.Lock()
	defer s.busy.Unlock()
	list, err := s.cs.AppsV1().Deployments(s.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		return apierrors.NewNotFound(appsv1.Resource("deployments"), "")
	}
	for _, d := range list.Items {
		if err := s.rolloutOne(d.Name); err != nil {
			return err
		}
	}
	return nil
}

func (s *sim) rolloutOne(name string) error {
	ctx := context.Background()
	deps := s.cs.AppsV1().Deployments(s.ns)
	live, err := deps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	// the controller finds or makes the ReplicaSet of the template
	rss := s.cs.AppsV1().ReplicaSets(s.ns)
	list, err := rss.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var newRS *appsv1.ReplicaSet
	owned := map[string]bool{} // the ReplicaSets of this Deployment
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.Name != live.Name {
			continue
		}
		owned[rs.Name] = true
		if kube.SameTemplate(&rs.Spec.Template, &live.Spec.Template) {
			newRS = rs
		}
	}
	if newRS == nil {
		hash := fmt.Sprintf("h%d", len(owned)+1)
		tpl := live.Spec.Template.DeepCopy()
		tpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		newRS = &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: live.Name + "-" + hash, Namespace: s.ns, UID: types.UID("uid-rs-" + live.Name + "-" + hash), Labels: tpl.Labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: live.Name, UID: live.UID, Controller: ptr.To(true)}},
			},
			Spec: appsv1.ReplicaSetSpec{Replicas: live.Spec.Replicas, Selector: live.Spec.Selector, Template: *tpl},
		}
		if newRS, err = rss.Create(ctx, newRS, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	live.Status.ObservedGeneration = live.Generation
	if live, err = deps.UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		return err
	}

	pods := s.cs.CoreV1().Pods(s.ns)
	podName := newRS.Name + "-0"
	_, err = pods.Get(ctx, podName, metav1.GetOptions{})
	newPod := apierrors.IsNotFound(err)
	if newPod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: podName, Namespace: s.ns, UID: types.UID("uid-" + podName), Labels: newRS.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: newRS.Name, UID: newRS.UID, Controller: ptr.To(true)}},
			},
			Spec:   *newRS.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}
		p.Spec.NodeName = "node1"
		SetWaiting(p, "ContainerCreating", "")
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
		image := newRS.Spec.Template.Spec.Containers[0].Image
		if b := newRS.Spec.Template.Annotations[BehaveAnnotation]; b != "" {
			image = "sim:" + b // a test that cannot choose the image's tag asks for a fate
		}
		if err := s.behave(ctx, podName, image); err != nil {
			return err
		}
	}
	// the new pods are Ready (or were): the old ones go
	p, err := pods.Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !kube.PodReady(p) {
		return nil
	}
	all, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, o := range all.Items {
		ref := metav1.GetControllerOf(&o)
		mine := ref != nil && (owned[ref.Name] || ref.Name == newRS.Name)
		if o.Name != podName && mine {
			if err := pods.Delete(ctx, o.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
		}
	}
	if live, err = deps.Get(ctx, live.Name, metav1.GetOptions{}); err != nil {
		return err
	}
	live.Status = appsv1.DeploymentStatus{ObservedGeneration: live.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	_, err = deps.UpdateStatus(ctx, live, metav1.UpdateOptions{})
	return err
}

// behave gives the new pod the fate its image asks for.
func (s *sim) behave(ctx context.Context, name, image string) error {
	pods := s.cs.CoreV1().Pods(s.ns)
	update := func(change func(p *corev1.Pod)) error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(p)
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}
	event := func(reason, msg string, count int32) error {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		_, err = s.cs.CoreV1().Events(s.ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%s.%d", name, strings.ToLower(reason), time.Now().UnixNano()), Namespace: s.ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: name, Namespace: s.ns, UID: p.UID},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: msg, Count: count,
			LastTimestamp: metav1.Now(),
		}, metav1.CreateOptions{})
		return err
	}
	tag := image[strings.LastIndex(image, ":")+1:]
	if strings.Contains(image, "@sha256:") {
		tag = "good" // an image pushed by digest: it starts and answers
	}
	switch {
	case strings.HasPrefix(tag, "good"):
		select {
		case <-time.After(s.readyAfter):
		case <-s.ctx.Done():
			return nil
		}
		if err := update(setReady); err != nil {
			return err
		}
		s.mu.Lock()
		s.readyAt = time.Now()
		s.mu.Unlock()
	case tag == "notfound":
		msg := fmt.Sprintf(`failed to pull and unpack image "%s": failed to resolve reference "%s": %s: not found`, image, image, image)
		if err := event("Failed", "Failed to pull image \""+image+"\": "+msg, 1); err != nil {
			return err
		}
		return update(func(p *corev1.Pod) { SetWaiting(p, "ErrImagePull", msg) })
	case tag == "backoff": // the detail only in the events
		if err := event("Failed", fmt.Sprintf(`Failed to pull image "%s": rpc error: code = NotFound desc = failed to pull and unpack image "%s": not found`, image, image), 2); err != nil {
			return err
		}
		return update(func(p *corev1.Pod) { SetWaiting(p, "ImagePullBackOff", `Back-off pulling image "`+image+`"`) })
	case tag == "unauthorized":
		return update(func(p *corev1.Pod) {
			SetWaiting(p, "ErrImagePull", `failed to pull and unpack image "`+image+`": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`)
		})
	case tag == "unreachable":
		return update(func(p *corev1.Pod) {
			SetWaiting(p, "ErrImagePull", `failed to pull and unpack image "`+image+`": failed to resolve reference "`+image+`": failed to do request: Head "https://example.test/v2/app/manifests/unreachable": dial tcp 192.0.2.9:443: connect: connection refused`)
		})
	case tag == "platform":
		return update(func(p *corev1.Pod) {
			SetWaiting(p, "ErrImagePull", `failed to pull and unpack image "`+image+`": no match for platform in manifest: not found`)
		})
	case tag == "crash":
		if err := event("BackOff", "Back-off restarting failed container app in pod "+name, 3); err != nil {
			return err
		}
		return update(func(p *corev1.Pod) {
			SetWaiting(p, "CrashLoopBackOff", "back-off 10s restarting failed container=app pod="+name)
			p.Status.ContainerStatuses[0].RestartCount = 2
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}
		})
	case tag == "unschedulable":
		return update(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = nil
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}}
		})
	case tag == "probe", tag == "probe-restarted", tag == "late":
		if err := update(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
			if tag == "probe-restarted" { // it crashed once, and runs unready again
				p.Status.ContainerStatuses[0].RestartCount = 1
				p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}
			}
		}); err != nil {
			return err
		}
		if err := event("Unhealthy", "Readiness probe failed: dial tcp 10.1.0.7:8080: connect: connection refused", 5); err != nil || tag != "late" {
			return err
		}
		// an app that takes a while to listen (sleep before it serves)
		select {
		case <-time.After(800 * time.Millisecond):
		case <-s.ctx.Done():
			return nil
		}
		return update(setReady)
	case tag == "config":
		return update(func(p *corev1.Pod) { SetWaiting(p, "CreateContainerConfigError", `secret "db" not found`) })
	case tag == "secretsync": // the kubelet's Secret cache syncs late, then the pod starts
		if err := update(func(p *corev1.Pod) {
			SetWaiting(p, "CreateContainerConfigError", "failed to sync secret cache: timed out waiting for the condition")
		}); err != nil {
			return err
		}
		select {
		case <-time.After(600 * time.Millisecond):
		case <-s.ctx.Done():
			return nil
		}
		return update(setReady)
	case tag == "noexec":
		return update(func(p *corev1.Pod) {
			SetWaiting(p, "RunContainerError", `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app": exec format error: unknown`)
		})
	case tag == "slow": // stays ContainerCreating
	default:
		return fmt.Errorf("the sim does not know image tag %q", tag)
	}
	return nil
}

// SetWaiting gives a pod a waiting container, with reason and message.
func SetWaiting(p *corev1.Pod, reason, msg string) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", Image: p.Spec.Containers[0].Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
	}}
}

func setReady(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", Image: p.Spec.Containers[0].Image, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}
}

var _ runtime.Object = (*corev1.Pod)(nil)
