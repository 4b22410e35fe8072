package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
)

// servePprof serves Go's profiles on addr ($DRAFT_PPROF_ADDR: bench/soak
// reads the goroutine count of a long watch from it). For measurements
// only: never set it on a shared machine's public address.
func servePprof(addr string, errOut io.Writer) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(errOut, "warning: $DRAFT_PPROF_ADDR: %v\n", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	go http.Serve(l, mux) //nolint:errcheck // ends with the process
}
