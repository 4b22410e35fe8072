package main

import (
	"html/template"
	"log"
	"net/http"
)

// The templates are files beside the program, read from the working directory.
var index = template.Must(template.ParseFiles("index.tmpl"))

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if err := index.Execute(w, nil); err != nil {
			log.Print(err)
		}
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
