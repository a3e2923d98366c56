#!/usr/bin/env bash
# Runs one case of the VS Code end-to-end test on a fresh copy of its project:
#   run.sh [c|go]   c (default): examples/hello-c; go: tests/fixtures/editors-go (multi-stage)
# Expects the extension packaged (editors/vscode/docker-rebuilder.vsix) and the server built;
# installs code-server (install-code-server.sh); removes the copy, its builders and its image
# on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
case=${1:-c}

code_server=$("$here/install-code-server.sh")
( cd "$here" && npm ci --no-audit --no-fund --silent )

make_project vscode "$case"
run_dir="$PROJECT_ROOT/run"
mkdir -p "$run_dir"
stop_code_server() {
  # Normally the test stops it; this is for a test that died before it could.
  [ -f "$run_dir/code-server.pgid" ] && kill -- "-$(cat "$run_dir/code-server.pgid")" 2>/dev/null || true
  cleanup_project
}
trap stop_code_server EXIT

# Case c installs the package with the server in it and names no server: the extension must
# find its own. Case go names the server by the setting, with the plain package.
if [ "$case" = c ]; then
  default_vsix=$REPO_ROOT/editors/vscode/docker-rebuilder-linux-x64.vsix
  bundled=1
else
  default_vsix=$REPO_ROOT/editors/vscode/docker-rebuilder.vsix
  bundled=0
fi
CODE_SERVER=$code_server BUNDLED=$bundled \
VSIX=${VSIX:-$default_vsix} \
SERVER=$(server_binary) CASE=$case \
PROJECT_DIR=$PROJECT_DIR PROJECT_IMAGE=$PROJECT_IMAGE RUN_DIR=$run_dir \
ARTIFACTS=${ARTIFACTS:-$REPO_ROOT/test-artifacts} \
  node "$here/test.mjs" || { echo "code-server log: $(tail -20 "$run_dir/code-server.log")"; exit 1; }
