package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/detect"
	"github.com/draftk8s/draft/pkg/ui"
)

// newProjectFixture is testdata/project (a Compose file: api and web built
// from folders, db and cache from images) created at its root, its
// services' images those the simulator starts, on the upFixture's registry
// and simulated cluster.
func newProjectFixture(t *testing.T) (*upFixture, *ProjectUp) {
	t.Helper()
	f := newUpFixture(t, "go-plain")
	root := filepath.Join(t.TempDir(), "shop")
	testkit.CopyTree(t, filepath.Join("testdata", "project"), root)
	res, err := (&Create{Dir: root}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Project == nil || len(res.Project.Apps) != 2 || len(res.Project.Services) != 2 {
		t.Fatalf("create at the root: %+v", res.Project)
	}
	toml := filepath.Join(root, config.FileName)
	b, _ := os.ReadFile(toml)
	b = regexp.MustCompile(`(?m)^  image = ".*"$`).ReplaceAll(b, []byte(`  image = "sim:good"`)) // Compose's images, for the simulator's
	if !bytes.Contains(b, []byte(`image = "sim:good"`)) {
		t.Fatalf("no service image in the project's draft.toml:\n%s", b)
	}
	if err := os.WriteFile(toml, b, 0o644); err != nil {
		t.Fatal(err)
	}
	u := f.up()
	u.Target.Dir = root
	return f, &ProjectUp{Up: *u}
}

// create at a project's root: each app in its folder, the services of the
// Compose file by their names there, and needs from depends_on.
func TestCreateProjectFromCompose(t *testing.T) {
	root := filepath.Join(t.TempDir(), "shop")
	testkit.CopyTree(t, filepath.Join("testdata", "project"), root)
	res, err := (&Create{Dir: root, With: []string{"mongodb"}, Without: []string{"redis"}}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"api/Dockerfile", "api/charts/api/Chart.yaml", "web/draft.toml", "charts/db/templates/pvc.yaml", "charts/mongodb/Chart.yaml", "draft.toml"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s was not written", p)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "charts", "cache")); err == nil {
		t.Error("--without redis wrote the cache's chart")
	}
	cfg, err := config.Load(filepath.Join(root, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Apps["api"].Needs, []string{"db", "mongodb"}) || !slices.Equal(cfg.Apps["web"].Needs, []string{"api", "mongodb"}) {
		t.Errorf("needs: api %v, web %v", cfg.Apps["api"].Needs, cfg.Apps["web"].Needs)
	}
	if cfg.Services["db"].Kind != "postgres" || cfg.Services["db"].Image != "postgres:16" || cfg.Services["mongodb"].Image != "" || cfg.Services["cache"] != nil {
		t.Errorf("services: %+v", cfg.Services)
	}
	web := res.Project.Apps[slices.IndexFunc(res.Project.Apps, func(a ProjectApp) bool { return a.Name == "web" })]
	if web.Result.Port != 8080 || res.Project.Compose != "compose.yaml" {
		t.Errorf("web's port %d (compose gives 8080), compose %q", web.Result.Port, res.Project.Compose)
	}
	if _, err := (&Create{Dir: root, With: []string{"oracle"}}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), `there is no service "oracle"`) {
		t.Errorf("--with oracle: %v", err)
	}
}

// up at a project's root: the services first with their Secrets, each app
// its own release after what it needs, with its services' connections; a
// second up changes nothing; an edit of one app redeploys it alone; a
// failing app is rolled back alone and named; delete removes every release
// and keeps the data unless purged.
func TestProjectUp(t *testing.T) {
	f, p := newProjectFixture(t)
	ctx := context.Background()
	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Order, []string{"cache", "db", "api", "web"}) {
		t.Errorf("order %v", res.Order)
	}
	for _, n := range []string{"cache", "db", "api", "web"} {
		if got := f.sim.Statuses(n); got != "1:deployed" {
			t.Errorf("%s: %s", n, got)
		}
	}
	if s := res.Services["db"]; s == nil || !slices.Equal(s.Created, []string{"db-credentials", "db-connection"}) {
		t.Errorf("db: %+v", s)
	}
	conn, err := f.sim.Clientset.CoreV1().Secrets(upNS).Get(ctx, "db-connection", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// the Compose file's own password (POSTGRES_PASSWORD=shop, its user and database the image's default)
	if u := string(conn.Data["DATABASE_URL"]); u != "postgres://postgres:shop@db:5432/postgres" {
		t.Errorf("DATABASE_URL %q", u)
	}
	cache, err := f.sim.Clientset.CoreV1().Secrets(upNS).Get(ctx, "cache-connection", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := string(cache.Data["REDIS_URL"]); u != "redis://cache:6379/0" { // Compose's Redis has no password
		t.Errorf("REDIS_URL %q", u)
	}
	rel, err := f.sim.Config.Releases.Last("api")
	if err != nil {
		t.Fatal(err)
	}
	if ef, _ := rel.Config["envFrom"].([]any); len(ef) != 2 || !strings.Contains(fmt.Sprint(ef), "db-connection") || !strings.Contains(fmt.Sprint(ef), "cache-connection") {
		t.Errorf("api's envFrom: %v", ef)
	}
	lines := strings.Join(ProjectSummary(res), "\n")
	if !strings.Contains(lines, "db is ready: revision 1 (made its password: Secrets db-credentials, db-connection)") || !strings.Contains(lines, "api is ready: revision 1") {
		t.Errorf("summary:\n%s", lines)
	}

	// Nothing changed: no new revision anywhere, nothing pushed.
	res, err = p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"api", "web"} {
		if r := res.Apps[n]; r == nil || !r.Unchanged {
			t.Errorf("%s on the second up: %+v", n, r)
		}
	}
	if s := res.Services["db"]; !s.Unchanged || len(s.Created) != 0 {
		t.Errorf("db on the second up: %+v", s)
	}

	// An edit of the API: it alone gets a new revision.
	main := filepath.Join(p.Up.Dir, "api", "main.go")
	b, _ := os.ReadFile(main)
	os.WriteFile(main, append(b, "\n// changed\n"...), 0o644)
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.sim.Statuses("api") + " " + f.sim.Statuses("web") + " " + f.sim.Statuses("db"); got != "1:superseded 2:deployed 1:deployed 1:deployed" {
		t.Errorf("after an edit of api: %s", got)
	}

	// The front-end broken: it alone fails, is rolled back, and is named.
	wtoml := filepath.Join(p.Up.Dir, "web", config.FileName)
	b, _ = os.ReadFile(wtoml)
	os.WriteFile(wtoml, []byte(strings.Replace(string(b), "set = []", `set = ["podAnnotations.deploysim/behave=crash"]`, 1)), 0o644)
	b, _ = os.ReadFile(main)
	os.WriteFile(main, append(b, "\n// changed again\n"...), 0o644)
	res, err = p.Run(ctx)
	var pe *ProjectError
	if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []string{"web"}) || !strings.Contains(err.Error(), "1 of 4 failed (web), 3 deployed") {
		t.Fatalf("up with a broken front-end: %v", err)
	}
	if len(DiagnosisLines(err)) == 0 {
		t.Error("no diagnosis for the failed app")
	}
	if got := f.sim.Statuses("api"); !strings.HasSuffix(got, "3:deployed") {
		t.Errorf("api did not keep its new version: %s", got)
	}

	// delete at the root: every release, the data kept; then purged.
	d := &ProjectDelete{Target: p.Up.Target}
	dres, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dres.Deleted, []string{"web", "api", "db", "cache"}) || !slices.Contains(dres.Kept, "secret/db-credentials") {
		t.Errorf("delete: %+v", dres)
	}
	if _, err := f.sim.Clientset.CoreV1().Secrets(upNS).Get(ctx, "db-credentials", metav1.GetOptions{}); err != nil {
		t.Errorf("the password went with the release: %v", err)
	}
	d.Purge = true
	dres, err = d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dres.Deleted) != 0 || !slices.Contains(dres.Purged, "secret/db-credentials") {
		t.Errorf("delete --purge: %+v", dres)
	}
}

// connect at a project's root: every app's port, on local ports chosen the
// same way every time (api keeps 8080; web, whose port is 8080 too, gets
// 8081), each app's pods followed.
func TestProjectConnect(t *testing.T) {
	_, p := newProjectFixture(t)
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	target := p.Up.Target
	target.Deps.DialPod = func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
		return nil, errors.New("not dialled in this test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got map[string][]PortMapping
	var apps []string
	pc := &ProjectConnect{Connect: Connect{Target: target}, OnReady: func(a []string, ports map[string][]PortMapping) {
		apps, got = a, ports
		cancel()
	}}
	if err := pc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(apps, []string{"api", "web"}) {
		t.Fatalf("apps %v", apps)
	}
	if m := got["api"]; len(m) != 1 || m[0].Local != 8080 || m[0].Remote != 8080 {
		t.Errorf("api's ports %+v, want 8080 -> 8080", m)
	}
	if m := got["web"]; len(m) != 1 || m[0].Local != 8081 || m[0].Remote != 8080 {
		t.Errorf("web's ports %+v, want 8081 -> 8080 (8080 is api's)", m)
	}
	if err := (&ProjectConnect{Connect: Connect{Target: target}, Only: []string{"db"}}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "none of db is an app") {
		t.Errorf("connect to a service: %v", err)
	}
}

// watch at a project's root: the first up deploys everything; an edit in
// one app's folder redeploys that app alone.
func TestProjectWatch(t *testing.T) {
	f, p := newProjectFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ups := make(chan *ProjectResult, 10)
	w := &ProjectWatch{Up: *p, Delay: 50 * time.Millisecond, Redeployed: func(res *ProjectResult, err error) {
		if err != nil {
			t.Errorf("an up of the watch: %v", err)
		}
		ups <- res
	}}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	next := func() *ProjectResult {
		t.Helper()
		select {
		case r := <-ups:
			return r
		case err := <-done:
			t.Fatalf("the watch ended: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no up within 30 s")
		}
		return nil
	}
	if first := next(); len(first.Apps) != 2 {
		t.Fatalf("first up: %+v", first)
	}
	main := filepath.Join(p.Up.Dir, "web", "main.go")
	b, _ := os.ReadFile(main)
	os.WriteFile(main, append(b, "\n// changed\n"...), 0o644)
	r := next()
	if r.Apps["web"] == nil || r.Apps["web"].Revision != 2 || r.Apps["api"] == nil || !r.Apps["api"].Unchanged {
		t.Errorf("after an edit of web: web %+v, api %+v", r.Apps["web"], r.Apps["api"])
	}
	if got := f.sim.Statuses("api") + " " + f.sim.Statuses("db"); got != "1:deployed 1:deployed" {
		t.Errorf("api and db after an edit of web: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the watch ended with %v", err)
	}
}

func TestAppsOfChange(t *testing.T) {
	cfg := &config.Config{Apps: map[string]*config.App{"api": {Path: "backend"}, "web": {Path: "frontend/app"}}}
	for _, tt := range []struct {
		paths []string
		want  []string
	}{
		{[]string{"backend/main.go"}, []string{"api"}},
		{[]string{"frontend/app/src/x.js", "backend"}, []string{"api", "web"}},
		{[]string{"frontend/README.md", "docs/a.md"}, nil},
		{[]string{"draft.toml"}, []string{"api", "web"}},
		{[]string{"charts/db/values.yaml"}, []string{"api", "web"}},
		{[]string{"."}, []string{"api", "web"}},
		{[]string{"backendx/main.go"}, nil},
	} {
		if got := appsOfChange(cfg, tt.paths); !slices.Equal(got, tt.want) {
			t.Errorf("appsOfChange(%v) = %v, want %v", tt.paths, got, tt.want)
		}
	}
}

// logs at a project's root: every app's pods (not the services'), each
// line prefixed by its pod.
func TestProjectLogs(t *testing.T) {
	_, p := newProjectFixture(t)
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	pl := &ProjectLogs{Logs: Logs{Target: p.Up.Target, Tail: 10, Out: &out}}
	if err := pl.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "[api-h1-0/api] fake logs") || !strings.Contains(got, "[web-h1-0/web] fake logs") || strings.Contains(got, "[db-") {
		t.Errorf("logs at the root:\n%s", got)
	}
	out.Reset()
	pl.Only = []string{"web"}
	if err := pl.Run(context.Background()); err != nil || strings.Contains(out.String(), "api-") {
		t.Errorf("logs of web only: %v\n%s", err, out.String())
	}
}

// A variable Compose gives an app that draft's services do not is said.
func TestCreateProjectUnsetEnv(t *testing.T) {
	root := filepath.Join(t.TempDir(), "shop")
	testkit.CopyTree(t, filepath.Join("testdata", "project"), root)
	compose := filepath.Join(root, "compose.yaml")
	b, _ := os.ReadFile(compose)
	os.WriteFile(compose, bytes.Replace(b, []byte("      DATABASE_URL: postgres://shop:shop@db:5432/shop\n"), []byte("      DATABASE_URL: postgres://shop:shop@db:5432/shop\n      SECRET_KEY: dev\n"), 1), 0o644)
	res, err := (&Create{Dir: root, DryRun: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	note := strings.Join(res.Notes, "\n")
	if !strings.Contains(note, "api: compose.yaml gives it SECRET_KEY, which draft does not") || strings.Contains(note, "DATABASE_URL") {
		t.Errorf("notes:\n%s", note)
	}
}

func TestTutorialVariants(t *testing.T) {
	sub := func(dirs ...string) []detect.SubApp {
		var out []detect.SubApp
		for _, d := range dirs {
			out = append(out, detect.SubApp{Dir: d})
		}
		return out
	}
	for _, tt := range []struct {
		apps []detect.SubApp
		want bool
	}{
		{sub("initial", "complete", "initial-kotlin", "complete-kotlin"), true},
		{sub("step-1", "step2", "final"), true},
		{sub("backend", "frontend"), false},
		{sub("complete", "api"), false},
		{sub("complete"), false},
	} {
		if got := tutorialVariants(tt.apps); got != tt.want {
			t.Errorf("tutorialVariants(%v) = %v", tt.apps, got)
		}
	}
}

// Compose's services behind a profile (a seed job) are left out, and said.
func TestCreateProjectComposeProfiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "shop")
	testkit.CopyTree(t, filepath.Join("testdata", "project"), root)
	testkit.CopyTree(t, filepath.Join("testdata", "project", "web"), filepath.Join(root, "seed"))
	compose := filepath.Join(root, "compose.yaml")
	b, _ := os.ReadFile(compose)
	os.WriteFile(compose, append(b, "  seed:\n    build: ./seed\n    profiles: [\"seed\"]\n"...), 0o644)
	res, err := (&Create{Dir: root, DryRun: true}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Project.Apps) != 2 || !slices.Equal(res.Project.Skipped, []string{"seed (profiles seed)"}) {
		t.Errorf("apps %d, skipped %v", len(res.Project.Apps), res.Project.Skipped)
	}
}

// up --auto-connect at a project's root: the project is upped, then every
// app's ports are forwarded, with the cluster up resolved.
func TestSessionProjectAutoConnect(t *testing.T) {
	f, p := newProjectFixture(t)
	u := p.Up
	u.Deps.DialPod = func(ctx context.Context, pod *corev1.Pod) (httpstream.Connection, error) {
		return nil, errors.New("not dialled in this test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	yes, no := true, false
	var apps []string
	s := &Session{Up: &u, Watch: &no, AutoConnect: &yes, Connect: &Connect{},
		ProjectReady: func(a []string, ports map[string][]PortMapping) { apps = a; cancel() }}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(apps, []string{"api", "web"}) {
		t.Errorf("connected to %v", apps)
	}
	if f.resolved != 1 {
		t.Errorf("the cluster was resolved %d times, want once", f.resolved)
	}
}

// One build slot: the apps build one at a time, and an app whose image the
// registry has takes no slot (nothing waits on a build that is not there).
func TestProjectUpOneBuildSlot(t *testing.T) {
	f, p := newProjectFixture(t)
	p.Parallel = 1
	ctx := context.Background()
	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Apps["api"].Path == "" || res.Apps["web"].Path == "" {
		t.Errorf("both apps built: api %q, web %q", res.Apps["api"].Path, res.Apps["web"].Path)
	}
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.sim.Statuses("api") + " " + f.sim.Statuses("web"); got != "1:deployed 1:deployed" {
		t.Errorf("after a no-op up with one slot: %s", got)
	}
}

// live update at a project's root: each app's own, said per app; a change
// is synced into the app whose folder holds it when its live update takes
// it, and rebuilt, with why, when it does not (the root's draft.toml is
// every app's; an app with live-update = false is always rebuilt).
func TestProjectLivePlan(t *testing.T) {
	_, p := newProjectFixture(t)
	web := filepath.Join(p.Up.Dir, "web", config.FileName)
	b, _ := os.ReadFile(web)
	if err := os.WriteFile(web, regexp.MustCompile(`(?m)^ *name = "web"$`).ReplaceAll(b, []byte("$0\n  live-update = false")), 0o644); err != nil {
		t.Fatal(err)
	}
	var said testkit.LockedBuffer
	p.Up.UI = ui.New(&said)
	w := &ProjectWatch{Up: *p, Live: true}
	a, _, err := w.Up.Up.openProject(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	w.Up.lives, err = w.startLives(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer w.closeLives()
	if w.Up.lives["api"] == nil || w.Up.lives["web"] != nil || len(w.Up.lives) != 1 {
		t.Fatalf("live updates %v, want api's only", w.Up.lives)
	}
	for _, line := range []string{"api: live update is on: a change is compiled here", "web: live update is off: live-update = false in draft.toml; every change rebuilds"} {
		if !strings.Contains(said.String(), line) {
			t.Errorf("not said: %q in\n%s", line, said.String())
		}
	}
	for _, c := range []struct {
		paths []string
		want  string // app: why, ...; "" for a sync
	}{
		{[]string{"api/main.go"}, "api: [main.go]"},
		{[]string{"api/go.mod", "api/main.go"}, "api: [go.mod main.go] go.mod changed"},
		{[]string{"api/draft.toml"}, "api: [draft.toml] draft.toml changed"},
		{[]string{"api/main.go", "web/main.go"}, "api: [main.go]; web: [main.go] live update is off"},
		{[]string{"draft.toml", "api/main.go"}, "api: [main.go] draft.toml changed (the project's); web: [] draft.toml changed (the project's)"},
		{[]string{"charts/db/values.yaml"}, "api: [] charts/db/values.yaml changed (the project's); web: [] charts/db/values.yaml changed (the project's)"},
		{[]string{"README.md"}, ""},
	} {
		var got []string
		for _, ch := range w.plan(a.cfg, c.paths) {
			got = append(got, strings.TrimSpace(fmt.Sprintf("%s: %v %s", ch.app, ch.paths, ch.why)))
		}
		if g := strings.Join(got, "; "); g != c.want {
			t.Errorf("plan(%v) = %q, want %q", c.paths, g, c.want)
		}
	}
}

func TestAppPaths(t *testing.T) {
	if got := appPaths("services/api/", []string{"services/api/main.go", "services/api", "services/apix/a", "web/x"}); !slices.Equal(got, []string{"main.go", "."}) {
		t.Errorf("appPaths = %v", got)
	}
}
