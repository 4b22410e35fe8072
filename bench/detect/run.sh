#!/usr/bin/env bash
# bench/detect: draft create --dry-run against github-linguist on a generated
# tree of 50,000 source files (a Python app of 20,000 files, a node_modules of
# 30,000 JavaScript files, a .git). Both run on the same git commit; median of
# RUNS runs each (hyperfine), and both must name the same language.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10}
WORK=${BENCH_WORK:-/var/tmp/draft-bench-detect}
DRAFT=${DRAFT_BIN:-$PWD/bin/draft}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need github-linguist || ! need hyperfine; then
  echo "installing ruby-github-linguist and hyperfine (Debian packages)" >&2
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends ruby-github-linguist hyperfine git >&2
fi
[ -x "$DRAFT" ] || go build -o "$DRAFT" ./cmd/draft

tree="$WORK/bench-app"
if [ ! -f "$WORK/.generated" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK"
  echo "generating the tree in $tree" >&2
  go run bench/detect/gen.go -out "$tree"
  git -C "$tree" init -q && git -C "$tree" add -A >/dev/null && \
    git -C "$tree" -c user.name=bench -c user.email=bench@localhost commit -qm tree
  touch "$WORK/.generated"
fi
files=$(git -C "$tree" ls-files | wc -l)
echo "tree: $files files in git, plus .git ($(du -sh "$tree/.git" | cut -f1))" >&2

draft_lang=$("$DRAFT" create --dry-run --explain "$tree" 2>&1 >/dev/null | sed -n 's/^Chose \([a-z]*\):.*/\1/p')
linguist_lang=$(cd "$tree" && github-linguist 2>/dev/null | awk 'NR==1 {print tolower($NF)}')
echo "draft chose: $draft_lang; linguist's top language: $linguist_lang" >&2
if [ "$draft_lang" != "$linguist_lang" ]; then
  echo "FAIL: draft and linguist disagree" >&2
  exit 1
fi

json="$WORK/hyperfine.json"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$json" \
  -n draft "$DRAFT create --dry-run $tree" \
  -n linguist "cd $tree && github-linguist" >&2
python3 - "$json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
d, l = r["draft"]["median"], r["linguist"]["median"]
print(f"detect: draft median {d*1000:.0f} ms, linguist median {l*1000:.0f} ms, ratio {l/d:.0f}x ({len(r['draft']['times'])} runs each)")
PY
