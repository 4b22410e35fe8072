package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewFileLoadsBack(t *testing.T) {
	b := NewFile{App: "shop", Chart: "charts/shop", Dockerfile: "Dockerfile", Port: 3000}.Render()
	c, err := Parse("draft.toml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	e, err := c.Environment("")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "shop" || e.Namespace != "default" || e.Chart != "charts/shop" || e.Dockerfile != "Dockerfile" ||
		e.Wait == nil || !*e.Wait || e.Watch || e.WatchDelay != DefaultWatchDelay || e.AutoConnect {
		t.Errorf("environment = %+v", e)
	}
}

func TestClassicDraftFile(t *testing.T) {
	classic := `[environments]
  [environments.development]
    name = "my-flask-app"
    namespace = "default"
    registry = "127.0.0.1:5000"
    wait = true
    watch = false
    watch-delay = 2
    auto-connect = false
    override-ports = ["8080:8080"]
    chart = "charts/my-flask-app"
    dockerfile = "Dockerfile"
    set = ["replicaCount=1"]
    values = ["values-dev.yaml"]
    build-tar = ""
    custom-tags = ["latest"]
  [environments.staging]
    name = "my-flask-app"
    namespace = "staging"
    watch-delay = 0.25
`
	c, err := Parse("draft.toml", []byte(classic))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c.Environment("development")
	if e.Registry != "127.0.0.1:5000" || e.WatchDelay != 2 || e.OverridePorts[0] != "8080:8080" || e.Values[0] != "values-dev.yaml" {
		t.Errorf("development = %+v", e)
	}
	s, _ := c.Environment("staging")
	if s.WatchDelay != 0.25 || s.Namespace != "staging" {
		t.Errorf("staging = %+v", s)
	}
	if _, err := c.Environment("prod"); err == nil || !strings.Contains(err.Error(), "development, staging") {
		t.Errorf("unknown environment: %v", err)
	}
}

func TestErrorsNameFileLineAndField(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown field", "[environments.development]\nname = \"a\"\nwatch-dealy = 2\n", `draft.toml:3: unknown field "environments.development.watch-dealy"`},
		{"wrong type", "[environments.development]\nname = \"a\"\nwait = \"yes\"\n", "draft.toml:3:"},
		{"syntax", "[environments.development\nname = 1\n", "draft.toml:1:"},
		{"bad name", "[environments.development]\nname = \"My_App\"\n", `environments.development.name "My_App"`},
		{"no environment", "# empty\n", "no environment"},
		{"negative delay", "[environments.dev]\nwatch-delay = -1\n", "watch-delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("draft.toml", []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestValidateAppName(t *testing.T) {
	for name, ok := range map[string]bool{"web": true, "my-app-2": true, "": false, "My": false, "a_b": false, "-a": false, "a-": false, strings.Repeat("a", 54): false} {
		if got := ValidateAppName(name) == ""; got != ok {
			t.Errorf("ValidateAppName(%q) valid = %v, want %v", name, got, ok)
		}
	}
}

func TestTasks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, TasksFileName), []byte("[pre-up]\n  b = \"echo b\"\n  a = \"echo a\"\n[cleanup]\n  rm = \"rm -f x\"\n"), 0o644)
	c, err := Parse("draft.toml", []byte("[environments.development]\nname = \"x\"\n[tasks.pre-up]\nc = \"echo c\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := LoadTasks(dir, c.Tasks)
	if err != nil {
		t.Fatal(err)
	}
	got := Ordered(tasks.PreUp)
	if len(got) != 3 || got[0].Name != "a" || got[2].Command != "echo c" || tasks.Cleanup["rm"] != "rm -f x" {
		t.Errorf("tasks = %+v", tasks)
	}
	os.WriteFile(filepath.Join(dir, TasksFileName), []byte("[pre-upp]\nx = \"y\"\n"), 0o644)
	if _, err := LoadTasks(dir, nil); err == nil || !strings.Contains(err.Error(), `.draft-tasks.toml:1: unknown field "pre-upp"`) {
		t.Errorf("err = %v", err)
	}
	if tasks, err := LoadTasks(t.TempDir(), nil); err != nil || len(tasks.PreUp) != 0 {
		t.Errorf("no file: %v %+v", err, tasks)
	}
}

// draft's environment variables are read once, each into its field; a bad
// idle timeout names the variable.
func TestReadSettings(t *testing.T) {
	env := map[string]string{
		"DRAFT_HOME": "/h", "DRAFT_REGISTRY": "127.0.0.1:5000", "DRAFT_REGISTRY_MIRROR": "a.example, b.example,",
		"DRAFT_REGISTRY_IDLE_TIMEOUT": "2s", "DOCKER_DAEMON_CONFIG": "/d.json", "DRAFT_PPROF_ADDR": "127.0.0.1:6060",
	}
	s, err := ReadSettings(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{Home: "/h", Registry: "127.0.0.1:5000", RegistryMirrors: []string{"a.example", "b.example"},
		RegistryIdleTimeout: 2 * time.Second, DockerDaemonConfig: "/d.json", PprofAddr: "127.0.0.1:6060"}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("settings = %+v, want %+v", s, want)
	}
	if s.PacksDir() != "/h/packs" {
		t.Errorf("packs dir = %s", s.PacksDir())
	}
	s, err = ReadSettings(func(string) string { return "" })
	if err != nil || s.Registry != "" || s.RegistryMirrors != nil || !strings.HasSuffix(s.Home, ".draft") {
		t.Errorf("without variables: %+v, %v", s, err)
	}
	for _, bad := range []string{"soon", "0s", "-1m"} {
		_, err := ReadSettings(func(k string) string {
			if k == "DRAFT_REGISTRY_IDLE_TIMEOUT" {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "$DRAFT_REGISTRY_IDLE_TIMEOUT") {
			t.Errorf("idle timeout %q: %v", bad, err)
		}
	}
}
