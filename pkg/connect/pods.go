package connect

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/draftk8s/draft/pkg/kube"
)

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
		if bestAny == nil || kube.Newer(p, bestAny) {
			bestAny = p
		}
		if port != 0 && declares(p, port) && (best == nil || kube.Newer(p, best)) {
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
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && kube.PodReady(p)
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
