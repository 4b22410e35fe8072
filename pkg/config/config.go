package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/pelletier/go-toml/v2"
)

// FileName is the name of draft's configuration file in an app's directory.
const FileName = "draft.toml"

// DefaultEnvironment is used when no environment is named.
const DefaultEnvironment = "development"

// DefaultWatchDelay is the seconds of quiet before a redeploy in watch mode
// (pkg/watch.DefaultDelay says why it is not classic Draft's 2 s).
const DefaultWatchDelay = 0.2

// Config is a draft.toml.
type Config struct {
	Environments map[string]*Environment `toml:"environments"`
	// Apps and Services make a project: a root draft.toml for a repository
	// of several apps, each with its own draft.toml in its folder, and the
	// databases they need (project.go).
	Apps     map[string]*App     `toml:"apps"`
	Services map[string]*Service `toml:"services"`
	// Tasks may also live here as [tasks.pre-up] and so on.
	Tasks *Tasks `toml:"tasks"`
	// Path is the file it was read from.
	Path string `toml:"-"`
}

// Environment is one [environments.NAME] table.
type Environment struct {
	Name        string  `toml:"name"` // release name
	Namespace   string  `toml:"namespace"`
	Registry    string  `toml:"registry"`
	Wait        *bool   `toml:"wait"`
	Watch       bool    `toml:"watch"`
	WatchDelay  float64 `toml:"watch-delay"`
	AutoConnect bool    `toml:"auto-connect"`
	// LiveUpdate: watch mode syncs source changes into the running pods
	// instead of rebuilding (nil: on).
	LiveUpdate    *bool             `toml:"live-update"`
	OverridePorts []string          `toml:"override-ports"`
	Chart         string            `toml:"chart"`
	Dockerfile    string            `toml:"dockerfile"`
	Set           []string          `toml:"set"`
	Values        []string          `toml:"values"`
	BuildArgs     map[string]string `toml:"image-build-args"`
	CustomTags    []string          `toml:"custom-tags"`
	Builder       string            `toml:"builder"`
	KubeContext   string            `toml:"kube-context"`
	AllowContexts []string          `toml:"allowed-contexts"`
	// Extras of draft's: create the namespace if missing, docker build's network
	// ("host" lets RUN steps reach package registries), registries allowed over
	// plain HTTP, and mirrors of Docker Hub for base images.
	CreateNamespace    bool     `toml:"create-namespace"`
	BuildNetwork       string   `toml:"build-network"`
	InsecureRegistries []string `toml:"insecure-registries"`
	RegistryMirrors    []string `toml:"registry-mirrors"`

	// Fields of classic Draft that draft reads but does not use.
	ContainerBuilder  string   `toml:"container-builder"`
	ResourceGroupName string   `toml:"resource-group-name"`
	BuildTar          string   `toml:"build-tar"`
	ChartTar          string   `toml:"chart-tar"`
	Controllers       []string `toml:"controllers"`
}

// Load reads path. Errors name the file, the line and the field.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(path, b)
}

// Parse reads a draft.toml held in b; path is used in errors.
func Parse(path string, b []byte) (*Config, error) {
	c := &Config{Path: path}
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, describe(path, err)
	}
	if len(c.Environments) == 0 {
		return nil, fmt.Errorf("%s: no environment: add an [environments.%s] table (draft create writes one)", path, DefaultEnvironment)
	}
	if err := c.checkProject(); err != nil {
		return nil, err
	}
	for _, name := range c.EnvironmentNames() {
		e := c.Environments[name]
		if e == nil {
			return nil, fmt.Errorf("%s: environments.%s is not a table", path, name)
		}
		if e.WatchDelay < 0 {
			return nil, fmt.Errorf("%s: environments.%s.watch-delay is %v: it must be zero or more seconds", path, name, e.WatchDelay)
		}
		if e.Name != "" {
			if msg := ValidateAppName(e.Name); msg != "" {
				return nil, fmt.Errorf("%s: environments.%s.name %q: %s", path, name, e.Name, msg)
			}
		}
	}
	return c, nil
}

// describe turns go-toml's errors into one sentence with file, line and field.
func describe(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var parts []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			parts = append(parts, fmt.Sprintf("%s:%d: unknown field %q", path, row, strings.Join(e.Key(), ".")))
		}
		return fmt.Errorf("%s (check the spelling; the fields are listed in draft's README)", strings.Join(parts, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		field := strings.Join(de.Key(), ".")
		if m := typeErrRE.FindStringSubmatch(de.Error()); m != nil && field != "" {
			return fmt.Errorf("%s:%d:%d: field %s is a TOML %s; it must be %s", path, row, col, field, m[1], goTypeWords(m[2]))
		}
		if field != "" {
			return fmt.Errorf("%s:%d:%d: field %s: %s", path, row, col, field, de.Error())
		}
		return fmt.Errorf("%s:%d:%d: %s", path, row, col, de.Error())
	}
	return fmt.Errorf("%s: %w", path, err)
}

var typeErrRE = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)`)

func goTypeWords(t string) string {
	switch strings.TrimPrefix(t, "*") {
	case "bool":
		return "true or false"
	case "string":
		return "a string in quotes"
	case "float64", "int", "int64":
		return "a number"
	case "[]string":
		return `a list of strings, like ["a", "b"]`
	case "map[string]string":
		return "a table of strings"
	}
	return "a " + t
}

// EnvironmentNames lists the environments, sorted.
func (c *Config) EnvironmentNames() []string {
	names := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Environment returns the named environment (the default one when name is "").
func (c *Config) Environment(name string) (*Environment, error) {
	if name == "" {
		name = DefaultEnvironment
	}
	e, ok := c.Environments[name]
	if !ok {
		return nil, fmt.Errorf("%s has no environment %q: it has %s; pick one with --environment", c.Path, name, strings.Join(c.EnvironmentNames(), ", "))
	}
	return e, nil
}

// NewFile is what draft create writes into a new draft.toml.
type NewFile struct {
	App        string
	Namespace  string
	Chart      string // relative to the app's directory
	Dockerfile string
	Port       int
}

var newFileTemplate = template.Must(template.New(FileName).Parse(`# draft's configuration for {{ .App }}, in the classic Draft format.
# draft up uses [environments.development] unless -e/--environment names another.
[environments]
  [environments.development]
    # The Helm release, and the namespace it goes to.
    name = "{{ .App }}"
    namespace = "{{ .Namespace }}"
    # Where images are pushed; --registry and $DRAFT_REGISTRY also set it.
    # registry = "127.0.0.1:5000"
    # Wait until the new pods are Ready (false: return once the release is
    # applied; a failing rollout is then neither diagnosed nor rolled back).
    wait = true
    # Redeploy on every save (draft up --watch), after this many seconds of quiet.
    watch = false
    watch-delay = {{ .WatchDelay }}
    # Connect (port-forward and logs) after each up; LOCAL:REMOTE ports, e.g. ["8080:{{ .Port }}"].
    auto-connect = false
    override-ports = []
    chart = "{{ .Chart }}"
    dockerfile = "{{ .Dockerfile }}"
    # Helm values: --set style ("replicaCount=2") and values files.
    set = []
    values = []
`))

// Render returns the text of a new draft.toml.
func (n NewFile) Render() []byte {
	if n.Namespace == "" {
		n.Namespace = "default"
	}
	var buf bytes.Buffer
	_ = newFileTemplate.Execute(&buf, struct {
		NewFile
		WatchDelay float64
	}{n, DefaultWatchDelay})
	return buf.Bytes()
}
