package config

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
)

// App is one [apps.NAME] table of a project: an app in a folder of the
// repository, with its own draft.toml there, and what it needs deployed
// and ready before it (other apps, services).
type App struct {
	Path  string   `toml:"path"`  // the app's folder, relative to the root, slash-separated
	Needs []string `toml:"needs"` // names of apps and services
}

// Service is one [services.NAME] table: a backing service (a database)
// that draft deploys from a chart of its own, keeping its data.
type Service struct {
	Kind    string `toml:"kind"`    // postgres, mysql, redis or mongodb
	Image   string `toml:"image"`   // "" for the kind's image
	Storage string `toml:"storage"` // the size of its volume ("" for 1Gi)
	// Who the apps are on it, when the repository says (a Compose file's
	// POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB ...): apps that hard-code
	// them log in. Empty: draft's user and database, and a password made at
	// the first up. Password = "" is none (a Redis without requirepass).
	User     string  `toml:"user"`
	Password *string `toml:"password"`
	Database string  `toml:"database"`
}

// ServiceKinds are the kinds of service draft can deploy.
var ServiceKinds = []string{"postgres", "mysql", "redis", "mongodb"}

// IsProject reports whether the file is a project's root: it lists apps.
func (c *Config) IsProject() bool { return len(c.Apps) > 0 }

// checkProject checks the apps and services: valid names, known kinds,
// folders inside the root, needs that exist, and no cycle.
func (c *Config) checkProject() error {
	if len(c.Services) > 0 && len(c.Apps) == 0 {
		return fmt.Errorf("%s: services without apps: list the apps that use them as [apps.NAME] tables with path = \"FOLDER\"", c.Path)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		s := c.Services[name]
		if msg := ValidateAppName(name); msg != "" {
			return fmt.Errorf("%s: services.%s: %s", c.Path, name, msg)
		}
		if s == nil || !slices.Contains(ServiceKinds, s.Kind) {
			return fmt.Errorf("%s: services.%s: kind must be one of %s", c.Path, name, strings.Join(ServiceKinds, ", "))
		}
		if s.Password != nil && *s.Password == "" && s.Kind != "redis" {
			return fmt.Errorf("%s: services.%s: an empty password works for redis only: remove the line, and draft makes one", c.Path, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Apps)) {
		a := c.Apps[name]
		if msg := ValidateAppName(name); msg != "" {
			return fmt.Errorf("%s: apps.%s: %s", c.Path, name, msg)
		}
		if _, clash := c.Services[name]; clash {
			return fmt.Errorf("%s: %s is both an app and a service: rename one", c.Path, name)
		}
		if a == nil || a.Path == "" {
			return fmt.Errorf("%s: apps.%s has no path: set path = \"FOLDER\" (the app's folder, relative to this file)", c.Path, name)
		}
		if clean := path.Clean(a.Path); path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%s: apps.%s.path %q is outside the project: give a folder below this file", c.Path, name, a.Path)
		}
		for _, n := range a.Needs {
			_, isApp := c.Apps[n]
			_, isService := c.Services[n]
			if !isApp && !isService {
				return fmt.Errorf("%s: apps.%s.needs names %q, which is no app or service of this file", c.Path, name, n)
			}
		}
	}
	_, err := c.Order()
	return err
}

// Order lists the services, then the apps, each after what it needs (ties
// by name): the order of a deploy. A cycle is an error that names it.
func (c *Config) Order() ([]string, error) {
	order := slices.Sorted(maps.Keys(c.Services))
	state := map[string]int{} // 1: being visited, 2: placed
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		if _, ok := c.Services[name]; ok {
			return nil
		}
		switch state[name] {
		case 2:
			return nil
		case 1:
			i := slices.Index(stack, name)
			return fmt.Errorf("%s: the apps need each other in a circle (%s): one of them must not need the other", c.Path, strings.Join(append(stack[i:], name), " -> "))
		}
		state[name] = 1
		stack = append(stack, name)
		needs := slices.Clone(c.Apps[name].Needs)
		sort.Strings(needs)
		for _, n := range needs {
			if err := visit(n); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.Apps)) {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Closure is names with everything they need, in deploy order.
func (c *Config) Closure(names ...string) ([]string, error) {
	want := map[string]bool{}
	var add func(n string)
	add = func(n string) {
		if want[n] {
			return
		}
		want[n] = true
		if a := c.Apps[n]; a != nil {
			for _, m := range a.Needs {
				add(m)
			}
		}
	}
	for _, n := range names {
		_, isApp := c.Apps[n]
		_, isService := c.Services[n]
		if !isApp && !isService {
			return nil, fmt.Errorf("%s has no app or service %q: it has %s", c.Path, n, strings.Join(append(slices.Sorted(maps.Keys(c.Apps)), slices.Sorted(maps.Keys(c.Services))...), ", "))
		}
		add(n)
	}
	order, err := c.Order()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(order, func(n string) bool { return !want[n] }), nil
}

// NewProject is what draft create writes into a project's root draft.toml.
type NewProject struct {
	Name      string
	Namespace string
	Apps      []NewProjectApp
	Services  []NewProjectService
}

// NewProjectApp is one app of a NewProject.
type NewProjectApp struct {
	Name, Path string
	Needs      []string
	Why        string // a comment: how it was found
}

// NewProjectService is one service of a NewProject.
type NewProjectService struct {
	Name, Kind string
	Image      string // "" for the kind's
	// User, Password (nil: made by up) and Database, when the repository
	// says; From says where it says it.
	User, Database string
	Password       *string
	From           string
	Why            string // a comment: which app needs it, by which package
}

var newProjectTemplate = template.Must(template.New(FileName).Funcs(template.FuncMap{"list": quoteList, "q": tomlString, "deref": func(p *string) string { return *p }}).Parse(`# draft's configuration for the project {{ .Name }}: several apps, each with its own
# draft.toml in its folder, and the services they need. draft up, connect, logs and
# delete here act on all of them; draft up NAME on one app (and what it needs).
[environments]
  [environments.development]
    # Every app and service goes to this namespace, where they find each other by
    # name (http://APP:PORT, postgres:5432).
    namespace = "{{ .Namespace }}"
    # Where images are pushed; --registry and $DRAFT_REGISTRY also set it.
    # registry = "127.0.0.1:5000"
{{ range .Apps }}
# {{ .Why }}
[apps.{{ .Name }}]
  path = "{{ .Path }}"
  needs = [{{ list .Needs }}]
{{ end }}{{ range .Services }}
# {{ .Why }}
[services.{{ .Name }}]
  kind = "{{ .Kind }}"
  # The image (default: the kind's official one) and the size of its volume
  # (draft delete keeps the volume; draft delete --purge removes it).
  {{ if .Image }}image = "{{ .Image }}"{{ else }}# image = ""{{ end }}
  # storage = "1Gi"
{{- if or .User .Password .Database }}
  # Who the apps are on it, as {{ .From }} says (apps that hard-code it log in);
  # without these lines draft makes a password at the first up.
{{- if .User }}
  user = {{ q .User }}{{ end }}{{ if .Password }}
  password = {{ q (deref .Password) }}{{ end }}{{ if .Database }}
  database = {{ q .Database }}{{ end }}
{{- end }}
{{ end }}`))

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s) + `"`
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Render returns the text of a new project's draft.toml.
func (n NewProject) Render() []byte {
	if n.Namespace == "" {
		n.Namespace = "default"
	}
	var buf bytes.Buffer
	_ = newProjectTemplate.Execute(&buf, n)
	return buf.Bytes()
}
