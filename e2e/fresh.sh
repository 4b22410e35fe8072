#!/usr/bin/env bash
# e2e/fresh.sh (make fresh): the README's set-up commands on a machine that has
# never run them. It makes a brand-new Debian 12 root with debootstrap, gives it
# what a new machine of ours has and nothing of this one's (the Go toolchain
# bind-mounted read-only, the kernel, the CA bundle's extra certificates, apt's
# sources, DNS), installs the prerequisites the README names, clones the commit
# into it, and runs there, as root, the README's set-up commands taken from the
# README's own text: the first run (cold), the first command again (warm), then
# the rest. It reports each phase's time and the result, and cleans up.
#
# The root is entered with pivot_root in new mount and PID namespaces, with its
# own /proc, /sys, cgroup hierarchies, /dev, /run and /tmp. It shares this
# machine's kernel and network namespace (the cluster's ports are the host's),
# so the host's own environment is stopped first. Slow (tens of minutes): not
# part of `make test`, whose TestSetup* tests are the cheap part of it.
#
# Usage: e2e/fresh.sh [--check] [COMMIT]   (default HEAD; uncommitted changes are not tested)
#   --check: only make the root and check it from inside (mounts, cgroups, Go, the
#   module proxy, apt, a user namespace), leaving the host's environment running.
# Knobs: DRAFT_FRESH_DIR (default /var/tmp/draft-fresh), DRAFT_FRESH_KEEP=1 (keep
# the root for a look), DRAFT_FRESH_MIRROR (default http://deb.debian.org/debian),
# DRAFT_FRESH_CACHE=0 (debootstrap anew instead of reusing the pristine tarball).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${DRAFT_FRESH_DIR:-/var/tmp/draft-fresh}
R=$DIR/root
MIRROR=${DRAFT_FRESH_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
T0=$(date +%s)
log() { printf '[fresh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
trap 'log "error: \"$BASH_COMMAND\" failed (exit $?) at line $LINENO"' ERR

CHECK=0
if [[ ${1:-} == --check ]]; then CHECK=1; shift; fi
[[ $(id -u) == 0 ]] || die "make fresh runs as root (debootstrap, namespaces, the environment)"
[[ -x /usr/local/go/bin/go ]] || die "no Go toolchain at /usr/local/go (a new machine has it there)"
COMMIT=$(git -C "$ROOT" rev-parse --verify "${1:-HEAD}^{commit}") || die "unknown commit ${1:-HEAD}"
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no) ]]; then
  log "note: the work tree has uncommitted changes; they are not part of this test (commit $COMMIT is)"
fi

# ---------------------------------------------------------------- the README's commands
# The set-up section of the README: its prerequisite packages (the backquoted
# `apt-get install ...` of the section) and its commands (the `make ...` lines of
# its first code block), so that what is tested is what a newcomer reads.
readme_section() { awk '/^## Set up on a fresh machine/{on=1; next} on && /^## /{exit} on' "$ROOT/README.md"; }
PREREQS=$(readme_section | grep -o '`apt-get install [^`]*`' | head -1 | tr -d '`' | sed 's/^apt-get install //') ||
  die "the README's set-up section names no \`apt-get install ...\` of prerequisites"
mapfile -t COMMANDS < <(readme_section | awk '/^```/{n++; next} n == 1' | sed 's/#.*//; s/[[:space:]]*$//' | grep -E '^make ')
((${#COMMANDS[@]})) || die "no make commands found in the README's set-up section"
log "commit $COMMIT; prerequisites from the README: $PREREQS; commands: ${COMMANDS[*]}"

# ---------------------------------------------------------------- the host's environment
# It listens on the same ports (and would be found by pid files): stop it.
if ((CHECK)); then :; elif [[ -d /var/lib/draft-env || -e /run/draft-env.lock ]]; then
  log "stopping this machine's own environment (e2e/env/down)"
  bash "$ROOT/e2e/env/down" || die "e2e/env/down failed on the host"
fi
for p in 5000 6443 2379 10250; do
  ((CHECK)) && break
  if [[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]]; then die "port $p is in use on this machine: $(ss -Hltnp "sport = :$p" | sed -n '1s/.*users://p')"; fi
done

# ---------------------------------------------------------------- cleanup
host_cleanup() {
  local rc=$?
  set +eE; trap - ERR
  # the namespaces are gone with their processes and mounts; what lives in the
  # shared network namespace (iptables chains, the bridge, sysctls) is undone by
  # the root's own down, which ran inside; this is the fallback when it did not.
  # Only when the root's environment ran (ENTERED) and the host's was stopped
  # first (not --check): then the bridge and the chains can only be the root's.
  if ((ENTERED && !CHECK)) && { ip link show draft0 >/dev/null 2>&1 || [[ $(iptables -S FORWARD 2>/dev/null) == *draft-env-guard* ]]; }; then
    log "cleaning up what the root's environment left on the network (its own down did not finish)"
    DRAFT_ENV_STATE=$R/var/lib/draft-env DRAFT_ENV_CACHE=$R/var/cache/draft-env DRAFT_ENV_RUN=$R/run/draft-env \
      bash "$ROOT/e2e/env/down" >/dev/null 2>&1
    ip link del draft0 2>/dev/null
  fi
  if [[ ${DRAFT_FRESH_KEEP:-0} == 1 ]]; then
    log "kept the root at $R (DRAFT_FRESH_KEEP=1); remove it with: rm -rf --one-file-system $R"
  elif [[ -d $R ]]; then
    if grep -qE "^$R(/|$)" <<<"$(findmnt -rn -o TARGET)"; then
      log "warning: something is still mounted under $R: not removed"
    else
      rm -rf --one-file-system "$R"
    fi
  fi
  exit "$rc"
}
ENTERED=0
trap host_cleanup EXIT

# ---------------------------------------------------------------- a new root
phase() { PHASE=$1; PT=$(date +%s); log "$1"; }
took() { echo $(($(date +%s) - PT)); }
REPORT=()

mkdir -p "$DIR"
if [[ -d $R ]]; then
  grep -qE "^$R(/|$)" <<<"$(findmnt -rn -o TARGET)" && die "$R has mounts (a run still going?): not touching it"
  rm -rf --one-file-system "$R"
fi
command -v debootstrap >/dev/null || { log "installing debootstrap on this machine"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
phase "debootstrap $SUITE (minbase) into $R"
TARBALL=$DIR/pristine-$SUITE.tar   # a plain Debian root, untouched by any run: reused to save a minute
if [[ ${DRAFT_FRESH_CACHE:-1} == 1 && -s $TARBALL ]]; then
  mkdir -p "$R" && tar -C "$R" -xf "$TARBALL"
else
  debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 ||
    { tail -20 "$DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
  tar -C "$R" --numeric-owner -cf "$TARBALL.tmp" . && mv -f "$TARBALL.tmp" "$TARBALL"
fi
REPORT+=("debootstrap: $(took) s")

# What a new machine of ours has that debootstrap does not give: apt's sources,
# the CA certificates of the network's TLS proxy, DNS, localhost, Go (mounted).
cp -a /etc/apt/sources.list.d/. "$R/etc/apt/sources.list.d/" 2>/dev/null || true
[[ -s $R/etc/apt/sources.list.d/debian.sources ]] && rm -f "$R/etc/apt/sources.list"
cp -a /etc/apt/apt.conf.d/99artifact-registry "$R/etc/apt/apt.conf.d/" 2>/dev/null || true
mkdir -p "$R/usr/local/share/ca-certificates" "$R/usr/local/go"
cp -a /usr/local/share/ca-certificates/. "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
grep -qw localhost "$R/etc/hosts" 2>/dev/null || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"

# the commit, cloned as a user would (no hooks, no work-tree leftovers)
git clone -q --no-hardlinks "$ROOT" "$R/root/draft"
git -C "$R/root/draft" checkout -q --detach "$COMMIT"
git -C "$R/root/draft" remote remove origin
# shared/ beside the checkout, as CI has it
[[ -d $ROOT/../shared ]] && cp -a "$ROOT/../shared" "$R/root/shared"

# ---------------------------------------------------------------- the run inside
cat > "$R/root/fresh-run.sh" <<EOF
#!/bin/bash
# written by e2e/fresh.sh: runs inside the new root
set -uo pipefail
cd /root/draft
mkdir -p /root/fresh-logs
result() { echo "\$*" >> /root/fresh-logs/results; }
step() { # NAME CMD: time one command, its output to /root/fresh-logs/NAME.log
  local name=\$1 t=\$(date +%s) hms=\$(date +%H:%M:%S) rc; shift
  echo "[fresh \$(date +%H:%M:%S)] inside: \$name: \$*" >&2
  bash -c "\$*" > /root/fresh-logs/\$name.log 2>&1 </dev/null; rc=\$?
  result "\$name rc=\$rc seconds=\$((\$(date +%s) - t)) start=\$hms cmd=\$*"
  if ((rc)); then echo "[fresh] \$name failed (exit \$rc); the end of its output:" >&2; tail -40 /root/fresh-logs/\$name.log >&2; fi
  return \$rc
}
ok=1
step prerequisites "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PREREQS" || ok=0
EOF
if ((CHECK)); then
  cat >> "$R/root/fresh-run.sh" <<'EOF2'
step check-mounts "findmnt -rn -o TARGET,FSTYPE | grep -E '^/(proc|sys|sys/fs/cgroup/memory|dev|dev/pts|run|tmp|usr/local/go) '" || ok=0
step check-no-host "! test -e /work && ! test -e /var/cache/draft-env && ! test -e /root/go && ! test -e /root/.cache" || ok=0
step check-go "go version && go env GOPROXY GOFLAGS && ! touch /usr/local/go/x" || ok=0
step check-ns "unshare -U -r true" || ok=0
step check-proxy "cd /tmp && go mod init x >/dev/null 2>&1 && go mod download -json github.com/google/uuid@v1.6.0 | grep Version" || ok=0
step check-dns "getent hosts localhost && getent hosts deb.debian.org" || ok=0
exit $((ok ? 0 : 1))
EOF2
else {
  first=${COMMANDS[0]}
  printf '((ok)) && { step %q %q || ok=0; }\n' "cold-$(echo "$first" | tr ' ' '-')" "$first"
  printf '((ok)) && { step %q %q || ok=0; }\n' "warm-$(echo "$first" | tr ' ' '-')" "$first"
  for c in "${COMMANDS[@]:1}"; do printf '((ok)) && { step %q %q || ok=0; }\n' "$(echo "$c" | tr ' ' '-')" "CI=true $c"; done
  echo 'step cleanup "make cluster-down" || true'
  echo 'exit $((ok ? 0 : 1))'
} >> "$R/root/fresh-run.sh"
fi
chmod 755 "$R/root/fresh-run.sh"

ENTER=$(cat <<'EOF'
set -euo pipefail
R=$1
mount --make-rprivate /
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755 cgroup "$R/sys/fs/cgroup"
# the same cgroup hierarchies as this machine (v1 controllers, name=systemd, v2)
findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS | while read -r target fstype opts; do
  [[ $target == /sys/fs/cgroup/* ]] || continue
  sub=${target#/sys/fs/cgroup/}
  mkdir -p "$R/sys/fs/cgroup/$sub"
  if [[ $fstype == cgroup2 ]]; then mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup/$sub"
  else mount -t cgroup -o "$(echo "$opts" | tr ',' '\n' | grep -vE '^(rw|ro|relatime|nosuid|nodev|noexec)$' | paste -sd,)" cgroup "$R/sys/fs/cgroup/$sub"; fi
done
mount -t devtmpfs devtmpfs "$R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
mount --bind "$R/dev/pts/ptmx" "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
mount -t tmpfs -o mode=755 run "$R/run"
mount -t tmpfs -o mode=1777 tmp "$R/tmp"
mount --bind /usr/local/go "$R/usr/local/go"
mount -o remount,bind,ro "$R/usr/local/go"
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  GOFLAGS=-buildvcs=false GOTOOLCHAIN=local /bin/bash /root/fresh-run.sh
EOF
)
phase "entering the new root (new mount and PID namespaces, pivot_root) and running the README's commands"
rc=0 ENTERED=1
unshare --mount --pid --fork --kill-child -- bash -c "$ENTER" enter "$R" || rc=$?

# ---------------------------------------------------------------- report
phases_of() { grep -ho 'environment up in .*' "$R/root/fresh-logs/$1.log" 2>/dev/null | tail -1; }
{
  echo "make fresh: commit $COMMIT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '  %s\n' "${REPORT[@]}"
  while read -r name rcs secs start cmd; do
    printf '  %-22s %5ss  %s  (%s)\n' "$name" "${secs#seconds=}" "$([[ $rcs == rc=0 ]] && echo ok || echo "FAILED ${rcs}")" "${cmd#cmd=}"
    # what make did before the environment came up: the build (Go modules
    # and draft), and in make test the unit tests too
    first=$({ grep -m1 -o '^\[draft-env [0-9:]*' "$R/root/fresh-logs/$name.log" 2>/dev/null || true; } | cut -d' ' -f2)
    if [[ -n $first ]] && grep -q 'environment up in' "$R/root/fresh-logs/$name.log"; then
      b=$(( $(date -d "$first" +%s) - $(date -d "${start#start=}" +%s) ))
      ((b < 5)) || echo "      make's steps before the environment (build$([[ $cmd == *test* ]] && echo ", unit tests")): ${b}s"
    fi
    p=$(phases_of "$name" || true); [[ -z $p ]] || echo "      $p"
    p=$({ grep -ho 'built [a-z0-9-]* in [0-9.]*s' "$R/root/fresh-logs/$name.log" 2>/dev/null || true; } | sed 's/^built //' | paste -sd, | sed 's/,/, /g')
    [[ -z $p ]] || echo "      built: $p"
  done < "$R/root/fresh-logs/results" 2>/dev/null
  echo "  total $(($(date +%s) - T0)) s: $([[ $rc == 0 ]] && echo PASSED || echo FAILED)"
} | tee "$DIR/report.txt" >&2
mkdir -p "$DIR/logs" && cp -a "$R/root/fresh-logs/." "$DIR/logs/" 2>/dev/null || true
log "report: $DIR/report.txt; logs: $DIR/logs/"
exit "$rc"
