//go:build e2e

package kube

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/draftk8s/draft/internal/testkit"
)

// TestE2EResolve resolves the real environment's kubeconfig (e2e/env/up):
// a local cluster that answers, on linux nodes.
func TestE2EResolve(t *testing.T) {
	if os.Getenv("KUBECONFIG") == "" {
		testkit.SkipOrFail(t, "KUBECONFIG is not set")
	}
	ctx := context.Background()
	c, err := Resolve(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("context %s, cluster %s, server %s (%s), namespace %s", c.Context, c.Cluster, c.Server, c.Version, c.Namespace)
	if c.Context == "" || c.Server == "" || !strings.HasPrefix(c.Version, "v1.") || c.Namespace == "" {
		t.Errorf("resolved %+v", c)
	}
	if err := CheckLocal(c, nil); err != nil {
		t.Errorf("the environment's cluster is local, but: %v", err)
	}
	goos, arch, err := NodePlatform(ctx, c)
	if err != nil || goos != "linux" || arch == "" {
		t.Errorf("NodePlatform = %s/%s, %v", goos, arch, err)
	}
	if c2, err := Resolve(ctx, Options{Namespace: "elsewhere"}); err != nil || c2.Namespace != "elsewhere" {
		t.Errorf("--namespace: %v %v", c2, err)
	}
	_, err = Resolve(ctx, Options{Context: "nope"})
	if !errors.Is(err, ErrUnknownContext) || !strings.Contains(err.Error(), c.Context) {
		t.Errorf("an unknown context: %v, want ErrUnknownContext naming the contexts there are", err)
	}
}
