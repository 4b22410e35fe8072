package detect

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile is what an app's own Dockerfile says about how its image runs:
// the chart that draft writes beside it must agree with it.
type Dockerfile struct {
	// Base is the final stage's base image as written ("nginx:1.27-alpine"),
	// followed through stages built on other stages.
	Base string
	// Ports are the TCP ports the final stage EXPOSEs (its parent stages'
	// too), in order; empty when it exposes none.
	Ports []int
	// User is the final stage's last USER ("" when it sets none: root, unless
	// the base image sets one).
	User string
	// Sources are the paths of the build context that its COPY and ADD
	// instructions (of every stage, not --from another) name, as written.
	Sources []string
}

// ReadDockerfile reads the Dockerfile at path with BuildKit's parser.
func ReadDockerfile(path string) (*Dockerfile, error) {
	stages, err := parseStages(path)
	if err != nil {
		return nil, err
	}
	chain := finalChain(stages)
	d := &Dockerfile{Base: stages[chain[0]].BaseName}
	d.addSources(stages)
	d.readFinal(stages, chain)
	return d, nil
}

// parseStages reads the Dockerfile at path into its stages, of which there
// is at least one.
func parseStages(path string) ([]instructions.Stage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s does not parse: %w", path, err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse: %w", path, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s has no FROM", path)
	}
	return stages, nil
}

// finalChain is the chain of stages the final one builds on, the final one
// last (indexes into stages).
func finalChain(stages []instructions.Stage) []int {
	byName := map[string]int{}
	for i, s := range stages {
		if s.Name != "" {
			byName[strings.ToLower(s.Name)] = i
		}
	}
	chain := []int{len(stages) - 1}
	for {
		i, ok := byName[strings.ToLower(stages[chain[0]].BaseName)]
		if !ok || i >= chain[0] {
			break
		}
		chain = append([]int{i}, chain...)
	}
	return chain
}

// addSources finds the build context's paths that the COPY (not --from
// another stage) and ADD instructions of every stage name.
func (d *Dockerfile) addSources(stages []instructions.Stage) {
	for _, st := range stages {
		for _, c := range st.Commands {
			switch cmd := c.(type) {
			case *instructions.CopyCommand:
				if cmd.From == "" {
					d.Sources = append(d.Sources, cmd.SourcePaths...)
				}
			case *instructions.AddCommand:
				d.Sources = append(d.Sources, cmd.SourcePaths...)
			}
		}
	}
}

// readFinal finds the TCP ports that the stages of chain EXPOSE, in order
// and once each, and the last USER they set.
func (d *Dockerfile) readFinal(stages []instructions.Stage, chain []int) {
	seen := map[int]bool{}
	for _, i := range chain {
		for _, c := range stages[i].Commands {
			switch cmd := c.(type) {
			case *instructions.ExposeCommand:
				for _, p := range cmd.Ports {
					n, ok := tcpPort(p)
					if !ok || seen[n] {
						continue // a variable, a range, UDP
					}
					seen[n] = true
					d.Ports = append(d.Ports, n)
				}
			case *instructions.UserCommand:
				d.User = cmd.User
			}
		}
	}
}

// tcpPort is the TCP port that an EXPOSE argument ("8080", "8080/tcp")
// names; not ok for a variable, a range or UDP.
func tcpPort(p string) (int, bool) {
	port, proto, _ := strings.Cut(p, "/")
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || (proto != "" && !strings.EqualFold(proto, "tcp")) {
		return 0, false
	}
	return n, true
}

// wellKnownPorts are the ports that base images serve on when a Dockerfile
// built on them exposes none of its own (the images' own EXPOSE).
var wellKnownPorts = []struct {
	image string // the repository, without registry or tag
	port  int
}{
	{"nginxinc/nginx-unprivileged", 8080},
	{"nginx", 80},
	{"httpd", 80},
	{"caddy", 80},
	{"tomcat", 8080},
	{"jetty", 8080},
	{"tiangolo/uvicorn-gunicorn-fastapi", 80},
	{"tiangolo/uvicorn-gunicorn", 80},
	{"tiangolo/meinheld-gunicorn", 80},
}

// Port is the port the image serves on: its first EXPOSE, else its base
// image's well-known one; 0 when neither says.
func (d *Dockerfile) Port() (port int, from string) {
	if len(d.Ports) > 0 {
		return d.Ports[0], fmt.Sprintf("the Dockerfile's EXPOSE %d", d.Ports[0])
	}
	repo := strings.ToLower(d.Base)
	if i := strings.IndexAny(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
	for _, w := range wellKnownPorts {
		if repo == w.image {
			return w.port, fmt.Sprintf("the port %s serves on", w.image)
		}
	}
	if strings.HasPrefix(repo, "php") && strings.Contains(strings.ToLower(d.Base), "apache") {
		return 80, "the port php's Apache images serve on"
	}
	return 0, ""
}

// RunAs is how the image's process runs, as the chart must let it.
type RunAs struct {
	// Mode: "root" (no USER, or USER root/0), "uid" (a numeric user), "name"
	// (a user by name: its number is the image's to say).
	Mode     string
	UID, GID int
	Name     string
}

// RunAs reads the USER instruction.
func (d *Dockerfile) RunAs() RunAs {
	user, group, _ := strings.Cut(strings.TrimSpace(d.User), ":")
	switch {
	case user == "" || user == "root" || user == "0":
		return RunAs{Mode: "root"}
	}
	uid, err := strconv.Atoi(user)
	if err != nil {
		return RunAs{Mode: "name", Name: d.User}
	}
	gid := uid
	if g, err := strconv.Atoi(group); err == nil {
		gid = g
	}
	return RunAs{Mode: "uid", UID: uid, GID: gid}
}
