#!/usr/bin/env bash
# bench/up: cold and warm draft up per pack, with the phase breakdown.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash e2e/env/up)"
[ -x bin/draft ] || make -s build
go run ./bench/up -runs "${RUNS:-5}" ${PACKS:+-packs "$PACKS"}
