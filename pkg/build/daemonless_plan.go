package build

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Plan is what the daemonless builder reads from a Dockerfile: how to make the
// final stage's image without running it. A Dockerfile qualifies when its
// final stage is a base image plus metadata plus either
//   - (source) the build context copied last (COPY [--chown=U:G] . DEST), with
//     any dependency steps (COPY of files, RUN) before it; or
//   - (go) a binary copied from a build stage that makes it with go build.
type Plan struct {
	Kind string // KindSource or KindGo
	Base string // the final stage's FROM ("scratch" for none)

	// Metadata of the final stage, in order, applied to the base's config.
	Workdir    string
	Env        [][2]string
	User       string
	Expose     []string
	Entrypoint []string
	Cmd        []string
	Labels     [][2]string

	// Source: where the context goes, and with which owner.
	SourceDest string
	UID, GID   int
	// NeedsPrevious is set when steps before the source (RUN, COPY of
	// dependency files) must come from an earlier build's image.
	NeedsPrevious bool
	DepFiles      []string // the context files copied before the source

	// Go: the package to build, its flags, and where the binary goes.
	GoPackage  string
	GoFlags    []string // go build flags other than -o
	GoEnv      []string // the build stage's ENV (CGO_ENABLED=0 ...)
	BinaryDest string
	// CACerts is where the build stage's CA bundle is copied to, "" if not.
	CACerts string
	// Files are folders of the context that the build stage copied in and
	// the final stage copies out (templates/, static/: what the binary reads
	// at run time), in order.
	Files []ContextCopy
}

// ContextCopy is a folder of the build context put at Dest in the image.
type ContextCopy struct {
	Src  string // relative to the context, slash-separated
	Dest string // absolute
}

// The plans' kinds.
const (
	KindSource = "source"
	KindGo     = "go"
)

// dependencyStage finds the stage named name and the context files it
// copies, when it copies named files only (no ".", no other stage's files,
// no ADD): what it makes depends on them and on the Dockerfile alone.
func dependencyStage(stages []instructions.Stage, name string) ([]string, bool) {
	for _, st := range stages {
		if !strings.EqualFold(st.Name, name) {
			continue
		}
		var files []string
		for _, c := range st.Commands {
			switch cmd := c.(type) {
			case *instructions.CopyCommand:
				if cmd.From != "" || len(cmd.SourceContents) > 0 {
					return nil, false
				}
				for _, src := range cmd.SourcePaths {
					if path.Clean(src) == "." {
						return nil, false
					}
				}
				files = append(files, cmd.SourcePaths...)
			case *instructions.AddCommand:
				return nil, false
			}
		}
		return files, true
	}
	return nil, false
}

// contextDir is where a stage copies the whole build context (COPY . DEST),
// as an absolute path; "" when it does not.
func contextDir(st *instructions.Stage) string {
	workdir := "/"
	for _, c := range st.Commands {
		switch cmd := c.(type) {
		case *instructions.WorkdirCommand:
			workdir = path.Join(workdir, cmd.Path)
			if path.IsAbs(cmd.Path) {
				workdir = path.Clean(cmd.Path)
			}
		case *instructions.CopyCommand:
			if cmd.From == "" && len(cmd.SourcePaths) == 1 && cmd.SourcePaths[0] == "." {
				dest := cmd.DestPath
				if !path.IsAbs(dest) {
					dest = path.Join(workdir, dest)
				}
				return path.Clean(dest)
			}
		}
	}
	return ""
}

// metadataOnly are instructions that make no layer.
func metadataOnly(c instructions.Command) bool {
	switch c.(type) {
	case *instructions.EnvCommand, *instructions.LabelCommand, *instructions.UserCommand, *instructions.ExposeCommand,
		*instructions.CmdCommand, *instructions.EntrypointCommand, *instructions.WorkdirCommand, *instructions.ArgCommand,
		*instructions.StopSignalCommand, *instructions.HealthCheckCommand:
		return true
	}
	return false
}

// Analyze reads a Dockerfile. It returns a nil plan and the reason when the
// daemonless builder cannot make this image.
func Analyze(dockerfile []byte) (*Plan, string) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, fmt.Sprintf("the Dockerfile does not parse: %v", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Sprintf("the Dockerfile does not parse: %v", err)
	}
	if len(metaArgs) > 0 {
		return nil, "the Dockerfile has ARGs before FROM"
	}
	final := stages[len(stages)-1]
	p := &Plan{Base: final.BaseName}
	for _, s := range stages {
		if s.Name != "" && strings.EqualFold(s.Name, final.BaseName) {
			return nil, "the final stage builds on another stage"
		}
	}
	last := -1
	for i, c := range final.Commands {
		if !metadataOnly(c) {
			last = i
		}
	}
	if last < 0 {
		return nil, "the final stage copies nothing"
	}
	copyLast, ok := final.Commands[last].(*instructions.CopyCommand)
	if !ok {
		return nil, fmt.Sprintf("the final stage ends with %s, not a COPY", strings.ToUpper(final.Commands[last].Name()))
	}
	if why := p.readMetadata(final.Commands); why != "" {
		return nil, why
	}
	if copyLast.From == "" {
		if why := p.planSource(stages, final.Commands[:last], copyLast); why != "" {
			return nil, why
		}
		return p, ""
	}
	if why := p.planGo(stages, final.Commands[:last], copyLast); why != "" {
		return nil, why
	}
	return p, ""
}

// readMetadata takes the final stage's metadata, wherever it is in the
// stage (docker applies it in order); it says why not when the daemonless
// builder cannot give an image what the stage sets.
func (p *Plan) readMetadata(commands []instructions.Command) string {
	for _, c := range commands {
		switch cmd := c.(type) {
		case *instructions.WorkdirCommand:
			if path.IsAbs(cmd.Path) {
				p.Workdir = cmd.Path
			} else {
				p.Workdir = path.Join("/", p.Workdir, cmd.Path)
			}
		case *instructions.EnvCommand:
			for _, kv := range cmd.Env {
				p.Env = append(p.Env, [2]string{kv.Key, kv.Value})
			}
		case *instructions.LabelCommand:
			for _, kv := range cmd.Labels {
				p.Labels = append(p.Labels, [2]string{kv.Key, kv.Value})
			}
		case *instructions.UserCommand:
			p.User = cmd.User
		case *instructions.ExposeCommand:
			p.Expose = append(p.Expose, cmd.Ports...)
		case *instructions.EntrypointCommand:
			p.Entrypoint = execForm(cmd.ShellDependantCmdLine)
			p.Cmd = nil // as docker does: a new ENTRYPOINT resets CMD
		case *instructions.CmdCommand:
			p.Cmd = execForm(cmd.ShellDependantCmdLine)
		case *instructions.StopSignalCommand, *instructions.HealthCheckCommand:
			return "the final stage sets STOPSIGNAL or HEALTHCHECK"
		}
	}
	return ""
}

// planSource plans an image that ends with COPY . DEST: the source on the
// base, after dependency steps whose output the previous image holds.
func (p *Plan) planSource(stages []instructions.Stage, before []instructions.Command, copyLast *instructions.CopyCommand) string {
	if strings.Join(copyLast.SourcePaths, " ") != "." || len(copyLast.SourceContents) > 0 || copyLast.Chmod != "" || copyLast.Link || len(copyLast.ExcludePatterns) > 0 {
		return "the final stage's last COPY is not COPY . DEST"
	}
	p.Kind = KindSource
	dest := copyLast.DestPath
	if !path.IsAbs(dest) {
		dest = path.Join("/", p.Workdir, dest)
	}
	p.SourceDest = path.Clean(dest)
	if copyLast.Chown != "" {
		if _, err := fmt.Sscanf(copyLast.Chown, "%d:%d", &p.UID, &p.GID); err != nil {
			if _, err := fmt.Sscanf(copyLast.Chown, "%d", &p.UID); err != nil {
				return "COPY --chown names a user; the daemonless builder needs numeric ids"
			}
			p.GID = p.UID
		}
	}
	used := map[string]bool{} // stages the final one copies from before the source
	for _, c := range before {
		switch cmd := c.(type) {
		case *instructions.RunCommand:
			p.NeedsPrevious = true
		case *instructions.CopyCommand:
			p.NeedsPrevious = true
			if cmd.From == "" {
				p.DepFiles = append(p.DepFiles, cmd.SourcePaths...)
				continue
			}
			// A stage that installs dependencies from named files (a
			// compiler stage for native gems): its output is part of the
			// previous image, made from those files.
			files, ok := dependencyStage(stages[:len(stages)-1], cmd.From)
			if !ok {
				return "the final stage copies from another stage before the source, one that is not made of dependency files alone"
			}
			used[strings.ToLower(cmd.From)] = true
			p.DepFiles = append(p.DepFiles, files...)
		case *instructions.AddCommand:
			return "the final stage uses ADD"
		}
	}
	for _, st := range stages[:len(stages)-1] {
		if !used[strings.ToLower(st.Name)] {
			return "the source stage is not the only stage"
		}
	}
	return ""
}

// planGo plans an image whose last step copies a binary out of a Go build
// stage: the binary compiled here, beside the CA bundle and folders of the
// source that the final stage copies through the build stage.
func (p *Plan) planGo(stages []instructions.Stage, before []instructions.Command, copyLast *instructions.CopyCommand) string {
	var build *instructions.Stage
	for i := range stages[:len(stages)-1] {
		if stages[i].Name == copyLast.From {
			build = &stages[i]
		}
	}
	if build == nil || len(copyLast.SourcePaths) != 1 {
		return "the final stage copies from an image, not a build stage"
	}
	p.Kind = KindGo
	p.BinaryDest = copyLast.DestPath
	for _, c := range before {
		if why := p.finalGoStep(build, c); why != "" {
			return why
		}
	}
	return p.readGoBuild(build, copyLast.SourcePaths[0])
}

// finalGoStep takes one step of the final stage before the binary: the CA
// bundle, or a folder of the source, from the build stage; metadata.
func (p *Plan) finalGoStep(build *instructions.Stage, c instructions.Command) string {
	cmd, ok := c.(*instructions.CopyCommand)
	if !ok {
		if !metadataOnly(c) {
			return fmt.Sprintf("the final stage runs %s", strings.ToUpper(c.Name()))
		}
		return ""
	}
	if cmd.From == build.Name && len(cmd.SourcePaths) == 1 && cmd.SourcePaths[0] == "/etc/ssl/certs/ca-certificates.crt" {
		p.CACerts = cmd.DestPath
		if strings.HasSuffix(p.CACerts, "/") {
			p.CACerts += "ca-certificates.crt"
		}
		return ""
	}
	// A folder of the context, through a build stage that copied the whole
	// context to its WORKDIR.
	if at := contextDir(build); cmd.From == build.Name && len(cmd.SourcePaths) == 1 && at != "" {
		src := path.Clean(cmd.SourcePaths[0])
		if rel, ok := strings.CutPrefix(src, strings.TrimSuffix(at, "/")+"/"); ok && !strings.ContainsAny(rel, "*?[") && !strings.HasPrefix(rel, "../") {
			dest := cmd.DestPath
			if !path.IsAbs(dest) {
				dest = path.Join("/", p.Workdir, dest)
			}
			p.Files = append(p.Files, ContextCopy{Src: rel, Dest: path.Clean(dest)})
			return ""
		}
	}
	return "the final stage copies more than the binary, the CA bundle and folders of the source"
}

// readGoBuild reads the build stage's Go environment and the go build that
// writes bin: its flags and package.
func (p *Plan) readGoBuild(build *instructions.Stage, bin string) string {
	lex := shell.NewLex('\\')
	for _, c := range build.Commands {
		switch cmd := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range cmd.Env {
				if kv.Key == "CGO_ENABLED" && kv.Value != "0" {
					// Linked against this machine's libc, it might not run on the image's.
					return "the Go build uses cgo"
				}
				p.GoEnv = append(p.GoEnv, kv.Key+"="+kv.Value)
			}
		case *instructions.RunCommand:
			words, err := lex.ProcessWords(strings.Join(cmd.CmdLine, " "), shell.EnvsFromSlice(nil))
			if err != nil || len(words) < 3 || words[0] != "go" || words[1] != "build" {
				continue
			}
			if out, pkg, flags := goBuildArgs(words[2:]); out == bin {
				p.GoFlags, p.GoPackage = flags, pkg
			}
		}
	}
	if p.GoPackage == "" {
		return "no go build -o " + bin + " in the build stage"
	}
	return ""
}

// goBuildArgs reads go build's arguments: -o's value, the package, the
// other flags (a flag's value joined to it with =).
func goBuildArgs(words []string) (out, pkg string, flags []string) {
	flags = []string{}
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-o" && i+1 < len(words):
			out = words[i+1]
			i++
		case strings.HasPrefix(w, "-o="):
			out = strings.TrimPrefix(w, "-o=")
		case valueFlags[strings.TrimLeft(w, "-")] && i+1 < len(words):
			flags = append(flags, w+"="+words[i+1])
			i++
		case strings.HasPrefix(w, "-"):
			flags = append(flags, w)
		default:
			pkg = w
		}
	}
	return out, pkg, flags
}

// valueFlags are go build's flags that take a value.
var valueFlags = map[string]bool{
	"tags": true, "ldflags": true, "gcflags": true, "asmflags": true, "mod": true, "modfile": true, "p": true,
	"pkgdir": true, "installsuffix": true, "buildmode": true, "compiler": true, "gccgoflags": true, "overlay": true,
	"pgo": true, "toolexec": true, "C": true,
}

// execForm returns a CMD or ENTRYPOINT as docker stores it.
func execForm(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append([]string{"/bin/sh", "-c"}, strings.Join(c.CmdLine, " "))
	}
	return append([]string(nil), c.CmdLine...)
}
