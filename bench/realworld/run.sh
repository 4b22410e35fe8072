#!/usr/bin/env bash
# bench/realworld/run.sh: draft create on the app folders of public repositories,
# scored against what each repository's own files say (cases.tsv).
#
#   run.sh extract MIRRORS DIR     git-archive each repository of cases.tsv at its commit
#                                  from MIRRORS/<owner>+<name>/repo (the search tool's fetch
#                                  puts them in /work/.mirror) into DIR/<owner>+<name>
#   run.sh score DRAFT DIR [OUT]   run DRAFT create on a copy of every case's folder and score
#                                  it; what draft wrote goes to OUT (default: a temporary folder)
#   run.sh serve OUT [STACKS]      build what score wrote in OUT with Docker, run it, ask GET /
#                                  (node and go by default: their packages can be fetched here)
#
# Each case's folder is copied to OUT at its own path, with the files (not the folders) of
# each folder above it: a go.mod or package.json of a parent is seen as it is in the checkout.
# A case is right when every field it checks is: stack (the pack draft picked, "kept" when
# the folder had its own Dockerfile, "refuse" when create exits non-zero, "project" when it
# wrote a project's draft.toml of several apps), port (the chart's
# service port; "-" not checked), dockerfile-has (a string the Dockerfile must contain, its
# exec-form instructions read as words: the start command or the package built; for a
# project, a string of its draft.toml, its lines joined by spaces; "-" not
# checked). Their code is never committed: only
# cases.tsv, which names them.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CASES=$HERE/cases.tsv

extract() {
  local mirrors=$1 dir=$2 repo commit git
  mkdir -p "$dir"
  grep -v '^#' "$CASES" | cut -f1,2 | sort -u | while IFS=$'\t' read -r repo commit; do
    git=$mirrors/${repo/\//+}/repo
    [[ -d $git/.git ]] && git=$git/.git
    [[ -d $git ]] || { echo "missing: $repo (fetch it first)" >&2; continue; }
    rm -rf "${dir:?}/${repo/\//+}" && mkdir -p "$dir/${repo/\//+}"
    # folders only: some repositories hold large files that a mirror lacks
    local folders
    folders=$(awk -F'\t' -v r="$repo" '$1 == r && $3 != "." {print $3}' "$CASES" | sort -u)
    if awk -F'\t' -v r="$repo" '$1 == r && $3 == "." {f=1} END {exit !f}' "$CASES"; then folders=; fi
    # shellcheck disable=SC2086
    git --git-dir="$git" archive "$commit" $folders | tar -x -C "$dir/${repo/\//+}"
    echo "$repo $commit" >&2
  done
}

stack_of() { # DOCKERFILE
  local img
  # the first FROM but a stage that builds front-end assets for another runtime
  img=$(awk 'toupper($1) == "FROM" && tolower($NF) != "assets" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }' "$1")
  case ${img%%:*} in
    python) echo python ;; node) echo node ;; golang) echo go ;; ruby) echo ruby ;; php) echo php ;;
    eclipse-temurin | maven | gradle) echo java ;; *) echo "?${img}" ;;
  esac
}

score() {
  local draft=$1 dir=$2 out=${3:-$(mktemp -d /tmp/draft-realworld.XXXXXX)}
  local n=0 right=0 fields=0 fright=0 repo commit folder stack port has truth
  printf '%-62s %-8s %-8s %-6s %-6s %s\n' "CASE" "STACK" "GOT" "PORT" "GOT" "DOCKERFILE-HAS"
  while IFS=$'\t' read -r repo commit folder stack port has truth; do
    [[ $repo == \#* || -z $repo ]] && continue
    local top=$dir/${repo/\//+} src app got gport ghas ok=1 rel=$folder d part
    src=$top/$folder
    [[ $rel == . ]] && rel=
    # the folder at its own path in a copy of the repository's tree that holds
    # only it and its parents' own files (a parent go.mod, the root .gitignore)
    local base=$out/${repo/\//+}/${folder//\//_}/${repo#*/}
    rm -rf "${base:?}" && mkdir -p "$base"
    d=
    for part in $(dirname "${rel:-.}" | tr / ' '); do
      [[ $part == . ]] && continue
      find "$top$d" -maxdepth 1 -type f -exec cp -a {} "$base$d/" \;
      d+=/$part; mkdir -p "$base$d"
    done
    [[ -z $rel ]] || find "$top$d" -maxdepth 1 -type f -exec cp -a {} "$base$d/" \;
    app=$base${rel:+/$rel}
    rm -rf "$app" && cp -a "$src" "$app"
    local had=0; [[ -f $app/Dockerfile ]] && had=1
    if ! "$draft" create "$app" >"$app.stdout" 2>"$app.stderr"; then got=refuse
    elif grep -q '^\[apps\.' "$app/draft.toml" 2>/dev/null; then got=project
    elif ((had)); then got=kept
    else got=$(stack_of "$app/Dockerfile"); fi
    gport=$(awk '/^service:/ {s=1; next} s && /^  port:/ {print $2; exit}' "$app"/charts/*/values.yaml 2>/dev/null || true)
    ghas=-
    # exec-form instructions read as shell words: ["java", "-jar", "x"] holds "java -jar x"
    if [[ $has != - && $got == project ]]; then ghas=no; grep -qF -- "$has" <<<"$(tr -s ' \n' ' ' < "$app/draft.toml")" && ghas=yes
    elif [[ $has != - ]]; then ghas=no; grep -qF -- "$has" <<<"$(sed -E 's/", *"/ /g; s/\[ *"//g; s/" *\]//g' "$app/Dockerfile" 2>/dev/null)" && ghas=yes; fi
    fields=$((fields + 1)); if [[ $got == "$stack" ]]; then fright=$((fright + 1)); else ok=0; fi
    if [[ $port != - ]]; then fields=$((fields + 1)); if [[ $gport == "$port" ]]; then fright=$((fright + 1)); else ok=0; fi; fi
    if [[ $has != - ]]; then fields=$((fields + 1)); if [[ $ghas == yes ]]; then fright=$((fright + 1)); else ok=0; fi; fi
    n=$((n + 1)) right=$((right + ok))
    printf '%-62s %-8s %-8s %-6s %-6s %s%s\n' "$repo/$folder" "$stack" "$got" "$port" "${gport:--}" \
      "$([[ $has == - ]] && echo - || echo "$has: $ghas")" "$([[ $ok == 1 ]] && echo "" || echo "   WRONG")"
  done < "$CASES"
  echo "score: $right of $n cases right; $fright of $fields fields right (draft's output: $out)"
}

# serve OUT [STACKS]: for each case that score wrote a Dockerfile for (in OUT), of the
# stacks whose dependencies this machine can fetch inside a build (default: node go; the npm
# registry and the Go proxy), docker build it, run it with PORT set, and ask GET / on the
# chart's port from the host (the container's address on Docker's bridge). A case serves
# when the build succeeds and / answers with an HTTP status below 500 within 60 s.
serve() {
  local out=$1 stacks=${2:-node go} n=0 built=0 served=0 df app stack port img cid ip code t0 why
  command -v docker >/dev/null || { echo "serve needs a Docker engine (e2e/env/up starts one)" >&2; exit 2; }
  printf '%-62s %-6s %-6s %-6s %s\n' CASE STACK BUILDS SERVES WHY
  while IFS= read -r df; do
    app=$(dirname "$df")
    [[ -f $app.stdout ]] || continue # not a case folder
    grep -qx Dockerfile "$app.stdout" || continue # kept or refused: not draft's Dockerfile
    stack=$(stack_of "$df")
    [[ " $stacks " == *" $stack "* ]] || continue
    port=$(awk '/^service:/ {s=1; next} s && /^  port:/ {print $2; exit}' "$app"/charts/*/values.yaml 2>/dev/null || true)
    img=draft-realworld-$n; n=$((n + 1)); t0=$(date +%s); why=
    if DOCKER_BUILDKIT=0 timeout 900 docker build -q -t "$img" "$app" >"$app.build" 2>&1; then
      built=$((built + 1)); code=
      cid=$(docker run -d --sysctl net.ipv4.ip_unprivileged_port_start=0 -e PORT="$port" "$img" 2>>"$app.build") || true
      ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$cid" 2>/dev/null || true)
      for _ in $(seq 60); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ip:$port/" 2>/dev/null || true)
        [[ $code =~ ^[1-4] ]] && break
        [[ $(docker inspect -f '{{.State.Running}}' "$cid" 2>/dev/null) == true ]] || break
        sleep 1
      done
      docker logs "$cid" >"$app.run" 2>&1 || true
      if [[ $code =~ ^[1-4] ]]; then served=$((served + 1)); else why="GET / -> ${code:-nothing}: $(tail -1 "$app.run" | cut -c1-80)"; fi
      docker rm -f "$cid" >/dev/null 2>&1 || true
      printf '%-62s %-6s %-6s %-6s %s\n' "${app#"$out"/}" "$stack" yes "$([[ -z $why ]] && echo yes || echo no)" "$why ($(($(date +%s) - t0))s)"
    else
      printf '%-62s %-6s %-6s %-6s %s\n' "${app#"$out"/}" "$stack" no - "$(grep -m1 -iE 'error|returned a non-zero' "$app.build" | cut -c1-100) ($(($(date +%s) - t0))s)"
    fi
    docker rmi -f "$img" >/dev/null 2>&1 || true
  done < <(find "$out" -name Dockerfile -not -path '*/node_modules/*' | sort)
  echo "serve: $built of $n built, $served served (stacks: $stacks)"
}

case ${1:-} in
  extract) shift; [[ $# == 2 ]] || { echo "usage: run.sh extract MIRRORS DIR" >&2; exit 2; }; extract "$@" ;;
  score) shift; [[ $# -ge 2 ]] || { echo "usage: run.sh score DRAFT DIR [OUT]" >&2; exit 2; }; score "$@" ;;
  serve) shift; [[ $# -ge 1 ]] || { echo "usage: run.sh serve OUT [STACKS]" >&2; exit 2; }; serve "$@" ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
