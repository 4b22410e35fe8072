package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"

	"github.com/draftk8s/draft/pkg/ui"
)

// Diagnosis says why the pods of a rollout did not become Ready.
type Diagnosis struct {
	Workload  string // the Deployment
	Pod       string // the pod that failed, "" when none was created
	Container string
	Reason    string // one of the Reason* constants
	Message   string // why, in one line
	LogTail   []string
	Events    []string // the pod's Warning events, oldest first: "BackOff: Back-off restarting failed container (x3)"
}

// String is the diagnosis in one line: "pod app-5d8f-x, container app: ...".
func (g *Diagnosis) String() string {
	switch {
	case g.Pod != "" && g.Container != "":
		return fmt.Sprintf("pod %s, container %s: %s", g.Pod, g.Container, g.Message)
	case g.Pod != "":
		return fmt.Sprintf("pod %s: %s", g.Pod, g.Message)
	case g.Workload != "":
		return fmt.Sprintf("deployment %s: %s", g.Workload, g.Message)
	}
	return g.Message
}

// RolloutError is the error of an Upgrade whose pods did not become Ready.
// The release was rolled back to RolledBackTo, or uninstalled when it had
// never been deployed before.
type RolloutError struct {
	Release      string
	Revision     int // the revision that failed
	Diagnosis    Diagnosis
	RolledBackTo int  // the revision serving again; 0 when there was none
	Uninstalled  bool // the failed revision was the first: the release was removed
	// RollbackErr is set when rolling back (or uninstalling) failed too, or the
	// previous revision did not become Ready again.
	RollbackErr error
}

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "release %s revision %d did not become ready: %s", e.Release, e.Revision, e.Diagnosis.String())
	switch {
	case e.RollbackErr != nil && e.RolledBackTo > 0:
		fmt.Fprintf(&b, "; rolled back to revision %d, but %v: check with kubectl get pods and helm history %s", e.RolledBackTo, e.RollbackErr, e.Release)
	case e.RollbackErr != nil:
		fmt.Fprintf(&b, "; undoing it failed too (%v): check with helm history %s", e.RollbackErr, e.Release)
	case e.RolledBackTo > 0:
		fmt.Fprintf(&b, "; rolled back to revision %d, which keeps serving", e.RolledBackTo)
	case e.Uninstalled:
		b.WriteString("; removed the release, which had never been deployed before")
	}
	return b.String()
}

func (e *RolloutError) Unwrap() error { return e.RollbackErr }

// noiseEvents are Warning events about the node's setup, not the app.
var noiseEvents = map[string]bool{"MissingClusterDNS": true, "DNSConfigForming": true}

const (
	logTailLines = 20
	maxEvents    = 8
	diagTimeout  = 10 * time.Second
)

// diagnose turns a finding into a Diagnosis: the sentence, the container's
// last log lines and the pod's Warning events.
func (d *Deployer) diagnose(ctx context.Context, f finding, lasted time.Duration) *Diagnosis {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagTimeout)
	defer cancel()
	g := &Diagnosis{Workload: f.workload, Container: f.container, Reason: f.reason}
	if f.pod == nil {
		g.Message = d.workloadMessage(f)
		return g
	}
	p := f.pod
	g.Pod = p.Name
	g.Events = d.podEvents(ctx, p)
	image := containerImage(p, f.container)
	cs := containerStatus(p, f.container)
	switch f.reason {
	case ReasonImageNotFound:
		g.Message = fmt.Sprintf("image %s was not found in its registry: check that it was pushed to the registry the cluster pulls from", image)
	case ReasonImageUnauthorized:
		g.Message = fmt.Sprintf("the registry of image %s refused to serve it (%s): give the pods an imagePullSecret with credentials for it", image, shortPullError(f.message))
	case ReasonImagePlatform:
		platform := d.nodePlatform(ctx, p.Spec.NodeName)
		g.Message = fmt.Sprintf("image %s has no variant for the node's platform %s: build it for %s", image, platform, platform)
	case ReasonImagePull:
		g.Message = fmt.Sprintf("image %s cannot be pulled: %s", image, shortPullError(f.message))
	case ReasonCrashLoop:
		g.Message = crashMessage(f.container, cs, g.Events)
		g.LogTail = d.logTail(ctx, p, f.container, cs)
	case ReasonProbe:
		msg := lastEvent(g.Events, "Unhealthy")
		if msg == "" {
			msg = "no probe message was reported"
		}
		g.Message = fmt.Sprintf("container %s is running but its readiness probe has failed for %s: %s; if the app only needs longer to start, allow it with --timeout (or the chart's startupProbe and readinessProbe settings)", f.container, roundDuration(lasted), msg)
		g.LogTail = d.logTail(ctx, p, f.container, cs)
	case ReasonUnschedulable:
		g.Message = fmt.Sprintf("the pod cannot be scheduled: %s", oneLine(f.message))
	case ReasonConfig:
		g.Message = fmt.Sprintf("container %s cannot be created: %s", f.container, oneLine(f.message))
	case ReasonStart:
		msg := oneLine(f.message)
		switch {
		case strings.Contains(msg, "exec format error"):
			platform := d.nodePlatform(ctx, p.Spec.NodeName)
			g.Message = fmt.Sprintf("container %s cannot start: its program is built for another platform than the node's %s (exec format error): build it for %s", f.container, platform, platform)
		default:
			g.Message = fmt.Sprintf("container %s cannot start: %s", f.container, msg)
		}
		g.LogTail = d.logTail(ctx, p, f.container, cs)
	default: // Pending, a timeout
		msg := oneLine(f.message)
		if ev := lastEvent(g.Events, ""); ev != "" {
			msg = ev
		}
		g.Message = fmt.Sprintf("the pod did not become ready in time: %s (allow longer with --timeout)", msg)
		if cs != nil && (cs.State.Running != nil || cs.RestartCount > 0) {
			g.LogTail = d.logTail(ctx, p, f.container, cs)
		}
	}
	return g
}

func (d *Deployer) workloadMessage(f finding) string {
	switch f.reason {
	case ReasonCreatePods:
		return "its pods cannot be created: " + oneLine(f.message)
	case ReasonDeadline:
		return "it made no progress: " + oneLine(f.message)
	}
	return "the rollout did not finish: " + oneLine(f.message)
}

// crashMessage says how a container crashes, from its last termination.
func crashMessage(name string, cs *corev1.ContainerStatus, events []string) string {
	var t *corev1.ContainerStateTerminated
	var n int32
	if cs != nil {
		n = cs.RestartCount
		t = cs.LastTerminationState.Terminated
		if cs.State.Terminated != nil {
			t = cs.State.Terminated
		}
	}
	times := "once"
	if n > 1 {
		times = fmt.Sprintf("%d times", n)
	}
	switch {
	case t == nil:
		return fmt.Sprintf("container %s keeps crashing (restarted %s)", name, times)
	case t.Reason == "OOMKilled":
		return fmt.Sprintf("container %s was killed for using more memory than its limit (OOMKilled, restarted %s): raise resources.limits.memory in the chart's values", name, times)
	}
	if live := lastEvent(events, "Unhealthy"); strings.Contains(live, "Liveness probe failed") {
		return fmt.Sprintf("container %s is killed because its liveness probe fails (restarted %s): %s", name, times, live)
	}
	if t.ExitCode == 0 {
		return fmt.Sprintf("container %s exits with code 0 and is restarted (%s): a Deployment's program must keep running", name, times)
	}
	return fmt.Sprintf("container %s keeps crashing: it exited with code %d (restarted %s)", name, t.ExitCode, times)
}

// logTail returns the last lines of the container's log: the previous
// container's after a restart.
func (d *Deployer) logTail(ctx context.Context, p *corev1.Pod, container string, cs *corev1.ContainerStatus) []string {
	previous := cs != nil && cs.State.Terminated == nil && cs.RestartCount > 0
	read := func(prev bool) ([]string, error) {
		raw, err := d.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
			Container: container, Previous: prev, TailLines: ptr.To[int64](logTailLines),
		}).DoRaw(ctx)
		if err != nil {
			return nil, err
		}
		return tailLines(string(raw), logTailLines), nil
	}
	lines, err := read(previous)
	if err != nil || len(lines) == 0 {
		if other, err2 := read(!previous); err2 == nil && len(other) > 0 {
			return other
		}
	}
	return lines
}

// tailLines are the last n lines of s, each cut at 400 characters.
func tailLines(s string, n int) []string {
	lines := ui.LastLines(s, n)
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return lines
}

// podEvents returns the pod's Warning events, oldest first, repeated ones once.
func (d *Deployer) podEvents(ctx context.Context, p *corev1.Pod) []string {
	list, err := d.client.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": p.Name, "involvedObject.kind": "Pod"}.String(),
	})
	if err != nil {
		return nil
	}
	var evs []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name != p.Name || (e.InvolvedObject.UID != "" && p.UID != "" && e.InvolvedObject.UID != p.UID) {
			continue
		}
		if e.Type != corev1.EventTypeWarning || noiseEvents[e.Reason] {
			continue
		}
		evs = append(evs, e)
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(&evs[i]).Before(eventTime(&evs[j])) })
	// newest first, each reason and message once, then oldest first
	var out []string
	seen := map[string]bool{}
	for i := len(evs) - 1; i >= 0 && len(out) < maxEvents; i-- {
		e := evs[i]
		line := e.Reason + ": " + oneLine(e.Message)
		if seen[line] {
			continue
		}
		seen[line] = true
		count := max(e.Count, 1)
		if e.Series != nil {
			count = max(count, e.Series.Count)
		}
		if count > 1 {
			line += fmt.Sprintf(" (x%d)", count)
		}
		out = append(out, line)
	}
	return reverse(out)
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// lastEvent returns the message of the newest event with reason ("" for
// any), without its reason and count.
func lastEvent(events []string, reason string) string {
	for i := len(events) - 1; i >= 0; i-- {
		r, msg, _ := strings.Cut(events[i], ": ")
		if reason == "" || r == reason {
			if j := strings.LastIndex(msg, " (x"); j > 0 && strings.HasSuffix(msg, ")") {
				msg = msg[:j]
			}
			return msg
		}
	}
	return ""
}

// pullErrorFromEvents reads the pull error of a container from the pod's
// events, for when its status only says "Back-off pulling image".
func (d *Deployer) pullErrorFromEvents(ctx context.Context, p *corev1.Pod, container string) string {
	ctx, cancel := context.WithTimeout(ctx, diagTimeout)
	defer cancel()
	image := containerImage(p, container)
	for _, e := range reverse(d.podEvents(ctx, p)) {
		r, msg, _ := strings.Cut(e, ": ")
		if i := strings.LastIndex(msg, " (x"); i > 0 && strings.HasSuffix(msg, ")") {
			msg = msg[:i]
		}
		if r == "Failed" && (image == "" || strings.Contains(msg, image)) && classifyPull(msg) != ReasonImagePull {
			return msg
		}
	}
	return ""
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// nodePlatform returns os/arch of the node, or "of the cluster" when unknown.
func (d *Deployer) nodePlatform(ctx context.Context, node string) string {
	if node != "" {
		if n, err := d.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err == nil {
			if i := n.Status.NodeInfo; i.OperatingSystem != "" {
				return i.OperatingSystem + "/" + i.Architecture
			}
		}
	}
	return "(see kubectl get nodes -o wide)"
}

// shortPullError keeps the informative end of a container runtime's pull
// error: what was asked and what came back, without the chain of "failed
// to ..." that wraps it.
func shortPullError(msg string) string {
	msg = oneLine(msg)
	if _, rest, ok := strings.Cut(msg, "ErrImagePull: "); ok {
		msg = rest
	}
	parts := strings.Split(msg, ": ")
	start := 0
	for j := len(parts) - 1; j >= 0; j-- {
		if p := parts[j]; strings.HasPrefix(p, "failed to ") || strings.HasPrefix(p, "rpc error") || strings.HasPrefix(p, "code = ") {
			start = j + 1
			break
		}
	}
	return strings.Join(parts[min(start, len(parts)-1):], ": ")
}

func containerImage(p *corev1.Pod, name string) string {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
