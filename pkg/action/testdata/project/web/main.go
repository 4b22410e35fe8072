package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "web", os.Getenv("DATABASE_URL") != "") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
