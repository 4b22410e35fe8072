package build

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// ContextModTime is the modification time (Unix seconds, 2000-01-01T00:00:00Z)
// of every entry of a context tar, so that an unchanged tree gives the same
// bytes. It is not the Unix epoch because tools that zip the sources inside a
// build (Python's zipfile, for one) refuse times before 1980.
const ContextModTime = 946684800

// TarOption changes how ContextTar writes the build context.
type TarOption func(*tarOptions)

type tarOptions struct {
	uid, gid       int
	modTime        time.Time
	prefix         string
	dropBuildFiles bool
	only           string // a folder of the context: the entries below it alone
}

// WithOnly sends only the entries below the context's folder dir (dir
// itself too), still named by their paths in the context.
func WithOnly(dir string) TarOption {
	return func(o *tarOptions) { o.only = strings.Trim(path.Clean("/"+filepath.ToSlash(dir)), "/") }
}

// WithOwner sets the owner of every entry (0:0 by default).
func WithOwner(uid, gid int) TarOption {
	return func(o *tarOptions) { o.uid, o.gid = uid, gid }
}

// WithModTime sets the modification time of every entry (ContextModTime by
// default).
func WithModTime(t time.Time) TarOption {
	return func(o *tarOptions) { o.modTime = t }
}

// WithPrefix puts every entry under dir ("/app" or "app" gives "app/server.py"),
// as an image layer holding the context at that directory would. The entries
// of dir itself and its parents are not written.
func WithPrefix(dir string) TarOption {
	return func(o *tarOptions) {
		o.prefix = strings.Trim(path.Clean("/"+filepath.ToSlash(dir)), "/")
	}
}

// WithoutIgnoredBuildFiles leaves out the Dockerfile and .dockerignore when
// .dockerignore ignores them. They are sent to a Docker engine all the same
// (it needs them, and removes them before the build runs, as this option
// does), so this is for a tar that stands for what COPY . sees.
func WithoutIgnoredBuildFiles() TarOption {
	return func(o *tarOptions) { o.dropBuildFiles = true }
}

// ContextTar streams the build context of dir as a tar: every file, directory
// and symlink that .dockerignore does not ignore (matched as the docker CLI
// does, "!" exceptions included), plus the Dockerfile and .dockerignore, which
// are always sent. Symlinks are stored as symlinks and never followed, so
// nothing outside dir is ever read. Entries are in a fixed order (depth first,
// by name), with a fixed time and owner, so an unchanged tree gives the same
// bytes. Sockets, pipes and devices are left out.
//
// dockerfile is relative to dir ("" means "Dockerfile") and must be inside it.
// A missing Dockerfile or a malformed .dockerignore is an error at once;
// errors met while walking, and ctx's cancellation, end the stream with that
// error. Closing the reader early stops the walk.
func ContextTar(ctx context.Context, dir, dockerfile string, opts ...TarOption) (io.ReadCloser, error) {
	o := tarOptions{modTime: time.Unix(ContextModTime, 0).UTC()}
	for _, opt := range opts {
		opt(&o)
	}
	src, err := openContext(dir, dockerfile)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer src.close()
		// Cancelling ends the stream at once, with ctx's error for the
		// reader, even when nobody reads and the writer is blocked.
		stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
		defer stop()
		pw.CloseWithError(src.writeTar(ctx, pw, o))
	}()
	return &contextReader{pr: pr, done: done}, nil
}

// contextReader is the read end of ContextTar; Close waits for the walk to end.
type contextReader struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (r *contextReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

func (r *contextReader) Close() error {
	r.pr.CloseWithError(errors.New("the build context was closed before it was all read"))
	<-r.done
	return nil
}

// ContextDigest is the sha256 (64 hex digits, usable as an image tag) of the
// build inputs: the path, mode and content (or symlink target) of every entry
// ContextTar would send, the Dockerfile's name and content, and the build
// args. A change to any file that is sent changes it; a change to an ignored
// file does not.
func ContextDigest(dir, dockerfile string, buildArgs map[string]string) (string, error) {
	c, err := Inspect(dir, dockerfile, buildArgs)
	if err != nil {
		return "", err
	}
	return c.Digest, nil
}

// Context is what Inspect found in a build context.
type Context struct {
	Digest string // ContextDigest's
	// Secrets are the paths sent to the build (so into an image that copies
	// the context) that SecretPatterns match: a folder stands for its files.
	Secrets []string
}

// Inspect reads the build context once: its digest (see ContextDigest) and
// the files in it that look like secrets.
func Inspect(dir, dockerfile string, buildArgs map[string]string) (*Context, error) {
	src, err := openContext(dir, dockerfile)
	if err != nil {
		return nil, err
	}
	defer src.close()
	out := &Context{}
	h := &contextHash{h: sha256.New(), buf: make([]byte, 32<<10)}
	h.field("draft build context v1")
	err = src.walk(context.Background(), func(e ctxEntry) error {
		if !src.ignored[e.path] && !src.chosen[e.path] && secretPath(e.path) {
			out.Secrets = append(out.Secrets, e.path)
		}
		return h.entry(src, e)
	})
	if err != nil {
		return nil, err
	}
	// The Dockerfile is also hashed through any symlink (inside dir) it is.
	df, err := src.root.ReadFile(src.dockerfile)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile %s: %w", src.show(src.dockerfile), err)
	}
	h.field("dockerfile")
	h.field(src.dockerfile)
	h.field(string(df))
	keys := slices.Sorted(maps.Keys(buildArgs))
	h.field("build args")
	h.number(int64(len(keys)))
	for _, k := range keys {
		h.field(k)
		h.field(buildArgs[k])
	}
	out.Digest = hex.EncodeToString(h.h.Sum(nil))
	out.Secrets = sortedUnique(out.Secrets)
	return out, nil
}

// contextHash hashes a build context: each field length-prefixed, so that
// no two contexts give the same stream.
type contextHash struct {
	h       hash.Hash
	scratch []byte
	buf     []byte // for copying files
}

func (c *contextHash) field(s string) {
	c.scratch = binary.AppendUvarint(c.scratch[:0], uint64(len(s)))
	c.scratch = append(c.scratch, s...)
	c.h.Write(c.scratch)
}

func (c *contextHash) number(n int64) {
	c.scratch = binary.AppendVarint(c.scratch[:0], n)
	c.h.Write(c.scratch)
}

// entry hashes one entry of the context: a folder or a symlink by its
// name, mode or target; a file with its content, which must not change
// while it is read.
func (c *contextHash) entry(src *contextSource, e ctxEntry) error {
	switch {
	case e.mode.IsDir():
		c.field("d")
		c.field(e.path)
		c.number(tarMode(e.mode))
	case e.mode&fs.ModeSymlink != 0:
		c.field("l")
		c.field(e.path)
		c.field(e.link)
	default:
		f, size, err := src.openFile(e.path)
		if err != nil {
			return err
		}
		defer f.Close()
		c.field("f")
		c.field(e.path)
		c.number(tarMode(e.mode))
		c.number(size)
		n, err := io.CopyBuffer(c.h, io.LimitReader(f, size), c.buf)
		if err != nil {
			return fmt.Errorf("reading %s: %w", src.show(e.path), err)
		}
		if n != size {
			return fmt.Errorf("reading %s: it changed while draft read it", src.show(e.path))
		}
	}
	return nil
}

// contextSource is an app directory opened as a build context.
type contextSource struct {
	dir        string
	root       *os.Root // every read goes through it: nothing outside dir
	dockerfile string   // slash path relative to dir
	ignore     *patternmatcher.PatternMatcher
	// ignored lists the build files that .dockerignore ignores: they are
	// sent all the same, and the daemon removes them before building.
	ignored map[string]bool
	// chosen are the paths .dockerignore lets in by name ("!.env"): a
	// secret-like file so named was chosen, and is not warned of.
	chosen map[string]bool
}

type ctxEntry struct {
	path string      // slash path relative to the context
	mode fs.FileMode // from lstat
	link string      // a symlink's target, as it is written
}

// openContext opens dir, checks the Dockerfile and reads .dockerignore.
func openContext(dir, dockerfile string) (*contextSource, error) {
	if dir == "" {
		dir = "."
	}
	df, err := relDockerfile(dir, dockerfile)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the build context: %w", err)
	}
	src := &contextSource{dir: dir, root: root, dockerfile: df}
	if err := src.load(); err != nil {
		root.Close()
		return nil, err
	}
	return src, nil
}

func (c *contextSource) load() error {
	fi, err := c.root.Stat(c.dockerfile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("there is no Dockerfile at %s: run draft create, or name yours with dockerfile in draft.toml", c.show(c.dockerfile))
	case err != nil:
		return fmt.Errorf("reading the Dockerfile %s: %w", c.show(c.dockerfile), err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("the Dockerfile %s is not a file", c.show(c.dockerfile))
	}

	f, err := c.root.Open(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.show(".dockerignore"), err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.show(".dockerignore"), err)
	}
	if len(patterns) == 0 {
		return nil
	}
	for _, p := range patterns {
		if name, ok := strings.CutPrefix(p, "!"); ok && !strings.ContainsAny(name, "*?[") {
			if c.chosen == nil {
				c.chosen = map[string]bool{}
			}
			c.chosen[strings.Trim(path.Clean("/"+name), "/")] = true
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("%s has a bad pattern: %w", c.show(".dockerignore"), err)
	}
	// As the docker CLI does: the Dockerfile and .dockerignore are sent even
	// when ignored (the daemon needs them, and removes them itself), by
	// adding exceptions for them after the user's patterns.
	c.ignored = map[string]bool{}
	for _, name := range []string{".dockerignore", c.dockerfile} {
		if ignored, _ := pm.MatchesOrParentMatches(name); ignored && !c.ignored[name] {
			c.ignored[name] = true
			patterns = append(patterns, "!"+name)
		}
	}
	if len(c.ignored) > 0 {
		if pm, err = patternmatcher.New(patterns); err != nil {
			return fmt.Errorf("%s has a bad pattern: %w", c.show(".dockerignore"), err)
		}
	}
	c.ignore = pm
	return nil
}

// relDockerfile returns the Dockerfile's slash path relative to dir.
func relDockerfile(dir, dockerfile string) (string, error) {
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	rel := filepath.Clean(dockerfile)
	if filepath.IsAbs(rel) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("opening the build context: %w", err)
		}
		if rel, err = filepath.Rel(abs, rel); err != nil {
			rel = ".."
		}
	}
	rel = filepath.ToSlash(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("the Dockerfile %s is not inside the app directory %s: draft sends only that directory to the builder", dockerfile, dir)
	}
	return rel, nil
}

func (c *contextSource) close() { c.root.Close() }

// show names a path of the context for a message.
func (c *contextSource) show(rel string) string { return filepath.Join(c.dir, filepath.FromSlash(rel)) }

// walk calls fn for every entry that is sent, parents before children, each
// directory's entries by name. It never follows a symlink.
func (c *contextSource) walk(ctx context.Context, fn func(ctxEntry) error) error {
	var parents map[string]patternmatcher.MatchInfo
	if c.ignore != nil {
		parents = map[string]patternmatcher.MatchInfo{}
	}
	return fs.WalkDir(c.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading the build context: %w", err)
		}
		if p == "." {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.ignore != nil {
			ignored, info, err := c.ignore.MatchesUsingParentResults(p, parents[path.Dir(p)])
			if err != nil {
				return fmt.Errorf("matching %s against .dockerignore: %w", p, err)
			}
			if d.IsDir() {
				parents[p] = info
			}
			if ignored {
				if d.IsDir() && !c.exceptionInside(p) {
					return fs.SkipDir
				}
				// An ignored directory with an exception inside it: walk
				// it for the exceptions, but do not send the directory.
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading the build context: %w", err)
		}
		e := ctxEntry{path: p, mode: info.Mode()}
		switch {
		case e.mode&fs.ModeSymlink != 0:
			if e.link, err = c.root.Readlink(p); err != nil {
				return fmt.Errorf("reading the build context: %w", err)
			}
		case e.mode.IsDir(), e.mode.IsRegular():
		default:
			return nil // sockets, pipes and devices are no part of a build
		}
		return fn(e)
	})
}

// exceptionInside reports whether an exception pattern could keep something
// inside the ignored directory dir, so that it must be walked: the rule of the
// docker CLI (an exception whose pattern starts with the directory's path).
func (c *contextSource) exceptionInside(dir string) bool {
	if !c.ignore.Exclusions() {
		return false
	}
	for _, p := range c.ignore.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// openFile opens a regular file of the context and returns its size.
func (c *contextSource) openFile(rel string) (*os.File, int64, error) {
	f, err := c.root.Open(rel)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", c.show(rel), err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("it changed while draft read it")
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("reading %s: %w", c.show(rel), err)
	}
	return f, fi.Size(), nil
}

func (c *contextSource) writeTar(ctx context.Context, w io.Writer, o tarOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 32<<10)
	err := c.walk(ctx, func(e ctxEntry) error {
		if o.dropBuildFiles && c.ignored[e.path] {
			return nil
		}
		if o.only != "" && e.path != o.only && !strings.HasPrefix(e.path, o.only+"/") {
			return nil
		}
		name := e.path
		if o.prefix != "" {
			name = o.prefix + "/" + name
		}
		hdr := &tar.Header{
			Name:    name,
			Mode:    tarMode(e.mode),
			Uid:     o.uid,
			Gid:     o.gid,
			ModTime: o.modTime,
		}
		switch {
		case e.mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			return tw.WriteHeader(hdr)
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.link
			return tw.WriteHeader(hdr)
		}
		f, size, err := c.openFile(e.path)
		if err != nil {
			return err
		}
		defer f.Close()
		hdr.Typeflag = tar.TypeReg
		hdr.Size = size
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.CopyBuffer(tw, ctxReader{ctx, io.LimitReader(f, size)}, buf)
		if err == nil && n != size {
			err = errors.New("it changed while draft read it")
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("reading %s: %w", c.show(e.path), err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// tarMode is a file's mode as a tar header holds it: permissions and the
// setuid, setgid and sticky bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
