// Package build makes container images from an app's directory: a Docker
// Engine builder that builds the Dockerfile as users expect and pushes through
// the daemon, and a daemonless builder on go-containerregistry that assembles
// the image from a base and layers (a Go binary compiled on the host; the
// app's source as the top layer over an earlier build's dependency layers).
// Both sit behind the Builder interface, and share the build context: the
// app's tree after .dockerignore, tarred reproducibly without ever following a
// symlink out of the directory (ContextTar), and its content digest, which
// tags the image and tells an unchanged tree at once (ContextDigest).
package build
