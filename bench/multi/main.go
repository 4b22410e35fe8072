// bench/multi: a repository of five apps (three Go services, a Node
// front-end that calls one of them by name, PostgreSQL), run with one
// draft up at its root. Measured: the cold up; a no-op up (time, bytes
// pushed, new revisions: goals < 300 ms, 0, 0); and one service's edit ->
// its new answer through draft connect, with the revisions that made (goal
// within 1.2x of the single-app loop, exactly one new revision), against
// the same edit of a repository of that one app. The competitor, in the
// same run: one umbrella Helm chart of the four apps (ko build of the
// changed service + helm upgrade --wait of the umbrella + kubectl
// port-forward restarted), which upgrades every app's objects on any change.
// Needs the environment with helm (DRAFT_ENV_HELM=1) and ko.
package main

import (
	"bufio"
	"encoding/json"
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
	runs = flag.Int("runs", 5, "edits to measure, for each loop")
	ns   = flag.String("namespace", "bench-multi", "namespace")
)

var services = []string{"users", "orders", "catalog"}

func main() {
	flag.Parse()
	root := benchutil.Root()
	draft := filepath.Join(root, "bin", "draft")
	reg := os.Getenv("DRAFT_REGISTRY")
	base := filepath.Join(os.TempDir(), "draft-bench-multi")
	os.RemoveAll(base)
	shop := filepath.Join(base, "shop")
	writeShop(shop)
	benchutil.Run(shop, nil, draft, "create", "--with", "postgres")
	exec.Command("kubectl", "create", "namespace", *ns).Run()
	regArgs := []string{"-n", *ns}
	_, cold := benchutil.Run(shop, nil, draft, append([]string{"up"}, regArgs...)...)
	revs := revisionsOf(*ns, "users", "orders", "catalog", "web", "db")
	var noop []time.Duration
	var noopPushes int
	var noopBytes int64
	for i := 0; i < *runs; i++ {
		// --output json: one event per step; a no-op up has no push (nor build, nor deploy)
		out, d := benchutil.Run(shop, nil, draft, append([]string{"up", "--output", "json"}, regArgs...)...)
		noop = append(noop, d)
		p, b := pushes(out)
		noopPushes, noopBytes = noopPushes+p, noopBytes+b
	}
	noopRevs := revisionsOf(*ns, "users", "orders", "catalog", "web", "db") - revs

	// One service's edit, through connect to it (connect follows the pods).
	conn := startConnect(draft, filepath.Join(shop, "orders"), *ns)
	var project []time.Duration
	var oneRev = true
	for i := 0; i < *runs; i++ {
		before := revisionsOf(*ns, "users", "orders", "catalog", "web", "db")
		v := fmt.Sprintf("p%d-%d", i, time.Now().UnixNano())
		start := setVersion(filepath.Join(shop, "orders", "main.go"), v)
		benchutil.Run(shop, nil, draft, append([]string{"up"}, regArgs...)...)
		project = append(project, benchutil.WaitFor(conn.url, "orders "+v, start))
		oneRev = oneRev && revisionsOf(*ns, "users", "orders", "catalog", "web", "db")-before == 1
	}
	conn.stop()

	// The same edit in a repository of that one app (its own release).
	solo := filepath.Join(base, "solo")
	writeService(solo, "solo")
	benchutil.Run(solo, nil, draft, "create")
	benchutil.Run(solo, nil, draft, append([]string{"up"}, regArgs...)...)
	sconn := startConnect(draft, solo, *ns)
	var single []time.Duration
	for i := 0; i < *runs; i++ {
		v := fmt.Sprintf("s%d-%d", i, time.Now().UnixNano())
		start := setVersion(filepath.Join(solo, "main.go"), v)
		benchutil.Run(solo, nil, draft, append([]string{"up"}, regArgs...)...)
		single = append(single, benchutil.WaitFor(sconn.url, "solo "+v, start))
	}
	sconn.stop()
	benchutil.Run(solo, nil, draft, "delete", "-n", *ns)
	// The apps go; the database (and its data and Secrets) stays for the competitor.
	benchutil.Run(shop, nil, draft, "delete", "-n", *ns, "web", "users", "orders", "catalog")

	p, s := benchutil.Median(project), benchutil.Median(single)
	fmt.Printf("multi: a project of 5 apps (users, orders, catalog: Go; web: Node; db: PostgreSQL), %d runs each\n", *runs)
	fmt.Printf("  cold draft up at the root: %s\n", cold.Round(time.Millisecond))
	fmt.Printf("  no-op draft up: median %s (goal < 300 ms), %d pushes (%d bytes), %d new revisions\n", benchutil.Median(noop).Round(time.Millisecond), noopPushes, noopBytes, noopRevs)
	fmt.Printf("  edit of orders -> its answer through draft connect: draft up at the root %s (%s), exactly one new revision each time: %v\n", p.Round(time.Millisecond), all(project), oneRev)
	fmt.Printf("  the same edit of a one-app repository: %s (%s); project / single: %.2f (goal <= 1.2)\n", s.Round(time.Millisecond), all(single), float64(p)/float64(s))

	comp := competitor(shop, reg)
	exec.Command("helm", "uninstall", "shop", "-n", *ns).Run()
	benchutil.Run(shop, nil, draft, "delete", "-n", *ns, "--purge")
	c := benchutil.Median(comp)
	fmt.Printf("  competitor (umbrella chart: ko build + helm upgrade --wait of 4 apps + kubectl port-forward): %s (%s); draft / competitor: %.2f\n", c.Round(time.Millisecond), all(comp), float64(p)/float64(c))
}

// all lists the runs, rounded.
func all(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Round(10*time.Millisecond).String())
	}
	return strings.Join(out, " ")
}

// competitor runs the edit loop on one umbrella chart of the four apps.
func competitor(shop, reg string) []time.Duration {
	umbrella := filepath.Join(shop, "umbrella")
	os.MkdirAll(filepath.Join(umbrella, "charts"), 0o755)
	var values strings.Builder
	for _, app := range append(append([]string{}, services...), "web") {
		benchutil.CopyDir(filepath.Join(shop, app, "charts", app), filepath.Join(umbrella, "charts", app))
		// names as draft's releases have them, so that web reaches orders by name
		fmt.Fprintf(&values, "%s:\n  fullnameOverride: %s\n", app, app)
		if app != "web" {
			fmt.Fprintf(&values, "  envFrom:\n    - secretRef: {name: db-connection}\n")
		}
	}
	os.WriteFile(filepath.Join(umbrella, "Chart.yaml"), []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(umbrella, "values.yaml"), []byte(values.String()), 0o644)
	images := map[string]string{}
	ko := func(app string) {
		out, _ := benchutil.Run(filepath.Join(shop, app), []string{"KO_DOCKER_REPO=" + reg + "/comp-" + app, "KO_DEFAULTBASEIMAGE=" + reg + "/pause:3.10"}, "ko", "build", "--bare", "--insecure-registry", ".")
		images[app] = strings.TrimSpace(benchutil.LastLine(out))
	}
	for _, app := range services {
		ko(app)
	}
	// web: a Docker build of its own, once (its code does not change here)
	images["web"] = reg + "/comp-web:1"
	benchutil.Run(filepath.Join(shop, "web"), []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-t", images["web"], ".")
	benchutil.Run(shop, nil, "docker", "push", "-q", images["web"])
	var pf *exec.Cmd
	local := benchutil.FreePort()
	upgrade := func() {
		args := []string{"upgrade", "--install", "shop", umbrella, "-n", *ns, "--wait"}
		for app, ref := range images {
			if i := strings.Index(ref, "@"); i > 0 {
				args = append(args, "--set", app+".image.repository="+ref[:i], "--set", app+".image.digest="+ref[i+1:])
			} else {
				i := strings.LastIndex(ref, ":")
				args = append(args, "--set", app+".image.repository="+ref[:i], "--set-string", app+".image.tag="+ref[i+1:])
			}
		}
		benchutil.Run(shop, nil, "helm", args...)
		if pf != nil {
			pf.Process.Kill()
			pf.Wait()
		}
		pf = exec.Command("kubectl", "-n", *ns, "port-forward", "service/orders", fmt.Sprintf("%d:8080", local))
		pf.Start()
	}
	upgrade()
	var times []time.Duration
	for i := 0; i < *runs; i++ {
		v := fmt.Sprintf("c%d-%d", i, time.Now().UnixNano())
		start := setVersion(filepath.Join(shop, "orders", "main.go"), v)
		ko("orders")
		upgrade()
		times = append(times, benchutil.WaitFor(fmt.Sprintf("http://127.0.0.1:%d", local), "orders "+v, start))
	}
	if pf != nil {
		pf.Process.Kill()
	}
	return times
}

// pushes counts the push events of draft's JSON output, and their bytes.
func pushes(out string) (n int, bytes int64) {
	for _, line := range strings.Split(out, "\n") {
		var e struct {
			Event    string `json:"event"`
			Uploaded *int64 `json:"uploaded"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Event == "push" {
			n++
			if e.Uploaded != nil {
				bytes += *e.Uploaded
			}
		}
	}
	return n, bytes
}

// writeShop writes the repository: three Go services, the front-end, and a
// Compose file that says what needs what.
func writeShop(dir string) {
	for _, s := range services {
		writeService(filepath.Join(dir, s), s)
	}
	web := filepath.Join(dir, "web")
	os.MkdirAll(web, 0o755)
	os.WriteFile(filepath.Join(web, "package.json"), []byte(`{"name":"web","version":"1.0.0","private":true,"scripts":{"start":"node server.js"}}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(web, "package-lock.json"), []byte(`{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"web","version":"1.0.0"}}}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(web, "server.js"), []byte(`const http = require('http');
http.createServer((req, res) => {
  http.get('http://orders:8080/', { agent: false, timeout: 5000 }, (r) => {
    let b = '';
    r.on('data', (c) => { b += c; });
    r.on('end', () => res.end('web <- ' + b));
  }).on('error', (e) => { res.statusCode = 502; res.end(e.message); });
}).listen(process.env.PORT || 3000);
`), 0o644)
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  users: {build: ./users, ports: ["8080"], depends_on: [db]}
  orders: {build: ./orders, ports: ["8080"], depends_on: [db, users]}
  catalog: {build: ./catalog, ports: ["8080"], depends_on: [db]}
  web: {build: ./web, ports: ["3000"], depends_on: [orders]}
  db: {image: postgres:17}
`), 0o644)
}

func writeService(dir, name string) {
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"net/http"
	"os"
)

const version = "v1"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "`+name+` "+version) })
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.ListenAndServe(":"+port, nil)
}
`), 0o644)
}

// revisionsOf counts the Helm revisions of the releases (their Secrets).
func revisionsOf(ns string, releases ...string) int {
	n := 0
	for _, r := range releases {
		out, _ := exec.Command("kubectl", "get", "secrets", "-n", ns, "-l", "owner=helm,name="+r, "--no-headers").Output()
		n += strings.Count(string(out), "\n")
	}
	return n
}

type connected struct {
	cmd *exec.Cmd
	url string
}

func startConnect(draft, dir, ns string) *connected {
	cmd := exec.Command(draft, "connect", "-n", ns, "--no-logs")
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`^(http://127\.0\.0\.1:\d+) -> `)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return &connected{cmd: cmd, url: m[1]}
		}
	}
	panic("draft connect printed no URL")
}

func (c *connected) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
}

func setVersion(file, v string) time.Time {
	b, _ := os.ReadFile(file)
	s := regexp.MustCompile(`version = "[^"]*"`).ReplaceAllString(string(b), `version = "`+v+`"`)
	os.WriteFile(file, []byte(s), 0o644)
	return time.Now()
}
