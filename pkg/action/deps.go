package action

import (
	"context"

	"github.com/draftk8s/draft/pkg/build"
	"github.com/draftk8s/draft/pkg/connect"
	"github.com/draftk8s/draft/pkg/deploy"
	"github.com/draftk8s/draft/pkg/kube"
)

// Deps is how an action reaches what lies outside this process: the
// cluster, the deployer on it, the Docker engine. Its zero value is the real
// ones; a test sets the ones it fakes (a simulated cluster, a stub engine).
// Registries are reached by address, so a test runs one (go-containerregistry's
// in-memory registry) and names it.
type Deps struct {
	// Resolve finds the cluster the options name and checks it (kube.Resolve).
	Resolve func(ctx context.Context, o kube.Options) (*kube.Cluster, error)
	// Deployer makes the deployer for a cluster (deploy.New on its getter).
	Deployer func(c *kube.Cluster) (*deploy.Deployer, error)
	// Docker makes the Docker builder (build.NewDockerBuilder).
	Docker func() (build.Engine, error)
	// DialPod opens connect's port-forward connections to pods (nil: the API
	// server's portforward subresource).
	DialPod connect.Dialer
}

func (d Deps) resolve(ctx context.Context, o kube.Options) (*kube.Cluster, error) {
	if d.Resolve != nil {
		return d.Resolve(ctx, o)
	}
	return kube.Resolve(ctx, o)
}

func (d Deps) deployer(c *kube.Cluster) (*deploy.Deployer, error) {
	if d.Deployer != nil {
		return d.Deployer(c)
	}
	return deploy.New(c.Getter, c.Namespace, deploy.WithClient(c.Client))
}
