package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sourceLayer is the build context as COPY . DEST sees it (what .dockerignore
// lets through, symlinks kept as links, never followed) under the plan's
// destination, owned as COPY --chown says. DEST and its parents are made as
// root's, as WORKDIR would. The context is streamed into the layer, a file at
// a time: memory does not grow with the size of the tree.
func (d *Daemonless) sourceLayer(ctx context.Context, req Request, p *Plan) (v1.Layer, error) {
	rc, err := ContextTar(ctx, req.Dir, req.Dockerfile, WithOwner(p.UID, p.GID), WithPrefix(p.SourceDest),
		WithoutIgnoredBuildFiles(), WithModTime(d.epoch))
	if err != nil {
		return nil, fmt.Errorf("reading the app's source: %w", err)
	}
	defer rc.Close()
	w, err := d.newLayerWriter()
	if err != nil {
		return nil, err
	}
	defer w.abort()
	dest := path.Clean("/" + p.SourceDest)
	if err := w.add(layerEntry{name: dest, mode: 0o755, dir: true}, 0, nil); err != nil {
		return nil, err
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the app's source: %w", err)
		}
		e := layerEntry{name: path.Join("/", h.Name), mode: h.Mode, uid: h.Uid, gid: h.Gid}
		if e.name == dest {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			e.dir = true
		case tar.TypeSymlink:
			e.linkname = h.Linkname
		case tar.TypeReg:
		default:
			continue
		}
		if err := w.add(e, h.Size, tr); err != nil {
			return nil, fmt.Errorf("reading the app's source: %w", err)
		}
	}
	return w.finish()
}

// folderLayer is a folder of the build context (as .dockerignore lets it
// through) at f.Dest, owned by root, as COPY --from a stage that copied the
// context makes it.
func (d *Daemonless) folderLayer(ctx context.Context, req Request, f ContextCopy) (v1.Layer, error) {
	rc, err := ContextTar(ctx, req.Dir, req.Dockerfile, WithOnly(f.Src), WithoutIgnoredBuildFiles(), WithModTime(d.epoch))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Src, err)
	}
	defer rc.Close()
	w, err := d.newLayerWriter()
	if err != nil {
		return nil, err
	}
	defer w.abort()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Src, err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), f.Src), "/")
		e := layerEntry{name: path.Join(f.Dest, rel), mode: h.Mode}
		switch h.Typeflag {
		case tar.TypeDir:
			e.dir = true
		case tar.TypeSymlink:
			e.linkname = h.Linkname
		case tar.TypeReg:
		default:
			continue
		}
		if err := w.add(e, h.Size, tr); err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Src, err)
		}
	}
	return w.finish()
}
