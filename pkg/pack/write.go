package pack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Written reports what Write did with each file.
type Written struct {
	Wrote []string // files written (created, or replaced under force)
	Kept  []string // files that existed and were left as they were
}

// Write writes files under dir. A file that exists is kept as it is unless
// force is set; then it is replaced atomically (write to a temporary file,
// rename over). Files are written in the order given. Every path is resolved
// inside dir (os.Root): a symlink, such as a charts link, that leads out of
// the app is refused, never written through. On an error, Written holds what
// was done before it.
func Write(dir string, files []File, force bool) (Written, error) {
	var w Written
	root, err := os.OpenRoot(dir)
	if err != nil {
		return w, fmt.Errorf("opening %s: %w", dir, err)
	}
	defer root.Close()
	for _, f := range files {
		name := path.Clean(f.Path)
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return w, writeError("creating the folder of", f.Path, err)
			}
		}
		_, err := root.Lstat(name)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return w, writeError("checking", f.Path, err)
		}
		switch {
		case exists && !force:
			w.Kept = append(w.Kept, f.Path)
			continue
		case exists:
			if err := replace(root, name, f); err != nil {
				return w, writeError("replacing", f.Path, err)
			}
		default:
			if err := create(root, name, f); err != nil {
				if errors.Is(err, fs.ErrExist) { // appeared meanwhile: still never overwrite
					w.Kept = append(w.Kept, f.Path)
					continue
				}
				return w, writeError("writing", f.Path, err)
			}
		}
		w.Wrote = append(w.Wrote, f.Path)
	}
	return w, nil
}

func writeError(verb, p string, err error) error {
	if strings.Contains(err.Error(), "escapes from parent") {
		return fmt.Errorf("%s %s: a symlink on its path leads out of the app's folder; draft writes only inside it (replace the link with a folder)", verb, p)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s %s: %w", verb, p, err)
}

func create(root *os.Root, name string, f File) error {
	fh, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(f.Data); err != nil {
		fh.Close()
		root.Remove(name)
		return err
	}
	if err := fh.Close(); err != nil {
		root.Remove(name)
		return err
	}
	return nil
}

func replace(root *os.Root, name string, f File) error {
	var b [6]byte
	rand.Read(b[:])
	tmp := path.Join(path.Dir(name), ".draft-"+hex.EncodeToString(b[:]))
	fh, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	defer root.Remove(tmp)
	if _, err := fh.Write(f.Data); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Chmod(f.Mode); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}
