package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// sourceLayer is the build context (what .dockerignore lets through) under
// the plan's destination, owned as COPY --chown says, symlinks kept as links.
func (d *Daemonless) sourceLayer(ctx context.Context, req Request, p *Plan) (v1.Layer, error) {
	pm, err := dockerignore(req.Dir)
	if err != nil {
		return nil, err
	}
	var entries []layerEntry
	err = filepath.WalkDir(req.Dir, func(full string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, _ := filepath.Rel(req.Dir, full)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if pm != nil {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if de.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		e := layerEntry{name: path.Join(p.SourceDest, rel), mode: int64(info.Mode().Perm()), uid: p.UID, gid: p.GID}
		switch {
		case de.IsDir():
			e.dir = true
		case info.Mode()&fs.ModeSymlink != 0:
			if e.linkname, err = os.Readlink(full); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if e.data, err = os.ReadFile(full); err != nil {
				return err
			}
		default:
			return nil // sockets, devices: docker refuses them; draft leaves them out
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the app's source: %w", err)
	}
	return d.layer(entries)
}

// dockerignore reads the app's .dockerignore; nil when there is none.
func dockerignore(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	return patternmatcher.New(patterns)
}
