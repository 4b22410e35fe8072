package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/ui"
)

// Delete uninstalls the app's release and waits until its pods are gone.
type Delete struct {
	Dir            string // the app's directory (holds draft.toml)
	Environment    string
	Release        string // overrides draft.toml's name
	Kube           kube.Options
	AllowContexts  []string
	IgnoreNotFound bool
	UI             *ui.UI
	Deps           Deps // the cluster and the deployer (zero: the real ones)
}

// DeleteResult says what Delete did.
type DeleteResult struct {
	Release, Namespace string
	NotFound           bool // there was no such release (and IgnoreNotFound was set)
}

// Run uninstalls, then runs the cleanup tasks.
func (d *Delete) Run(ctx context.Context) (*DeleteResult, error) {
	dir, err := appDir(d.Dir)
	if err != nil {
		return nil, err
	}
	release, ko, allowed := d.Release, d.Kube, d.AllowContexts
	var tasks *config.Tasks
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err == nil || d.Release == "" {
		cfg, env, err := loadEnvironment(dir, d.Environment)
		if err != nil {
			return nil, err
		}
		release = cmp.Or(release, env.Name)
		ko.Context = cmp.Or(ko.Context, env.KubeContext)
		ko.Namespace = cmp.Or(ko.Namespace, env.Namespace)
		allowed = append(append([]string{}, allowed...), env.AllowContexts...)
		if tasks, err = config.LoadTasks(dir, cfg.Tasks); err != nil {
			return nil, err
		}
	}
	ko.Check = func(c *kube.Cluster) error { return kube.CheckLocal(c, allowed) }
	cluster, err := d.Deps.resolve(ctx, ko)
	if err != nil {
		return nil, err
	}
	dep, err := d.Deps.deployer(cluster)
	if err != nil {
		return nil, err
	}
	res := &DeleteResult{Release: release, Namespace: cluster.Namespace}
	d.UI.Status("deleting release %s in namespace %s and waiting for its pods to go", release, cluster.Namespace)
	err = dep.Uninstall(ctx, release, true)
	d.UI.ClearStatus()
	switch {
	case errors.Is(err, deploy.ErrNotFound) && d.IgnoreNotFound:
		res.NotFound = true
	case errors.Is(err, deploy.ErrNotFound):
		return nil, fmt.Errorf("there is no release %s in namespace %s (draft delete --ignore-not-found makes this a success)", release, cluster.Namespace)
	case err != nil:
		return nil, err
	}
	if tasks != nil {
		if err := runHostTasks(ctx, d.UI, dir, "cleanup", tasks.Cleanup, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}
