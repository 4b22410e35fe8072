// bench/live/tiltloop: the measuring half of bench/live/tilt.sh: waits for
// the app to answer through Tilt's port-forward, then times save -> new
// answer for -runs saves of the PHP app's version line.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

func main() {
	url := flag.String("url", "", "Tilt's forwarded URL")
	file := flag.String("file", "index.php", "the source file with the version line")
	runs := flag.Int("runs", 20, "saves")
	logFile := flag.String("log", "", "Tilt's log, shown when it does not serve")
	pid := flag.Int("pid", 0, "Tilt's process: its end stops the wait")
	flag.Parse()
	src, err := os.ReadFile(*file)
	if err != nil {
		fail(*logFile, "%v", err)
	}
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := c.Get(*url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "php-app v1" {
				break
			}
		}
		if time.Now().After(deadline) {
			fail(*logFile, "Tilt's port-forward %s did not answer within 5 minutes", *url)
		}
		if *pid > 0 && syscall.Kill(*pid, 0) != nil {
			fail(*logFile, "tilt up ended before its port-forward answered")
		}
	}
	var times []time.Duration
	for i := 0; i < *runs+2; i++ {
		v := fmt.Sprintf("tilt%d", i)
		os.WriteFile(*file, []byte(strings.Replace(string(src), `$version = "v1"`, `$version = "`+v+`"`, 1)), 0o644)
		took := benchutil.WaitFor(*url, "php-app "+v, time.Now())
		if i >= 2 {
			times = append(times, took)
		}
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Printf("tilt live_update (sync) php-app: save -> new answer through its port-forward, median of %d: %s\n", len(times), benchutil.Median(times).Round(time.Millisecond))
}

func fail(logFile, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/live/tilt: "+format+"\n", a...)
	if b, err := os.ReadFile(logFile); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Fprintln(os.Stderr, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
	os.Exit(1)
}
