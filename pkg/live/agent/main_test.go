package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/draftk8s/draft/internal/testkit"
)

// The test binary plays the app when asked: it serves the content of
// app.txt in the agent's root, and exits with the status /exit?code= asks.
func TestMain(m *testing.M) {
	if port := os.Getenv("AGENT_TEST_APP_PORT"); port != "" {
		serveApp(port)
		return
	}
	os.Exit(m.Run())
}

func serveApp(port string) {
	root := os.Getenv(envRoot)
	if b, _ := os.ReadFile(filepath.Join(root, "app.txt")); string(b) == "crash" {
		fmt.Fprintln(os.Stderr, "app: crashing on start, as asked")
		os.Exit(3)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(filepath.Join(root, "app.txt"))
		fmt.Fprintf(w, "%s pid=%d", b, os.Getpid())
	})
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		os.Exit(code)
	})
	_ = http.ListenAndServe("127.0.0.1:"+port, nil)
}

type running struct {
	t       *testing.T
	cmd     *exec.Cmd
	agent   string // its address
	app     string // the app's URL
	root    string
	exited  chan struct{}
	status  int
	waitErr error
}

// startAgent builds the agent and runs it (as a child of the test, not as
// a container's first process: it reaps its own children either way) with
// the test binary as its app.
func startAgent(t *testing.T, wait string) *running {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "draft-agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	r := &running{t: t, root: t.TempDir(), exited: make(chan struct{})}
	agentPort, appPort := testkit.FreePort(t), testkit.FreePort(t)
	r.agent = "127.0.0.1:" + strconv.Itoa(agentPort)
	r.app = "http://127.0.0.1:" + strconv.Itoa(appPort) + "/"
	self, _ := os.Executable()
	r.cmd = exec.Command(bin, "--", self)
	r.cmd.Env = append(os.Environ(), envListen+"="+r.agent, envRoot+"="+r.root, envPort+"="+strconv.Itoa(appPort),
		envWait+"="+wait, envGrace+"=2", "AGENT_TEST_APP_PORT="+strconv.Itoa(appPort))
	r.cmd.Stderr = os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		r.status = r.cmd.ProcessState.ExitCode()
		if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.status = 128 + int(ws.Signal())
		}
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
	})
	return r
}

// call sends one request, with files (name -> content) and deletes as the
// tar body of a sync.
func (r *running) call(req Request, files map[string]string, deletes ...string) Reply {
	r.t.Helper()
	var body bytes.Buffer
	if req.Op == "sync" {
		tw := tar.NewWriter(&body)
		for name, content := range files {
			_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(content))
		}
		if len(deletes) > 0 {
			list := strings.Join(deletes, "\n")
			_ = tw.WriteHeader(&tar.Header{Name: deleteList, Mode: 0o644, Size: int64(len(list)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(list))
		}
		_ = tw.Close()
		req.Size = int64(body.Len())
	}
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err = net.Dial("tcp", r.agent); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		r.t.Fatalf("the agent does not listen: %v", err)
	}
	defer c.Close()
	line, _ := json.Marshal(req)
	if _, err := c.Write(append(append(line, '\n'), body.Bytes()...)); err != nil {
		r.t.Fatal(err)
	}
	b, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		r.t.Fatalf("no reply: %v", err)
	}
	var rep Reply
	if err := json.Unmarshal(b, &rep); err != nil {
		r.t.Fatal(err)
	}
	return rep
}

func (r *running) get() (string, error) {
	resp, err := http.Get(r.app)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// waitAnswer waits until the app answers with a body that starts with want.
func (r *running) waitAnswer(want string) string {
	r.t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = r.get(); err == nil && strings.HasPrefix(got, want) {
			return got
		}
	}
	r.t.Fatalf("the app answered %q (%v), want %q...", got, err, want)
	return ""
}

func (r *running) waitExit() int {
	r.t.Helper()
	select {
	case <-r.exited:
		return r.status
	case <-time.After(10 * time.Second):
		r.t.Fatal("the agent did not exit")
		return 0
	}
}

// The app starts only once draft has given the files; a sync with a
// restart serves the new files at once (the reply comes once the port
// accepts again); deletes remove; the app's own exit is the agent's.
func TestAgentSyncsAndRestarts(t *testing.T) {
	r := startAgent(t, "30")
	st := r.call(Request{Op: "status"}, nil)
	if st.Running || st.Boot == "" {
		t.Fatalf("before draft's word: %+v, want the app not started and a boot id", st)
	}
	if _, err := r.get(); err == nil {
		t.Fatal("the app serves before draft gave it the files")
	}
	rep := r.call(Request{Op: "sync", Gen: 1, Start: true}, map[string]string{"app.txt": "v1", "sub/dir/x.txt": "x"})
	if rep.Error != "" || rep.Files != 2 || rep.Gen != 1 {
		t.Fatalf("first sync: %+v", rep)
	}
	first := r.waitAnswer("v1")

	rep = r.call(Request{Op: "sync", Gen: 2, Restart: true}, map[string]string{"app.txt": "v2"}, "sub")
	if rep.Error != "" || rep.Files != 1 || rep.Deleted != 1 || rep.Gen != 2 || !rep.Running {
		t.Fatalf("second sync: %+v", rep)
	}
	got, err := r.get() // at once: the reply came when the port accepted
	if err != nil || !strings.HasPrefix(got, "v2") || got == first {
		t.Fatalf("after the restart the app answered %q (%v), want v2 from a new process (was %q)", got, err, first)
	}
	if left, _ := filepath.Glob(filepath.Join(r.root, ".draft-*")); len(left) > 0 {
		t.Errorf("a sync left %q behind", left)
	}
	if _, err := os.Stat(filepath.Join(r.root, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sub was not removed: %v", err)
	}
	t.Logf("restart %.1f ms, ready %.1f ms after it; agent RSS %s", rep.RestartMS, rep.ReadyMS, rss(r.cmd.Process.Pid))

	if rep := r.call(Request{Op: "sync", Gen: 3}, map[string]string{"../../escape.txt": "no"}); rep.Error != "" {
		t.Fatal(rep.Error)
	}
	if _, err := os.Stat(filepath.Join(r.root, "escape.txt")); err != nil {
		t.Errorf("a path above the root was not kept below it: %v", err)
	}

	// New files on which the app stops at once: the old ones are put back.
	rep = r.call(Request{Op: "sync", Gen: 4, Restart: true}, map[string]string{"app.txt": "crash", "new.txt": "n"})
	if !rep.PutBack || !strings.Contains(rep.Error, "exit status 3") || !rep.Running {
		t.Fatalf("a sync the app stopped on: %+v, want the files put back and the app running", rep)
	}
	if got, err := r.get(); err != nil || !strings.HasPrefix(got, "v2") {
		t.Errorf("after the files were put back the app answered %q (%v), want v2", got, err)
	}
	if _, err := os.Stat(filepath.Join(r.root, "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file the failed sync created is still there: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(r.root, ".draft-*")); len(left) > 0 {
		t.Errorf("putting the files back left %q behind", left)
	}

	_, _ = http.Get(r.app + "exit?code=7")
	if status := r.waitExit(); status != 7 {
		t.Errorf("the agent exited %d, want the app's 7", status)
	}
}

// Without a word from draft, the app starts with the image's files; a
// SIGTERM reaches the app, and its end is the agent's.
func TestAgentStartsAloneAndPassesSignals(t *testing.T) {
	r := startAgent(t, "0.2")
	os.WriteFile(filepath.Join(r.root, "app.txt"), []byte("image"), 0o644)
	r.waitAnswer("image")
	// A later first sync from draft restarts the app with the files.
	rep := r.call(Request{Op: "sync", Gen: 1, Start: true, Restart: true}, map[string]string{"app.txt": "synced"})
	if rep.Error != "" {
		t.Fatal(rep.Error)
	}
	r.waitAnswer("synced")
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	if status := r.waitExit(); status != 128+int(syscall.SIGTERM) {
		t.Errorf("the agent exited %d after SIGTERM, want %d (the app's end by the signal)", status, 128+int(syscall.SIGTERM))
	}
}

func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}
