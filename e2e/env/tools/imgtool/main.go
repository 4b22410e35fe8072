// imgtool: the image plumbing of e2e/env (no Docker daemon involved).
//
//	imgtool push   --ref 127.0.0.1:5000/pause:3.10 --file ./pause=/pause [--entrypoint CMD] [--user U]
//	               [--port N] [--env K=V] [--label K=V] [--skip-existing]
//	    a one-layer linux/amd64 image made of local files, pushed to REF.
//	imgtool layout --rootfs rootfs.tar.gz --out DIR [--env K=V] [--cmd JSON] [--entrypoint JSON]
//	               [--workdir D] [--user U] [--label K=V]
//	    a one-layer image made of a root filesystem tarball (gzip kept as is),
//	    written as an OCI image layout (the cache of e2e/env/images).
//	imgtool sync   [--jobs N] DIR=REF[,REF...] ...
//	    makes sure every REF names the image of the layout DIR: a REF whose
//	    manifest already has the right digest is left alone, blobs the
//	    registry already has are not uploaded again.
//
// Registries on loopback are spoken to over plain HTTP.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

const usage = "usage: imgtool push|layout|sync [flags] (see the comment at the top of e2e/env/tools/imgtool/main.go)"

func main() {
	if len(os.Args) < 2 {
		fail(usage)
	}
	var err error
	switch os.Args[1] {
	case "push":
		err = cmdPush(os.Args[2:])
	case "layout":
		err = cmdLayout(os.Args[2:])
	case "sync":
		err = cmdSync(os.Args[2:])
	default:
		fail(usage)
	}
	if err != nil {
		fail("imgtool " + os.Args[1] + ": " + err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

// config holds the image settings shared by push and layout.
type config struct {
	entry, cmd, user, workdir string
	envs, labels, ports       multi
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.entry, "entrypoint", "", "entrypoint: a JSON array or space-separated words")
	fs.StringVar(&c.cmd, "cmd", "", "cmd: a JSON array or space-separated words")
	fs.StringVar(&c.user, "user", "", "user")
	fs.StringVar(&c.workdir, "workdir", "", "working directory")
	fs.Var(&c.envs, "env", "K=V environment (repeatable; PATH defaults to the usual Debian one)")
	fs.Var(&c.labels, "label", "K=V label (repeatable)")
	fs.Var(&c.ports, "port", "exposed TCP port (repeatable)")
}

func words(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("bad JSON array %q: %w", s, err)
		}
		return out, nil
	}
	return strings.Fields(s), nil
}

func (c *config) apply(img v1.Image, created time.Time) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: created}
	if cf.Config.Entrypoint, err = words(c.entry); err != nil {
		return nil, err
	}
	if cf.Config.Cmd, err = words(c.cmd); err != nil {
		return nil, err
	}
	cf.Config.User = c.user
	cf.Config.WorkingDir = c.workdir
	env := []string{}
	hasPath := false
	for _, e := range c.envs {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("--env %q: want K=V", e)
		}
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
		env = append(env, e)
	}
	if !hasPath {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	cf.Config.Env = env
	if len(c.ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ports {
			cf.Config.ExposedPorts[p+"/tcp"] = struct{}{}
		}
	}
	if len(c.labels) > 0 {
		cf.Config.Labels = map[string]string{}
		for _, l := range c.labels {
			k, v, _ := strings.Cut(l, "=")
			cf.Config.Labels[k] = v
		}
	}
	return mutate.ConfigFile(img, cf)
}

// ---------------------------------------------------------------- push

func cmdPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	ref := fs.String("ref", "", "image reference")
	skip := fs.Bool("skip-existing", false, "do nothing when REF already has this exact image")
	var files multi
	fs.Var(&files, "file", "SRC=DEST file to add (mode kept; repeatable)")
	var c config
	c.flags(fs)
	fs.Parse(args)
	if *ref == "" || len(files) == 0 {
		return fmt.Errorf("--ref and at least one --file are required")
	}
	tag, err := name.ParseReference(*ref, name.Insecure)
	if err != nil {
		return err
	}
	layer, err := filesLayer(files)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	if img, err = c.apply(img, time.Unix(0, 0)); err != nil {
		return err
	}
	dg, err := img.Digest()
	if err != nil {
		return err
	}
	if *skip {
		if d, err := remote.Head(tag); err == nil && d.Digest == dg {
			return nil
		}
	}
	if err := remote.Write(tag, img); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	fmt.Printf("%s@%s\n", tag.Name(), dg)
	return nil
}

func filesLayer(files []string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	epoch := time.Unix(0, 0)
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok {
			dst = "/" + filepath.Base(src)
		}
		dst = strings.TrimPrefix(path.Clean("/"+dst), "/")
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		var parents []string
		for d := path.Dir(dst); d != "." && d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: dst, Typeflag: tar.TypeReg, Mode: int64(st.Mode().Perm()), Size: int64(len(data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// ---------------------------------------------------------------- layout

func cmdLayout(args []string) error {
	fs := flag.NewFlagSet("layout", flag.ExitOnError)
	rootfs := fs.String("rootfs", "", "root filesystem tarball (.tar or .tar.gz)")
	out := fs.String("out", "", "OCI layout directory to (re)write")
	var c config
	c.flags(fs)
	fs.Parse(args)
	if *rootfs == "" || *out == "" {
		return fmt.Errorf("--rootfs and --out are required")
	}
	st, err := os.Stat(*rootfs)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(*rootfs)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	if img, err = c.apply(img, st.ModTime().UTC().Truncate(time.Second)); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	os.RemoveAll(*out)
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	dg, _ := img.Digest()
	fmt.Println(dg)
	return nil
}

// ---------------------------------------------------------------- sync

func layoutImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s: want 1 image, found %d", dir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

func cmdSync(args []string) error {
	fs := flag.NewFlagSet("sync", flag.ExitOnError)
	jobs := fs.Int("jobs", 3, "images pushed at once")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("want DIR=REF[,REF...] arguments")
	}
	type job struct {
		dir  string
		refs []name.Reference
	}
	var todo []job
	for _, a := range fs.Args() {
		dir, list, ok := strings.Cut(a, "=")
		if !ok || list == "" {
			return fmt.Errorf("%q: want DIR=REF[,REF...]", a)
		}
		j := job{dir: dir}
		for _, r := range strings.Split(list, ",") {
			ref, err := name.ParseReference(r, name.Insecure)
			if err != nil {
				return err
			}
			j.refs = append(j.refs, ref)
		}
		todo = append(todo, j)
	}
	var (
		mu      sync.Mutex
		errs    []string
		pushed  int
		present int
		wg      sync.WaitGroup
		sem     = make(chan struct{}, max(1, *jobs))
	)
	for _, j := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			img, err := layoutImage(j.dir)
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			dg, err := img.Digest()
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			for _, ref := range j.refs {
				if d, err := remote.Head(ref); err == nil && d.Digest == dg {
					mu.Lock()
					present++
					mu.Unlock()
					continue
				}
				t := time.Now()
				err := remote.Write(ref, img)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("pushing %s: %v", ref, err))
				} else {
					pushed++
					fmt.Fprintf(os.Stderr, "pushed %s (%.1fs)\n", ref, time.Since(t).Seconds())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "images: %d pushed, %d already there\n", pushed, present)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
