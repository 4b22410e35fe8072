// Command draft is the Kubernetes inner-loop tool: create, up, connect, delete.
package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
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
	if addr := os.Getenv("DRAFT_PPROF_ADDR"); addr != "" {
		servePprof(addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}

// servePprof serves Go's profiles on addr (bench/soak reads the goroutine
// count of a long watch from it). For measurements only: never set it on a
// shared machine's public address.
func servePprof(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		io.WriteString(os.Stderr, "warning: $DRAFT_PPROF_ADDR: "+err.Error()+"\n")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	go http.Serve(l, mux)
}
