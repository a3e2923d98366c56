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
# ssh-agent: the tests of BuildKit's `RUN --mount=type=ssh` forward a real agent.
command -v ssh-agent >/dev/null 2>&1 || need_packages+=(openssh-client)
# docker-compose (Debian's 1.29, compose v1): the compose tests bring projects up with it, and
# docker-rebuilder recreates a service's containers through it.
command -v docker-compose >/dev/null 2>&1 || need_packages+=(docker-compose)
# Engines other than the local socket (tests/engines.rs): socat as a loopback TCP and TLS proxy
# of the engine, openssl to make its certificates, an sshd of the test's own.
command -v socat >/dev/null 2>&1 || need_packages+=(socat)
command -v openssl >/dev/null 2>&1 || need_packages+=(openssl)
[ -x /usr/sbin/sshd ] || need_packages+=(openssh-server)
# tmux: tests/tmux.rs runs the CLI in a real terminal and reads its screens.
command -v tmux >/dev/null 2>&1 || need_packages+=(tmux)
# docker-registry (Debian's): tests/push.rs pushes to a registry of its own on loopback.
[ -x /usr/bin/docker-registry ] || need_packages+=(docker-registry)
# podman (Debian's 4.3): tests/podman.rs runs docker-rebuilder against a Podman service of its own.
command -v podman >/dev/null 2>&1 || need_packages+=(podman)
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
# Stand-ins for official images that multi-stage Dockerfiles build FROM (tests/multistage.rs and
# the benchmark), under names of our own. Times are printed when one is made.
ms_now() { date +%s%N; }
ms_took() { echo "engine.sh: $1 made in $(( ($(ms_now) - $2) / 1000000 )) ms"; }

# dr-golang:1.19: Debian's Go toolchain (1.19) as `golang:1.19` would give it. No module proxy is
# reachable, so builds are offline (GOPROXY=off): Go code built with it must be stdlib-only.
# The imported debian:bookworm-slim has no config, so PATH is written out in full.
if ! docker image inspect dr-golang:1.19 >/dev/null 2>&1; then
  t0=$(ms_now)
  printf '%s\n' \
    'FROM debian:bookworm-slim' \
    'RUN apt-get update \' \
    ' && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go ca-certificates \' \
    ' && rm -rf /var/lib/apt/lists/*' \
    'ENV GOPATH=/go PATH=/go/bin:/usr/lib/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local' \
    'RUN mkdir -p /go/src /go/bin && go version' \
    'WORKDIR /go' \
    | DOCKER_BUILDKIT=0 docker build -q -t dr-golang:1.19 - >"$log_dir/dr-golang.log" 2>&1 \
    || { tail -50 "$log_dir/dr-golang.log"; echo "engine.sh: dr-golang:1.19 failed"; exit 1; }
  ms_took dr-golang:1.19 "$t0"
fi

# dr-distroless:static: like gcr.io/distroless/static: FROM scratch with only the users (root,
# nobody, nonroot 65532), their groups, the CA bundle, /home/nonroot and /tmp. No shell, no
# config (USER, ENTRYPOINT... come from the Dockerfiles that use it).
if ! docker image inspect dr-distroless:static >/dev/null 2>&1; then
  t0=$(ms_now)
  ds=$(mktemp -d /tmp/distroless-rootfs.XXXXXX)
  mkdir -p "$ds/etc/ssl/certs" "$ds/home/nonroot" "$ds/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$ds/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$ds/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$ds/etc/ssl/certs/ca-certificates.crt"
  chmod 0755 "$ds" "$ds/etc" "$ds/etc/ssl" "$ds/etc/ssl/certs" "$ds/home"
  chmod 0644 "$ds/etc/passwd" "$ds/etc/group" "$ds/etc/ssl/certs/ca-certificates.crt"
  chown 65532:65532 "$ds/home/nonroot" && chmod 0700 "$ds/home/nonroot"
  chmod 1777 "$ds/tmp"
  tar --numeric-owner -C "$ds" -c . | docker import - dr-distroless:static >/dev/null
  rm -rf "$ds"
  ms_took dr-distroless:static "$t0"
fi

# Compose v2 (tests/compose.rs runs the same scenarios with it): Debian's docker-compose 2.x, from
# the machine's own mirror (trixie's suite; bookworm has only v1). Its one static binary is put
# in a folder of ours, not in docker's plugin folders, so that the tests choose which compose a
# run sees (DOCKER_CONFIG=<dir> with cli-plugins/docker-compose) and the v1 tests stay v1-only.
compose_v2=${DOCKER_REBUILDER_COMPOSE_V2:-/opt/docker-rebuilder-ci/compose-v2/docker-compose}
if [ ! -x "$compose_v2" ]; then
  t0=$(ms_now)
  python3 - "$(mirror)" "$compose_v2" "$(dpkg --print-architecture)" >"$log_dir/compose-v2.log" 2>&1 <<'PY' || { cat "$log_dir/compose-v2.log"; echo "engine.sh: compose v2 failed"; exit 1; }
import hashlib, lzma, os, shutil, subprocess, sys, tempfile, urllib.request
mirror, target, arch = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
index = lzma.decompress(urllib.request.urlopen(f"{mirror}/dists/trixie/main/binary-{arch}/Packages.xz", timeout=120).read())
fields = next(
    dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
    for block in index.decode().split("\n\n") if block.startswith("Package: docker-compose\n")
)
deb = urllib.request.urlopen(f"{mirror}/{fields['Filename']}", timeout=300).read()
if hashlib.sha256(deb).hexdigest() != fields["SHA256"]:
    sys.exit(f"{fields['Filename']}: SHA256 differs from the index's")
with tempfile.TemporaryDirectory() as tmp:
    open(f"{tmp}/compose.deb", "wb").write(deb)
    subprocess.run(["dpkg-deb", "-x", f"{tmp}/compose.deb", f"{tmp}/root"], check=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(f"{tmp}/root/usr/libexec/docker/cli-plugins/docker-compose", target)
print(f"docker-compose {fields['Version']}")
PY
  ms_took "compose v2 ($("$compose_v2" version --short))" "$t0"
fi
echo "engine.sh: base images ready"
