package kube

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrGone is returned by those that follow a selector's pods (connect's
// forwarding and the log stream, when asked to stop then) when the selector has no pod and no workload left that could make one: the
// release was deleted (draft delete, helm uninstall).
var ErrGone = errors.New("no pod and no workload match the selector any more")

// VacancyDelay is how long the selector must have no pod before draft looks
// for its workloads (a redeploy or a kubectl delete pod leaves it without a
// pod for a moment; the workload is there all along).
const VacancyDelay = 2 * time.Second

// WatchVacancy follows w's pods. When there has been none for delay, it
// looks for the workloads that the selector matches (Deployments,
// StatefulSets, DaemonSets, ReplicaSets that no controller owns; those being
// deleted do not count): none left, it returns (closing the channel); all
// scaled to zero, it says so once and goes on waiting. It looks again every
// delay while there is no pod.
func WatchVacancy(ctx context.Context, client kubernetes.Interface, namespace, selector string, w *PodWatch, delay time.Duration, say func(string)) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		said := ""
		for {
			all, changed := w.Pods()
			if len(all) > 0 {
				said = ""
				select {
				case <-changed:
					continue
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			n, zero, err := workloads(ctx, client, namespace, selector)
			switch {
			case err != nil: // cannot tell (forbidden, a network error): wait on
			case n == 0:
				close(gone)
				return
			case zero && said != "zero":
				say("no pod runs: the workloads are scaled to zero; waiting for a pod (Ctrl-C to stop)")
				said = "zero"
			}
		}
	}()
	return gone
}

// workloads counts the workloads the selector matches, and tells whether
// all of them are scaled to zero.
func workloads(ctx context.Context, client kubernetes.Interface, namespace, selector string) (n int, zero bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	o := metav1.ListOptions{LabelSelector: selector}
	apps := client.AppsV1()
	zero = true
	count := func(deleting *metav1.Time, replicas *int32) {
		if deleting != nil {
			return
		}
		n++
		zero = zero && replicas != nil && *replicas == 0
	}
	ds, err := apps.Deployments(namespace).List(ctx, o)
	if err != nil {
		return 0, false, err
	}
	for _, d := range ds.Items {
		count(d.DeletionTimestamp, d.Spec.Replicas)
	}
	ss, err := apps.StatefulSets(namespace).List(ctx, o)
	if err != nil {
		return 0, false, err
	}
	for _, s := range ss.Items {
		count(s.DeletionTimestamp, s.Spec.Replicas)
	}
	dss, err := apps.DaemonSets(namespace).List(ctx, o)
	if err != nil {
		return 0, false, err
	}
	one := int32(1)
	for _, d := range dss.Items {
		count(d.DeletionTimestamp, &one)
	}
	rss, err := apps.ReplicaSets(namespace).List(ctx, o)
	if err != nil {
		return 0, false, err
	}
	for _, r := range rss.Items {
		if metav1.GetControllerOf(&r) == nil {
			count(r.DeletionTimestamp, r.Spec.Replicas)
		}
	}
	return n, zero, nil
}
