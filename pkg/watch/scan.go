package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// scanJob asks a worker to read a directory, and to watch it first when add
// is set.
type scanJob struct {
	dir string
	add bool
}

// scanned is what a worker found in a directory.
type scanned struct {
	dir       string
	err       error    // adding the watch failed
	subdirs   []string // names of the directories in it
	files     []string // names of the other entries, when they are wanted
	gitignore bool     // it has a .gitignore
}

// scan watches the directory rel and every directory below it that the
// rules do not leave out. Workers do the system calls (add the watch, then
// read the entries, whose types come with them: nothing is stat'ed), as many
// as there are CPUs; this goroutine alone applies the rules and keeps the
// books. When report is set, every path found that is not ignored is
// reported (a directory that appeared while watching: its files may be older
// than its watch). When seen is set, it collects the directories reached.
// A system limit on watches stops the scan with a *LimitError.
func (w *Watcher) scan(ctx context.Context, rel string, report func(string), seen map[string]struct{}) error {
	workers := min(max(runtime.GOMAXPROCS(0), 2), 8)
	jobs := make(chan scanJob)
	results := make(chan scanned, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.scanWorker(jobs, results, report != nil)
		}()
	}
	defer wg.Wait()
	defer close(jobs)

	queue := []string{rel}
	inflight := 0
	var failed error
	for len(queue) > 0 || inflight > 0 {
		if failed == nil {
			if err := ctx.Err(); err != nil {
				failed = err
			}
		}
		if failed != nil {
			queue = nil // wait for the directories in flight, start no more
			if inflight == 0 {
				break
			}
		}
		var send chan<- scanJob
		var next scanJob
		if len(queue) > 0 {
			send = jobs
			next.dir = queue[len(queue)-1]
			_, watched := w.dirs[next.dir]
			next.add = !watched
		}
		select {
		case send <- next:
			queue = queue[:len(queue)-1]
			inflight++
		case r := <-results:
			inflight--
			if err := w.scanned(r, report, seen, &queue); err != nil && failed == nil {
				failed = err
			}
		}
	}
	return failed
}

// scanned books what a worker found in one directory and queues the
// directories below it that the rules let in.
func (w *Watcher) scanned(r scanned, report func(string), seen map[string]struct{}, queue *[]string) error {
	abs := w.abs(r.dir)
	if r.err != nil {
		if le := limitError(w.root, r.err, w.Watches()); le != r.err {
			return le
		}
		if !errors.Is(r.err, os.ErrNotExist) {
			w.logf("not watching %s: %v", abs, r.err)
		}
		return nil // gone already, or not readable
	}
	w.watched(r.dir)
	if seen != nil {
		seen[r.dir] = struct{}{}
	}
	var parts []string
	if r.dir != "." {
		parts = strings.Split(r.dir, "/")
	}
	if r.gitignore {
		w.rules.addGitignore(filepath.Join(abs, gitignoreF), parts)
	}
	child := func(name string) string {
		if r.dir == "." {
			return name
		}
		return r.dir + "/" + name
	}
	for _, name := range r.subdirs {
		c := child(name)
		if w.rules.skipDir(c) {
			w.skipped[c] = struct{}{}
			continue
		}
		*queue = append(*queue, c)
		if report != nil && !w.rules.ignored(c, true) {
			report(c)
		}
	}
	for _, name := range r.files {
		if c := child(name); !w.rules.ignored(c, false) {
			report(c)
		}
	}
	return nil
}

func (w *Watcher) scanWorker(jobs <-chan scanJob, results chan<- scanned, files bool) {
	var d dirReader
	for j := range jobs {
		r := scanned{dir: j.dir}
		abs := w.abs(j.dir)
		if j.add {
			if err := w.add(abs); err != nil {
				r.err = err
				results <- r
				continue
			}
		}
		// A directory that cannot be read (gone already) has no entries.
		_ = d.read(abs, j.dir == ".", func(name []byte, typ entryType) {
			switch {
			case typ == typeDir:
				r.subdirs = append(r.subdirs, string(name))
			case files:
				r.files = append(r.files, string(name))
			}
			if typ == typeFile && string(name) == gitignoreF {
				r.gitignore = true
			}
		})
		results <- r
	}
}

// entryType is what a directory entry is, as far as the walk cares.
type entryType uint8

const (
	typeOther entryType = iota // symlinks (never followed), devices, sockets
	typeDir
	typeFile
)
