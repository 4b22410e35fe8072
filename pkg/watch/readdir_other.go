//go:build !linux

package watch

import "os"

// dirReader reads directory entries with os.File.ReadDir.
type dirReader struct{}

// read calls fn with the name and type of each entry of dir.
func (d *dirReader) read(dir string, _ bool, fn func(name []byte, typ entryType)) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(1024)
		for _, e := range entries {
			typ := typeOther
			switch {
			case e.Type().IsDir():
				typ = typeDir
			case e.Type().IsRegular():
				typ = typeFile
			}
			fn([]byte(e.Name()), typ)
		}
		if err != nil || len(entries) == 0 {
			return nil
		}
	}
}
