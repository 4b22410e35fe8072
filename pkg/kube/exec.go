package kube

import (
	"context"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// ReadyPod returns the newest Ready pod matching selector in namespace.
func ReadyPod(ctx context.Context, c *Cluster, namespace, selector string) (*corev1.Pod, error) {
	pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing the pods %s in %s: %w", selector, namespace, err)
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && PodReady(&p) {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		return nil, fmt.Errorf("no Ready pod matches %s in namespace %s", selector, namespace)
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].CreationTimestamp.After(ready[j].CreationTimestamp.Time) })
	return &ready[0], nil
}

// Exec runs command in a container of a pod, as kubectl exec does, streaming
// its output. A non-zero exit is an error that says so.
func Exec(ctx context.Context, c *Cluster, namespace, pod, container string, command []string, stdout, stderr io.Writer) error {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec in %s: %w", pod, err)
	}
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr}); err != nil {
		return fmt.Errorf("running %v in %s/%s: %w", command, pod, container, err)
	}
	return nil
}
