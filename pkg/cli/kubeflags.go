package cli

import (
	"github.com/spf13/pflag"

	"github.com/draftk8s/draft/pkg/kube"
)

// addKubeFlags adds the flags kubectl and helm users expect.
func addKubeFlags(f *pflag.FlagSet, o *kube.Options, allow *[]string) {
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.Context, "kube-context", "", "the kubeconfig context to use (default: draft.toml's kube-context, else the current context)")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "the namespace (default: draft.toml's namespace, else the context's)")
	f.StringSliceVar(allow, "allow-context", nil, "deploy to this context even though it is not a local cluster")
}
