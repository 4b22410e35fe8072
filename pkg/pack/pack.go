package pack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/draftk8s/draft/packs"
)

// BuiltIn is the Source of the packs embedded in draft.
const BuiltIn = "built-in"

// Resources are a container's requests or limits.
type Resources struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// Framework holds a framework's own defaults within a pack.
type Framework struct {
	Port int `json:"port"`
}

// Pack is one language's recipe.
type Pack struct {
	Name        string `json:"-"`
	Description string `json:"description"`
	// Source is BuiltIn or the folder the pack was loaded from.
	Source string `json:"-"`
	// Overrides is set on a user's pack that replaces a built-in pack.
	Overrides bool `json:"-"`
	// Versions are the runtime versions (image tags) the pack knows, newest first.
	Versions       []string `json:"versions"`
	DefaultVersion string   `json:"defaultVersion"`
	// VersionParts is how many parts of a version the image tags use (2: "3.12", 1: "20").
	VersionParts  int                  `json:"versionParts"`
	Port          int                  `json:"port"`
	Frameworks    map[string]Framework `json:"frameworks"`
	LivenessDelay int                  `json:"livenessDelay"`
	Resources     struct {
		Requests Resources `json:"requests"`
		Limits   Resources `json:"limits"`
	} `json:"resources"`

	fsys fs.FS // the pack's folder
}

// Files a pack folder may hold.
const (
	fileDockerfile   = "Dockerfile"
	fileDockerignore = ".dockerignore"
	filePackYAML     = "pack.yaml"
	dirChart         = "chart"
)

// Load returns the built-in packs and, when userDir is not empty and exists,
// the packs in it (one folder each), sorted by name. A user's pack with a
// built-in pack's name replaces it; files it lacks come from the built-in one.
func Load(userDir string) ([]*Pack, error) {
	byName := map[string]*Pack{}
	entries, err := fs.ReadDir(packs.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("reading built-in packs: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub, _ := fs.Sub(packs.FS, e.Name())
		p, err := loadPack(e.Name(), BuiltIn, sub)
		if err != nil {
			return nil, err
		}
		byName[p.Name] = p
	}
	if userDir != "" {
		entries, err := os.ReadDir(userDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading packs in %s: %w", userDir, err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			dir := filepath.Join(userDir, e.Name())
			var fsys fs.FS = os.DirFS(dir)
			base, overrides := byName[e.Name()]
			if overrides {
				fsys = overlayFS{top: fsys, bottom: base.fsys}
			}
			p, err := loadPack(e.Name(), dir, fsys)
			if err != nil {
				return nil, err
			}
			p.Overrides = overrides
			byName[p.Name] = p
		}
	}
	out := make([]*Pack, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func loadPack(name, source string, fsys fs.FS) (*Pack, error) {
	p := &Pack{Name: name, Source: source, fsys: fsys, Port: 8080, LivenessDelay: 10, VersionParts: 2}
	where := source
	if source == BuiltIn {
		where = "built-in pack " + name
	}
	if _, err := fs.Stat(fsys, fileDockerfile); err != nil {
		return nil, fmt.Errorf("pack %s (%s) has no Dockerfile: a pack folder needs at least a Dockerfile template", name, where)
	}
	b, err := fs.ReadFile(fsys, filePackYAML)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s of pack %s: %w", filePackYAML, name, err)
	default:
		if err := yaml.UnmarshalStrict(b, p); err != nil {
			return nil, fmt.Errorf("%s of pack %s (%s) is not valid: %w", filePackYAML, name, where, err)
		}
	}
	if p.Resources.Requests.CPU == "" {
		p.Resources.Requests = Resources{CPU: "50m", Memory: "64Mi"}
	}
	if p.Resources.Limits.CPU == "" {
		p.Resources.Limits = Resources{CPU: "1", Memory: "512Mi"}
	}
	return p, nil
}

// OwnDockerfileName is the name of the OwnDockerfile pack.
const OwnDockerfileName = "own Dockerfile"

// OwnDockerfile is the pack for an app whose own Dockerfile builds the image
// in a language draft has no pack for: its .dockerignore and chart values
// (a Dockerfile it renders is never to be written).
func OwnDockerfile() *Pack {
	sub, _ := fs.Sub(packs.Own, "own")
	p, err := loadPack(OwnDockerfileName, BuiltIn, sub)
	if err != nil {
		panic(err) // a built-in file: the tests load it
	}
	return p
}

// Find returns the pack called name.
func Find(ps []*Pack, name string) (*Pack, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Names lists the packs' names.
func Names(ps []*Pack) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// overlayFS reads from top, and from bottom what top lacks.
type overlayFS struct{ top, bottom fs.FS }

func (o overlayFS) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	// A user's chart folder replaces the shared chart as a whole: never mix the two.
	if name == dirChart || strings.HasPrefix(name, dirChart+"/") {
		return nil, err
	}
	return o.bottom.Open(name)
}
