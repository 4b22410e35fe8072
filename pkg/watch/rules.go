package watch

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Names of the files that hold ignore rules.
const (
	dockerignore = ".dockerignore"
	draftignore  = ".draftignore"
	gitignoreF   = ".gitignore"
)

// editorFiles are the base names of what editors write while they save, or
// leave next to the files they edit: swap files, backups, probes, locks and
// temporary files renamed over the original. They never make a batch.
var editorFiles = []string{
	"*.swp", "*.swo", "*.swn", "*.swx", "*.swpx", // vim swap files
	"*~",                             // vim and emacs backups
	"4913",                           // vim's probe that the directory is writable
	".#*",                            // emacs lock links
	"#*#",                            // emacs auto-saves
	"*___jb_tmp___", "*___jb_old___", // JetBrains safe write
	"*.tmp",                          // written, then renamed over the original
	"*.kate-swp", ".goutputstream-*", // Kate, GNOME's gedit
	"*.crswap",  // browsers' File System Access API
	".DS_Store", // macOS Finder
}

// alwaysInclude are the paths watched even when .dockerignore leaves them out
// of the image: what draft up reads besides the build context (packs list
// them all in the .dockerignore they write).
func alwaysInclude() []string {
	return []string{"Dockerfile", dockerignore, draftignore, "draft.toml", "charts"}
}

// rules decides what is ignored. It is used by one goroutine at a time
// (patternmatcher is not safe for concurrent use).
type rules struct {
	docker  *patternmatcher.PatternMatcher // .dockerignore: what the image leaves out
	include *patternmatcher.PatternMatcher // watched all the same (alwaysInclude, WithInclude)
	draft   *patternmatcher.PatternMatcher // .draftignore and WithIgnore
	git     []gitignore.Pattern            // every .gitignore met so far, parents first
	gitm    gitignore.Matcher
}

// loadRules reads the root's .dockerignore and .draftignore, and
// .git/info/exclude; .gitignore files are added by the walk as it meets them.
func loadRules(root string, include, extra []string) (*rules, error) {
	r := &rules{}
	var err error
	if r.include, err = matcher("WithInclude", append(alwaysInclude(), include...)); err != nil {
		return nil, err
	}
	docker, err := readIgnoreFile(root, dockerignore)
	if err != nil {
		return nil, err
	}
	if r.docker, err = matcher(filepath.Join(root, dockerignore), docker); err != nil {
		return nil, err
	}
	draft, err := readIgnoreFile(root, draftignore)
	if err != nil {
		return nil, err
	}
	if r.draft, err = matcher(filepath.Join(root, draftignore)+" or WithIgnore", append(draft, extra...)); err != nil {
		return nil, err
	}
	r.addGitignore(filepath.Join(root, ".git", "info", "exclude"), nil)
	return r, nil
}

func readIgnoreFile(root, name string) ([]string, error) {
	f, err := os.Open(filepath.Join(root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, name), err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, name), err)
	}
	return patterns, nil
}

// matcher compiles patterns in .dockerignore syntax; nil when there are none.
func matcher(from string, patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	// ignorefile cleans patterns as docker does (a leading / is the root).
	clean, err := ignorefile.ReadAll(strings.NewReader(strings.Join(patterns, "\n")))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	pm, err := patternmatcher.New(clean)
	if err != nil {
		return nil, fmt.Errorf("%s has a bad pattern: %w", from, err)
	}
	return pm, nil
}

// addGitignore adds the patterns of a .gitignore file found in the directory
// whose path parts are domain. A file that cannot be read adds nothing.
func (r *rules) addGitignore(file string, domain []string) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	n := len(r.git)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r.git = append(r.git, gitignore.ParsePattern(line, domain))
	}
	if len(r.git) > n {
		r.gitm = gitignore.NewMatcher(r.git)
	}
}

// editorFile tells the files editors write while they save.
func editorFile(name string) bool {
	for _, p := range editorFiles {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// rulesFile tells the files whose change changes the rules.
func rulesFile(rel string) bool {
	return rel == dockerignore || rel == draftignore || path.Base(rel) == gitignoreF
}

// ignored tells whether a change of rel (slash-separated, relative to the
// root, never ".") is left out.
func (r *rules) ignored(rel string, isDir bool) bool {
	name := path.Base(rel)
	if name == ".git" || strings.HasPrefix(rel, ".git/") || strings.Contains(rel, "/.git/") {
		return true
	}
	if !isDir && editorFile(name) {
		return true
	}
	if r.draft != nil {
		if ok, _ := r.draft.MatchesOrParentMatches(rel); ok {
			return true
		}
	}
	if r.gitm != nil && r.gitm.Match(strings.Split(rel, "/"), isDir) {
		return true
	}
	if r.docker != nil {
		if ok, _ := r.docker.MatchesOrParentMatches(rel); ok {
			if r.include == nil {
				return true
			}
			kept, _ := r.include.MatchesOrParentMatches(rel)
			return !kept
		}
	}
	return false
}

// skipDir tells whether the walk leaves out the directory rel altogether: it
// is ignored and nothing below it can be wanted back (by a ! pattern or an
// include).
func (r *rules) skipDir(rel string) bool {
	if path.Base(rel) == ".git" {
		return true
	}
	if !r.ignored(rel, true) {
		return false
	}
	if r.gitm != nil && r.gitm.Match(strings.Split(rel, "/"), true) {
		return true // git cannot re-include a file below an ignored directory
	}
	return !mayMatchBelow(r.draft, rel, true) && !mayMatchBelow(r.docker, rel, true) && !mayMatchBelow(r.include, rel, false)
}

// mayMatchBelow tells whether one of pm's patterns (only its ! patterns when
// exclusions is set) might match a path below the directory rel: its first
// components match rel's and it goes deeper, or it has a ** on the way.
func mayMatchBelow(pm *patternmatcher.PatternMatcher, rel string, exclusions bool) bool {
	if pm == nil || (exclusions && !pm.Exclusions()) {
		return false
	}
	dirs := strings.Split(rel, "/")
	for _, p := range pm.Patterns() {
		if exclusions && !p.Exclusion() {
			continue
		}
		if reachesBelow(strings.Split(filepath.ToSlash(p.String()), "/"), dirs) {
			return true
		}
	}
	return false
}

func reachesBelow(pattern, dirs []string) bool {
	for i, c := range pattern {
		if strings.Contains(c, "**") || i == len(dirs) {
			return true
		}
		if ok, _ := path.Match(c, dirs[i]); !ok {
			return false
		}
	}
	return false
}
