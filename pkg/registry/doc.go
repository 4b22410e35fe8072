// Package registry talks to container registries with go-containerregistry: it
// pushes images (credentials from the Docker keychain and credential helpers,
// blobs the registry already has are skipped, retries on 5xx and timeouts,
// TLS unless the registry is on loopback or marked insecure), looks up tags,
// and fetches base images through registry mirrors.
package registry
