package action

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/live"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// liveUpdate is watch mode's live update of one app: the ups of the watch
// deploy the image with draft's agent (wrap), and a change of source files
// only is synced to the running pods instead of rebuilt (decide, sync).
type liveUpdate struct {
	ctx     context.Context // the watch's: the syncer runs until it ends
	u       *Up
	plan    *build.Plan
	restart bool
	cmd     live.Command // what live update knows of the app's command
	reload  string       // why the app takes files without a restart ("" when it is restarted)
	rules   []string
	release string
	dir     string
	prefix  string // "api: " for the app api of a project; "" for an app's own watch

	// A Go app: its binary, compiled here into binDir, replaces the
	// image's (synced to goBinary, which the agent then starts).
	binDir  string
	lastBin [32]byte // the sha256 of the binary the pods have
	newBin  [32]byte // and of the one compiled last

	mu       sync.Mutex
	agent    []byte
	syncer   *live.Syncer
	stop     context.CancelFunc
	done     chan struct{}
	wraps    map[string]name.Digest // plain image digest -> live image
	platform v1.Platform            // the cluster's, once an up found it
	mark     int64                  // the syncer's generation when the running up started
}

// newLiveUpdate reads how the app's image is made: live update works when
// its Dockerfile copies the build context last (a source plan); else it is
// off, and why says so.
func newLiveUpdate(ctx context.Context, u *Up) (lv *liveUpdate, why string, err error) {
	a, err := u.load()
	if err != nil {
		return nil, "", err
	}
	if a.env.LiveUpdate != nil && !*a.env.LiveUpdate {
		return nil, "live-update = false in draft.toml", nil
	}
	dockerfile := a.env.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	df, err := os.ReadFile(filepath.Join(a.dir, dockerfile))
	if err != nil {
		return nil, "", nil // up says so
	}
	plan, reason := build.Analyze(df)
	switch {
	case plan == nil:
		return nil, "its image cannot take files as they are (" + reason + ")", nil
	case len(a.env.BuildArgs) > 0:
		return nil, "the build has build arguments", nil
	}
	lv = &liveUpdate{ctx: ctx, u: u, plan: plan, release: a.release, dir: a.dir, wraps: map[string]name.Digest{}}
	lv.rules = slices.Concat([]string{dockerfile, ".dockerignore", config.FileName, cmpChart(a.env, a.release)}, a.env.Values)
	if plan.Kind == build.KindGo {
		// Compiled here; the folders the image copies beside the binary
		// (templates/) are synced to where it has them.
		lv.restart = true
		lv.rules = append(lv.rules, "go.mod", "go.sum", "vendor")
		return lv, "", nil
	}
	lv.cmd = live.KnownCommand(slices.Concat(plan.Entrypoint, plan.Cmd))
	lv.reload = lv.cmd.Reloads
	lv.restart = lv.reload == ""
	return lv, "", nil
}

func cmpChart(env *config.Environment, release string) string {
	if env.Chart != "" {
		return env.Chart
	}
	return path.Join("charts", release)
}

// decide says why the change needs a rebuild, "" when it can be synced: a
// change of the Dockerfile, the chart or its values, draft.toml, or a file
// a step before the source uses (a dependency manifest) rebuilds.
func (lv *liveUpdate) decide(paths []string) string {
	for _, p := range paths {
		for _, r := range lv.rules {
			if r != "" && (p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/")) {
				return p + " changed"
			}
		}
		if p == "." {
			return "the whole tree may have changed (file events were lost)"
		}
		for _, d := range lv.plan.DepFiles {
			if d = strings.TrimPrefix(path.Clean(d), "./"); p == d || strings.HasPrefix(p, d+"/") {
				return p + " changed (a step before the source uses it)"
			}
		}
	}
	return ""
}

// wrap is the image to deploy in watch mode: img with draft's agent. The
// first wrap starts the syncer, which must run before the rollout: the new
// pods' apps start once it has given them the files.
func (lv *liveUpdate) wrap(ctx context.Context, e *upEnv, img name.Digest) (name.Digest, error) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if d, ok := lv.wraps[img.DigestStr()]; ok {
		return d, nil
	}
	if e.platform.OS == "" {
		os, arch, err := kube.NodePlatform(ctx, e.cluster)
		if err != nil {
			return name.Digest{}, err
		}
		e.platform = v1.Platform{OS: os, Architecture: arch}
	}
	if lv.agent == nil {
		home := lv.u.Settings.Home
		if home == "" {
			home = filepath.Join(os.TempDir(), "draft")
		}
		agent, err := live.AgentBinary(ctx, e.platform, filepath.Join(home, "cache"))
		if err != nil {
			return name.Digest{}, err
		}
		lv.agent = agent
	}
	base, err := e.reg.Image(ctx, img, e.platform)
	if err != nil {
		return name.Digest{}, err
	}
	spec := live.ImageSpec{Root: lv.plan.SourceDest, UID: lv.plan.UID, GID: lv.plan.GID}
	switch {
	case lv.plan.Kind == build.KindGo:
		spec = live.ImageSpec{Root: "/", Exec: "/" + goBinary}
		spec.UID, spec.GID = numericUser(lv.plan.User)
		for _, f := range lv.plan.Files {
			spec.Dirs = append(spec.Dirs, f.Dest)
		}
	default: // what the app's command needs to take files (PHP's opcache told to look every time)
		spec.Files, spec.Env = lv.cmd.Files, lv.cmd.Env
	}
	lv.platform = e.platform
	limg, err := live.Image(base, lv.agent, spec)
	if err != nil {
		return name.Digest{}, err
	}
	tag := img.Context().Tag("live-" + strings.TrimPrefix(img.DigestStr(), "sha256:")[:20])
	d, _, err := e.reg.Push(ctx, limg, tag)
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing the image with draft's agent: %w", err)
	}
	lv.wraps[img.DigestStr()] = d
	if lv.syncer == nil {
		lv.startSyncer(e)
	}
	lv.syncer.Track(d.DigestStr())
	return d, nil
}

func (lv *liveUpdate) startSyncer(e *upEnv) {
	c := e.cluster
	pods := kube.NewPodWatch(c.Client, c.Namespace, "app.kubernetes.io/instance="+e.release)
	ctx, stop := context.WithCancel(lv.ctx)
	lv.stop, lv.done = stop, make(chan struct{})
	dialer := live.NewForwardDialer(c.Config, c.Client)
	spec := live.Spec{Dir: e.dir, Restart: lv.restart}
	if lv.plan.Kind == build.KindGo {
		spec.Source = lv.goSource
	}
	lv.syncer = live.NewSyncer(spec, dialer, pods, func(m string) { lv.say("%s", m) })
	go func() {
		defer close(lv.done)
		defer dialer.Close()
		if _, err := pods.Start(ctx); err != nil {
			return
		}
		lv.syncer.Run(ctx)
	}()
}

// restartedSince reports whether a sync restarted the app in the pod after
// since, or is restarting it (see connect.WithRestarts).
func (lv *liveUpdate) restartedSince(pod string, since time.Time) bool {
	lv.mu.Lock()
	s := lv.syncer
	lv.mu.Unlock()
	return s != nil && s.RestartedSince(pod, since)
}

// close stops the syncer.
func (lv *liveUpdate) close() {
	lv.mu.Lock()
	stop, done := lv.stop, lv.done
	lv.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// started books the start of an up: its image holds the tree as it is now.
func (lv *liveUpdate) started() {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.syncer != nil {
		lv.mark = lv.syncer.Mark()
	}
}

// deployed books an up's success: the paths synced before it started are
// in its image.
func (lv *liveUpdate) deployed() {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.syncer != nil {
		lv.syncer.Rebase(lv.mark)
	}
}

// sync applies the change to the running pods.
func (lv *liveUpdate) sync(ctx context.Context, paths []string) (live.Report, error) {
	lv.mu.Lock()
	s := lv.syncer
	lv.mu.Unlock()
	if s == nil {
		return live.Report{}, errors.New("no image with draft's agent is deployed yet")
	}
	if lv.plan.Kind == build.KindGo {
		return lv.syncGo(ctx, s, paths)
	}
	return s.Apply(ctx, paths)
}

// goBinary is where a Go app's binary compiled here goes in its pods.
const goBinary = ".draft/app"

// syncGo syncs a Go app's change: the binary compiled here, if it changed
// (any file may be embedded in it), and the files of the folders its image
// copies beside the binary (templates/) to where it has them.
func (lv *liveUpdate) syncGo(ctx context.Context, s *live.Syncer, paths []string) (live.Report, error) {
	var sync []string
	for _, p := range paths {
		if pod, ok := lv.goFile(p); ok {
			sync = append(sync, pod)
		}
	}
	changed, compiled, err := lv.compileGo(ctx)
	if err != nil {
		return live.Report{}, err
	}
	if changed {
		sync = append(sync, goBinary)
	}
	if len(sync) == 0 {
		return live.Report{Compiled: compiled, Same: true}, nil
	}
	rep, err := s.Apply(ctx, sync)
	rep.Compiled = compiled
	if err == nil && slices.Contains(sync, goBinary) {
		lv.lastBin = lv.newBin
	}
	return rep, err
}

// compileGo compiles the app here into binDir; changed is false when the
// binary is the one the pods have.
func (lv *liveUpdate) compileGo(ctx context.Context) (changed bool, took time.Duration, err error) {
	if lv.binDir == "" {
		d, err := os.MkdirTemp("", "draft-live-go-")
		if err != nil {
			return false, 0, err
		}
		lv.binDir = d
	}
	t0 := time.Now()
	tmp := filepath.Join(lv.binDir, "app.new")
	lv.mu.Lock()
	platform := lv.platform // an up's wrap found it
	lv.mu.Unlock()
	req := build.Request{Dir: lv.dir, Platform: platform, Log: lv.u.UI.Writer()}
	if err := build.NewDaemonless(nil).CompileGo(ctx, req, lv.plan, tmp); err != nil {
		return false, 0, &compileError{err}
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		return false, 0, err
	}
	took = time.Since(t0)
	sum := sha256.Sum256(b)
	if sum == lv.lastBin {
		os.Remove(tmp)
		return false, took, nil
	}
	if err := os.Rename(tmp, filepath.Join(lv.binDir, path.Base(goBinary))); err != nil {
		return false, 0, err
	}
	lv.newBin = sum
	return true, took, nil
}

// goFile is where a path of the context is in a Go app's pods, when it is
// in a folder its image copies beside the binary.
func (lv *liveUpdate) goFile(p string) (string, bool) {
	for _, f := range lv.plan.Files {
		src, dest := strings.Trim(path.Clean(f.Src), "/"), strings.Trim(path.Clean(f.Dest), "/")
		if src == "." || src == "" || dest == "" {
			continue
		}
		if rel, ok := strings.CutPrefix(p, src); ok && (rel == "" || rel[0] == '/') {
			return dest + rel, true
		}
	}
	return "", false
}

// goSource is the file here of a path in a Go app's pods: the binary
// compiled here, or a file of a folder copied beside it.
func (lv *liveUpdate) goSource(pod string) string {
	if pod == goBinary {
		return filepath.Join(lv.binDir, path.Base(goBinary))
	}
	for _, f := range lv.plan.Files {
		dest := strings.Trim(path.Clean(f.Dest), "/")
		if rel, ok := strings.CutPrefix(pod, dest); ok && dest != "" && (rel == "" || rel[0] == '/') {
			return filepath.Join(lv.dir, filepath.FromSlash(f.Src+rel))
		}
	}
	return filepath.Join(lv.binDir, path.Base(pod))
}

// syncOrWhy syncs the paths into the running pods when they can be (true),
// or says why they must be rebuilt (false, and why). A change that does not
// compile, or on which the app stopped (its files put back), is told and
// not rebuilt: a rebuild would fail the same way; failed, when set, is told
// of it. A sync that fails otherwise is rebuilt.
func (lv *liveUpdate) syncOrWhy(ctx context.Context, paths []string, failed func(*UpResult, error)) (bool, string) {
	why := lv.decide(paths)
	if why != "" {
		return false, why
	}
	rep, err := lv.sync(ctx, paths)
	if err == nil {
		msg := rep.String()
		if lv.reload != "" {
			msg += " (no restart: " + lv.reload + ")"
		}
		lv.say("%s", msg)
		lv.u.emit(Event{Event: EventSync, Release: lv.release, Message: msg, Files: rep.Files, Pods: rep.Pods, Seconds: rep.Took.Seconds()})
		return true, ""
	}
	if ctx.Err() != nil {
		return true, ""
	}
	var ce *compileError
	var pb *live.PutBackError
	var msg string
	switch {
	case errors.As(err, &ce):
		msg = fmt.Sprintf("the change does not compile: %v; the pods keep the previous binary; watching for the next change", ce.err)
	case errors.As(err, &pb):
		msg = fmt.Sprintf("the change was synced, but the app stopped on it (%s): its files were put back and it serves the previous version; watching for the next change", err)
	default:
		return false, "live update failed: " + err.Error()
	}
	lv.say("%s", msg)
	lv.u.emit(Event{Event: EventError, Release: lv.release, Message: msg})
	if failed != nil {
		failed(nil, err)
	}
	return true, ""
}

// rebuilding says why a change is rebuilt, not synced.
func (lv *liveUpdate) rebuilding(why string) {
	lv.say("rebuilding: %s", why)
	lv.u.emit(Event{Event: EventRebuild, Release: lv.release, Message: why})
}

// say tells of the app's live update; in a project, prefixed by the app.
func (lv *liveUpdate) say(format string, a ...any) {
	lv.u.say("%s", lv.prefix+fmt.Sprintf(format, a...))
}

// compileError is a Go app that does not compile: told, not rebuilt (the
// build would fail the same way).
type compileError struct{ err error }

func (e *compileError) Error() string { return e.err.Error() }
func (e *compileError) Unwrap() error { return e.err }

// numericUser is a USER uid[:gid] of numbers, 0:0 otherwise.
func numericUser(user string) (uid, gid int) {
	u, g, _ := strings.Cut(user, ":")
	uid, _ = strconv.Atoi(u)
	gid, _ = strconv.Atoi(g)
	if g == "" {
		gid = uid
	}
	return uid, gid
}
