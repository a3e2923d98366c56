# Shared by the editor tests' run.sh scripts (sourced, not run): the cache folder, a throwaway
# copy of a test project, and removing everything Docker made for it.

# Installs are kept here between runs (CI machines are reused; a fresh one installs again).
EDITORS_CACHE=${EDITORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-ci}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$EDITORS_CACHE"

# The image name the product gives a folder (server/src/project/plan/mod.rs, sanitize_name):
# lowercase, [a-z0-9] runs separated by a single `.`, `_` or `-`, trimmed.
sanitize_name() {
  local lower out='' c i
  lower=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
  for ((i = 0; i < ${#lower}; i++)); do
    c=${lower:i:1}
    if [[ $c == [a-z0-9] ]]; then
      out+=$c
    elif [ -n "$out" ] && [[ ${out: -1} != [-._] ]]; then
      if [[ $c == [._] ]]; then out+=$c; else out+=-; fi
    fi
  done
  while [[ -n $out && ${out: -1} == [-._] ]]; do out=${out%?}; done
  echo "${out:-project}"
}

# make_project EDITOR [CASE]: copies the case's project to a fresh folder whose name is
# unique, because the folder's name becomes the image's name. CASE `c` (the default) is
# examples/hello-c (image hello-c-EDITOR-PID:latest); `go` is tests/fixtures/editors-go, a
# multi-stage Go build with a distroless final stage, in a folder named Go-App_EDITOR-PID so
# that the image's name (go-app_EDITOR-PID:latest) is the sanitised folder name. Sets
# PROJECT_DIR, PROJECT_IMAGE and PROJECT_ROOT, and arranges for cleanup_project to run on exit.
make_project() {
  local editor=$1 case=${2:-c} root source folder
  case $case in
    c) source=$REPO_ROOT/examples/hello-c folder=hello-c-$editor-$$ ;;
    go) source=$REPO_ROOT/tests/fixtures/editors-go folder=Go-App_$editor-$$ ;;
    *) echo "make_project: unknown case $case (c or go)" >&2; return 1 ;;
  esac
  root=$(mktemp -d "${TMPDIR:-/tmp}/docker-rebuilder-$editor.XXXXXX")
  PROJECT_DIR="$root/$folder"
  PROJECT_IMAGE="$(sanitize_name "$folder"):latest"
  PROJECT_ROOT=$root
  cp -a "$source" "$PROJECT_DIR"
  trap cleanup_project EXIT
}

# Removes the builders (and any other container labelled with this project), the images, and
# the copy. Runs on every exit, pass or fail, so a failed test leaves nothing behind.
cleanup_project() {
  local ids
  ids=$(docker ps -aq --filter "label=dev.docker-rebuilder.project=$PROJECT_DIR" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker image rm -f --no-prune "$PROJECT_IMAGE" >/dev/null 2>&1 || true
  # What `clean` keeps of a multi-stage project's builders (their state images).
  ids=$(docker images -q --filter "label=dev.docker-rebuilder.project=$PROJECT_DIR" 2>/dev/null || true)
  [ -z "$ids" ] || docker image rm -f --no-prune $ids >/dev/null 2>&1 || true
  rm -rf "$PROJECT_ROOT"
}

# The server the editors start: DOCKER_REBUILDER_SERVER overrides it (to prove that a broken
# server makes the tests fail), else the debug build where cargo put it (CARGO_TARGET_DIR,
# relative to the repository as .ci/editors.sh builds there, else target/).
server_binary() {
  local target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$REPO_ROOT/$target
  echo "${DOCKER_REBUILDER_SERVER:-$target/debug/docker-rebuilder}"
}
