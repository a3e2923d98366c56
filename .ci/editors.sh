#!/usr/bin/env bash
# The editor front ends, end to end in the real editors: builds the server, type-checks,
# bundles and packages the VS Code extension, then drives Neovim (headless) and VS Code
# (code-server in headless Chromium) through an edit → error → fix → clean session, on the
# example project (case c) and on a multi-stage Go project with a distroless final stage
# (case go), then VS Code on a multi-root workspace of a running compose project and a Go
# project (case workspace). Installs what it needs itself, cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-ci. Needs the engine and the base images
# (.ci/engine.sh; case go uses dr-golang:1.19 and dr-distroless:static).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

echo "== editors: server"
cargo build --locked --quiet

echo "== editors: VS Code extension (type-check, bundle, package)"
( cd editors/vscode && npm ci --no-audit --no-fund --silent && npm run --silent package >/dev/null )
ls -l editors/vscode/docker-rebuilder.vsix
# The platform-specific package with the server in it (the test's case c installs it, with no
# server setting and no server on PATH). The debug build, stripped: what CI has built.
rm -rf editors/vscode/server && mkdir -p editors/vscode/server
strip -o editors/vscode/server/docker-rebuilder target/debug/docker-rebuilder
( cd editors/vscode && npm run --silent package:linux-x64 >/dev/null )
rm -rf editors/vscode/server
ls -l editors/vscode/docker-rebuilder-linux-x64.vsix

passed=0
failed=0
failures=()
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run_test() {
  local name=$1 case=$2 begun
  begun=$(date +%s)
  echo "== editors: $name end to end, case $case ($(elapsed))"
  if bash "tests/editors/$name/run.sh" "$case" 2>&1 | tee "$logs/$name-$case.log"; then
    passed=$((passed + 1))
    echo "editors: $name $case passed in $(( $(date +%s) - begun )) s"
  else
    echo "editors: the $name test, case $case, FAILED"
    failed=$((failed + 1))
    failures+=("$name-$case")
  fi
}
run_test neovim c
run_test neovim go
run_test vscode c
run_test vscode go
run_test vscode workspace

echo "== editors: done in $(elapsed)"
# CI shows only the end of the output: repeat each failure's last steps and its reason here.
for f in "${failures[@]}"; do
  echo "-- editors: $f, its last steps and the failure:"
  grep -E '^\[(neovim|vscode) |FAIL|Error|error:' "$logs/$f.log" | grep -v '^\s*at ' | tail -12 || true
done
echo "editors: $passed passed, $failed failed${failures:+ (${failures[*]})}"
[ "$failed" -eq 0 ]
