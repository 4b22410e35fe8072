# shellcheck shell=bash
# Shared settings and helpers for e2e/env/up and e2e/env/down.
# Every path and knob can be overridden from the environment (see README.md).
set -Eeuo pipefail
# an unexpected failure says where it happened (a silent exit helps nobody)
trap 'echo "[draft-env] error: \"$BASH_COMMAND\" failed (exit $?) at ${BASH_SOURCE[0]##*/}:$LINENO" >&2' ERR

ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"                      # must match hyperkube/go.mod
STATE="${DRAFT_ENV_STATE:-/var/lib/draft-env}"            # all runtime state (wiped by down)
CACHE="${DRAFT_ENV_CACHE:-/var/cache/draft-env}"          # binaries, base images (kept by down)
RUN_DIR="${DRAFT_ENV_RUN:-/run/draft-env}"                # sockets and pid files of the Docker engine
BIN="$CACHE/bin"
PIDS="$STATE/run"
LOGS="$STATE/logs"
PKI="$STATE/pki"
NODE_NAME="${DRAFT_ENV_NODE_NAME:-localhost}"             # must resolve to 127.0.0.1 (apiserver -> kubelet)
REGISTRY_PORT="${DRAFT_ENV_REGISTRY_PORT:-5000}"
REGISTRY_ADDR="127.0.0.1:$REGISTRY_PORT"
CONTAINERD_SOCK=/run/containerd/containerd.sock           # the kubelet's containerd (CRI)
POD_CIDR="${DRAFT_ENV_POD_CIDR:-10.244.0.0/24}"
SERVICE_CIDR="${DRAFT_ENV_SERVICE_CIDR:-10.96.0.0/16}"
BRIDGE="${DRAFT_ENV_BRIDGE:-draft0}"
# the pod bridge's own address (the pods' gateway), where the cluster's DNS server listens
# (the network's first address: plain bash, python3 is not on a new machine)
IFS=. read -r _a _b _c _d <<< "${POD_CIDR%/*}"
POD_GATEWAY="$_a.$_b.$_c.$((_d + 1))"
unset _a _b _c _d
STORAGE_CLASS=standard                                     # the default StorageClass (hostPath volumes under $STATE/volumes)
PAUSE_IMAGE="$REGISTRY_ADDR/pause:3.10"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
KUBE_PROXY="${DRAFT_ENV_KUBE_PROXY:-1}"                   # 0: no kube-proxy (no ClusterIP/NodePort routing)
WITH_HELM="${DRAFT_ENV_HELM:-0}"                          # 1: also build the helm CLI into $BIN
WITH_DOCKER="${DRAFT_ENV_DOCKER:-1}"                      # 0: no Docker engine
IMAGES="${DRAFT_ENV_IMAGES-debian python node golang ruby php java postgres redis}"   # base image families; "" for none
DEBIAN_MIRROR="${DRAFT_ENV_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Docker engine: its own containerd, never the kubelet's.
DOCKER_CONTAINERD_SOCK="$RUN_DIR/docker-containerd/containerd.sock"
DOCKER_DATA="$STATE/docker"
# Docker's build containers: a bridge of our own with NAT, like a developer's docker0
DOCKER_BRIDGE="${DRAFT_ENV_DOCKER_BRIDGE:-draftd0}"
DOCKER_GATEWAY="${DRAFT_ENV_DOCKER_GATEWAY:-10.89.0.1/24}"  # the bridge's address and prefix
export PATH="$BIN:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf '[draft-env %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[draft-env %s] error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

# One up or down at a time (fd 9 is closed for the processes that are started).
take_lock() {
  exec 9>/run/draft-env.lock
  flock -w 1800 9 || die "another e2e/env/up or down holds /run/draft-env.lock"
}

# The Docker socket: the default one unless something else already listens
# there (then a socket of our own). Decided once by up and remembered.
docker_sock() {
  if [[ -s $STATE/docker.sock.path ]]; then cat "$STATE/docker.sock.path"; return; fi
  if [[ -S /var/run/docker.sock ]] && curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1; then
    echo "$RUN_DIR/docker.sock"
  else
    echo /var/run/docker.sock
  fi
}

# pid_of NAME: the PID in $PIDS/NAME.pid if that process still runs and is
# ours (its command line mentions $STATE: guards against PID reuse).
pid_of() {
  local f="$PIDS/$1.pid" p
  [[ -s $f ]] || return 1
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] || return 1
  [[ $(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) != Z ]] || return 1   # zombies: PID 1 here does not reap
  # (no "| grep -q" under pipefail: its early exit can fail the pipe with SIGPIPE)
  [[ $({ tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null) == *"$STATE"* ]] || return 1
  echo "$p"
}
pid_alive() { pid_of "$1" >/dev/null; }

# stop NAME...: SIGTERM the recorded processes together, SIGKILL whatever
# still runs after STOP_TIMEOUT seconds (default 15).
stop() {
  local name p i alive pids=()
  for name in "$@"; do
    if p=$(pid_of "$name"); then kill -TERM "$p" 2>/dev/null; pids+=("$p"); fi
    rm -f "$PIDS/$name.pid"
  done
  ((${#pids[@]})) || return 0
  for ((i = 0; i < ${STOP_TIMEOUT:-15} * 10; i++)); do
    alive=0
    for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null && [[ $(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) != Z ]] && alive=1
    done
    ((alive)) || return 0
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && { log "killing $p"; kill -KILL "$p" 2>/dev/null; }; done
  sleep 0.2
}

# ---------------------------------------------------------------- packages
# The Debian packages the environment needs (kmod: modprobe br_netfilter).
PACKAGES=(containerd runc containernetworking-plugins docker-registry iptables conntrack openssl curl ca-certificates
  docker.io debootstrap pigz util-linux iproute2 kmod)

# missing_packages PKG...: prints those of PKG... that dpkg does not list as
# installed. dpkg-query exits 1 when any of them is unknown to it (a machine
# that never had it): that is the answer here, not a failure.
missing_packages() {
  local status p out=()
  status=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null) || true
  for p in "$@"; do grep -qxF "$p installed" <<<"$status" || out+=("$p"); done
  echo "${out[*]}"
}

# ensure_packages: apt-get install what is missing. Services that packages
# would start (dockerd, docker-registry) are kept from starting while they are
# installed: a policy-rc.d of our own, removed afterwards, unless one exists.
POLICY_RC_D=/usr/sbin/policy-rc.d
ensure_packages() {
  local missing t policy=$POLICY_RC_D ours=0
  missing=$(missing_packages "${PACKAGES[@]}")
  if [[ -n $missing ]]; then
    log "installing Debian packages: $missing"
    t=$(date +%s.%N)
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\n# written by draft e2e/env while it installs packages\nexit 101\n' > "$policy" && chmod 755 "$policy" && ours=1
    fi
    # shellcheck disable=SC2086
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2; } ||
      { if ((ours)); then rm -f "$policy"; fi; die "apt-get install $missing failed (see its messages above)"; }
    if ((ours)); then rm -f "$policy"; fi
    missing=$(missing_packages "${PACKAGES[@]}")
    [[ -z $missing ]] || die "apt-get install did not install: $missing"
    log "packages installed in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
  fi
  command -v go >/dev/null || die "Go toolchain not found (expected /usr/local/go/bin/go)"
}
