#!/usr/bin/env bash
# Makes sure a Docker engine answers and that the local base images the examples and
# tests build FROM exist. Idempotent: every step is skipped when its result is present.
# No registry is reachable on CI machines, so base images are made with debootstrap from
# the machine's own Debian mirror (read from the apt sources, never written down here).
set -euo pipefail

log_dir=${DOCKER_REBUILDER_CI_LOGS:-/tmp/docker-rebuilder-ci}
mkdir -p "$log_dir"

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "engine.sh: installing ${need_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >"$log_dir/apt.log" 2>&1 \
    || { cat "$log_dir/apt.log"; exit 1; }
fi

if ! docker info >/dev/null 2>&1; then
  echo "engine.sh: starting dockerd (log: $log_dir/dockerd.log)"
  nohup dockerd >"$log_dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -50 "$log_dir/dockerd.log"; echo "engine.sh: dockerd did not start"; exit 1; }
fi
echo "engine.sh: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

mirror() {
  local uri
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "engine.sh: no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$uri"
}

# debian:bookworm-slim: a minimal Debian, so ordinary Dockerfiles work unchanged.
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  rootfs=$(mktemp -d /tmp/bookworm-rootfs.XXXXXX)
  echo "engine.sh: debootstrap bookworm into $rootfs (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >"$log_dir/debootstrap.log" 2>&1 \
    || { tail -50 "$log_dir/debootstrap.log"; exit 1; }
  # The image's apt must use the same mirror as this machine.
  rm -f "$rootfs"/etc/apt/sources.list.d/*
  echo "deb $(mirror) bookworm main" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
fi

# busybox:local: a tiny image for tests of sync and exec that need no compiler.
if ! docker image inspect busybox:local >/dev/null 2>&1; then
  if [ ! -x /bin/busybox ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >"$log_dir/busybox.log" 2>&1 || { cat "$log_dir/busybox.log"; exit 1; }
  fi
  bb=$(mktemp -d /tmp/busybox-rootfs.XXXXXX)
  mkdir -p "$bb/bin" "$bb/tmp" "$bb/etc"
  cp /bin/busybox "$bb/bin/busybox"
  for applet in $("$bb/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$bb/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$bb/etc/passwd"
  echo 'root:x:0:' >"$bb/etc/group"
  tar -C "$bb" -c . | docker import -c 'ENV PATH=/bin' - busybox:local >/dev/null
  rm -rf "$bb"
fi
# busybox:gnutar: the same with Debian's GNU tar and dash as /bin/sh (busybox's own sh runs
# its tar applet whatever PATH says), with the libraries they link, so the tests cover both
# ways changes reach a builder: inside the build's exec (GNU tar) and the archive endpoint.
if ! docker image inspect busybox:gnutar >/dev/null 2>&1; then
  gt=$(mktemp -d /tmp/gnutar-rootfs.XXXXXX)
  mkdir -p "$gt/bin"
  cp /usr/bin/tar "$gt/bin/tar"
  cp /bin/dash "$gt/bin/sh"
  for lib in $(ldd /usr/bin/tar /bin/dash | awk '$2 == "=>" {print $3} $1 ~ /^\// && NF == 2 {print $1}' | sort -u); do
    mkdir -p "$gt$(dirname "$lib")"
    cp -L "$lib" "$gt$lib"
  done
  printf 'FROM busybox:local\nRUN rm /bin/tar /bin/sh\nCOPY . /\n' >"$gt.Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t busybox:gnutar -f "$gt.Dockerfile" "$gt" >/dev/null
  rm -rf "$gt" "$gt.Dockerfile"
fi
echo "engine.sh: base images ready"
