package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/draftk8s/draft/internal/deploysim"
)

// The unit tests run the Helm SDK for real on its in-memory release storage,
// in a simulated cluster (internal/deploysim) that plays the deployment
// controller and the kubelet.

const testNS = "dev"

type fixture struct {
	t     *testing.T
	cs    *fake.Clientset
	mem   *driver.Memory
	cfg   *action.Configuration
	d     *Deployer
	sim   *deploysim.Cluster
	chart string
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{t: t, chart: "testdata/chart"}
	f.sim = deploysim.New(t, testNS)
	f.cs, f.mem, f.cfg = f.sim.Clientset, f.sim.Memory, f.sim.Config
	d, err := New(nil, testNS, append([]Option{WithActionConfig(f.cfg), WithClient(f.cs), WithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

// request deploys the test chart with image tag tag.
func (f *fixture) request(tag string) Request {
	return Request{
		Release:  "app",
		ChartDir: f.chart,
		Values:   map[string]any{"image": map[string]any{"tag": tag}},
	}
}

func (f *fixture) history() []*release.Release { return f.sim.History("app") }

// statuses is the history as "1:superseded 2:deployed".
func (f *fixture) statuses() string { return f.sim.Statuses("app") }

// An upgrade interrupted before it applied anything says so (ErrNotApplied,
// with ctx's error): up then tells the user the release is as it was.
func TestUpgradeInterruptedBeforeApply(t *testing.T) {
	f := newFixture(t)
	if _, err := f.d.Upgrade(context.Background(), f.request("good-1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.d.Upgrade(ctx, f.request("good-2"))
	if !errors.Is(err, ErrNotApplied) || !errors.Is(err, context.Canceled) {
		t.Fatalf("an upgrade cancelled before it began: %v, want ErrNotApplied and context.Canceled", err)
	}
	if got := f.statuses(); got != "1:deployed" {
		t.Errorf("history %s after it, want 1:deployed", got)
	}
}
