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
#
# CASE `workspace` is a multi-root workspace of two folders: PROJECT_DIR, a compose project
# (tests/fixtures/compose-app: its C `api`, plus a Go `worker` built from ./worker, a copy of
# editors-go, added by a compose override file), and SECOND_DIR, the Go project on its own
# (image PROJECT_IMAGE). COMPOSE_NAME is the compose project's name (its images are
# COMPOSE_NAME_api and COMPOSE_NAME_worker); WORKSPACE_FILE the .code-workspace naming both.
make_project() {
  local editor=$1 case=${2:-c} root source folder
  case $case in
    c) source=$REPO_ROOT/examples/hello-c folder=hello-c-$editor-$$ ;;
    go | workspace) source=$REPO_ROOT/tests/fixtures/editors-go folder=Go-App_$editor-$$ ;;
    *) echo "make_project: unknown case $case (c, go or workspace)" >&2; return 1 ;;
  esac
  root=$(mktemp -d "${TMPDIR:-/tmp}/docker-rebuilder-$editor.XXXXXX")
  PROJECT_DIR="$root/$folder"
  PROJECT_IMAGE="$(sanitize_name "$folder"):latest"
  PROJECT_ROOT=$root
  SECOND_DIR=
  COMPOSE_NAME=
  cp -a "$source" "$PROJECT_DIR"
  trap cleanup_project EXIT
  if [ "$case" = workspace ]; then
    SECOND_DIR=$PROJECT_DIR
    PROJECT_DIR="$root/shop-$editor-$$"
    COMPOSE_NAME="shop-$editor-$$"
    cp -a "$REPO_ROOT/tests/fixtures/compose-app" "$PROJECT_DIR"
    cp -a "$source" "$PROJECT_DIR/worker"
    # The worker says who it is: its image and the Go folder's must differ.
    sed -i 's/hello from v1/worker v1/' "$PROJECT_DIR/worker/main.go"
    printf '%s\n' 'version: "3.8"' 'services:' '  worker:' '    build: ./worker' \
      >"$PROJECT_DIR/docker-compose.override.yml"
    WORKSPACE_FILE="$root/shop.code-workspace"
    printf '{ "folders": [ { "path": "%s" }, { "path": "%s" } ] }\n' "$PROJECT_DIR" "$SECOND_DIR" >"$WORKSPACE_FILE"
  fi
}

# Removes the builders (and any other container labelled with this project), the images, and
# the copy. Runs on every exit, pass or fail, so a failed test leaves nothing behind.
cleanup_project() {
  local ids label
  if [ -n "$COMPOSE_NAME" ]; then
    ( cd "$PROJECT_DIR" && docker-compose -p "$COMPOSE_NAME" down -t 1 --rmi local -v >/dev/null 2>&1 ) || true
  fi
  # A compose service's objects are labelled `<its context>#<service>`.
  local labels=("$PROJECT_DIR" ${SECOND_DIR:+"$SECOND_DIR"} ${COMPOSE_NAME:+"$PROJECT_DIR/api#api" "$PROJECT_DIR/worker#worker"})
  for label in "${labels[@]}"; do
    ids=$(docker ps -aq --filter "label=dev.docker-rebuilder.project=$label" 2>/dev/null || true)
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  done
  docker image rm -f --no-prune "$PROJECT_IMAGE" ${COMPOSE_NAME:+"${COMPOSE_NAME}_api" "${COMPOSE_NAME}_worker"} >/dev/null 2>&1 || true
  # Then the images labelled ours (what `clean` keeps, a replay's base), with `-a` and in passes:
  # an untagged image with a child is listed only with `-a`, and goes only once its child has.
  local pass
  for pass in 1 2 3 4; do
    ids=""
    for label in "${labels[@]}"; do
      ids+=" $(docker images -aq --filter "label=dev.docker-rebuilder.project=$label" 2>/dev/null || true)"
    done
    [ -n "${ids// /}" ] || break
    docker image rm -f --no-prune $ids >/dev/null 2>&1 || true
  done
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
