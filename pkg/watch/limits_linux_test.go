package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real limits, lowered in a user namespace of the test's own (the
// system's are left alone): the test binary runs itself there, lowers the
// limit and watches a tree.
func TestRealLimits(t *testing.T) {
	if dir := os.Getenv("WATCH_LIMIT_HELPER"); dir != "" {
		limitHelper(dir, os.Getenv("WATCH_LIMIT_SETTING"), os.Getenv("WATCH_LIMIT_VALUE"))
		return
	}
	tests := []struct {
		setting, value string
		want           []string
	}{
		{"user/max_inotify_watches", "5", []string{"needs more inotify watches than the system allows (user.max_inotify_watches=5, reached at ", "sudo sysctl user.max_inotify_watches=524288"}},
		{"user/max_inotify_instances", "0", []string{"too many (user.max_inotify_instances=0", "sudo sysctl user.max_inotify_instances=1024"}},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			root := t.TempDir()
			for i := 0; i < 10; i++ {
				must(t, os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%d", i)), 0o755))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRealLimits$", "-test.count=1")
			cmd.Env = append(os.Environ(), "WATCH_LIMIT_HELPER="+root, "WATCH_LIMIT_SETTING="+tt.setting, "WATCH_LIMIT_VALUE="+tt.value)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			}
			out, err := cmd.CombinedOutput()
			if strings.Contains(string(out), "cannot lower") || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
				t.Skipf("no user namespace to lower the limit in: %v %s", err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("the error does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

func limitHelper(root, setting, value string) {
	if err := os.WriteFile("/proc/sys/"+setting, []byte(value), 0); err != nil {
		fmt.Println("cannot lower", setting, err)
		os.Exit(0)
	}
	w, err := New(root)
	var le *LimitError
	if !errors.As(err, &le) {
		fmt.Println("not a LimitError:", err)
		if w != nil {
			w.Close()
		}
		os.Exit(1)
	}
	fmt.Println(err)
	os.Exit(0)
}
