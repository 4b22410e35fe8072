#!/usr/bin/env bash
# bench/realworld/run.sh: draft create on the app folders of public repositories,
# scored against what each repository's own files say (cases.tsv).
#
#   run.sh extract MIRRORS DIR     git-archive each repository of cases.tsv at its commit
#                                  from MIRRORS/<owner>+<name>/repo (the search tool's fetch
#                                  puts them in /work/.mirror) into DIR/<owner>+<name>
#   run.sh score DRAFT DIR [OUT]   run DRAFT create on a copy of every case's folder and score
#                                  it; what draft wrote goes to OUT (default: a temporary folder)
#
# A case is right when every field it checks is: stack (the pack draft picked, "kept" when
# the folder had its own Dockerfile, "refuse" when create exits non-zero), port (the chart's
# service port; "-" not checked), dockerfile-has (a string the Dockerfile must contain, its
# exec-form instructions read as words: the start command or the package built; "-" not
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
  img=$(awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }' "$1")
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
    local src=$dir/${repo/\//+}/$folder app name got gport ghas ok=1
    name=$(basename "$(cd "$src" && pwd)")
    app=$out/${repo/\//+}/${folder//\//_}/$name
    rm -rf "$app" && mkdir -p "$(dirname "$app")" && cp -a "$src" "$app"
    local had=0; [[ -f $app/Dockerfile ]] && had=1
    if ! "$draft" create "$app" >"$app.stdout" 2>"$app.stderr"; then got=refuse
    elif ((had)); then got=kept
    else got=$(stack_of "$app/Dockerfile"); fi
    gport=$(awk '/^service:/ {s=1; next} s && /^  port:/ {print $2; exit}' "$app"/charts/*/values.yaml 2>/dev/null || true)
    ghas=-
    # exec-form instructions read as shell words: ["java", "-jar", "x"] holds "java -jar x"
    if [[ $has != - ]]; then ghas=no; sed -E 's/", *"/ /g; s/\[ *"//g; s/" *\]//g' "$app/Dockerfile" 2>/dev/null | grep -qF -- "$has" && ghas=yes; fi
    fields=$((fields + 1)); if [[ $got == "$stack" ]]; then fright=$((fright + 1)); else ok=0; fi
    if [[ $port != - ]]; then fields=$((fields + 1)); if [[ $gport == "$port" ]]; then fright=$((fright + 1)); else ok=0; fi; fi
    if [[ $has != - ]]; then fields=$((fields + 1)); if [[ $ghas == yes ]]; then fright=$((fright + 1)); else ok=0; fi; fi
    n=$((n + 1)) right=$((right + ok))
    printf '%-62s %-8s %-8s %-6s %-6s %s%s\n' "$repo/$folder" "$stack" "$got" "$port" "${gport:--}" \
      "$([[ $has == - ]] && echo - || echo "$has: $ghas")" "$([[ $ok == 1 ]] && echo "" || echo "   WRONG")"
  done < "$CASES"
  echo "score: $right of $n cases right; $fright of $fields fields right (draft's output: $out)"
}

case ${1:-} in
  extract) shift; [[ $# == 2 ]] || { echo "usage: run.sh extract MIRRORS DIR" >&2; exit 2; }; extract "$@" ;;
  score) shift; [[ $# -ge 2 ]] || { echo "usage: run.sh score DRAFT DIR [OUT]" >&2; exit 2; }; score "$@" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
