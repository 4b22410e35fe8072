package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/draftk8s/draft/internal/deploysim"
)

func TestInstallUpgradeUnchanged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	var mu sync.Mutex
	var seen []string
	req := f.request("good-1")
	req.Progress = func(p Progress) { mu.Lock(); seen = append(seen, p.String()); mu.Unlock() }
	res, err := f.d.Upgrade(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || !res.Installed || res.Unchanged {
		t.Fatalf("install: %+v", res)
	}
	mu.Lock()
	if len(seen) == 0 || seen[len(seen)-1] != "1/1 ready" {
		t.Errorf("progress: %q, want it to end with 1/1 ready", seen)
	}
	mu.Unlock()
	st, err := f.d.Current(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 1 || st.Status != "deployed" || st.Value("image.tag") != "good-1" || st.Chart != "app-0.1.0" {
		t.Errorf("current: %+v", st)
	}

	// the same chart and values: nothing to do, no revision
	res, err = f.d.Upgrade(ctx, f.request("good-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unchanged || res.Revision != 1 {
		t.Fatalf("unchanged upgrade: %+v", res)
	}
	if got := f.statuses(); got != "1:deployed" {
		t.Fatalf("history after an unchanged upgrade: %s", got)
	}

	// a new image: revision 2
	res, err = f.d.Upgrade(ctx, f.request("good-2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.Unchanged || res.Installed {
		t.Fatalf("upgrade: %+v", res)
	}
	if got := f.statuses(); got != "1:superseded 2:deployed" {
		t.Fatalf("history: %s", got)
	}
	// and a values change alone is a change too
	req = f.request("good-2")
	req.Values["replicaCount"] = 1
	req.Values["extra"] = "x"
	if res, err = f.d.Upgrade(ctx, req); err != nil || res.Unchanged || res.Revision != 3 {
		t.Fatalf("values change: %+v %v", res, err)
	}
}

func TestUnchangedButDeploymentGone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	if err := f.cs.AppsV1().Deployments(testNS).Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := f.d.Upgrade(ctx, f.request("good-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.Revision != 2 {
		t.Fatalf("a release whose Deployment is gone must be redeployed: %+v", res)
	}
}

func TestRolloutReturnsAsSoonAsReady(t *testing.T) {
	f := newFixture(t)
	const readyAfter = 400 * time.Millisecond
	f.sim.SetReadyAfter(readyAfter)
	ctx := context.Background()
	if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := f.d.Upgrade(ctx, f.request("good-2"))
	if err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	late := returned.Sub(f.sim.LastReady())
	t.Logf("upgrade took %s, returned %s after the pod was Ready (apply %s, ready %s)", returned.Sub(start), late, res.Apply, res.Ready)
	if returned.Sub(start) < readyAfter {
		t.Fatalf("returned before the pod was Ready")
	}
	if late > 200*time.Millisecond {
		t.Errorf("returned %s after the pod was Ready, want at once (a watch, not a poll)", late)
	}
}

func TestRolloutFailureDiagnosedAndRolledBack(t *testing.T) {
	tests := []struct {
		tag         string
		reason      string
		message     []string // parts of the Diagnosis message
		logTail     bool
		events      string // part of one of the events
		probeGrace  time.Duration
		timeout     time.Duration
		withinLimit time.Duration
	}{
		{tag: "notfound", reason: ReasonImageNotFound, message: []string{"image example.test/app:notfound was not found in its registry: check that it was pushed"}, events: "Failed: Failed to pull image"},
		{tag: "backoff", reason: ReasonImageNotFound, message: []string{"image example.test/app:backoff was not found in its registry"}, events: "Failed: Failed to pull image"},
		{tag: "unauthorized", reason: ReasonImageUnauthorized, message: []string{"the registry of image example.test/app:unauthorized refused to serve it", "401 Unauthorized", "imagePullSecret"}},
		{tag: "platform", reason: ReasonImagePlatform, message: []string{"has no variant for the node's platform linux/amd64: build it for linux/amd64"}},
		{tag: "crash", reason: ReasonCrashLoop, message: []string{"container app keeps crashing: it exited with code 3 (restarted 2 times)"}, logTail: true, events: "BackOff: Back-off restarting failed container app in pod app-h2-0 (x3)"},
		{tag: "unschedulable", reason: ReasonUnschedulable, message: []string{"the pod cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."}},
		// a container that never restarted is starting: it has the whole timeout, whatever the probe grace
		{tag: "probe", reason: ReasonProbe, probeGrace: 100 * time.Millisecond, timeout: 600 * time.Millisecond, logTail: true,
			message: []string{"container app is running but its readiness probe has failed for", "Readiness probe failed: dial tcp 10.1.0.7:8080: connect: connection refused",
				"allow it with --timeout (or the chart's startupProbe and readinessProbe settings)"}},
		{tag: "probe-restarted", reason: ReasonProbe, probeGrace: 300 * time.Millisecond, logTail: true,
			message: []string{"container app is running but its readiness probe has failed for", "Readiness probe failed"}},
		{tag: "unreachable", reason: ReasonImagePull, message: []string{`image example.test/app:unreachable cannot be pulled: Head "https://example.test/v2/app/manifests/unreachable": dial tcp 192.0.2.9:443: connect: connection refused`}},
		{tag: "config", reason: ReasonConfig, message: []string{`container app cannot be created: secret "db" not found`}},
		{tag: "noexec", reason: ReasonStart, message: []string{"built for another platform than the node's linux/amd64 (exec format error)"}},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			var opts []Option
			if tt.probeGrace > 0 {
				opts = append(opts, WithProbeGrace(tt.probeGrace))
			}
			f := newFixture(t, opts...)
			f.d.unschedulableGrace = 100 * time.Millisecond
			f.d.pullGrace = 200 * time.Millisecond
			ctx := context.Background()
			if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			req := f.request(tt.tag)
			req.Timeout = tt.timeout
			_, err := f.d.Upgrade(ctx, req)
			took := time.Since(start)
			var re *RolloutError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RolloutError", err)
			}
			t.Logf("failed in %s: %v", took.Round(time.Millisecond), err)
			if took > 3*time.Second {
				t.Errorf("took %s to fail: a certain failure must fail fast", took)
			}
			g := re.Diagnosis
			if g.Reason != tt.reason || g.Pod != "app-h2-0" {
				t.Errorf("diagnosis %+v, want reason %s on pod app-h2-0", g, tt.reason)
			}
			for _, m := range tt.message {
				if !strings.Contains(g.Message, m) {
					t.Errorf("diagnosis message %q lacks %q", g.Message, m)
				}
			}
			if tt.logTail && !reflect.DeepEqual(g.LogTail, []string{"fake logs"}) {
				t.Errorf("log tail %q, want the container's log", g.LogTail)
			}
			if tt.events != "" && !strings.Contains(strings.Join(g.Events, "\n"), tt.events) {
				t.Errorf("events %q lack %q", g.Events, tt.events)
			}
			if re.Revision != 2 || re.RolledBackTo != 1 || re.RollbackErr != nil || re.Uninstalled {
				t.Errorf("rollout error %+v, want revision 2 rolled back to 1", re)
			}
			if !strings.HasPrefix(err.Error(), "release app revision 2 did not become ready: pod app-h2-0") ||
				!strings.HasSuffix(err.Error(), "; rolled back to revision 1, which keeps serving") {
				t.Errorf("error sentence: %s", err)
			}
			if got := f.statuses(); got != "1:superseded 2:failed 3:deployed" {
				t.Errorf("history: %s", got)
			}
			st, _ := f.d.Current(ctx, "app")
			if st.Value("image.tag") != "good-1" {
				t.Errorf("after the rollback the deployed image is %q, want good-1", st.Value("image.tag"))
			}
			// the good pod kept serving
			if _, err := f.cs.CoreV1().Pods(testNS).Get(ctx, "app-h1-0", metav1.GetOptions{}); err != nil {
				t.Errorf("the previous pod: %v", err)
			}
		})
	}
}

func TestFirstInstallFailureUninstalls(t *testing.T) {
	f := newFixture(t)
	_, err := f.d.Upgrade(context.Background(), f.request("notfound"))
	var re *RolloutError
	if !errors.As(err, &re) || !re.Uninstalled || re.RolledBackTo != 0 {
		t.Fatalf("err = %#v", err)
	}
	if !strings.HasSuffix(err.Error(), "; removed the release, which had never been deployed before") {
		t.Errorf("error sentence: %s", err)
	}
	if _, err := f.d.Current(context.Background(), "app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a failed first install: %v, want ErrNotFound", err)
	}
}

func TestRollbackToTheLastGoodRevisionWhenNoneIsDeployed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tag := range []string{"good-1", "good-2"} {
		if _, err := f.d.Upgrade(ctx, f.request(tag)); err != nil {
			t.Fatal(err)
		}
	}
	h := f.history()
	if err := f.d.markFailed(h[1], "a rollback that failed"); err != nil { // nothing deployed now
		t.Fatal(err)
	}
	_, err := f.d.Upgrade(ctx, f.request("notfound"))
	var re *RolloutError
	if !errors.As(err, &re) || re.RolledBackTo != 1 || re.Uninstalled {
		t.Fatalf("err = %v, want a rollback to revision 1", err)
	}
	// Helm's upgrade supersedes the failed revision it started from
	if got := f.statuses(); got != "1:superseded 2:superseded 3:failed 4:deployed" {
		t.Errorf("history: %s", got)
	}
}

func TestTimeoutDiagnosis(t *testing.T) {
	f := newFixture(t, WithTimeout(500*time.Millisecond))
	ctx := context.Background()
	if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	_, err := f.d.Upgrade(ctx, f.request("slow"))
	var re *RolloutError
	if !errors.As(err, &re) || re.Diagnosis.Reason != ReasonPending || re.RolledBackTo != 1 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(re.Diagnosis.Message, "did not become ready in time: ContainerCreating") {
		t.Errorf("diagnosis: %+v", re.Diagnosis)
	}
}

// pending stores a copy of the release's last revision as revision n with status.
func (f *fixture) pending(n int, status release.Status, tag string) {
	f.t.Helper()
	h := f.history()
	var r release.Release
	if len(h) > 0 {
		r = *h[len(h)-1]
	} else {
		r = release.Release{Name: "app", Namespace: testNS, Chart: nil, Manifest: ""}
	}
	info := release.Info{Status: status, Description: "Preparing"}
	r.Info = &info
	r.Version = n
	r.Config = map[string]any{"image": map[string]any{"tag": tag}}
	if err := f.cfg.Releases.Create(&r); err != nil {
		f.t.Fatal(err)
	}
}

func TestPendingRecovered(t *testing.T) {
	t.Run("pending-upgrade", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
			t.Fatal(err)
		}
		f.pending(2, release.StatusPendingUpgrade, "slow")
		res, err := f.d.Upgrade(ctx, f.request("good-2"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "release app was left pending-upgrade (revision 2) by an interrupted run: rolled back to revision 1"; res.Recovered != want {
			t.Errorf("recovered: %q, want %q", res.Recovered, want)
		}
		if got := f.statuses(); got != "1:superseded 2:failed 3:superseded 4:deployed" || res.Revision != 4 {
			t.Errorf("history %s, revision %d", got, res.Revision)
		}
	})
	t.Run("pending-install", func(t *testing.T) {
		f := newFixture(t)
		f.pending(1, release.StatusPendingInstall, "good-0")
		res, err := f.d.Upgrade(context.Background(), f.request("good-1"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "release app was left pending-install (revision 1) by an interrupted run: removed it"; res.Recovered != want || !res.Installed || res.Revision != 1 {
			t.Errorf("result %+v, want recovered %q and a fresh install", res, want)
		}
	})
}

func TestCancelRollsBack(t *testing.T) {
	f := newFixture(t)
	if _, err := f.d.Upgrade(context.Background(), f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := f.request("slow")
	req.Progress = func(p Progress) {
		for _, ps := range p.Pods {
			if ps.New && ps.State == "ContainerCreating" {
				cancel() // Ctrl-C while the new pod is starting
			}
		}
	}
	_, err := f.d.Upgrade(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if want := "deploying release app revision 2 was interrupted; rolled back to revision 1: context canceled"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if got := f.statuses(); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history: %s", got)
	}
	// and the next up works
	if res, err := f.d.Upgrade(context.Background(), f.request("good-2")); err != nil || res.Revision != 4 {
		t.Fatalf("next upgrade: %+v %v", res, err)
	}
}

func TestMissingNamespace(t *testing.T) {
	f := newFixture(t)
	if err := f.cs.CoreV1().Namespaces().Delete(context.Background(), testNS, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.d.Upgrade(context.Background(), f.request("good-1"))
	if want := "namespace dev does not exist: create it with kubectl create namespace dev or set create-namespace = true in draft.toml"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	req := f.request("good-1")
	req.CreateNamespace = true
	if _, err := f.d.Upgrade(context.Background(), req); err != nil {
		t.Fatalf("with CreateNamespace: %v", err)
	}
}

func TestUninstall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	err := f.d.Uninstall(ctx, "app", true)
	if !errors.Is(err, ErrNotFound) || err.Error() != "release app does not exist in namespace dev" {
		t.Fatalf("uninstalling a release that does not exist: %v", err)
	}
	if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	// the garbage collector takes the pods away a while after the uninstall
	f.sim.SetGCAfter(300 * time.Millisecond)
	start := time.Now()
	if err := f.d.Uninstall(ctx, "app", true); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("uninstall returned after %s, want when the pods are gone (300ms)", took)
	}
	if _, err := f.d.Current(ctx, "app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after uninstall: %v", err)
	}
}

func TestRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tag := range []string{"good-1", "good-2"} {
		if _, err := f.d.Upgrade(ctx, f.request(tag)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := f.d.Rollback(ctx, "app", 0, nil)
	if err != nil || res.Revision != 3 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	st, _ := f.d.Current(ctx, "app")
	if st.Value("image.tag") != "good-1" || st.Description != "Rollback to 1" {
		t.Errorf("after rollback: %+v", st)
	}
}

func TestMergeValues(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dev.yaml"), []byte("replicaCount: 2\nimage:\n  pullPolicy: Always\n  tag: fromfile\nenv:\n  A: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  ValueSources
		want map[string]any
		err  string
	}{
		{name: "nothing", want: map[string]any{}},
		{name: "set like helm", src: ValueSources{Set: []string{"a.b=1", "list={x,y}", "s=true"}},
			want: map[string]any{"a": map[string]any{"b": int64(1)}, "list": []any{"x", "y"}, "s": true}},
		{name: "file, set, override", src: ValueSources{Dir: dir, Files: []string{"dev.yaml"}, Set: []string{"env.B=b", "replicaCount=3"},
			Override: map[string]any{"image": map[string]any{"tag": "t", "digest": "sha256:abc"}}},
			want: map[string]any{"replicaCount": int64(3), "env": map[string]any{"A": "a", "B": "b"},
				"image": map[string]any{"pullPolicy": "Always", "tag": "t", "digest": "sha256:abc"}}},
		{name: "missing file", src: ValueSources{Dir: dir, Files: []string{"nope.yaml"}}, err: "the values file " + filepath.Join(dir, "nope.yaml") + " cannot be read"},
		{name: "bad set", src: ValueSources{Set: []string{"a"}}, err: "key \"a\" has no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeValues(tt.src)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestClassifyPull(t *testing.T) {
	tests := map[string]string{
		`failed to pull and unpack image "r/a:1": failed to resolve reference "r/a:1": r/a:1: not found`:                 ReasonImageNotFound,
		`rpc error: code = NotFound desc = failed to pull and unpack image "x": manifest unknown`:                        ReasonImageNotFound,
		`failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`:                      ReasonImageUnauthorized,
		`pull access denied, repository does not exist or may require authorization: server message: insufficient_scope`: ReasonImageUnauthorized,
		`failed to pull and unpack image "x": no match for platform in manifest: not found`:                              ReasonImagePlatform,
		`failed to do request: Head "https://r/v2/a/manifests/1": dial tcp 10.0.0.1:443: connect: connection refused`:    ReasonImagePull,
		`Back-off pulling image "x"`: ReasonImagePull,
	}
	for msg, want := range tests {
		if got := classifyPull(msg); got != want {
			t.Errorf("classifyPull(%q) = %s, want %s", msg, got, want)
		}
	}
}

func TestShortPullError(t *testing.T) {
	tests := map[string]string{
		`failed to pull and unpack image "r/a:1": failed to resolve reference "r/a:1": failed to do request: Head "https://r/v2/a/manifests/1": dial tcp 10.0.0.1:443: connect: connection refused`: `Head "https://r/v2/a/manifests/1": dial tcp 10.0.0.1:443: connect: connection refused`,
		`failed to pull and unpack image "x": failed to resolve reference "x": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`:                           `unexpected status: 401 Unauthorized`,
		`Back-off pulling image "x": ErrImagePull: rpc error: code = Unknown desc = failed to pull and unpack image "x": i/o timeout`:                                                               `i/o timeout`,
		`plain`: `plain`,
	}
	for in, want := range tests {
		if got := shortPullError(in); got != want {
			t.Errorf("shortPullError(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPodPhrase(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	if got := podPhrase(p); got != "Pending" {
		t.Errorf("podPhrase = %q", got)
	}
	deploysim.SetWaiting(p, "ImagePullBackOff", "")
	if got := podPhrase(p); got != "ImagePullBackOff" {
		t.Errorf("podPhrase = %q", got)
	}
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if got := podPhrase(p); got != "Terminating" {
		t.Errorf("podPhrase = %q", got)
	}
}

// An app that takes longer than the probe grace to listen, and is Ready
// within the timeout, is deployed: a starting container (no restarts) is not
// a failure until the timeout says so.
func TestSlowStartGetsTheWholeTimeout(t *testing.T) {
	f := newFixture(t, WithProbeGrace(200*time.Millisecond))
	ctx := context.Background()
	if _, err := f.d.Upgrade(ctx, f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	req := f.request("late") // unready for 800 ms, then Ready
	req.Timeout = 5 * time.Second
	res, err := f.d.Upgrade(ctx, req)
	if err != nil {
		t.Fatalf("an app Ready after 0.8 s (probe grace 0.2 s, timeout 5 s) was failed: %v", err)
	}
	if res.Revision != 2 {
		t.Errorf("revision %d, want 2", res.Revision)
	}
}

// NoWait (wait = false) returns once the manifests are applied, for a pod
// that would never become Ready too, and leaves the revision deployed.
func TestNoWaitReturnsOnceApplied(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := f.request("slow") // stays ContainerCreating
	req.NoWait = true
	req.Timeout = 5 * time.Second
	start := time.Now()
	res, err := f.d.Upgrade(ctx, req)
	if err != nil {
		t.Fatalf("NoWait: %v", err)
	}
	if !res.NotWaited || res.Revision != 1 || res.Ready != 0 {
		t.Errorf("result %+v, want revision 1, not waited", res)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("NoWait took %s: it waited for the pods", d)
	}
	if h := f.history(); len(h) != 1 || h[0].Info.Status.String() != "deployed" {
		t.Errorf("history %v, want one deployed revision", h)
	}
}

// A pod whose Secret the kubelet has not synced yet (the node authorizer
// learns of a new pod's Secrets a moment late) is waited for: the kubelet
// tries again. A Secret that does not exist fails at once (TestDiagnosis).
func TestSecretCacheSyncIsWaitedFor(t *testing.T) {
	f := newFixture(t)
	req := f.request("secretsync")
	req.Timeout = 5 * time.Second
	if _, err := f.d.Upgrade(context.Background(), req); err != nil {
		t.Fatalf("a pod Ready 0.6 s after a late Secret sync was failed: %v", err)
	}
}

// A release deployed without values reads back from Helm's storage with
// none (nil): the same inputs as the empty values of the next up.
func TestSameInputsEmptyValues(t *testing.T) {
	ch := &chart.Chart{Metadata: &chart.Metadata{Name: "svc", Version: "0.1.0"}}
	fp := fingerprint(ch, map[string]any{})
	rel := &release.Release{Chart: ch, Config: nil, Labels: map[string]string{labelInputs: fp}}
	if !sameInputs(rel, ch, map[string]any{}, fp) {
		t.Error("nil stored values differ from empty ones")
	}
	if sameInputs(rel, ch, map[string]any{"a": 1}, fp) {
		t.Error("stored nil values equal {a: 1}")
	}
}

// EnsureSecret makes a Secret once and reads it after (the data function
// is not called again); Purge removes the release's claims and draft's
// Secrets, and leaves others' alone.
func TestEnsureSecretAndPurge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	calls := 0
	make1 := func() map[string]string { calls++; return map[string]string{"PASSWORD": "p1"} }
	got, created, err := f.d.EnsureSecret(ctx, "db-credentials", "db", make1)
	if err != nil || !created || got["PASSWORD"] != "p1" {
		t.Fatalf("first EnsureSecret: %v %v %v", got, created, err)
	}
	got, created, err = f.d.EnsureSecret(ctx, "db-credentials", "db", func() map[string]string { return map[string]string{"PASSWORD": "p2"} })
	if err != nil || created || got["PASSWORD"] != "p1" || calls != 1 {
		t.Fatalf("second EnsureSecret: %v %v %v (the password must be kept)", got, created, err)
	}
	for _, pvc := range []struct{ name, instance string }{{"db-data", "db"}, {"other-data", "other"}} {
		_, err := f.cs.CoreV1().PersistentVolumeClaims(testNS).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: pvc.name, Labels: map[string]string{instanceLabel: pvc.instance}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	// a Secret of the release that draft did not make stays
	if _, err := f.cs.CoreV1().Secrets(testNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-tls", Labels: map[string]string{instanceLabel: "db"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gone, err := f.d.Purge(ctx, "db")
	if err != nil || !reflect.DeepEqual(gone, []string{"persistentvolumeclaim/db-data", "secret/db-credentials"}) {
		t.Fatalf("Purge = %v, %v", gone, err)
	}
	if _, err := f.cs.CoreV1().PersistentVolumeClaims(testNS).Get(ctx, "other-data", metav1.GetOptions{}); err != nil {
		t.Errorf("another release's claim went: %v", err)
	}
	if _, err := f.cs.CoreV1().Secrets(testNS).Get(ctx, "db-tls", metav1.GetOptions{}); err != nil {
		t.Errorf("a Secret draft did not make went: %v", err)
	}
}
