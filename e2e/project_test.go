//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/draftk8s/draft/internal/testenv"
)

// A repository of several apps (testdata/shop: a Go API on PostgreSQL and
// Redis, a Node front-end that calls the API by its service name) run with
// one draft up at its root, on the environment's cluster DNS and storage:
// the front-end's answer through connect carries the database's count; an
// edit of the API redeploys it alone; the database's pod deleted, the data
// is still there; a broken front-end fails alone, named, the API keeping
// its new version; delete removes every release and keeps the data.
func TestProjectShop(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	root := copyApp(t, "shop")
	r := mustDraft(t, root, nil, "create")
	for _, want := range []string{"api/Dockerfile", "web/Dockerfile", "charts/postgres/Chart.yaml", "charts/redis/Chart.yaml", "draft.toml"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Fatalf("create at the root did not write %s:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	for _, app := range []string{"api", "web"} {
		testenv.BaseImagesOf(t, filepath.Join(root, app))
	}
	testenv.BaseImages(t, "postgres:17", "redis:7")

	start := time.Now()
	r = mustDraft(t, root, nil, "up", "-n", ns)
	t.Logf("cold up of the project: %s\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	for _, want := range []string{"postgres is ready: revision 1 (made its password", "api is ready: revision 1", "web is ready: revision 1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up's summary lacks %q", want)
		}
	}
	counts := regexp.MustCompile(`web v(\d) <- api v(\d) visits=(\d+) hits=(\d+)`)
	ask := func(c *connectRun) []string {
		t.Helper()
		var last string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			last = getBody(t, c.url)
			if m := counts.FindStringSubmatch(last); m != nil {
				return m
			}
		}
		t.Fatalf("the front-end never answered with the API's counts: %q\n%s", last, c.stderr)
		return nil
	}
	web := startConnect(t, filepath.Join(root, "web"), "-n", ns, "--no-logs")
	first := ask(web)
	if first[3] == "0" {
		t.Errorf("no visit counted: %v", first)
	}

	// Nothing changed: no new revision anywhere.
	mustDraft(t, root, nil, "up", "-n", ns)
	for _, rel := range []string{"postgres", "redis", "api", "web"} {
		if n := revisions(t, cs, ns, rel); n != 1 {
			t.Errorf("%s has %d revisions after a no-op up", rel, n)
		}
	}

	// An edit of the API: it alone is redeployed.
	edit(t, filepath.Join(root, "api", "main.go"), `const version = "v1"`, `const version = "v2"`)
	mustDraft(t, root, nil, "up", "-n", ns)
	if n := revisions(t, cs, ns, "api"); n != 2 {
		t.Errorf("api has %d revisions after its edit, want 2", n)
	}
	for _, rel := range []string{"postgres", "redis", "web"} {
		if n := revisions(t, cs, ns, rel); n != 1 {
			t.Errorf("%s has %d revisions after an edit of the API alone", rel, n)
		}
	}
	var m []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if m = ask(web); m[2] == "2" {
			break
		}
	}
	if m[2] != "2" {
		t.Fatalf("the front-end still shows api v%s", m[2])
	}
	before, _ := strconv.Atoi(m[3])

	// The database's pod deleted: the new one has the data.
	ctx := context.Background()
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=postgres"}); err != nil {
		t.Fatal(err)
	}
	var after int
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if b := getBody(t, web.url); counts.MatchString(b) {
			after, _ = strconv.Atoi(counts.FindStringSubmatch(b)[3])
			if after > before {
				break
			}
		}
	}
	if after <= before {
		t.Fatalf("after the database's pod was replaced: visits %d, before %d (the data was lost, or it never came back)", after, before)
	}

	// A broken front-end: up fails naming it; the API keeps its new version.
	edit(t, filepath.Join(root, "web", "server.js"), "const http = require('http');", "const http = require('http'); process.exit(3);")
	edit(t, filepath.Join(root, "api", "main.go"), `const version = "v2"`, `const version = "v3"`)
	r = draft(t, root, nil, "up", "-n", ns, "--timeout", "40s")
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), "1 of 4 failed (web)") {
		t.Fatalf("up with a broken front-end: exit %d\n%s", r.code, r.stderr)
	}
	if n := revisions(t, cs, ns, "api"); n != 3 {
		t.Errorf("api has %d revisions, want 3 (its new version kept)", n)
	}
	web.interrupt(t)

	// delete at the root: every release, the data kept.
	r = mustDraft(t, root, nil, "delete", "-n", ns)
	if !strings.Contains(r.stderr, "kept the services' data and passwords") {
		t.Errorf("delete does not say it kept the data:\n%s", r.stderr)
	}
	for _, rel := range []string{"postgres", "redis", "api", "web"} {
		if n := revisions(t, cs, ns, rel); n != 0 {
			t.Errorf("%s still has %d revisions after delete", rel, n)
		}
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "postgres-data", metav1.GetOptions{}); err != nil {
		t.Errorf("the database's volume went with delete: %v", err)
	}
	r = mustDraft(t, root, nil, "delete", "-n", ns, "--purge")
	if !strings.Contains(r.stderr, "persistentvolumeclaim/postgres-data") {
		t.Errorf("delete --purge does not say what it removed:\n%s", r.stderr)
	}
}
