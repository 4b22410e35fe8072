#!/usr/bin/env bash
# bench/live/tilt.sh: the competitor of bench/live, Tilt v0.33.21 with
# live_update (sync) on the same app, chart and cluster: save -> the new
# answer through Tilt's port-forward, median of RUNS saves.
#
# Tilt is built from the Go module proxy (it builds only as the main module:
# its go.mod replaces some dependencies, one of them missing from the
# checksum database), once, into the cache.
#
# Only the PHP app is measured: PHP reads its files on every request, so a
# sync alone serves the edit. The other apps must be restarted after a sync,
# which Tilt does for Kubernetes only with its restart_process extension
# (docker_build_with_restart), fetched from GitHub and Docker Hub at run
# time, neither of which this machine reaches; without it, a run() step that
# stops the app restarts the container, which loses what was synced.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export DRAFT_ENV_HELM=1
eval "$(bash e2e/env/up)"
CACHE=${DRAFT_BENCH_CACHE:-/var/cache/draft-bench}
TILT=$CACHE/tilt-v0.33.21/tilt
if [[ ! -x $TILT ]]; then
  echo "bench/live: building Tilt v0.33.21 (about 4 minutes)" >&2
  dir=$(go mod download -json github.com/tilt-dev/tilt@v0.33.21 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  src=$CACHE/tilt-src
  rm -rf "$src" && mkdir -p "$CACHE" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  (cd "$src" && GONOSUMDB=github.com/tilt-dev GOFLAGS=-mod=mod go build -o "$TILT" ./cmd/tilt)
fi
"$TILT" version >&2

NS=bench-live-tilt
RUNS=${RUNS:-20}
LOCAL=18090
work=$(mktemp -d /tmp/draft-bench-tilt.XXXX)
trap 'kill $TILT_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r e2e/testdata/php-app "$work/php-app"
cd "$work/php-app"
"$ROOT/bin/draft" create >/dev/null 2>&1
kubectl create namespace $NS >/dev/null 2>&1 || true
ctx=$(kubectl config current-context)
cat > Tiltfile <<EOF
allow_k8s_contexts('$ctx')
default_registry('$DRAFT_REGISTRY')
docker_build('tilt-php-app', '.', live_update=[sync('.', '/app')])
k8s_yaml(helm('charts/php-app', name='tilt-php-app', namespace='$NS', set=['image.repository=tilt-php-app', 'image.tag=latest']))
k8s_resource('tilt-php-app', port_forwards=['$LOCAL:8080'])
EOF
"$TILT" up --stream --port 10399 --namespace $NS > "$work/tilt.log" 2>&1 &
TILT_PID=$!
go run "$ROOT/bench/live/tiltloop" -url "http://127.0.0.1:$LOCAL/" -file index.php -runs "$RUNS" -log "$work/tilt.log"
"$TILT" down --namespace $NS >/dev/null 2>&1 || true
