# Shared by the editor tests' run.sh scripts (sourced, not run): the cache folder, a throwaway
# copy of the example project, and removing everything Docker made for it.

# Installs are kept here between runs (CI machines are reused; a fresh one installs again).
EDITORS_CACHE=${EDITORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-ci}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$EDITORS_CACHE"

# make_project EDITOR: copies examples/hello-c to a fresh folder whose name is unique, because
# the folder's name becomes the image's name (hello-c-EDITOR-PID:latest). Sets PROJECT_DIR
# and PROJECT_IMAGE, and arranges for cleanup_project to run on exit.
make_project() {
  local editor=$1 root
  root=$(mktemp -d "${TMPDIR:-/tmp}/docker-rebuilder-$editor.XXXXXX")
  PROJECT_DIR="$root/hello-c-$editor-$$"
  PROJECT_IMAGE="hello-c-$editor-$$:latest"
  PROJECT_ROOT=$root
  cp -a "$REPO_ROOT/examples/hello-c" "$PROJECT_DIR"
  trap cleanup_project EXIT
}

# Removes the builder (and any other container labelled with this project), the image, and
# the copy. Runs on every exit, pass or fail, so a failed test leaves nothing behind.
cleanup_project() {
  local ids
  ids=$(docker ps -aq --filter "label=dev.docker-rebuilder.project=$PROJECT_DIR" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker image rm -f --no-prune "$PROJECT_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$PROJECT_ROOT"
}

# The server the editors start: DOCKER_REBUILDER_SERVER overrides it (to prove that a broken
# server makes the tests fail), else the debug build.
server_binary() {
  echo "${DOCKER_REBUILDER_SERVER:-$REPO_ROOT/target/debug/docker-rebuilder}"
}
