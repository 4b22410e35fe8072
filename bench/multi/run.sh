#!/usr/bin/env bash
# bench/multi: a project of five apps with one draft up at its root, against
# one umbrella Helm chart (ko + helm upgrade --wait + kubectl port-forward).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DRAFT_ENV_HELM=1
eval "$(bash e2e/env/up)"
export PATH=$(go env GOPATH)/bin:$PATH
command -v ko >/dev/null || go install github.com/google/ko@v0.19.1
[ -x bin/draft ] || make -s build
go run ./bench/multi -runs "${RUNS:-5}"
