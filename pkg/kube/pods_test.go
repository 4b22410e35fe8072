package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/internal/testkit"
)

const ns = "apps"

// A PodWatch lists the selector's pods at Start, tells its handler of each
// (listed ones as initial), and wakes its waiters at every change.
func TestPodWatch(t *testing.T) {
	a := testkit.Pod(ns, "a", 1, true)
	other := testkit.Pod(ns, "other", 1, true)
	other.Labels = map[string]string{"app.kubernetes.io/instance": "other"}
	cs := fake.NewClientset(a, other)
	w := NewPodWatch(cs, ns, "app.kubernetes.io/instance=web")
	var mu sync.Mutex
	var seen []string
	w.On(PodHandler{
		Add: func(p *corev1.Pod, initial bool) {
			mu.Lock()
			seen = append(seen, p.Name+map[bool]string{true: " listed", false: " added"}[initial])
			mu.Unlock()
		},
		Remove: func(p *corev1.Pod) { mu.Lock(); seen = append(seen, p.Name+" removed"); mu.Unlock() },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done, err := w.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pods, changed := w.Pods()
	if len(pods) != 1 || pods[0].Name != "a" {
		t.Fatalf("pods at start: %d", len(pods))
	}
	testkit.CreatePod(t, cs, testkit.Pod(ns, "b", 2, false))
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change told for a new pod")
	}
	if err := cs.CoreV1().Pods(ns).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(seen, ", ")
		mu.Unlock()
		if got == "a listed, b added, a removed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler saw %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the informer did not stop with its context")
	}
}

func TestLiveAndReady(t *testing.T) {
	old, young := testkit.Pod(ns, "old", 1, true), testkit.Pod(ns, "young", 5, false)
	gone := testkit.Pod(ns, "gone", 9, true)
	now := metav1.Now()
	gone.DeletionTimestamp = &now
	got := Live([]*corev1.Pod{old, gone, young})
	if len(got) != 2 || got[0].Name != "young" || got[1].Name != "old" {
		t.Errorf("Live = %v", got)
	}
	if all := Live([]*corev1.Pod{gone}); len(all) != 1 {
		t.Errorf("Live of pods all being deleted = %d pods, want them all", len(all))
	}
	if !PodReady(old) || PodReady(young) || PodReady(&corev1.Pod{}) {
		t.Error("PodReady is wrong")
	}
}

// WatchVacancy closes its channel once the selector has no pod and no
// workload; a Deployment scaled to zero is said once and waited on.
func TestWatchVacancy(t *testing.T) {
	zero := int32(0)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: testkit.PodLabels}, Spec: appsv1.DeploymentSpec{Replicas: &zero}}
	cs := fake.NewClientset(dep)
	w := NewPodWatch(cs, ns, "app.kubernetes.io/instance=web")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var said []string
	gone := WatchVacancy(ctx, cs, ns, "app.kubernetes.io/instance=web", w, 20*time.Millisecond, func(m string) { mu.Lock(); said = append(said, m); mu.Unlock() })
	time.Sleep(200 * time.Millisecond)
	select {
	case <-gone:
		t.Fatal("gone while a Deployment (scaled to zero) is left")
	default:
	}
	mu.Lock()
	if len(said) != 1 || !strings.Contains(said[0], "scaled to zero") {
		t.Errorf("said %q, want the scaled-to-zero note once", said)
	}
	mu.Unlock()
	if err := cs.AppsV1().Deployments(ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("not gone after the Deployment was deleted")
	}
}
