#!/usr/bin/env bash
# bench/connect: redeploys under a steady request loop through draft connect's
# local port (new pod Ready -> first answer, failed requests), and kubectl
# port-forward in the same run (how many rollouts kill it).
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash e2e/env/up)"
[ -x bin/draft ] || make -s build
go run ./bench/connect -runs "${RUNS:-50}"
