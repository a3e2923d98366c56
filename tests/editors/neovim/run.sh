#!/usr/bin/env bash
# Runs the Neovim end-to-end test on a fresh copy of examples/hello-c. Expects the server built;
# installs Neovim (install.sh); removes the copy, its builder and its image on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

nvim=$("$here/install.sh")
make_project neovim

PLUGIN_DIR=$REPO_ROOT/editors/neovim SERVER=$(server_binary) \
PROJECT_DIR=$PROJECT_DIR PROJECT_IMAGE=$PROJECT_IMAGE \
  "$nvim" --headless -u NONE -l "$here/test.lua"
