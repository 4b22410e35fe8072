package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/kube"
)

// Target is what a command acts on: an app's directory and draft.toml
// environment, its release, and the cluster it runs on. Up, Delete, Connect
// and Logs embed it, and the CLI gives each of them the same flags for it.
// Flags win over draft.toml: a context or namespace given here over the
// environment's kube-context and namespace, and AllowContexts adds to its
// allow-contexts.
type Target struct {
	Dir           string       // the app's directory (holds draft.toml); "" for the current one
	Environment   string       // the draft.toml environment; "" for development
	Release       string       // the release; "" for the environment's name
	Kube          kube.Options // kubeconfig, context and namespace
	AllowContexts []string     // contexts that may be used though they are not local clusters
	// Cluster, when set, is used as it is: Kube and AllowContexts are then
	// not read. A Target resolves its cluster once: the first command that
	// needs it sets Cluster, and later ones (each up of a watch, the connect
	// of --auto-connect) reuse it while draft.toml names the same context
	// and namespace.
	Cluster *kube.Cluster
	Deps    Deps // how the cluster, deployer and Docker engine are reached (zero: the real ones)

	resolvedFor string // the options Cluster was resolved for ("" when it was given)
}

// app is a Target's draft.toml read: the directory, the file, the
// environment and the release.
type app struct {
	dir     string
	cfg     *config.Config
	env     *config.Environment
	release string
}

// load reads the app's draft.toml and picks the environment; there must be
// a release name.
func (t *Target) load() (*app, error) {
	a, err := t.read()
	if err != nil {
		return nil, err
	}
	if a.cfg.IsProject() {
		return nil, fmt.Errorf("%s is a project of several apps (%s): run this in an app's folder, or one that acts on a project (draft up, draft connect, draft delete)", a.cfg.Path, strings.Join(slices.Sorted(maps.Keys(a.cfg.Apps)), ", "))
	}
	if a.release == "" {
		return nil, fmt.Errorf("%s: environments.%s has no name: set name = \"my-app\"", a.cfg.Path, cmp.Or(t.Environment, config.DefaultEnvironment))
	}
	return a, nil
}

// read reads the draft.toml in the target's folder, an app's or a
// project's, and picks the environment.
func (t *Target) read() (*app, error) {
	dir, err := appDir(t.Dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, config.FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no draft.toml in %s: run draft create first", dir)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	env, err := cfg.Environment(t.Environment)
	if err != nil {
		return nil, err
	}
	return &app{dir: dir, cfg: cfg, env: env, release: cmp.Or(t.Release, env.Name)}, nil
}

// resolve finds the cluster for the app (env nil: without a draft.toml) and
// checks that it is a local one or allowed; see Cluster for when it is
// reused.
func (t *Target) resolve(ctx context.Context, env *config.Environment) (*kube.Cluster, error) {
	ko, allowed := t.Kube, slices.Clone(t.AllowContexts)
	if env != nil {
		ko.Context = cmp.Or(ko.Context, env.KubeContext)
		ko.Namespace = cmp.Or(ko.Namespace, env.Namespace)
		allowed = append(allowed, env.AllowContexts...)
	}
	key := fmt.Sprintf("%q %q %q %q", ko.Kubeconfig, ko.Context, ko.Namespace, allowed)
	if t.Cluster != nil && (t.resolvedFor == "" || t.resolvedFor == key) {
		return t.Cluster, nil
	}
	ko.Check = func(c *kube.Cluster) error { return kube.CheckLocal(c, allowed) }
	c, err := t.Deps.resolve(ctx, ko)
	if err != nil {
		return nil, err
	}
	t.Cluster, t.resolvedFor = c, key
	return c, nil
}

// appDir makes dir absolute and checks it is a directory.
func appDir(dir string) (string, error) {
	abs, err := filepath.Abs(cmp.Or(dir, "."))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory: give the application's directory, or run draft inside it", dir)
	}
	return abs, nil
}

// Args sets the target from a command's arguments: one folder (DIR), or,
// where the target's folder is a project's root, the names of its apps and
// services (returned). A name wins over a folder of the same name: at a
// project's root, draft up api ups the app api and what it needs.
func (t *Target) Args(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if a, err := t.loadProject(); err == nil && a != nil {
		all := true
		for _, n := range args {
			_, isApp := a.cfg.Apps[n]
			_, isService := a.cfg.Services[n]
			all = all && (isApp || isService)
		}
		if all {
			return args, nil
		}
		if len(args) > 1 {
			_, err := a.cfg.Closure(args...) // says which name is unknown
			return nil, err
		}
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("%s: give one folder, or, at a project's root, the names of its apps", strings.Join(args, " "))
	}
	t.Dir = args[0]
	return nil, nil
}
