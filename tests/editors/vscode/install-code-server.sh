#!/usr/bin/env bash
# Installs code-server (VS Code in a browser) and the system packages its build and the
# browser test need; prints the code-server path. 4.100.3 is VS Code 1.100.3, the newest
# that runs on Node 20.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

version=4.100.3
prefix="$EDITORS_CACHE/code-server-$version"
bin="$prefix/node_modules/.bin/code-server"

missing=()
for pkg in chromium libkrb5-dev pkg-config ripgrep; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-code-server: apt-get install ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

if [ ! -x "$bin" ]; then
  # @vscode/ripgrep's postinstall downloads rg from GitHub, which CI cannot reach; it looks
  # in its cache first, so the cache is seeded with Debian's rg in the archive it expects.
  tmp="$prefix/tmp"
  seed="$tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$seed" "$prefix"
  staging=$(mktemp -d)
  cp /usr/bin/rg "$staging/rg"
  tar -C "$staging" -czf "$seed/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
  rm -rf "$staging"
  echo "install-code-server: npm install code-server@$version (about a minute)" >&2
  ( cd "$prefix" && [ -f package.json ] || echo '{"private": true}' >"$prefix/package.json"
    cd "$prefix" && npm_config_unsafe_perm=true npm_config_yes=true TMPDIR="$tmp" \
      npm install --no-audit --no-fund --foreground-scripts "code-server@$version" ) \
    >"$prefix/install.log" 2>&1 || { tail -40 "$prefix/install.log" >&2; exit 1; }
fi
echo "$bin"
