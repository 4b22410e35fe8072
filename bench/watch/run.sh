#!/usr/bin/env bash
# bench/watch: watch mode on a tree of 100,000 files in 10,000 directories plus
# an ignored node_modules: time until watching, watches, RSS added, idle CPU,
# last write of a 1,000-file burst -> batch, batches per burst. First, the
# widest gaps between the events of one save and of a git checkout, which the
# default watch delay must exceed. Needs no cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The tree needs 10,001 inotify watches, on top of what other programs hold.
have=$(cat /proc/sys/fs/inotify/max_user_watches)
if [ "$have" -lt 65536 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "raising fs.inotify.max_user_watches from $have to 524288 for the tree's 10,000 directories" >&2
    sysctl -qw fs.inotify.max_user_watches=524288
  else
    echo "fs.inotify.max_user_watches=$have is too low for a tree of 10,000 directories: raise it with sudo sysctl fs.inotify.max_user_watches=524288" >&2
    exit 1
  fi
fi
go run ./bench/watch -gaps -runs "${GAP_RUNS:-20}"
go run ./bench/watch -bursts "${RUNS:-11}" "$@"
