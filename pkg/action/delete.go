package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/ui"
)

// Delete uninstalls the app's release and waits until its pods are gone.
// Without a draft.toml, Release names the release.
type Delete struct {
	Target
	IgnoreNotFound bool
	UI             *ui.UI
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
	release := d.Release
	var env *config.Environment
	var tasks *config.Tasks
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); err == nil || d.Release == "" {
		a, err := d.load()
		if err != nil {
			return nil, err
		}
		release, env = a.release, a.env
		if tasks, err = config.LoadTasks(dir, a.cfg.Tasks); err != nil {
			return nil, err
		}
	}
	cluster, err := d.resolve(ctx, env)
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
