package detect

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/go-enry/go-enry/v2"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// sniffBytes is how much of a file is read when its extension alone cannot tell its language.
const sniffBytes = 16 << 10

// skipDirNames are directories never worth entering, beyond what linguist calls
// vendored: local environments and caches that are never the application.
var skipDirNames = map[string]bool{
	"venv": true, "__pycache__": true, "site-packages": true, "bower_components": true,
}

// counts is what the walk learns: bytes and files per language, and how many
// files were looked at, skipped or read.
type counts struct {
	bytes    map[string]int64
	files    map[string]int
	seen     int
	sniffed  int
	skipDirs []string
}

// add merges another directory's counts.
func (c *counts) add(o *counts) {
	for l, b := range o.bytes {
		c.bytes[l] += b
	}
	for l, n := range o.files {
		c.files[l] += n
	}
	c.seen += o.seen
	c.sniffed += o.sniffed
	c.skipDirs = append(c.skipDirs, o.skipDirs...)
}

func newCounts() *counts { return &counts{bytes: map[string]int64{}, files: map[string]int{}} }

// walker walks a tree once, on every core: each directory is read by a
// goroutine of its own (at most GOMAXPROCS at a time), since the walk is
// mostly system calls (read the directory, stat the source files). A
// directory's .gitignore applies to what is below it, so the patterns are
// handed down the tree rather than shared.
type walker struct {
	root string
	sem  chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	c        *counts
	err      error           // the first error that ends the walk (the root unreadable, ctx)
	skipName map[string]bool // file names already judged by skipFile
}

func walkTree(ctx context.Context, root string) (*counts, error) {
	w := &walker{root: root, sem: make(chan struct{}, runtime.GOMAXPROCS(0)), skipName: map[string]bool{}, c: newCounts()}
	w.spawn(ctx, "", nil, nil)
	w.wg.Wait()
	if w.err != nil {
		return nil, w.err
	}
	sort.Strings(w.c.skipDirs)
	return w.c, nil
}

func (w *walker) spawn(ctx context.Context, rel string, parts []string, patterns []gitignore.Pattern) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.sem <- struct{}{}
		local := newCounts()
		err := w.dir(ctx, rel, parts, patterns, local)
		<-w.sem
		w.mu.Lock()
		defer w.mu.Unlock()
		w.c.add(local)
		if err != nil && w.err == nil {
			w.err = err
		}
	}()
}

// dir reads the directory rel (slash-separated, "" for the root; parts is rel
// split), counts its files into c and starts a walk of each subdirectory.
func (w *walker) dir(ctx context.Context, rel string, parts []string, patterns []gitignore.Pattern, c *counts) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel)))
	if err != nil {
		if rel == "" {
			return err
		}
		return nil // an unreadable subdirectory is not the app's main code
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil && rel == "" {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".gitignore" && e.Type().IsRegular() {
			patterns = w.addIgnoreFile(rel, parts, patterns)
			break
		}
	}
	var matcher gitignore.Matcher
	if len(patterns) > 0 {
		matcher = gitignore.NewMatcher(patterns)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // .git, .venv, .idea, dotfiles: never the application
		}
		typ := e.Type()
		if typ&os.ModeSymlink != 0 || !(typ.IsDir() || typ.IsRegular()) {
			continue // symlinks are not followed: no loops, nothing outside the tree
		}
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		childParts := append(parts[:len(parts):len(parts)], name)
		if matcher != nil && matcher.Match(childParts, typ.IsDir()) {
			continue
		}
		if typ.IsDir() {
			if skipDirNames[name] || enry.IsVendor(childRel+"/") || enry.IsDocumentation(childRel+"/") {
				c.skipDirs = append(c.skipDirs, childRel+"/")
				continue
			}
			w.spawn(ctx, childRel, childParts, patterns)
			continue
		}
		w.file(childRel, name, e, c)
	}
	return nil
}

// addIgnoreFile returns patterns with those of rel/.gitignore added.
func (w *walker) addIgnoreFile(rel string, parts []string, patterns []gitignore.Pattern) []gitignore.Pattern {
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel), ".gitignore"))
	if err != nil {
		return patterns
	}
	defer f.Close()
	out := patterns[:len(patterns):len(patterns)] // never write into the parent's slice
	domain := parts[:len(parts):len(parts)]
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, gitignore.ParsePattern(line, domain))
	}
	return out
}

// file classifies one regular file by name; it reads the file only when the
// extension is shared by several languages.
func (w *walker) file(rel, name string, e os.DirEntry, c *counts) {
	c.seen++
	candidates := enry.GetLanguagesByExtension(name, nil, nil)
	if len(candidates) == 0 {
		candidates = enry.GetLanguagesByFilename(name, nil, nil)
	}
	if len(candidates) == 0 {
		return // no known extension: not source code (binaries, data, images)
	}
	if !anyProgramming(candidates) {
		return
	}
	if w.skipFile(name) {
		return // vendored, documentation, bundled or generated, judged by name alone
	}
	info, err := e.Info()
	if err != nil || info.Size() == 0 {
		return
	}
	lang := candidates[0]
	if len(candidates) > 1 {
		content, ok := w.sniff(rel, c)
		if !ok {
			return
		}
		lang = enry.GetLanguage(name, content)
		if lang == "" {
			lang = candidates[0]
		}
	}
	if enry.GetLanguageType(lang) != enry.Programming {
		return
	}
	c.bytes[lang] += info.Size()
	c.files[lang]++
}

// skipFile reports whether a file is vendored, documentation, bundled or
// generated by its name. Directories were judged on the way down, so only the
// file's own name is matched (a short string for go-enry's regular
// expressions), and the verdict is remembered per name: trees repeat names
// (index.js, __init__.py) and the regular expressions are the walk's main cost.
func (w *walker) skipFile(name string) bool {
	w.mu.Lock()
	skip, ok := w.skipName[name]
	w.mu.Unlock()
	if !ok {
		skip = enry.IsVendor(name) || enry.IsDocumentation(name) || isBundle(name) || enry.IsGenerated(name, nil)
		w.mu.Lock()
		w.skipName[name] = skip
		w.mu.Unlock()
	}
	return skip
}

// sniff reads the head of a file; ok is false for binary content.
func (w *walker) sniff(rel string, c *counts) ([]byte, bool) {
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	c.sniffed++
	buf := make([]byte, sniffBytes)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, false
	}
	buf = buf[:n]
	if enry.IsBinary(buf) || bytes.IndexByte(buf, 0) >= 0 {
		return nil, false
	}
	return buf, true
}

func anyProgramming(langs []string) bool {
	for _, l := range langs {
		if enry.GetLanguageType(l) == enry.Programming {
			return true
		}
	}
	return false
}

// isBundle reports names that bundlers give their output (app.bundle.js, main.chunk.js).
func isBundle(name string) bool {
	n := strings.ToLower(name)
	if !strings.HasSuffix(n, ".js") && !strings.HasSuffix(n, ".mjs") && !strings.HasSuffix(n, ".cjs") {
		return false
	}
	base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, ".js"), ".mjs"), ".cjs")
	return base == "bundle" || strings.HasSuffix(base, ".bundle") || strings.HasSuffix(base, "-bundle") ||
		strings.HasSuffix(base, ".chunk") || strings.HasSuffix(base, ".min")
}
