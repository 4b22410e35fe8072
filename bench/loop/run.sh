#!/usr/bin/env bash
# bench/loop: save -> new response through the local port, Go and Python apps,
# draft against the scripted ko/docker + helm + kubectl port-forward loop.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DRAFT_ENV_HELM=1
eval "$(bash e2e/env/up)"
export PATH=$(go env GOPATH)/bin:$PATH
command -v ko >/dev/null || go install github.com/google/ko@v0.19.1
[ -x bin/draft ] || make -s build
for app in ${APPS:-go-app python-app}; do
  go run ./bench/loop -app "$app" -runs "${RUNS:-10}"
done
