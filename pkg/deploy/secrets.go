package deploy

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// managedByDraft marks the objects draft makes outside of a release (the
// Secrets of a project's services).
const managedByDraft = "draft"

// EnsureSecret returns the data of the Secret name in the deployer's
// namespace, creating it from data() when it does not exist (created
// true). It belongs to no release, so that an uninstall or a redeploy keeps
// it; owner labels it, for Purge.
func (d *Deployer) EnsureSecret(ctx context.Context, name, owner string, data func() map[string]string) (map[string]string, bool, error) {
	secrets := d.client.CoreV1().Secrets(d.namespace)
	if s, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil {
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		for k, v := range s.StringData {
			out[k] = v
		}
		return out, false, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("reading the Secret %s in namespace %s: %w", name, d.namespace, err)
	}
	values := data()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.namespace, Labels: map[string]string{
			instanceLabel: owner, "app.kubernetes.io/managed-by": managedByDraft,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	for k, v := range values {
		s.Data[k] = []byte(v)
	}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) { // made meanwhile: read that one
			return d.EnsureSecret(ctx, name, owner, data)
		}
		return nil, false, fmt.Errorf("creating the Secret %s in namespace %s: %w", name, d.namespace, err)
	}
	return values, true, nil
}

// Purge deletes what a release's uninstall keeps: its volume claims (kept
// by helm.sh/resource-policy) and the Secrets draft made for it. It returns
// their names, as kind/name.
func (d *Deployer) Purge(ctx context.Context, release string) ([]string, error) {
	sel := metav1.ListOptions{LabelSelector: instanceLabel + "=" + release}
	var gone []string
	pvcs, err := d.client.CoreV1().PersistentVolumeClaims(d.namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("listing the volume claims of %s: %w", release, err)
	}
	for _, p := range pvcs.Items {
		if err := d.client.CoreV1().PersistentVolumeClaims(d.namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return gone, fmt.Errorf("deleting the volume claim %s: %w", p.Name, err)
		}
		gone = append(gone, "persistentvolumeclaim/"+p.Name)
	}
	secrets, err := d.client.CoreV1().Secrets(d.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.LabelSelector + ",app.kubernetes.io/managed-by=" + managedByDraft})
	if err != nil {
		return gone, fmt.Errorf("listing the Secrets of %s: %w", release, err)
	}
	for _, s := range secrets.Items {
		if err := d.client.CoreV1().Secrets(d.namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return gone, fmt.Errorf("deleting the Secret %s: %w", s.Name, err)
		}
		gone = append(gone, "secret/"+s.Name)
	}
	return gone, nil
}
