package main

import (
	"flag"
	"net/http"
)

var httpAddr = flag.String("http", "localhost:8080", "Listen address")

func main() {
	flag.Parse()
	http.ListenAndServe(*httpAddr, nil)
}
