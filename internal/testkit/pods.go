package testkit

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PodLabels are the labels of Pod's pods: those of a release named web.
var PodLabels = map[string]string{"app.kubernetes.io/instance": "web", "app.kubernetes.io/name": "web"}

// Port is a TCP container port.
func Port(name string, n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
}

// Pod is a running pod of the release web in namespace, created age seconds
// after a fixed time, its one container (web) declaring ports.
func Pod(namespace, name string, age int, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, UID: types.UID("uid-" + name), Labels: PodLabels,
			CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, age, 0, time.UTC)),
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Ports: ports}}},
	}
	SetReady(p, ready)
	return p
}

// SetReady makes the pod running, its Ready condition ready.
func SetReady(p *corev1.Pod, ready bool) {
	p.Status.Phase = corev1.PodRunning
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
}

// CreatePod creates the pod in its namespace.
func CreatePod(t testing.TB, cs kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// UpdatePod updates the pod in its namespace.
func UpdatePod(t testing.TB, cs kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(p.Namespace).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
