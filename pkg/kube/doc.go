// Package kube resolves which cluster draft talks to, the way kubectl and helm
// do (KUBECONFIG, --kubeconfig, --kube-context, --namespace, through
// k8s.io/cli-runtime's ConfigFlags), checks that it answers, guards against
// deploying to a cluster that is not a local one unless the user allowed it,
// and reads the platform of its nodes. Its errors are one sentence that says
// what to do.
package kube
