package action

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/draftk8s/draft/internal/testkit"
)

// Which changes a live update syncs, and why the others rebuild, on the
// Python pack's own Dockerfile (requirements.txt copied before the source).
func TestLiveDecide(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "python-flask", "want"), dir)
	lv, why, err := newLiveUpdate(context.Background(), &Up{Target: Target{Dir: dir}})
	if err != nil || lv == nil {
		t.Fatalf("live update is off (%s, %v)", why, err)
	}
	for _, c := range []struct {
		paths []string
		why   string // "" for a sync
	}{
		{[]string{"app.py"}, ""},
		{[]string{"templates/index.html", "static/app.css"}, ""},
		{[]string{"app.py", "requirements.txt"}, "requirements.txt changed (a step before the source uses it)"},
		{[]string{"Dockerfile"}, "Dockerfile changed"},
		{[]string{"draft.toml"}, "draft.toml changed"},
		{[]string{"charts/python-flask/values.yaml"}, "charts/python-flask/values.yaml changed"},
		{[]string{"."}, "the whole tree may have changed (file events were lost)"},
	} {
		if got := lv.decide(c.paths); got != c.why {
			t.Errorf("decide(%q) = %q, want %q", c.paths, got, c.why)
		}
	}
}

// A Dockerfile that builds the source in a stage, draft.toml's
// live-update = false: live update is off, and says why.
func TestLiveOff(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "draft.toml"), []byte("[environments.development]\n  name = \"web\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM node:20 AS build\nCOPY . .\nRUN npm run build\nFROM nginx\nCOPY --from=build /dist /usr/share/nginx/html\n"), 0o644)
	lv, why, err := newLiveUpdate(context.Background(), &Up{Target: Target{Dir: dir}})
	if err != nil || lv != nil || !strings.Contains(why, "cannot take files") {
		t.Errorf("a build stage: %v %q %v, want off and why", lv, why, err)
	}
	os.WriteFile(filepath.Join(dir, "draft.toml"), []byte("[environments.development]\n  name = \"web\"\n  live-update = false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCMD [\"python\", \"app.py\"]\n"), 0o644)
	if lv, why, _ := newLiveUpdate(context.Background(), &Up{Target: Target{Dir: dir}}); lv != nil || why != "live-update = false in draft.toml" {
		t.Errorf("live-update = false: %v %q", lv, why)
	}
}

// A Go app: every change is compiled here (a file may be embedded), and
// the files of the folders the image copies beside the binary are synced
// to where it has them; go.mod and go.sum rebuild.
func TestLiveDecideGo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	testkit.CopyTree(t, filepath.Join("testdata", "create", "go-templates", "want"), dir)
	lv, why, err := newLiveUpdate(context.Background(), &Up{Target: Target{Dir: dir}})
	if err != nil || lv == nil {
		t.Fatalf("live update is off (%s, %v)", why, err)
	}
	if len(lv.plan.Files) == 0 {
		t.Fatalf("the fixture's image copies no folder beside the binary: %+v", lv.plan)
	}
	folder := lv.plan.Files[0].Src
	for _, c := range []struct {
		path string
		why  string
	}{
		{"main.go", ""},
		{"internal/x/x.go", ""},
		{"README.md", ""},
		{"go.mod", "go.mod changed"},
		{"go.sum", "go.sum changed"},
		{folder + "/index.html", ""},
	} {
		if got := lv.decide([]string{c.path}); got != c.why {
			t.Errorf("decide(%q) = %q, want %q", c.path, got, c.why)
		}
	}
	lv.binDir = "/bin-here"
	for _, c := range []struct{ path, pod, source string }{
		{"templates/index.html", "srv/templates/index.html", filepath.Join(dir, "templates", "index.html")},
		{"static/css/app.css", "srv/static/css/app.css", filepath.Join(dir, "static", "css", "app.css")},
		{"templatesx/a", "", ""},
		{"main.go", "", ""},
	} {
		pod, ok := lv.goFile(c.path)
		if pod != c.pod || ok != (c.pod != "") {
			t.Errorf("goFile(%q) = %q %v, want %q", c.path, pod, ok, c.pod)
		}
		if ok {
			if got := lv.goSource(pod); got != c.source {
				t.Errorf("goSource(%q) = %q, want %q", pod, got, c.source)
			}
		}
	}
	if got := lv.goSource(goBinary); got != filepath.Join("/bin-here", "app") {
		t.Errorf("goSource(the binary) = %q", got)
	}
}
