package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/draftk8s/draft/pkg/kube"
)

// Progress is the live state of a rollout, reported on every change.
type Progress struct {
	Ready   int        // pods of the new revision that are Ready
	Desired int        // pods the release wants
	Pods    []PodState // the release's pods, new and old
}

// PodState is one pod, as a status line shows it.
type PodState struct {
	Name     string
	New      bool   // of the revision being rolled out
	Ready    bool   //
	State    string // Pending, ContainerCreating, Running, ImagePullBackOff, CrashLoopBackOff, Terminating...
	Restarts int32
}

// String is a one-line summary: "1/2 ready (app-5d8f-abcde ContainerCreating)".
func (p Progress) String() string {
	s := fmt.Sprintf("%d/%d ready", p.Ready, p.Desired)
	var notes []string
	for _, ps := range p.Pods {
		if !ps.New || ps.Ready {
			continue
		}
		n := ps.Name + " " + ps.State
		if ps.Restarts > 0 {
			n += fmt.Sprintf(" (%d restarts)", ps.Restarts)
		}
		notes = append(notes, n)
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// Reasons of a Diagnosis.
const (
	ReasonImageNotFound     = "ImageNotFound"
	ReasonImageUnauthorized = "ImageUnauthorized"
	ReasonImagePlatform     = "ImageWrongPlatform"
	ReasonImagePull         = "ImagePull"
	ReasonCrashLoop         = "CrashLoop"
	ReasonProbe             = "ReadinessProbe"
	ReasonUnschedulable     = "Unschedulable"
	ReasonConfig            = "CreateContainerConfig"
	ReasonStart             = "StartError"
	ReasonCreatePods        = "FailedCreate"
	ReasonDeadline          = "ProgressDeadlineExceeded"
	ReasonPending           = "Pending"
	ReasonTimeout           = "Timeout"
)

// finding is something wrong with a workload or one of its new pods. It is a
// failure once it has lasted grace; a negative grace is never certain by
// itself and only explains a timeout.
type finding struct {
	key       string // identifies it across evaluations, for how long it has lasted
	rank      int    // lower explains a timeout better
	reason    string
	workload  string
	pod       *corev1.Pod
	container string
	message   string // what the API says
	grace     time.Duration
}

// rollout waits for the workloads of one revision.
type rollout struct {
	d         *Deployer
	set       *informerSet
	progress  func(Progress)
	firstSeen map[string]time.Time
	pullInfo  map[string]string // image pull errors read from events, by pod UID/container
	last      string            // the last progress reported
}

// state is one evaluation of the rollout.
type state struct {
	ready    bool
	progress Progress
	findings []finding
}

// waitRollout watches the Deployments of manifest until the new pods are all
// Ready and no old pod is left available, and returns nil, nil then. When
// they cannot become Ready (a certain failure, or the timeout), it returns a
// Diagnosis. An error is ctx's, or a watch that cannot work.
func (d *Deployer) waitRollout(ctx context.Context, manifest string, timeout time.Duration, progress func(Progress)) (*Diagnosis, error) {
	ws, err := workloadsOf(manifest, d.namespace)
	if err != nil || len(ws) == 0 {
		return nil, err
	}
	set, err := d.startInformers(ctx, ws, false)
	if err != nil {
		return nil, err
	}
	defer set.stop()
	r := &rollout{d: d, set: set, progress: progress, firstSeen: map[string]time.Time{}, pullInfo: map[string]string{}}
	start := d.now()
	deadline := start.Add(timeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		st := r.evaluate(ctx)
		r.report(st.progress)
		if st.ready {
			return nil, nil
		}
		now := d.now()
		next := deadline
		for _, f := range st.findings {
			seen, ok := r.firstSeen[f.key]
			if !ok {
				seen = now
				r.firstSeen[f.key] = now
			}
			if f.grace < 0 {
				continue
			}
			if due := seen.Add(f.grace); !now.Before(due) {
				return d.diagnose(ctx, f, now.Sub(seen)), nil
			} else if due.Before(next) {
				next = due
			}
		}
		if !now.Before(deadline) {
			return d.diagnose(ctx, r.timeoutFinding(st, timeout), timeout), nil
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next.Sub(now))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-set.failed:
			return nil, fmt.Errorf("watching the rollout in namespace %s: %w", d.namespace, err)
		case <-set.changed:
		case <-timer.C:
		}
	}
}

func (r *rollout) report(p Progress) {
	if r.progress == nil {
		return
	}
	key := fmt.Sprint(p)
	for _, ps := range p.Pods {
		key += fmt.Sprintf("|%s %v %v %s %d", ps.Name, ps.New, ps.Ready, ps.State, ps.Restarts)
	}
	if key == r.last {
		return
	}
	r.last = key
	r.progress(p)
}

// evaluate reads the informers' stores: is the rollout done, and what is wrong.
func (r *rollout) evaluate(ctx context.Context) state {
	var st state
	st.ready = true
	for _, w := range r.set.items {
		dep := w.deployment()
		if dep == nil {
			st.ready = false
			st.progress.Desired += int(w.replicas)
			continue
		}
		desired := int32(1)
		if dep.Spec.Replicas != nil {
			desired = *dep.Spec.Replicas
		}
		st.progress.Desired += int(desired)
		observed := dep.Status.ObservedGeneration >= dep.Generation

		owned := map[types.UID]bool{}
		var newRS *appsv1.ReplicaSet
		for _, rs := range w.replicaSetList() {
			if !ownedBy(rs.OwnerReferences, dep.UID, dep.Name, "Deployment") {
				continue
			}
			owned[rs.UID] = true
			if kube.SameTemplate(&rs.Spec.Template, &dep.Spec.Template) {
				newRS = rs
			}
		}
		readyNew, oldActive := 0, 0
		for _, p := range w.podList() {
			owner := controllerOf(p.OwnerReferences)
			if owner == nil || !owned[owner.UID] {
				continue
			}
			isNew := newRS != nil && owner.UID == newRS.UID
			terminating := p.DeletionTimestamp != nil
			ready := kube.PodReady(p)
			st.progress.Pods = append(st.progress.Pods, PodState{
				Name: p.Name, New: isNew, Ready: ready && !terminating, State: podPhrase(p), Restarts: restarts(p),
			})
			switch {
			case terminating:
			case isNew:
				if ready {
					readyNew++
				} else {
					st.findings = append(st.findings, r.podFindings(ctx, w.name, p)...)
				}
			default:
				oldActive++
			}
		}
		st.progress.Ready += min(readyNew, int(desired))
		st.findings = append(st.findings, workloadFindings(dep, newRS, observed)...)
		if !observed || (desired > 0 && newRS == nil) || readyNew < int(desired) || oldActive > 0 {
			st.ready = false
		}
	}
	return st
}

// workloadFindings are failures of the Deployment or its new ReplicaSet
// itself: pods that cannot be created, a progress deadline exceeded.
func workloadFindings(dep *appsv1.Deployment, newRS *appsv1.ReplicaSet, observed bool) []finding {
	var out []finding
	if newRS != nil {
		for _, c := range newRS.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				out = append(out, finding{key: "rs/" + string(newRS.UID) + "/failure", rank: 1, reason: ReasonCreatePods, workload: dep.Name, message: c.Message})
			}
		}
	}
	if !observed {
		return out
	}
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			out = append(out, finding{key: "deploy/" + string(dep.UID) + "/deadline", rank: 8, reason: ReasonDeadline, workload: dep.Name, message: c.Message})
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue && newRS == nil {
			out = append(out, finding{key: "deploy/" + string(dep.UID) + "/failure", rank: 1, reason: ReasonCreatePods, workload: dep.Name, message: c.Message})
		}
	}
	return out
}

// podFindings are what keeps a new pod from being Ready.
func (r *rollout) podFindings(ctx context.Context, workload string, p *corev1.Pod) []finding {
	var out []finding
	add := func(f finding) {
		f.workload, f.pod = workload, p
		f.key = string(p.UID) + "/" + f.container + "/" + f.reason + "/" + f.key
		out = append(out, f)
	}
	if p.Status.Phase == corev1.PodFailed {
		add(finding{rank: 6, reason: ReasonPending, message: strings.TrimSpace(p.Status.Reason + " " + p.Status.Message), grace: -1})
		return out
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			add(finding{rank: 3, reason: ReasonUnschedulable, message: c.Message, grace: r.d.unschedulableGrace})
			return out
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if f, ok := r.containerFinding(ctx, p, cs); ok {
			add(f)
		}
	}
	if len(out) == 0 && p.Status.Phase == corev1.PodPending {
		add(finding{rank: 7, reason: ReasonPending, message: "the pod is pending", grace: -1})
	}
	return out
}

// containerFinding is what one container's status says is wrong, or is
// still to come; false when nothing is.
func (r *rollout) containerFinding(ctx context.Context, p *corev1.Pod, cs corev1.ContainerStatus) (finding, bool) {
	init := isInit(p, cs.Name)
	restartsKey := fmt.Sprint(cs.RestartCount)
	switch {
	case cs.State.Waiting != nil:
		return r.waitingFinding(ctx, p, cs), true
	case cs.State.Terminated != nil:
		t := cs.State.Terminated
		switch {
		case t.Reason == "StartError" || t.Reason == "ContainerCannotRun":
			return finding{rank: 1, reason: ReasonStart, container: cs.Name, message: t.Message}, true
		case t.ExitCode != 0 && cs.RestartCount >= 1:
			return finding{rank: 1, reason: ReasonCrashLoop, container: cs.Name, message: t.Reason}, true
		case t.ExitCode != 0 || !init:
			return finding{key: restartsKey, rank: 4, reason: ReasonCrashLoop, container: cs.Name, message: t.Reason, grace: -1}, true
		}
	case cs.State.Running != nil && !cs.Ready && !init:
		if last := cs.LastTerminationState.Terminated; last != nil && last.ExitCode != 0 && cs.RestartCount >= 2 {
			return finding{rank: 1, reason: ReasonCrashLoop, container: cs.Name}, true
		}
		// A container that has never restarted is starting: however long
		// its app takes, it has the whole timeout. One that restarted and
		// runs unready again has the probe grace.
		grace := time.Duration(-1)
		if cs.RestartCount > 0 {
			grace = r.d.probeGraceFor(p, cs.Name)
		}
		return finding{key: restartsKey, rank: 5, reason: ReasonProbe, container: cs.Name, grace: grace}, true
	}
	return finding{}, false
}

// waitingFinding is what a waiting container's reason says.
func (r *rollout) waitingFinding(ctx context.Context, p *corev1.Pod, cs corev1.ContainerStatus) finding {
	w := cs.State.Waiting
	switch w.Reason {
	case "ErrImagePull", "ImagePullBackOff":
		return r.pullFinding(ctx, p, cs.Name, w.Message)
	case "InvalidImageName":
		return finding{rank: 2, reason: ReasonImagePull, container: cs.Name, message: w.Message}
	case "CrashLoopBackOff":
		return finding{rank: 1, reason: ReasonCrashLoop, container: cs.Name, message: w.Message}
	case "CreateContainerConfigError":
		if strings.Contains(w.Message, "failed to sync") {
			// the kubelet's cache of a Secret or ConfigMap the pod reads has
			// not synced yet (the API server's node authorizer learns of a
			// new pod's Secrets a moment after the pod): it tries again
			return finding{rank: 1, reason: ReasonConfig, container: cs.Name, message: w.Message, grace: 20 * time.Second}
		}
		return finding{rank: 1, reason: ReasonConfig, container: cs.Name, message: w.Message}
	case "CreateContainerError":
		return finding{rank: 1, reason: ReasonConfig, container: cs.Name, message: w.Message, grace: 5 * time.Second}
	case "RunContainerError":
		return finding{rank: 1, reason: ReasonStart, container: cs.Name, message: w.Message}
	}
	// ContainerCreating, PodInitializing
	return finding{rank: 7, reason: ReasonPending, container: cs.Name, message: strings.TrimSpace(w.Reason + " " + w.Message), grace: -1}
}

// pullFinding is an image that cannot be pulled: the kubelet's own reason,
// read once from the pod's events, for a registry that failed; the grace of
// a registry that may come back for one that does not answer.
func (r *rollout) pullFinding(ctx context.Context, p *corev1.Pod, container, msg string) finding {
	key := string(p.UID) + "/" + container
	if classifyPull(msg) == ReasonImagePull {
		if info, ok := r.pullInfo[key]; ok {
			msg = info
		} else if info := r.d.pullErrorFromEvents(ctx, p, container); info != "" {
			r.pullInfo[key] = info
			msg = info
		}
	} else {
		r.pullInfo[key] = msg
	}
	reason := classifyPull(msg)
	grace := time.Duration(0)
	if reason == ReasonImagePull {
		grace = r.d.pullGrace // a registry that does not answer may come back, soon
	}
	return finding{rank: 2, reason: reason, container: container, message: msg, grace: grace}
}

// probeGraceFor is how long container c may run unready: the probe grace, or
// longer when its liveness probe's initial delay or its startup probe says
// the app takes longer to start.
func (d *Deployer) probeGraceFor(p *corev1.Pod, name string) time.Duration {
	g := d.probeGrace
	for _, c := range p.Spec.Containers {
		if c.Name != name {
			continue
		}
		if lp := c.LivenessProbe; lp != nil {
			g = max(g, time.Duration(lp.InitialDelaySeconds)*time.Second)
		}
		if sp := c.StartupProbe; sp != nil {
			period, failures := max(sp.PeriodSeconds, 10), max(sp.FailureThreshold, 3)
			g = max(g, time.Duration(sp.InitialDelaySeconds+period*failures)*time.Second)
		}
	}
	return g
}

// classifyPull tells, from an image pull error, whether it is certain to
// last: the image is not there, the registry refuses the credentials, or the
// image has no variant for the node's platform.
func classifyPull(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "no match for platform"):
		return ReasonImagePlatform
	case strings.Contains(m, "not found") || strings.Contains(m, "manifest unknown") || strings.Contains(m, "name unknown"):
		return ReasonImageNotFound
	case strings.Contains(m, "unauthorized") || strings.Contains(m, "authentication required") ||
		strings.Contains(m, "access denied") || strings.Contains(m, "denied:") || strings.Contains(m, "403 forbidden"):
		return ReasonImageUnauthorized
	}
	return ReasonImagePull
}

// timeoutFinding is what explains a rollout that did not finish in time.
func (r *rollout) timeoutFinding(st state, timeout time.Duration) finding {
	if len(st.findings) > 0 {
		fs := append([]finding(nil), st.findings...)
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].rank < fs[j].rank })
		return fs[0]
	}
	var names []string
	for _, w := range r.set.items {
		names = append(names, w.name)
	}
	return finding{reason: ReasonTimeout, workload: strings.Join(names, ", "),
		message: fmt.Sprintf("%d/%d new pods were Ready after %s", st.progress.Ready, st.progress.Desired, timeout)}
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID, name, kind string) bool {
	for _, r := range refs {
		if r.Kind == kind && (r.UID == uid || (uid == "" && r.Name == name)) {
			return true
		}
	}
	return false
}

func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) == 1 {
		return &refs[0]
	}
	return nil
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

func isInit(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// podPhrase is the pod's state as kubectl get pods says it.
func podPhrase(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return c.Reason
		}
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" {
			return "Init:" + w.Reason
		}
	}
	phrase := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			return cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			return cs.State.Terminated.Reason
		case cs.State.Running != nil && !cs.Ready:
			phrase = "Running, not ready"
		}
	}
	if phrase == "" {
		phrase = "Pending"
	}
	return phrase
}
