package cli

import (
	"github.com/spf13/pflag"

	"github.com/draftk8s/draft/pkg/action"
)

// addTargetFlags adds the flags that choose what a command acts on: the
// draft.toml environment, the release, and the cluster as kubectl and helm
// users name it. Every command that reaches the cluster has the same ones.
func addTargetFlags(f *pflag.FlagSet, t *action.Target) {
	f.StringVarP(&t.Environment, "environment", "e", "", "the draft.toml environment (default: development)")
	f.StringVar(&t.Release, "release", "", "the Helm release (default: draft.toml's name)")
	f.StringVar(&t.Kube.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&t.Kube.Context, "kube-context", "", "the kubeconfig context to use (default: draft.toml's kube-context, else the current context)")
	f.StringVarP(&t.Kube.Namespace, "namespace", "n", "", "the namespace (default: draft.toml's namespace, else the context's)")
	f.StringSliceVar(&t.AllowContexts, "allow-context", nil, "use this context even though it is not a local cluster (repeatable)")
}
