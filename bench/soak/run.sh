#!/usr/bin/env bash
# bench/soak: 100 redeploys in watch mode under a request loop through the
# forward (failed requests; RSS, open files, threads and goroutines every 10
# redeploys), then draft up of a 2 GB file and of 200,000 files with each
# builder (peak RSS, build and push times).
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash e2e/env/up)"
[ -x bin/draft ] || make -s build
go run ./bench/soak -part watch -saves "${SAVES:-100}"
go run ./bench/soak -part tree
