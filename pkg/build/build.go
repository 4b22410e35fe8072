package build

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Request describes one build (docs/up-design.md).
type Request struct {
	Dir        string            // the app's directory: the build context
	Dockerfile string            // relative to Dir ("Dockerfile")
	BuildArgs  map[string]string // draft.toml image-build-args
	Target     name.Tag          // registry/repo:tag the image is for
	Network    string            // docker build network mode ("" = the daemon's default, "host")
	Platform   v1.Platform       // of the cluster's nodes (linux/amd64 ...)
	Log        io.Writer         // build output (stderr)
	Labels     map[string]string // added to the image (draft records the dependency digest here)
	Previous   v1.Image          // the image deployed now, if any: the daemonless source path reuses its layers
}

// Result is a built image: either one to push, or one the builder pushed.
type Result struct {
	Image  v1.Image    // set when the image is to be pushed by pkg/registry (daemonless)
	Pushed name.Digest // set when the builder pushed it already (Docker: the daemon pushes)
	Path   string      // which path was taken: "docker", "daemonless-go", "daemonless-source"
}

// Builder makes an image from an app's directory.
type Builder interface {
	Build(ctx context.Context, req Request) (*Result, error)
}
