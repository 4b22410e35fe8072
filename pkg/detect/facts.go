package detect

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/mod/modfile"
)

// Facts are what the chosen stack's manifests say about the application.
type Facts struct {
	// Version is the runtime version or constraint as the app states it
	// ("1.22.3", ">=3.10", "^20", "21"); "" when the app does not say.
	Version string
	// VersionFrom names where Version was read ("go.mod go directive").
	VersionFrom string
	// Framework is the web framework when clear: flask, django, fastapi,
	// express, fastify, koa, nest, next, spring-boot, spark, sinatra, rails, rack,
	// laravel, symfony, slim, gin, echo, fiber, chi; "" otherwise.
	Framework string
	// BuildTool: maven or gradle (java); npm, yarn or pnpm (node); pip,
	// pipenv or poetry (python); bundler (ruby); composer (php); go (go).
	BuildTool string
	// DepFiles are the root files holding dependencies and their locks, to be
	// copied before the source.
	DepFiles []string
	// Entry is what starts the app: a Go main package ("./cmd/api"), a Python
	// module or file ("app", "app.py"), a Django project ("mysite"), a Node
	// script ("server.js"), a Java main class, a Ruby file, a PHP document root.
	Entry string
	// Object is the app object in a Python Entry module: "app", another
	// name, or a factory call ("create_app()"); "" when it does not apply.
	Object string
	// BuildScript is the npm script that compiles a Node app (TypeScript,
	// bundlers), run in a build stage: "build", or the pre-script of the
	// start script draft runs ("prestart:prod": tsc), or a compiling
	// "prepare"; "" when it needs none.
	BuildScript string
	// Pnpm is the pnpm major version to install with, when package.json
	// names no packageManager: the one that writes pnpm-lock.yaml's format.
	Pnpm string
	// Prepare: the Node app has a "prepare" script, which npm ci runs after
	// installing; its tools (husky, tsc) are devDependencies.
	Prepare bool
	// Server: a production server dependency is present (gunicorn, uvicorn, puma).
	Server string
	// Module is the Go module path or the Java/Node/PHP project name.
	Module string
	// RuntimeDirs are folders a Go binary reads at run time (templates/,
	// static/ ... that no go:embed directive puts into it): the image needs
	// them beside the binary.
	RuntimeDirs []string
	// CommittedEnv: the root's .env is part of the source (a .gitignore at
	// the root does not leave it out): configuration the app reads, such as
	// Symfony's, not a secret.
	CommittedEnv bool
	// CollectStatic: a Django app whose static files whitenoise serves from
	// STATIC_ROOT: collectstatic must run before the server.
	CollectStatic bool
	// Includes are the files requirements.txt includes (-r, -c), with
	// their paths: copied with it, where pip looks for them.
	Includes []string
	// Cgo are the Go modules required that need cgo ("" none).
	Cgo []string
	// Args are arguments the program needs in the image (a Go listen
	// address flag: "-http=:8080").
	Args []string
	// NoProgram: the code has nothing to run (Go without a main package).
	NoProgram bool
	// ParentModule is the folder of the go.mod that a Go folder without one
	// belongs to ("" when it has its own, or none is above it).
	ParentModule string
	// VersionBounds are constraints on the runtime version from the
	// lockfile or a pinned framework (constraint -> who sets it).
	VersionBounds map[string]string
	// Assets is the folder a PHP app's front-end build writes (Laravel's Vite,
	// Symfony's Encore: public/build), built with Node in a stage of its
	// own; AssetDeps are the package files that build installs from.
	Assets    string
	AssetDeps []string
	// StartFrom says where the start command came from, for --explain
	// ("package.json scripts.start:prod", "Procfile web", ...).
	StartFrom string
	// Programs are the folders below the root that hold a Go main package,
	// when the root has none of its own and there is more than one.
	Programs []string
	// Native are the app's gems that compile C extensions; NativePackages
	// the Debian -dev packages they need besides a compiler.
	Native, NativePackages []string
	// Static is the folder a Node front-end's build writes (dist, build):
	// the image serves those files; "" for an app that runs a server.
	Static string
	// Wrapper: the Java project has a Gradle wrapper (gradlew and its
	// properties), which the build runs instead of the image's Gradle.
	Wrapper bool
	// Port is a port the app's code sets for itself (Sinatra's set :port),
	// which wins over the pack's; 0 when the code does not say.
	Port int
	// Start is the app's own start command, from its Procfile's web process
	// ("bundle exec puma -C config/puma.rb"), when the pack's image can run
	// it as written; "" otherwise.
	Start string
	// Notes are things worth telling the user.
	Notes []string
}

func readFacts(root string, s Stack, ms []string) Facts {
	var f Facts
	f.CommittedEnv = committedEnv(root)
	switch s {
	case Go:
		goFacts(root, &f)
	case Node:
		nodeFacts(root, &f)
	case Python:
		pythonFacts(root, &f)
	case Java:
		javaFacts(root, &f)
	case Ruby:
		rubyFacts(root, &f)
	case PHP:
		phpFacts(root, &f)
	}
	if !f.CommittedEnv {
		f.exampleEnv(root)
	}
	return f
}

var envLineRE = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)

// exampleEnv notes the settings that an env example file (.env.example and
// its kin, which stay in the image) leaves empty: the app reads them, and
// the cluster must give them.
func (f *Facts) exampleEnv(root string) {
	for _, name := range []string{".env.example", ".env.sample", ".env.template", ".env.dist"} {
		b, ok := f.read(root, name)
		if !ok {
			continue
		}
		var empty []string
		for _, line := range strings.Split(string(b), "\n") {
			m := envLineRE.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			v := strings.TrimSpace(m[2])
			if strings.HasPrefix(v, "#") {
				v = "" // all comment
			} else if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i]) // a comment after the value
			}
			if v == "" || v == `""` || v == "''" {
				empty = append(empty, m[1])
			}
		}
		if len(empty) > 0 {
			f.note("%s leaves %s empty: the app reads them, so give them to the pod (a Secret named under envFrom in the chart's values.yaml: kubectl create secret generic NAME --from-env-file=.env)", name, ListWords(empty, 6))
		}
		return
	}
}

// ListWords joins up to n words with commas, saying how many more there are.
func ListWords(words []string, n int) string {
	if len(words) <= n {
		return strings.Join(words, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(words[:n], ", "), len(words)-n)
}

// read reads a manifest. One that is there but cannot be read is noted, so
// that what detection could not see is said, not silently left out (an
// unreadable requirements.txt made a Flask app "python app.py").
func (f *Facts) read(root, name string) ([]byte, bool) {
	if name == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.unreadable(name, err)
	}
	return b, err == nil
}

// manifest reports whether root holds the file name; one that is there but
// cannot be opened (a symlink loop, no permission) counts, and is noted.
func (f *Facts) manifest(root, name string) bool {
	p := filepath.Join(root, name)
	if isFile(p) {
		return true
	}
	if _, err := os.Lstat(p); err == nil {
		_, err = os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.unreadable(name, err)
			return true
		}
	}
	return false
}

func (f *Facts) unreadable(name string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	f.note("%s is there but cannot be read (%v): what it says is not taken into account; make it readable and run draft create --force", name, err)
}

func firstExisting(root string, names ...string) string {
	for _, n := range names {
		if isFile(filepath.Join(root, n)) {
			return n
		}
	}
	return ""
}

func (f *Facts) addDeps(root string, names ...string) {
	for _, n := range names {
		if isFile(filepath.Join(root, n)) {
			f.DepFiles = append(f.DepFiles, n)
		}
	}
}

func (f *Facts) note(format string, a ...any) {
	if n := fmt.Sprintf(format, a...); !slices.Contains(f.Notes, n) {
		f.Notes = append(f.Notes, n)
	}
}

// --- Go ---

var goFrameworks = []struct{ mod, name string }{
	{"github.com/gin-gonic/gin", "gin"}, {"github.com/labstack/echo", "echo"},
	{"github.com/gofiber/fiber", "fiber"}, {"github.com/go-chi/chi", "chi"},
}

// goCgoModules are modules that need cgo: the binary links the C library
// and runs on a libc image, not scratch.
var goCgoModules = []string{"github.com/mattn/go-sqlite3", "github.com/confluentinc/confluent-kafka-go", "github.com/confluentinc/confluent-kafka-go/v2"}

func goFacts(root string, f *Facts) {
	f.BuildTool = "go"
	f.addDeps(root, "go.mod", "go.sum")
	if b, ok := f.read(root, "go.mod"); ok {
		if mf, err := modfile.ParseLax("go.mod", b, nil); err == nil {
			if mf.Module != nil {
				f.Module = mf.Module.Mod.Path
			}
			if mf.Go != nil {
				f.Version, f.VersionFrom = mf.Go.Version, "go.mod go directive"
			}
			for _, r := range mf.Require {
				for _, c := range goCgoModules {
					if r.Mod.Path == c && !r.Indirect {
						f.Cgo = append(f.Cgo, c)
					}
				}
				for _, fw := range goFrameworks {
					if strings.HasPrefix(r.Mod.Path, fw.mod) && f.Framework == "" {
						f.Framework = fw.name
					}
				}
			}
		} else {
			f.note("go.mod does not parse (%v)", err)
		}
	}
	if !slices.Contains(f.DepFiles, "go.mod") {
		if f.ParentModule = goModuleAbove(root); f.ParentModule == "" {
			f.note("there is no go.mod: the image makes one (go mod init app, then go mod tidy, which takes the newest version of each import); commit your own (go mod init NAME && go mod tidy) to pin them")
		}
	}
	if isDir(filepath.Join(root, "vendor")) {
		f.DepFiles = append(f.DepFiles, "vendor")
	}
	if len(f.Cgo) > 0 {
		f.note("%s needs cgo: the binary is built with CGO_ENABLED=1 and runs on debian:bookworm-slim (not scratch)", strings.Join(f.Cgo, ", "))
	}
	f.Entry = goMainPackage(root, f.Module)
	f.StartFrom = "the main package at " + f.Entry
	if f.Entry == "" {
		f.NoProgram = true
		f.Programs = goMainsBelow(root)
		return
	}
	f.RuntimeDirs = goRuntimeDirs(root)
	goCodeFacts(root, f)
	if len(f.RuntimeDirs) > 0 {
		f.note("the image holds %s beside the binary, which runs in /srv (folders such a binary reads at run time)", strings.Join(f.RuntimeDirs, ", "))
	}
}

// goModuleAbove is the nearest folder above root that holds a go.mod, or "".
func goModuleAbove(root string) string {
	abs, err := filepath.Abs(root)
	if err != nil {
		return ""
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "go.mod")) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// goRuntimeDirFolders are the folders a web app's binary opens by relative
// path (templates it parses, files it serves).
var goRuntimeDirFolders = []string{"templates", "views", "static", "public", "assets", "web", "www", "config"}

// goRuntimeDirs lists those of them at the root that no go:embed directive
// in the root's or cmd/'s Go files embeds.
func goRuntimeDirs(root string) []string {
	var embedded strings.Builder
	files, _ := filepath.Glob(filepath.Join(root, "*.go"))
	more, _ := filepath.Glob(filepath.Join(root, "*", "*.go"))
	deeper, _ := filepath.Glob(filepath.Join(root, "cmd", "*", "*.go"))
	for _, g := range append(append(files, more...), deeper...) {
		b, err := os.ReadFile(g)
		if err != nil || len(b) > 1<<20 {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//go:embed") {
				embedded.WriteString(line + "\n")
			}
		}
	}
	var dirs []string
	for _, d := range goRuntimeDirFolders {
		if isDir(filepath.Join(root, d)) && !strings.Contains(embedded.String(), d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// goMainPackage finds the package to build: the root when it has a main.go,
// else the cmd/<name> named after the module, else the only or first cmd/<name>.
func goMainPackage(root, module string) string {
	if isFile(filepath.Join(root, "main.go")) {
		return "."
	}
	entries, _ := os.ReadDir(filepath.Join(root, "cmd"))
	var cmds []string
	for _, e := range entries {
		if e.IsDir() && isFile(filepath.Join(root, "cmd", e.Name(), "main.go")) {
			cmds = append(cmds, e.Name())
		}
	}
	if len(cmds) == 0 {
		if hasMainPackage(root) {
			return "."
		}
		if mains := goMainsBelow(root); len(mains) == 1 {
			return "./" + mains[0] // the module's one program, in a folder of its own
		}
		return "" // a library, an old App Engine app, or several programs
	}
	base := module[strings.LastIndex(module, "/")+1:]
	for _, c := range cmds {
		if c == base {
			return "./cmd/" + c
		}
	}
	return "./cmd/" + cmds[0]
}

// goMainsBelow lists the folders one or two levels below root (not cmd/,
// vendor/, testdata/ or hidden ones) that hold a package main.
func goMainsBelow(root string) []string {
	var mains []string
	for _, pattern := range []string{"*", filepath.Join("*", "*")} {
		dirs, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, d := range dirs {
			rel, _ := filepath.Rel(root, d)
			top := strings.Split(filepath.ToSlash(rel), "/")[0]
			if top == "cmd" || top == "vendor" || top == "testdata" || strings.HasPrefix(top, ".") || strings.HasPrefix(top, "_") {
				continue
			}
			if isDir(d) && !isFile(filepath.Join(d, "go.mod")) && hasMainPackage(d) {
				mains = append(mains, filepath.ToSlash(rel))
			}
		}
	}
	return mains
}

// hasMainPackage: a Go file at root says package main.
func hasMainPackage(root string) bool {
	files, _ := filepath.Glob(filepath.Join(root, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && goPackageMainRE.Match(b) {
			return true
		}
	}
	return false
}

var (
	goPackageMainRE = regexp.MustCompile(`(?m)^package main\b`)
	// A flag whose default is the listen address: flag.String("http", "localhost:8080", ...).
	goAddrFlagRE = regexp.MustCompile(`flag\.String(?:Var)?\(\s*(?:&[\w.]+\s*,\s*)?"([\w-]+)"\s*,\s*"((?:localhost|127\.0\.0\.1|0\.0\.0\.0)?:(\d{2,5}))"`)
	// A listen address written in the code: r.Run(":80"), http.ListenAndServe("localhost:8080", ...).
	goListenRE = regexp.MustCompile(`\.(?:Run|ListenAndServe|ListenAndServeTLS|Listen|Start)\(\s*"((?:localhost|127\.0\.0\.1|0\.0\.0\.0)?):(\d{2,5})"`)
	// Paths the code opens at run time: templates it parses, files it serves.
	goPathRE = regexp.MustCompile(`(?:LoadHTMLGlob|LoadHTMLFiles|ParseGlob|ParseFiles|Static|StaticFS|StaticFile|http\.Dir|ReadFile|Open)\(\s*(?:"[^"]*"\s*,\s*)?"(?:\./)?([^"/*.][^"/*]*)`)
)

// goCodeFacts reads the main package's Go files for what they fix: a
// listen-address flag (given :PORT on the command line, since its default
// would listen on loopback or on a port nobody asked for), a listen
// address in the code (its port is the chart's; loopback is warned of), and
// the folders opened by relative path (they go beside the binary).
func goCodeFacts(root string, f *Facts) {
	dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(f.Entry, "./")))
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil || len(b) > 1<<20 {
			continue
		}
		name := filepath.Base(file)
		if m := goAddrFlagRE.FindSubmatch(b); m != nil && len(f.Args) == 0 {
			f.Port, _ = strconv.Atoi(string(m[3]))
			f.Args = []string{fmt.Sprintf("-%s=:%d", m[1], f.Port)}
			f.note("%s takes its listen address from the -%s flag (default %s): the image passes -%s=:%d, so that it listens on every interface", name, m[1], m[2], m[1], f.Port)
		} else if m := goListenRE.FindSubmatch(b); m != nil && f.Port == 0 {
			f.Port, _ = strconv.Atoi(string(m[2]))
			host := string(m[1])
			f.note("%s listens on %s:%d, set in the code: the chart uses port %d", name, host, f.Port, f.Port)
			if host == "localhost" || host == "127.0.0.1" {
				f.note("%s listens on %s only, which nothing outside the container can reach: listen on :%d instead", name, host, f.Port)
			}
		}
		for _, m := range goPathRE.FindAllSubmatch(b, -1) {
			d := strings.TrimPrefix(string(m[1]), "./")
			// a folder, or a file at the root (ParseFiles("index.tmpl")), read at run time
			if d != "" && !strings.Contains(d, "..") && (isDir(filepath.Join(root, d)) || isFile(filepath.Join(root, d))) && !strings.HasSuffix(d, ".go") && !slices.Contains(f.RuntimeDirs, d) {
				f.RuntimeDirs = append(f.RuntimeDirs, d)
			}
		}
	}
}

// --- Node.js ---

type packageJSON struct {
	Name    string            `json:"name"`
	Main    string            `json:"main"`
	Engines map[string]string `json:"engines"`
	Scripts map[string]string `json:"scripts"`
	Deps    map[string]string `json:"dependencies"`
	DevDeps map[string]string `json:"devDependencies"`
	PkgMgr  string            `json:"packageManager"`
}

var nodeFrameworks = []struct{ dep, name string }{
	{"next", "next"}, {"@nestjs/core", "nest"}, {"fastify", "fastify"}, {"koa", "koa"},
	{"express", "express"}, {"@hapi/hapi", "hapi"},
}

func nodeFacts(root string, f *Facts) {
	f.BuildTool = "npm"
	switch {
	case isFile(filepath.Join(root, "pnpm-lock.yaml")):
		f.BuildTool = "pnpm"
	case isFile(filepath.Join(root, "yarn.lock")):
		f.BuildTool = "yarn"
	}
	f.addDeps(root, "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", ".yarnrc.yml")
	var p packageJSON
	if b, ok := f.read(root, "package.json"); ok {
		if err := json.Unmarshal(b, &p); err != nil {
			f.note("package.json does not parse (%v)", err)
		}
	}
	f.Module = p.Name
	nodePnpm(root, f, p)
	nodeVersion(root, f, p)
	for _, fw := range nodeFrameworks {
		if _, ok := p.Deps[fw.dep]; ok {
			f.Framework = fw.name
			break
		}
	}
	if p.Scripts["build"] != "" {
		f.BuildScript = "build"
	}
	f.Prepare = p.Scripts["prepare"] != ""
	nodeNativeDeps(f, p)
	f.Static = staticOutput(p, f.Framework)
	if f.Static == "angular" {
		f.Static = angularOutput(root, f)
	}
	if f.Static != "" {
		f.StartFrom = "a front-end (a bundler, no server): the built " + f.Static + "/ is served as files"
		f.note("a front-end built into %s/ by npm run build (its start script, if any, is a dev server): the image serves the built files", f.Static)
		return
	}
	script := nodeStart(root, f, p) // the script whose command the image runs
	if f.Entry != "" {
		f.loopbackListen(root, f.Entry, nodeLoopbackRE, "0.0.0.0 or process.env.HOST (the image sets HOST=0.0.0.0)")
	}
	if f.BuildScript == "" {
		f.BuildScript = nodeCompileStep(p, script)
		if f.BuildScript != "" {
			f.note("npm run %s (%s) compiles the app: it runs in a build stage, with the devDependencies", f.BuildScript, p.Scripts[f.BuildScript])
		}
	}
	if f.Prepare {
		f.note("package.json's prepare script (%s) runs at npm ci; its tools are devDependencies, so the production install leaves it out", p.Scripts["prepare"])
	}
}

// nodePnpm finds the pnpm that writes pnpm-lock.yaml's format, for an app
// whose package.json names no packageManager.
func nodePnpm(root string, f *Facts, p packageJSON) {
	if f.BuildTool == "pnpm" && p.PkgMgr == "" {
		// without a packageManager field corepack runs its own default pnpm,
		// which may not read this lockfile: the one its format belongs to
		if m := pnpmLockRE.FindStringSubmatch(f.firstLine(root, "pnpm-lock.yaml")); m != nil {
			if f.Pnpm = pnpmOfLockfile[m[1]]; f.Pnpm != "" {
				f.note("package.json names no packageManager: the image uses pnpm %s, which writes pnpm-lock.yaml's format (lockfileVersion %s)", f.Pnpm, m[1])
			}
		}
	}
}

// nodeVersion finds the Node version: package.json's engines.node, else
// .nvmrc, else .node-version.
func nodeVersion(root string, f *Facts, p packageJSON) {
	if v := p.Engines["node"]; v != "" {
		f.Version, f.VersionFrom = v, "package.json engines.node"
	} else if v := f.firstLine(root, ".nvmrc"); v != "" {
		f.Version, f.VersionFrom = strings.TrimPrefix(v, "v"), ".nvmrc"
	} else if v := f.firstLine(root, ".node-version"); v != "" {
		f.Version, f.VersionFrom = strings.TrimPrefix(v, "v"), ".node-version"
	}
}

// nodeNativeDeps finds the dependencies that may compile at install, and
// the tools node-gyp needs for them.
func nodeNativeDeps(f *Facts, p packageJSON) {
	for _, n := range nodeNative {
		if _, ok := p.Deps[n]; ok {
			f.Native = append(f.Native, n)
		}
	}
	if len(f.Native) > 0 {
		f.NativePackages = []string{"python3", "make", "g++"}
		f.note("packages with native parts (%s) may compile at install: the image has python3, make and g++ for node-gyp", strings.Join(f.Native, ", "))
	}
}

var (
	// a listen on loopback written in the code: app.listen(3000, "127.0.0.1"),
	// server.listen({ port, host: "localhost" })
	nodeLoopbackRE = regexp.MustCompile(`\.listen\((?:[^()]*?,\s*|\s*\{[^}]*host:\s*)['"](localhost|127\.0\.0\.1)['"]`)
	// app.run(host="127.0.0.1"), HTTPServer(("localhost", 8000), ...), make_server("127.0.0.1", ...)
	pyLoopbackRE = regexp.MustCompile(`(?:\bhost\s*=\s*|(?:HTTPServer|make_server|TCPServer|serve)\(\s*\(?\s*)['"](localhost|127\.0\.0\.1)['"]`)
)

// bound records a constraint on the runtime version, with who sets it (the
// first one to, when several set the same).
func (f *Facts) bound(constraint, who string) {
	if f.VersionBounds == nil {
		f.VersionBounds = map[string]string{}
	}
	if _, ok := f.VersionBounds[constraint]; !ok {
		f.VersionBounds[constraint] = who
	}
}

// loopbackListen notes that the program in file listens on loopback only,
// as the code says, which no probe or port-forward outside it can reach.
func (f *Facts) loopbackListen(root, file string, re *regexp.Regexp, instead string) {
	b, ok := f.read(root, file)
	if !ok {
		return
	}
	if m := re.FindSubmatch(b); m != nil {
		f.note("%s listens on %s only (set in the code), which nothing outside the container can reach, so the pod never gets ready: listen on %s instead", file, m[1], instead)
	}
}

var pnpmLockRE = regexp.MustCompile(`^lockfileVersion: '?([0-9.]+)'?`)

// pnpmOfLockfile is the pnpm major version that writes each lockfile format.
var pnpmOfLockfile = map[string]string{"9.0": "9", "6.0": "8", "6.1": "8", "5.4": "7", "5.3": "6"}

// nodeStart chooses what starts the app, and says which package.json script
// that is ("" when none): node itself on the start script's file where it
// can (signals reach the app), else npm start, else the main file.
func nodeStart(root string, f *Facts, p packageJSON) string {
	start := strings.Fields(p.Scripts["start"])
	prod := strings.Fields(p.Scripts["start:prod"])
	script := ""
	switch {
	case len(prod) == 2 && prod[0] == "node": // NestJS and others: "start" runs a dev CLI
		f.Entry, script = prod[1], "start:prod"
		f.StartFrom = "package.json scripts.start:prod (scripts.start runs a development CLI)"
	case len(start) == 2 && start[0] == "node":
		f.Entry, script = start[1], "start"
		f.StartFrom = "package.json scripts.start, run by node itself (signals reach the app)"
	case len(start) == 2 && slices.Contains(nodeReloaders, start[0]) && strings.HasSuffix(start[1], ".js"):
		// a restart-on-change wrapper, a devDependency that the image lacks
		f.Entry, script = start[1], "start"
		f.StartFrom = "package.json scripts.start, without its " + start[0]
		f.note("the start script runs %s, a development tool that restarts on changes: the image runs node %s", start[0], start[1])
	case p.Scripts["start"] != "":
		f.Entry, script = "", "start" // npm start
		f.StartFrom = "package.json scripts.start (" + p.Scripts["start"] + "), run by npm start"
	case p.Main != "" && isFile(filepath.Join(root, p.Main)):
		f.Entry = p.Main
		f.StartFrom = "package.json main"
	default:
		f.Entry = firstExisting(root, "server.js", "index.js", "app.js", "main.js", "src/index.js", "src/server.js")
		f.StartFrom = "the first of server.js, index.js, app.js, main.js, src/index.js, src/server.js found"
		if f.Entry == "" && f.BuildScript == "" {
			f.note("package.json has no start script and no main file was found; the image runs npm start")
		}
	}
	return script
}

// nodeReloaders are start-script wrappers that rerun node on every change.
var nodeReloaders = []string{"nodemon", "node-dev", "supervisor"}

// nodeCompileStep is the script that compiles an app without a build script:
// the pre-script of the one whose command the image runs (npm runs
// prestart:prod before start:prod, but the image runs node itself), or a
// prepare that compiles (tsc, a build).
func nodeCompileStep(p packageJSON, script string) string {
	if script != "" && p.Scripts["pre"+script] != "" {
		return "pre" + script
	}
	if prep := p.Scripts["prepare"]; strings.Contains(prep, "tsc") || strings.Contains(prep, "build") {
		return "prepare"
	}
	return ""
}

// staticBundlers are the front-end build tools whose output is static
// files, with the folder they write by default ("angular": the one angular.json names).
var staticBundlers = []struct{ dep, out string }{
	{"@angular/cli", "angular"}, {"vite", "dist"}, {"react-scripts", "build"}, {"@vue/cli-service", "dist"}, {"parcel", "dist"}, {"webpack-cli", "dist"},
}

var outDirRE = regexp.MustCompile(`--out-?[dD]ir[ =](\S+)`)

// angularOutput is the folder ng build writes, from angular.json: the
// project's outputPath (default dist/NAME), under which the application
// builder (Angular 17 on) puts the browser files in browser/.
func angularOutput(root string, f *Facts) string {
	var a struct {
		DefaultProject string `json:"defaultProject"`
		Projects       map[string]struct {
			ProjectType string `json:"projectType"`
			Architect   struct {
				Build struct {
					Builder string `json:"builder"`
					Options struct {
						OutputPath json.RawMessage `json:"outputPath"`
					} `json:"options"`
				} `json:"build"`
			} `json:"architect"`
		} `json:"projects"`
	}
	b, ok := f.read(root, "angular.json")
	if !ok || json.Unmarshal(b, &a) != nil || len(a.Projects) == 0 {
		return "dist"
	}
	name := a.DefaultProject
	if _, ok := a.Projects[name]; !ok {
		for _, n := range slices.Sorted(maps.Keys(a.Projects)) {
			if a.Projects[n].ProjectType == "application" {
				name = n
				break
			}
		}
	}
	build := a.Projects[name].Architect.Build
	out, browser := "dist/"+name, "browser"
	var path string
	var obj struct{ Base, Browser *string }
	switch {
	case json.Unmarshal(build.Options.OutputPath, &path) == nil && path != "":
		out = strings.Trim(path, "./")
	case json.Unmarshal(build.Options.OutputPath, &obj) == nil && obj.Base != nil:
		out = strings.Trim(*obj.Base, "./")
		if obj.Browser != nil {
			browser = *obj.Browser
		}
	}
	if !strings.HasSuffix(build.Builder, ":application") || browser == "" {
		return out // the older browser builder writes the files there
	}
	return out + "/" + browser
}

// staticOutput is the folder a front-end's build writes, when the app is
// only that: a bundler, a build script, no server framework, and no start
// script but a dev server.
func staticOutput(p packageJSON, framework string) string {
	if framework != "" || p.Scripts["build"] == "" {
		return ""
	}
	start := p.Scripts["start"]
	devServer := start == "" || strings.Contains(start, "vite") || strings.Contains(start, "ng serve") || strings.Contains(start, "react-scripts start") ||
		strings.Contains(start, "vue-cli-service serve") || strings.Contains(start, "parcel") || strings.Contains(start, "webpack serve") || strings.Contains(start, "webpack-dev-server")
	if !devServer {
		return ""
	}
	for _, b := range staticBundlers {
		_, dep := p.Deps[b.dep]
		_, dev := p.DevDeps[b.dep]
		if dep || dev {
			if m := outDirRE.FindStringSubmatch(p.Scripts["build"]); m != nil {
				return strings.Trim(m[1], "./")
			}
			return b.out
		}
	}
	return ""
}

// --- Python ---

var pyFrameworks = []string{"django", "fastapi", "flask"}

func pythonFacts(root string, f *Facts) {
	deps, pp, pf := pythonManifests(root, f)
	pythonVersion(root, f, pp, pf)
	for _, fw := range pyFrameworks {
		if deps[fw] {
			f.Framework = fw
			break
		}
	}
	f.nativeOf(pyNative, deps)
	if len(f.Native) > 0 {
		f.note("packages built from source (%s) need a compiler and headers: the image installs them before the dependencies", strings.Join(f.Native, ", "))
	}
	for _, s := range []string{"gunicorn", "uvicorn"} {
		if deps[s] || deps[s+"[standard]"] {
			f.Server = s
			break
		}
	}
	pythonStart(root, f, deps)
}

// pyProject is what pyproject.toml says of the app.
type pyProject struct {
	Project struct {
		Name           string   `toml:"name"`
		RequiresPython string   `toml:"requires-python"`
		Dependencies   []string `toml:"dependencies"`
	} `toml:"project"`
	Tool struct {
		Poetry struct {
			Dependencies map[string]any `toml:"dependencies"`
		} `toml:"poetry"`
	} `toml:"tool"`
}

// pipfile is what a Pipfile says of the app.
type pipfile struct {
	Packages map[string]any `toml:"packages"`
	Requires struct {
		PythonVersion string `toml:"python_version"`
	} `toml:"requires"`
}

// pythonManifests reads the build tool and the dependencies' names from
// requirements.txt, a Pipfile or pyproject.toml.
func pythonManifests(root string, f *Facts) (map[string]bool, pyProject, pipfile) {
	deps := map[string]bool{}
	switch {
	case f.manifest(root, "requirements.txt"):
		f.BuildTool = "pip"
		f.addDeps(root, "requirements.txt")
		for _, d := range f.requirementNames(root, "requirements.txt") {
			deps[d] = true
		}
	case isFile(filepath.Join(root, "Pipfile")):
		f.BuildTool = "pipenv"
		f.addDeps(root, "Pipfile", "Pipfile.lock")
	case isFile(filepath.Join(root, "pyproject.toml")):
		f.BuildTool = "pip"
		f.addDeps(root, "pyproject.toml")
		if isFile(filepath.Join(root, "poetry.lock")) {
			f.BuildTool = "poetry"
			f.addDeps(root, "poetry.lock")
		}
	}
	var pp pyProject
	if b, ok := f.read(root, "pyproject.toml"); ok {
		if err := toml.Unmarshal(b, &pp); err != nil {
			f.note("pyproject.toml does not parse (%v)", err)
		}
		for _, d := range pp.Project.Dependencies {
			deps[reqName(d)] = true
		}
		for d := range pp.Tool.Poetry.Dependencies {
			deps[strings.ToLower(d)] = true
		}
		f.Module = pp.Project.Name
	}
	var pf pipfile
	if b, ok := f.read(root, "Pipfile"); ok {
		_ = toml.Unmarshal(b, &pf)
		for d := range pf.Packages {
			deps[strings.ToLower(d)] = true
		}
	}
	return deps, pp, pf
}

// pythonVersion is the first of .python-version, requires-python, the
// Pipfile's python_version, runtime.txt and Poetry's python.
func pythonVersion(root string, f *Facts, pp pyProject, pf pipfile) {
	switch {
	case f.firstLine(root, ".python-version") != "":
		f.Version, f.VersionFrom = f.firstLine(root, ".python-version"), ".python-version"
	case pp.Project.RequiresPython != "":
		f.Version, f.VersionFrom = pp.Project.RequiresPython, "pyproject.toml requires-python"
	case pf.Requires.PythonVersion != "":
		f.Version, f.VersionFrom = pf.Requires.PythonVersion, "Pipfile python_version"
	case strings.HasPrefix(f.firstLine(root, "runtime.txt"), "python-"):
		f.Version, f.VersionFrom = strings.TrimPrefix(f.firstLine(root, "runtime.txt"), "python-"), "runtime.txt"
	}
	if pv := pp.Tool.Poetry.Dependencies["python"]; f.Version == "" && pv != nil {
		if s, ok := pv.(string); ok {
			f.Version, f.VersionFrom = s, "pyproject.toml tool.poetry python"
		}
	}
}

// pythonStart finds what starts the app: the Procfile's web process, the
// Django project, the Flask or FastAPI app object, or a file at the root.
func pythonStart(root string, f *Facts, deps map[string]bool) {
	switch f.Framework {
	case "django":
		f.Entry = djangoProject(root)
		f.StartFrom = "the Django project's wsgi.py, served by " + cmp.Or(f.Server, "runserver")
		if f.Entry == "" {
			f.note("no <project>/wsgi.py found beside manage.py; edit the Dockerfile's CMD")
		} else if b, err := os.ReadFile(filepath.Join(root, f.Entry, "settings.py")); err == nil &&
			bytes.Contains(b, []byte("STATIC_ROOT")) && (deps["whitenoise"] || bytes.Contains(b, []byte("whitenoise"))) {
			// whitenoise serves STATIC_ROOT, and its manifest storage answers 500
			// for any page that names a static file not collected there.
			f.CollectStatic = true
			f.note("the app serves its static files with whitenoise: the container runs collectstatic before the server")
		}
	}
	// The Procfile's web process, when it starts a server the image has.
	if web := procfileWeb(root); web != "" {
		for _, srv := range []string{"gunicorn", "uvicorn", "waitress-serve", "daphne", "hypercorn"} {
			if f.Server == srv && (strings.HasPrefix(web, srv+" ") || strings.Contains(web, "; "+srv+" ") || strings.Contains(web, "&& "+srv+" ")) {
				f.Start, f.StartFrom = web, "Procfile web"
				f.note("the app starts with the Procfile's web process: %s", web)
				break
			}
		}
	}
	switch f.Framework {
	case "django": // its project, above
	case "flask", "fastapi":
		f.Entry, f.Object = pythonApp(root, f.Framework)
		if f.Start == "" {
			f.StartFrom = fmt.Sprintf("the %s app made in the code (%s:%s)", f.Framework, f.Entry, f.Object)
		}
		if f.Entry == "" {
			f.Entry, f.Object = "app", "app"
			f.note("found no %s app (an assignment of %s() or a create_app factory) in the Python files; the Dockerfile assumes app:app", f.Framework, map[string]string{"flask": "Flask", "fastapi": "FastAPI"}[f.Framework])
		}
		if f.Framework == "fastapi" && f.Server == "" {
			f.note("fastapi apps need uvicorn; add it to your dependencies")
		}
	default:
		f.Entry = firstExisting(root, "app.py", "main.py", "server.py", "run.py", "manage.py", "__main__.py")
		if f.Start == "" {
			f.StartFrom = "the first of app.py, main.py, server.py, run.py, manage.py, __main__.py found"
		}
		if f.Entry == "" {
			f.Entry = "app.py"
			f.note("no app.py, main.py or server.py at the root; edit the Dockerfile's CMD to start your app")
		} else {
			f.loopbackListen(root, f.Entry, pyLoopbackRE, "0.0.0.0")
		}
	}
}

var (
	pyAppRE     = regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]*)?=\s*(?:flask\.|fastapi\.)?(Flask|FastAPI)\(`)
	pyFactoryRE = regexp.MustCompile(`(?m)^def (create_app|make_app)\(`)
)

// pythonApp finds the module that makes the framework's app, and the app
// object in it: the root's app.py, main.py ... first, then the files of the
// packages below (app/main.py, flaskr/__init__.py), shallowest first. A
// module-level app wins over a factory (Flask's create_app).
func pythonApp(root, framework string) (module, object string) {
	ctor := map[string]string{"flask": "Flask", "fastapi": "FastAPI"}[framework]
	var files []string
	for _, n := range []string{"app.py", "main.py", "wsgi.py", "server.py", "application.py", "api.py"} {
		if isFile(filepath.Join(root, n)) {
			files = append(files, n)
		}
	}
	skip := map[string]bool{"tests": true, "test": true, "venv": true, "env": true, "migrations": true, "node_modules": true, "docs": true, "alembic": true, "scripts": true}
	for depth := 1; depth <= 3; depth++ {
		pattern := filepath.Join(append([]string{root}, append(slices.Repeat([]string{"*"}, depth), "*.py")...)...)
		matches, _ := filepath.Glob(pattern)
		slices.Sort(matches)
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			parts := strings.Split(filepath.ToSlash(rel), "/")
			bad := false
			for _, d := range parts[:len(parts)-1] {
				bad = bad || skip[d] || strings.HasPrefix(d, ".") || !isFile(filepath.Join(root, filepath.Join(parts[:slices.Index(parts, d)+1]...), "__init__.py"))
			}
			if !bad {
				files = append(files, filepath.ToSlash(rel))
			}
		}
	}
	var factory string
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil || len(b) > 512<<10 {
			continue
		}
		mod := strings.ReplaceAll(strings.TrimSuffix(strings.TrimSuffix(rel, ".py"), "/__init__"), "/", ".")
		for _, m := range pyAppRE.FindAllSubmatch(b, -1) {
			if string(m[2]) == ctor {
				return mod, string(m[1])
			}
		}
		if factory == "" && framework == "flask" {
			if m := pyFactoryRE.FindSubmatch(b); m != nil {
				factory, object = mod, string(m[1])+"()"
			}
		}
	}
	return factory, object
}

var reqNameRE = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?`)

func reqName(line string) string {
	m := reqNameRE.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
}

func (f *Facts) requirementNames(root, name string) []string {
	file, err := os.Open(filepath.Join(root, name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.unreadable(name, err)
		}
		return nil
	}
	defer file.Close()
	var out []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// -r other.txt, -c constraints.txt: pip reads them too, relative to this file.
		for _, opt := range []string{"-r", "--requirement", "-c", "--constraint"} {
			if rest, ok := strings.CutPrefix(line, opt); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "=")) {
				inc := path.Join(path.Dir(name), strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "=")))
				if inc != "" && !strings.HasPrefix(inc, "../") && !slices.Contains(f.Includes, inc) && isFile(filepath.Join(root, filepath.FromSlash(inc))) {
					f.Includes = append(f.Includes, inc)
					if opt == "-r" || opt == "--requirement" {
						out = append(out, f.requirementNames(root, inc)...)
					}
				}
			}
		}
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") {
			continue
		}
		if n := reqName(line); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// djangoProject finds the directory beside manage.py that holds wsgi.py.
func djangoProject(root string) string {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() && isFile(filepath.Join(root, e.Name(), "wsgi.py")) {
			return e.Name()
		}
	}
	return ""
}

// --- Java ---

type pom struct {
	ArtifactID string `xml:"artifactId"`
	Packaging  string `xml:"packaging"`
	Parent     struct {
		ArtifactID string `xml:"artifactId"`
	} `xml:"parent"`
	Properties struct {
		Entries []xmlEntry `xml:",any"`
	} `xml:"properties"`
	Deps []struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
	} `xml:"dependencies>dependency"`
	Plugins []struct {
		ArtifactID string `xml:"artifactId"`
		Config     struct {
			Release   string `xml:"release"`
			Source    string `xml:"source"`
			MainClass string `xml:"mainClass"`
			Archive   struct {
				Manifest struct {
					MainClass string `xml:"mainClass"`
				} `xml:"manifest"`
			} `xml:"archive"`
		} `xml:"configuration"`
	} `xml:"build>plugins>plugin"`
}

type xmlEntry struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

var (
	gradleToolchainRE = regexp.MustCompile(`(?:JavaLanguageVersion\.of|jvmToolchain)\s*\(\s*(\d+)\s*\)`)
	gradleCompatRE    = regexp.MustCompile(`sourceCompatibility\s*=\s*(?:JavaVersion\.VERSION_(?:1_)?(\d+)|['"]?(?:1\.)?(\d+)['"]?)`)
	gradleMainRE      = regexp.MustCompile(`mainClass(?:Name)?\s*(?:=|\.set\s*\()\s*['"]([\w.$]+)['"]`)
	javaMainRE        = regexp.MustCompile(`(?m)^\s*package\s+([\w.]+)\s*;|static\s+void\s+main\s*\(`)
)

func javaFacts(root string, f *Facts) {
	if b, ok := f.read(root, "pom.xml"); ok {
		mavenFacts(root, b, f)
	} else {
		gradleFacts(root, f)
	}
	if f.Framework != "spring-boot" && f.Entry == "" {
		f.Entry = javaMainClass(filepath.Join(root, "src", "main", "java"))
		if f.Entry == "" {
			f.note("no class with a main method under src/main/java; set the main class in the Dockerfile")
		}
	}
}

// mavenFacts reads pom.xml (b): the project's name, Java version, framework
// and main class.
func mavenFacts(root string, b []byte, f *Facts) {
	f.BuildTool = "maven"
	f.addDeps(root, "pom.xml", ".mvn")
	var p pom
	if err := xml.Unmarshal(b, &p); err != nil {
		f.note("pom.xml does not parse (%v)", err)
	}
	f.Module = p.ArtifactID
	pomVersion(&p, f)
	pomFramework(&p, f)
	pomPlugins(&p, f)
}

// pomVersion finds the Java version in the pom's properties.
func pomVersion(p *pom, f *Facts) {
	props := map[string]string{}
	for _, e := range p.Properties.Entries {
		props[e.XMLName.Local] = strings.TrimSpace(e.Value)
	}
	for _, k := range []string{"maven.compiler.release", "java.version", "maven.compiler.source", "maven.compiler.target"} {
		if v := props[k]; v != "" && !strings.Contains(v, "${") {
			f.Version, f.VersionFrom = v, "pom.xml "+k
			break
		}
	}
}

// pomFramework finds the framework in the pom's parent and dependencies.
func pomFramework(p *pom, f *Facts) {
	if strings.HasPrefix(p.Parent.ArtifactID, "spring-boot") {
		f.Framework = "spring-boot"
	}
	for _, d := range p.Deps {
		if strings.HasPrefix(d.ArtifactID, "spring-boot-starter") {
			f.Framework = "spring-boot"
		}
		if d.GroupID == "com.sparkjava" && f.Framework == "" {
			f.Framework = "spark"
		}
	}
}

// pomPlugins finds what the pom's build plugins say: the compiler's release,
// Spring Boot's plugin, a main class.
func pomPlugins(p *pom, f *Facts) {
	for _, pl := range p.Plugins {
		c := pl.Config
		if f.Version == "" && c.Release != "" && !strings.Contains(c.Release, "${") {
			f.Version, f.VersionFrom = c.Release, "pom.xml maven-compiler-plugin release"
		}
		if pl.ArtifactID == "spring-boot-maven-plugin" {
			f.Framework = "spring-boot"
		}
		for _, m := range []string{c.MainClass, c.Archive.Manifest.MainClass} {
			if m != "" && f.Entry == "" && !strings.Contains(m, "${") {
				f.Entry = m
			}
		}
	}
}

// gradleFacts reads build.gradle(.kts): the wrapper, Java version,
// framework and main class, and the project's name.
func gradleFacts(root string, f *Facts) {
	name := firstExisting(root, "build.gradle.kts", "build.gradle")
	b, _ := f.read(root, name)
	f.BuildTool = "gradle"
	f.addDeps(root, "settings.gradle", "settings.gradle.kts", name, "gradle.properties", "gradle")
	if isFile(filepath.Join(root, "gradlew")) && isFile(filepath.Join(root, "gradle", "wrapper", "gradle-wrapper.properties")) {
		f.Wrapper = true
		f.addDeps(root, "gradlew")
		f.note("the build runs the project's Gradle wrapper (gradlew), which downloads the Gradle it pins")
	}
	s := string(b)
	if m := gradleToolchainRE.FindStringSubmatch(s); m != nil {
		f.Version, f.VersionFrom = m[1], name+" toolchain"
	} else if m := gradleCompatRE.FindStringSubmatch(s); m != nil {
		f.Version, f.VersionFrom = m[1]+m[2], name+" sourceCompatibility"
	}
	if strings.Contains(s, "org.springframework.boot") {
		f.Framework = "spring-boot"
	} else if strings.Contains(s, "com.sparkjava") {
		f.Framework = "spark"
	}
	if m := gradleMainRE.FindStringSubmatch(s); m != nil {
		f.Entry = m[1]
	}
	f.Module = gradleProject(root, f)
}

// gradleProject is the project's name: settings.gradle(.kts)'s
// rootProject.name, else the root folder's.
func gradleProject(root string, f *Facts) string {
	module := filepath.Base(root)
	if st, ok := f.read(root, firstExisting(root, "settings.gradle.kts", "settings.gradle")); ok {
		if m := regexp.MustCompile(`rootProject\.name\s*=\s*['"]([^'"]+)['"]`).FindSubmatch(st); m != nil {
			module = string(m[1])
		}
	}
	return module
}

// javaMainClass finds the first class (in path order) that declares main.
func javaMainClass(dir string) string {
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".java") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		pkg, hasMain := "", false
		for _, m := range javaMainRE.FindAllSubmatch(b, -1) {
			if len(m[1]) > 0 {
				pkg = string(m[1])
			} else {
				hasMain = true
			}
		}
		if hasMain {
			cls := strings.TrimSuffix(filepath.Base(p), ".java")
			if pkg != "" {
				cls = pkg + "." + cls
			}
			found = append(found, cls)
		}
		return nil
	})
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// --- Ruby ---

var (
	gemfileRubyRE = regexp.MustCompile(`(?m)^\s*ruby\s+['"]([^'"]+)['"]`)
	gemRE         = regexp.MustCompile(`(?m)^\s*gem\s+['"]([\w-]+)['"]`)
)

func rubyFacts(root string, f *Facts) {
	f.BuildTool = "bundler"
	f.addDeps(root, "Gemfile", "Gemfile.lock")
	gems := map[string]bool{}
	gemfile, _ := f.read(root, "Gemfile")
	for _, m := range gemRE.FindAllSubmatch(gemfile, -1) {
		gems[string(m[1])] = true
	}
	if v := f.firstLine(root, ".ruby-version"); v != "" {
		f.Version, f.VersionFrom = strings.TrimPrefix(v, "ruby-"), ".ruby-version"
	} else if m := gemfileRubyRE.FindSubmatch(gemfile); m != nil {
		f.Version, f.VersionFrom = string(m[1]), "Gemfile ruby"
	}
	if lock, ok := f.read(root, "Gemfile.lock"); ok {
		gemfileLock(lock, gems, f)
	}
	f.nativeOf(nativeGems, gems)
	if len(f.Native) > 0 {
		f.note("gems with native parts (%s) are compiled in a build stage; the runtime image has none of the compilers", strings.Join(f.Native, ", "))
	}
	if gems["puma"] {
		f.Server = "puma"
	}
	rubyFramework(root, gems, f)
	// The Procfile's web process, when it runs with the gems alone.
	if web := procfileWeb(root); strings.HasPrefix(web, "bundle exec ") && f.BuildTool == "bundler" {
		f.Start, f.StartFrom = web, "Procfile web"
		f.note("the app starts with the Procfile's web process: %s", web)
	}
	rubyEntry(root, f)
	sinatraPort(root, f)
}

// gemfileLock reads Gemfile.lock: the Ruby version it records, the Rubies
// its Rails runs on, and the gems it locks (added to gems).
func gemfileLock(lock []byte, gems map[string]bool, f *Facts) {
	// Gemfile.lock's RUBY VERSION section: "   ruby 3.4.9p0".
	if m := lockRubyRE.FindSubmatch(lock); m != nil && f.Version == "" {
		f.Version, f.VersionFrom = string(m[1]), "Gemfile.lock RUBY VERSION"
	}
	if m := lockRailsRE.FindSubmatch(lock); m != nil {
		major, _ := strconv.Atoi(string(m[2]))
		minor, _ := strconv.Atoi(string(m[3]))
		// Rails before 6.1 does not run on Ruby 3, nor 4.x on 2.7
		switch {
		case major < 5:
			f.bound("< 2.7", "rails "+string(m[1])+" (Gemfile.lock)")
		case major < 6 || (major == 6 && minor == 0):
			f.bound("< 3.0", "rails "+string(m[1])+" (Gemfile.lock)")
		}
	}
	for _, m := range lockGemRE.FindAllSubmatch(lock, -1) {
		gems[string(m[1])] = true
	}
}

// rubyFramework finds the framework among the gems (rails, sinatra), else
// rack for a config.ru, which is then the entry.
func rubyFramework(root string, gems map[string]bool, f *Facts) {
	switch {
	case gems["rails"] || gems["railties"]:
		f.Framework = "rails"
	case gems["sinatra"]:
		f.Framework = "sinatra"
	case isFile(filepath.Join(root, "config.ru")):
		f.Framework = "rack"
	}
	if isFile(filepath.Join(root, "config.ru")) {
		f.Entry = "config.ru"
	}
}

// rubyEntry finds the Ruby file that starts an app other than Rails.
func rubyEntry(root string, f *Facts) {
	if f.Framework != "rails" && f.Entry == "" {
		f.Entry = firstExisting(root, "app.rb", "main.rb", "server.rb", "config.ru")
		if f.Entry == "" {
			f.Entry = "app.rb"
			f.note("no app.rb, main.rb or config.ru at the root; edit the Dockerfile's CMD to start your app")
		}
	}
}

// sinatraPort finds the port a Sinatra app's entry sets for itself.
func sinatraPort(root string, f *Facts) {
	if f.Framework == "sinatra" && f.Entry != "" {
		if b, ok := f.read(root, f.Entry); ok {
			if m := sinatraPortRE.FindSubmatch(b); m != nil {
				f.Port, _ = strconv.Atoi(string(m[1]))
				f.note("%s sets the port itself (set :port, %d): the chart uses it", f.Entry, f.Port)
			}
		}
	}
}

// --- PHP ---

func phpFacts(root string, f *Facts) {
	var c struct {
		Name    string            `json:"name"`
		Require map[string]string `json:"require"`
	}
	if b, ok := f.read(root, "composer.json"); ok {
		f.BuildTool = "composer"
		f.addDeps(root, "composer.json", "composer.lock")
		if err := json.Unmarshal(b, &c); err != nil {
			f.note("composer.json does not parse (%v)", err)
		}
	}
	f.Module = c.Name
	if v := c.Require["php"]; v != "" {
		f.Version, f.VersionFrom = v, "composer.json require.php"
	}
	// What the locked packages require of PHP binds the image's version too.
	if b, ok := f.read(root, "composer.lock"); ok {
		var lock struct {
			Packages []struct {
				Name    string            `json:"name"`
				Version string            `json:"version"`
				Require map[string]string `json:"require"`
			} `json:"packages"`
		}
		if json.Unmarshal(b, &lock) == nil {
			for _, p := range lock.Packages {
				if v := p.Require["php"]; v != "" && v != f.Version {
					f.bound(v, p.Name+" "+p.Version+" (composer.lock)")
				}
			}
		}
	}
	switch {
	case c.Require["laravel/framework"] != "":
		f.Framework = "laravel"
		f.note("Laravel answers 500 without APP_KEY: make one (php artisan key:generate --show), keep it in a Secret (kubectl create secret generic NAME --from-literal=APP_KEY=...) and name that Secret under envFrom in the chart's values.yaml")
	case c.Require["symfony/framework-bundle"] != "":
		f.Framework = "symfony"
	case c.Require["slim/slim"] != "":
		f.Framework = "slim"
	}
	f.Entry = "."
	if isFile(filepath.Join(root, "public", "index.php")) {
		f.Entry = "public"
	}
	phpAssets(root, f)
	// Heroku's PHP buildpack scripts take the document root.
	if web := procfileWeb(root); web != "" {
		fields := strings.Fields(web)
		if len(fields) >= 2 && (fields[0] == "heroku-php-apache2" || fields[0] == "heroku-php-nginx") && !strings.HasPrefix(fields[len(fields)-1], "-") {
			dir := strings.Trim(fields[len(fields)-1], "/")
			if dir != "" && isDir(filepath.Join(root, dir)) {
				f.Entry, f.StartFrom = dir, "Procfile web (its document root)"
				f.note("the document root is %s/, as the Procfile's web process says", dir)
			}
		}
	}
}

// phpAssets: a package.json beside composer.json whose build is Vite (with
// Laravel's plugin or not) or Symfony's Encore writes public/build, which the
// pages name (@vite, encore_entry_link_tags): without it they answer 500.
func phpAssets(root string, f *Facts) {
	b, ok := f.read(root, "package.json")
	if !ok {
		return
	}
	var p packageJSON
	if json.Unmarshal(b, &p) != nil || p.Scripts["build"] == "" {
		return
	}
	has := func(dep string) bool { _, a := p.Deps[dep]; _, b := p.DevDeps[dep]; return a || b }
	if !has("vite") && !has("@symfony/webpack-encore") {
		return
	}
	f.Assets = "public/build"
	f.AssetDeps = []string{"package.json"}
	for _, lock := range []string{"package-lock.json", "npm-shrinkwrap.json"} {
		if isFile(filepath.Join(root, lock)) {
			f.AssetDeps = append(f.AssetDeps, lock)
		}
	}
	f.note("the front-end assets (npm run build: %s) are built with Node in a stage of their own into public/build, which the pages name", p.Scripts["build"])
}

var (
	lockRubyRE = regexp.MustCompile(`(?m)^RUBY VERSION\s*\n\s+ruby (\d+\.\d+(?:\.\d+)?)`)
	lockGemRE  = regexp.MustCompile(`(?m)^    ([a-z0-9_-]+) \(`)
	// "    rails (4.2.11)" among the specs
	lockRailsRE = regexp.MustCompile(`(?m)^    rails \(((\d+)\.(\d+)[^)]*)\)`)
)

// nativeGems are gems that compile C extensions when installed, with the
// Debian packages their build needs besides a compiler (the runtime needs
// the matching libraries: runtimePackage).
// nativePackage is a package with native parts, and the Debian packages its
// build needs.
type nativePackage struct {
	name string
	pkgs []string
}

// nativeOf records the packages of table that the app depends on (deps),
// with the Debian packages their builds need.
func (f *Facts) nativeOf(table []nativePackage, deps map[string]bool) {
	for _, n := range table {
		if deps[n.name] {
			f.Native = append(f.Native, n.name)
			for _, pkg := range n.pkgs {
				if !slices.Contains(f.NativePackages, pkg) {
					f.NativePackages = append(f.NativePackages, pkg)
				}
			}
		}
	}
}

var nativeGems = []nativePackage{
	{"puma", nil}, {"nio4r", nil}, {"bootsnap", nil}, {"msgpack", nil}, {"bcrypt", nil}, {"json", nil},
	{"ffi", []string{"libffi-dev"}}, {"psych", []string{"libyaml-dev"}}, {"pg", []string{"libpq-dev"}},
	{"mysql2", []string{"default-libmysqlclient-dev"}}, {"sqlite3", []string{"libsqlite3-dev"}},
	{"websocket-driver", nil}, {"racc", nil}, {"date", nil}, {"io-console", nil},
}

// pyNative are Python packages with no wheel for Linux (they compile at
// install), with the Debian packages their build needs besides a compiler.
var pyNative = []nativePackage{
	{"psycopg2", []string{"libpq-dev"}}, {"mysqlclient", []string{"default-libmysqlclient-dev", "pkg-config"}},
	{"pyodbc", []string{"unixodbc-dev"}}, {"python-ldap", []string{"libldap2-dev", "libsasl2-dev"}},
	{"uwsgi", nil}, {"pycairo", []string{"libcairo2-dev", "pkg-config"}},
}

// nodeNative are npm packages whose install compiles (node-gyp) when no
// prebuilt binary can be fetched: python3, make and g++.
var nodeNative = []string{"bcrypt", "sqlite3", "better-sqlite3", "node-sass", "argon2", "canvas", "sharp", "libxmljs", "node-pty"}

var sinatraPortRE = regexp.MustCompile(`(?m)^\s*set\s*\(?\s*:port\s*,\s*(\d{2,5})\b`)

// committedEnv reports whether root/.env is there and root/.gitignore, read
// as the walk reads it, does not ignore it.
func committedEnv(root string) bool {
	if _, err := os.Lstat(filepath.Join(root, ".env")); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(root, ".gitignore")); err != nil {
		return false // no .gitignore: nothing says it is committed
	}
	patterns := (&walker{root: root}).addIgnoreFile("", nil, nil)
	return !gitignore.NewMatcher(patterns).Match([]string{".env"}, false)
}

// procfileWeb is the command of the Procfile's web process ("" when there
// is none).
func procfileWeb(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "Procfile"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, cmd, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "web" {
			return strings.TrimSpace(cmd)
		}
	}
	return ""
}

// firstLine is the first line of a version file that is neither blank nor
// a comment (pyenv and others write "# comment" lines above the version).
func (f *Facts) firstLine(root, name string) string {
	b, ok := f.read(root, name)
	if !ok {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// FactsFor reads the manifests of stack s under root, for when the stack is
// chosen by the user rather than detected.
func FactsFor(root string, s Stack) Facts {
	var ms []string
	for _, m := range manifests[s] {
		if isFile(filepath.Join(root, m)) {
			ms = append(ms, m)
		}
	}
	return readFacts(root, s, ms)
}
