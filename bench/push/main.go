// bench/push: bytes uploaded for a one-line change of a Go app, counted at the
// registry (a counting proxy in front of it), draft's daemonless path against
// ko on the same app. Needs the environment (eval "$(make -s cluster)") and ko
// on PATH (bench/push/run.sh installs it).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

func main() {
	runs := flag.Int("runs", 10, "one-line changes to measure")
	draftBin := flag.String("draft", "bin/draft", "the draft binary")
	flag.Parse()
	reg := os.Getenv("DRAFT_REGISTRY")
	if reg == "" {
		fmt.Fprintln(os.Stderr, `bench/push needs the environment: eval "$(make -s cluster)"`)
		os.Exit(1)
	}
	root := benchutil.Root()
	draft, _ := filepath.Abs(filepath.Join(root, *draftBin))
	proxy, err := benchutil.NewProxy(reg)
	if err != nil {
		panic(err)
	}
	defer proxy.Close()
	ns := "bench-push"

	// draft: create, a first up, then one-line changes.
	dir := filepath.Join(os.TempDir(), "draft-bench-push", "go-app")
	os.RemoveAll(filepath.Dir(dir))
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", "go-app"), dir)
	benchutil.Run(dir, nil, draft, "create")
	up := []string{"up", "--registry", proxy.Addr, "-n", ns, "--create-namespace", "-o", "json"}
	benchutil.Run(dir, nil, draft, up...)
	proxy.Take()
	var draftBytes, draftSelf, draftIdeal []int64
	for i := 0; i < *runs; i++ {
		edit(filepath.Join(dir, "main.go"), i)
		out, _ := benchutil.Run(dir, nil, draft, up...)
		counted := proxy.Take()
		var pushed struct {
			Image    string `json:"image"`
			Uploaded int64  `json:"uploaded"`
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"event":"push"`) {
				json.Unmarshal([]byte(line), &pushed)
			}
		}
		draftBytes = append(draftBytes, counted)
		draftSelf = append(draftSelf, pushed.Uploaded)
		draftIdeal = append(draftIdeal, ideal(pushed.Image))
	}
	benchutil.Run(dir, nil, draft, "delete", "-n", ns, "--ignore-not-found")

	// ko: the same app and changes.
	kodir := filepath.Join(os.TempDir(), "draft-bench-push", "ko-app")
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", "go-app"), kodir)
	// ko's default base (cgr.dev) is not reachable here: the environment's
	// pause image stands in; only the binary layer changes between edits.
	koEnv := []string{"KO_DOCKER_REPO=" + proxy.Addr + "/ko-go-app", "KO_DEFAULTBASEIMAGE=" + reg + "/pause:3.10"}
	benchutil.Run(kodir, koEnv, "ko", "build", "--bare", "--insecure-registry", ".")
	proxy.Take()
	var koBytes []int64
	for i := 0; i < *runs; i++ {
		edit(filepath.Join(kodir, "main.go"), i)
		benchutil.Run(kodir, koEnv, "ko", "build", "--bare", "--insecure-registry", ".")
		koBytes = append(koBytes, proxy.Take())
	}
	d, k, id := benchutil.Median(draftBytes), benchutil.Median(koBytes), benchutil.Median(draftIdeal)
	fmt.Printf("push: one-line change of a Go app, median of %d, bytes counted at the registry\n", *runs)
	fmt.Printf("  draft (daemonless-go): %d bytes (draft's own count %d); changed layer + config + manifest = %d; ratio %.3f\n",
		d, benchutil.Median(draftSelf), id, float64(d)/float64(id))
	fmt.Printf("  ko build:              %d bytes\n", k)
	fmt.Printf("  draft / ko:            %.2f\n", float64(d)/float64(k))
}

// edit changes the version string: a one-line change.
func edit(file string, i int) {
	b, _ := os.ReadFile(file)
	s := string(b)
	start := strings.Index(s, `const version = "`)
	end := strings.Index(s[start+17:], `"`)
	// A nonce keeps the content new to the registry across runs of the benchmark.
	s = s[:start] + fmt.Sprintf(`const version = "bench-%d-%d"`, i, time.Now().UnixNano()) + s[start+17+end+1:]
	os.WriteFile(file, []byte(s), 0o644)
}

// ideal is the size of the image's top layer, config and manifest: what a
// one-layer change must send at least.
func ideal(image string) int64 {
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		return 0
	}
	img, err := remote.Image(ref)
	if err != nil {
		return 0
	}
	m, _ := img.Manifest()
	raw, _ := img.RawManifest()
	return m.Layers[len(m.Layers)-1].Size + m.Config.Size + int64(len(raw))
}
