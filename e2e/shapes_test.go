//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
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

// Node apps with packages from the npm registry, installed by the Dockerfile's
// RUN npm ci inside Docker (the environment's base images trust the host's
// certificate authorities, and Docker's build containers reach what the host
// reaches): created, upped and answering through draft connect.
func TestShapeNodeApps(t *testing.T) {
	_, cs, _ := cluster(t)
	ns := namespace(t, cs)
	cases := []struct {
		app string
		df  []string // lines the generated Dockerfile must hold
		// check asks the app through connect's URL
		check func(t *testing.T, url string)
	}{
		{
			// express and morgan in the production install; the start script is
			// nodemon (a devDependency): the image runs node itself
			app: "express-app",
			df:  []string{"RUN npm ci --omit=dev", `CMD ["node", "server.js"]`},
			check: func(t *testing.T, url string) {
				if got := getBody(t, url+"/"); got != "express-app v1" {
					t.Errorf("GET / answered %q", got)
				}
				if got := getBody(t, url+"/items/7"); got != `{"id":7}` {
					t.Errorf("GET /items/7 answered %q", got)
				}
			},
		},
		{
			// a Vite front-end: built in a stage, dist/ served as files
			app: "vite-app",
			df:  []string{"RUN npm run build", "/app/dist /app/public"},
			check: func(t *testing.T, url string) {
				page := getBody(t, url+"/")
				m := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(page)
				if m == nil {
					t.Fatalf("GET / is not the built index.html (no /assets/*.js):\n%s", page)
				}
				if js := getBody(t, url+m[1]); !strings.Contains(js, "vite-app v1") {
					t.Errorf("GET %s is not the bundle:\n%.300s", m[1], js)
				}
				if route := getBody(t, url+"/orders/42"); route != page {
					t.Errorf("a client-side route did not get index.html:\n%.300s", route)
				}
			},
		},
		{
			// NestJS compiled by tsc in prestart:prod; prepare runs husky, a
			// devDependency, which the production install must leave out
			app: "nest-app",
			df:  []string{"RUN npm run prestart:prod", "RUN npm pkg delete scripts.prepare && npm ci --omit=dev", `CMD ["node", "dist/main.js"]`},
			check: func(t *testing.T, url string) {
				if got := getBody(t, url+"/"); got != "nest-app v1" {
					t.Errorf("GET / answered %q", got)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.app, func(t *testing.T) {
			dir := copyApp(t, c.app)
			r := mustDraft(t, dir, nil, "create")
			df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range c.df {
				if !strings.Contains(string(df), want) {
					t.Fatalf("the Dockerfile has no %q:\n%s\n%s", want, df, r.stderr)
				}
			}
			up := mustDraft(t, dir, nil, "up", "-n", ns)
			t.Logf("%s", lastLine(strings.TrimSuffix(up.stderr, "\nreach it with: draft connect\n")))
			conn := startConnect(t, dir, "-n", ns)
			c.check(t, conn.url)
			conn.interrupt(t)
		})
	}
}
