package config

import (
	"slices"
	"strings"
	"testing"
)

func TestProjectRenderParseOrder(t *testing.T) {
	b := NewProject{Name: "shop", Apps: []NewProjectApp{
		{Name: "web", Path: "frontend", Needs: []string{"api"}, Why: "frontend: node (package.json)"},
		{Name: "api", Path: "backend", Needs: []string{"postgres", "redis"}, Why: "backend: python (requirements.txt)"},
		{Name: "worker", Path: "worker", Why: "worker: go (go.mod)"},
	}, Services: []NewProjectService{
		{Name: "postgres", Kind: "postgres", Why: "api needs it: psycopg2-binary in requirements.txt"},
		{Name: "redis", Kind: "redis", Why: "api needs it: redis in requirements.txt"},
	}}.Render()
	c, err := Parse("draft.toml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !c.IsProject() || c.Apps["web"].Path != "frontend" || c.Services["redis"].Kind != "redis" {
		t.Fatalf("parsed %+v", c)
	}
	order, err := c.Order()
	if err != nil || !slices.Equal(order, []string{"postgres", "redis", "api", "web", "worker"}) {
		t.Errorf("order = %v, %v", order, err)
	}
	one, err := c.Closure("web")
	if err != nil || !slices.Equal(one, []string{"postgres", "redis", "api", "web"}) {
		t.Errorf("closure of web = %v, %v", one, err)
	}
	if _, err := c.Closure("nope"); err == nil || !strings.Contains(err.Error(), "has no app or service \"nope\": it has api, web, worker, postgres, redis") {
		t.Errorf("closure of an unknown app: %v", err)
	}
	env, _ := c.Environment("")
	if env.Namespace != "default" {
		t.Errorf("namespace %q", env.Namespace)
	}
}

func TestProjectErrors(t *testing.T) {
	head := "[environments.development]\nnamespace = \"default\"\n"
	for _, tt := range []struct{ name, toml, want string }{
		{"cycle", `[apps.a]
path = "a"
needs = ["b"]
[apps.b]
path = "b"
needs = ["a"]`, "the apps need each other in a circle (a -> b -> a)"},
		{"unknown need", "[apps.a]\npath = \"a\"\nneeds = [\"db\"]", `apps.a.needs names "db", which is no app or service`},
		{"no path", "[apps.a]\nneeds = []", "apps.a has no path"},
		{"outside", "[apps.a]\npath = \"../x\"", `apps.a.path "../x" is outside the project`},
		{"kind", "[apps.a]\npath = \"a\"\n[services.db]\nkind = \"oracle\"", "services.db: kind must be one of postgres, mysql, redis, mongodb"},
		{"services alone", "[services.db]\nkind = \"redis\"", "services without apps"},
		{"clash", "[apps.db]\npath = \"a\"\n[services.db]\nkind = \"redis\"", "db is both an app and a service"},
		{"bad name", "[apps.My_App]\npath = \"a\"", "apps.My_App: a name must be lower-case"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("draft.toml", []byte(head+tt.toml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Credentials a repository gives render and read back, quotes and all; an
// empty password is Redis's alone.
func TestProjectServiceCredentials(t *testing.T) {
	pw, none := `se"cr\et`, ""
	b := NewProject{Name: "p", Apps: []NewProjectApp{{Name: "a", Path: "a", Needs: []string{"db", "cache"}, Why: "a"}},
		Services: []NewProjectService{
			{Name: "db", Kind: "postgres", User: "postgres", Password: &pw, Database: "votes", From: "docker-compose.yml", Why: "x"},
			{Name: "cache", Kind: "redis", Password: &none, From: "docker-compose.yml", Why: "y"},
		}}.Render()
	c, err := Parse("draft.toml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	db, cache := c.Services["db"], c.Services["cache"]
	if db.User != "postgres" || db.Password == nil || *db.Password != pw || db.Database != "votes" {
		t.Errorf("db: %+v", db)
	}
	if cache.Password == nil || *cache.Password != "" {
		t.Errorf("cache: %+v", cache)
	}
	_, err = Parse("draft.toml", []byte("[environments.development]\n[apps.a]\npath = \"a\"\n[services.db]\nkind = \"postgres\"\npassword = \"\"\n"))
	if err == nil || !strings.Contains(err.Error(), "an empty password works for redis only") {
		t.Errorf("empty postgres password: %v", err)
	}
}
