package ui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// UI writes to one writer, usually stderr. A nil *UI writes nothing: every
// method is safe on it, so that callers need no check.
type UI struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status string // the live line on a terminal, "" when none is shown
	last   string // the last status printed as a plain line
}

// New returns a UI on w; it draws live lines only when w is a terminal.
func New(w io.Writer) *UI {
	u := &UI{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
		u.tty = true
	}
	return u
}

// Terminal reports whether the UI draws live lines.
func (u *UI) Terminal() bool { return u != nil && u.tty }

// Printf writes a line, above the live status line if one is shown.
func (u *UI) Printf(format string, a ...any) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clear()
	fmt.Fprintf(u.w, format, a...)
	if n := len(format); n == 0 || format[n-1] != '\n' {
		fmt.Fprintln(u.w)
	}
	u.redraw()
}

// Writer returns an io.Writer whose output goes above the status line.
func (u *UI) Writer() io.Writer {
	if u == nil {
		return io.Discard
	}
	return writerFunc(func(p []byte) (int, error) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.clear()
		n, err := u.w.Write(p)
		u.redraw()
		return n, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Status shows a live status line on a terminal; elsewhere it prints the
// status as a line when it changed.
func (u *UI) Status(format string, a ...any) {
	if u == nil {
		return
	}
	s := fmt.Sprintf(format, a...)
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.tty {
		if s != u.last {
			fmt.Fprintln(u.w, s)
			u.last = s
		}
		return
	}
	u.status = s
	fmt.Fprintf(u.w, "\r\033[K%s", s)
}

// ClearStatus removes the live status line.
func (u *UI) ClearStatus() {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clear()
	u.status, u.last = "", ""
}

func (u *UI) clear() {
	if u.tty && u.status != "" {
		fmt.Fprint(u.w, "\r\033[K")
	}
}

func (u *UI) redraw() {
	if u.tty && u.status != "" {
		fmt.Fprint(u.w, u.status)
	}
}

// Bar is a byte progress bar: drawn on a terminal, a few plain lines elsewhere.
type Bar struct {
	u       *UI
	label   string
	bar     *progressbar.ProgressBar
	printed int // plain mode: the last quarter printed
}

// Bar starts a progress bar of total bytes.
func (u *UI) Bar(label string, total int64) *Bar {
	b := &Bar{u: u, label: label}
	if u.Terminal() {
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(u.w), progressbar.OptionSetDescription(label), progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	}
	return b
}

// Set moves the bar to complete of total bytes.
func (b *Bar) Set(complete, total int64) {
	if b.bar != nil {
		b.u.mu.Lock()
		defer b.u.mu.Unlock()
		b.bar.ChangeMax64(total)
		_ = b.bar.Set64(complete)
		return
	}
	if total <= 0 {
		return
	}
	if q := int(4 * complete / total); q > b.printed {
		b.printed = q
		b.u.Printf("%s: %d%% of %s", b.label, 25*q, Bytes(total))
	}
}

// Finish ends the bar.
func (b *Bar) Finish() {
	if b.bar != nil {
		b.u.mu.Lock()
		defer b.u.mu.Unlock()
		_ = b.bar.Finish()
	}
}

// Bytes formats a byte count for people.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// LastLines are the last n lines of s (a command's output, a log), without
// the trailing newline and carriage returns; nil when s is empty.
func LastLines(s string, n int) []string {
	s = strings.TrimRight(s, "\r\n")
	if strings.TrimSpace(s) == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines
}
