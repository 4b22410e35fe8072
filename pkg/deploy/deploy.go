package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// ErrNotFound is matched (errors.Is) by the errors of Current, Uninstall and
// Rollback when the release does not exist in the namespace.
var ErrNotFound = errors.New("release not found")

// Defaults of a Deployer, changed with its options.
const (
	DefaultTimeout    = 2 * time.Minute  // the rollout must be Ready within this
	DefaultProbeGrace = 20 * time.Second // a restarted container's readiness probe failing longer than this is a failure
	maxHistory        = 10               // revisions kept per release
	rollbackTimeout   = 30 * time.Second // rolling back after Ctrl-C, with a fresh context
)

// Deployer deploys charts as Helm releases in one namespace. Its methods must
// not be called concurrently (Helm's action.Configuration is not safe for
// that); they serialize on a lock.
type Deployer struct {
	mu         sync.Mutex
	cfg        *action.Configuration
	client     kubernetes.Interface
	namespace  string
	timeout    time.Duration
	probeGrace time.Duration
	// unschedulableGrace is how long a pod may stay unschedulable before it is
	// a failure: the scheduler retries, and a node may be coming up.
	unschedulableGrace time.Duration
	// pullGrace is how long an image pull may fail for a reason that may
	// pass (the registry does not answer) before it is a failure.
	pullGrace time.Duration
	now       func() time.Time
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithActionConfig makes the Deployer use cfg instead of initializing Helm's
// configuration from the getter: for tests, an action.Configuration with
// storage.Init(driver.NewMemory()) and a fake KubeClient from helm's kube/fake.
func WithActionConfig(cfg *action.Configuration) Option {
	return func(d *Deployer) { d.cfg = cfg }
}

// WithClient makes the Deployer watch rollouts through c (the cluster's
// client, or client-go's fake clientset in tests) instead of one made from the
// getter.
func WithClient(c kubernetes.Interface) Option {
	return func(d *Deployer) { d.client = c }
}

// WithTimeout sets how long a rollout (and an uninstall) may take when the
// request does not say; DefaultTimeout by default.
func WithTimeout(t time.Duration) Option {
	return func(d *Deployer) { d.timeout = t }
}

// WithProbeGrace sets how long a container that has restarted may run with
// its readiness probe failing before the rollout is declared failed (the
// liveness probe's initial delay and the startup probe's budget when they are
// longer); DefaultProbeGrace by default. A container that never restarted is
// starting, and has the whole timeout.
func WithProbeGrace(t time.Duration) Option {
	return func(d *Deployer) { d.probeGrace = t }
}

// New returns a Deployer for the releases of namespace, talking to the
// cluster of getter (a kube.Cluster's Getter). Releases are stored as Helm's
// default does, in Secrets, so that helm sees them.
func New(getter genericclioptions.RESTClientGetter, namespace string, opts ...Option) (*Deployer, error) {
	if namespace == "" {
		namespace = "default"
	}
	d := &Deployer{
		namespace:          namespace,
		timeout:            DefaultTimeout,
		probeGrace:         DefaultProbeGrace,
		unschedulableGrace: 2 * time.Second,
		pullGrace:          30 * time.Second,
		now:                time.Now,
	}
	for _, o := range opts {
		o(d)
	}
	if d.cfg == nil {
		if getter == nil {
			return nil, errors.New("deploy.New needs a RESTClientGetter or WithActionConfig")
		}
		d.cfg = new(action.Configuration)
		if err := d.cfg.Init(getter, namespace, "secret", quiet); err != nil {
			return nil, fmt.Errorf("setting up Helm for namespace %s: %w", namespace, err)
		}
		// Helm's client puts objects without a namespace in the getter's
		// namespace; the release's is the one that counts.
		if kc, ok := d.cfg.KubeClient.(*kube.Client); ok {
			kc.Namespace = namespace
		}
	}
	if d.cfg.Log == nil {
		d.cfg.Log = quiet
	}
	if d.client == nil {
		if getter == nil {
			return nil, errors.New("deploy.New needs a RESTClientGetter or WithClient")
		}
		rc, err := getter.ToRESTConfig()
		if err != nil {
			return nil, fmt.Errorf("reading the cluster's configuration: %w", err)
		}
		if d.client, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("making a client for %s: %w", rc.Host, err)
		}
	}
	return d, nil
}

// quiet drops Helm's debug messages: draft says what happens itself.
func quiet(string, ...any) {}

// Status is what a release has deployed.
type Status struct {
	Release   string
	Namespace string
	Revision  int
	// Status is Helm's: deployed, or failed, pending-upgrade... when no
	// revision is deployed.
	Status      string
	Description string
	Chart       string // name-version
	Updated     time.Time
	// Values are the values the revision was deployed with (not the chart's
	// defaults): draft's image.repository, image.tag, image.digest among them.
	Values map[string]any
}

// Value returns the value at a dotted path of s.Values ("image.digest") as a
// string, "" when it is not there.
func (s *Status) Value(path string) string {
	var cur any = s.Values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	if cur == nil {
		return ""
	}
	if s, ok := cur.(string); ok {
		return s
	}
	return fmt.Sprint(cur)
}

// Current returns the deployed revision of release, or, when none is
// deployed, its latest revision (whose Status says why). A release that does
// not exist is an error matching ErrNotFound.
func (d *Deployer) Current(ctx context.Context, name string) (*Status, error) {
	h, err := d.readHistory(ctx, name)
	if err != nil {
		return nil, err
	}
	rel := h.deployed
	if rel == nil {
		rel = h.last
	}
	return statusOf(rel), nil
}

func statusOf(rel *release.Release) *Status {
	s := &Status{
		Release:   rel.Name,
		Namespace: rel.Namespace,
		Revision:  rel.Version,
		Values:    rel.Config,
	}
	if rel.Info != nil {
		s.Status = rel.Info.Status.String()
		s.Description = rel.Info.Description
		s.Updated = rel.Info.LastDeployed.Time
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		s.Chart = rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
	}
	return s
}

// History returns the revisions of release, oldest first.
func (d *Deployer) History(ctx context.Context, name string) ([]*Status, error) {
	h, err := d.readHistory(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]*Status, len(h.all))
	for i, r := range h.all {
		out[i] = statusOf(r)
	}
	return out, nil
}

// releaseHistory is a release's revisions, read with one request.
type releaseHistory struct {
	all      []*release.Release // oldest first
	last     *release.Release
	deployed *release.Release // the newest deployed revision, or nil
}

// readHistory is history for the exported readers: under the lock, unless
// ctx is over. The revisions it returns are read-only copies.
func (d *Deployer) readHistory(ctx context.Context, name string) (*releaseHistory, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.history(name)
}

// history reads the revisions of name; none is an error matching ErrNotFound.
func (d *Deployer) history(name string) (*releaseHistory, error) {
	rels, err := d.cfg.Releases.History(name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("reading the history of release %s in namespace %s: %w", name, d.namespace, err)
	}
	if len(rels) == 0 {
		return nil, &notFoundError{release: name, namespace: d.namespace}
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	h := &releaseHistory{all: rels, last: rels[len(rels)-1]}
	for _, r := range rels {
		if r.Info != nil && r.Info.Status == release.StatusDeployed {
			h.deployed = r
		}
	}
	return h, nil
}

type notFoundError struct{ release, namespace string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("release %s does not exist in namespace %s", e.release, e.namespace)
}

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }
