package pack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Written reports what Write did with each file.
type Written struct {
	Wrote []string // files written (created, or replaced under force)
	Kept  []string // files that existed and were left as they were
}

// Write writes files under dir. A file that exists is kept as it is unless
// force is set; then it is replaced atomically (write to a temporary file,
// rename over). Files are written in the order given.
func Write(dir string, files []File, force bool) (Written, error) {
	var w Written
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return w, fmt.Errorf("creating the folder of %s: %w", f.Path, err)
		}
		_, err := os.Lstat(target)
		exists := err == nil
		switch {
		case exists && !force:
			w.Kept = append(w.Kept, f.Path)
			continue
		case exists:
			if err := replace(target, f); err != nil {
				return w, err
			}
		default:
			if err := create(target, f); err != nil {
				if errors.Is(err, fs.ErrExist) { // appeared meanwhile: still never overwrite
					w.Kept = append(w.Kept, f.Path)
					continue
				}
				return w, fmt.Errorf("writing %s: %w", f.Path, err)
			}
		}
		w.Wrote = append(w.Wrote, f.Path)
	}
	return w, nil
}

func create(target string, f File) error {
	fh, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(f.Data); err != nil {
		fh.Close()
		os.Remove(target)
		return err
	}
	return fh.Close()
}

func replace(target string, f File) error {
	tmp, err := os.CreateTemp(filepath.Dir(target), ".draft-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(f.Data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := tmp.Chmod(f.Mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("replacing %s: %w", f.Path, err)
	}
	return nil
}
