#!/usr/bin/env bash
# bench/live/tilt.sh: the competitor of bench/live, Tilt v0.33.21 with
# live_update (sync) on the same app, chart and cluster: save -> the new
# answer through Tilt's port-forward, median of RUNS saves.
#
# Tilt is built from the Go module proxy (it builds only as the main module:
# its go.mod replaces some dependencies, one of them missing from the
# checksum database), once, into the cache.
#
# Only the PHP app is measured (with two changes to its Dockerfile, said
# below, without which Tilt's sync fails or serves 2 s late): PHP reads its files on every request, so a
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
  # Its web UI is built with yarn from web/, which a module does not ship:
  # a one-line page stands in for it (the UI plays no part in live_update),
  # so that it runs headless in its production mode.
  echo '<!doctype html><title>tilt</title>' > "$src/pkg/assets/build/index.html"
  (cd "$src" && GONOSUMDB=github.com/tilt-dev GOFLAGS=-mod=mod go build -o "$TILT" ./cmd/tilt)
fi
"$TILT" version >&2

NS=bench-live-tilt
RUNS=${RUNS:-20}
LOCAL=18090
work=$(mktemp -d /tmp/draft-bench-tilt.XXXX)
TILT_PID=
trap '[[ -n $TILT_PID ]] && kill $TILT_PID 2>/dev/null; wait 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT
go build -o "$work/tiltloop" ./bench/live/tiltloop
cp -r e2e/testdata/php-app "$work/php-app"
cd "$work/php-app"
"$ROOT/bin/draft" create >/dev/null 2>&1
# Tilt syncs with tar inside the container, as the image's user (10001):
# it cannot replace a file in /app, which WORKDIR made root's ("tar:
# app/index.php: Cannot open: File exists", its first run here). draft's
# agent layer owns the folder for the user; for Tilt the Dockerfile does.
sed -i 's|^WORKDIR /app$|WORKDIR /app\nRUN chown 10001:10001 /app|' Dockerfile
grep -q '^RUN chown 10001:10001 /app$' Dockerfile
# And opcache told to look at every request, as draft's live image does
# (PHP's built-in server caches a script for 2 s by default).
sed -i 's|^USER 10001:10001$|RUN mkdir -p /etc/live-php \&\& echo opcache.revalidate_freq=0 > /etc/live-php/live.ini\nENV PHP_INI_SCAN_DIR=:/etc/live-php\nUSER 10001:10001|' Dockerfile
grep -q '^ENV PHP_INI_SCAN_DIR=:/etc/live-php$' Dockerfile
kubectl create namespace $NS >/dev/null 2>&1 || true
ctx=$(kubectl config current-context)
cat > Tiltfile <<EOF
allow_k8s_contexts('$ctx')
default_registry('$DRAFT_REGISTRY')
docker_build('tilt-php-app', '.', live_update=[sync('.', '/app')])
k8s_yaml(helm('charts/php-app', name='tilt-php-app', namespace='$NS', set=['image.repository=tilt-php-app', 'image.tag=latest']))
k8s_resource('tilt-php-app', port_forwards=['$LOCAL:8080'])
EOF
"$TILT" up --stream --port 10399 --web-mode prod --namespace $NS > "$work/tilt.log" 2>&1 &
TILT_PID=$!
"$work/tiltloop" -url "http://127.0.0.1:$LOCAL/" -file index.php -runs "$RUNS" -log "$work/tilt.log" -pid $TILT_PID
"$TILT" down --namespace $NS >/dev/null 2>&1 || true
