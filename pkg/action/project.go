package action

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/pack"
	"github.com/draftk8s/draft/pkg/ui"
)

// ProjectUp ups a project: a root draft.toml of several apps and the
// services they need. Each app is built (a few at once) and deployed as its
// own release, after what it needs is ready; each service is a release of
// its own chart, with a Secret of its password made once. An app with
// nothing changed gets no new revision; one that fails is rolled back alone
// (Up does that), and the others keep their new versions.
type ProjectUp struct {
	// Up is what every app's up takes: the root's Target (Dir is the
	// project's root), Registry, Builder, Timeout, UI, Events, Settings.
	Up Up
	// Only ups these apps and services and what they need; empty for all.
	Only []string
	// Parallel is how many apps build at once (0: 2).
	Parallel int

	lives map[string]*liveUpdate // watch mode's live update, by app (ProjectWatch)
}

// ProjectResult is what a ProjectUp did, by app and service, in deploy
// order.
type ProjectResult struct {
	Order    []string
	Apps     map[string]*UpResult
	Services map[string]*ServiceResult
	Failed   map[string]error
}

// ServiceResult is what the up of a service did.
type ServiceResult struct {
	Release   string
	Revision  int
	Unchanged bool
	Created   []string // the Secrets made now (the first up)
}

// project is a project's root read, with its cluster.
type project struct {
	*app
	cluster *kube.Cluster
	names   []string // what this run ups, in deploy order
}

// loadProject reads the root's draft.toml; nil when it is no project's.
func (t *Target) loadProject() (*app, error) {
	a, err := t.read()
	if err != nil || !a.cfg.IsProject() {
		return nil, err
	}
	return a, nil
}

// openProject reads the project's root and, with ctx, resolves its
// cluster (once, for all its apps); an app's draft.toml is an error.
func (t *Target) openProject(ctx context.Context, resolve bool) (*app, *kube.Cluster, error) {
	a, err := t.loadProject()
	if err != nil {
		return nil, nil, err
	}
	if a == nil {
		return nil, nil, fmt.Errorf("%s is not a project's root (its draft.toml lists no [apps]): this works at the root of a project (draft create there writes one)", cmp.Or(t.Dir, "."))
	}
	if !resolve {
		return a, nil, nil
	}
	cluster, err := t.resolve(ctx, a.env)
	return a, cluster, err
}

// appTarget is the root's target t made one app's: its folder, its release
// (the app's name in the project), the project's namespace and cluster.
func (a *app) appTarget(t Target, name string, cluster *kube.Cluster) Target {
	t.Dir = filepath.Join(a.dir, filepath.FromSlash(a.cfg.Apps[name].Path))
	t.Release = name
	t.Kube.Namespace = cluster.Namespace
	t.Cluster = cluster
	return t
}

// IsProject reports whether the target's draft.toml is a project's root.
func (t *Target) IsProject() bool {
	a, err := t.loadProject()
	return err == nil && a != nil
}

// Run ups the project; its error names every app and service that failed.
func (p *ProjectUp) Run(ctx context.Context) (*ProjectResult, error) {
	pr, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	res := &ProjectResult{Order: pr.names, Apps: map[string]*UpResult{}, Services: map[string]*ServiceResult{}, Failed: map[string]error{}}
	var mu sync.Mutex
	done := map[string]chan struct{}{}
	for _, n := range pr.names {
		done[n] = make(chan struct{})
	}
	builds := make(chan struct{}, cmp.Or(p.Parallel, 2))
	var wg sync.WaitGroup
	for _, n := range pr.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[n])
			var err error
			if _, isService := pr.cfg.Services[n]; isService {
				var sr *ServiceResult
				sr, err = p.service(ctx, pr, n)
				mu.Lock()
				res.Services[n] = sr
				mu.Unlock()
			} else {
				var ur *UpResult
				ur, err = p.app(ctx, pr, n, done, builds)
				mu.Lock()
				res.Apps[n] = ur
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				res.Failed[n] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res, res.err(ctx)
}

// open reads the project and resolves its cluster, once for all its apps.
func (p *ProjectUp) open(ctx context.Context) (*project, error) {
	a, _, err := p.Up.openProject(ctx, false)
	if err != nil {
		return nil, err
	}
	pr := &project{app: a}
	if len(p.Only) > 0 {
		pr.names, err = a.cfg.Closure(p.Only...)
	} else {
		pr.names, err = a.cfg.Order()
	}
	if err != nil {
		return nil, err // a name that is none of the project's: before the cluster is asked
	}
	if pr.cluster, err = p.Up.resolve(ctx, a.env); err != nil {
		return nil, err
	}
	return pr, nil
}

// err is the run's error: which failed, and that the others are deployed.
func (r *ProjectResult) err(ctx context.Context) error {
	if len(r.Failed) == 0 {
		return nil
	}
	var names, why []string
	for _, n := range r.Order {
		if err := r.Failed[n]; err != nil {
			names = append(names, n)
			why = append(why, n+": "+err.Error())
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %s: %w", strings.Join(why, "; "), context.Canceled)
	}
	ok := len(r.Order) - len(names)
	return &ProjectError{Failed: names, Errs: r.Failed, msg: fmt.Sprintf("%d of %d failed (%s), %d deployed: %s",
		len(names), len(r.Order), strings.Join(names, ", "), ok, strings.Join(why, "; "))}
}

// ProjectError names the apps and services of a project that failed.
type ProjectError struct {
	Failed []string
	Errs   map[string]error
	msg    string
}

func (e *ProjectError) Error() string { return e.msg }

// Unwrap gives each failure, so that errors.As finds a rollout's diagnosis.
func (e *ProjectError) Unwrap() []error {
	var out []error
	for _, n := range e.Failed {
		out = append(out, e.Errs[n])
	}
	return out
}

// app ups one app of the project: its folder's draft.toml, in the
// project's namespace, with its services' connections; it builds when a
// build slot is free (the check of what changed needs none) and deploys
// once what it needs is done.
func (p *ProjectUp) app(ctx context.Context, pr *project, name string, done map[string]chan struct{}, builds chan struct{}) (*UpResult, error) {
	a := pr.cfg.Apps[name]
	u := p.Up // a copy: its own Target
	u.Target = pr.appTarget(u.Target, name, pr.cluster)
	u.Registry = cmp.Or(u.Registry, pr.env.Registry)
	u.EnvFrom = nil
	for _, n := range a.Needs {
		if _, ok := pr.cfg.Services[n]; ok {
			u.EnvFrom = append(u.EnvFrom, n+"-connection")
		}
	}
	// A build slot is taken only to build (an app whose image the
	// registry has needs none), and given back once it is pushed.
	u.Building = func(ctx context.Context) (func(), error) {
		select {
		case builds <- struct{}{}:
			return func() { <-builds }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	u.Gate = func(ctx context.Context) error {
		for _, n := range a.Needs {
			select {
			case <-done[n]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	lv := p.lives[name]
	if lv == nil {
		return u.Run(ctx)
	}
	u.live = lv // watch mode: the image with draft's agent
	lv.started()
	res, err := u.Run(ctx)
	if err == nil {
		lv.deployed()
	}
	return res, err
}

// service ups one service: its Secrets (made once), then its chart at the
// root's charts/NAME, waited for like an app's.
func (p *ProjectUp) service(ctx context.Context, pr *project, name string) (*ServiceResult, error) {
	s := pr.cfg.Services[name]
	kind := pack.ServiceKinds[s.Kind]
	dep, err := p.Up.Deps.deployer(pr.cluster)
	if err != nil {
		return nil, err
	}
	sr := &ServiceResult{Release: name}
	access := pack.Access{User: cmp.Or(s.User, kind.Access.User), Database: cmp.Or(s.Database, kind.Access.Database)}
	if s.Password != nil {
		access.Password = *s.Password
	}
	creds, created, err := dep.EnsureSecret(ctx, name+"-credentials", name, func() map[string]string {
		a := access
		if s.Password == nil {
			a.Password = password()
		}
		return kind.Server(a)
	})
	if err != nil {
		return nil, err
	}
	if created {
		sr.Created = append(sr.Created, name+"-credentials")
	}
	access.Password = creds[kind.PasswordKey] // the one made at the first up, kept since
	_, created, err = dep.EnsureSecret(ctx, name+"-connection", name, func() map[string]string { return kind.Connection(name, kind.Port, access) })
	if err != nil {
		return nil, err
	}
	if created {
		sr.Created = append(sr.Created, name+"-connection")
	}
	chartDir := filepath.Join(pr.dir, filepath.FromSlash(pack.ServiceChartDir(name)))
	p.Up.UI.Status("%s: deploying %s", name, s.Kind)
	dr, err := dep.Upgrade(ctx, deploy.Request{
		Release: name, Namespace: pr.cluster.Namespace, ChartDir: chartDir, Timeout: p.Up.Timeout,
		Values: serviceValues(s),
	})
	p.Up.UI.ClearStatus()
	if err != nil {
		return nil, err
	}
	sr.Revision, sr.Unchanged = dr.Revision, dr.Unchanged
	p.Up.emit(Event{Event: EventReady, Release: name, Revision: dr.Revision})
	return sr, nil
}

// serviceValues are the chart values draft.toml's image and storage set.
func serviceValues(s *config.Service) map[string]any {
	v := map[string]any{}
	if s.Image != "" {
		repo, tag, _ := strings.Cut(s.Image, ":")
		v["image"] = map[string]any{"repository": repo, "tag": cmp.Or(tag, "latest")}
	}
	if s.Storage != "" {
		v["storage"] = map[string]any{"size": s.Storage}
	}
	return v
}

// password is 26 random letters and digits (128 bits).
func password() string { return rand.Text() }

// ProjectSummary is one line per app and service of a project's up.
func ProjectSummary(r *ProjectResult) []string {
	var out []string
	for _, n := range r.Order {
		switch {
		case r.Failed[n] != nil:
			out = append(out, fmt.Sprintf("%s: failed: %v", n, r.Failed[n]))
		case r.Apps[n] != nil:
			out = append(out, UpSummary(r.Apps[n]))
		case r.Services[n] != nil:
			s := r.Services[n]
			what := fmt.Sprintf("%s is ready: revision %d", n, s.Revision)
			if s.Unchanged {
				what = fmt.Sprintf("nothing changed: %s runs revision %d", n, s.Revision)
			}
			if len(s.Created) > 0 {
				what += " (made its password: Secrets " + strings.Join(s.Created, ", ") + ")"
			}
			out = append(out, what)
		}
	}
	return out
}

// ProjectDelete uninstalls a project's apps, then its services, in the
// reverse of the deploy order, each waited for. The services' data (their
// volumes) and Secrets stay unless Purge.
type ProjectDelete struct {
	Target
	Only  []string // these apps and services only; empty for all
	Purge bool     // also the services' volumes and Secrets
	UI    *ui.UI
}

// ProjectDeleteResult is what a ProjectDelete did.
type ProjectDeleteResult struct {
	Namespace string
	Deleted   []string // releases uninstalled, in order
	Missing   []string // releases there were not
	Kept      []string // data kept: kind/name
	Purged    []string // data removed: kind/name
}

// Run deletes; an app that cannot be deleted stops it (what is left is said).
func (d *ProjectDelete) Run(ctx context.Context) (*ProjectDeleteResult, error) {
	a, cluster, err := d.openProject(ctx, true)
	if err != nil {
		return nil, err
	}
	names, err := a.cfg.Order()
	if err != nil {
		return nil, err
	}
	if len(d.Only) > 0 {
		if _, err := a.cfg.Closure(d.Only...); err != nil { // names them, or says which is unknown
			return nil, err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(d.Only, n) })
	}
	dep, err := d.Deps.deployer(cluster)
	if err != nil {
		return nil, err
	}
	res := &ProjectDeleteResult{Namespace: cluster.Namespace}
	for i := len(names) - 1; i >= 0; i-- {
		n := names[i]
		d.UI.Status("deleting release %s in namespace %s and waiting for its pods to go", n, cluster.Namespace)
		err := dep.Uninstall(ctx, n, true)
		d.UI.ClearStatus()
		switch {
		case errors.Is(err, deploy.ErrNotFound):
			res.Missing = append(res.Missing, n)
		case err != nil:
			return res, fmt.Errorf("%w (deleted before it: %s)", err, cmp.Or(strings.Join(res.Deleted, ", "), "nothing"))
		default:
			res.Deleted = append(res.Deleted, n)
		}
		if _, isService := a.cfg.Services[n]; !isService {
			continue
		}
		if d.Purge {
			gone, err := dep.Purge(ctx, n)
			res.Purged = append(res.Purged, gone...)
			if err != nil {
				return res, err
			}
		} else {
			res.Kept = append(res.Kept, "persistentvolumeclaim/"+n+"-data", "secret/"+n+"-credentials", "secret/"+n+"-connection")
		}
	}
	return res, nil
}
