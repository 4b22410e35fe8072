package detect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-enry/go-enry/v2"
)

// Stack is an application ecosystem: the unit a pack is chosen for.
type Stack string

// The stacks draft knows.
const (
	Go     Stack = "go"
	Node   Stack = "node"
	Python Stack = "python"
	Java   Stack = "java"
	Ruby   Stack = "ruby"
	PHP    Stack = "php"
)

// Stacks lists every stack, in the order used to break ties.
var Stacks = []Stack{Python, Java, Ruby, PHP, Go, Node}

// stackOf maps go-enry language names to stacks.
var stackOf = map[string]Stack{
	"Go": Go, "Python": Python, "Java": Java, "Kotlin": Java, "Groovy": Java,
	"Ruby": Ruby, "PHP": PHP, "JavaScript": Node, "TypeScript": Node, "TSX": Node,
}

// manifests are the root files that settle a stack, in order of preference.
var manifests = map[Stack][]string{
	Go:     {"go.mod"},
	Node:   {"package.json"},
	Python: {"requirements.txt", "pyproject.toml", "Pipfile", "setup.py"},
	Java:   {"pom.xml", "build.gradle", "build.gradle.kts"},
	Ruby:   {"Gemfile"},
	PHP:    {"composer.json"},
}

// closeRatio: a runner-up with at least this share of the winner's bytes is worth mentioning.
const closeRatio = 0.5

// NoRootAppError is a folder with no app of its own at its root (no
// manifest there) that holds apps in folders below it.
type NoRootAppError struct {
	Root string
	Apps []SubApp
}

// SubApp is an app found below the root: its folder (slash-separated,
// relative to the root) and its stack, by its manifest.
type SubApp struct {
	Dir   string
	Stack Stack
}

func (e *NoRootAppError) Error() string {
	var list []string
	for _, a := range e.Apps {
		list = append(list, fmt.Sprintf("%s (%s)", a.Dir, a.Stack))
	}
	return fmt.Sprintf("%s has no app at its root, but apps in %s", e.Root, strings.Join(list, ", "))
}

// subApps lists the folders one and two levels below root that hold a
// manifest, skipping what the walk skips (hidden, vendored, documentation).
func subApps(root string) []SubApp {
	var apps []SubApp
	var look func(rel string, depth int)
	look = func(rel string, depth int) {
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() || strings.HasPrefix(name, ".") || skipDirNames[name] {
				continue
			}
			child := name
			if rel != "" {
				child = rel + "/" + name
			}
			if enry.IsVendor(child+"/") || enry.IsDocumentation(child+"/") {
				continue
			}
			found := false
			for _, st := range Stacks {
				for _, m := range manifests[st] {
					if !found && isFile(filepath.Join(root, filepath.FromSlash(child), m)) {
						apps = append(apps, SubApp{Dir: child, Stack: st})
						found = true
					}
				}
			}
			if !found && depth < 2 {
				look(child, depth+1)
			}
		}
	}
	look("", 1)
	return apps
}

// ErrNoStack is returned when the tree holds no supported application.
var ErrNoStack = errors.New("no supported application found")

// Language is one language's share of the tree.
type Language struct {
	Name  string
	Stack Stack // "" when draft has no pack for it
	Bytes int64
	Files int
	Share float64 // of all programming-language bytes
}

// Candidate is one stack's claim on the tree.
type Candidate struct {
	Stack     Stack
	Bytes     int64
	Manifests []string // root manifests present
	score     int      // 2: root manifest, 1: package.json beside another stack's manifest, 0: bytes only
}

// Result is what Detect found.
type Result struct {
	Root       string
	Languages  []Language  // ranked by bytes
	Candidates []Candidate // ranked: the first is the choice
	Stack      Stack       // the chosen stack
	Reason     string      // why it was chosen, one sentence
	Close      string      // set when another stack came close: says how to pick it
	Facts      Facts       // what the chosen stack's manifests say
	Files      int         // files looked at
	Sniffed    int         // files whose contents were read to tell their language
	Skipped    []string    // directories not entered (vendored, documentation)
}

// Detect ranks the languages under root and picks the application's stack.
// It returns an error wrapping ErrNoStack when there is none.
func Detect(ctx context.Context, root string) (*Result, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	c, err := walkTree(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	r := &Result{Root: root, Files: c.seen, Sniffed: c.sniffed, Skipped: c.skipDirs}
	r.Languages = rankLanguages(c)
	stackBytes := map[Stack]int64{}
	for _, l := range r.Languages {
		if l.Stack != "" {
			stackBytes[l.Stack] += l.Bytes
		}
	}
	for _, s := range Stacks {
		cand := Candidate{Stack: s, Bytes: stackBytes[s]}
		for _, m := range manifests[s] {
			if isFile(filepath.Join(root, m)) {
				cand.Manifests = append(cand.Manifests, m)
			}
		}
		if cand.Bytes > 0 || len(cand.Manifests) > 0 {
			r.Candidates = append(r.Candidates, cand)
		}
	}
	if len(r.Candidates) == 0 {
		if len(r.Languages) > 0 {
			return r, fmt.Errorf("%w: the tree is mostly %s", ErrNoStack, r.Languages[0].Name)
		}
		return r, ErrNoStack
	}
	rankCandidates(r.Candidates)
	win := r.Candidates[0]
	if len(win.Manifests) == 0 && !isFile(filepath.Join(root, "Dockerfile")) {
		// No manifest at the root (nor a Dockerfile that builds one): a
		// repository of several apps, each in its folder, is not one app of
		// the language that has most code.
		if apps := subApps(root); len(apps) > 0 {
			return r, &NoRootAppError{Root: root, Apps: apps}
		}
	}
	r.Stack = win.Stack
	r.Reason = reason(win, r.Candidates)
	if len(r.Candidates) > 1 {
		next := r.Candidates[1]
		if next.score == win.score && win.Bytes > 0 && float64(next.Bytes) >= closeRatio*float64(win.Bytes) {
			r.Close = fmt.Sprintf("%s is close (%s of code against %s); to choose it, run draft create --pack %s",
				next.Stack, humanBytes(next.Bytes), humanBytes(win.Bytes), next.Stack)
		}
	}
	r.Facts = readFacts(root, r.Stack, win.Manifests)
	return r, nil
}

func rankLanguages(c *counts) []Language {
	var total int64
	for _, b := range c.bytes {
		total += b
	}
	langs := make([]Language, 0, len(c.bytes))
	for name, b := range c.bytes {
		langs = append(langs, Language{Name: name, Stack: stackOf[name], Bytes: b, Files: c.files[name], Share: float64(b) / float64(total)})
	}
	sort.Slice(langs, func(i, j int) bool {
		if langs[i].Bytes != langs[j].Bytes {
			return langs[i].Bytes > langs[j].Bytes
		}
		return langs[i].Name < langs[j].Name
	})
	return langs
}

// rankCandidates orders the stacks: a root manifest beats raw bytes; among
// stacks with root manifests, a package.json beside another stack's manifest
// is taken as front-end tooling unless that stack has no code at all. Bytes
// break ties, then the order of Stacks.
func rankCandidates(cs []Candidate) {
	order := map[Stack]int{}
	for i, s := range Stacks {
		order[s] = i
	}
	othersWithCode := false
	for _, c := range cs {
		if c.Stack != Node && len(c.Manifests) > 0 && c.Bytes > 0 {
			othersWithCode = true
		}
	}
	for i := range cs {
		switch {
		case len(cs[i].Manifests) == 0:
			cs[i].score = 0
		case cs[i].Stack == Node && othersWithCode:
			cs[i].score = 1
		default:
			cs[i].score = 2
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		if cs[i].Bytes != cs[j].Bytes {
			return cs[i].Bytes > cs[j].Bytes
		}
		return order[cs[i].Stack] < order[cs[j].Stack]
	})
}

func reason(win Candidate, all []Candidate) string {
	if len(win.Manifests) > 0 {
		others := 0
		for _, c := range all[1:] {
			if len(c.Manifests) > 0 {
				others++
			}
		}
		if others == 0 {
			return fmt.Sprintf("%s at the root settles it", win.Manifests[0])
		}
		return fmt.Sprintf("%s at the root, and %s of %s code against the other root manifests", win.Manifests[0], humanBytes(win.Bytes), win.Stack)
	}
	return fmt.Sprintf("no manifest at the root; %s has the most code (%s)", win.Stack, humanBytes(win.Bytes))
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// String renders the ranking for --explain.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Looked at %d files (read %d to tell their language); skipped %d directories.\n", r.Files, r.Sniffed, len(r.Skipped))
	b.WriteString("Languages by bytes:\n")
	for _, l := range r.Languages {
		stack := string(l.Stack)
		if stack == "" {
			stack = "-"
		}
		fmt.Fprintf(&b, "  %-12s %9s %5.1f%%  %4d files  stack: %s\n", l.Name, humanBytes(l.Bytes), 100*l.Share, l.Files, stack)
	}
	b.WriteString("Stacks:\n")
	for i, c := range r.Candidates {
		mark := " "
		if i == 0 {
			mark = "*"
		}
		ms := "no root manifest"
		if len(c.Manifests) > 0 {
			ms = strings.Join(c.Manifests, ", ")
		}
		fmt.Fprintf(&b, " %s %-7s %9s  %s\n", mark, c.Stack, humanBytes(c.Bytes), ms)
	}
	if r.Stack != "" {
		fmt.Fprintf(&b, "Chose %s: %s.\n", r.Stack, r.Reason)
	}
	if r.Close != "" {
		fmt.Fprintf(&b, "Note: %s.\n", r.Close)
	}
	for _, n := range r.Facts.Notes {
		fmt.Fprintf(&b, "Note: %s.\n", n)
	}
	return b.String()
}
