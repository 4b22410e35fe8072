#!/usr/bin/env bash
# bench/push: bytes uploaded per one-line change of a Go app, draft vs ko.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash e2e/env/up)"
export PATH=$(go env GOPATH)/bin:$PATH
command -v ko >/dev/null || { echo "installing ko v0.19.1 from the Go module proxy" >&2; go install github.com/google/ko@v0.19.1; }
[ -x bin/draft ] || make -s build
go run ./bench/push -runs "${RUNS:-10}"
