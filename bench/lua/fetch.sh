#!/usr/bin/env bash
# Assembles a Lua 5.4 project in DIR: the C sources of the crates.io crate `lua-src`
# (fetched with `cargo vendor`, cached), plus this folder's Dockerfile and Makefile.
set -euo pipefail
dest=${1:?usage: fetch.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-bench/lua-src
if [ ! -d "$cache/vendor/lua-src" ]; then
  mkdir -p "$cache/fetch/src"
  printf '[package]\nname = "fetch-lua"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\nlua-src = "547"\n' >"$cache/fetch/Cargo.toml"
  echo 'fn main() {}' >"$cache/fetch/src/main.rs"
  (cd "$cache/fetch" && cargo vendor --quiet "$cache/vendor" >/dev/null)
fi
src=$(ls -d "$cache"/vendor/lua-src/lua-5.4.* | tail -1)
mkdir -p "$dest/src"
cp "$src"/*.c "$src"/*.h "$dest/src/"
cp "$here/Dockerfile" "$here/Makefile" "$dest/"
cp "$here/main.c" "$dest/src/"
printf 'lua\n**/*.o\n**/*.d\n' >"$dest/.dockerignore"
echo "$dest"
