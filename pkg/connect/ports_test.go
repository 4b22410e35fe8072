package connect

import (
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseMapping(t *testing.T) {
	tests := []struct {
		in      string
		want    Mapping
		wantErr string
	}{
		{in: "8081:8080", want: Mapping{Local: 8081, Remote: 8080}},
		{in: "8080", want: Mapping{Local: 8080, Remote: 8080}},
		{in: " 3000:80 ", want: Mapping{Local: 3000, Remote: 80}},
		{in: "0:8080", wantErr: "not a port mapping"},
		{in: "8080:", wantErr: "not a port mapping"},
		{in: "a:b", wantErr: "not a port mapping"},
		{in: "70000:80", wantErr: "not a port mapping"},
		{in: "1:2:3", wantErr: "not a port mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMapping(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMapping(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMapping(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
	if _, err := ParseMappings([]string{"8081:8080", "8082:8080"}); err == nil || !strings.Contains(err.Error(), "mapped twice") {
		t.Errorf("a pod port mapped twice: %v", err)
	}
}

func TestMappingString(t *testing.T) {
	tests := []struct {
		m    Mapping
		want string
	}{
		{Mapping{Local: 8080, Remote: 8080, Name: "http"}, "http://127.0.0.1:8080 -> pod port 8080 (http)"},
		{Mapping{Local: 9000, Remote: 8080}, "http://127.0.0.1:9000 -> pod port 8080"},
		{Mapping{Local: 8443, Remote: 8443, Name: "https"}, "https://127.0.0.1:8443 -> pod port 8443 (https)"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	pods := []*corev1.Pod{
		pod("old", 1, true, port("http", 8080)),
		pod("new", 2, true, port("http", 8080), port("metrics", 9090), corev1.ContainerPort{ContainerPort: 53, Protocol: corev1.ProtocolUDP}),
	}
	ports := podPorts(pods)
	got, fixed := plan(ports, []Mapping{{Local: 9999, Remote: 9090}, {Local: 7000, Remote: 7000}})
	want := []Mapping{{8080, 8080, "http"}, {9999, 9090, "metrics"}, {7000, 7000, ""}}
	if len(got) != len(want) {
		t.Fatalf("plan = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || fixed[i] != (i > 0) {
			t.Errorf("plan[%d] = %+v (fixed %v), want %+v", i, got[i], fixed[i], want[i])
		}
	}
}

// A taken port gives way to a free one, unless it was asked for.
func TestListenTakenPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port

	m := Mapping{Local: taken, Remote: 8080}
	ls, err := listen([]string{"127.0.0.1", "::1"}, &m, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		defer l.Close()
	}
	if m.Local == taken || m.Local == 0 || m.Remote != 8080 {
		t.Errorf("mapping = %+v: want a free local port other than %d", m, taken)
	}

	fixed := Mapping{Local: taken, Remote: 8080}
	if _, err := listen([]string{"127.0.0.1"}, &fixed, true, nil); err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "--override-port") {
		t.Errorf("an override on a taken port: %v", err)
	}

	// The same number is not handed out twice in one run.
	again := Mapping{Local: m.Local, Remote: 9090}
	ls2, err := listen([]string{"127.0.0.1"}, &again, false, map[int]bool{m.Local: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ls2[0].Close()
	if again.Local == m.Local {
		t.Errorf("port %d handed out twice", m.Local)
	}
}
