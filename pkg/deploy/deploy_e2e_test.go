//go:build e2e

// The integration test of pkg/deploy against the real environment
// (e2e/env/up): a real cluster pulling from a real registry, draft's own
// chart, images pushed by go-containerregistry. It needs the exports of
//
//	eval "$(bash e2e/env/up)"
//
// and skips without them (in CI, where CI=true, it fails instead).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
	"github.com/draftk8s/draft/pkg/pack"
)

const helloSource = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if os.Getenv("CRASH") != "" {
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(os.Stderr, "crash line %d: the database is not there\n", i)
		}
		os.Exit(3)
	}
	port := os.Getenv("LISTEN") // set in the image, it wins over the chart's PORT
	if port == "" {
		port = os.Getenv("PORT")
	}
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", os.Getenv("MESSAGE"))
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// helloBase compiles the server for the nodes' platform, as one layer on an
// empty image.
func helloBase(t *testing.T, goos, goarch string) v1.Image {
	return testkit.GoImage(t, helloSource, goos, goarch)
}

// push pushes base with env added to its config, and returns its digest.
func push(t *testing.T, base v1.Image, repo, tag string, env ...string) string {
	t.Helper()
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = append(cf.Config.Env, env...)
	img, err := mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	dg, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dg.String()
}

// chartOf renders draft's own chart (the Go pack's) for app into a folder.
func chartOf(t *testing.T, app string) string {
	t.Helper()
	ps, err := pack.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pack.Find(ps, "go")
	if !ok {
		t.Fatal("no go pack")
	}
	r, err := p.Render(pack.Input{App: app, Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range r.Files {
		if !strings.HasPrefix(f.Path, pack.ChartDir(app)+"/") {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(pack.ChartDir(app)))
}

// answer asks the release's pods, through the API server's proxy, what they
// say, and returns the distinct answers of the Ready ones.
func answer(t *testing.T, c *kube.Cluster, ns, release string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: instanceLabel + "=" + release})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !kube.PodReady(&p) {
			continue
		}
		raw, err := c.Client.CoreV1().Pods(ns).ProxyGet("http", p.Name, "8080", "/", nil).DoRaw(ctx)
		if err != nil {
			t.Fatalf("GET / of pod %s through the API server: %v", p.Name, err)
		}
		s := strings.TrimSpace(string(raw))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func TestE2EDeploy(t *testing.T) {
	if os.Getenv("KUBECONFIG") == "" || os.Getenv("DRAFT_REGISTRY") == "" {
		testkit.SkipOrFail(t, "KUBECONFIG and DRAFT_REGISTRY are not set")
	}
	ctx := context.Background()
	c, err := kube.Resolve(ctx, kube.Options{})
	if err != nil {
		testkit.SkipOrFail(t, "the cluster is not there: %v", err)
	}
	if err := kube.CheckLocal(c, nil); err != nil {
		t.Fatal(err)
	}
	reg := os.Getenv("DRAFT_REGISTRY")
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + reg + "/v2/"); err != nil {
		testkit.SkipOrFail(t, "the registry %s does not answer: %v", reg, err)
	} else {
		resp.Body.Close()
	}
	goos, goarch, err := kube.NodePlatform(ctx, c)
	if err != nil {
		t.Fatal(err)
	}

	nsObj, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "draft-e2e-deploy-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	repo := reg + "/draft-e2e/deploy-hello"
	base := helloBase(t, goos, goarch)
	digests := map[string]string{}
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5", "v6", "v7"} {
		digests[v] = push(t, base, repo, v, "MESSAGE="+v+" "+ns)
	}
	digests["crash"] = push(t, base, repo, "crash", "CRASH=1")
	digests["deaf"] = push(t, base, repo, "deaf", "LISTEN=9999")
	digests["missing"] = "sha256:" + strings.Repeat("0f", 32)

	chartDir := chartOf(t, "hello")
	d, err := New(c.Getter, ns, WithClient(c.Client))
	if err != nil {
		t.Fatal(err)
	}
	const rel = "hello"
	values := func(v string, set ...string) map[string]any {
		vals, err := MergeValues(ValueSources{Set: set, Override: map[string]any{"image": map[string]any{"repository": repo, "tag": v, "digest": digests[v]}}})
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	var progress []string
	upCtx := func(ctx context.Context, d *Deployer, v string, set ...string) (*Result, time.Duration, error) {
		progress = nil
		start := time.Now()
		res, err := d.Upgrade(ctx, Request{Release: rel, ChartDir: chartDir, Values: values(v, set...), Timeout: 2 * time.Minute,
			Progress: func(p Progress) {
				progress = append(progress, fmt.Sprintf("%6s %s", time.Since(start).Round(time.Millisecond), p))
			}})
		return res, time.Since(start), err
	}
	up := func(v string, set ...string) (*Result, time.Duration, error) { return upCtx(ctx, d, v, set...) }
	wantAnswer := func(v string) {
		t.Helper()
		got := answer(t, c, ns, rel)
		if want := "hello " + v + " " + ns; len(got) != 1 || got[0] != want {
			t.Fatalf("the release answers %q, want only %q", got, want)
		}
	}

	// install
	res, took, err := up("v1")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, strings.Join(progress, "\n"))
	}
	t.Logf("install v1: revision %d in %s (apply %s, ready %s)", res.Revision, took.Round(time.Millisecond), res.Apply.Round(time.Millisecond), res.Ready.Round(time.Millisecond))
	if res.Revision != 1 || !res.Installed {
		t.Fatalf("install: %+v", res)
	}
	wantAnswer("v1")

	// upgrades with a new digest, draft's watch against Helm's own --wait
	var ours, helms []time.Duration
	for i, v := range []string{"v2", "v3", "v4", "v5", "v6", "v7"} {
		if i%2 == 0 {
			res, took, err := up(v)
			if err != nil {
				t.Fatalf("upgrade to %s: %v", v, err)
			}
			ours = append(ours, took)
			t.Logf("upgrade to %s (draft's watch): revision %d in %s (apply %s, ready %s)\n%s", v, res.Revision, took.Round(time.Millisecond),
				res.Apply.Round(time.Millisecond), res.Ready.Round(time.Millisecond), strings.Join(progress, "\n"))
		} else {
			ch, err := loader.Load(chartDir)
			if err != nil {
				t.Fatal(err)
			}
			hu := action.NewUpgrade(d.cfg)
			hu.Namespace, hu.Wait, hu.Timeout, hu.MaxHistory, hu.ResetValues = ns, true, 2*time.Minute, 10, true
			start := time.Now()
			r, err := hu.RunWithContext(ctx, rel, ch, values(v))
			if err != nil {
				t.Fatalf("helm upgrade --wait to %s: %v", v, err)
			}
			took := time.Since(start)
			helms = append(helms, took)
			t.Logf("upgrade to %s (Helm's --wait): revision %d in %s", v, r.Version, took.Round(time.Millisecond))
		}
		wantAnswer(v)
	}
	t.Logf("upgrade to a new digest until Ready: draft's watch %s (mean %s), Helm's --wait %s (mean %s)", ours, mean(ours), helms, mean(helms))

	// nothing changed: no revision
	before, _ := d.History(ctx, rel)
	res, took, err = up("v6")
	if err != nil {
		t.Fatal(err)
	}
	res2, took2, err := up("v6")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := d.History(ctx, rel)
	t.Logf("unchanged upgrade: %+v in %s (the first after Helm's own upgrade redeploys: %v in %s)", res2, took2.Round(time.Millisecond), res.Unchanged, took.Round(time.Millisecond))
	if !res2.Unchanged || len(after) != len(before)+btoi(!res.Unchanged) {
		t.Fatalf("an unchanged upgrade made a revision: %d revisions before, %d after", len(before), len(after))
	}
	good := res2.Revision

	// an image that does not exist: fast failure, rollback, v6 keeps serving
	_, took, err = up("missing")
	var re *RolloutError
	if !errors.As(err, &re) {
		t.Fatalf("deploying a missing image: err = %v", err)
	}
	t.Logf("missing image: failed and rolled back in %s: %v\n  events: %q\n%s", took.Round(time.Millisecond), err, re.Diagnosis.Events, strings.Join(progress, "\n"))
	if re.Diagnosis.Reason != ReasonImageNotFound || re.RolledBackTo != good || re.RollbackErr != nil {
		t.Fatalf("diagnosis %+v, rolled back to %d (%v), want ImageNotFound and %d", re.Diagnosis, re.RolledBackTo, re.RollbackErr, good)
	}
	if took > 30*time.Second {
		t.Errorf("a missing image took %s to diagnose", took)
	}
	wantAnswer("v6")

	// a crash loop: diagnosis with the log, rollback
	_, took, err = up("crash")
	if !errors.As(err, &re) {
		t.Fatalf("deploying a crashing image: err = %v", err)
	}
	t.Logf("crash loop: failed and rolled back in %s: %v\n  log: %q\n  events: %q\n%s", took.Round(time.Millisecond), err, re.Diagnosis.LogTail, re.Diagnosis.Events, strings.Join(progress, "\n"))
	if re.Diagnosis.Reason != ReasonCrashLoop || !strings.Contains(strings.Join(re.Diagnosis.LogTail, "\n"), "crash line 30: the database is not there") ||
		len(re.Diagnosis.LogTail) != logTailLines || !strings.Contains(re.Diagnosis.Message, "exited with code 3") {
		t.Fatalf("diagnosis %+v", re.Diagnosis)
	}
	if re.RolledBackTo == 0 || re.RollbackErr != nil {
		t.Fatalf("rollback: %+v", re)
	}
	wantAnswer("v6")
	// a readiness probe that keeps failing: the app listens on another port
	// than the chart's probe checks; it has the whole timeout while it never
	// restarted, then (its liveness probe restarts it) the probe grace, short here
	dShort, err := New(c.Getter, ns, WithClient(c.Client), WithProbeGrace(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, took, err = upCtx(ctx, dShort, "deaf")
	if !errors.As(err, &re) {
		t.Fatalf("deploying an app that never gets ready: err = %v", err)
	}
	t.Logf("failing readiness probe (grace 5 s): failed and rolled back in %s: %v\n  events: %q", took.Round(time.Millisecond), err, re.Diagnosis.Events)
	if re.Diagnosis.Reason != ReasonProbe || !strings.Contains(re.Diagnosis.Message, "Readiness probe failed") || !strings.Contains(re.Diagnosis.Message, "connection refused") {
		t.Fatalf("diagnosis %+v", re.Diagnosis)
	}
	wantAnswer("v6")

	// pods that cannot be scheduled
	_, took, err = up("v6", "resources.requests.cpu=64", "resources.limits.cpu=64")
	if !errors.As(err, &re) {
		t.Fatalf("deploying pods too big for the node: err = %v", err)
	}
	t.Logf("unschedulable: failed and rolled back in %s: %v", took.Round(time.Millisecond), err)
	if re.Diagnosis.Reason != ReasonUnschedulable || !strings.Contains(re.Diagnosis.Message, "Insufficient cpu") {
		t.Fatalf("diagnosis %+v", re.Diagnosis)
	}
	wantAnswer("v6")

	// Ctrl-C while the new pod starts: rolled back, and the next up works
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for cctx.Err() == nil {
			pods, _ := c.Client.CoreV1().Pods(ns).List(cctx, metav1.ListOptions{LabelSelector: instanceLabel + "=" + rel})
			if pods != nil && len(pods.Items) > 1 {
				cancel()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_, took, err = upCtx(cctx, d, "v5")
	cancel()
	t.Logf("Ctrl-C during the rollout: returned in %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "was interrupted; rolled back to revision") {
		t.Fatalf("err = %v, want an interrupted, rolled back deploy", err)
	}
	if cur, err := d.Current(ctx, rel); err != nil || cur.Value("image.tag") != "v6" || cur.Status != "deployed" {
		t.Fatalf("after Ctrl-C the release is %+v (%v), want v6 deployed", cur, err)
	}
	if res, _, err := up("v5"); err != nil || res.Recovered != "" {
		t.Fatalf("the up after Ctrl-C: %+v %v", res, err)
	}
	wantAnswer("v5")

	hist, _ := d.History(ctx, rel)
	var statuses []string
	for _, h := range hist {
		statuses = append(statuses, fmt.Sprintf("%d:%s", h.Revision, h.Status))
	}
	t.Logf("history: %s", strings.Join(statuses, " "))

	// uninstall waits until the pods are gone
	start := time.Now()
	if err := d.Uninstall(ctx, rel, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("uninstall with wait: %s", time.Since(start).Round(time.Millisecond))
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: instanceLabel + "=" + rel})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("pods left after uninstall: %d (%v)", len(pods.Items), err)
	}
	if err := d.Uninstall(ctx, rel, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("uninstalling again: %v, want ErrNotFound", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return (s / time.Duration(len(ds))).Round(time.Millisecond)
}
