package detect

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// ComposeFileNames are the names of a Compose file, in the order Compose
// looks for them.
var ComposeFileNames = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// Compose is what a Compose file at a repository's root says of its
// services: those built from a folder (apps) and those run from an image
// (a database ...).
type Compose struct {
	File     string
	Services []ComposeService
}

// ComposeService is one service of a Compose file.
type ComposeService struct {
	Name      string
	Build     string            // the build context, slash-separated and relative to the root ("" when run from an image)
	Image     string            // the image, when it names one
	Kind      string            // for an image of a known database: postgres, mysql, redis, mongodb
	Ports     []int             // the container ports it publishes or exposes
	DependsOn []string          // the services it depends on
	Env       []string          // the names of its environment variables
	Values    map[string]string // their values, where the file gives one without ${...}
	Command   []string          // its command, as words
	Profiles  []string          // Compose starts it only when one of these is asked for
}

// ReadCompose reads the Compose file at root, if there is one (nil, nil
// when there is none).
func ReadCompose(root string) (*Compose, error) {
	for _, name := range ComposeFileNames {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		var raw struct {
			Services map[string]map[string]any `json:"services"`
		}
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		c := &Compose{File: name}
		for svcName, s := range raw.Services {
			c.Services = append(c.Services, composeService(svcName, s))
		}
		sort.Slice(c.Services, func(i, j int) bool { return c.Services[i].Name < c.Services[j].Name })
		return c, nil
	}
	return nil, nil
}

// composeService reads one service, in either of Compose's syntaxes for
// build, ports, depends_on and environment.
func composeService(name string, s map[string]any) ComposeService {
	cs := ComposeService{Name: name, Build: composeBuild(s["build"])}
	cs.Image, _ = s["image"].(string)
	cs.Kind = ImageKind(cs.Image)
	for _, key := range []string{"ports", "expose"} {
		list, _ := s[key].([]any)
		for _, p := range list {
			if n := composePort(p); n > 0 {
				cs.Ports = append(cs.Ports, n)
			}
		}
	}
	switch d := s["depends_on"].(type) {
	case []any:
		cs.DependsOn = composeStrings(d)
	case map[string]any:
		for n := range d {
			cs.DependsOn = append(cs.DependsOn, n)
		}
	}
	sort.Strings(cs.DependsOn)
	cs.Env, cs.Values = composeEnv(s["environment"])
	switch c := s["command"].(type) {
	case string:
		cs.Command = strings.Fields(c)
	case []any:
		for _, x := range c {
			cs.Command = append(cs.Command, fmt.Sprint(x))
		}
	}
	if ps, ok := s["profiles"].([]any); ok {
		cs.Profiles = composeStrings(ps)
	}
	return cs
}

// composeBuild is a service's build context, slash-separated and clean;
// "" when it is not built.
func composeBuild(build any) string {
	var dir string
	switch b := build.(type) {
	case string:
		dir = b
	case map[string]any:
		dir, _ = b["context"].(string)
		if dir == "" {
			dir = "."
		}
	}
	if dir == "" {
		return ""
	}
	return strings.TrimPrefix(path.Clean(filepath.ToSlash(dir)), "./")
}

// composeStrings are the strings of a list.
func composeStrings(list []any) []string {
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// composeEnv reads a service's environment, in either syntax: every
// variable's name (sorted), and the values given literally (not ${...}).
func composeEnv(env any) (names []string, values map[string]string) {
	values = map[string]string{}
	value := func(k string, v any) {
		names = append(names, k)
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64, bool:
			s = fmt.Sprint(x)
		default:
			return
		}
		if !strings.Contains(s, "${") && !strings.HasPrefix(s, "$") {
			values[k] = s
		}
	}
	switch e := env.(type) {
	case []any:
		for _, kv := range composeStrings(e) {
			if k, v, has := strings.Cut(kv, "="); has {
				value(k, v)
			} else {
				names = append(names, k)
			}
		}
	case map[string]any:
		for k, v := range e {
			value(k, v)
		}
	}
	sort.Strings(names)
	return names, values
}

// composePort is the container port of a ports or expose entry ("8080",
// "3000:3000", "127.0.0.1:5432:5432/tcp", {target: 80}).
func composePort(p any) int {
	switch v := p.(type) {
	case float64:
		return int(v)
	case string:
		v = strings.SplitN(v, "/", 2)[0]
		parts := strings.Split(v, ":")
		last := parts[len(parts)-1]
		if i := strings.IndexByte(last, '-'); i >= 0 { // a range: its first port
			last = last[:i]
		}
		n, _ := strconv.Atoi(last)
		return n
	case map[string]any:
		if t, ok := v["target"].(float64); ok {
			return int(t)
		}
	}
	return 0
}

// ImageKind is the kind of database an image runs, by its name (postgres,
// bitnami/postgresql, mysql, mariadb, redis, valkey, mongo), or "".
func ImageKind(image string) string {
	name := image
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, ":")
	name, _, _ = strings.Cut(name, "@")
	switch name {
	case "postgres", "postgresql", "postgis", "pgvector":
		return "postgres"
	case "mysql", "mariadb":
		return "mysql"
	case "redis", "redis-stack", "redis-stack-server", "valkey", "keydb":
		return "redis"
	case "mongo", "mongodb", "mongodb-community-server":
		return "mongodb"
	}
	return ""
}
