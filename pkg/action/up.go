package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/live"
	"github.com/draftk8s/draft/pkg/registry"
	"github.com/draftk8s/draft/pkg/ui"
)

// Builders --builder accepts.
const (
	BuilderAuto       = build.Auto
	BuilderDocker     = build.DockerName
	BuilderDaemonless = build.DaemonlessName
)

// Up builds the app, pushes its image and deploys its chart.
type Up struct {
	Target                          // the app, its release and the cluster
	Registry        string          // --registry; else draft.toml; else $DRAFT_REGISTRY
	Builder         string          // auto, docker or daemonless; "" for draft.toml's, else auto
	CreateNamespace bool            // create the namespace when it does not exist
	Timeout         time.Duration   // for the rollout; 0 for deploy's default
	Settings        config.Settings // draft's environment variables (the registry, its mirrors, its idle timeout)
	live            *liveUpdate     // watch mode's live update: deploy the image with draft's agent
	// EnvFrom are Secrets whose keys the app gets as environment variables
	// (a project's services' connections), after the chart's own envFrom.
	EnvFrom []string

	// UI receives progress and build output (stderr); Events, when set,
	// receives one Event per step (--output json).
	UI     *ui.UI
	Events func(Event)
	// Phase, when set, is told when up starts building and when it starts
	// deploying (watch mode cancels a stale build, never a deploy).
	Phase func(phase string)
	// Gate, when set, is waited for before anything but building: before
	// the deploy, and before pre-up tasks (watch mode starts building while
	// the quiet period after a change runs, and deploys only after it).
	Gate func(ctx context.Context) error
	// Building, when set, is waited for before a build starts (only when
	// there is one to do: not when the registry has the image), and the
	// function it returns is called once the image is pushed (a project's
	// up builds a few apps at once).
	Building func(ctx context.Context) (done func(), err error)
}

// The phases Up reports.
const (
	PhaseBuild  = "build"
	PhaseDeploy = "deploy"
)

func (u *Up) gate(ctx context.Context) error {
	if u.Gate == nil {
		return nil
	}
	return u.Gate(ctx)
}

func (u *Up) phase(p string) {
	if u.Phase != nil {
		u.Phase(p)
	}
}

// EventKind is what an Event tells of.
type EventKind string

// The kinds of Event, in the order an up sends them.
const (
	EventTask      EventKind = "task"      // a task ran (pre-up, post-deploy, post-up)
	EventWarning   EventKind = "warning"   // something the user should know (secrets in the context)
	EventBuild     EventKind = "build"     // the image was built (Path says how)
	EventPush      EventKind = "push"      // it was pushed
	EventProgress  EventKind = "progress"  // pods ready of desired, during the rollout
	EventDeploy    EventKind = "deploy"    // the release was upgraded
	EventReady     EventKind = "ready"     // its pods are Ready
	EventUnchanged EventKind = "unchanged" // nothing had changed
	EventError     EventKind = "error"     // up failed (Diagnosis for a failed rollout)
	EventCancelled EventKind = "cancelled" // stopped before deploying (watch mode drops a stale build)
	EventForward   EventKind = "forward"   // a forward of connect (--auto-connect)
	EventSync      EventKind = "sync"      // watch mode's live update synced a change into the pods
	EventRebuild   EventKind = "rebuild"   // watch mode rebuilds a change (Message says why)
)

// Event is one step of up, for editors and CI (--output json).
type Event struct {
	Event     EventKind         `json:"event"`
	Time      time.Time         `json:"time"`
	Release   string            `json:"release,omitempty"`
	Path      string            `json:"path,omitempty"` // the build path
	Image     string            `json:"image,omitempty"`
	Uploaded  *int64            `json:"uploaded,omitempty"`
	Revision  int               `json:"revision,omitempty"`
	Ready     *int              `json:"ready,omitempty"`
	Desired   int               `json:"desired,omitempty"`
	Seconds   float64           `json:"seconds,omitempty"`
	Message   string            `json:"message,omitempty"`
	Diagnosis *deploy.Diagnosis `json:"diagnosis,omitempty"`
	// A forward of connect (--auto-connect): the local URL of a pod port.
	URL  string `json:"url,omitempty"`
	Port int    `json:"port,omitempty"`
	// A sync of live update: files of the change, pods that got it.
	Files int `json:"files,omitempty"`
	Pods  int `json:"pods,omitempty"`
}

// UpResult is what up did.
type UpResult struct {
	Release, Namespace string
	Image              name.Digest
	Path               string // the build path taken; "" when nothing was built
	Uploaded           int64  // bytes sent to the registry
	Revision           int
	Unchanged          bool // nothing had changed: nothing built, pushed or deployed
	NotWaited          bool // wait = false: deployed, its pods not waited for
	Build, Push        time.Duration
	Deploy, Ready      time.Duration
	Total              time.Duration
}

// upEnv is what up resolved before doing anything.
type upEnv struct {
	dir        string
	env        *config.Environment
	tasks      *config.Tasks
	release    string
	chartDir   string
	dockerfile string
	repo       name.Repository
	reg        *registry.Client
	cluster    *kube.Cluster
	deployer   *deploy.Deployer
	platform   v1.Platform
}

func (u *Up) emit(e Event) {
	if u.Events != nil {
		e.Time = time.Now()
		u.Events(e)
	}
}

func (u *Up) say(format string, a ...any) {
	u.UI.Printf(format, a...)
}

// Run does one up, in steps: resolve and check (prepare), the image (built
// and pushed, or the registry's already), the deploy and the tasks after it.
func (u *Up) Run(ctx context.Context) (res *UpResult, err error) {
	r := &upRun{u: u, start: time.Now(), step: "checking the app and the cluster"}
	defer func() { err = r.finish(ctx, err) }()
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if err := r.image(ctx); err != nil {
		return nil, err
	}
	if u.live != nil { // watch mode: the image with draft's agent
		if r.img, err = u.live.wrap(ctx, r.e, r.img); err != nil {
			return nil, err
		}
		r.res.Image = r.img
	}
	return r.deploy(ctx)
}

// upRun is one up in progress: what its steps found so far.
type upRun struct {
	u         *Up
	start     time.Time
	step      string // what an interrupt stops, before the deploy
	deploying bool
	e         *upEnv
	res       *UpResult
	values    map[string]any // the values files and set values, merged
	current   *deploy.Status // the release as deployed now (nil: not installed)
	tag       name.Tag       // the image's tag: the digest of what the build sees
	deployed  name.Reference // the image deployed now, if any
	img       name.Digest    // the image to deploy
}

// finish says what an interrupt before the deploy stopped and left, and
// tells any other error as an event.
func (r *upRun) finish(ctx context.Context, err error) error {
	if err != nil && (!r.deploying || errors.Is(err, deploy.ErrNotApplied)) && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		what := "the release is as it was"
		if r.e != nil {
			what = "release " + r.e.release + " is as it was"
		}
		// Stopped before deploying (watch mode drops a stale build): no error event.
		r.u.emit(Event{Event: EventCancelled})
		return fmt.Errorf("interrupted while %s: nothing was deployed, %s: %w", r.step, what, context.Canceled)
	}
	if err != nil {
		var re *deploy.RolloutError
		ev := Event{Event: EventError, Message: err.Error()}
		if errors.As(err, &re) {
			ev.Diagnosis = &re.Diagnosis
		}
		r.u.emit(ev)
	}
	return err
}

// prepare resolves the app and the cluster, checks what can be checked
// before the first slow step (the values files and set values, merged once;
// for a release not installed yet, its namespace) and runs the pre-up tasks.
func (r *upRun) prepare(ctx context.Context) error {
	u := r.u
	e, err := u.resolveUp(ctx)
	if err != nil {
		return err
	}
	r.e, r.res = e, &UpResult{Release: e.release, Namespace: e.cluster.Namespace}
	if r.values, err = deploy.MergeValues(deploy.ValueSources{Dir: e.dir, Files: e.env.Values, Set: e.env.Set}); err != nil {
		return err
	}
	if len(u.EnvFrom) > 0 {
		chartValues, err := deploy.ChartValues(e.chartDir)
		if err != nil {
			return err
		}
		r.values = withEnvFrom(r.values, chartValues, u.EnvFrom)
	}
	r.current, err = e.deployer.Current(ctx, e.release)
	switch {
	case errors.Is(err, deploy.ErrNotFound):
		if err := e.deployer.CheckNamespace(ctx, u.CreateNamespace || e.env.CreateNamespace); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if len(e.tasks.PreUp) > 0 {
		if err := u.gate(ctx); err != nil {
			return err
		}
	}
	return u.runTasks(ctx, e, "pre-up", e.tasks.PreUp)
}

// image finds the image to deploy: the registry's when it holds the tag of
// what the build would see, else one built and pushed now.
func (r *upRun) image(ctx context.Context) error {
	u, e := r.u, r.e
	u.phase(PhaseBuild)
	r.step = "building (nothing was pushed)"
	bctx, err := build.Inspect(e.dir, e.dockerfile, e.env.BuildArgs)
	if err != nil {
		return err
	}
	if len(bctx.Secrets) > 0 {
		msg := secretsWarning(e.dockerfile, bctx.Secrets)
		u.say("warning: %s", msg)
		u.emit(Event{Event: EventWarning, Release: e.release, Message: msg})
	}
	r.tag = e.repo.Tag(bctx.Digest[:20])
	if r.current != nil {
		if ref, perr := name.ParseReference(r.current.Value("image.repository")+"@"+r.current.Value("image.digest"), name.Insecure); perr == nil && r.current.Value("image.digest") != "" {
			r.deployed = ref
		}
	}
	h, ok, err := e.reg.Lookup(ctx, r.tag)
	switch {
	case err != nil:
		return err
	case ok:
		r.img = r.tag.Context().Digest(h.String())
		if r.deployed == nil || r.deployed.Identifier() != h.String() {
			u.say("%s is in the registry already: nothing to build", r.tag)
		}
		r.res.Image = r.img
		return nil
	}
	return r.buildAndPush(ctx)
}

// buildAndPush builds the image and pushes it (the Docker builder's daemon
// pushes it itself).
func (r *upRun) buildAndPush(ctx context.Context) error {
	u, e, res, tag := r.u, r.e, r.res, r.tag
	if u.Building != nil {
		done, err := u.Building(ctx)
		if err != nil {
			return err
		}
		defer done()
	}
	t0 := time.Now()
	built, err := u.build(ctx, e, tag, r.deployed)
	if err != nil {
		return err
	}
	res.Path, res.Build = built.Path, time.Since(t0)
	u.emit(Event{Event: EventBuild, Release: e.release, Path: built.Path, Seconds: res.Build.Seconds()})
	t0 = time.Now()
	if built.Image != nil {
		r.step = "pushing " + tag.String() + " (the registry may hold some of its layers, not the tag)"
		var opts []registry.PushOption
		var bar *ui.Bar
		if u.UI.Terminal() {
			bar = u.UI.Bar("pushing "+tag.Context().String(), 0)
			opts = append(opts, registry.WithProgress(func(p registry.Progress) { bar.Set(p.Complete, p.Total) }))
		}
		d, stats, err := e.reg.Push(ctx, built.Image, tag, opts...)
		if bar != nil {
			bar.Finish() // Push returns after the last progress
		}
		if err != nil {
			return err
		}
		r.img, res.Uploaded = d, stats.Uploaded
	} else {
		r.img = built.Pushed
		res.Uploaded = -1 // the daemon pushed; it does not say how much
	}
	res.Push = time.Since(t0)
	ev := Event{Event: EventPush, Release: e.release, Image: r.img.String(), Seconds: res.Push.Seconds()}
	if res.Uploaded >= 0 {
		ev.Uploaded = &res.Uploaded
		u.say("pushed %s (%s uploaded) in %s", r.img, ui.Bytes(res.Uploaded), round(res.Push))
	} else {
		u.say("pushed %s in %s", r.img, round(res.Push))
	}
	u.emit(ev)
	res.Image = r.img
	return nil
}

// deploy upgrades the release to the image, pinned by digest, waits for its
// pods (unless wait = false), and runs the post-deploy and post-up tasks.
func (r *upRun) deploy(ctx context.Context) (*UpResult, error) {
	u, e, res, image := r.u, r.e, r.res, r.img
	values := deploy.Overlay(r.values, map[string]any{
		"image": map[string]any{"repository": image.Context().String(), "tag": r.tag.TagStr(), "digest": image.DigestStr()},
	})
	if err := u.gate(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u.phase(PhaseDeploy)
	r.deploying = true
	t0 := time.Now()
	dr, err := e.deployer.Upgrade(ctx, deploy.Request{
		Release: e.release, Namespace: e.cluster.Namespace, ChartDir: e.chartDir, Values: values,
		CreateNamespace: u.CreateNamespace || e.env.CreateNamespace, Timeout: u.Timeout,
		NoWait: e.env.Wait != nil && !*e.env.Wait,
		Progress: func(p deploy.Progress) {
			u.UI.Status("%s: %s", e.release, p)
			ready := p.Ready
			u.emit(Event{Event: EventProgress, Release: e.release, Ready: &ready, Desired: p.Desired})
		},
	})
	u.UI.ClearStatus()
	if err != nil {
		return nil, err
	}
	res.Revision, res.Deploy, res.Ready, res.NotWaited = dr.Revision, time.Since(t0), dr.Ready, dr.NotWaited
	res.Total = time.Since(r.start)
	if dr.Unchanged && res.Path == "" {
		res.Unchanged = true
		u.emit(Event{Event: EventUnchanged, Release: e.release, Image: image.String(), Revision: dr.Revision, Seconds: res.Total.Seconds()})
		return res, nil
	}
	if dr.Recovered != "" {
		u.say("note: %s", dr.Recovered)
	}
	u.emit(Event{Event: EventDeploy, Release: e.release, Image: image.String(), Revision: dr.Revision, Seconds: dr.Apply.Seconds()})
	if dr.NotWaited {
		return res, nil // nothing is known to run: no ready event, no post-deploy or post-up tasks
	}
	u.emit(Event{Event: EventReady, Release: e.release, Revision: dr.Revision, Seconds: res.Total.Seconds()})
	if err := u.postDeploy(ctx, e); err != nil {
		return res, err
	}
	if err := u.runTasks(ctx, e, "post-up", e.tasks.PostUp); err != nil {
		return res, err
	}
	return res, nil
}

// postDeploy runs the post-deploy tasks inside the app's container (a Ready
// pod of the new revision), as classic Draft did with kubectl exec.
func (u *Up) postDeploy(ctx context.Context, e *upEnv) error {
	tasks := config.Ordered(e.tasks.PostDeploy)
	if len(tasks) == 0 {
		return nil
	}
	pod, err := kube.ReadyPod(ctx, e.cluster, e.cluster.Namespace, "app.kubernetes.io/instance="+e.release)
	if err != nil {
		return fmt.Errorf("running the post-deploy tasks: %w", err)
	}
	container := pod.Spec.Containers[0].Name
	out := u.UI.Writer()
	for _, t := range tasks {
		u.say("post-deploy task %s in %s: %s", t.Name, pod.Name, t.Command)
		err := kube.Exec(ctx, e.cluster, e.cluster.Namespace, pod.Name, container, []string{"sh", "-c", t.Command}, out, out)
		ev := Event{Event: EventTask, Release: e.release, Message: "post-deploy " + t.Name}
		if err != nil {
			ev.Message += ": " + err.Error()
		}
		u.emit(ev)
		if err != nil {
			return fmt.Errorf("the post-deploy task %s failed: %w", t.Name, err)
		}
	}
	return nil
}

// resolveUp reads draft.toml and finds the registry, the chart, the cluster.
func (u *Up) resolveUp(ctx context.Context) (*upEnv, error) {
	a, err := u.load()
	if err != nil {
		return nil, err
	}
	dir, env := a.dir, a.env
	e := &upEnv{dir: dir, env: env, release: a.release}
	if e.tasks, err = config.LoadTasks(dir, a.cfg.Tasks); err != nil {
		return nil, err
	}
	chart := cmp.Or(env.Chart, filepath.Join("charts", cmp.Or(env.Name, e.release)))
	e.chartDir = filepath.Join(dir, chart)
	if _, err := os.Stat(filepath.Join(e.chartDir, "Chart.yaml")); err != nil {
		return nil, fmt.Errorf("there is no chart at %s: run draft create, or set chart in draft.toml", chart)
	}
	e.dockerfile = env.Dockerfile
	if e.dockerfile == "" {
		e.dockerfile = "Dockerfile"
	}
	if _, err := os.Stat(filepath.Join(dir, e.dockerfile)); err != nil {
		return nil, fmt.Errorf("there is no %s in %s: run draft create, or set dockerfile in draft.toml", e.dockerfile, dir)
	}
	regHost := cmp.Or(u.Registry, env.Registry, u.Settings.Registry)
	if regHost == "" {
		return nil, errors.New("no registry to push to: set one with --registry, registry in draft.toml, or $DRAFT_REGISTRY (127.0.0.1:5000 for a local registry)")
	}
	e.reg = registry.New(u.registryOptions(env)...)
	if e.repo, err = e.reg.ParseRepository(strings.TrimSuffix(regHost, "/") + "/" + e.release); err != nil {
		return nil, err
	}
	if e.cluster, err = u.resolve(ctx, env); err != nil {
		return nil, err
	}
	if e.deployer, err = u.Deps.deployer(e.cluster); err != nil {
		return nil, err
	}
	return e, nil
}

func (u *Up) registryOptions(env *config.Environment) []registry.Option {
	opts := []registry.Option{registry.WithInsecure(env.InsecureRegistries...)}
	mirrors := slices.Concat(env.RegistryMirrors, u.Settings.RegistryMirrors, registry.DockerDaemonMirrors(u.Settings.DockerDaemonConfig))
	if d := u.Settings.RegistryIdleTimeout; d > 0 {
		opts = append(opts, registry.WithIdleTimeout(d))
	}
	return append(opts, registry.WithMirrors(mirrors...))
}

// build picks the builder and builds.
func (u *Up) build(ctx context.Context, e *upEnv, tag name.Tag, deployed name.Reference) (*build.Result, error) {
	if e.platform.OS == "" {
		os, arch, err := kube.NodePlatform(ctx, e.cluster)
		if err != nil {
			return nil, err
		}
		e.platform = v1.Platform{OS: os, Architecture: arch}
	}
	// The Dockerfile is read and analysed once: for the dependency digest and
	// to know whether the deployed image's layers are wanted.
	df, err := os.ReadFile(filepath.Join(e.dir, e.dockerfile))
	if err != nil {
		return nil, err
	}
	plan, _ := build.Analyze(df)
	deps, err := build.DepsDigest(e.dir, df, plan, e.env.BuildArgs)
	if err != nil {
		return nil, err
	}
	log := u.UI.Writer()
	req := build.Request{
		Dir: e.dir, Dockerfile: e.dockerfile, BuildArgs: e.env.BuildArgs, Target: tag, Network: e.env.BuildNetwork,
		Platform: e.platform, Log: log, Labels: map[string]string{build.DepsLabel: deps},
	}
	choice := cmp.Or(u.Builder, e.env.Builder, BuilderAuto)
	daemonless := build.NewDaemonless(e.reg.Image)
	if choice == BuilderAuto || choice == BuilderDaemonless {
		// The deployed image is only needed to replace its top layer.
		if deployed != nil && plan != nil && plan.Kind == build.KindSource && plan.NeedsPrevious {
			if prev, err := e.reg.Image(ctx, deployed, e.platform); err == nil {
				req.Previous = livesBase(ctx, e, prev)
			}
		}
	}
	chosen, err := build.Chooser{Daemonless: daemonless, NewDocker: u.Deps.Docker}.Choose(ctx, choice, req)
	var why *build.NotEligibleError
	if errors.As(err, &why) {
		return nil, fmt.Errorf("--builder daemonless cannot build this app (%s): use --builder docker", why.Reason)
	}
	if err != nil {
		return nil, err
	}
	defer chosen.Close()
	switch {
	case chosen.Plan != nil:
		u.say("building %s without Docker (%s)", e.release, daemonlessWhat(chosen.Plan))
	case chosen.NotDaemonless != nil:
		u.say("building %s with Docker (%s)", e.release, chosen.NotDaemonless.Reason)
	default:
		u.say("building %s with Docker", e.release)
	}
	return chosen.Builder.Build(ctx, req)
}

func daemonlessWhat(p *build.Plan) string {
	switch {
	case p.Kind == build.KindGo:
		return "compiling the Go binary here and putting it on " + p.Base
	case p.NeedsPrevious:
		return "only the source changed: replacing the image's top layer"
	}
	return "the source on " + p.Base
}

// runTasks runs host tasks in the app's directory, in name order.
func (u *Up) runTasks(ctx context.Context, e *upEnv, kind string, tasks map[string]string) error {
	return runHostTasks(ctx, u.UI, e.dir, kind, tasks, func(name string, err error) {
		ev := Event{Event: EventTask, Release: e.release, Message: kind + " " + name}
		if err != nil {
			ev.Message += ": " + err.Error()
		}
		u.emit(ev)
	})
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// secretsWarning says which files that look like secrets the build context
// sends (the .dockerignore, the user's own, lets them through).
func secretsWarning(dockerfile string, paths []string) string {
	shown, more := paths, ""
	if len(shown) > 5 {
		shown, more = shown[:5], fmt.Sprintf(" and %d more", len(paths)-5)
	}
	return fmt.Sprintf("the build context holds files that look like keys or credentials, and an image whose %s copies the context gets them: %s%s; leave them out in .dockerignore (the one draft create writes lists the usual names at every depth)",
		dockerfile, strings.Join(shown, ", "), more)
}

// withEnvFrom adds secretRefs of the Secrets to the values' envFrom, after
// those draft.toml's values list, else the chart's.
func withEnvFrom(values, chartValues map[string]any, secrets []string) map[string]any {
	list, ok := values["envFrom"].([]any)
	if !ok {
		list, _ = chartValues["envFrom"].([]any)
	}
	list = slices.Clone(list)
	for _, s := range secrets {
		list = append(list, map[string]any{"secretRef": map[string]any{"name": s}})
	}
	return deploy.Overlay(values, map[string]any{"envFrom": list})
}

// livesBase is the image draft's agent was added to, when prev has it (watch
// mode deployed it): the image whose layers a build may reuse.
func livesBase(ctx context.Context, e *upEnv, prev v1.Image) v1.Image {
	cf, err := prev.ConfigFile()
	if err != nil || cf.Config.Labels[live.BaseLabel] == "" {
		return prev
	}
	base, err := e.reg.Image(ctx, e.repo.Digest(cf.Config.Labels[live.BaseLabel]), e.platform)
	if err != nil {
		return nil // never the agent's layer taken for the source's
	}
	return base
}
