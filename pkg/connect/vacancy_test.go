package connect

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/pkg/kube"
)

func deployment(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS, Labels: testLabels},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
}

func quickVacancy(o *options) { o.vacancy = 50 * time.Millisecond }

// vacantEvents collects what a Forwarder says of its missing pods.
func vacantEvents() (Option, func() []string) {
	var mu sync.Mutex
	var said []string
	return WithEvents(func(e Event) {
			if e.Kind == "vacant" {
				mu.Lock()
				said = append(said, e.Message)
				mu.Unlock()
			}
		}), func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), said...)
		}
}

// The release deleted (its Deployment, then its pod): with WithStopWhenGone
// Run returns kube.ErrGone; a pod deleted while its Deployment stays does not.
func TestForwarderStopsWhenTheReleaseIsGone(t *testing.T) {
	fp := newFakePods(t, "a")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)), deployment(1))
	_, m, done := startForwarder(t, cs, fp, WithStopWhenGone(), quickVacancy)
	eventually(t, m, "a")
	ctx := context.Background()

	// kubectl delete pod: the Deployment is there, so is the forwarder
	if err := cs.CoreV1().Pods(testNS).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while the Deployment is there", err)
	case <-time.After(300 * time.Millisecond):
	}
	// helm uninstall: the Deployment goes
	if err := cs.AppsV1().Deployments(testNS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for startForwarder's cleanup
		if !errors.Is(err, kube.ErrGone) {
			t.Fatalf("Run = %v, want kube.ErrGone", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not notice that the release is gone")
	}
}

// Scaled to zero: said once, and the forwarder waits for a pod.
func TestForwarderSaysScaledToZero(t *testing.T) {
	fp := newFakePods(t, "a", "b")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)), deployment(0))
	events, said := vacantEvents()
	_, m, done := startForwarder(t, cs, fp, WithStopWhenGone(), quickVacancy, events)
	eventually(t, m, "a")
	if err := cs.CoreV1().Pods(testNS).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while scaled to zero", err)
	case <-time.After(400 * time.Millisecond):
	}
	got := strings.Join(said(), "\n")
	if strings.Count(got, "scaled to zero") != 1 {
		t.Errorf("said %q, want 'scaled to zero' once", got)
	}
	// scaled up again: the new pod serves
	create(t, cs, pod("b", 2, true, port("http", testPort)))
	eventually(t, m, "b")
}

// Without WithStopWhenGone (watch mode), a deleted release is said and
// waited out.
func TestForwarderWaitsWhenGoneInWatchMode(t *testing.T) {
	fp := newFakePods(t, "a")
	cs := fake.NewClientset(pod("a", 1, true, port("http", testPort)))
	events, said := vacantEvents()
	_, _, done := startForwarder(t, cs, fp, quickVacancy, events)
	if err := cs.CoreV1().Pods(testNS).Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	case <-time.After(400 * time.Millisecond):
	}
	if got := said(); len(got) != 1 || !strings.Contains(got[0], "waiting for the next deploy") {
		t.Errorf("said %q", got)
	}
}
