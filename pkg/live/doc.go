// Package live applies a change to the running containers of watch mode,
// without a new image or pod: draft's own program (draft-agent, in agent/)
// is added to the image that watch mode deploys, starts the app as its
// child, and takes files and restarts from draft over the pod's loopback,
// reached through the API server's port-forward (Image, AgentBinary). The
// Syncer keeps every pod of the release at the newest state: the files
// changed since the image, to each pod once, and whole to a pod that is new
// or whose container restarted, before its app starts. It knows nothing of
// Dockerfiles, Helm or the file watch: what may be synced and where it goes
// is given to it (Spec).
package live
