package kube

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// localHosts are API server host names that mean this machine without a
// look-up (RFC 6761 reserves localhost and *.localhost for loopback).
var localHosts = []string{"localhost"}

// bridgePrefixes name the network interfaces that local cluster tools and
// their virtual machines create on this machine: Docker's and Podman's
// bridges (kind, k3d, minikube's docker driver), libvirt's (minikube kvm2),
// VirtualBox's and VMware's host-only networks, Lima's and colima's, macOS's
// vmnet bridges, Hyper-V's and WSL's virtual switches, CNI's. An API server
// inside one of their subnets runs on this machine.
var bridgePrefixes = []string{"docker", "br-", "virbr", "vboxnet", "vmnet", "bridge1", "lima", "col", "podman", "cni", "vethernet"}

// NotLocalError is CheckLocal's refusal. It matches ErrNotLocal.
type NotLocalError struct {
	Context string
	Server  string
}

func (e *NotLocalError) Error() string {
	return fmt.Sprintf("context %q points at %s, which is not a local cluster (its API server is not on this machine); to deploy there anyway, add it to allowed-contexts in draft.toml or pass --allow-context %s",
		e.Context, e.Server, e.Context)
}

func (e *NotLocalError) Is(target error) bool { return target == ErrNotLocal }

// CheckLocal lets draft deploy only to a cluster on this machine: its API
// server's address is a loopback or unspecified one, one of this machine's
// own, or inside the subnet of a bridge that a local cluster tool created
// (see bridgePrefixes); a host name counts when every address it resolves to
// does. The names of the context and cluster count for nothing: anyone can
// call a remote cluster kind-dev. A context named in allowed is accepted as
// it is. Anything else is refused with a *NotLocalError, before any request.
func CheckLocal(c *Cluster, allowed []string) error {
	if slices.Contains(allowed, c.Context) || IsLocal(c) {
		return nil
	}
	name := c.Context
	if name == "" {
		name = "(in-cluster)"
	}
	return &NotLocalError{Context: name, Server: c.Server}
}

// IsLocal reports whether c's API server is on this machine (see CheckLocal).
func IsLocal(c *Cluster) bool { return thisMachine().local(c.Server) }

// machine answers where addresses are; its functions are the standard
// library's, or fakes in tests.
type machine struct {
	interfaces func() ([]net.Interface, error)
	addrs      func(net.Interface) ([]net.Addr, error)
	lookup     func(ctx context.Context, host string) ([]net.IPAddr, error)
}

func thisMachine() machine {
	return machine{
		interfaces: net.Interfaces,
		addrs:      func(i net.Interface) ([]net.Addr, error) { return i.Addrs() },
		lookup:     net.DefaultResolver.LookupIPAddr,
	}
}

// local reports whether the API server at server (a URL, or host:port) is on
// this machine.
func (m machine) local(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		// "127.0.0.1:6443" without a scheme
		u, err = url.Parse("https://" + server)
		if err != nil {
			return false
		}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return false
	}
	if slices.Contains(localHosts, host) || strings.HasSuffix(host, ".localhost") {
		return true
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		// a name is looked up (no byte goes to the server); it is local only
		// when every address it has is
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		addrs, err := m.lookup(ctx, host)
		if err != nil || len(addrs) == 0 {
			return false
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if !m.localIP(ip) {
			return false
		}
	}
	return true
}

func (m machine) localIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	ifaces, err := m.interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifaces {
		addrs, err := m.addrs(i)
		if err != nil {
			continue
		}
		bridge := isBridge(i.Name)
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if n.IP.Equal(ip) || (bridge && n.Contains(ip)) {
				return true
			}
		}
	}
	return false
}

func isBridge(name string) bool {
	name = strings.ToLower(name)
	for _, p := range bridgePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// NodePlatform returns the operating system and architecture of the cluster's
// nodes (linux, amd64), from their status.nodeInfo, for building images they
// can run. Ready nodes count first; when they differ, the platform of most
// nodes wins.
func NodePlatform(ctx context.Context, c *Cluster) (os, arch string, err error) {
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return "", "", fmt.Errorf("cannot list the nodes of the cluster at %s to learn their platform (forbidden for your user): ask for permission to list nodes, or say which platform to build for", c.Server)
		}
		return "", "", fmt.Errorf("listing the nodes of the cluster at %s to learn their platform: %w", c.Server, err)
	}
	count := func(readyOnly bool) map[string]int {
		m := map[string]int{}
		for _, n := range nodes.Items {
			if readyOnly && !nodeReady(&n) {
				continue
			}
			info := n.Status.NodeInfo
			if info.OperatingSystem == "" || info.Architecture == "" {
				continue
			}
			m[info.OperatingSystem+"/"+info.Architecture]++
		}
		return m
	}
	platforms := count(true)
	if len(platforms) == 0 {
		platforms = count(false)
	}
	if len(platforms) == 0 {
		return "", "", fmt.Errorf("the cluster at %s has no nodes that report their platform: check with kubectl get nodes -o wide", c.Server)
	}
	keys := make([]string, 0, len(platforms))
	for k := range platforms {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if platforms[keys[i]] != platforms[keys[j]] {
			return platforms[keys[i]] > platforms[keys[j]]
		}
		return keys[i] < keys[j]
	})
	os, arch, _ = strings.Cut(keys[0], "/")
	return os, arch, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
