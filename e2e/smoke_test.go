//go:build e2e

// Smoke tests of the real test environment (e2e/env/up): the registry, the
// cluster pulling from it, port-forwarding through the API server, the
// docker.io mirror and the Docker engine. They need the exports of
//
//	eval "$(make -s cluster)"
//
// and skip without them (in CI, where CI=true, they fail instead).
package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/draftk8s/draft/internal/testenv"
	"github.com/draftk8s/draft/internal/testkit"
	"github.com/draftk8s/draft/pkg/kube"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// cluster returns a client for $KUBECONFIG and the registry of
// $DRAFT_REGISTRY, or skips (fails in CI) when the environment is not up.
func cluster(t *testing.T) (*rest.Config, *kubernetes.Clientset, string) {
	t.Helper()
	kc, reg := os.Getenv("KUBECONFIG"), os.Getenv("DRAFT_REGISTRY")
	if kc == "" || reg == "" {
		testkit.SkipOrFail(t, "KUBECONFIG and DRAFT_REGISTRY are not set")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		testkit.SkipOrFail(t, "cannot load KUBECONFIG %s: %v", kc, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		testkit.SkipOrFail(t, "the cluster of %s does not answer: %v", kc, err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + reg + "/v2/")
	if err != nil {
		testkit.SkipOrFail(t, "the registry %s does not answer: %v", reg, err)
	}
	resp.Body.Close()
	return cfg, cs, reg
}

// namespace makes a throw-away namespace, deleted when the test ends.
func namespace(t *testing.T, cs *kubernetes.Clientset) string {
	t.Helper()
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "draft-e2e-smoke-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

const helloSource = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the draft e2e smoke test (%s)\n", os.Getenv("MESSAGE"))
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// helloImage compiles a static HTTP server and wraps it, as one layer on an
// empty image, without any daemon.
func helloImage(t *testing.T) v1.Image {
	return testkit.WithConfig(t, testkit.GoImage(t, helloSource, "linux", "amd64"), func(c *v1.Config) {
		c.Env = []string{"PORT=8080"}
		c.User = "65534"
	})
}

// waitPod polls until the pod is Ready (or, with succeeded, has Succeeded).
func waitPod(t *testing.T, cs *kubernetes.Clientset, ns, pod string, succeeded bool, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last *corev1.Pod
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err == nil {
			last = p
			if succeeded && p.Status.Phase == corev1.PodSucceeded {
				return time.Since(start)
			}
			if p.Status.Phase == corev1.PodFailed {
				t.Fatalf("pod %s failed: %s", pod, describe(p))
			}
			if !succeeded && kube.PodReady(p) {
				return time.Since(start)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s not ready after %s: %s", ns, pod, timeout, describe(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "never seen"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", p.Status.Phase)
	for _, s := range p.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil {
			fmt.Fprintf(&b, "; %s waiting: %s %s", s.Name, w.Reason, w.Message)
		}
		if x := s.State.Terminated; x != nil {
			fmt.Fprintf(&b, "; %s terminated: %s exit %d %s", s.Name, x.Reason, x.ExitCode, x.Message)
		}
	}
	return b.String()
}

// TestSmokeClusterRegistry pushes a daemonless image to the registry, runs it
// as a pod, and talks to it through a port-forward via the API server.
func TestSmokeClusterRegistry(t *testing.T) {
	cfg, cs, reg := cluster(t)
	ctx := context.Background()

	img := helloImage(t)
	ref, err := name.NewTag(fmt.Sprintf("%s/draft-e2e/smoke-hello:%d", reg, time.Now().UnixNano()), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	dg, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed %s@%s in %s", ref, dg, time.Since(start).Round(time.Millisecond))

	ns := namespace(t, cs)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Labels: map[string]string{"app": "hello"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "hello",
				Image: ref.Context().Digest(dg.String()).String(),
				Env:   []corev1.EnvVar{{Name: "MESSAGE", Value: ns}},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	start = time.Now()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the pod: %v", err)
	}
	waitPod(t, cs, ns, "hello", false, 2*time.Minute)
	t.Logf("pod Ready %s after it was created", time.Since(start).Round(time.Millisecond))

	// port-forward through the API server (SPDY), as draft connect does
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("hello").SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var errOut bytes.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() { close(stop); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward ended: %v %s", err, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("port-forward not ready after 30s: %s", errOut.String())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports: %v %v", ports, err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
	if err != nil {
		t.Fatalf("GET through the port-forward: %v (%s)", err, errOut.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "hello from the draft e2e smoke test (" + ns + ")"; !strings.Contains(string(body), want) {
		t.Fatalf("GET through the port-forward: got %q, want %q", body, want)
	}
	t.Logf("port-forward 127.0.0.1:%d -> pod:8080 answered %q", ports[0].Local, strings.TrimSpace(string(body)))
}

// TestSmokeMirror runs a pod from "python:3.12-slim": the cluster's containerd
// must pull it from the local registry (docker.io is mapped there).
func TestSmokeMirror(t *testing.T) {
	_, cs, reg := cluster(t)
	ctx := context.Background()
	testenv.BaseImages(t, "python:3.12-slim")
	if _, err := remote.Head(mustRef(t, reg+"/library/python:3.12-slim")); err != nil {
		testkit.SkipOrFail(t, "the base image library/python:3.12-slim is not in %s (%v)", reg, err)
	}
	ns := namespace(t, cs)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "python"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "python",
				Image:   "python:3.12-slim",
				Command: []string{"python", "-c", "import sys; print('python', sys.version)"},
			}},
		},
	}
	start := time.Now()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the pod: %v", err)
	}
	waitPod(t, cs, ns, "python", true, 3*time.Minute)
	logs, err := cs.CoreV1().Pods(ns).GetLogs("python", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	if !strings.HasPrefix(string(logs), "python 3.") {
		t.Fatalf("pod logs: %q", logs)
	}
	t.Logf("docker.io/library/python:3.12-slim pulled from %s and ran in %s: %s", reg, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(logs)))
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dockerClient talks to the Docker Engine API on $DOCKER_HOST (a unix socket).
func dockerClient(t *testing.T) *http.Client {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		testkit.SkipOrFail(t, "DOCKER_HOST is not set")
	}
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Fatalf("DOCKER_HOST=%s: the smoke test speaks to a unix socket only", host)
	}
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		testkit.SkipOrFail(t, "the Docker engine on %s does not answer: %v", host, err)
	}
	resp.Body.Close()
	return c
}

// TestSmokeDockerEngine builds a Dockerfile FROM python:3.12-slim: the engine
// pulls it through its registry mirror (the local registry), runs a RUN step
// and checks that pip may install into the system Python.
func TestSmokeDockerEngine(t *testing.T) {
	c := dockerClient(t)
	resp, err := c.Get("http://docker/v1.41/version")
	if err != nil {
		t.Fatal(err)
	}
	var ver struct{ Version, APIVersion string }
	if err := json.NewDecoder(resp.Body).Decode(&ver); err != nil {
		t.Fatalf("decoding /version: %v", err)
	}
	resp.Body.Close()
	t.Logf("Docker engine %s (API %s)", ver.Version, ver.APIVersion)

	if reg := os.Getenv("DRAFT_REGISTRY"); reg != "" {
		testenv.BaseImages(t, "python:3.12-slim")
		if _, err := remote.Head(mustRef(t, reg+"/library/python:3.12-slim")); err != nil {
			testkit.SkipOrFail(t, "the base image library/python:3.12-slim is not in %s (%v)", reg, err)
		}
	}
	dockerfile := "FROM python:3.12-slim\n" +
		"RUN python -c 'print(1)' && pip --version && test ! -e \"$(python -c 'import sysconfig; print(sysconfig.get_path(\"stdlib\"))')/EXTERNALLY-MANAGED\"\n" +
		"CMD [\"python\", \"-c\", \"print('hello')\"]\n"
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("draft-e2e-smoke:%d", time.Now().UnixNano())
	q := url.Values{"t": {tag}, "rm": {"1"}, "forcerm": {"1"}}
	start := time.Now()
	resp, err = c.Post("http://docker/v1.41/build?"+q.Encode(), "application/x-tar", &ctxTar)
	if err != nil {
		t.Fatalf("POST /build: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /build: %s: %s", resp.Status, b)
	}
	var out strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct{ Stream, Error string }
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Error != "" {
			t.Fatalf("docker build failed: %s\n%s", m.Error, out.String())
		}
		out.WriteString(m.Stream)
	}
	if !strings.Contains(out.String(), "Successfully tagged "+tag) {
		t.Fatalf("docker build did not tag %s:\n%s", tag, out.String())
	}
	t.Logf("docker build FROM python:3.12-slim (via the registry mirror) took %s", time.Since(start).Round(time.Millisecond))
	req, _ := http.NewRequest(http.MethodDelete, "http://docker/v1.41/images/"+tag+"?force=1", nil)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
}
