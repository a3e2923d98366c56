#!/usr/bin/env bash
# Assembles a Redis project in DIR: the C sources of Debian's `redis` source package
# (fetched once with `apt-get source` through a private apt configuration whose deb-src
# entries are derived from this machine's own apt sources; cached), plus this folder's
# Dockerfile(s). Nothing is written to the system's apt configuration.
set -euo pipefail
dest=${1:?usage: fetch.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-bench/redis
if ! ls -d "$cache"/src/redis-*/src/server.c >/dev/null 2>&1; then
  apt_dir="$cache/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d" "$cache/src"
  # deb-src twins of every deb entry the machine uses (deb822 or one-line style).
  : >"$apt_dir/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" >"$apt_dir/sources.list.d/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >>"$apt_dir/sources.list"
  fi
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  command -v dpkg-source >/dev/null || { echo "fetch.sh: dpkg-source (package dpkg-dev) is needed" >&2; exit 1; }
  (cd "$cache/src" && apt-get "${apt_opts[@]}" source -qq redis >/dev/null)
fi
src=$(ls -d "$cache"/src/redis-*/ | grep -v '\.orig' | tail -1)
mkdir -p "$dest"
# The upstream tree as Debian ships it, without Debian's packaging folder.
tar -C "$src" --exclude=./debian --exclude=./.pc -c . | tar -C "$dest" -x
cp "$here/Dockerfile" "$here/.dockerignore" "$dest/"
echo "$dest"
