package build

import (
	"context"
	"errors"
	"fmt"
)

// The builders, as --builder and draft.toml's builder name them.
const (
	Auto           = "auto"       // daemonless when it can, else Docker
	DockerName     = "docker"     // the Docker engine
	DaemonlessName = "daemonless" // go-containerregistry, no daemon
)

// Engine is the Docker builder as Choose uses it: it must answer before it
// is chosen.
type Engine interface {
	Builder
	Ping(ctx context.Context) error
	Close() error
}

// Chooser picks the builder for a request.
type Chooser struct {
	Daemonless *Daemonless
	// NewDocker makes the Docker builder; nil: NewDockerBuilder.
	NewDocker func() (Engine, error)
}

// Choice is the builder chosen for a request, and why.
type Choice struct {
	Builder Builder
	// Plan is the daemonless builder's plan, when it builds.
	Plan *Plan
	// NotDaemonless says why the daemonless builder could not, when Docker
	// builds under Auto (nil when Docker was asked for by name).
	NotDaemonless *NotEligibleError
	closer        func() error
}

// Close releases the Docker builder's connection, if one was made.
func (c *Choice) Close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer()
}

// Choose picks the builder named (Auto, DockerName, DaemonlessName; ""
// is Auto): the daemonless builder when it is asked for or Auto and its Plan
// takes the request, else Docker if the engine answers. A request the
// daemonless builder was asked for by name and cannot build returns its
// *NotEligibleError; an engine that does not answer under Auto says why the
// daemonless builder could not either.
func (ch Chooser) Choose(ctx context.Context, builder string, req Request) (*Choice, error) {
	if builder == "" {
		builder = Auto
	}
	var why *NotEligibleError
	switch builder {
	case Auto, DaemonlessName:
		plan, err := ch.Daemonless.Plan(req)
		if err == nil {
			return &Choice{Builder: ch.Daemonless, Plan: plan}, nil
		}
		if !errors.As(err, &why) {
			return nil, err
		}
		if builder == DaemonlessName {
			return nil, why
		}
	case DockerName:
	default:
		return nil, fmt.Errorf("unknown builder %q: use %s, %s or %s", builder, Auto, DockerName, DaemonlessName)
	}
	newDocker := ch.NewDocker
	if newDocker == nil {
		newDocker = func() (Engine, error) { return NewDockerBuilder() }
	}
	docker, err := newDocker()
	if err != nil {
		return nil, err
	}
	if err := docker.Ping(ctx); err != nil {
		docker.Close()
		if why != nil {
			return nil, fmt.Errorf("%w (draft could not build without Docker either: %s)", err, why.Reason)
		}
		return nil, err
	}
	return &Choice{Builder: docker, NotDaemonless: why, closer: docker.Close}, nil
}

var _ Engine = (*DockerBuilder)(nil)
