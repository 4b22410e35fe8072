package kube

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// localNames are the context or cluster names that the tools which make local
// clusters give them; a trailing * matches any suffix.
var localNames = []string{
	"kind-*", "k3d-*", "colima*",
	"minikube", "docker-desktop", "docker-for-desktop", "rancher-desktop",
	"orbstack", "microk8s", "microk8s-cluster",
}

// localHosts are API server host names that always mean this machine.
var localHosts = []string{"localhost", "host.docker.internal", "kubernetes.docker.internal"}

// NotLocalError is CheckLocal's refusal. It matches ErrNotLocal.
type NotLocalError struct {
	Context string
	Server  string
}

func (e *NotLocalError) Error() string {
	return fmt.Sprintf("context %q points at %s which is not a local cluster; to deploy there anyway, add it to allowed-contexts in draft.toml or pass --allow-context %s",
		e.Context, e.Server, e.Context)
}

func (e *NotLocalError) Is(target error) bool { return target == ErrNotLocal }

// CheckLocal lets draft deploy only to a cluster on this machine: its API
// server is on a loopback address, or its context or cluster carries the name
// that kind, minikube, Docker Desktop, Rancher Desktop, k3d, colima, OrbStack
// or MicroK8s give it. A context named in allowed is accepted as it is.
// Anything else is refused with a *NotLocalError that says how to allow it.
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

// IsLocal reports whether c is a cluster on this machine (see CheckLocal).
func IsLocal(c *Cluster) bool {
	for _, n := range []string{c.Context, c.Cluster} {
		if n != "" && localName(n) {
			return true
		}
	}
	return localServer(c.Server)
}

func localName(n string) bool {
	for _, p := range localNames {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		} else if n == p {
			return true
		}
	}
	return false
}

func localServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		// "127.0.0.1:6443" without a scheme
		u, err = url.Parse("https://" + server)
		if err != nil {
			return false
		}
	}
	host := strings.ToLower(u.Hostname())
	if slices.Contains(localHosts, host) || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
