package connect

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

const testNS = "apps"

var testLabels = testkit.PodLabels

func port(name string, n int32) corev1.ContainerPort { return testkit.Port(name, n) }

// pod is a pod of the release created age seconds after a fixed time.
func pod(name string, age int, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	return testkit.Pod(testNS, name, age, ready, ports...)
}

func setReady(p *corev1.Pod, ready bool) { testkit.SetReady(p, ready) }

func deleting(p *corev1.Pod) *corev1.Pod {
	now := metav1.Now()
	p.DeletionTimestamp = &now
	return p
}

func TestTarget(t *testing.T) {
	http := port("http", 8080)
	pending := pod("pending", 9, false, http)
	pending.Status.Phase = corev1.PodPending
	tests := []struct {
		name string
		pods []*corev1.Pod
		port int
		want string
	}{
		{"none", nil, 8080, ""},
		{"the only Ready pod", []*corev1.Pod{pod("a", 1, true, http)}, 8080, "a"},
		{"the newest Ready pod", []*corev1.Pod{pod("a", 1, true, http), pod("b", 2, true, http)}, 8080, "b"},
		{"a newer pod not yet Ready", []*corev1.Pod{pod("a", 1, true, http), pod("b", 2, false, http)}, 8080, "a"},
		{"a Ready pod being deleted", []*corev1.Pod{deleting(pod("a", 1, true, http)), pod("b", 2, false, http)}, 8080, ""},
		{"the old pod deleted, the new one Ready", []*corev1.Pod{deleting(pod("a", 1, true, http)), pod("b", 2, true, http)}, 8080, "b"},
		{"a pending pod", []*corev1.Pod{pending}, 8080, ""},
		{"the pod that declares the port", []*corev1.Pod{pod("app", 1, true, http), pod("redis", 2, true, port("redis", 6379))}, 8080, "app"},
		{"an undeclared port goes to the newest Ready pod", []*corev1.Pod{pod("app", 1, true, http), pod("redis", 2, true, port("redis", 6379))}, 7000, "redis"},
		{"a declared port whose pods are not Ready waits", []*corev1.Pod{pod("app", 1, false, http), pod("redis", 2, true, port("redis", 6379))}, 8080, ""},
		{"same age: by name", []*corev1.Pod{pod("a", 1, true, http), pod("b", 1, true, http)}, 8080, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if p := target(tt.pods, tt.port, nil); p != nil {
				got = p.Name
			}
			if got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLive(t *testing.T) {
	got := kube.Live([]*corev1.Pod{pod("a", 1, true), deleting(pod("b", 3, true)), pod("c", 2, false)})
	if len(got) != 2 || got[0].Name != "c" || got[1].Name != "a" {
		t.Errorf("live = %v, want c, a", names(got))
	}
	if got := kube.Live([]*corev1.Pod{deleting(pod("b", 3, true))}); len(got) != 1 {
		t.Errorf("live of pods all being deleted = %v, want them all", names(got))
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
