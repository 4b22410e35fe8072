// bench/live: watch mode's live update, save -> the new answer through the
// local port of `draft up --watch --auto-connect`, for each pack's app
// (e2e/testdata: go-app on scratch, python-app, node-app, ruby-app,
// php-app). Per app, in the same run: -runs saves with live update (the
// median, and its phases from draft's own line: sync, restart), then
// -full saves of draft's own full-redeploy loop (--no-live-update), for the
// ratio; and the RSS of draft's agent in the pod (its process is on this
// machine: the environment's containers run here).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

var (
	apps = flag.String("apps", "python-app,node-app,ruby-app,php-app,go-app", "the apps of e2e/testdata to measure")
	runs = flag.Int("runs", 20, "saves with live update, per app")
	full = flag.Int("full", 8, "saves of the full-redeploy loop, per app (0: none)")
	ns   = flag.String("namespace", "bench-live", "namespace")
)

// The line in each app's source that says its version.
var versions = map[string]struct{ file, v1 string }{
	"go-app":     {"main.go", `const version = "v1"`},
	"python-app": {"app.py", `VERSION = "v1"`},
	"node-app":   {"server.js", `const VERSION = "v1"`},
	"ruby-app":   {"app.rb", `VERSION = "v1"`},
	"php-app":    {"index.php", `$version = "v1"`},
}

func main() {
	flag.Parse()
	root := benchutil.Root()
	draft := filepath.Join(root, "bin", "draft")
	exec.Command("kubectl", "create", "namespace", *ns).Run()
	for _, app := range strings.Split(*apps, ",") {
		measure(root, draft, app)
	}
}

func measure(root, draft, app string) {
	v, ok := versions[app]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench/live: no app %s\n", app)
		os.Exit(2)
	}
	dir := filepath.Join(os.TempDir(), "draft-bench-live", app)
	os.RemoveAll(dir)
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", app), dir)
	benchutil.Run(dir, nil, draft, "create")
	file := filepath.Join(dir, v.file)
	src, _ := os.ReadFile(file)
	save := func(version string) time.Time {
		s := strings.Replace(string(src), v.v1, strings.Replace(v.v1, "v1", version, 1), 1)
		os.WriteFile(file, []byte(s), 0o644)
		return time.Now()
	}

	w := start(draft, dir)
	var live, syncs, restarts, compiles []time.Duration
	for i := 0; i < *runs+2; i++ { // the first two warm up
		version := fmt.Sprintf("live%d", i)
		t0 := save(version)
		took := benchutil.WaitFor(w.url, app+" "+version, t0)
		line := lineAfter(w.lines, t0, "synced ")
		if i >= 2 {
			live = append(live, took)
			if d, r, ok := phases(line); ok {
				syncs, restarts = append(syncs, d), append(restarts, r)
			}
			if m := compiledLine.FindStringSubmatch(line); m != nil {
				c, _ := time.ParseDuration(m[1])
				compiles = append(compiles, c)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	rss := agentRSS()
	w.stop()

	var redeploys []time.Duration
	if *full > 0 {
		f := start(draft, dir, "--no-live-update")
		for i := 0; i < *full; i++ {
			version := fmt.Sprintf("full%d", i)
			t0 := save(version)
			redeploys = append(redeploys, benchutil.WaitFor(f.url, app+" "+version, t0))
			time.Sleep(500 * time.Millisecond)
		}
		f.stop()
	}
	benchutil.Run(dir, nil, draft, "delete", "-n", *ns, "--ignore-not-found")

	p50 := benchutil.Median(live)
	fmt.Printf("live %s: save -> new answer through connect, median of %d: %s (min %s, max %s)\n", app, len(live), ms(p50), ms(minOf(live)), ms(maxOf(live)))
	if len(syncs) > 0 {
		fmt.Printf("  draft's own line (medians of %d): sync to the pod %s, of which the app's restart until it accepts %s\n", len(syncs), ms(benchutil.Median(syncs)), ms(benchutil.Median(restarts)))
	}
	if len(compiles) > 0 {
		fmt.Printf("  compiling here (medians of %d): %s, before the sync\n", len(compiles), ms(benchutil.Median(compiles)))
	}
	if len(redeploys) > 0 {
		r := benchutil.Median(redeploys)
		fmt.Printf("  draft's full-redeploy loop (--no-live-update), median of %d: %s; live / full: %.2f\n", len(redeploys), ms(r), float64(p50)/float64(r))
	}
	fmt.Printf("  draft's agent in the pod: RSS %s\n", rss)
}

type watching struct {
	cmd   *exec.Cmd
	url   string
	lines *benchutil.Lines
}

func start(draft, dir string, extra ...string) *watching {
	args := append([]string{"up", "--watch", "--auto-connect", "-n", *ns}, extra...)
	cmd := exec.Command(draft, args...)
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	w := &watching{cmd: cmd, lines: &benchutil.Lines{}}
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.lines.Add(sc.Text())
			if os.Getenv("BENCH_VERBOSE") != "" {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
			if strings.Contains(sc.Text(), " is ready: revision ") || strings.Contains(sc.Text(), "nothing changed: ") {
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := regexp.MustCompile(`^(http://127\.0\.0\.1:\d+) -> `).FindStringSubmatch(sc.Text()); m != nil {
			w.url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	select {
	case <-ready:
	case <-time.After(3 * time.Minute):
		fmt.Fprintln(os.Stderr, "bench/live: the first up did not finish")
		os.Exit(1)
	}
	return w
}

func (w *watching) stop() {
	w.cmd.Process.Signal(os.Interrupt)
	w.cmd.Wait()
}

var compiledLine = regexp.MustCompile(`^compiled in ([0-9.]+[mµ]?s)`)

var syncLine = regexp.MustCompile(`synced .*? to \d+ pods? in ([0-9.]+[mµ]?s)(, app restarted in ([0-9.]+[mµ]?s))?`)

// phases reads the sync's time and the restart's from draft's line.
func phases(line string) (sync, restart time.Duration, ok bool) {
	m := syncLine.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, false
	}
	sync, _ = time.ParseDuration(m[1])
	if m[3] != "" {
		restart, _ = time.ParseDuration(m[3])
	}
	return sync, restart, true
}

// agentRSS is the resident memory of draft's agents running here.
func agentRSS() string {
	out, _ := exec.Command("pgrep", "-f", `^/\.draft/agent `).Output()
	var parts []string
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				parts = append(parts, strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")))
			}
		}
	}
	if len(parts) == 0 {
		return "not found"
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func minOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// lineAfter waits a little for the first line after t that holds what.
func lineAfter(lines *benchutil.Lines, t time.Time, what string) string {
	for i := 0; i < 40; i++ {
		if _, l := lines.After(t, func(l string) bool { return strings.Contains(l, what) }); l != "" {
			return l
		}
		time.Sleep(25 * time.Millisecond)
	}
	return ""
}
