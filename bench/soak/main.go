// bench/soak: a long watch, and big trees.
//
// -part watch: draft up --watch --auto-connect on the Python e2e app, a GET
// through the forward every 20 ms, and -saves saves, each waited for until
// the new version answers. It counts the requests that failed and samples
// the draft process's RSS, open files, threads and goroutines (from
// $DRAFT_PPROF_ADDR) every 10 redeploys.
//
// -part tree: one up of an app with one 2 GB file, and of one with 200,000
// small files, with each builder (daemonless, docker): draft's peak RSS
// (its rusage), the build and push times up reports, and the wall time.
// The release has no replica: nothing is pulled into the cluster.
//
// Needs the environment (eval "$(bash e2e/env/up)") and bin/draft.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
	"github.com/draftk8s/draft/internal/testkit"
)

const ns = "bench-soak"

func main() {
	part := flag.String("part", "watch", "watch or tree")
	saves := flag.Int("saves", 100, "redeploys in watch mode")
	idle = flag.Duration("idle", 35*time.Second, "quiet after the saves, before the last sample")
	draftBin := flag.String("draft", "bin/draft", "the draft binary")
	flag.Parse()
	if os.Getenv("DRAFT_REGISTRY") == "" || os.Getenv("KUBECONFIG") == "" {
		fail(`bench/soak needs the environment: eval "$(bash e2e/env/up)"`)
	}
	root := benchutil.Root()
	draft, _ := filepath.Abs(filepath.Join(root, *draftBin))
	switch *part {
	case "watch":
		soakWatch(root, draft, *saves)
	case "tree":
		trees(root, draft)
	default:
		fail("-part %q: watch or tree", *part)
	}
}

var idle *time.Duration

func soakWatch(root, draft string, saves int) {
	dir := filepath.Join(os.TempDir(), "draft-bench-soak", "python-app")
	os.RemoveAll(filepath.Dir(dir))
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", "python-app"), dir)
	benchutil.Run(dir, nil, draft, "create")
	setVersion(dir, "soak-0")
	defer benchutil.Run(dir, nil, draft, "delete", "-n", ns, "--ignore-not-found")

	pprofAddr := "127.0.0.1:6391"
	cmd := exec.Command(draft, "up", "--watch", "--auto-connect", "-n", ns, "--create-namespace")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DRAFT_PPROF_ADDR="+pprofAddr)
	out, _ := cmd.StdoutPipe()
	var stderr testkit.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		fail("draft up --watch: %v", err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	url := ""
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`^(http://127\.0\.0\.1:\d+) -> `)
	for url == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		fail("draft up --watch printed no URL\n%s", stderr.String())
	}
	go io.Copy(io.Discard, out)

	l := startLoop(url, 20*time.Millisecond)
	waitBody(l, "python-app soak-0", time.Time{}, time.Minute, &stderr)
	pid := cmd.Process.Pid
	type sample struct {
		after                     int
		rss                       int64
		fds, threads, goroutines  int
		failed, all               int
		medianAnswer, worstAnswer time.Duration
	}
	var samples []sample
	var answers []time.Duration
	take := func(after int) {
		f, a := l.counts()
		s := sample{after: after, rss: status(pid, "VmRSS") << 10, threads: int(status(pid, "Threads")), fds: fds(pid),
			goroutines: goroutines(pprofAddr), failed: f, all: a}
		if len(answers) > 0 {
			last := answers[max(0, len(answers)-10):]
			s.medianAnswer = benchutil.Median(append([]time.Duration(nil), last...))
			for _, d := range last {
				s.worstAnswer = max(s.worstAnswer, d)
			}
		}
		samples = append(samples, s)
	}
	take(0)
	for i := 1; i <= saves; i++ {
		v := fmt.Sprintf("soak-%d", i)
		saved := time.Now()
		setVersion(dir, v)
		answered := waitBody(l, "python-app "+v, saved, 2*time.Minute, &stderr)
		answers = append(answers, answered.Sub(saved))
		if i%10 == 0 {
			take(i)
		}
	}
	l.end()
	// Then quiet: what the forward opened for the last requests and
	// restarts has had time to end (a stream the runtime never answers
	// is given up after 30 s).
	time.Sleep(*idle)
	take(-1)
	if f := os.Getenv("SOAK_STDERR"); f != "" { // where to keep what draft said
		os.WriteFile(f, []byte(stderr.String()), 0o644)
	}
	if f := os.Getenv("SOAK_HEAP"); f != "" { // where to keep a heap profile (after a GC) at the end
		if resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(f, b, 0o644)
		}
	}
	if f := os.Getenv("SOAK_GOROUTINES"); f != "" { // where to keep the last goroutine dump
		if resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(f, b, 0o644)
		}
	}
	fmt.Printf("bench/soak watch: %d saves, a GET every 20 ms through draft connect's forward\n", saves)
	fmt.Printf("%-8s %-9s %-5s %-8s %-11s %-17s %-22s\n", "after", "RSS MiB", "FDs", "threads", "goroutines", "failed/requests", "save->answer med/max")
	for _, s := range samples {
		after := strconv.Itoa(s.after)
		if s.after < 0 {
			after = "idle"
		}
		fmt.Printf("%-8s %-9.1f %-5d %-8d %-11d %-17s %-22s\n", after, float64(s.rss)/(1<<20), s.fds, s.threads, s.goroutines,
			fmt.Sprintf("%d/%d", s.failed, s.all), fmt.Sprintf("%s/%s", s.medianAnswer.Round(time.Millisecond), s.worstAnswer.Round(time.Millisecond)))
	}
	if len(samples) > 3 {
		first, last := samples[1], samples[len(samples)-2]
		fmt.Printf("growth from redeploy %d to %d: RSS %+.1f%%, FDs %+d, goroutines %+d\n", first.after, last.after,
			100*(float64(last.rss)/float64(first.rss)-1), last.fds-first.fds, last.goroutines-first.goroutines)
	}
	if f, _ := l.counts(); f > 0 {
		for _, e := range l.failures(5) {
			fmt.Println("  failed:", e)
		}
	}
	if n := strings.Count(stderr.String(), "redeploy failed"); n > 0 {
		fmt.Printf("%d redeploys failed\n", n)
	}
}

func trees(root, draft string) {
	base := filepath.Join(os.TempDir(), "draft-bench-soak-trees")
	os.RemoveAll(base)
	defer os.RemoveAll(base)
	shapes := []struct {
		name string
		make func(dir string)
	}{
		{"one 2 GB file", func(dir string) {
			f, err := os.Create(filepath.Join(dir, "data", "big.bin"))
			if err != nil {
				fail("%v", err)
			}
			// Random bytes: a file that compresses as media or archives do.
			if _, err := io.CopyN(f, rand.Reader, 2<<30); err != nil {
				fail("%v", err)
			}
			f.Close()
		}},
		{"200,000 files", func(dir string) {
			for d := 0; d < 200; d++ {
				sub := filepath.Join(dir, "data", fmt.Sprintf("d%03d", d))
				os.MkdirAll(sub, 0o755)
				for i := 0; i < 1000; i++ {
					os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d.txt", i)), []byte(fmt.Sprintf("file %d of folder %d\n", i, d)), 0o644)
				}
			}
		}},
	}
	fmt.Println("bench/soak tree: one draft up per builder, release without replicas")
	fmt.Printf("%-15s %-11s %-13s %-9s %-9s %-9s\n", "tree", "builder", "peak RSS MiB", "build", "push", "wall")
	for i, s := range shapes {
		dir := filepath.Join(base, fmt.Sprintf("app%d", i), "python-app")
		benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", "python-app"), dir)
		os.MkdirAll(filepath.Join(dir, "data"), 0o755)
		s.make(dir)
		benchutil.Run(dir, nil, draft, "create")
		toml := filepath.Join(dir, "draft.toml")
		b, _ := os.ReadFile(toml)
		os.WriteFile(toml, []byte(strings.Replace(string(b), "set = []", `set = ["replicaCount=0"]`, 1)), 0o644)
		for _, builder := range []string{"daemonless", "docker"} {
			// A new version each time: nothing is in the registry already.
			setVersion(dir, fmt.Sprintf("%s-%d", builder, time.Now().UnixNano()))
			cmd := exec.Command(draft, "up", "-n", ns, "--create-namespace", "--builder", builder)
			cmd.Dir = dir
			var errOut testkit.LockedBuffer
			cmd.Stderr = &errOut
			start := time.Now()
			err := cmd.Run()
			wall := time.Since(start)
			if err != nil {
				fmt.Printf("%-15s %-11s failed: %v\n%s\n", s.name, builder, err, errOut.String())
				continue
			}
			peak := int64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) << 10
			m := regexp.MustCompile(`\(build ([^,]+), push ([^,]+),`).FindStringSubmatch(errOut.String())
			if m == nil {
				m = []string{"", "?", "?"}
			}
			fmt.Printf("%-15s %-11s %-13.1f %-9s %-9s %-9s\n", s.name, builder, float64(peak)/(1<<20), m[1], m[2], wall.Round(10*time.Millisecond))
		}
		benchutil.Run(dir, nil, draft, "delete", "-n", ns, "--ignore-not-found")
		os.RemoveAll(filepath.Dir(dir))
	}
}

func setVersion(dir, v string) {
	f := filepath.Join(dir, "app.py")
	b, err := os.ReadFile(f)
	if err != nil {
		fail("%v", err)
	}
	b = regexp.MustCompile(`VERSION = "[^"]*"`).ReplaceAll(b, []byte(`VERSION = "`+v+`"`))
	if err := os.WriteFile(f, b, 0o644); err != nil {
		fail("%v", err)
	}
}

// status reads a number field of /proc/PID/status.
func status(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return -1
}

func fds(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

func goroutines(addr string) int {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	var n int
	fmt.Sscanf(line, "goroutine profile: total %d", &n)
	return n
}

// loop GETs a URL every period, each on a new connection.
type loop struct {
	mu     sync.Mutex
	bodies []answer
	failed []string
	all    int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type answer struct {
	body string
	sent time.Time
}

func startLoop(url string, period time.Duration) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.wg.Add(1)
			go func(sent time.Time) {
				defer l.wg.Done()
				resp, err := client.Get(url)
				body := ""
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					body, err = strings.TrimSpace(string(b)), rerr
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				l.mu.Lock()
				defer l.mu.Unlock()
				l.all++
				if err != nil {
					l.failed = append(l.failed, fmt.Sprintf("%s: %v", sent.Format("15:04:05.000"), err))
					return
				}
				l.bodies = append(l.bodies, answer{body, sent})
				if len(l.bodies) > 2000 {
					l.bodies = l.bodies[1000:]
				}
			}(time.Now())
		}
	}()
	return l
}

func (l *loop) counts() (failed, all int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failed), l.all
}

func (l *loop) failures(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed[:min(n, len(l.failed))]
}

func (l *loop) end() { l.cancel(); l.wg.Wait() }

// waitBody waits for the answer body to a request sent after since, and
// returns when it was seen.
func waitBody(l *loop, body string, since time.Time, timeout time.Duration, stderr *testkit.LockedBuffer) time.Time {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, a := range l.bodies {
			if a.body == body && a.sent.After(since) {
				l.mu.Unlock()
				return time.Now()
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	fail("no answer %q within %s\n%s", body, timeout, stderr.String())
	return time.Time{}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/soak: "+format+"\n", a...)
	os.Exit(1)
}
