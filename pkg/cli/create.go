package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/draftk8s/draft/pkg/action"
	"github.com/draftk8s/draft/pkg/pack"
)

func newCreateCommand(s streams) *cobra.Command {
	c := &action.Create{}
	var explain bool
	cmd := &cobra.Command{
		Use:   "create [DIR]",
		Short: "Detect the app's language and write a Dockerfile, a Helm chart and draft.toml",
		Long: `Detect the application's language in DIR (default: the current directory) and write
the pack's files: Dockerfile, .dockerignore, charts/<app>/ and draft.toml.

A file that already exists is kept as it is unless --force is given. The files
written are listed on stdout; everything else goes to stderr.

At the root of a repository of several apps (folders with a manifest and none at
the root, or a Compose file that builds them), create writes each app's files in
its folder, the charts of the databases their dependencies use (PostgreSQL, MySQL,
Redis, MongoDB; --with and --without to choose) and a draft.toml at the root that
lists the apps, the services and what each needs.`,
		Example: `  draft create                 # detect and write
  draft create --dry-run --explain
  draft create --pack node --port 3000 --app web ./frontend`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				c.Dir = args[0]
			}
			if cmd.Flags().Changed("port") && (c.Port < 1 || c.Port > 65535) {
				return usageError{fmt.Errorf("--port %d is not a port: give a number from 1 to 65535", c.Port)}
			}
			res, err := c.Run(cmd.Context())
			if res != nil && res.Detection != nil && explain {
				fmt.Fprint(s.Err, res.Detection.String())
			}
			if err != nil {
				return err
			}
			if res.Project != nil {
				printProject(s, res, c.DryRun, explain)
				return nil
			}
			if explain {
				printSources(s, res)
			}
			printCreate(s, res, c.DryRun)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Pack, "pack", "", "use this pack instead of detecting one (draft pack list)")
	f.StringVarP(&c.App, "app", "a", "", "the app's name, used for the chart and the release (default: the folder's name)")
	f.IntVarP(&c.Port, "port", "p", 0, "the port the app listens on (default: the framework's)")
	f.BoolVar(&c.Force, "force", false, "replace files that already exist")
	f.BoolVar(&c.DryRun, "dry-run", false, "show what would be written, and write nothing")
	f.BoolVar(&explain, "explain", false, "show the language ranking and why the pack was chosen")
	f.StringVar(&c.PackDir, "pack-dir", s.Env.PacksDir(), "a folder of your own packs, which add to or override the built-in ones")
	f.StringSliceVar(&c.With, "with", nil, "at a project's root: add this service for every app (postgres, mysql, redis, mongodb)")
	f.StringSliceVar(&c.Without, "without", nil, "at a project's root: leave out this service, whatever the apps' dependencies say")
	return cmd
}

func printCreate(s streams, res *action.CreateResult, dryRun bool) {
	printHeading(s, res)
	for _, n := range res.Notes {
		fmt.Fprintf(s.Err, "note: %s\n", n)
	}
	printWritten(s, res, dryRun)
	switch {
	case dryRun:
		fmt.Fprintln(s.Err, "dry run: nothing was written")
	case len(res.Written.Wrote) == 0:
		fmt.Fprintln(s.Err, "nothing written: every file exists (use --force to replace them)")
	default:
		fmt.Fprintln(s.Err, "next: draft up")
	}
}

// printHeading is create's line of what it found, and the close call.
func printHeading(s streams, res *action.CreateResult) {
	detail := "pack " + res.Pack.Name
	if res.Detection != nil {
		detail = fmt.Sprintf("detected %s (%s)", res.Detection.Stack, res.Detection.Reason)
		if res.Detection.Stack == "" {
			detail = res.Detection.Reason
		}
		if res.Pack.Source != "built-in" {
			detail += "; pack from " + res.Pack.Source
		}
	}
	fw := ""
	if res.Facts.Framework != "" {
		fw = ", " + res.Facts.Framework
	}
	version := ", version " + res.Version
	if from := res.Facts.VersionFrom; from != "" {
		version += " (from " + from + ")"
	} else {
		version += " (the pack's default: the app names none)"
	}
	if res.Version == "" { // the app's own Dockerfile picks it
		version = ""
	}
	fmt.Fprintf(s.Err, "%s: %s%s%s, port %d\n", res.App, detail, version, fw, res.Port)
	if res.Detection != nil && res.Detection.Close != "" {
		fmt.Fprintf(s.Err, "note: %s\n", res.Detection.Close)
	}
}

// printFiles prints an app of a project as printCreate does, but the last
// line once, for the whole project (last).
func printFiles(s streams, res *action.CreateResult, dryRun, last bool) {
	if !last {
		printHeading(s, res)
		for _, n := range res.Notes {
			fmt.Fprintf(s.Err, "note: %s\n", n)
		}
	}
	printWritten(s, res, dryRun)
	if !last {
		return
	}
	switch {
	case dryRun:
		fmt.Fprintln(s.Err, "dry run: nothing was written")
	default:
		fmt.Fprintln(s.Err, "next: draft up (here: every app; draft up NAME: one)")
	}
}

// printWritten lists the files written (stdout) and kept (stderr).
func printWritten(s streams, res *action.CreateResult, dryRun bool) {
	verb := ""
	if dryRun {
		verb = "would write "
	}
	for _, p := range res.Written.Wrote {
		fmt.Fprintf(s.Out, "%s%s\n", verb, p)
	}
	for _, p := range res.Written.Kept {
		fmt.Fprintf(s.Err, "kept %s (it exists; --force replaces it)\n", p)
	}
}

// printSources tells, for --explain, where the start command, the build tool
// and the version came from.
func printSources(s streams, res *action.CreateResult) {
	f := res.Facts
	if !slices.ContainsFunc(res.Files, func(p pack.File) bool { return p.Path == "Dockerfile" }) {
		fmt.Fprintln(s.Err, "Start: your Dockerfile's (draft writes none for this app)")
	}
	for _, file := range res.Files {
		if file.Path != "Dockerfile" {
			continue
		}
		if slices.Contains(res.Written.Kept, "Dockerfile") {
			fmt.Fprintln(s.Err, "Start: your Dockerfile's (kept; --force replaces it with the pack's)")
			break
		}
		start := ""
		for _, line := range strings.Split(string(file.Data), "\n") {
			if w := strings.Fields(line); len(w) > 0 && (w[0] == "CMD" || w[0] == "ENTRYPOINT") {
				start = strings.TrimSpace(line) // the last one counts
			}
		}
		from := f.StartFrom
		if from == "" {
			from = "the " + res.Pack.Name + " pack's start for " + cmp.Or(f.Framework, "an app without a framework")
		}
		if start != "" {
			fmt.Fprintf(s.Err, "Start: %s (from %s)\n", start, from)
		}
	}
	if f.BuildTool != "" {
		fmt.Fprintf(s.Err, "Build tool: %s (from %s)\n", f.BuildTool, cmp.Or(strings.Join(f.DepFiles, ", "), "no manifest: the pack's default"))
	}
	from := f.VersionFrom
	if from == "" {
		from = "the pack's default: the app names none"
	}
	if res.Version != "" {
		fmt.Fprintf(s.Err, "Version: %s (from %s)\n", res.Version, from)
	}
}

// printProject prints what create did at a project's root: each app as
// create in its folder would, its files by their path from the root, then
// the services and the root's files.
func printProject(s streams, res *action.CreateResult, dryRun, explain bool) {
	pc := res.Project
	if pc.Compose != "" {
		fmt.Fprintf(s.Err, "%s: read %s\n", res.App, pc.Compose)
	}
	if len(pc.Skipped) > 0 {
		fmt.Fprintf(s.Err, "left out of the project (Compose runs them only when asked): %s\n", strings.Join(pc.Skipped, ", "))
	}
	for _, a := range pc.Apps {
		r := *a.Result
		for i, p := range r.Written.Wrote {
			r.Written.Wrote[i] = a.Dir + "/" + p
		}
		for i, p := range r.Written.Kept {
			r.Written.Kept[i] = a.Dir + "/" + p
		}
		if explain {
			if r.Detection != nil {
				fmt.Fprint(s.Err, r.Detection.String())
			}
			printSources(s, &r)
		}
		printFiles(s, &r, dryRun, false)
		fmt.Fprintf(s.Err, "  %s (%s) needs: %s\n", a.Name, a.Dir, cmp.Or(strings.Join(a.Needs, ", "), "nothing"))
		if explain {
			fmt.Fprintf(s.Err, "  found: %s\n", a.Why)
		}
	}
	for _, sv := range pc.Services {
		fmt.Fprintf(s.Err, "service %s: %s (%s)\n", sv.Name, sv.Kind, sv.Why)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(s.Err, "note: %s\n", n)
	}
	printFiles(s, res, dryRun, true)
}
