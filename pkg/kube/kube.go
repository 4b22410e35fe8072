package kube

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Errors that Resolve's and CheckLocal's errors match with errors.Is, so that
// callers can map them to exit codes. The messages are in the errors themselves.
var (
	ErrNoKubeconfig   = errors.New("no kubeconfig")
	ErrUnknownContext = errors.New("unknown kubeconfig context")
	ErrUnreachable    = errors.New("cluster unreachable")
	ErrUnauthorized   = errors.New("cluster credentials refused")
	ErrNotLocal       = errors.New("not a local cluster")
)

// Options select the cluster as kubectl's and helm's flags do. Empty fields
// take the usual defaults: $KUBECONFIG or ~/.kube/config, its current
// context, and the context's namespace or "default".
type Options struct {
	Kubeconfig string // --kubeconfig
	Context    string // --kube-context
	Namespace  string // --namespace / -n
	// Check, when set, vets the cluster before Resolve sends it anything
	// (draft passes the guard against clusters that are not local).
	Check func(*Cluster) error
}

// Cluster is the resolved cluster: where it is, how to talk to it, and the
// namespace to work in.
type Cluster struct {
	Context   string // the kubeconfig context in use ("" for an in-cluster configuration)
	Cluster   string // the kubeconfig cluster entry of that context
	Server    string // the API server's URL
	Namespace string // --namespace, else the context's namespace, else "default"
	Version   string // the API server's version (v1.34.4), read when Resolve checked it answers

	Config *rest.Config
	// Getter is what Helm's action.Configuration.Init takes; it resolves to
	// the same context and namespace.
	Getter genericclioptions.RESTClientGetter
	Client kubernetes.Interface
}

// pingTimeout bounds the check that the cluster answers.
const pingTimeout = 5 * time.Second

// Resolve loads the kubeconfig as kubectl does, picks the context and the
// namespace, and checks that the API server answers. Every error is one
// sentence that says what to do, and matches ErrNoKubeconfig,
// ErrUnknownContext, ErrUnreachable or ErrUnauthorized where it is one of those.
func Resolve(ctx context.Context, o Options) (*Cluster, error) {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &o.Kubeconfig
	flags.Context = &o.Context
	flags.Namespace = &o.Namespace
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		// client-go's default of 5 requests a second (burst 10) makes Helm
		// wait on its own rate limiter during an upgrade.
		c.QPS, c.Burst = 50, 100
		return c
	}
	where := kubeconfigSource(o.Kubeconfig)
	if o.Kubeconfig != "" {
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			return nil, sentence(ErrNoKubeconfig, err, "the kubeconfig %s cannot be read (%v): pass the path of an existing kubeconfig to --kubeconfig", o.Kubeconfig, errText(err))
		}
	}
	loader := flags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, sentence(ErrNoKubeconfig, err, "the kubeconfig %s cannot be loaded (%v): fix it, or point KUBECONFIG or --kubeconfig at another", where, errText(err))
	}

	c := &Cluster{Getter: flags}
	inCluster := len(raw.Contexts) == 0 && os.Getenv("KUBERNETES_SERVICE_HOST") != "" && o.Context == ""
	if !inCluster {
		if len(raw.Contexts) == 0 {
			return nil, sentence(ErrNoKubeconfig, nil, "no kubeconfig found (%s has no contexts): point KUBECONFIG or --kubeconfig at your cluster's kubeconfig (kind, minikube and k3d write one when they create a cluster)", where)
		}
		c.Context = o.Context
		if c.Context == "" {
			c.Context = raw.CurrentContext
		}
		if c.Context == "" {
			return nil, sentence(ErrUnknownContext, nil, "the kubeconfig %s has no current context: choose one with kubectl config use-context NAME or --kube-context NAME (its contexts: %s)", where, contextNames(raw.Contexts))
		}
		kc, ok := raw.Contexts[c.Context]
		if !ok {
			return nil, sentence(ErrUnknownContext, nil, "context %q is not in the kubeconfig %s: pick one of its contexts (%s) with --kube-context", c.Context, where, contextNames(raw.Contexts))
		}
		c.Cluster = kc.Cluster
		if _, ok := raw.Clusters[kc.Cluster]; !ok {
			return nil, sentence(ErrUnknownContext, nil, "context %q of the kubeconfig %s names the cluster %q, which the kubeconfig does not define: fix the kubeconfig or pick another context with --kube-context", c.Context, where, kc.Cluster)
		}
	}

	c.Config, err = flags.ToRESTConfig()
	if err != nil {
		return nil, sentence(ErrNoKubeconfig, err, "the kubeconfig %s is not usable for context %q (%v): fix it, or pick another context with --kube-context", where, c.Context, errText(err))
	}
	c.Config.UserAgent = "draft"
	c.Server = c.Config.Host
	c.Namespace, _, err = loader.Namespace()
	if err != nil {
		return nil, sentence(ErrNoKubeconfig, err, "the namespace of context %q cannot be read from the kubeconfig %s (%v): pass one with --namespace", c.Context, where, errText(err))
	}
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, sentence(ErrNoKubeconfig, err, "the kubeconfig %s is not usable for context %q (%v): fix it, or pick another context with --kube-context", where, c.Context, errText(err))
	}
	if o.Check != nil { // before any request: a refused cluster is never contacted
		if err := o.Check(c); err != nil {
			return nil, err
		}
	}
	if err := c.ping(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ping checks that the API server answers and remembers its version.
func (c *Cluster) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	raw, err := c.Client.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Raw()
	if err == nil {
		var v version.Info
		if json.Unmarshal(raw, &v) == nil {
			c.Version = v.GitVersion
		}
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("checking that the cluster at %s answers: %w", c.Server, ctx.Err())
	}
	return c.classify(err)
}

// classify turns a failed request to the API server into one sentence.
func (c *Cluster) classify(err error) error {
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	switch {
	case apierrors.IsUnauthorized(err):
		return sentence(ErrUnauthorized, err, "the cluster at %s (context %s) did not accept your credentials: log in again or refresh the kubeconfig, then check with kubectl get nodes", c.Server, c.Context)
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname):
		return sentence(ErrUnreachable, err, "the certificate of the cluster at %s (context %s) is not trusted (%v): check the certificate-authority of the kubeconfig, then check with kubectl get nodes", c.Server, c.Context, errText(err))
	case strings.Contains(err.Error(), "getting credentials"):
		return sentence(ErrUnauthorized, err, "the credentials of context %s cannot be obtained (%v): check the user entry of the kubeconfig and its exec plugin, then check with kubectl get nodes", c.Context, errText(err))
	}
	return sentence(ErrUnreachable, err, "cannot reach the cluster at %s (context %s): is it running? check with kubectl get nodes", c.Server, c.Context)
}

// kubeconfigSource says where the kubeconfig is read from, for messages.
func kubeconfigSource(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return "KUBECONFIG=" + env
	}
	return clientcmd.RecommendedHomeFile
}

func contextNames[T any](m map[string]T) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// sentenceError is one clear sentence; it matches its kind and its cause with
// errors.Is and errors.As.
type sentenceError struct {
	kind error
	msg  string
	err  error
}

func sentence(kind, cause error, format string, args ...any) error {
	return &sentenceError{kind: kind, msg: fmt.Sprintf(format, args...), err: cause}
}

func (e *sentenceError) Error() string { return e.msg }

func (e *sentenceError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// errText is the innermost, most specific text of err, on one line.
func errText(err error) string {
	s := err.Error()
	var ue interface{ Unwrap() error }
	for errors.As(err, &ue) {
		inner := ue.Unwrap()
		if inner == nil {
			break
		}
		err = inner
	}
	if t := err.Error(); t != "" && len(t) < len(s) && strings.Contains(s, t) {
		s = t
	}
	return strings.Join(strings.Fields(s), " ")
}
