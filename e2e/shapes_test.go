//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Apps shaped like real repositories, created, upped and served for real.
// A gin app that parses templates/ at run time: its binary panics at start
// on an image that holds the binary alone (heroku/go-getting-started did on
// FROM scratch); the image must hold templates/ beside it.
func TestShapeGinTemplates(t *testing.T) {
	cfg, cs, _ := cluster(t)
	ns := namespace(t, cs)
	dir := copyApp(t, "gin-app")
	r := mustDraft(t, dir, nil, "create")
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "COPY --from=build /src/templates ./templates") {
		t.Fatalf("the Dockerfile does not put templates/ in the image:\n%s\n%s", df, r.stderr)
	}
	up := mustDraft(t, dir, nil, "up", "-n", ns)
	if !strings.Contains(up.stderr, "without Docker") {
		t.Logf("(built with Docker: %s)", lastLine(up.stderr))
	}
	if got := get(t, cfg, cs, ns, "gin-app", 8080); got != "gin-app v1" {
		t.Errorf("the app answered %q, want the rendered template", got)
	}
	edit(t, filepath.Join(dir, "templates", "index.tmpl.html"), "gin-app {{ .version }}", "gin-app {{ .version }} edited")
	mustDraft(t, dir, nil, "up", "-n", ns)
	if got := get(t, cfg, cs, ns, "gin-app", 8080); got != "gin-app v1 edited" {
		t.Errorf("after a template edit the app answered %q", got)
	}
}
