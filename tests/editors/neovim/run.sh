#!/usr/bin/env bash
# Runs one case of the Neovim end-to-end test on a fresh copy of its project:
#   run.sh [c|go]   c (default): examples/hello-c; go: tests/fixtures/editors-go (multi-stage)
# Expects the server built; installs Neovim (install.sh); removes the copy, its builders and
# its image on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
case=${1:-c}

nvim=$("$here/install.sh")
make_project neovim "$case"

PLUGIN_DIR=$REPO_ROOT/editors/neovim SERVER=$(server_binary) CASE=$case \
PROJECT_DIR=$PROJECT_DIR PROJECT_IMAGE=$PROJECT_IMAGE \
  "$nvim" --headless -u NONE -l "$here/test.lua"
