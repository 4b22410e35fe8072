#!/usr/bin/env bash
# Runs every benchmark under bench/ that has a run.sh. Each prints its own figures.
set -euo pipefail
cd "$(dirname "$0")"
for b in */run.sh; do
  echo "== bench/${b%/run.sh}" >&2
  bash "$b"
done
