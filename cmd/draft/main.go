// Command draft is the Kubernetes inner-loop tool: create, up, connect, delete.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/draftk8s/draft/pkg/cli"
)

func main() {
	// client-go logs through klog: a watch that a network drop ended, a
	// retried request. draft tells what matters itself, in its own words.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := cli.Execute(ctx, os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}
