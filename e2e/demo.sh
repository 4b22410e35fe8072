#!/usr/bin/env bash
# e2e/demo.sh (make demo): brings the environment up (building only the base
# image the example uses), then runs draft on examples/python-hello, copied to a
# temporary folder: create, up, connect and curl, an edit and up again on the
# same local port, and an up with nothing changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRAFT=${DRAFT_BIN:-$ROOT/bin/draft}
if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
fail() { echo "demo: $*" >&2; exit 1; }

[[ -x $DRAFT ]] || fail "$DRAFT not found: run 'make build' first ('make demo' does)"
[[ $(id -u) == 0 ]] || fail "the environment (Kubernetes, registry, Docker engine) is started as root: run 'sudo make demo'"

step "1. The environment: Kubernetes, a registry on 127.0.0.1:5000, a Docker engine (e2e/env/up)"
# base images are built on first use (step 3): none at up unless DRAFT_ENV_IMAGES asks
exports=$(DRAFT_ENV_IMAGES="${DRAFT_ENV_IMAGES-}" bash "$ROOT/e2e/env/up") || fail "e2e/env/up failed (its messages are above)"
eval "$exports"
echo "$exports"
kubectl get nodes
echo "registry:      $(curl -fsS "http://$DRAFT_REGISTRY/v2/_catalog?n=100" | tr -d '\n' | cut -c1-160)..."
echo "docker engine: $(curl -fsS --unix-socket "${DOCKER_HOST#unix://}" http://d/version | grep -o '"Version":"[^"]*"' | head -1)"

step "2. An app: examples/python-hello, copied to a temporary folder"
work=$(mktemp -d /tmp/draft-demo.XXXXXX)
cp -R "$ROOT/examples/python-hello" "$work/"
app="$work/python-hello"
(cd "$app" && ls -la)

step "3. draft create"
echo "\$ draft create $app"
"$DRAFT" create "$app"

step "4. What draft create wrote"
(cd "$app" && find . -type f ! -name app.py ! -name README.md | sort)
for f in Dockerfile .dockerignore draft.toml; do
  [[ -f $app/$f ]] || continue
  printf '\n%s--- %s%s\n' "$B" "$f" "$N"
  cat "$app/$f"
done
chart=$(find "$app/charts" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sed -n 1p)
if [[ -n $chart ]]; then
  printf '\n%s--- %s/values.yaml%s\n' "$B" "${chart#"$app"/}" "$N"
  cat "$chart/values.yaml"
fi

# the base images the Dockerfile names, built now if the environment lacks them
echo
bash "$ROOT/e2e/env/images/mkbase.sh" ensure-for "$app/Dockerfile" || fail "the Dockerfile's base images could not be built (the messages are above)"

step "5. draft up: build, push, deploy, wait until ready"
cd "$app"
echo "\$ draft up"
"$DRAFT" up

step "6. draft connect: the app on localhost (in the background here), its logs streamed"
release=$(sed -n 's/^ *name = "\(.*\)".*/\1/p' draft.toml | sed -n 1p)
echo "\$ draft connect --no-logs &"
"$DRAFT" connect --no-logs > "$work/connect.out" 2> "$work/connect.err" &
pf=$!
trap 'kill $pf 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 100); do url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/connect.out" | head -1 || true); [[ -n $url ]] && break; sleep 0.1; done
[[ -n $url ]] || fail "draft connect printed no URL: $(cat "$work/connect.err")"
cat "$work/connect.out"
echo "\$ curl $url/"
curl -fsS "$url/"

step "7. Change the source and up again: only the image's top layer is rebuilt; connect follows the new pod"
sed -i 's/Hello from draft/Hello again from draft/' app.py
echo "\$ draft up"
"$DRAFT" up
echo "\$ curl $url/   (the same local port)"
curl -fsS "$url/"

step "8. Nothing changed: up says so and does nothing"
echo "\$ draft up"
"$DRAFT" up

kill $pf 2>/dev/null || true; wait $pf 2>/dev/null || true

step "Done"
echo "The app is in $app and its release $release is running."
echo "Remove it with: (cd $app && draft delete); stop the environment with: make cluster-down"
