package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"

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
