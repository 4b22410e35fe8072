// The shop's API: each GET / writes a row in PostgreSQL and counts in Redis,
// and answers with both counts. It reads DATABASE_URL and REDIS_URL.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

const version = "v1"

func main() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz DEFAULT now())"); err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var visits int
		if _, err := db.Exec(r.Context(), "INSERT INTO visits DEFAULT VALUES"); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := db.QueryRow(r.Context(), "SELECT count(*) FROM visits").Scan(&visits); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		hits, err := rdb.Incr(r.Context(), "hits").Result()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "api %s visits=%d hits=%d\n", version, visits, hits)
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Printf("api %s listening on :%s", version, port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
