package watch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirReader reads directory entries with the getdents64 system call into a
// buffer it keeps: about a third of the time of os.File.ReadDir, which also
// registers the file with the poller and allocates every entry (measured on
// the 10,000 directories of bench/watch). Types come with the entries; only
// a file system that does not give them (DT_UNKNOWN) costs an lstat.
type dirReader struct {
	buf []byte
}

// read calls fn with the name (valid during the call only) and type of each
// entry of dir but . and .. It follows dir if it is a symlink only when
// follow is set (the root may be one; a directory below it that was replaced
// by one since it was listed is not followed out of the tree).
func (d *dirReader) read(dir string, follow bool, fn func(name []byte, typ entryType)) error {
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(dir, flags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, d.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for off := 0; off < n; {
			// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
			reclen := int(*(*uint16)(unsafe.Pointer(&d.buf[off+16])))
			dtype := d.buf[off+18]
			name := d.buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if dtype == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue // gone already
				}
				switch st.Mode & unix.S_IFMT {
				case unix.S_IFDIR:
					dtype = unix.DT_DIR
				case unix.S_IFREG:
					dtype = unix.DT_REG
				}
			}
			switch dtype {
			case unix.DT_DIR:
				fn(name, typeDir)
			case unix.DT_REG:
				fn(name, typeFile)
			default:
				fn(name, typeOther)
			}
		}
	}
}
