// bench/watch: what watch mode costs on a big tree and how fast it triggers.
// It generates a tree of 100,000 files in 10,000 directories plus a
// node_modules of 50,000 files that .dockerignore leaves out, runs draft's
// watcher (pkg/watch) in this process, and prints: the time until every
// directory is watched, the watches added, the RSS the watcher added, its
// idle CPU, and, for bursts of 1,000 written files, the delay from the last
// write to the batch and the number of batches per burst. With -gaps it
// measures instead the widest gap between the events of one save (each way
// editors save) and of a git checkout of 1,000 files, which DefaultDelay
// must exceed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/draftk8s/draft/bench/internal/benchutil"
	"github.com/draftk8s/draft/pkg/watch"
)

func main() {
	var (
		dirs     = flag.Int("dirs", 10000, "directories in the tree")
		files    = flag.Int("files", 100000, "files in the tree")
		ignored  = flag.Int("ignored", 50000, "files in node_modules (ignored)")
		bursts   = flag.Int("bursts", 11, "bursts of writes")
		readies  = flag.Int("ready-runs", 10, "times the tree is watched from scratch, for the median ready time")
		burst    = flag.Int("burst", 1000, "files written per burst")
		delay    = flag.Duration("delay", watch.DefaultDelay, "watch delay")
		idle     = flag.Duration("idle", 5*time.Second, "idle time to measure CPU over")
		dir      = flag.String("dir", filepath.Join(os.TempDir(), "draft-bench-watch"), "where the tree is generated (kept between runs)")
		gapsMode = flag.Bool("gaps", false, "measure the gaps between the events of saves and checkouts instead")
		runs     = flag.Int("runs", 20, "saves per style and checkouts with -gaps")
		styles   = flag.Bool("styles", true, "with -gaps, measure the saves too, not only checkouts")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of New to this file")
	)
	flag.Parse()
	if *gapsMode {
		if err := gaps(*runs, *styles); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*dir, *dirs, *files, *ignored, *bursts, *burst, *readies, *delay, *idle, *cpuprof); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dir string, dirs, files, ignored, bursts, burst, readies int, delay, idle time.Duration, cpuprof string) error {
	tree, err := generate(dir, dirs, files, ignored)
	if err != nil {
		return err
	}
	// Warm the page cache as a first draft up would have (it reads the tree),
	// then measure from a settled heap.
	if _, err := countDirs(dir); err != nil {
		return err
	}
	debug.FreeOSMemory()
	rssBefore := benchutil.RSS()
	gBefore := runtime.NumGoroutine()

	if cpuprof != "" {
		f, err := os.Create(cpuprof)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
	}
	start, cpuStart := time.Now(), benchutil.CPU()
	w, err := watch.New(dir, watch.WithDelay(delay), watch.WithLog(os.Stderr))
	if err != nil {
		return err
	}
	ready, readyCPU := time.Since(start), benchutil.CPU()-cpuStart
	if cpuprof != "" {
		pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	rssReady := benchutil.RSS()
	runtime.GC()
	rssGC := benchutil.RSS()

	cpu0 := benchutil.CPU()
	time.Sleep(idle)
	idleCPU := benchutil.CPU() - cpu0

	var lat []time.Duration
	var counts []int64
	sizes := map[int]int{}
	for b := 0; b < bursts; b++ {
		last := writeBurst(dir, tree, b, burst)
		first := <-w.Batches()
		lat = append(lat, time.Since(last))
		n := 1
		sizes[len(first.Paths)]++
		// Any further batch for this burst would come within a delay of the first.
		quiet := time.After(delay + time.Second)
	more:
		for {
			select {
			case <-w.Batches():
				n++
			case <-quiet:
				break more
			}
		}
		counts = append(counts, int64(n))
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	// More times from scratch, for the median.
	readyRuns := []time.Duration{ready}
	for len(readyRuns) < readies {
		start := time.Now()
		w2, err := watch.New(dir, watch.WithDelay(delay))
		if err != nil {
			return err
		}
		readyRuns = append(readyRuns, time.Since(start))
		w2.Close()
	}

	fmt.Printf("watch: %d files in %d directories, plus %d files in node_modules left out by .dockerignore (%s)\n", files, dirs, ignored, dir)
	med := benchutil.Median(readyRuns)
	fmt.Printf("  ready (New until every directory is watched)  median %5.1f ms, max %5.1f ms of %d   goal < 300 ms  %s\n",
		ms(med), ms(slices.Max(readyRuns)), len(readyRuns), verdict(med < 300*time.Millisecond))
	fmt.Printf("  CPU time used until ready, first run         %8.1f ms, on %d CPUs\n", ms(readyCPU), runtime.GOMAXPROCS(0))
	fmt.Printf("  watches added                                %8d      (%d directories outside node_modules, root included)\n", w.Watches(), tree.watchable)
	fmt.Printf("  RSS added, right after ready                 %8.1f MB   goal < 15 MB   %s\n", mb(rssReady-rssBefore), verdict(rssReady-rssBefore < 15<<20))
	fmt.Printf("  RSS added, after a GC                        %8.1f MB\n", mb(rssGC-rssBefore))
	fmt.Printf("  idle CPU over %v                              %8.1f ms   (%.2f%% of a core)\n", idle, ms(idleCPU), 100*float64(idleCPU)/float64(idle))
	fmt.Printf("  last write -> batch, %d bursts of %d files   median %5.1f ms, max %5.1f ms   goal <= delay %v + 20 ms  %s\n",
		bursts, burst, ms(benchutil.Median(lat)), ms(slices.Max(lat)), delay, verdict(benchutil.Median(lat) <= delay+20*time.Millisecond))
	fmt.Printf("  batches per burst                            min %d, max %d   goal exactly 1  %s\n", slices.Min(counts), slices.Max(counts), verdict(slices.Min(counts) == 1 && slices.Max(counts) == 1))
	fmt.Printf("  paths per batch                              %v\n", sizes)
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("  goroutines after Run returned                %d (before New: %d)\n", runtime.NumGoroutine(), gBefore)
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
