#!/usr/bin/env bash
# Runs one case of the VS Code end-to-end test on a fresh copy of its project:
#   run.sh [c|go|workspace]   c (default): examples/hello-c; go: tests/fixtures/editors-go
#   (multi-stage); workspace: a multi-root workspace of a compose project (brought up here
#   with docker-compose) and a Go project (tests/editors/lib.sh, make_project)
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

if [ "$case" = workspace ]; then
  # The running services the editor's saves must reach; the API on a free loopback port.
  API_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export API_PORT
  ( cd "$PROJECT_DIR" && docker-compose up -d --build >"$run_dir/compose-up.log" 2>&1 ) ||
    { echo "docker-compose up failed:"; tail -30 "$run_dir/compose-up.log"; exit 1; }
fi
# Case c installs the package with the server in it and names no server: the extension must
# find its own. The others name the server by the setting, with the plain package.
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
SECOND_DIR=$SECOND_DIR COMPOSE_NAME=$COMPOSE_NAME WORKSPACE_FILE=${WORKSPACE_FILE:-} \
ARTIFACTS=${ARTIFACTS:-$REPO_ROOT/test-artifacts} \
  node "$here/test.mjs" || { echo "code-server log: $(tail -20 "$run_dir/code-server.log")"; exit 1; }
