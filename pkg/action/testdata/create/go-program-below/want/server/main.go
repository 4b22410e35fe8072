package main

import (
	"fmt"
	"net/http"

	"example.com/tool"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, tool.Greeting) })
	http.ListenAndServe(":8080", nil)
}
