package main

import (
	"html/template"
	"net/http"
)

func main() {
	t := template.Must(template.ParseGlob("resources/*.templ.html"))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { t.Execute(w, nil) })
	http.ListenAndServe(":80", nil)
}
