package main

// The environment's storage: a StorageClass served by this provisioner,
// which gives each claim of it a hostPath volume in a folder of its own on
// this machine (a single-node cluster), and removes the folder when the
// volume is released. It polls once a second: a test cluster has a handful
// of claims.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const provisionedBy = "draft-env/hostpath"

func newProvisionerCommand() *cobra.Command {
	var kubeconfig, dir, class string
	cmd := &cobra.Command{
		Use:   "hostpath-provisioner",
		Short: "provision hostPath volumes for the claims of a StorageClass",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := &provisioner{cs: cs, dir: dir, class: class}
			for ctx.Err() == nil {
				if err := p.once(ctx); err != nil && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "hostpath-provisioner:", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "the kubeconfig of the cluster")
	cmd.Flags().StringVar(&dir, "dir", "", "the folder that holds the volumes")
	cmd.Flags().StringVar(&class, "class", "standard", "the StorageClass whose claims it serves")
	return cmd
}

type provisioner struct {
	cs    kubernetes.Interface
	dir   string
	class string
}

// once provisions the pending claims of the class and removes the released
// volumes it made.
func (p *provisioner) once(ctx context.Context) error {
	pvcs, err := p.cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range pvcs.Items {
		c := &pvcs.Items[i]
		if c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" || c.DeletionTimestamp != nil ||
			c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != p.class {
			continue
		}
		if err := p.provision(ctx, c); err != nil {
			fmt.Fprintf(os.Stderr, "hostpath-provisioner: %s/%s: %v\n", c.Namespace, c.Name, err)
		}
	}
	pvs, err := p.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, v := range pvs.Items {
		if v.Annotations["pv.kubernetes.io/provisioned-by"] != provisionedBy || v.Status.Phase != corev1.VolumeReleased ||
			v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || v.Spec.HostPath == nil {
			continue
		}
		if err := os.RemoveAll(v.Spec.HostPath.Path); err != nil {
			return err
		}
		if err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		fmt.Fprintf(os.Stderr, "hostpath-provisioner: removed %s (%s)\n", v.Name, v.Spec.HostPath.Path)
	}
	return nil
}

// provision makes a folder and a volume bound to the claim.
func (p *provisioner) provision(ctx context.Context, c *corev1.PersistentVolumeClaim) error {
	name := "pvc-" + string(c.UID)
	path := filepath.Join(p.dir, c.Namespace+"-"+c.Name+"-"+string(c.UID))
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o777); err != nil { // any pod user may write it
		return err
	}
	hostPathType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionedBy}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.class,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &hostPathType}},
		},
	}
	if _, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	fmt.Fprintf(os.Stderr, "hostpath-provisioner: %s/%s -> %s (%s)\n", c.Namespace, c.Name, name, path)
	return nil
}
