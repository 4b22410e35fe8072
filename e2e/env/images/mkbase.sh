#!/usr/bin/env bash
# e2e/env/images/mkbase.sh: language base images made from Debian packages
# (no image is ever pulled from a registry), pushed to the local registry under
# the names of the official images that draft's packs use (library/python:3.12-slim...).
#
#   mkbase.sh ensure FAMILY...   build what is missing or stale, then push every tag the
#                                registry lacks (families: debian python node golang ruby php java postgres redis)
#   mkbase.sh ensure-ref REF...  the same for the flavors that provide these references, as a
#                                Dockerfile's FROM names them (python:3.12-slim, docker.io/library/
#                                node:20-slim ...): first use builds only what is used; a
#                                reference no flavor provides (scratch, nginx) is left alone
#   mkbase.sh ensure-for DOCKERFILE  ensure-ref for the images its FROM lines name (not its
#                                own stages, scratch, or references with build arguments)
#   mkbase.sh build FLAVOR...    rebuild these flavors now (e.g. python-trixie)
#   mkbase.sh list               flavor, Debian suite, runtime, size and tags
#   mkbase.sh flavor-of REF...   the flavor that provides each reference (empty: none)
#
# How a flavor is made: debootstrap --variant=minbase of the suite (cached as a
# tarball, with apt's lists), apt-get install of the runtime in a chroot (/proc
# mounted, no services started), a few fix-ups so that Dockerfiles written for
# the official images work (see post_* below), docs/lists stripped, the root
# filesystem gzipped into a one-layer image and kept as an OCI layout in
# $DRAFT_ENV_CACHE/images/oci/FLAVOR. A flavor is rebuilt only when its recipe
# (this file's definition of it) changes; a warm run only re-pushes tags.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
IMG_CACHE="$CACHE/images"
SECURITY_MIRROR="${DRAFT_ENV_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
RECIPE=1                                   # bump to rebuild every flavor
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LIB=$REGISTRY_ADDR/library

# Order matters: a cold run builds the flavors in this order.
FLAVORS=(debian-bookworm debian-trixie python-bookworm python-trixie node-bookworm node-trixie golang
  ruby-bookworm ruby-trixie php-bookworm php-trixie jre17 jre21 jre25 maven17 maven21 maven25 gradle17 gradle21
  postgres-trixie redis-bookworm)

family_of() {
  case $1 in
    jre* | maven* | gradle*) echo java ;;
    *) echo "${1%%-*}" ;;
  esac
}

# flavor NAME: sets SUITE PKGS ENVS CMD WORKDIR TAGS POST HOSTPOST VERSION_CMD FILES
# (FILES: helper files of this folder, copied to the chroot's /tmp for the fix-ups)
flavor() {
  SUITE=bookworm PKGS="" ENVS=() CMD='["bash"]' WORKDIR="" TAGS="" POST="" HOSTPOST="" VERSION_CMD="cat /etc/debian_version" FILES=""
  case $1 in
    debian-bookworm) TAGS="debian:bookworm-slim debian:12-slim" ;;
    debian-trixie) SUITE=trixie TAGS="debian:trixie-slim debian:13-slim" ;;
    python-bookworm | python-trixie)
      PKGS="ca-certificates python3 python3-pip python3-venv python-is-python3"
      POST=post_python CMD='["python3"]' VERSION_CMD="python3 --version"
      TAGS="python:3.9-slim python:3.10-slim python:3.11-slim"
      [[ $1 == *trixie ]] && SUITE=trixie TAGS="python:3.12-slim python:3.13-slim" ;;
    node-bookworm | node-trixie)
      PKGS="ca-certificates nodejs npm"
      POST=post_node CMD='["node"]' VERSION_CMD="node --version"
      TAGS="node:18-slim"
      [[ $1 == *trixie ]] && SUITE=trixie PKGS="$PKGS node-corepack" TAGS="node:20-slim node:22-slim node:24-slim" ;;
    golang)
      # Debian's Go is old: the image carries the host's toolchain (/usr/local/go);
      # with GOTOOLCHAIN=local it builds modules that ask for an older go (1.18 on).
      local gv; gv=$(go env GOVERSION); gv=${gv#go}
      PKGS="ca-certificates git"
      HOSTPOST=hostpost_golang WORKDIR=/go VERSION_CMD="/usr/local/go/bin/go version"
      ENVS=("PATH=/go/bin:/usr/local/go/bin:$DEFAULT_PATH" "GOLANG_VERSION=$gv" GOPATH=/go GOTOOLCHAIN=local)
      TAGS="golang:1.18 golang:1.19 golang:1.20 golang:1.21 golang:1.22 golang:1.23 golang:1.24 golang:1.25 golang:1.26 golang:$gv" ;;
    ruby-bookworm | ruby-trixie)
      PKGS="ca-certificates ruby ruby-bundler"
      POST=post_ruby CMD='["irb"]' VERSION_CMD="ruby --version"
      ENVS=("PATH=/usr/local/bundle/bin:$DEFAULT_PATH" GEM_HOME=/usr/local/bundle BUNDLE_APP_CONFIG=/usr/local/bundle BUNDLE_SILENCE_ROOT_WARNING=1)
      TAGS="ruby:3.1-slim"
      [[ $1 == *trixie ]] && SUITE=trixie TAGS="ruby:3.2-slim ruby:3.3-slim ruby:3.4-slim" ;;
    php-bookworm | php-trixie)
      PKGS="ca-certificates git php-cli php-mbstring php-xml php-curl php-sqlite3 php-zip php-bcmath php-mysql php-pgsql unzip composer"
      POST=post_php CMD='["php", "-a"]' VERSION_CMD="php --version" FILES=mkphar.php
      ENVS=(COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_HOME=/tmp)
      TAGS="php:8.1-cli php:8.2-cli"
      [[ $1 == *trixie ]] && SUITE=trixie TAGS="php:8.3-cli php:8.4-cli composer:2 composer:latest" ;;
    jre17 | jre21 | jre25)
      local v=${1#jre}
      PKGS="ca-certificates openjdk-$v-jre-headless"
      [[ $v != 17 ]] && SUITE=trixie
      POST=post_java CMD='["jshell"]' VERSION_CMD="java -version 2>&1 | head -1"
      ENVS=("PATH=/opt/java/openjdk/bin:$DEFAULT_PATH" JAVA_HOME=/opt/java/openjdk)
      CMD='["java", "-version"]'
      TAGS="eclipse-temurin:$v-jre eclipse-temurin:$v-jre-jammy eclipse-temurin:$v-jre-noble"
      # Java 11 is in neither suite: 17 runs its bytecode
      [[ $v == 17 ]] && TAGS+=" eclipse-temurin:11-jre eclipse-temurin:11-jre-jammy" ;;
    maven17 | maven21 | maven25)
      local v=${1#maven}
      # + Debian's Maven plugins, which stand in for Maven Central (see maven-offline.sh)
      PKGS="ca-certificates openjdk-$v-jdk-headless maven libmaven-resources-plugin-java libmaven-compiler-plugin-java
        libsurefire-java libmaven-jar-plugin-java libmaven-install-plugin-java libmaven-clean-plugin-java
        libmaven-dependency-plugin-java libmaven-deploy-plugin-java libmaven-site-plugin-java"
      [[ $v != 17 ]] && SUITE=trixie
      POST=post_maven CMD='["mvn"]' VERSION_CMD="mvn -B --version 2>&1 | head -1" FILES=maven-offline.sh
      ENVS=("PATH=/opt/java/openjdk/bin:$DEFAULT_PATH" JAVA_HOME=/opt/java/openjdk MAVEN_HOME=/usr/share/maven MAVEN_CONFIG=/root/.m2)
      TAGS="maven:3.9-eclipse-temurin-$v maven:3-eclipse-temurin-$v"
      # JDK 17 compiles for Java 11 (maven.compiler.release)
      [[ $v == 17 ]] && TAGS+=" maven:3.9-eclipse-temurin-11 maven:3-eclipse-temurin-11" ;;
    gradle17 | gradle21)
      local v=${1#gradle}
      PKGS="ca-certificates openjdk-$v-jdk-headless gradle"
      [[ $v == 21 ]] && SUITE=trixie
      POST=post_gradle CMD='["gradle"]' VERSION_CMD="gradle --version 2>&1 | grep -m1 Gradle"
      ENVS=("PATH=/opt/java/openjdk/bin:$DEFAULT_PATH" JAVA_HOME=/opt/java/openjdk GRADLE_HOME=/usr/share/gradle)
      TAGS="gradle:8-jdk$v gradle:jdk$v"
      # Gradle 4.4 runs on neither 11 nor 25 as asked: the nearest JDK stands in (Gradle builds do not work here anyway)
      [[ $v == 17 ]] && TAGS+=" gradle:8-jdk11 gradle:jdk11"
      [[ $v == 21 ]] && TAGS+=" gradle:8-jdk25 gradle:jdk25" ;;
    postgres-trixie)
      # the backing services of draft's projects: PostgreSQL 17 (Debian 13's)
      SUITE=trixie PKGS="postgresql-17 ca-certificates"
      POST=post_postgres FILES=postgres-entrypoint.sh VERSION_CMD="/usr/lib/postgresql/17/bin/postgres --version"
      ENVS=("PATH=/usr/lib/postgresql/17/bin:$DEFAULT_PATH" PGDATA=/var/lib/postgresql/data LANG=C.UTF-8)
      CMD='["docker-entrypoint.sh", "postgres"]'
      TAGS="postgres:17 postgres:17-trixie" ;;
    redis-bookworm)
      # Redis 7 (Debian 12's)
      PKGS="redis-server"
      POST=post_redis CMD='["redis-server"]' WORKDIR=/data VERSION_CMD="redis-server --version"
      TAGS="redis:7 redis:7-bookworm" ;;
    *) die "unknown image flavor '$1' (known: ${FLAVORS[*]})" ;;
  esac
  PKGS=$(echo $PKGS)
  return 0
}

# ---------------------------------------------------------------- fix-ups (run inside the chroot)
post_python() {
  # Debian marks its Python "externally managed" (PEP 668): the official images
  # let `pip install -r requirements.txt` install into the system Python.
  rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
  # the official images have python/pip in /usr/local/bin
  for b in python3 python pip3 pip; do [ -e /usr/bin/$b ] && ln -sf /usr/bin/$b /usr/local/bin/$b; done
  python -m pip --version >/dev/null
}
post_node() {
  # the official images have a "node" user (uid/gid 1000) for USER node
  groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  ln -sf /usr/bin/node /usr/local/bin/node
  ln -sf /usr/bin/npm /usr/local/bin/npm
  [ ! -e /usr/bin/npx ] || ln -sf /usr/bin/npx /usr/local/bin/npx
  # corepack (yarn, pnpm) ships with the official images; Debian has it from trixie
  # on (node-corepack); on bookworm it comes from the npm registry (the host's CA
  # bundle is used for that download only: egress may go through a TLS proxy).
  if ! command -v corepack >/dev/null; then
    NODE_OPTIONS=--dns-result-order=ipv4first timeout 180 npm install -g --no-audit --no-fund --cafile /tmp/host-ca.crt corepack@0.24.0 >/dev/null 2>&1 ||
      echo "warning: corepack could not be installed from the npm registry; this image has no corepack" >&2
    rm -rf /root/.npm
  fi
  rm -f /tmp/host-ca.crt
  npm --version >/dev/null
}
post_ruby() {
  mkdir -p /usr/local/bundle/bin && chmod -R 1777 /usr/local/bundle
  command -v bundle >/dev/null && command -v gem >/dev/null
}
post_php() {
  ln -sf /usr/bin/php /usr/local/bin/php
  # /usr/bin/composer: Debian's composer needs /usr/share/php; replace it by a
  # self-contained PHAR so that `COPY --from=composer:2 /usr/bin/composer ...` works.
  php -d phar.readonly=0 /tmp/mkphar.php /usr/share/php /usr/bin/composer.phar
  # then drop Debian's composer and its libraries: PHP's include_path holds
  # /usr/share/php, and mixing them with the PHAR's copies breaks composer
  apt-get purge -y -q --auto-remove composer >/dev/null
  mv /usr/bin/composer.phar /usr/bin/composer
  chmod 755 /usr/bin/composer
  # the official images' extension helpers: the extensions are Debian packages here
  for h in docker-php-ext-install docker-php-ext-enable docker-php-ext-configure; do
    printf '%s\n' '#!/bin/sh' '# draft e2e base image: extensions come from Debian packages; succeed for those present.' \
      'for e in "$@"; do case $e in -*) continue;; esac; php -m | grep -qix "$e" || php -m | grep -qix "pdo_$e" || { echo "'"$h"': extension $e is not in this image" >&2; exit 1; }; done' \
      > /usr/local/bin/$h
    chmod 755 /usr/local/bin/$h
  done
  rm -f /tmp/mkphar.php
  composer --version >/dev/null
}
post_postgres() {
  # Debian's package makes a cluster of its own at install: the image's is made at start
  rm -rf /var/lib/postgresql/17 /etc/postgresql/17
  mkdir -p /var/lib/postgresql/data /run/postgresql
  chown -R postgres:postgres /var/lib/postgresql /run/postgresql
  install -m 755 /tmp/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
  rm -f /tmp/postgres-entrypoint.sh
  command -v setpriv >/dev/null && /usr/lib/postgresql/17/bin/initdb --version >/dev/null
}
post_redis() {
  # the official image serves on every address, in the foreground, its data in /data
  mkdir -p /data
  redis-server --version >/dev/null
}
post_java() {
  mkdir -p /opt/java
  ln -sfn "$(ls -d /usr/lib/jvm/java-*-openjdk-amd64 | head -1)" /opt/java/openjdk
  /opt/java/openjdk/bin/java -version 2>/dev/null
}
post_maven() {
  post_java
  mkdir -p /root/.m2
  local release
  release=$(basename "$(readlink -f /opt/java/openjdk)" | sed -E 's/^java-([0-9]+)-.*/\1/')
  bash /tmp/maven-offline.sh "$release" || echo "warning: offline Maven builds will not work in this image" >&2
  rm -f /tmp/maven-offline.sh
}
post_gradle() {
  post_java
  groupadd --gid 1000 gradle && useradd --uid 1000 --gid gradle --shell /bin/bash --create-home gradle
}
hostpost_golang() { # R: the root filesystem (runs on the host)
  cp -a /usr/local/go "$R/usr/local/go"
  mkdir -p "$R/go/src" "$R/go/bin"
  chmod -R 1777 "$R/go"
}

# ---------------------------------------------------------------- building
umount_under() { # DIR: unmount everything mounted below DIR (deepest first)
  local m
  findmnt -rn -o TARGET | { grep -E "^$1(/|$)" || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
WORK=
cleanup() { [[ -n $WORK && -d $WORK ]] && umount_under "$WORK" && rm -rf --one-file-system "$WORK"; return 0; }
trap cleanup EXIT

in_chroot() { # ROOT SCRIPT
  chroot "$1" /usr/bin/env -i PATH=$DEFAULT_PATH HOME=/root DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 /bin/bash -ec "$2"
}

# suite_lock SUITE: hold the lock of a suite's debootstrap and .deb cache (two
# flavors of one suite share them) until suite_unlock
suite_lock() {
  exec {SUITE_FD}>"/run/draft-env-suite-$1.lock"
  flock -w 3600 "$SUITE_FD" || die "another mkbase.sh holds the lock of $1"
}
suite_unlock() { exec {SUITE_FD}>&-; }

ensure_minbase() { # SUITE: debootstrap --variant=minbase once, apt lists included
  local suite=$1 tarf="$IMG_CACHE/minbase-$1.tar" t
  [[ -s $tarf ]] && return 0
  suite_lock "$suite"
  [[ -s $tarf ]] && { suite_unlock; return 0; }
  t=$(date +%s)
  log "debootstrap $suite (minbase) from $DEBIAN_MIRROR"
  mkdir -p "$IMG_CACHE/debs/$suite" "$IMG_CACHE/work"
  WORK="$IMG_CACHE/work/minbase-$suite"
  cleanup; mkdir -p "$WORK"
  debootstrap --variant=minbase --cache-dir="$IMG_CACHE/debs/$suite" "$suite" "$WORK" "$DEBIAN_MIRROR" \
    >"$IMG_CACHE/work/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$IMG_CACHE/work/debootstrap-$suite.log" >&2; die "debootstrap $suite failed (log: $IMG_CACHE/work/debootstrap-$suite.log)"; }
  cat > "$WORK/etc/apt/sources.list" <<EOT
deb $DEBIAN_MIRROR $suite main
deb $DEBIAN_MIRROR $suite-updates main
deb $SECURITY_MIRROR $suite-security main
EOT
  # keep images small: no docs, man pages or recommends, ever
  cat > "$WORK/etc/dpkg/dpkg.cfg.d/01-draft-slim" <<'EOT'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOT
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$WORK/etc/apt/apt.conf.d/01-draft-norecommends"
  mount -t proc proc "$WORK/proc"
  in_chroot "$WORK" "apt-get update -q >/dev/null" || die "apt-get update in the $suite chroot failed"
  umount "$WORK/proc"
  rm -rf "$WORK"/var/cache/apt/archives/*.deb "$WORK"/var/cache/apt/*.bin
  tar -C "$WORK" --numeric-owner -cf "$tarf.tmp" . && mv -f "$tarf.tmp" "$tarf"
  cleanup; WORK=
  suite_unlock
  log "minbase $suite ready in $(($(date +%s) - t))s"
}

stamp_of() { # FLAVOR
  flavor "$1"
  {
    echo "$RECIPE $SUITE $PKGS ${ENVS[*]} $CMD $WORKDIR"
    declare -f flavor_build umount_under in_chroot trust_host_cas
    host_cas_digest
    [[ -z $POST ]] || declare -f "$POST" post_java
    [[ -z $HOSTPOST ]] || { declare -f "$HOSTPOST"; go env GOVERSION; }
    local x; for x in $FILES; do cat "$ENV_DIR/images/$x"; done
  } | sha256sum | cut -c1-16
}

# The certificate authorities that this machine trusts beyond Debian's (the
# network's TLS proxy): an image with ca-certificates trusts them too, so that a
# Dockerfile's RUN npm ci (go mod download, pip install ...) reaches its
# registry from here as it would from a developer's machine. Images without
# ca-certificates (debian:*-slim) trust nothing, as the official ones.
HOST_CAS=/usr/local/share/ca-certificates
host_cas_digest() { cat "$HOST_CAS"/*.crt 2>/dev/null | sha256sum | cut -c1-16; }
trust_host_cas() { # ROOTFS
  local R=$1
  [[ -x $R/usr/sbin/update-ca-certificates ]] || return 0
  compgen -G "$HOST_CAS/*.crt" >/dev/null || return 0
  mkdir -p "$R$HOST_CAS"
  cp "$HOST_CAS"/*.crt "$R$HOST_CAS/"
  in_chroot "$R" "update-ca-certificates >/dev/null 2>&1"
}

flavor_build() { # FLAVOR
  local f=$1 t stamp info size
  t=$(date +%s)
  stamp=$(stamp_of "$f"); flavor "$f"
  ensure_minbase "$SUITE"
  log "building base image $f ($SUITE: ${PKGS:-minbase})"
  WORK="$IMG_CACHE/work/$f"
  cleanup; mkdir -p "$WORK"
  local R="$WORK/rootfs"; mkdir -p "$R"
  tar -C "$R" -xf "$IMG_CACHE/minbase-$SUITE.tar"
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
  mount --bind "$IMG_CACHE/debs/$SUITE" "$R/var/cache/apt/archives"
  mount -t proc proc "$R/proc"
  local x
  for x in $FILES; do cp "$ENV_DIR/images/$x" "$R/tmp/$x"; done
  # the host's CA bundle, for downloads made while building (egress may go through a TLS proxy)
  cp /etc/ssl/certs/ca-certificates.crt "$R/tmp/host-ca.crt"
  if [[ -n $PKGS ]]; then
    suite_lock "$SUITE"    # the .deb cache is shared by the suite's flavors
    in_chroot "$R" "
      apt-get install -y -q $PKGS >/tmp/apt.log 2>&1 ||
        { apt-get update -q >/tmp/apt.log 2>&1 && apt-get install -y -q $PKGS >>/tmp/apt.log 2>&1; } ||
        { tail -25 /tmp/apt.log >&2; exit 1; }" || die "$f: apt-get install $PKGS failed"
    suite_unlock
  fi
  trust_host_cas "$R" || die "$f: adding the host's CA certificates failed"
  if [[ -n $POST ]]; then
    in_chroot "$R" "$(declare -f "$POST" post_java); $POST" >&2 || die "$f: fix-ups ($POST) failed"
  fi
  if [[ -n $HOSTPOST ]]; then "$HOSTPOST" || die "$f: $HOSTPOST failed"; fi
  info=$(in_chroot "$R" "$VERSION_CMD" 2>&1 | head -1)
  umount "$R/proc" "$R/var/cache/apt/archives"
  # slim it like the -slim images
  rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/debconf/*-old "$R"/tmp/* \
    "$R"/var/log/apt/* "$R"/var/log/*.log "$R"/usr/sbin/policy-rc.d "$R"/root/.cache "$R"/root/.npm \
    "$R"/usr/share/man/* "$R"/usr/share/info/*
  find "$R/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  : > "$R/etc/machine-id" 2>/dev/null || true
  size=$(du -sm "$R" | cut -f1)
  tar -C "$R" --numeric-owner -cf - . | pigz -1 > "$WORK/rootfs.tar.gz"
  mkdir -p "$IMG_CACHE/oci"
  local args=(layout --rootfs "$WORK/rootfs.tar.gz" --out "$IMG_CACHE/oci/$f" --cmd "$CMD") e
  for e in "${ENVS[@]}" LANG=C.UTF-8; do args+=(--env "$e"); done
  [[ -z $WORKDIR ]] || args+=(--workdir "$WORKDIR")
  args+=(--label "org.opencontainers.image.description=draft e2e base image $f: Debian $SUITE, $info")
  imgtool "${args[@]}" >/dev/null || die "$f: writing the OCI layout failed"
  printf '%s\t%s\t%s\t%sM\n' "$f" "$SUITE" "$info" "$size" > "$IMG_CACHE/oci/$f.info"
  echo "$stamp" > "$IMG_CACHE/oci/$f.stamp"
  cleanup; WORK=
  log "built $f in $(($(date +%s) - t))s: $info, rootfs ${size}M, layer $(du -sh "$IMG_CACHE/oci/$f" | cut -f1)"
}

sync_args() { # FLAVOR...: imgtool sync arguments
  local f tag refs
  for f in "$@"; do
    flavor "$f"; refs=
    for tag in $TAGS; do refs+="${refs:+,}$LIB/$tag"; done
    echo "$IMG_CACHE/oci/$f=$refs"
  done
}

# flavor_of_ref REF: the flavor whose tags include REF (any registry prefix,
# docker.io/library/ or not), or nothing
flavor_of_ref() {
  local ref=$1 f tag
  ref=${ref%%@*}
  ref=${ref#docker.io/}; ref=${ref#index.docker.io/}; ref=${ref#"$REGISTRY_ADDR"/}; ref=${ref#localhost:$REGISTRY_PORT/}
  ref=${ref#library/}
  [[ $ref == *:* ]] || ref+=:latest
  for f in "${FLAVORS[@]}"; do
    flavor "$f"
    for tag in $TAGS; do
      if [[ $tag == "$ref" ]]; then echo "$f"; return 0; fi
    done
  done
  return 0
}

fresh() { # FLAVOR: its OCI layout is there and was built from the current recipe
  [[ -s $IMG_CACHE/oci/$1/index.json && "$(cat "$IMG_CACHE/oci/$1.stamp" 2>/dev/null)" == "$(stamp_of "$1")" ]]
}

# ensure_flavors FLAVOR...: build those that are missing or stale, each under a
# lock of its own (two callers that need different flavors never wait for each
# other; two that need the same one build it once), then push their tags.
# flavor_lock FLAVOR: hold the lock of one flavor's build until flavor_unlock
flavor_lock() {
  exec {FLAVOR_FD}>"/run/draft-env-image-$1.lock"
  flock -n "$FLAVOR_FD" || { log "waiting for another build of $1"; flock -w 3600 "$FLAVOR_FD"; } || die "another mkbase.sh holds the lock of $1"
}
flavor_unlock() { exec {FLAVOR_FD}>&-; }

ensure_flavors() {
  local f
  for f in "$@"; do
    fresh "$f" && continue
    flavor_lock "$f"
    fresh "$f" || flavor_build "$f"   # another caller may have built it meanwhile
    flavor_unlock
  done
  mapfile -t args < <(sync_args "$@")
  imgtool sync "${args[@]}" || die "pushing base images to $REGISTRY_ADDR failed"
}

cmd_ensure() {
  local fam f want=()
  for fam in "$@"; do
    case $fam in debian | python | node | golang | ruby | php | java | postgres | redis) ;; *) die "unknown image family '$fam' (known: debian python node golang ruby php java postgres redis)" ;; esac
  done
  for f in "${FLAVORS[@]}"; do
    for fam in "$@"; do [[ $(family_of "$f") == "$fam" ]] && want+=("$f"); done
  done
  ((${#want[@]})) || return 0
  ensure_flavors "${want[@]}"
}

cmd_ensure_ref() {
  local ref f want=() seen=" "
  for ref in "$@"; do
    f=$(flavor_of_ref "$ref")
    if [[ -z $f ]]; then
      [[ $ref == scratch ]] || log "no base image recipe provides $ref: left to the registry"
      continue
    fi
    [[ $seen == *" $f "* ]] || { want+=("$f"); seen+="$f "; }
  done
  ((${#want[@]})) || return 0
  ensure_flavors "${want[@]}"
}

# from_refs DOCKERFILE: the images its FROM lines name (internal/testenv.FromRefs
# does the same for Go tests, with buildkit's parser)
from_refs() {
  awk 'toupper($1) == "FROM" {
      ref = ""; for (i = 2; i <= NF; i++) if ($i !~ /^--/) { ref = $i; break }
      for (j = i + 1; j < NF; j++) if (toupper($j) == "AS") stage[tolower($(j + 1))] = 1
      if (ref != "" && ref != "scratch" && ref !~ /\$/ && !(tolower(ref) in stage) && !(ref in seen)) { seen[ref] = 1; print ref }
    }' "$1"
}

cmd_list() {
  local f
  { printf 'FLAVOR\tSUITE\tRUNTIME\tROOTFS\tTAGS (%s/...)\n' "$LIB"
  for f in "${FLAVORS[@]}"; do
    flavor "$f"
    if [[ -s $IMG_CACHE/oci/$f.info ]]; then printf '%s\t%s\n' "$(cat "$IMG_CACHE/oci/$f.info")" "$TAGS"
    else printf '%s\t%s\t(not built)\t-\t%s\n' "$f" "$SUITE" "$TAGS"; fi
  done; } | sed 's/\x1b\[[0-9;]*m//g'
}

[[ $(id -u) == 0 || ${1:-} == list || ${1:-} == flavor-of ]] || die "mkbase.sh must run as root (debootstrap, chroot)"
mkdir -p "$IMG_CACHE"
case "${1:-}" in
  ensure) shift; cmd_ensure "$@" ;;
  ensure-ref) shift; cmd_ensure_ref "$@" ;;
  ensure-for)
    shift; [[ $# == 1 && -f $1 ]] || die "usage: mkbase.sh ensure-for DOCKERFILE"
    mapfile -t refs < <(from_refs "$1")
    log "base images for $1: ${refs[*]:-none} (built from Debian packages on first use)"
    ((${#refs[@]} == 0)) || cmd_ensure_ref "${refs[@]}" ;;
  build)
    shift; [[ $# -gt 0 ]] || die "usage: mkbase.sh build FLAVOR..."
    for f in "$@"; do flavor "$f"; done     # all names checked before anything is built
    for f in "$@"; do flavor_lock "$f"; flavor_build "$f"; flavor_unlock; done ;;
  list) cmd_list ;;
  flavor-of) shift; for r in "$@"; do printf '%s\t%s\n' "$r" "$(flavor_of_ref "$r")"; done ;;
  *) die "usage: mkbase.sh ensure FAMILY... | ensure-ref REF... | build FLAVOR... | list" ;;
esac
