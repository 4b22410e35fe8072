// bench/loop: save -> the new response through a local port, for a Go app
// (-app go-app) or a Python app (-app python-app). draft: `draft up --watch
// --auto-connect`, timed from the write of the file to the first answer of the
// new version on the same local port. The competitor, in the same run, is the
// scripted loop a developer would write without draft: for Go, ko build + helm
// upgrade --wait + kubectl port-forward restarted; for Python, docker build +
// docker push + helm upgrade --wait + kubectl port-forward restarted. Needs the
// environment with helm (DRAFT_ENV_HELM=1), ko and the Docker engine.
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
	"strings"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

var (
	app  = flag.String("app", "go-app", "go-app or python-app")
	runs = flag.Int("runs", 10, "saves to measure")
	ns   = flag.String("namespace", "bench-loop", "namespace")
)

func main() {
	flag.Parse()
	root := benchutil.Root()
	draft := filepath.Join(root, "bin", "draft")
	reg := os.Getenv("DRAFT_REGISTRY")
	source, port := "main.go", 8080
	if *app == "python-app" {
		source = "app.py"
	}
	base := filepath.Join(os.TempDir(), "draft-bench-loop")
	os.RemoveAll(base)
	dir := filepath.Join(base, *app)
	benchutil.CopyDir(filepath.Join(root, "e2e", "testdata", *app), dir)
	benchutil.Run(dir, nil, draft, "create")
	exec.Command("kubectl", "create", "namespace", *ns).Run()

	// draft
	cmd := exec.Command(draft, "up", "--watch", "--auto-connect", "--no-live-update", "-n", *ns) // the full-redeploy loop; bench/live has live update
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	phases := make(chan string, 100)
	marks := &benchutil.Lines{}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			marks.Add(sc.Text())
			if strings.Contains(sc.Text(), " is ready: revision ") {
				phases <- sc.Text()
			}
		}
	}()
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := regexp.MustCompile(`^(http://127\.0\.0\.1:\d+) -> `).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	<-phases // the first up
	var draftTimes []time.Duration
	var lines []string
	var changed, pushed, moved, answered []time.Duration
	for i := 0; i < *runs; i++ {
		v := fmt.Sprintf("draft-%d-%d", i, time.Now().UnixNano())
		start := setVersion(filepath.Join(dir, source), v)
		took := benchutil.WaitFor(url, *app+" "+v, start)
		draftTimes = append(draftTimes, took)
		// The phases, from when draft's lines came: the change seen (its
		// build starts), the image pushed, the forward moved to the new pod.
		prefix := func(p string) func(string) bool { return func(l string) bool { return strings.HasPrefix(l, p) } }
		c, _ := marks.After(start, prefix("changed: "))
		p, _ := marks.After(start, prefix("pushed "))
		m, _ := marks.After(start, prefix(url+" -> "))
		if !c.IsZero() && !p.IsZero() && !m.IsZero() {
			changed, pushed = append(changed, c.Sub(start)), append(pushed, p.Sub(c))
			moved, answered = append(moved, m.Sub(p)), append(answered, start.Add(took).Sub(m))
		}
		select {
		case l := <-phases:
			lines = append(lines, l)
		case <-time.After(10 * time.Second):
		}
		time.Sleep(500 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	benchutil.Run(dir, nil, draft, "delete", "-n", *ns, "--ignore-not-found")

	// The competitor: the same app, chart and namespace, scripted.
	release := "comp-" + *app
	repo := reg + "/" + release
	var compTimes []time.Duration
	var pf *exec.Cmd
	local := benchutil.FreePort()
	compUp := func(v string) {
		var ref string
		if *app == "go-app" {
			out, _ := benchutil.Run(dir, []string{"KO_DOCKER_REPO=" + repo, "KO_DEFAULTBASEIMAGE=" + reg + "/pause:3.10"}, "ko", "build", "--bare", "--insecure-registry", ".")
			ref = strings.TrimSpace(benchutil.LastLine(out))
		} else {
			tag := repo + ":" + v
			benchutil.Run(dir, []string{"DOCKER_BUILDKIT=0"}, docker(), "build", "-q", "-t", tag, ".")
			benchutil.Run(dir, nil, docker(), "push", "-q", tag)
			ref = tag
		}
		args := []string{"upgrade", "--install", release, "charts/" + *app, "-n", *ns, "--wait"}
		if i := strings.Index(ref, "@"); i > 0 {
			args = append(args, "--set", "image.repository="+ref[:i], "--set", "image.digest="+ref[i+1:])
		} else {
			args = append(args, "--set", "image.repository="+repo, "--set", "image.tag="+ref[strings.LastIndex(ref, ":")+1:])
		}
		benchutil.Run(dir, nil, "helm", args...)
		if pf != nil {
			pf.Process.Kill()
			pf.Wait()
		}
		// The chart names its objects after the release when the release name holds the chart's.
		pf = exec.Command("kubectl", "-n", *ns, "port-forward", "service/"+release, fmt.Sprintf("%d:%d", local, port))
		pf.Start()
	}
	compUp("first")
	for i := 0; i < *runs; i++ {
		v := fmt.Sprintf("comp-%d-%d", i, time.Now().UnixNano())
		start := setVersion(filepath.Join(dir, source), v)
		compUp(v)
		compTimes = append(compTimes, benchutil.WaitFor(fmt.Sprintf("http://127.0.0.1:%d", local), *app+" "+v, start))
	}
	if pf != nil {
		pf.Process.Kill()
	}
	exec.Command("helm", "uninstall", release, "-n", *ns).Run()

	d, c := benchutil.Median(draftTimes), benchutil.Median(compTimes)
	fmt.Printf("loop %s: save -> new response on localhost, median of %d\n", *app, *runs)
	fmt.Printf("  draft up --watch --auto-connect: %s (min %s, max %s)\n", d.Round(time.Millisecond), min(draftTimes).Round(time.Millisecond), max(draftTimes).Round(time.Millisecond))
	if len(changed) > 0 {
		fmt.Printf("  draft's phases (medians of %d): save -> change seen, build starts %s; build + push %s; -> quiet period over, helm upgrade, pod started, its port checked, forward moved %s; -> first answer %s\n",
			len(changed), ms(changed), ms(pushed), ms(moved), ms(answered))
	}
	if len(lines) > 0 {
		fmt.Printf("  draft's summary, last redeploy (deploy: until Kubernetes says Ready): %s\n", strings.TrimSpace(lines[len(lines)-1][strings.Index(lines[len(lines)-1], "in "):]))
	}
	fmt.Printf("  competitor (%s): %s\n", competitor(), c.Round(time.Millisecond))
	fmt.Printf("  draft / competitor: %.2f\n", float64(d)/float64(c))
}

func ms(ds []time.Duration) string {
	return benchutil.Median(ds).Round(time.Millisecond).String()
}

func competitor() string {
	if *app == "go-app" {
		return "ko build + helm upgrade --wait + kubectl port-forward"
	}
	return "docker build + push + helm upgrade --wait + kubectl port-forward"
}

func docker() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// setVersion writes the new version string and returns when it was written.
func setVersion(file, v string) time.Time {
	b, _ := os.ReadFile(file)
	re := regexp.MustCompile(`(version|VERSION) = "[^"]*"`)
	s := re.ReplaceAllString(string(b), `$1 = "`+v+`"`)
	os.WriteFile(file, []byte(s), 0o644)
	return time.Now()
}

func min(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		if d < m {
			m = d
		}
	}
	return m
}

func max(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		if d > m {
			m = d
		}
	}
	return m
}
