#!/usr/bin/env bash
# bench/noop: `draft up` with nothing changed (time, bytes pushed, Helm
# revisions) against the same no-op with ko + helm upgrade --wait and with
# docker build + docker push + helm upgrade --wait, on the same Go app.
# Median of RUNS runs each (hyperfine). Needs root (the environment).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10}
export DRAFT_ENV_HELM=1   # the environment builds the helm CLI too
eval "$(bash e2e/env/up)"
export PATH=$(go env GOPATH)/bin:$PATH
command -v ko >/dev/null || go install github.com/google/ko@v0.19.1
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x bin/draft ] || make -s build
DRAFT=$PWD/bin/draft
DOCKER=/usr/bin/docker; [ -x $DOCKER ] || DOCKER=docker
NS=bench-noop
kubectl create namespace $NS --dry-run=client -o yaml | kubectl apply -f - >/dev/null

work=$(mktemp -d /tmp/draft-bench-noop.XXXXXX)
cp -R e2e/testdata/go-app "$work/noop-app"
cd "$work/noop-app"
"$DRAFT" create >/dev/null 2>&1
"$DRAFT" up -n $NS >/dev/null 2>&1
revs() { kubectl -n $NS get secrets -l "owner=helm,name=$1" -o name | wc -l; }

before=$(revs noop-app)
json=$("$DRAFT" up -n $NS -o json 2>/dev/null)
[[ $json == *'"event":"unchanged"'* ]] || { echo "FAIL: a no-change up did something: $json" >&2; exit 1; }
pushed=$(echo "$json" | grep -c '"event":"push"' || true)

# Competitors, set up once so that their no-op is measured.
KO_REPO=$DRAFT_REGISTRY/ko-noop
ko_up() {
  ref=$(KO_DOCKER_REPO=$KO_REPO KO_DEFAULTBASEIMAGE=$DRAFT_REGISTRY/pause:3.10 ko build --bare --insecure-registry . 2>/dev/null)
  helm upgrade --install ko-noop charts/noop-app -n $NS --wait --set "image.repository=${ref%@*}" --set "image.digest=${ref#*@}" >/dev/null
}
docker_up() {
  $DOCKER build -q -t $DRAFT_REGISTRY/docker-noop:v1 . >/dev/null
  $DOCKER push -q $DRAFT_REGISTRY/docker-noop:v1 >/dev/null
  helm upgrade --install docker-noop charts/noop-app -n $NS --wait --set image.repository=$DRAFT_REGISTRY/docker-noop --set image.tag=v1 >/dev/null
}
export -f ko_up docker_up; export KO_REPO NS DOCKER DRAFT_REGISTRY
ko_up; docker_up
ko_before=$(revs ko-noop); docker_before=$(revs docker-noop)

hyperfine --style basic -N --warmup 1 --runs "$RUNS" --export-json "$work/noop.json" \
  -n draft "$DRAFT up -n $NS" \
  -n "ko+helm" "bash -c ko_up" \
  -n "docker+helm" "bash -c docker_up" >&2
after=$(revs noop-app)
python3 - "$work/noop.json" "$pushed" "$before" "$after" "$ko_before" "$(revs ko-noop)" "$docker_before" "$(revs docker-noop)" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
pushed, b, a, kb, ka, db, da = sys.argv[2:]
print(f"noop: draft up {r['draft']*1000:.0f} ms (pushes {pushed}, revisions {b} -> {a}); "
      f"ko+helm {r['ko+helm']*1000:.0f} ms (revisions {kb} -> {ka}); docker+helm {r['docker+helm']*1000:.0f} ms (revisions {db} -> {da}); medians")
print(f"noop: ko+helm / draft = {r['ko+helm']/r['draft']:.1f}x, docker+helm / draft = {r['docker+helm']/r['draft']:.1f}x")
PY
"$DRAFT" delete -n $NS >/dev/null 2>&1 || true
helm uninstall ko-noop docker-noop -n $NS >/dev/null 2>&1 || true
