//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/draftk8s/draft/internal/testenv"
	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
)

// TestLivePython: watch mode's live update of a Python app with a
// dependency manifest. An edit of the source answers through the same
// local port with no new revision; an edit of requirements.txt rebuilds and
// says why; a replaced pod serves the newest edit, never the image's; two
// replicas both get an edit; an edit the app stops on is put back while the
// previous version serves; Ctrl-C deploys the exact image, after which
// draft up finds nothing changed.
func TestLivePython(t *testing.T) {
	cfg, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "python-app")
	write(t, filepath.Join(dir, "requirements.txt"), "# standard library only\n")
	mustDraft(t, dir, nil, "create")
	app := filepath.Join(dir, "app.py")
	src, _ := os.ReadFile(app)
	version := func(v string) string { return strings.Replace(string(src), `VERSION = "v1"`, `VERSION = "`+v+`"`, 1) }

	w := startWatch(t, dir, ns, false)
	defer w.stop(t)
	w.waitFor(t, "python-app v1", 2*time.Minute)
	if !strings.Contains(w.stderr(), "live update is on") {
		t.Fatalf("watch mode did not say that live update is on\n%s", w.stderr())
	}
	revs := revisions(t, cs, ns, "python-app")

	// Source edits: synced, the app restarted, no new revision.
	for i := 2; i <= 4; i++ {
		v := fmt.Sprintf("v%d", i)
		t0 := time.Now()
		write(t, app, version(v))
		w.waitFor(t, "python-app "+v, time.Minute)
		t.Logf("edit %s answered through connect %s after the save", v, time.Since(t0).Round(time.Millisecond))
	}
	w.waitLine(t, "synced 1 file to 1 pod")
	if n := revisions(t, cs, ns, "python-app"); n != revs {
		t.Errorf("%d revisions after source edits, want %d: live update made new ones", n, revs)
	}

	// A burst of 1,000 files (a git checkout) with the new version last:
	// one sync of all of it.
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	for i := 0; i < 1000; i++ {
		write(t, filepath.Join(dir, "data", fmt.Sprintf("f%04d.txt", i)), fmt.Sprint(i))
	}
	write(t, app, version("burst"))
	w.waitFor(t, "python-app burst", time.Minute)
	w.waitLine(t, "synced 1001 files to 1 pod")
	if n := strings.Count(w.stderr(), "\nsynced "); n != 4 {
		t.Errorf("%d syncs after 3 edits and a burst, want 4\n%s", n, w.stderr())
	}
	write(t, app, version("v4"))
	w.waitFor(t, "python-app v4", time.Minute)

	// A dependency manifest: a rebuild, which says why.
	write(t, filepath.Join(dir, "requirements.txt"), "# standard library only, still\n")
	w.waitLine(t, "rebuilding: requirements.txt changed")
	for deadline := time.Now().Add(3 * time.Minute); revisions(t, cs, ns, "python-app") == revs; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new revision after requirements.txt changed\n%s", w.stderr())
		}
	}
	w.waitFor(t, "python-app v4", time.Minute)
	w.settle()

	// A synced edit, then the pod deleted: the new pod answers with the
	// edit, never with what its image holds.
	write(t, app, version("v5"))
	w.waitFor(t, "python-app v5", time.Minute)
	old := podNames(t, cs, ns)
	out, err := exec.Command("kubectl", "-n", ns, "delete", "pod", "-l", "app.kubernetes.io/instance=python-app", "--wait=false").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl delete pod: %v %s", err, out)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		got := w.tryGet()
		if strings.HasPrefix(got, "python-app ") && got != "python-app v5" {
			t.Fatalf("after kubectl delete pod the app answered %q, want v5 (the synced edit)\n%s", got, w.stderr())
		}
		if got == "python-app v5" && replaced(t, cs, ns, old) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced pod did not serve within a minute\n%s", w.stderr())
		}
	}

	// Two replicas: both get the next edit.
	edit(t, filepath.Join(dir, "draft.toml"), "set = []", `set = ["replicaCount=2"]`)
	w.waitLine(t, "rebuilding: draft.toml changed")
	waitPods(t, cs, ns, 2)
	w.settle()
	write(t, app, version("v6"))
	w.waitLine(t, "to 2 pods")
	pods, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=python-app"})
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			if got := getPod(t, cfg, cs, ns, p.Name, 8080); got != "python-app v6" {
				t.Errorf("pod %s answers %q, want v6", p.Name, got)
			}
		}
	}

	// An edit the app stops on: put back, the previous version serves.
	write(t, app, version("v6")+"\nthis is not python (\n")
	w.waitLine(t, "its files were put back")
	w.waitFor(t, "python-app v6", 10*time.Second)
	write(t, app, version("v7"))
	w.waitFor(t, "python-app v7", time.Minute)
	w.settle()

	// Ctrl-C: the exact image of the tree, then nothing left to do.
	w.stop(t)
	if !strings.Contains(w.stderr(), "deploying the exact image of the tree") || !strings.Contains(lastLine(w.stderr()), "is ready: revision") {
		t.Fatalf("watch mode did not end with the exact image deployed\n%s", w.stderr())
	}
	if got := get(t, cfg, cs, ns, "python-app", 8080); got != "python-app v7" {
		t.Errorf("after the final deploy the app answers %q, want v7", got)
	}
	r := mustDraft(t, dir, nil, "up", "-n", ns)
	if !strings.Contains(r.stderr, "nothing changed") {
		t.Errorf("draft up after watch mode did something:\n%s", r.stderr)
	}
}

// waitLine waits until the watch's stderr says s.
func (w *watching) waitLine(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(w.stderr(), s); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("watch mode never said %q\n%s", s, w.stderr())
		}
	}
}

// tryGet is one GET of the connected URL: its body, or "" on an error.
func (w *watching) tryGet() string {
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(w.url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func podNames(t *testing.T, cs *kubernetes.Clientset, ns string) map[string]bool {
	return podNamesOf(t, cs, ns, "python-app")
}

// podNamesOf are the names of the release's pods now.
func podNamesOf(t *testing.T, cs *kubernetes.Clientset, ns, release string) map[string]bool {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range pods.Items {
		names[p.Name] = true
	}
	return names
}

func replaced(t *testing.T, cs *kubernetes.Clientset, ns string, old map[string]bool) bool {
	return replacedOf(t, cs, ns, "python-app", old)
}

// replacedOf tells whether none of the old pods of the release is left and
// a new one is Ready.
func replacedOf(t *testing.T, cs *kubernetes.Clientset, ns, release string, old map[string]bool) bool {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, p := range pods.Items {
		if old[p.Name] {
			return false
		}
		ready = ready || kube.PodReady(&p)
	}
	return ready
}

// waitPods waits until n pods of the release are Ready and none is going.
func waitPods(t *testing.T, cs *kubernetes.Clientset, ns string, n int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=python-app"})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && kube.PodReady(&p) {
				ready++
			}
		}
		if ready == n && len(pods.Items) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods Ready, %d in all", ready, n, len(pods.Items))
		}
	}
}

// TestLivePacks: live update of the Go, Node.js, Ruby and PHP packs' apps
// (the Go app on its scratch image: no shell, no tar): an edit answers
// through the same local port with no new revision and says what it got;
// a replaced pod answers with the edit, not with its image's code; Ctrl-C
// deploys the exact image, after which draft up finds nothing changed.
func TestLivePacks(t *testing.T) {
	_, cs, _ := cluster(t)
	for _, c := range []struct {
		app, file, v1, said string
	}{
		{"go-app", "main.go", `const version = "v1"`, "compiled in"},
		{"node-app", "server.js", `const VERSION = "v1"`, "app restarted in"},
		{"ruby-app", "app.rb", `VERSION = "v1"`, "app restarted in"},
		{"php-app", "index.php", `$version = "v1"`, "no restart: PHP reads the files on every request"},
	} {
		t.Run(c.app, func(t *testing.T) {
			ns := namespace(t, cs)
			dir := copyApp(t, c.app)
			mustDraft(t, dir, nil, "create")
			file := filepath.Join(dir, c.file)
			src, _ := os.ReadFile(file)
			if !strings.Contains(string(src), c.v1) {
				t.Fatalf("%s has no %s", c.file, c.v1)
			}
			version := func(v string) string { return strings.Replace(string(src), c.v1, strings.Replace(c.v1, "v1", v, 1), 1) }
			w := startWatch(t, dir, ns, false)
			defer w.stop(t)
			w.waitFor(t, c.app+" v1", 2*time.Minute)
			w.settle()
			revs := revisions(t, cs, ns, c.app)
			t0 := time.Now()
			write(t, file, version("v2"))
			w.waitFor(t, c.app+" v2", time.Minute)
			t.Logf("the edit answered through connect %s after the save", time.Since(t0).Round(time.Millisecond))
			w.waitLine(t, c.said)
			if n := revisions(t, cs, ns, c.app); n != revs {
				t.Errorf("%d revisions after an edit, want %d", n, revs)
			}

			old := podNamesOf(t, cs, ns, c.app)
			if out, err := exec.Command("kubectl", "-n", ns, "delete", "pod", "-l", "app.kubernetes.io/instance="+c.app, "--wait=false").CombinedOutput(); err != nil {
				t.Fatalf("kubectl delete pod: %v %s", err, out)
			}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
				got := w.tryGet()
				if got == c.app+" v1" {
					t.Fatalf("a replaced pod answered with its image's code\n%s", w.stderr())
				}
				if got == c.app+" v2" && replacedOf(t, cs, ns, c.app, old) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the replaced pod did not serve within a minute\n%s", w.stderr())
				}
			}

			w.stop(t)
			if !strings.Contains(w.stderr(), "deploying the exact image of the tree") {
				t.Fatalf("watch mode did not end with the exact image deployed\n%s", w.stderr())
			}
			if r := mustDraft(t, dir, nil, "up", "-n", ns); !strings.Contains(r.stderr, "nothing changed") {
				t.Errorf("draft up after watch mode did something:\n%s", r.stderr)
			}
		})
	}
}

// TestLiveProject: live update at a project's root, a Python back-end and a
// Node front-end: each app's edit is synced into its own pods and answers
// through its own local port, with no new revision of either; an edit of
// the back-end's requirements.txt rebuilds the back-end alone and says why;
// Ctrl-C deploys the exact images, after which draft up at the root finds
// nothing changed.
func TestLiveProject(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	root := filepath.Join(t.TempDir(), "duo")
	testkit.CopyTree(t, filepath.Join("testdata", "python-app"), filepath.Join(root, "backend"))
	testkit.CopyTree(t, filepath.Join("testdata", "node-app"), filepath.Join(root, "frontend"))
	write(t, filepath.Join(root, "backend", "requirements.txt"), "# standard library only\n")
	r := mustDraft(t, root, nil, "create")
	for _, want := range []string{"backend/Dockerfile", "frontend/Dockerfile", "draft.toml"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Fatalf("create at the root did not write %s:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	for _, app := range []string{"backend", "frontend"} {
		testenv.BaseImagesOf(t, filepath.Join(root, app))
	}
	// No Go toolchain on PATH and a new DRAFT_HOME (no agent built before):
	// make build's draft carries its agent.
	noGo := []string{"PATH=" + withoutGo(os.Getenv("PATH")), "DRAFT_HOME=" + t.TempDir()}
	w := startWatchEnv(t, noGo, root, ns, false)
	defer w.stop(t)
	back, front := w.urlOf(t, "backend"), w.urlOf(t, "frontend")
	w.waitForAt(t, back, "python-app v1", 2*time.Minute)
	w.waitForAt(t, front, "node-app v1", time.Minute)
	for _, line := range []string{"backend: live update is on", "frontend: live update is on"} {
		w.waitLine(t, line)
	}
	w.settle()
	revs := func() string { return fmt.Sprint(revisions(t, cs, ns, "backend"), revisions(t, cs, ns, "frontend")) }
	before := revs()

	for _, c := range []struct{ app, file, old, url, want string }{
		{"backend", "backend/app.py", `VERSION = "v1"`, back, "python-app v2"},
		{"frontend", "frontend/server.js", `const VERSION = "v1"`, front, "node-app v2"},
	} {
		t0 := time.Now()
		edit(t, filepath.Join(root, c.file), c.old, strings.Replace(c.old, "v1", "v2", 1))
		w.waitForAt(t, c.url, c.want, time.Minute)
		t.Logf("%s's edit answered through connect %s after the save", c.app, time.Since(t0).Round(time.Millisecond))
		w.waitLine(t, c.app+": synced 1 file to 1 pod")
	}
	if got := revs(); got != before {
		t.Errorf("revisions (backend frontend) %s after two synced edits, want %s\n%s", got, before, w.stderr())
	}

	write(t, filepath.Join(root, "backend", "requirements.txt"), "# standard library only, still\n")
	w.waitLine(t, "backend: rebuilding: requirements.txt changed")
	w.waitLine(t, "redeploying backend\n")
	for deadline := time.Now().Add(2 * time.Minute); revisions(t, cs, ns, "backend") < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new revision of the back-end after its requirements.txt changed\n%s", w.stderr())
		}
	}
	w.settle()
	if n := revisions(t, cs, ns, "frontend"); n != 1 {
		t.Errorf("the front-end has %d revisions after the back-end's rebuild, want 1", n)
	}
	w.waitForAt(t, back, "python-app v2", time.Minute)
	w.waitForAt(t, front, "node-app v2", time.Minute)

	w.stop(t)
	if !strings.Contains(w.stderr(), "deploying the exact images of the tree") {
		t.Fatalf("watch mode did not end with the exact images deployed\n%s", w.stderr())
	}
	r = mustDraft(t, root, nil, "up", "-n", ns)
	for _, app := range []string{"backend", "frontend"} {
		if !strings.Contains(r.stderr, "nothing changed: release "+app+" runs") {
			t.Errorf("draft up after watch mode changed %s:\n%s", app, r.stderr)
		}
	}
}

// withoutGo is PATH without the folders that hold a go command.
func withoutGo(path string) string {
	var keep []string
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, "go")); err != nil {
			keep = append(keep, d)
		}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// TestLiveGoTemplates: a Go app that parses templates/ at run time, on its
// scratch image: an edit of a template is synced to where the image has it
// (a folder the agent's layer gives the app's user) and the app restarted
// on it, with no new revision; a replaced pod gets it too.
func TestLiveGoTemplates(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "gin-app")
	mustDraft(t, dir, nil, "create")
	w := startWatch(t, dir, ns, false)
	defer w.stop(t)
	w.waitFor(t, "gin-app v1", 3*time.Minute)
	w.settle()
	revs := revisions(t, cs, ns, "gin-app")
	edit(t, filepath.Join(dir, "templates", "index.tmpl.html"), "gin-app {{ .version }}", "gin-app {{ .version }} edited")
	w.waitFor(t, "gin-app v1 edited", time.Minute)
	w.waitLine(t, " to 1 pod in ") // the template, and the first time the binary compiled here
	if strings.Contains(w.stderr(), "rebuilding:") {
		t.Errorf("a template edit was rebuilt, not synced\n%s", w.stderr())
	}
	if n := revisions(t, cs, ns, "gin-app"); n != revs {
		t.Errorf("%d revisions after a template edit, want %d", n, revs)
	}
	old := podNamesOf(t, cs, ns, "gin-app")
	if out, err := exec.Command("kubectl", "-n", ns, "delete", "pod", "-l", "app.kubernetes.io/instance=gin-app", "--wait=false").CombinedOutput(); err != nil {
		t.Fatalf("kubectl delete pod: %v %s", err, out)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		got := w.tryGet()
		if got == "gin-app v1" {
			t.Fatalf("a replaced pod answered with its image's template\n%s", w.stderr())
		}
		if got == "gin-app v1 edited" && replacedOf(t, cs, ns, "gin-app", old) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced pod did not serve within a minute\n%s", w.stderr())
		}
	}
}
