package main

import (
	"database/sql"
	"net/http"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	sql.Open("sqlite3", "notes.db")
	http.ListenAndServe(":8080", nil)
}
