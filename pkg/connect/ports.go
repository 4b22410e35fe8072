package connect

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"

	"github.com/draftk8s/draft/pkg/kube"
)

// Mapping is one forwarded port: Local on this machine's loopback to Remote
// in the pods.
type Mapping struct {
	Local  int
	Remote int
	// Name is the port's name in the pod spec ("http"), "" when the pods do
	// not declare it (an override).
	Name string
}

// URL is where the port is reached: http://127.0.0.1:PORT (https for a port
// named https or numbered 443 or 8443).
func (m Mapping) URL() string {
	scheme := "http"
	if strings.Contains(m.Name, "https") || m.Remote == 443 || m.Remote == 8443 {
		scheme = "https"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, m.Local)
}

// String is the line connect prints: "http://127.0.0.1:8080 -> pod port 8080".
func (m Mapping) String() string {
	s := fmt.Sprintf("%s -> pod port %d", m.URL(), m.Remote)
	if m.Name != "" {
		s += " (" + m.Name + ")"
	}
	return s
}

// ParseMapping reads LOCAL:REMOTE (8081:8080), or PORT for the same number
// on both sides, as --override-port and draft.toml's override-ports give it.
func ParseMapping(s string) (Mapping, error) {
	local, remote, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found {
		remote = local
	}
	l, lerr := strconv.Atoi(local)
	r, rerr := strconv.Atoi(remote)
	if lerr != nil || rerr != nil || l < 1 || l > 65535 || r < 1 || r > 65535 {
		return Mapping{}, fmt.Errorf("%q is not a port mapping: write LOCAL:REMOTE with ports from 1 to 65535, e.g. 8081:8080", s)
	}
	return Mapping{Local: l, Remote: r}, nil
}

// ParseMappings reads several mappings; a remote port given twice is an error.
func ParseMappings(specs []string) ([]Mapping, error) {
	var out []Mapping
	seen := map[int]string{}
	for _, s := range specs {
		m, err := ParseMapping(s)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[m.Remote]; ok {
			return nil, fmt.Errorf("pod port %d is mapped twice (%q and %q): keep one", m.Remote, prev, s)
		}
		seen[m.Remote] = s
		out = append(out, m)
	}
	return out, nil
}

// podPorts are the TCP container ports of the pods, by number, each with its
// name; the newest pod's name wins.
func podPorts(pods []*corev1.Pod) []Mapping {
	byPort := map[int]string{}
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return kube.Newer(sorted[j], sorted[i]) }) // oldest first
	for _, p := range sorted {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Protocol != "" && cp.Protocol != corev1.ProtocolTCP {
					continue
				}
				byPort[int(cp.ContainerPort)] = cp.Name
			}
		}
	}
	out := make([]Mapping, 0, len(byPort))
	for port, name := range byPort {
		out = append(out, Mapping{Local: port, Remote: port, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Remote < out[j].Remote })
	return out
}

// plan merges the pods' ports with the overrides: an override sets the
// local port of its pod port, or adds a pod port the pods do not declare.
// fixed reports, per mapping, whether its local port was asked for.
func plan(ports, overrides []Mapping) (out []Mapping, fixed []bool) {
	over := map[int]Mapping{}
	for _, o := range overrides {
		over[o.Remote] = o
	}
	for _, p := range ports {
		if o, ok := over[p.Remote]; ok {
			p.Local = o.Local
			delete(over, p.Remote)
			out, fixed = append(out, p), append(fixed, true)
			continue
		}
		out, fixed = append(out, p), append(fixed, false)
	}
	for _, o := range overrides {
		if _, ok := over[o.Remote]; ok {
			out, fixed = append(out, o), append(fixed, true)
		}
	}
	return out, fixed
}

// listen opens the local listeners of one mapping: on the first host (the
// one that must work, 127.0.0.1), then on the others (::1) with the same port
// when they can. With fixed unset, a taken or privileged port gives way to a
// free one; with it set, that is an error.
func listen(hosts []string, m *Mapping, fixed bool, taken map[int]bool) ([]net.Listener, error) {
	first, err := net.Listen("tcp", net.JoinHostPort(hosts[0], strconv.Itoa(m.Local)))
	if err != nil || taken[m.Local] {
		if first != nil {
			first.Close()
		}
		if fixed {
			if err == nil {
				err = syscall.EADDRINUSE
			}
			return nil, fmt.Errorf("cannot listen on local port %d for pod port %d (%s): choose another with --override-port LOCAL:%d", m.Local, m.Remote, reason(err), m.Remote)
		}
		if first, err = net.Listen("tcp", net.JoinHostPort(hosts[0], "0")); err != nil {
			return nil, fmt.Errorf("cannot listen on %s for pod port %d: %w", hosts[0], m.Remote, err)
		}
	}
	m.Local = first.Addr().(*net.TCPAddr).Port
	ls := []net.Listener{first}
	for _, h := range hosts[1:] {
		if l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(m.Local))); err == nil {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

func reason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "it is in use"
	case errors.Is(err, syscall.EACCES):
		return "it is a privileged port"
	}
	return err.Error()
}
