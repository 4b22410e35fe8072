package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/detect"
	"github.com/draftk8s/draft/pkg/pack"
)

// Create detects an app's language and writes its pack's files.
type Create struct {
	Dir     string // the app's directory
	Pack    string // a pack chosen by the user; "" to detect
	App     string // the app's name; "" for the directory's name
	Port    int    // 0 for the pack's choice
	Force   bool   // replace files that exist
	DryRun  bool   // write nothing
	PackDir string // the user's own packs, "" for none
	// With and Without add and leave out services of a project (postgres,
	// mysql, redis, mongodb), whatever the apps' dependencies say.
	With, Without []string
}

// CreateResult is what Create did, or would do under DryRun.
type CreateResult struct {
	App       string
	Pack      *pack.Pack
	Detection *detect.Result // nil when the pack was chosen with --pack
	Facts     detect.Facts
	Version   string // the runtime image tag chosen
	Port      int
	Files     []pack.File // every file the pack renders, in order
	Written   pack.Written
	Notes     []string
	// Project is set when the folder is a project's root (several apps):
	// then the files are the root's (the services' charts, draft.toml), and
	// each app's create is in it.
	Project *ProjectCreate
}

// Run detects, renders and writes.
func (c *Create) Run(ctx context.Context) (*CreateResult, error) {
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: give the application's directory, or run draft create inside it", dir)
	}
	app, err := appName(c.App, abs)
	if err != nil {
		return nil, err
	}
	packs, err := pack.Load(c.PackDir)
	if err != nil {
		return nil, err
	}
	if c.Pack == "" && c.App == "" {
		pc, err := composeProject(abs)
		if err != nil {
			return nil, err
		}
		if pc != nil {
			return c.createProject(ctx, abs, pc)
		}
	}
	res := &CreateResult{App: app}
	if partial, err := c.choosePack(ctx, dir, abs, packs, res); err != nil {
		var nr *detect.NoRootAppError
		switch {
		case errors.As(err, &nr) && c.App == "" && !tutorialVariants(nr.Apps):
			return c.createProject(ctx, abs, projectFromApps(nr))
		case errors.As(err, &nr):
			return partial, noRootAppError(abs, nr)
		}
		return partial, err
	}
	if err := refusal(abs, res); err != nil {
		return res, err
	}
	if err := c.render(abs, app, res); err != nil {
		return res, err
	}
	return res, c.write(ctx, abs, res)
}

// render renders the pack for the app into res.Files (with draft.toml),
// its notes into res.Notes; a Dockerfile the app has is kept.
func (c *Create) render(abs, app string, res *CreateResult) error {
	in := inputOf(app, c.Port, res.Facts)
	if res.Facts.CommittedEnv {
		// Its config, committed (Symfony's .env; secrets go in .env.local):
		// the framework reads it at start.
		in.Secrets = append(append([]string(nil), in.Secrets...), "!.env")
		res.Notes = append(res.Notes, ".env goes into the image: it is committed (the root .gitignore does not list it), so it is the app's configuration, not a secret; keep secrets in .env.local, which stays out")
	}
	own := res.Pack.Name == pack.OwnDockerfileName
	kept, keptNotes := c.keptDockerfile(abs, &in, own)
	if res.Pack.Name == "java" && len(in.DepFiles) == 0 && !kept {
		return fmt.Errorf("%s has Java sources but no pom.xml or build.gradle(.kts): the java pack builds with Maven or Gradle; add a build file, or a Dockerfile of your own (draft keeps it)", abs)
	}
	if in.Port == 0 && !kept {
		in.Port = res.Facts.Port // the code's own, when it sets one
	}
	r, err := res.Pack.Render(in)
	if err != nil {
		return err
	}
	res.Version, res.Port = r.Version, r.Port
	if r.VersionBound { // a note names the locked package
		if res.Facts.VersionFrom == "" {
			res.Facts.VersionFrom = "the lockfile"
		} else {
			res.Facts.VersionFrom += " and the lockfile"
		}
	}
	if kept {
		// The pack's notes are about the Dockerfile it would have written.
		res.Notes = append(append(res.Notes, keptNotes...), r.IgnoreNotes...)
	} else {
		res.Notes = append(append(res.Notes, res.Facts.Notes...), r.Notes...)
	}
	if own { // the app's Dockerfile stays, even under --force
		r.Files = slices.DeleteFunc(r.Files, func(f pack.File) bool { return f.Path == "Dockerfile" })
	}
	res.Files = append(r.Files, pack.File{
		Path: config.FileName, Mode: 0o644,
		Data: config.NewFile{App: app, Chart: pack.ChartDir(app), Dockerfile: "Dockerfile", Port: r.Port}.Render(),
	})
	return nil
}

// choosePack sets the pack and the facts: the one --pack names, else the
// detected one, else, for a language without a pack, the app's own
// Dockerfile. A refusal returns what was found (for --explain's ranking).
func (c *Create) choosePack(ctx context.Context, dir, abs string, packs []*pack.Pack, res *CreateResult) (*CreateResult, error) {
	if c.Pack != "" {
		p, ok := pack.Find(packs, c.Pack)
		if !ok {
			return nil, fmt.Errorf("there is no pack %q: the packs are %s (draft pack list shows them)", c.Pack, strings.Join(pack.Names(packs), ", "))
		}
		res.Pack = p
		res.Facts = detect.FactsFor(abs, detect.Stack(p.Name))
		return nil, nil
	}
	d, err := detect.Detect(ctx, abs)
	var nr *detect.NoRootAppError
	switch {
	case err == nil:
		res.Detection, res.Facts = d, d.Facts
		p, ok := pack.Find(packs, string(d.Stack))
		if !ok {
			return nil, fmt.Errorf("detected %s, but there is no pack named %s: choose one with --pack (draft pack list shows them)", d.Stack, d.Stack)
		}
		res.Pack = p
		return nil, nil
	case d == nil:
		return nil, err
	case errors.Is(err, detect.ErrNoStack) && isFile(filepath.Join(abs, "Dockerfile")):
		// no pack for its language, but its own Dockerfile builds the
		// image: the chart and draft.toml are what it lacks
		d.Stack, d.Reason = "", "no pack for "+mostly(d)+", and the app has a Dockerfile of its own"
		res.Detection, res.Pack = d, pack.OwnDockerfile()
		res.Notes = append(res.Notes, "draft has no pack for "+mostly(d)+": your Dockerfile builds the image (draft never writes one for this app), and draft writes the chart and draft.toml")
		return nil, nil
	case errors.Is(err, detect.ErrNoStack):
		return &CreateResult{App: res.App, Detection: d}, noStackError(dir, d, packs)
	case errors.As(err, &nr):
		return &CreateResult{App: res.App, Detection: d}, nr
	}
	return nil, err
}

// refusal is why the facts leave nothing that draft can build, or nil.
func refusal(abs string, res *CreateResult) error {
	f := res.Facts
	switch {
	case f.ParentModule != "":
		return fmt.Errorf("%s is a folder of the Go module at %s (its go.mod is there, not here), and an image of it must be built from the module's root, which draft does not do yet: run draft create in %s if the main package is there or in cmd/, or give this folder a module of its own (go mod init NAME && go mod tidy)", abs, f.ParentModule, f.ParentModule)
	case f.NoProgram && len(f.Programs) > 0:
		return fmt.Errorf("%s holds %d Go programs (main packages in %s) and none at its root or in cmd/: draft builds one program per app; move the one to deploy to cmd/NAME (or keep one main package below the root), until draft can build several apps of one repository", abs, len(f.Programs), detect.ListWords(f.Programs, 5))
	case f.NoProgram:
		return fmt.Errorf("%s holds %s code without a program to run (no package main at its root or in cmd/): run draft create in the folder of the main package", abs, res.Pack.Name)
	}
	return nil
}

// inputOf is what the pack renders from: the facts, the app and --port.
func inputOf(app string, port int, f detect.Facts) pack.Input {
	return pack.Input{
		App: app, Port: port, Version: f.Version, VersionBounds: f.VersionBounds, Framework: f.Framework, BuildTool: f.BuildTool,
		DepFiles: f.DepFiles, Entry: f.Entry, Server: f.Server, Module: f.Module, BuildScript: f.BuildScript, Prepare: f.Prepare, Assets: f.Assets, AssetDeps: f.AssetDeps, Pnpm: f.Pnpm,
		Start: f.Start, Object: f.Object, RuntimeDirs: f.RuntimeDirs, Wrapper: f.Wrapper, Args: f.Args, Static: f.Static, Cgo: f.Cgo, Includes: f.Includes, CollectStatic: f.CollectStatic, Native: f.Native, NativePackages: f.NativePackages, Secrets: build.SecretPatterns,
	}
}

// write writes res.Files (or, for a dry run, says which it would write and
// keep); after a failure it names what it wrote before.
func (c *Create) write(ctx context.Context, abs string, res *CreateResult) error {
	if c.DryRun {
		for _, file := range res.Files {
			if _, err := os.Lstat(filepath.Join(abs, filepath.FromSlash(file.Path))); err == nil && !c.Force {
				res.Written.Kept = append(res.Written.Kept, file.Path)
			} else {
				res.Written.Wrote = append(res.Written.Wrote, file.Path)
			}
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	res.Written, err = pack.Write(abs, res.Files, c.Force)
	if err != nil && len(res.Written.Wrote) > 0 {
		// a rerun would keep them: say which they are
		err = fmt.Errorf("%w; written before that: %s (a rerun keeps them: remove them, or rerun with --force)", err, strings.Join(res.Written.Wrote, ", "))
	}
	return err
}

// keptDockerfile reads the app's own Dockerfile, which create keeps (unless
// --force): the chart takes its port (EXPOSE, else its base image's) and
// lets its user run (no USER: root). It says what it read, or could not.
func (c *Create) keptDockerfile(dir string, in *pack.Input, own bool) (bool, []string) {
	path := filepath.Join(dir, "Dockerfile")
	if c.Force && !own { // --force replaces a Dockerfile with the pack's, when there is a pack
		return false, nil
	}
	if _, err := os.Lstat(path); err != nil {
		return false, nil
	}
	in.Kept = true
	d, err := detect.ReadDockerfile(path)
	if err != nil {
		return true, []string{fmt.Sprintf("kept your Dockerfile, but %v: the chart has the pack's port and user; check them in charts/%s/values.yaml", err, in.App)}
	}
	var notes []string
	port, from := d.Port()
	switch {
	case in.Port != 0:
	case port != 0:
		in.Port = port
		notes = append(notes, fmt.Sprintf("kept your Dockerfile: the chart serves port %d (%s)", port, from))
	default:
		notes = append(notes, fmt.Sprintf("kept your Dockerfile, which EXPOSEs no port: the chart assumes the pack's; give the app's with --port, or add EXPOSE to the Dockerfile and run create again with --force for the chart"))
	}
	in.Copied = d.Sources
	ra := d.RunAs()
	in.RunAs = pack.RunAs{Mode: ra.Mode, UID: ra.UID, GID: ra.GID, Name: ra.Name}
	switch ra.Mode {
	case "root":
		notes = append(notes, "your Dockerfile sets no USER, so the app runs as root: the chart does not force a user or drop capabilities (add USER to run it unprivileged)")
	case "name":
		notes = append(notes, fmt.Sprintf("your Dockerfile runs as the user %s: the chart drops every capability but cannot pin a user number", ra.Name))
	}
	return true, notes
}

// noRootAppError: a repository of several apps. draft runs one app per
// folder (for now): say which folders, and the command for the first.
func noRootAppError(abs string, nr *detect.NoRootAppError) error {
	var list []string
	for _, a := range nr.Apps {
		list = append(list, fmt.Sprintf("%s (%s)", a.Dir, a.Stack))
	}
	first := filepath.Join(abs, filepath.FromSlash(nr.Apps[0].Dir))
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, first); err == nil && !strings.HasPrefix(rel, "..") {
			first = rel
		}
	}
	return fmt.Errorf("%s has no app of its own (no manifest at its root), but apps in %s: run draft create in each, e.g. draft create %s; or choose a pack for the root with --pack NAME",
		abs, strings.Join(list, ", "), first)
}

func noStackError(dir string, d *detect.Result, packs []*pack.Pack) error {
	what := "no source code that draft recognises"
	if d != nil && len(d.Languages) > 0 {
		what = "no supported application (it is mostly " + d.Languages[0].Name + ")"
	}
	return fmt.Errorf("%s has %s: draft has packs for %s; if this is one of them, choose it with --pack NAME",
		dir, what, strings.Join(pack.Names(packs), ", "))
}

var notNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// appName validates the given name, or derives one from the directory.
func appName(given, dir string) (string, error) {
	if given != "" {
		if msg := config.ValidateAppName(given); msg != "" {
			return "", fmt.Errorf("--app %q is not a valid name: %s", given, msg)
		}
		return given, nil
	}
	name := strings.ToLower(filepath.Base(dir))
	name = notNameChars.ReplaceAllString(strings.ReplaceAll(name, "_", "-"), "-")
	name = strings.Trim(name, "-")
	if len(name) > 53 {
		name = strings.Trim(name[:53], "-")
	}
	if msg := config.ValidateAppName(name); msg != "" {
		return "", fmt.Errorf("cannot make an app name from the folder %q (%s): give one with --app", filepath.Base(dir), msg)
	}
	return name, nil
}

// mostly names the language most of the tree is in, for a message.
func mostly(d *detect.Result) string {
	if len(d.Languages) > 0 {
		return d.Languages[0].Name
	}
	return "its language"
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
