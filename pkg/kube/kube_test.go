package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// apiServer answers /version like an API server, or 401 when unauthorized.
func apiServer(t *testing.T, unauthorized bool) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if unauthorized {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		fmt.Fprint(w, `{"major":"1","minor":"34","gitVersion":"v1.34.4"}`)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func writeKubeconfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func kubeconfig(current string, ctxs ...[3]string) string { // name, server, namespace
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for _, c := range ctxs {
		fmt.Fprintf(&b, "- name: %s-cluster\n  cluster:\n    server: %s\n", c[0], c[1])
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: secret\ncontexts:\n")
	for _, c := range ctxs {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s-cluster\n    user: u\n", c[0], c[0])
		if c[2] != "" {
			fmt.Fprintf(&b, "    namespace: %s\n", c[2])
		}
	}
	fmt.Fprintf(&b, "current-context: %q\n", current)
	return b.String()
}

func TestResolve(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	up := apiServer(t, false)
	denied := apiServer(t, true)
	down := closedURL(t)
	two := kubeconfig("dev", [3]string{"dev", up, "team"}, [3]string{"other", up, ""})

	tests := []struct {
		name       string
		config     string // kubeconfig contents; "-" for a path that does not exist
		viaEnv     bool   // through $KUBECONFIG rather than --kubeconfig
		opts       Options
		wantCtx    string
		wantNS     string
		wantErr    error
		wantErrMsg string
	}{
		{name: "current context and its namespace", config: two, wantCtx: "dev", wantNS: "team"},
		{name: "KUBECONFIG", config: two, viaEnv: true, wantCtx: "dev", wantNS: "team"},
		{name: "--namespace wins", config: two, opts: Options{Namespace: "mine"}, wantCtx: "dev", wantNS: "mine"},
		{name: "--kube-context, no namespace: default", config: two, opts: Options{Context: "other"}, wantCtx: "other", wantNS: "default"},
		{name: "unknown context", config: two, opts: Options{Context: "prod"}, wantErr: ErrUnknownContext,
			wantErrMsg: `context "prod" is not in the kubeconfig %s: pick one of its contexts (dev, other) with --kube-context`},
		{name: "no current context", config: kubeconfig("", [3]string{"dev", up, ""}), wantErr: ErrUnknownContext,
			wantErrMsg: "the kubeconfig %s has no current context: choose one with kubectl config use-context NAME or --kube-context NAME (its contexts: dev)"},
		{name: "empty kubeconfig", config: "apiVersion: v1\nkind: Config\n", wantErr: ErrNoKubeconfig,
			wantErrMsg: "no kubeconfig found (%s has no contexts): point KUBECONFIG or --kubeconfig at your cluster's kubeconfig (kind, minikube and k3d write one when they create a cluster)"},
		{name: "missing kubeconfig file", config: "-", wantErr: ErrNoKubeconfig},
		{name: "unreachable", config: kubeconfig("dev", [3]string{"dev", down, ""}), wantErr: ErrUnreachable,
			wantErrMsg: "cannot reach the cluster at " + down + " (context dev): is it running? check with kubectl get nodes"},
		{name: "credentials refused", config: kubeconfig("dev", [3]string{"dev", denied, ""}), wantErr: ErrUnauthorized,
			wantErrMsg: "the cluster at " + denied + " (context dev) did not accept your credentials: log in again or refresh the kubeconfig, then check with kubectl get nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing")
			if tt.config != "-" {
				path = writeKubeconfig(t, tt.config)
			}
			where := path
			o := tt.opts
			if tt.viaEnv {
				t.Setenv("KUBECONFIG", path)
				where = "KUBECONFIG=" + path
			} else {
				t.Setenv("KUBECONFIG", "")
				o.Kubeconfig = path
			}
			c, err := Resolve(context.Background(), o)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want one matching %v", err, tt.wantErr)
				}
				if tt.wantErrMsg != "" {
					want := tt.wantErrMsg
					if strings.Contains(want, "%s") {
						want = fmt.Sprintf(want, where)
					}
					if err.Error() != want {
						t.Errorf("err =\n  %s\nwant\n  %s", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Context != tt.wantCtx || c.Namespace != tt.wantNS || c.Server != up || c.Version != "v1.34.4" {
				t.Errorf("got context %q namespace %q server %q version %q, want %q %q %q v1.34.4", c.Context, c.Namespace, c.Server, c.Version, tt.wantCtx, tt.wantNS, up)
			}
			// Helm's getter must agree on the namespace and the server.
			ns, _, _ := c.Getter.ToRawKubeConfigLoader().Namespace()
			rc, err := c.Getter.ToRESTConfig()
			if err != nil || ns != tt.wantNS || rc.Host != up {
				t.Errorf("getter: namespace %q host %v (%v), want %q %q", ns, rc, err, tt.wantNS, up)
			}
		})
	}
}

func TestCheckLocal(t *testing.T) {
	// on the real machine: loopback and documentation addresses (RFC 5737),
	// which no machine has
	tests := []struct {
		context, cluster, server string
		allowed                  []string
		local                    bool
	}{
		{"draft-env", "draft-env", "https://127.0.0.1:6443", nil, true},
		{"x", "x", "https://127.4.5.6:6443", nil, true},
		{"x", "x", "https://[::1]:6443", nil, true},
		{"x", "x", "https://localhost:6443", nil, true},
		{"x", "x", "https://api.localhost:6443", nil, true},
		{"x", "x", "127.0.0.1:6443", nil, true},
		{"k3d-mine", "k3d-mine", "https://0.0.0.0:6550", nil, true},
		{"prod", "prod", "https://203.0.113.4", nil, false},
		{"prod", "prod", "https://203.0.113.4", []string{"staging"}, false},
		{"prod", "prod", "https://203.0.113.4", []string{"prod"}, true},
		// a local tool's name is no proof: these point elsewhere
		{"kind-rel", "kind-rel", "https://203.0.113.5:6443", nil, false},
		{"minikube", "minikube", "https://198.51.100.7:8443", nil, false},
		{"docker-desktop", "docker-desktop", "https://192.0.2.10:6443", nil, false},
		{"me@dev", "k3d-dev", "https://198.51.100.9:6443", nil, false},
		{"microk8s", "microk8s-cluster", "https://192.0.2.11:16443", nil, false},
		{"x", "x", "https://", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.context+"@"+tt.server, func(t *testing.T) {
			err := CheckLocal(&Cluster{Context: tt.context, Cluster: tt.cluster, Server: tt.server}, tt.allowed)
			if tt.local && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.local {
				if !errors.Is(err, ErrNotLocal) {
					t.Fatalf("err = %v, want ErrNotLocal", err)
				}
				want := fmt.Sprintf("context %q points at %s, which is not a local cluster (its API server is not on this machine); to deploy there anyway, add it to allowed-contexts in draft.toml or pass --allow-context %s", tt.context, tt.server, tt.context)
				if err.Error() != want {
					t.Errorf("err =\n  %s\nwant\n  %s", err, want)
				}
			}
		})
	}
}

// fakeMachine has a loopback, an ethernet card, a Docker network bridge
// (kind), libvirt's bridge (minikube kvm2) and a VirtualBox host-only network.
func fakeMachine() machine {
	ifaces := map[string][]string{
		"lo":       {"127.0.0.1/8", "::1/128"},
		"eth0":     {"10.0.0.5/24", "fe80::1/64"},
		"br-1a2b3": {"172.18.0.1/16"},
		"virbr0":   {"192.168.39.1/24"},
		"vboxnet0": {"192.168.59.1/24"},
	}
	names := map[string][]string{
		"kubernetes.docker.internal": {"127.0.0.1"},
		"host.docker.internal":       {"10.0.0.5"},
		"minikube.test":              {"192.168.39.2"},
		"abc.eks.amazonaws.com":      {"52.1.2.3", "52.1.2.4"},
		"mixed.example":              {"127.0.0.1", "52.1.2.3"},
	}
	return machine{
		interfaces: func() ([]net.Interface, error) {
			var out []net.Interface
			for n := range ifaces {
				out = append(out, net.Interface{Name: n})
			}
			return out, nil
		},
		addrs: func(i net.Interface) ([]net.Addr, error) {
			var out []net.Addr
			for _, c := range ifaces[i.Name] {
				ip, n, err := net.ParseCIDR(c)
				if err != nil {
					return nil, err
				}
				n.IP = ip
				out = append(out, n)
			}
			return out, nil
		},
		lookup: func(_ context.Context, host string) ([]net.IPAddr, error) {
			ips, ok := names[host]
			if !ok {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			var out []net.IPAddr
			for _, s := range ips {
				out = append(out, net.IPAddr{IP: net.ParseIP(s)})
			}
			return out, nil
		},
	}
}

func TestMachineLocal(t *testing.T) {
	m := fakeMachine()
	for server, want := range map[string]bool{
		"https://127.0.0.1:6443":                  true,
		"https://0.0.0.0:6550":                    true, // k3d
		"https://[::]:6443":                       true,
		"https://10.0.0.5:6443":                   true,  // this machine's own address (k3s on the host)
		"https://10.0.0.7:6443":                   false, // another machine on the LAN
		"https://172.18.0.2:6443":                 true,  // kind's node on Docker's bridge
		"https://192.168.39.2:8443":               true,  // minikube's VM on libvirt's bridge
		"https://192.168.59.100:8443":             true,  // VirtualBox host-only
		"https://192.168.40.2:8443":               false, // next to the bridge, not on it
		"https://kubernetes.docker.internal:6443": true,
		"https://host.docker.internal:6443":       true,
		"https://minikube.test:8443":              true,
		"https://abc.eks.amazonaws.com":           false,
		"https://mixed.example:6443":              false, // every address must be local
		"https://nxdomain.example:6443":           false,
		"https://[fe80::1]:6443":                  true,
		"https://[2001:db8::1]:6443":              false,
		"https://LOCALHOST.:6443":                 true,
	} {
		if got := m.local(server); got != want {
			t.Errorf("local(%s) = %v, want %v", server, got, want)
		}
	}
}

func node(name, os, arch string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			NodeInfo:   corev1.NodeSystemInfo{OperatingSystem: os, Architecture: arch},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}},
		},
	}
}

func TestNodePlatform(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []runtime.Object
		forbid  bool
		want    string
		wantErr string
	}{
		{name: "one node", nodes: []runtime.Object{node("a", "linux", "amd64", true)}, want: "linux/amd64"},
		{name: "ready nodes first", nodes: []runtime.Object{node("a", "linux", "amd64", false), node("b", "linux", "arm64", true)}, want: "linux/arm64"},
		{name: "most nodes", nodes: []runtime.Object{node("a", "linux", "amd64", true), node("b", "linux", "arm64", true), node("c", "linux", "arm64", true)}, want: "linux/arm64"},
		{name: "none ready", nodes: []runtime.Object{node("a", "linux", "arm64", false)}, want: "linux/arm64"},
		{name: "no nodes", wantErr: "has no nodes that report their platform"},
		{name: "forbidden", forbid: true, wantErr: "forbidden for your user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.nodes...)
			if tt.forbid {
				cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrorsForbidden()
				})
			}
			os, arch, err := NodePlatform(context.Background(), &Cluster{Client: cs, Server: "https://127.0.0.1:6443"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || os+"/"+arch != tt.want {
				t.Fatalf("got %s/%s (%v), want %s", os, arch, err, tt.want)
			}
		})
	}
}

func apierrorsForbidden() error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
}
