#!/usr/bin/env bash
# bench/live: watch mode's live update, save -> new answer through connect,
# per pack, with draft's own full-redeploy loop in the same run (see main.go).
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash e2e/env/up)"
[ -x bin/draft ] || make -s build
go run ./bench/live -apps "${APPS:-python-app,node-app,ruby-app,php-app,go-app}" -runs "${RUNS:-20}" -full "${FULL:-8}"
# The competitor, in the same run: Tilt's live_update on the PHP app (see tilt.sh).
[[ ${TILT:-1} == 0 ]] || bash bench/live/tilt.sh
