package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"syscall"
)

// The test binary plays the app in the agent's pods when asked: it serves
// app.txt of the agent's root.
func TestMain(m *testing.M) {
	if port := os.Getenv("LIVE_TEST_APP_PORT"); port != "" {
		root := os.Getenv(envRoot)
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			b, _ := os.ReadFile(filepath.Join(root, "app.txt"))
			fmt.Fprintf(w, "%s", b)
		})
		_ = http.ListenAndServe("127.0.0.1:"+port, nil)
		return
	}
	os.Exit(m.Run())
}

// localPod is a "pod": the real agent as a local process, its app the test
// binary, its root a folder that starts with the image's app.txt.
type localPod struct {
	t         *testing.T
	bin       string
	root      string
	agentPort int
	appPort   int
	cmd       *exec.Cmd
	done      chan struct{}
}

func (p *localPod) start() {
	p.t.Helper()
	os.WriteFile(filepath.Join(p.root, "app.txt"), []byte("image"), 0o644) // a new container: the image's files
	self, _ := os.Executable()
	p.cmd = exec.Command(p.bin, "--", self)
	p.cmd.Env = append(os.Environ(), "DRAFT_AGENT_LISTEN=127.0.0.1:"+strconv.Itoa(p.agentPort), envRoot+"="+p.root,
		envPort+"="+strconv.Itoa(p.appPort), "DRAFT_AGENT_WAIT=30", "LIVE_TEST_APP_PORT="+strconv.Itoa(p.appPort))
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
}

// kill stops the agent as the kubelet does, and its app with it.
func (p *localPod) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *localPod) get() (string, error) {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p.appPort) + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (p *localPod) waitAnswer(want string) {
	p.t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = p.get(); err == nil && got == want {
			return
		}
	}
	p.t.Fatalf("the app answered %q (%v), want %q", got, err, want)
}

// localDialer dials the agents of local pods, by pod name.
type localDialer struct {
	mu    sync.Mutex
	ports map[string]int
}

func (d *localDialer) Dial(ctx context.Context, pod *corev1.Pod) (io.ReadWriteCloser, error) {
	d.mu.Lock()
	port := d.ports[pod.Name]
	d.mu.Unlock()
	var dialer net.Dialer
	return dialer.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
}

func (d *localDialer) Forget(types.UID) {}

// Two pods of a live image: each starts its app only once it has the
// overlay; a change reaches both at once, and each serves it when Apply
// returns; a container that starts again gets the whole overlay before its
// app starts, not the image's files; a removed file is removed.
func TestSyncerKeepsEveryPodAtTheNewestState(t *testing.T) {
	bin, err := AgentBinary(context.Background(), v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	agentFile := filepath.Join(t.TempDir(), "draft-agent")
	if err := os.WriteFile(agentFile, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "app.txt"), []byte("image"), 0o644)

	cs := fake.NewSimpleClientset()
	dialer := &localDialer{ports: map[string]int{}}
	var pods []*localPod
	for _, name := range []string{"web-1", "web-2"} {
		lp := &localPod{t: t, bin: agentFile, root: t.TempDir(), agentPort: testkit.FreePort(t), appPort: testkit.FreePort(t)}
		lp.start()
		t.Cleanup(lp.kill)
		pods = append(pods, lp)
		dialer.ports[name] = lp.agentPort
		p := testkit.Pod("ns", name, len(pods), false)
		p.Spec.Containers[0].Image = "reg/app@sha256:live"
		testkit.CreatePod(t, cs, p)
	}
	if _, err := pods[0].get(); err == nil {
		t.Fatal("an app started before draft synced it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := kube.NewPodWatch(cs, "ns", "")
	if _, err := watch.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var said testkit.LockedBuffer
	s := NewSyncer(Spec{Dir: src, Restart: true}, dialer, watch, func(m string) { fmt.Fprintln(&said, m) })
	s.Track("sha256:live")
	go s.Run(ctx)
	for _, p := range pods {
		p.waitAnswer("image") // started by the first sync, with nothing to change
	}

	os.WriteFile(filepath.Join(src, "app.txt"), []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(src, "extra.txt"), []byte("x"), 0o644)
	before := time.Now()
	rep, err := s.Apply(ctx, []string{"app.txt", "extra.txt"})
	if err != nil {
		t.Fatal(err)
	}
	// What connect asks of a request the restart cut (WithRestarts).
	if after := time.Now(); !s.RestartedSince("web-1", before) || !s.RestartedSince("web-2", before) || s.RestartedSince("web-1", after) || s.RestartedSince("web-3", before) {
		t.Errorf("RestartedSince: web-1 %v web-2 %v since the Apply, web-1 %v after it, web-3 %v; want true true false false",
			s.RestartedSince("web-1", before), s.RestartedSince("web-2", before), s.RestartedSince("web-1", after), s.RestartedSince("web-3", before))
	}
	if rep.Pods != 2 || rep.Files != 2 || rep.Restart == 0 {
		t.Errorf("report %+v, want 2 files to 2 pods and a restart", rep)
	}
	for _, p := range pods {
		if got, err := p.get(); err != nil || got != "v1" {
			t.Errorf("right after Apply a pod answered %q (%v), want v1", got, err)
		}
	}
	t.Logf("%s", rep)

	// The first pod's container starts again: the image's files, a new agent.
	pods[0].kill()
	pods[0].start()
	p, _ := cs.CoreV1().Pods("ns").Get(ctx, "web-1", metav1.GetOptions{})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", RestartCount: 1}}
	testkit.UpdatePod(t, cs, p)
	pods[0].waitAnswer("v1")

	os.Remove(filepath.Join(src, "extra.txt"))
	if rep, err = s.Apply(ctx, []string{"extra.txt"}); err != nil || rep.Deleted != 1 || rep.Pods != 2 {
		t.Fatalf("a removal: %+v, %v", rep, err)
	}
	for _, p := range pods {
		if _, err := os.Stat(filepath.Join(p.root, "extra.txt")); !os.IsNotExist(err) {
			t.Errorf("extra.txt is still in a pod: %v", err)
		}
	}
	if s.Pending() != 2 {
		t.Errorf("%d paths pending, want 2 (app.txt, extra.txt)", s.Pending())
	}
	s.Rebase(s.Mark())
	if s.Pending() != 0 {
		t.Errorf("%d paths pending after a rebase, want none", s.Pending())
	}
	if strings.TrimSpace(said.String()) != "" {
		t.Errorf("the syncer said %q", said.String())
	}
}
