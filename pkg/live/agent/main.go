// Command draft-agent is draft's program in the pods of watch mode: it starts
// the app as its child, and takes files and restart requests from draft over
// the pod's loopback, which draft reaches through the API server's
// port-forward. It listens on 127.0.0.1 only: nothing listens on the pod's
// address, and only whoever may port-forward to the pod reaches it. It
// needs nothing of the image (no shell, no tar): it is static, and writes
// the files itself.
//
// It is the container's first process: it passes signals to the app, reaps
// orphans, and exits as the app exits (with its status), so that the
// kubelet's restarts and draft's diagnosis see the app, not the agent. It
// starts the app when draft has given it the files synced so far (a new pod
// gets them before it serves), or after DRAFT_AGENT_WAIT without a word.
//
// The protocol, per connection: one line of JSON (a request), then for a
// sync the request's size in bytes of a tar stream (files and folders to
// write under the root; an entry named .draft-delete lists paths to remove,
// one per line); one line of JSON back (a reply).
//
// It uses the standard library only, so that it stays small (draft builds
// it from this file for the image's platform).
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The agent's settings, from its environment (draft sets them in the image).
const (
	envListen = "DRAFT_AGENT_LISTEN" // address to listen on (127.0.0.1:7471)
	envRoot   = "DRAFT_AGENT_ROOT"   // what the tar's paths are relative to (the image's source folder)
	envPort   = "DRAFT_AGENT_PORT"   // the app's port, waited for after a restart (0: not waited for)
	envWait   = "DRAFT_AGENT_WAIT"   // seconds to wait for draft before the app starts with the image's files
	envGrace  = "DRAFT_AGENT_GRACE"  // seconds between SIGTERM and SIGKILL at a restart
	envExec   = "DRAFT_AGENT_EXEC"   // a binary that replaces the command's, once draft has put one there
)

// deleteList is the tar entry that lists the paths to remove.
const deleteList = ".draft-delete"

// Request is what draft asks.
type Request struct {
	Op      string `json:"op"`                // "status" or "sync"
	Size    int64  `json:"size,omitempty"`    // bytes of tar after the line (sync)
	Gen     int64  `json:"gen,omitempty"`     // draft's generation of the files (sync)
	Restart bool   `json:"restart,omitempty"` // restart the app after the files (sync)
	Start   bool   `json:"start,omitempty"`   // start the app if it has not started (sync)
}

// Reply is what the agent answers.
type Reply struct {
	Boot      string  `json:"boot"`    // random, per start of the agent: a new one is a new container
	Gen       int64   `json:"gen"`     // the generation of the files it has
	Running   bool    `json:"running"` // the app runs
	Files     int     `json:"files,omitempty"`
	Deleted   int     `json:"deleted,omitempty"`
	ApplyMS   float64 `json:"apply_ms,omitempty"`
	RestartMS float64 `json:"restart_ms,omitempty"` // stop and start of the app
	ReadyMS   float64 `json:"ready_ms,omitempty"`   // from the start until its port accepts
	// PutBack: the app stopped with the new files, so the files it had
	// before were put back, and it runs them again (Error says so).
	PutBack bool   `json:"put_back,omitempty"`
	Error   string `json:"error,omitempty"`
}

type settings struct {
	listen string
	root   string
	port   int
	wait   time.Duration
	grace  time.Duration
	exec   string
}

func fromEnv() settings {
	s := settings{listen: "127.0.0.1:7471", root: "/", wait: 20 * time.Second, grace: 3 * time.Second}
	if v := os.Getenv(envListen); v != "" {
		s.listen = v
	}
	if v := os.Getenv(envRoot); v != "" {
		s.root = v
	}
	s.port, _ = strconv.Atoi(os.Getenv(envPort))
	s.exec = os.Getenv(envExec)
	if f, err := strconv.ParseFloat(os.Getenv(envWait), 64); err == nil && f >= 0 {
		s.wait = time.Duration(f * float64(time.Second))
	}
	if f, err := strconv.ParseFloat(os.Getenv(envGrace), 64); err == nil && f >= 0 {
		s.grace = time.Duration(f * float64(time.Second))
	}
	return s
}

type agent struct {
	s    settings
	argv []string
	boot string

	ops sync.Mutex // one sync at a time

	mu         sync.Mutex
	gen        int64
	pid        int           // the app's pid; 0 when it does not run
	done       chan struct{} // closed when the app with pid has exited
	status     int           // its exit status, once done
	restarting bool          // an exit now is a restart's
	launched   bool          // the app was started once
	started    chan struct{} // closed when draft says to start
	startOnce  sync.Once
	exited     chan int // the app's status, when it ended by itself
}

func main() {
	// Small: one P, a tight heap, and what a sync held given back at once
	// (see sync); the agent does little, and its app should have the pod.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "draft-agent: no command to run: the image has no ENTRYPOINT or CMD")
		os.Exit(2)
	}
	os.Exit(newAgent(fromEnv(), args).run())
}

func newAgent(s settings, argv []string) *agent {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &agent{s: s, argv: argv, boot: hex.EncodeToString(b), started: make(chan struct{}), exited: make(chan int, 1)}
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "draft-agent: "+format+"\n", a...) }

// run is the agent's life: it ends with the app's exit status.
func (a *agent) run() int {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	children := make(chan os.Signal, 8)
	signal.Notify(children, syscall.SIGCHLD)
	go a.reap(children)

	if l, err := net.Listen("tcp", a.s.listen); err != nil {
		logf("cannot listen on %s (%v): starting the app without live update", a.s.listen, err)
		a.begin()
	} else {
		go a.serve(l)
	}
	select {
	case <-a.started:
	case <-time.After(a.s.wait):
		logf("no word from draft in %s: starting the app with the image's files", a.s.wait)
	case sig := <-signals:
		return 128 + int(sig.(syscall.Signal))
	}
	if err := a.startApp(); err != nil {
		logf("%v", err)
		return 127
	}
	for {
		select {
		case sig := <-signals:
			a.signalApp(sig.(syscall.Signal))
		case status := <-a.exited:
			return status
		}
	}
}

func (a *agent) begin() { a.startOnce.Do(func() { close(a.started) }) }

// reap waits for every child that ends (the agent is the container's first
// process: orphans of the app become its own) and books the app's end.
func (a *agent) reap(sigs <-chan os.Signal) {
	for range sigs {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			status := ws.ExitStatus()
			if ws.Signaled() {
				status = 128 + int(ws.Signal())
			}
			a.ended(pid, status)
		}
	}
}

func (a *agent) ended(pid, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pid != a.pid || a.pid == 0 {
		return
	}
	a.pid, a.status = 0, status
	close(a.done)
	if !a.restarting {
		select {
		case a.exited <- status:
		default:
		}
	}
}

// startApp starts the app in a process group of its own, with the agent's
// output and environment.
func (a *agent) startApp() error {
	bin := a.argv[0]
	if a.s.exec != "" {
		if fi, err := os.Stat(a.s.exec); err == nil && fi.Mode().IsRegular() {
			bin = a.s.exec // a binary compiled by draft since the image
		}
	}
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			return fmt.Errorf("cannot start %s: %v", bin, err)
		}
		bin = p
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	proc, err := os.StartProcess(bin, a.argv, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return fmt.Errorf("cannot start %s: %v", bin, err)
	}
	a.pid, a.done, a.launched = proc.Pid, make(chan struct{}), true
	_ = proc.Release() // reap waits for it, not os.Process
	return nil
}

func (a *agent) signalApp(sig syscall.Signal) {
	a.mu.Lock()
	pid := a.pid
	a.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(-pid, sig)
	}
}

// restart stops the app (SIGTERM, then SIGKILL after the grace period) and
// starts it again; it returns how long that took.
// The caller has set restarting.
func (a *agent) restart() (time.Duration, error) {
	t0 := time.Now()
	a.mu.Lock()
	pid, done := a.pid, a.done
	a.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(a.s.grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
		}
	}
	err := a.startApp()
	return time.Since(t0), err
}

// accepting waits until the app's port takes connections, or the app ends.
func (a *agent) accepting(timeout time.Duration) error {
	if a.s.port == 0 {
		return nil
	}
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(a.s.port))
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("the app exited after it was started again")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the app did not take connections on port %d within %s", a.s.port, timeout)
		}
	}
}

func (a *agent) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go a.handle(c)
	}
}

func (a *agent) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	var rep Reply
	if err := json.Unmarshal(line, &req); err != nil {
		rep.Error = "not a request: " + err.Error()
	} else {
		rep = a.do(req, r)
	}
	b, _ := json.Marshal(rep)
	_, _ = c.Write(append(b, '\n'))
}

func (a *agent) do(req Request, body io.Reader) Reply {
	a.ops.Lock()
	defer a.ops.Unlock()
	var rep Reply
	switch req.Op {
	case "status":
	case "sync":
		rep = a.sync(req, io.LimitReader(body, req.Size))
	default:
		rep.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	a.mu.Lock()
	rep.Boot, rep.Gen, rep.Running = a.boot, a.gen, a.pid > 0
	a.mu.Unlock()
	if req.Op == "sync" {
		debug.FreeOSMemory() // the files and their backups are garbage now
	}
	return rep
}

func (a *agent) sync(req Request, body io.Reader) (rep Reply) {
	t0 := time.Now()
	var saved backup
	defer func() {
		if !rep.PutBack {
			saved.drop() // kept: the old content is not needed
		}
	}()
	files, deleted, err := apply(a.s.root, body, &saved)
	rep.Files, rep.Deleted, rep.ApplyMS = files, deleted, ms(time.Since(t0))
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	a.mu.Lock()
	a.gen = req.Gen
	launched, running := a.launched, a.pid > 0
	a.mu.Unlock()
	if !launched {
		if req.Start {
			a.begin() // run starts the app, with these files
		}
		return rep
	}
	if req.Restart && running {
		a.restartWith(&rep, saved)
	}
	return rep
}

// restartWith restarts the app on the files just applied; if it stops
// instead of taking connections, the files it had before are put back and
// it is started on them again. An app that stops even then ends the agent,
// as any end of the app does.
func (a *agent) restartWith(rep *Reply, saved backup) {
	a.mu.Lock()
	a.restarting = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.restarting = false
		if a.pid == 0 && a.launched {
			select {
			case a.exited <- a.status:
			default:
			}
		}
		a.mu.Unlock()
	}()
	took, err := a.restart()
	rep.RestartMS = ms(took)
	if err != nil {
		rep.Error = err.Error()
		return
	}
	t1 := time.Now()
	err = a.accepting(30 * time.Second)
	rep.ReadyMS = ms(time.Since(t1))
	if err == nil {
		return
	}
	a.mu.Lock()
	stopped, status := a.pid == 0, a.status
	a.mu.Unlock()
	if !stopped || len(saved) == 0 {
		rep.Error = err.Error()
		return
	}
	logf("the app stopped (status %d) with the new files: putting back the files it had, and starting it again", status)
	saved.restore()
	if _, err := a.restart(); err != nil {
		rep.Error = err.Error()
		return
	}
	_ = a.accepting(30 * time.Second)
	rep.PutBack = true
	rep.Error = fmt.Sprintf("the app stopped (exit status %d) instead of taking connections with the new files: the files it had before are back, and it runs them", status)
}

// backup is what a sync overwrote or created, to put back: each file's
// old content, kept as a hard link beside it (no copy in memory: a Go
// binary is megabytes), or in memory where no link can be made.
type backup map[string]*savedFile

type savedFile struct {
	existed bool
	link    string // the hard link holding the old content, "" if none
	content []byte // else the old content
	mode    fs.FileMode
}

// save keeps target's content, the first time the sync touches it. Folders
// that a delete removes are not kept.
func (b backup) save(target string) {
	if b == nil {
		return
	}
	if _, ok := b[target]; ok {
		return
	}
	fi, err := os.Lstat(target)
	if err != nil || !fi.Mode().IsRegular() {
		b[target] = &savedFile{}
		return
	}
	f := &savedFile{existed: true, mode: fi.Mode().Perm()}
	link := filepath.Join(filepath.Dir(target), ".draft-old-"+filepath.Base(target))
	_ = os.Remove(link)
	if err := os.Link(target, link); err == nil {
		f.link = link
	} else if f.content, err = os.ReadFile(target); err != nil {
		return
	}
	b[target] = f
}

// restore puts every file back as it was.
func (b backup) restore() {
	for target, f := range b {
		switch {
		case !f.existed:
			_ = os.Remove(target)
		case f.link != "":
			_ = os.Rename(f.link, target)
		default:
			_ = writeFile(target, bytes.NewReader(f.content), f.mode)
		}
	}
}

// drop removes the links of a sync that is kept.
func (b backup) drop() {
	for _, f := range b {
		if f.link != "" {
			_ = os.Remove(f.link)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// apply writes the tar's files and folders under root, each file whole or
// not at all, and removes the paths its delete list names.
func apply(root string, body io.Reader, saved *backup) (files, deleted int, err error) {
	if *saved == nil {
		*saved = backup{}
	}
	tr := tar.NewReader(body)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, deleted, nil
		}
		if err != nil {
			return files, deleted, fmt.Errorf("reading the files: %v", err)
		}
		if path.Clean(h.Name) == deleteList {
			n, err := removeAll(root, tr, *saved)
			deleted += n
			if err != nil {
				return files, deleted, err
			}
			continue
		}
		target := within(root, h.Name)
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode|0o700); err != nil {
				return files, deleted, err
			}
		case tar.TypeReg:
			saved.save(target)
			if err := writeFile(target, tr, mode); err != nil {
				return files, deleted, err
			}
			files++
		case tar.TypeSymlink:
			saved.save(target)
			_ = os.Remove(target)
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return files, deleted, err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return files, deleted, err
			}
			files++
		}
	}
}

// within is name under root, never above it.
func within(root, name string) string {
	return filepath.Join(root, filepath.FromSlash(path.Clean("/"+name)))
}

func removeAll(root string, list io.Reader, saved backup) (int, error) {
	n := 0
	s := bufio.NewScanner(list)
	for s.Scan() {
		p := strings.TrimSpace(s.Text())
		if p == "" {
			continue
		}
		target := within(root, p)
		if target == filepath.Clean(root) {
			continue // never the root itself
		}
		saved.save(target)
		if err := os.RemoveAll(target); err != nil {
			return n, err
		}
		n++
	}
	return n, s.Err()
}

// writeFile writes a file beside its target and renames it over, so that
// the app never reads half of it; in a folder the app's user cannot write
// (an image's WORKDIR made by root), it writes the file in place.
func writeFile(target string, r io.Reader, mode fs.FileMode) error {
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".draft-*")
	if err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
