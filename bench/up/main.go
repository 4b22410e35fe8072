// bench/up: cold and warm `draft up` per pack, with the phase breakdown
// (build, push, deploy, ready) from draft's --output json events. Cold is the
// first up of a new app (base images already in the registry); warm is an up
// after a one-line change. Needs the environment (eval "$(make -s cluster)").
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

type pack struct{ app, source, comment string }

var packs = []pack{
	{"go-app", "main.go", "//"}, {"python-app", "app.py", "#"}, {"node-app", "server.js", "//"},
	{"ruby-app", "app.rb", "#"}, {"php-app", "index.php", "//"}, {"java-app", "src/main/java/com/example/App.java", "//"},
}

type phases struct{ build, push, apply, ready, total float64 }

func main() {
	runs := flag.Int("runs", 5, "warm ups per pack")
	only := flag.String("packs", "", "comma-separated apps (default: all)")
	flag.Parse()
	root := benchutil.Root()
	draft := filepath.Join(root, "bin", "draft")
	ns := "bench-up"
	fmt.Printf("up: seconds per phase, cold (first up) and warm (median of %d one-line changes)\n", *runs)
	fmt.Printf("  %-11s %-5s %-18s %7s %7s %7s %7s %7s\n", "app", "", "path", "build", "push", "deploy", "ready", "total")
	for _, p := range packs {
		if *only != "" && !strings.Contains(","+*only+",", ","+p.app+",") {
			continue
		}
		dir := filepath.Join(os.TempDir(), "draft-bench-up", p.app)
		os.RemoveAll(dir)
		benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", p.app), dir)
		appendLine(filepath.Join(dir, p.source), fmt.Sprintf("%s bench %d", p.comment, time.Now().UnixNano()))
		benchutil.Run(dir, nil, draft, "create")
		up := []string{"up", "-n", ns, "--create-namespace", "-o", "json"}
		ph, path := measure(dir, draft, up)
		print(p.app, "cold", path, ph)
		var warm []phases
		for i := 0; i < *runs; i++ {
			appendLine(filepath.Join(dir, p.source), fmt.Sprintf("%s change %d", p.comment, i))
			ph, path = measure(dir, draft, up)
			warm = append(warm, ph)
		}
		med := func(f func(phases) float64) float64 {
			var xs []float64
			for _, w := range warm {
				xs = append(xs, f(w))
			}
			return benchutil.Median(xs)
		}
		print(p.app, "warm", path, phases{med(func(x phases) float64 { return x.build }), med(func(x phases) float64 { return x.push }),
			med(func(x phases) float64 { return x.apply }), med(func(x phases) float64 { return x.ready }), med(func(x phases) float64 { return x.total })})
		benchutil.Run(dir, nil, draft, "delete", "-n", ns, "--ignore-not-found")
	}
}

func measure(dir, draft string, up []string) (phases, string) {
	out, wall := benchutil.Run(dir, nil, draft, up...)
	var ph phases
	path := "-"
	for _, line := range strings.Split(out, "\n") {
		var e struct {
			Event   string  `json:"event"`
			Path    string  `json:"path"`
			Seconds float64 `json:"seconds"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch e.Event {
		case "build":
			ph.build, path = e.Seconds, e.Path
		case "push":
			ph.push = e.Seconds
		case "deploy":
			ph.apply = e.Seconds
		}
	}
	ph.total = wall.Seconds()
	ph.ready = ph.total - ph.build - ph.push - ph.apply
	return ph, path
}

func print(app, kind, path string, p phases) {
	fmt.Printf("  %-11s %-5s %-18s %7.2f %7.2f %7.2f %7.2f %7.2f\n", app, kind, path, p.build, p.push, p.apply, p.ready, p.total)
}

func appendLine(file, line string) {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(f, "\n%s\n", line)
	f.Close()
}
