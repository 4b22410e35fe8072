package watch

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// LimitError is a system limit on file watching that was hit: too few inotify
// watches (ENOSPC) or too many inotify instances or open files (EMFILE). Its
// message says how to raise the limit.
type LimitError struct {
	Dir     string // the directory that could not be watched
	Setting string // the sysctl to raise, e.g. fs.inotify.max_user_watches
	Err     error  // syscall.ENOSPC or syscall.EMFILE
	Watches int    // directories watched when it was hit
}

func (e *LimitError) Error() string {
	current := ""
	if v, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(e.Setting, ".", "/")); err == nil {
		current = "=" + strings.TrimSpace(string(v))
	}
	if runtime.GOOS != "linux" {
		return fmt.Sprintf("watching %s needs more open files than the process may have (%d directories watched): raise the limit with ulimit -n, or leave big folders out in .dockerignore or .draftignore", e.Dir, e.Watches)
	}
	if e.Setting == maxWatches {
		return fmt.Sprintf("watching %s needs more inotify watches than the system allows (%s%s, %d directories watched): raise it with sudo sysctl %s=524288, or leave big folders out in .dockerignore or .draftignore",
			e.Dir, e.Setting, current, e.Watches, e.Setting)
	}
	return fmt.Sprintf("watching %s needs an inotify instance and there are too many (%s%s, or the open files limit): raise it with sudo sysctl %s=1024 (or ulimit -n), or stop other file watchers",
		e.Dir, e.Setting, current, e.Setting)
}

func (e *LimitError) Unwrap() error { return e.Err }

const (
	maxWatches   = "fs.inotify.max_user_watches"
	maxInstances = "fs.inotify.max_user_instances"
)

// limitError turns the errors of a system limit into a LimitError, and
// leaves the others as they are.
func limitError(dir string, err error, watches int) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return &LimitError{Dir: dir, Setting: maxWatches, Err: syscall.ENOSPC, Watches: watches}
	case errors.Is(err, syscall.EMFILE):
		return &LimitError{Dir: dir, Setting: maxInstances, Err: syscall.EMFILE, Watches: watches}
	}
	return err
}
