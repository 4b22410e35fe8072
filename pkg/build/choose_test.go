package build

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// stubEngine stands in for the Docker engine: it answers a ping or not, and
// records that it was closed.
type stubEngine struct {
	pingErr error
	closed  bool
}

func (f *stubEngine) Build(context.Context, Request) (*Result, error) {
	return &Result{Path: "docker"}, nil
}
func (f *stubEngine) Ping(context.Context) error { return f.pingErr }
func (f *stubEngine) Close() error               { f.closed = true; return nil }

func TestChoose(t *testing.T) {
	goApp := app(t, "go-plain")       // the daemonless builder compiles it
	rubyApp := app(t, "ruby-sinatra") // its gems need a first build with Docker
	down := errors.New("cannot reach the Docker engine at unix:///var/run/docker.sock")
	tests := []struct {
		name, builder, dir string
		ping               error
		want               string // "daemonless", "docker", or a part of the error
		why                string // the reason Docker builds under auto
	}{
		{"auto takes the daemonless builder", "", goApp, nil, "daemonless", ""},
		{"auto falls back to Docker, saying why", Auto, rubyApp, nil, "docker", "its dependency steps need a first build with Docker"},
		{"docker by name", DockerName, goApp, nil, "docker", ""},
		{"daemonless by name", DaemonlessName, goApp, nil, "daemonless", ""},
		{"daemonless by name cannot", DaemonlessName, rubyApp, nil, "the daemonless builder cannot build this image: its dependency steps need a first build with Docker", ""},
		{"auto, and Docker does not answer", Auto, rubyApp, down, "cannot reach the Docker engine at unix:///var/run/docker.sock (draft could not build without Docker either: its dependency steps need a first build with Docker)", ""},
		{"docker by name does not answer", DockerName, goApp, down, "cannot reach the Docker engine", ""},
		{"unknown", "kaniko", goApp, nil, `unknown builder "kaniko": use auto, docker or daemonless`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			engine := &stubEngine{pingErr: tt.ping}
			made := false
			ch := Chooser{Daemonless: NewDaemonless(nil), NewDocker: func() (Engine, error) { made = true; return engine, nil }}
			c, err := ch.Choose(context.Background(), tt.builder, Request{Dir: tt.dir, Dockerfile: "Dockerfile"})
			switch tt.want {
			case "daemonless":
				if err != nil || c.Plan == nil || c.Builder != ch.Daemonless || made {
					t.Fatalf("Choose = %+v, %v; want the daemonless builder and no engine made", c, err)
				}
			case "docker":
				if err != nil || c.Builder != Builder(engine) || c.Plan != nil {
					t.Fatalf("Choose = %+v, %v; want the engine", c, err)
				}
				if got := ""; c.NotDaemonless != nil {
					got = c.NotDaemonless.Reason
					if !strings.Contains(got, tt.why) || tt.why == "" {
						t.Errorf("why not daemonless = %q, want %q", got, tt.why)
					}
				} else if tt.why != "" {
					t.Errorf("no reason given, want %q", tt.why)
				}
				c.Close()
				if !engine.closed {
					t.Error("the engine was not closed with the choice")
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Choose err = %v, want %q", err, tt.want)
				}
				if tt.ping != nil && !engine.closed {
					t.Error("an engine that did not answer was left open")
				}
				var ne *NotEligibleError
				if errors.As(err, &ne) != (tt.builder == DaemonlessName) {
					t.Errorf("NotEligibleError = %v for %s", errors.As(err, &ne), tt.name)
				}
			}
		})
	}
}
