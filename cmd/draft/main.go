// Command draft is the Kubernetes inner-loop tool: create, up, connect, delete.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/draftk8s/draft/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}
