package action

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/draftk8s/draft/pkg/config"
	"github.com/draftk8s/draft/pkg/detect"
	"github.com/draftk8s/draft/pkg/pack"
)

// ProjectCreate is what create found and wrote at a project's root: each
// app's own create, and the services they need.
type ProjectCreate struct {
	Apps     []ProjectApp
	Services []ProjectService
	Compose  string   // the Compose file read, if any
	Skipped  []string // Compose's services left out, and why
}

// ProjectApp is one app of a project: its name, its folder (relative to
// the root, slash-separated), what it needs, how it was found, and its
// create (Err when create refused it: the project goes on without it).
type ProjectApp struct {
	Name, Dir string
	Port      int      // the port Compose gives it (0: the pack's choice)
	Env       []string // the environment Compose gives it, by name
	Needs     []string
	Why       string
	Result    *CreateResult
	Err       error
}

// ProjectService is a backing service of a project: its name (its host
// name for the apps), its kind, and why it is there.
type ProjectService struct {
	Name, Kind string
	Image      string // the image a Compose file names ("" for the kind's)
	// The user, password and database a Compose file gives it (nil: none,
	// up makes a password).
	Access *pack.Access
	Why    string
}

// composeProject is the project a Compose file at abs describes, when it
// builds more than one app from folders below it; else nil.
func composeProject(abs string) (*ProjectCreate, error) {
	compose, err := detect.ReadCompose(abs)
	if err != nil || compose == nil || composeApps(compose) < 2 {
		return nil, err
	}
	return projectFromCompose(compose), nil
}

// variantNames are folder names of a tutorial's versions of one app (a
// guide's initial/ and complete/): several of them are not a project.
var variantNames = regexp.MustCompile(`^(initial|complete|start|finish|begin|end|before|after|solution|exercise|starter|final|(step|part|chapter|lesson)-?\d+)([-_](kotlin|java|groovy|ts|js))?$`)

// tutorialVariants tells whether every folder is such a version.
func tutorialVariants(apps []detect.SubApp) bool {
	for _, a := range apps {
		if !variantNames.MatchString(strings.ToLower(path.Base(a.Dir))) {
			return false
		}
	}
	return len(apps) > 1
}

// projectFromApps is the project of the folders with a manifest below a
// root that has none of its own.
func projectFromApps(nr *detect.NoRootAppError) *ProjectCreate {
	pc := &ProjectCreate{}
	taken := map[string]bool{}
	for _, a := range nr.Apps {
		name := projectAppName(a.Dir, taken)
		pc.Apps = append(pc.Apps, ProjectApp{Name: name, Dir: a.Dir, Why: fmt.Sprintf("%s: %s (its manifest)", a.Dir, a.Stack)})
	}
	return pc
}

// composeApps counts the services built from a folder below the root.
func composeApps(c *detect.Compose) int {
	n := 0
	for _, s := range c.Services {
		if s.Build != "" && s.Build != "." && len(s.Profiles) == 0 {
			n++
		}
	}
	return n
}

// projectFromCompose takes the apps (built from a folder), the services of
// known kinds (run from a database's image) and depends_on from Compose.
func projectFromCompose(c *detect.Compose) *ProjectCreate {
	pc := &ProjectCreate{Compose: c.File}
	names := map[string]string{} // compose's name -> the project's
	taken := map[string]bool{}
	for _, s := range c.Services {
		switch {
		case len(s.Profiles) > 0:
			// Compose starts it only when asked (docker compose --profile
			// seed): a one-off job or a tool, not part of the app
			pc.Skipped = append(pc.Skipped, fmt.Sprintf("%s (profiles %s)", s.Name, strings.Join(s.Profiles, ", ")))
		case s.Build != "" && s.Build != "." && !strings.HasPrefix(s.Build, ".."):
			name := projectAppName(s.Name, taken)
			names[s.Name] = name
			a := ProjectApp{Name: name, Dir: s.Build, Why: fmt.Sprintf("%s: service %s of %s, built from %s", s.Build, s.Name, c.File, s.Build)}
			if len(s.Ports) > 0 {
				a.Port = s.Ports[0]
			}
			a.Env = s.Env
			pc.Apps = append(pc.Apps, a)
		case s.Kind != "":
			name := projectAppName(s.Name, taken)
			names[s.Name] = name
			pc.Services = append(pc.Services, ProjectService{Name: name, Kind: s.Kind, Image: s.Image, Access: composeAccess(s),
				Why: fmt.Sprintf("service %s of %s runs %s", s.Name, c.File, s.Image)})
		}
	}
	for i, a := range pc.Apps {
		for _, s := range c.Services {
			if names[s.Name] != a.Name {
				continue
			}
			for _, dep := range s.DependsOn {
				if n, ok := names[dep]; ok {
					pc.Apps[i].Needs = append(pc.Apps[i].Needs, n)
				}
			}
		}
	}
	return pc
}

// composeAccess is the user, password and database a Compose file gives a
// database's server (POSTGRES_PASSWORD ..., a Redis's --requirepass or its
// lack), so that apps that hard-code them log in; nil when it gives none.
func composeAccess(s detect.ComposeService) *pack.Access {
	v := func(keys ...string) string {
		for _, k := range keys {
			if x := s.Values[k]; x != "" {
				return x
			}
		}
		return ""
	}
	switch s.Kind {
	case "postgres":
		if pw := v("POSTGRES_PASSWORD"); pw != "" {
			user := cmp.Or(v("POSTGRES_USER"), "postgres")
			return &pack.Access{User: user, Password: pw, Database: cmp.Or(v("POSTGRES_DB"), user)}
		}
	case "mysql":
		if pw := v("MYSQL_PASSWORD", "MARIADB_PASSWORD"); pw != "" && v("MYSQL_USER", "MARIADB_USER") != "" {
			return &pack.Access{User: v("MYSQL_USER", "MARIADB_USER"), Password: pw, Database: v("MYSQL_DATABASE", "MARIADB_DATABASE")}
		}
		if pw := v("MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"); pw != "" {
			return &pack.Access{User: "root", Password: pw, Database: v("MYSQL_DATABASE", "MARIADB_DATABASE")}
		}
	case "mongodb":
		if pw := v("MONGO_INITDB_ROOT_PASSWORD"); pw != "" {
			return &pack.Access{User: cmp.Or(v("MONGO_INITDB_ROOT_USERNAME"), "root"), Password: pw, Database: cmp.Or(v("MONGO_INITDB_DATABASE"), "admin")}
		}
	case "redis":
		for i, w := range s.Command {
			if w == "--requirepass" && i+1 < len(s.Command) {
				return &pack.Access{Password: s.Command[i+1]}
			}
		}
		return &pack.Access{} // Compose's Redis has no password: the apps send none
	}
	return nil
}

// projectAppName is a DNS-safe name for an app or service, unique in the
// project (a folder's last part; its path when that is taken).
func projectAppName(p string, taken map[string]bool) string {
	base := path.Base(p)
	name, err := appName("", base)
	if err != nil || taken[name] {
		name, _ = appName("", strings.ReplaceAll(p, "/", "-"))
	}
	for i := 2; taken[name] || name == ""; i++ {
		name = fmt.Sprintf("app-%d", i)
	}
	taken[name] = true
	return name
}

// createProject creates each app in its folder, adds the services their
// dependencies (and --with) ask for, and writes the services' charts and
// the project's draft.toml at the root.
func (c *Create) createProject(ctx context.Context, abs string, pc *ProjectCreate) (*CreateResult, error) {
	res := &CreateResult{App: filepath.Base(abs), Project: pc}
	ok := 0
	for i := range pc.Apps {
		a := &pc.Apps[i]
		sub := &Create{Dir: filepath.Join(abs, filepath.FromSlash(a.Dir)), App: a.Name, Port: a.Port, Force: c.Force, DryRun: c.DryRun, PackDir: c.PackDir}
		a.Result, a.Err = sub.Run(ctx)
		if a.Err != nil {
			continue
		}
		ok++
		for _, need := range detect.ServicesOf(sub.Dir, detect.Stack(a.Result.Pack.Name)) {
			name := pc.serviceOf(need.Kind, fmt.Sprintf("%s needs it: %s in %s", a.Name, need.Package, path.Join(a.Dir, need.File)))
			a.Needs = appendNew(a.Needs, name)
		}
	}
	if ok == 0 {
		var why []string
		for _, a := range pc.Apps {
			why = append(why, a.Name+": "+a.Err.Error())
		}
		return res, fmt.Errorf("%s holds apps in folders, but draft can create none of them: %s", abs, strings.Join(why, "; "))
	}
	if err := c.chooseServices(pc); err != nil {
		return res, err
	}
	// The project leaves out the apps create refused, and what only they needed.
	pc.Apps = slices.DeleteFunc(pc.Apps, func(a ProjectApp) bool {
		if a.Err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s (%s) is left out of the project: %v", a.Name, a.Dir, a.Err))
		}
		return a.Err != nil
	})
	pc.Services = slices.DeleteFunc(pc.Services, func(s ProjectService) bool {
		return !slices.ContainsFunc(pc.Apps, func(a ProjectApp) bool { return slices.Contains(a.Needs, s.Name) })
	})
	for i := range pc.Apps { // needs of apps left out go too
		pc.Apps[i].Needs = slices.DeleteFunc(pc.Apps[i].Needs, func(n string) bool { return !pc.has(n) })
		if note := pc.unsetEnv(pc.Apps[i]); note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	return res, c.writeProject(ctx, abs, res)
}

// unsetEnv says which of the variables Compose gives an app draft does not
// (its services' connections give the others), or "".
func (pc *ProjectCreate) unsetEnv(a ProjectApp) string {
	given := map[string]bool{}
	for _, n := range a.Needs {
		for _, s := range pc.Services {
			if s.Name == n {
				for k := range pack.ServiceKinds[s.Kind].Connection(s.Name, 1, pack.Access{}) {
					given[k] = true
				}
			}
		}
	}
	var unset []string
	for _, e := range a.Env {
		if !given[e] {
			unset = append(unset, e)
		}
	}
	if len(unset) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %s gives it %s, which draft does not: set them in %s/draft.toml (set = [\"env.NAME=value\"]), or from a Secret under envFrom",
		a.Name, pc.Compose, detect.ListWords(unset, 5), a.Dir)
}

// serviceOf is the project's service of kind (added, named by the kind,
// when there is none yet).
func (pc *ProjectCreate) serviceOf(kind, why string) string {
	for _, s := range pc.Services {
		if s.Kind == kind {
			return s.Name
		}
	}
	pc.Services = append(pc.Services, ProjectService{Name: kind, Kind: kind, Why: why})
	return kind
}

func (pc *ProjectCreate) has(name string) bool {
	return slices.ContainsFunc(pc.Apps, func(a ProjectApp) bool { return a.Name == name }) ||
		slices.ContainsFunc(pc.Services, func(s ProjectService) bool { return s.Name == name })
}

// chooseServices applies --with (a service every app needs) and --without
// (none of that kind).
func (c *Create) chooseServices(pc *ProjectCreate) error {
	for _, k := range append(slices.Clone(c.With), c.Without...) {
		if _, ok := pack.ServiceKinds[k]; !ok {
			return fmt.Errorf("there is no service %q: draft has %s", k, strings.Join(config.ServiceKinds, ", "))
		}
	}
	for _, k := range c.With {
		name := pc.serviceOf(k, "asked for with --with "+k)
		for i := range pc.Apps {
			pc.Apps[i].Needs = appendNew(pc.Apps[i].Needs, name)
		}
	}
	for _, k := range c.Without {
		var gone []string
		pc.Services = slices.DeleteFunc(pc.Services, func(s ProjectService) bool {
			if s.Kind == k {
				gone = append(gone, s.Name)
			}
			return s.Kind == k
		})
		for i := range pc.Apps {
			pc.Apps[i].Needs = slices.DeleteFunc(pc.Apps[i].Needs, func(n string) bool { return slices.Contains(gone, n) })
		}
	}
	return nil
}

// writeProject writes the services' charts and the project's draft.toml.
func (c *Create) writeProject(ctx context.Context, abs string, res *CreateResult) error {
	pc := res.Project
	np := config.NewProject{Name: res.App}
	for _, a := range pc.Apps {
		sort.Strings(a.Needs)
		np.Apps = append(np.Apps, config.NewProjectApp{Name: a.Name, Path: a.Dir, Needs: a.Needs, Why: a.Why})
	}
	for _, s := range pc.Services {
		ns := config.NewProjectService{Name: s.Name, Kind: s.Kind, Image: s.Image, Why: s.Why, From: pc.Compose}
		if a := s.Access; a != nil {
			pw := a.Password
			ns.User, ns.Password, ns.Database = a.User, &pw, a.Database
		}
		np.Services = append(np.Services, ns)
		files, err := pack.RenderService(s.Name, s.Kind, s.Image, "")
		if err != nil {
			return err
		}
		res.Files = append(res.Files, files...)
	}
	res.Files = append(res.Files, pack.File{Path: config.FileName, Mode: 0o644, Data: np.Render()})
	if _, err := config.Parse(filepath.Join(abs, config.FileName), np.Render()); err != nil {
		return fmt.Errorf("the project's draft.toml would not read back (a bug of draft's): %w", err)
	}
	return c.write(ctx, abs, res)
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
