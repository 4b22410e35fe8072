// Package connect puts a release's pods on localhost, and keeps the local
// ports open while the pods are replaced.
//
// A Forwarder owns its local listeners for as long as it runs: every accepted
// connection is sent, through the API server's portforward subresource, to the
// newest Ready pod that serves the port at that moment, so a redeploy, a crash
// or a deleted pod never closes the local port (kubectl port-forward binds one
// pod and dies with it). A new pod counts as Ready as soon as its own readiness
// probe passes when the Forwarder runs it (early.go), up to a second before
// Kubernetes says so; a kept-alive HTTP connection's next request goes to the
// new pod (relay.go). It finds the pods by a label selector (kube's PodWatch,
// which pkg/logs shares) and takes client-go types, nothing of draft's; the
// logs are pkg/logs'.
package connect
