// Package logs streams the logs of every container of a release's pods to a
// writer, each line prefixed by [pod/container]. A Stream follows new pods as
// they appear, resumes a dropped stream where it stopped (by the timestamp
// of the last line it wrote) and lets a deleted pod's streams finish. It
// finds the pods by a label selector (kube's PodWatch, which pkg/connect
// shares) and takes client-go types, nothing of draft's; forwarding ports is
// pkg/connect's.
package logs
