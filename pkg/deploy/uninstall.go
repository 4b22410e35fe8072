package deploy

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// instanceLabel is the standard label of a release's objects.
const instanceLabel = "app.kubernetes.io/instance"

// Uninstall removes the release and its history, as helm uninstall does, and
// with wait, waits until its pods are gone. A release that does not exist is
// an error matching ErrNotFound.
func (d *Deployer) Uninstall(ctx context.Context, name string, wait bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, err := d.history(name)
	if err != nil {
		return err
	}
	ws, err := workloadsOf(h.last.Manifest, d.namespace)
	if err != nil {
		return err
	}
	// the pods of the release: those of its Deployments, and any other
	// carrying its instance label
	ws = append(ws, workload{namespace: d.namespace, name: name,
		selector: labels.SelectorFromSet(labels.Set{instanceLabel: name})})
	var set *informerSet
	if wait {
		// watch from before the delete, so that no deletion is missed
		if set, err = d.startInformers(ctx, ws, true); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted before release %s was uninstalled: it is as it was: %w", name, ctx.Err())
			}
			return fmt.Errorf("uninstalling release %s: %w", name, err)
		}
		defer set.stop()
	}
	if err := d.uninstallNow(name); err != nil {
		return fmt.Errorf("uninstalling release %s: %w", name, err)
	}
	if !wait {
		return nil
	}
	timer := time.NewTimer(d.timeout)
	defer timer.Stop()
	for {
		pods := map[types.UID]struct{}{} // a pod may match several workloads' selectors
		for _, w := range set.items {
			for _, p := range w.podList() {
				pods[p.UID] = struct{}{}
			}
		}
		left := len(pods)
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			pods := fmt.Sprintf("%d pods", left)
			if left == 1 {
				pods = "1 pod"
			}
			return fmt.Errorf("release %s was uninstalled, but waiting for its %s to go was interrupted (Kubernetes goes on removing them): %w", name, pods, ctx.Err())
		case err := <-set.failed:
			return fmt.Errorf("release %s was uninstalled, but its pods cannot be watched: %w", name, err)
		case <-timer.C:
			return fmt.Errorf("release %s was uninstalled, but %d of its pods were still there after %s: check with kubectl get pods -n %s -l %s=%s", name, left, d.timeout, d.namespace, instanceLabel, name)
		case <-set.changed:
		}
	}
}

// uninstallNow runs Helm's uninstall, without Helm's wait.
func (d *Deployer) uninstallNow(name string) error {
	un := action.NewUninstall(d.cfg)
	un.Timeout = d.timeout
	un.Description = "Uninstalled by draft"
	_, err := un.Run(name)
	return err
}
