package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/draftk8s/draft/bench/internal/benchutil"
)

// saveStyle changes the file name in dir the way one editor or tool saves.
type saveStyle struct {
	name string
	save func(dir, name string, i int) error
}

var saveStyles = []saveStyle{
	{"write in place", func(dir, name string, i int) error {
		return os.WriteFile(filepath.Join(dir, name), content(i), 0o644)
	}},
	{"write temp, rename over", func(dir, name string, i int) error {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, content(i), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(dir, name))
	}},
	{"delete, create", func(dir, name string, i int) error {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), content(i), 0o644)
	}},
	{"JetBrains safe write", func(dir, name string, i int) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+"___jb_tmp___", content(i), 0o644); err != nil {
			return err
		}
		if err := os.Rename(p, p+"___jb_old___"); err != nil {
			return err
		}
		if err := os.Rename(p+"___jb_tmp___", p); err != nil {
			return err
		}
		return os.Remove(p + "___jb_old___")
	}},
	{"vim (real, :w)", func(dir, name string, i int) error {
		if _, err := exec.LookPath("vim"); err != nil {
			return errSkip
		}
		// -u NONE: vim's defaults (writebackup, backupcopy=auto: the 4913
		// probe, a backup renamed aside, a new file written, the backup removed).
		cmd := exec.Command("vim", "-u", "NONE", "-i", "NONE", "-N", "-n", "-es",
			"-c", fmt.Sprintf("normal! Go// edit %d", i), "-c", "wq", name)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("vim: %v: %s", err, out)
		}
		return nil
	}},
}

var errSkip = fmt.Errorf("skipped")

func content(i int) []byte { return fmt.Appendf(nil, "package main\n\n// version %d\n", i) }

// recorder keeps the arrival time of every event.
type recorder struct {
	mu sync.Mutex
	at []time.Time
}

func (r *recorder) take() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.at
	r.at = nil
	return at
}

// gaps measures the widest gap between two consecutive events of one save,
// for each way of saving, and of a git checkout of 1,000 files: the debounce
// delay must be wider than these.
func gaps(runs int, styles bool) error {
	dir, err := os.MkdirTemp("", "draft-bench-gaps-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fw, err := fsnotify.NewBufferedWatcher(65536)
	if err != nil {
		return err
	}
	defer fw.Close()
	rec := &recorder{}
	go func() {
		for range fw.Events {
			now := time.Now()
			rec.mu.Lock()
			rec.at = append(rec.at, now)
			rec.mu.Unlock()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), content(0), 0o644); err != nil {
		return err
	}
	if err := fw.Add(dir); err != nil {
		return err
	}
	settle := func() []time.Time { time.Sleep(300 * time.Millisecond); return rec.take() }
	fmt.Printf("gaps: widest gap between consecutive events within one save (%d saves each), and events per save\n", runs)
	for _, s := range saveStyles {
		if !styles {
			break
		}
		var widest []time.Duration
		var events []int64
		for i := 0; i < runs; i++ {
			settle()
			if err := s.save(dir, "main.go", i+1); err == errSkip {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			at := settle()
			widest = append(widest, widestGap(at))
			events = append(events, int64(len(at)))
		}
		if len(widest) == 0 {
			fmt.Printf("  %-26s skipped (not installed)\n", s.name)
			continue
		}
		fmt.Printf("  %-26s widest %6.2f ms (median %5.2f ms), %d events\n", s.name,
			ms(slices.Max(widest)), ms(benchutil.Median(widest)), benchutil.Median(events))
	}

	// git checkout between two commits that differ in 1,000 files in 10 directories.
	repo := filepath.Join(dir, "repo")
	git := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-c", "user.name=bench", "-c", "user.email=bench@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
		return nil
	}
	write := func(v int) error {
		for d := 0; d < 10; d++ {
			sub := filepath.Join(repo, fmt.Sprintf("pkg%d", d))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
			for f := 0; f < 100; f++ {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.go", f)), content(v*1000+f), 0o644); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return err
	}
	if err := git("init", "-q", "-b", "a"); err != nil {
		return err
	}
	if err := write(1); err != nil {
		return err
	}
	if err := git("add", "."); err != nil {
		return err
	}
	if err := git("commit", "-qm", "a"); err != nil {
		return err
	}
	if err := git("checkout", "-qb", "b"); err != nil {
		return err
	}
	if err := write(2); err != nil {
		return err
	}
	if err := git("commit", "-qam", "b"); err != nil {
		return err
	}
	for _, d := range append([]string{repo}, mustGlob(filepath.Join(repo, "pkg*"))...) {
		if err := fw.Add(d); err != nil {
			return err
		}
	}
	var widest, total []time.Duration
	var events []int64
	for i := 0; i < runs; i++ {
		settle()
		branch := []string{"a", "b"}[i%2]
		if err := git("checkout", "-q", branch); err != nil {
			return err
		}
		at := settle()
		widest = append(widest, widestGap(at))
		events = append(events, int64(len(at)))
		if len(at) > 1 {
			total = append(total, at[len(at)-1].Sub(at[0]))
		}
	}
	slices.Sort(widest)
	fmt.Printf("  %-26s widest %6.2f ms (median %5.2f ms, 90th percentile %5.2f ms), %d events over %.0f ms\n", "git checkout, 1,000 files",
		ms(slices.Max(widest)), ms(benchutil.Median(widest)), ms(widest[len(widest)*9/10]), benchutil.Median(events), ms(benchutil.Median(total)))
	return nil
}

func widestGap(at []time.Time) time.Duration {
	var w time.Duration
	for i := 1; i < len(at); i++ {
		w = max(w, at[i].Sub(at[i-1]))
	}
	return w
}

func mustGlob(p string) []string {
	m, _ := filepath.Glob(p)
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
