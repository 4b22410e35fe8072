package detect

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

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

// walker walks a tree once, honouring .gitignore files as it meets them.
type walker struct {
	root     string
	patterns []gitignore.Pattern
	matcher  gitignore.Matcher
	c        counts
}

func walkTree(ctx context.Context, root string) (*counts, error) {
	w := &walker{root: root, c: counts{bytes: map[string]int64{}, files: map[string]int{}}}
	if err := w.dir(ctx, "", nil); err != nil {
		return nil, err
	}
	return &w.c, nil
}

// dir walks the directory rel (slash-separated, "" for the root); parts is rel split.
func (w *walker) dir(ctx context.Context, rel string, parts []string) error {
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
			w.addIgnoreFile(rel, parts)
			break
		}
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
		if w.matcher != nil && w.matcher.Match(childParts, typ.IsDir()) {
			continue
		}
		if typ.IsDir() {
			if skipDirNames[name] || enry.IsVendor(childRel+"/") || enry.IsDocumentation(childRel+"/") {
				w.c.skipDirs = append(w.c.skipDirs, childRel+"/")
				continue
			}
			if err := w.dir(ctx, childRel, childParts); err != nil {
				return err
			}
			continue
		}
		w.file(childRel, name, e)
	}
	return nil
}

func (w *walker) addIgnoreFile(rel string, parts []string) {
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel), ".gitignore"))
	if err != nil {
		return
	}
	defer f.Close()
	domain := parts[:len(parts):len(parts)]
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w.patterns = append(w.patterns, gitignore.ParsePattern(line, domain))
	}
	w.matcher = gitignore.NewMatcher(w.patterns)
}

// file classifies one regular file by name; it reads the file only when the
// extension is shared by several languages.
func (w *walker) file(rel, name string, e os.DirEntry) {
	w.c.seen++
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
	if enry.IsVendor(rel) || enry.IsDocumentation(rel) || isBundle(name) || enry.IsGenerated(rel, nil) {
		return // vendored, documentation, bundled or generated, judged by name alone
	}
	info, err := e.Info()
	if err != nil || info.Size() == 0 {
		return
	}
	lang := candidates[0]
	if len(candidates) > 1 {
		content, ok := w.sniff(rel)
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
	w.c.bytes[lang] += info.Size()
	w.c.files[lang]++
}

// sniff reads the head of a file; ok is false for binary content.
func (w *walker) sniff(rel string) ([]byte, bool) {
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	w.c.sniffed++
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
