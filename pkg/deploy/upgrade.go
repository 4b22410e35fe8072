package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Request is one install-or-upgrade.
type Request struct {
	Release   string
	Namespace string // "" or the Deployer's namespace
	ChartDir  string
	// Values are the release's values, merged (see MergeValues): values
	// files, then set, then draft's image values. The chart's own
	// values.yaml is merged under them by Helm.
	Values map[string]any
	// CreateNamespace creates the namespace when it does not exist; without
	// it a missing namespace is an error.
	CreateNamespace bool
	// Timeout bounds the wait for the new pods to be Ready; the Deployer's
	// (DefaultTimeout) when zero.
	Timeout time.Duration
	// Progress, when set, is called on every change of the rollout.
	Progress func(Progress)
	// NoWait returns once the manifests are applied, without waiting for the
	// new pods (draft.toml's wait = false): a rollout that fails then is not
	// diagnosed nor rolled back.
	NoWait bool
}

// Result is a successful Upgrade.
type Result struct {
	Revision  int
	Unchanged bool // nothing changed: no new revision was made
	Installed bool // the release was installed rather than upgraded
	// Recovered says what was done first to a release that an interrupted
	// run had left pending ("" when nothing was).
	Recovered string
	NotWaited bool          // Request.NoWait: applied, its pods not waited for
	Apply     time.Duration // rendering and applying the manifests (Helm)
	Ready     time.Duration // then waiting for the new pods to be Ready
}

// labelInputs, on a release's revisions, is a digest of the chart's files and
// the values it was deployed with: an upgrade with the same is a no-op.
const labelInputs = "draft-inputs"

// Upgrade installs the chart as req.Release, or upgrades the release, and
// waits until the new pods are Ready. A release left pending by an
// interrupted run is recovered first. When the chart and values are those of
// the deployed revision and its Deployments are all available, nothing is
// done (Result.Unchanged). When the pods cannot become Ready, it rolls back
// to the revision that was serving (or uninstalls a first install) and
// returns a *RolloutError with the Diagnosis. When ctx is cancelled during
// the rollout, it rolls back too and returns ctx's error, wrapped.
func (d *Deployer) Upgrade(ctx context.Context, req Request) (*Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.readRequest(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, notApplied(err)
	}
	res := &Result{}
	h, err := d.settledHistory(req.Release, res)
	if err != nil {
		return nil, err
	}
	if h != nil && h.deployed != nil && h.deployed == h.last && sameInputs(h.deployed, in.chart, in.values, in.fingerprint) && d.available(ctx, h.deployed) {
		res.Revision, res.Unchanged = h.deployed.Version, true
		return res, nil
	}
	if h == nil {
		if err := d.checkNamespace(ctx, req.CreateNamespace); err != nil {
			if ctx.Err() != nil {
				return nil, notApplied(ctx.Err())
			}
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil { // during the checks above
		return nil, notApplied(err)
	}
	return d.applyAndWait(ctx, h, in, req, res)
}

// ErrNotApplied is in the error of an Upgrade interrupted before it
// applied anything (with ctx's error): the release is as it was.
var ErrNotApplied = errors.New("nothing was applied")

func notApplied(err error) error { return fmt.Errorf("%w: %w", err, ErrNotApplied) }

// upgradeInput is a Request read: the chart loaded, the values copied, the
// fingerprint of both, the timeout.
type upgradeInput struct {
	chart       *chart.Chart
	values      map[string]any
	fingerprint string
	timeout     time.Duration
}

// readRequest checks the request and loads what it names.
func (d *Deployer) readRequest(req Request) (*upgradeInput, error) {
	if req.Namespace != "" && req.Namespace != d.namespace {
		return nil, fmt.Errorf("deploying release %s: the request is for namespace %s but the deployer for namespace %s", req.Release, req.Namespace, d.namespace)
	}
	if err := chartutil.ValidateReleaseName(req.Release); err != nil {
		return nil, fmt.Errorf("the release name %q is not valid: use at most 53 lowercase letters, digits and dashes, starting and ending with a letter or digit", req.Release)
	}
	in := &upgradeInput{timeout: req.Timeout}
	if in.timeout <= 0 {
		in.timeout = d.timeout
	}
	var err error
	if in.chart, err = loader.Load(req.ChartDir); err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", req.ChartDir, err)
	}
	if in.values, err = copyValues(req.Values); err != nil {
		return nil, fmt.Errorf("deploying release %s: the values cannot be encoded: %w", req.Release, err)
	}
	in.fingerprint = fingerprint(in.chart, in.values)
	return in, nil
}

// settledHistory is the release's history (nil: not installed), after
// recovering a revision that an interrupted draft or helm left pending or
// uninstalling (said in res.Recovered).
func (d *Deployer) settledHistory(name string, res *Result) (*releaseHistory, error) {
	h, err := d.history(name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if h == nil || h.last.Info == nil || !(h.last.Info.Status.IsPending() || h.last.Info.Status == release.StatusUninstalling) {
		return h, nil
	}
	if res.Recovered, err = d.recover(h); err != nil {
		return nil, err
	}
	if h, err = d.history(name); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return h, nil
}

// applyAndWait applies the new revision and waits for its rollout; a
// failure or an interrupt goes back to the last good revision.
func (d *Deployer) applyAndWait(ctx context.Context, h *releaseHistory, in *upgradeInput, req Request, res *Result) (*Result, error) {
	prev := lastGood(h)
	start := d.now()
	// Helm's apply is short and is not interrupted half-way: a cancel
	// waits for it, then rolls it back.
	rel, err := d.apply(context.WithoutCancel(ctx), h, in.chart, in.values, req, in.fingerprint, in.timeout)
	res.Apply = d.now().Sub(start)
	if err != nil {
		return nil, d.undoApply(h, prev, req.Release, err)
	}
	res.Revision, res.Installed = rel.Version, h == nil
	if err := ctx.Err(); err != nil {
		return nil, d.abandon(rel, prev, err)
	}
	if req.NoWait {
		res.NotWaited = true
		return res, nil
	}
	waitStart := d.now()
	diag, err := d.waitRollout(ctx, rel.Manifest, in.timeout, req.Progress)
	if err != nil {
		if ctx.Err() != nil {
			return nil, d.abandon(rel, prev, ctx.Err())
		}
		return nil, fmt.Errorf("deploying release %s revision %d: %w", req.Release, rel.Version, err)
	}
	if diag != nil {
		return nil, d.fail(ctx, rel, prev, diag, in.timeout, req.Progress)
	}
	res.Ready = d.now().Sub(waitStart)
	return res, nil
}

// lastGood is the revision to go back to when an upgrade fails: the deployed
// one, else the newest that once was (a failed rollback leaves none
// deployed); nil when there is none and a failure means uninstalling.
func lastGood(h *releaseHistory) *release.Release {
	if h == nil {
		return nil
	}
	if h.deployed != nil {
		return h.deployed
	}
	for i := len(h.all) - 1; i >= 0; i-- {
		if r := h.all[i]; r.Info != nil && r.Info.Status == release.StatusSuperseded {
			return r
		}
	}
	return nil
}

// apply runs Helm's install or upgrade, without Helm's wait.
func (d *Deployer) apply(ctx context.Context, h *releaseHistory, ch *chart.Chart, vals map[string]any, req Request, fp string, timeout time.Duration) (*release.Release, error) {
	labels := map[string]string{labelInputs: fp}
	if h == nil || h.last.Info == nil || h.last.Info.Status == release.StatusUninstalled {
		in := action.NewInstall(d.cfg)
		in.ReleaseName = req.Release
		in.Namespace = d.namespace
		in.CreateNamespace = req.CreateNamespace
		in.Replace = h != nil
		in.Timeout = timeout // for hooks
		in.Labels = labels
		return in.RunWithContext(ctx, ch, vals)
	}
	up := action.NewUpgrade(d.cfg)
	// Helm's "OpenAPI validation" asks the server's OpenAPI v3 document
	// whether it takes the fieldValidation parameter, and validates on the
	// client only when it does not (Kubernetes before 1.25, long out of
	// support); the question alone costs parsing that document, 50-60 ms
	// of every upgrade (bench/loop). The server judges the objects.
	up.DisableOpenAPIValidation = true
	up.Namespace = d.namespace
	up.MaxHistory = maxHistory
	up.ResetValues = true // the values given are the whole values, even when empty
	up.Timeout = timeout
	up.Labels = labels
	return up.RunWithContext(ctx, req.Release, ch, vals)
}

// undoApply handles a failed Helm install or upgrade: when it stored a
// revision, the release goes back to the previous one (or away).
func (d *Deployer) undoApply(before *releaseHistory, prev *release.Release, name string, applyErr error) error {
	err := fmt.Errorf("deploying release %s: %w", name, applyErr)
	h, herr := d.history(name)
	if herr != nil || (before != nil && h.last.Version == before.last.Version) {
		return err // nothing was stored: nothing was applied
	}
	if h.last.Info == nil || h.last.Info.Status == release.StatusDeployed {
		return err
	}
	if prev == nil {
		if uerr := d.uninstallNow(name); uerr != nil {
			return fmt.Errorf("%w; removing the half-installed release failed too: %v", err, uerr)
		}
		return fmt.Errorf("%w; removed the release", err)
	}
	if rerr := d.rollback(name, prev.Version, "Rollback after a failed upgrade"); rerr != nil {
		return fmt.Errorf("%w; rolling back to revision %d failed too: %v", err, prev.Version, rerr)
	}
	return fmt.Errorf("%w; rolled back to revision %d", err, prev.Version)
}

// fail marks rel failed, rolls back to prev (or uninstalls) and waits for
// that rollout, and returns the *RolloutError.
func (d *Deployer) fail(ctx context.Context, rel, prev *release.Release, diag *Diagnosis, timeout time.Duration, progress func(Progress)) error {
	re := &RolloutError{Release: rel.Name, Revision: rel.Version, Diagnosis: *diag}
	_ = d.markFailed(rel, "Rollout failed: "+diag.String())
	if prev == nil {
		if err := d.uninstallNow(rel.Name); err != nil {
			re.RollbackErr = err
		} else {
			re.Uninstalled = true
		}
		return re
	}
	if err := d.rollback(rel.Name, prev.Version, fmt.Sprintf("Rollback to %d: revision %d did not become ready", prev.Version, rel.Version)); err != nil {
		re.RollbackErr = err
		return re
	}
	re.RolledBackTo = prev.Version
	h, err := d.history(rel.Name)
	if err != nil {
		re.RollbackErr = err
		return re
	}
	diag2, err := d.waitRollout(ctx, h.last.Manifest, timeout, progress)
	switch {
	case err != nil && ctx.Err() == nil:
		re.RollbackErr = fmt.Errorf("watching it failed (%v)", err)
	case diag2 != nil:
		re.RollbackErr = fmt.Errorf("it is not ready either (%s)", diag2.String())
	}
	return re
}

// abandon undoes rel after ctx was cancelled: back to prev, or uninstalled.
// Helm's calls take no context; they are bounded by rollbackTimeout here.
func (d *Deployer) abandon(rel, prev *release.Release, cause error) error {
	done := make(chan string, 1)
	go func() {
		_ = d.markFailed(rel, "Interrupted")
		if prev == nil {
			if err := d.uninstallNow(rel.Name); err != nil {
				done <- fmt.Sprintf("removing the release failed (%v)", err)
				return
			}
			done <- "removed the release"
			return
		}
		if err := d.rollback(rel.Name, prev.Version, "Rollback: the upgrade was interrupted"); err != nil {
			done <- fmt.Sprintf("rolling back to revision %d failed (%v)", prev.Version, err)
			return
		}
		done <- fmt.Sprintf("rolled back to revision %d", prev.Version)
	}()
	select {
	case what := <-done:
		return fmt.Errorf("deploying release %s revision %d was interrupted; %s: %w", rel.Name, rel.Version, what, cause)
	case <-time.After(rollbackTimeout):
		return fmt.Errorf("deploying release %s revision %d was interrupted; undoing it is still under way (the next draft up finishes it): %w", rel.Name, rel.Version, cause)
	}
}

// recover brings a release that an interrupted run left pending (or
// uninstalling) back to a state an upgrade can start from.
func (d *Deployer) recover(h *releaseHistory) (string, error) {
	last := h.last
	status := last.Info.Status
	what := fmt.Sprintf("release %s was left %s (revision %d) by an interrupted run", last.Name, status, last.Version)
	switch {
	case status == release.StatusUninstalling || (status == release.StatusPendingInstall && h.deployed == nil):
		if err := d.uninstallNow(last.Name); err != nil {
			return "", fmt.Errorf("%s, and removing it failed: %w: remove it with helm uninstall %s -n %s", what, err, last.Name, d.namespace)
		}
		return what + ": removed it", nil
	case h.deployed != nil:
		_ = d.markFailed(last, "Interrupted")
		if err := d.rollback(last.Name, h.deployed.Version, "Rollback after an interrupted run"); err != nil {
			return "", fmt.Errorf("%s, and rolling back to revision %d failed: %w: try helm rollback %s %d -n %s", what, h.deployed.Version, err, last.Name, h.deployed.Version, d.namespace)
		}
		return fmt.Sprintf("%s: rolled back to revision %d", what, h.deployed.Version), nil
	default:
		// nothing deployed to go back to: a failed revision is where the
		// upgrade starts from
		if err := d.markFailed(last, "Interrupted"); err != nil {
			return "", fmt.Errorf("%s, and %w: try helm rollback or helm uninstall %s -n %s", what, err, last.Name, d.namespace)
		}
		return what + ": marked it failed", nil
	}
}

// rollback runs Helm's rollback to revision, without Helm's wait.
func (d *Deployer) rollback(name string, revision int, description string) error {
	rb := action.NewRollback(d.cfg)
	rb.Version = revision
	rb.MaxHistory = maxHistory
	rb.Timeout = d.timeout
	if err := rb.Run(name); err != nil {
		return err
	}
	// Helm writes its own description; say why.
	if h, err := d.history(name); err == nil && h.last.Info != nil && h.last.Info.Status == release.StatusDeployed {
		h.last.Info.Description = description
		_ = d.cfg.Releases.Update(h.last)
	}
	return nil
}

// Rollback rolls release back to revision (0: the revision before the
// deployed one) and waits until its pods are Ready. A release that does not
// exist is an error matching ErrNotFound.
func (d *Deployer) Rollback(ctx context.Context, name string, revision int, progress func(Progress)) (*Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, err := d.history(name)
	if err != nil {
		return nil, err
	}
	if revision == 0 {
		for i := len(h.all) - 1; i >= 0; i-- {
			if r := h.all[i]; r.Version < h.last.Version && r.Info != nil &&
				(r.Info.Status == release.StatusSuperseded || r.Info.Status == release.StatusDeployed) && (h.deployed == nil || r.Version != h.deployed.Version) {
				revision = r.Version
				break
			}
		}
		if revision == 0 {
			return nil, fmt.Errorf("release %s has no earlier revision to roll back to", name)
		}
	}
	start := d.now()
	if err := d.rollback(name, revision, fmt.Sprintf("Rollback to %d", revision)); err != nil {
		return nil, fmt.Errorf("rolling back release %s to revision %d: %w", name, revision, err)
	}
	res := &Result{Apply: d.now().Sub(start)}
	if h, err = d.history(name); err != nil {
		return nil, err
	}
	res.Revision = h.last.Version
	waitStart := d.now()
	diag, err := d.waitRollout(ctx, h.last.Manifest, d.timeout, progress)
	if err != nil {
		return nil, fmt.Errorf("rolling back release %s to revision %d: %w", name, revision, err)
	}
	if diag != nil {
		return nil, fmt.Errorf("release %s, rolled back to revision %d, did not become ready: %s", name, revision, diag.String())
	}
	res.Ready = d.now().Sub(waitStart)
	return res, nil
}

// markFailed records rel as failed. Before a rollback or an uninstall it is
// best effort: their outcome is what gets told.
func (d *Deployer) markFailed(rel *release.Release, description string) error {
	if rel.Info == nil {
		return nil
	}
	rel.Info.Status = release.StatusFailed
	rel.Info.Description = description
	if err := d.cfg.Releases.Update(rel); err != nil {
		return fmt.Errorf("marking release %s revision %d failed: %w", rel.Name, rel.Version, err)
	}
	return nil
}

// checkNamespace makes sure the namespace exists, or will be created.
// CheckNamespace tells, before anything slow, that the namespace does not
// exist and will not be created (create: it will be); nil when it cannot
// tell (a user who may not read namespaces).
func (d *Deployer) CheckNamespace(ctx context.Context, create bool) error {
	return d.checkNamespace(ctx, create)
}

func (d *Deployer) checkNamespace(ctx context.Context, create bool) error {
	_, err := d.client.CoreV1().Namespaces().Get(ctx, d.namespace, metav1.GetOptions{})
	switch {
	case err == nil, create, apierrors.IsForbidden(err):
		return nil // a user who may not read namespaces may still deploy into one
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %s does not exist: create it with kubectl create namespace %s or set create-namespace = true in draft.toml", d.namespace, d.namespace)
	}
	return fmt.Errorf("checking that namespace %s exists: %w", d.namespace, err)
}

// available tells whether the Deployments of rel are rolled out, by the
// rule the rollout watch applies (the Deployment's own status lags behind
// its pods by a moment), so that an unchanged release needs nothing.
func (d *Deployer) available(ctx context.Context, rel *release.Release) bool {
	ws, err := workloadsOf(rel.Manifest, d.namespace)
	if err != nil {
		return false
	}
	items, err := d.listOnce(ctx, ws)
	if err != nil {
		return false
	}
	r := &rollout{d: d, set: &informerSet{items: items}, firstSeen: map[string]time.Time{}, pullInfo: map[string]string{}}
	return r.evaluate(ctx).ready
}

// sameInputs tells whether deploying ch with vals would redeploy rel: the
// same chart and values. The label covers the chart's files (subcharts
// included, which Helm does not store); the chart and values stored in the
// revision guard against a helm upgrade made by hand, which keeps labels.
func sameInputs(rel *release.Release, ch *chart.Chart, vals map[string]any, fp string) bool {
	if rel.Labels[labelInputs] != fp || rel.Chart == nil {
		return false
	}
	// Helm stores no values at all for empty ones (the secrets driver's
	// JSON leaves the field out): nil and {} are the same values.
	sameValues := len(rel.Config) == 0 && len(vals) == 0 || jsonEqual(rel.Config, vals)
	return sameValues && jsonEqual(rel.Chart, ch)
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// fingerprint digests the chart's files and the values.
func fingerprint(ch *chart.Chart, vals map[string]any) string {
	h := sha256.New()
	files := append([]*chart.File(nil), ch.Raw...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	v, _ := json.Marshal(vals)
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))[:40]
}

// copyValues deep-copies values through JSON, as Helm stores them, so that
// Helm does not change the caller's map and comparisons see what is stored.
func copyValues(v map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if len(v) == 0 {
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(b, &out)
}
