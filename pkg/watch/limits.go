package watch

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// LimitError is a system limit on file watching that was hit: too few inotify
// watches (ENOSPC) or too many inotify instances or open files (EMFILE). Its
// message says how to raise the limit.
type LimitError struct {
	Dir     string // the tree being watched
	Setting string // the sysctl to raise, e.g. fs.inotify.max_user_watches
	Limit   int    // its value, or -1 when it could not be read
	Err     error  // syscall.ENOSPC or syscall.EMFILE
	Watches int    // directories watched when it was hit
}

func (e *LimitError) Error() string {
	current := ""
	if e.Limit >= 0 {
		current = "=" + strconv.Itoa(e.Limit)
	}
	switch {
	case runtime.GOOS != "linux":
		return fmt.Sprintf("watching %s needs more open files than the process may have (%d directories watched): raise the limit with ulimit -n, or leave big folders out in .dockerignore or .draftignore", e.Dir, e.Watches)
	case errors.Is(e.Err, syscall.ENOSPC):
		watched := ""
		if e.Watches > 0 {
			watched = fmt.Sprintf(", reached at %d directories", e.Watches)
		}
		return fmt.Sprintf("watching %s needs more inotify watches than the system allows (%s%s%s): raise it with sudo sysctl %s=524288, or leave big folders out in .dockerignore or .draftignore",
			e.Dir, e.Setting, current, watched, e.Setting)
	default:
		return fmt.Sprintf("watching %s needs an inotify instance and there are too many (%s%s, or the open files limit): raise it with sudo sysctl %s=1024 (or ulimit -n), or stop other file watchers",
			e.Dir, e.Setting, current, e.Setting)
	}
}

func (e *LimitError) Unwrap() error { return e.Err }

// limitError turns the errors of a system limit into a LimitError, and
// leaves the others as they are.
func limitError(dir string, err error, watches int) error {
	var e *LimitError
	switch {
	case errors.Is(err, syscall.ENOSPC):
		e = &LimitError{Dir: dir, Err: syscall.ENOSPC, Watches: watches}
		e.Setting, e.Limit = lowest("fs.inotify.max_user_watches", "user.max_inotify_watches")
	case errors.Is(err, syscall.EMFILE):
		e = &LimitError{Dir: dir, Err: syscall.EMFILE, Watches: watches}
		e.Setting, e.Limit = lowest("fs.inotify.max_user_instances", "user.max_inotify_instances")
	default:
		return err
	}
	return e
}

// lowest picks the lower of the system-wide inotify limit and its user
// namespace's (in a container, the latter may be the one that bites).
func lowest(system, namespace string) (string, int) {
	sys, ns := sysctl(system), sysctl(namespace)
	if ns >= 0 && (sys < 0 || ns < sys) {
		return namespace, ns
	}
	return system, sys
}

// sysctl reads an integer sysctl; -1 when it cannot.
func sysctl(name string) int {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}
