#!/usr/bin/env bash
# Fuzzing, bounded: every fuzz target in fuzz/ (the problem matchers one by one and together, the
# rebuilder.toml, Dockerfile and .dockerignore parsers, plan inference) runs for FUZZ_SECONDS.
# A crash, a failed invariant, a timeout or running out of memory fails the script, which names
# the input that did it.
#
# Usage: .ci/fuzz.sh [TARGET...]   (default: every target; `ls fuzz/fuzz_targets`)
#   FUZZ_SECONDS  per target (default 20)
#   FUZZ_JOBS     targets fuzzed at once (default 2, one per core of a CI machine)
#
# Stable Rust only: cargo-fuzz's nightly flags are allowed by RUSTC_BOOTSTRAP=1, and without a
# sanitizer (`--sanitizer none`) nothing else needs nightly; a panic is what we catch. cargo-fuzz
# is installed once under ${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-ci. libFuzzer's C++
# part is built with the machine's g++. What the fuzzer finds new is kept in fuzz/target/corpus/
# (the seeds in fuzz/corpus/ stay as they are).
#
# The random seed comes from the commit (FUZZ_SEED overrides it): CI on a clean clone of a commit
# tries the inputs a run of this script on that commit tried here, as far as the time allows, so
# what gates a landing is reproducible. Longer hunts: FUZZ_SECONDS=600 FUZZ_SEED=$((RANDOM + 1)).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

seconds=${FUZZ_SECONDS:-20}
parallel=${FUZZ_JOBS:-2}
# libFuzzer reads a time of 0 as "no limit".
if ! [[ $seconds =~ ^[1-9][0-9]*$ && $parallel =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz: FUZZ_SECONDS and FUZZ_JOBS must be positive whole numbers" >&2
  exit 2
fi
cargo_fuzz_version=0.13.2
root="${XDG_CACHE_HOME:-$HOME/.cache}/docker-rebuilder-ci/cargo-fuzz"
export PATH="$root/bin:$PATH"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $cargo_fuzz_version"; then
  echo "== fuzz: installing cargo-fuzz $cargo_fuzz_version into $root"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --force --root "$root" --quiet
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== fuzz: build ($(elapsed))"
cargo fuzz build --sanitizer none
host=$(rustc -vV | sed -n 's/^host: //p')
bin="fuzz/target/$host/release"

if [ -z "${FUZZ_SEED:-}" ]; then
  commit=$(git rev-parse --short=8 HEAD 2>/dev/null || echo 1)
  FUZZ_SEED=$((16#$commit % 2147483647 + 1))
fi
if ! [[ $FUZZ_SEED =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz: FUZZ_SEED must be a positive whole number" >&2
  exit 2
fi

work=fuzz/target/fuzz-run
rm -rf "$work"
mkdir -p "$work/tmp"
# The plan target writes a scratch project under the temp dir; keep it in ours.
export TMPDIR="$PWD/$work/tmp"

fuzz_one() {
  local target=$1
  local dict=()
  if [ -f "fuzz/dicts/$target.dict" ]; then dict=(-dict="fuzz/dicts/$target.dict"); fi
  mkdir -p "fuzz/target/corpus/$target" "fuzz/artifacts/$target"
  set +e
  "$bin/$target" -max_total_time="$seconds" -seed="$FUZZ_SEED" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="fuzz/artifacts/$target/" "fuzz/target/corpus/$target" "fuzz/corpus/$target" \
    >"$work/$target.log" 2>&1
  echo $? >"$work/$target.status"
}

echo "== fuzz: ${#targets[@]} targets, $seconds s each, $parallel at a time, seed $FUZZ_SEED ($(elapsed))"
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  fuzz_one "$target" &
done
wait

failed=()
for target in "${targets[@]}"; do
  status=$(cat "$work/$target.status" 2>/dev/null || echo "?")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -1)
  if [ "$status" = 0 ]; then
    echo "fuzz: $target ok, ${runs:-?} runs"
    continue
  fi
  failed+=("$target")
  echo
  echo "fuzz: $target FAILED (exit $status); the end of its log:"
  grep -v '^#[0-9]' "$work/$target.log" | tail -40
  input=$(sed -n 's/.*Test unit written to //p' "$work/$target.log" | tail -1)
  if [ -n "$input" ]; then
    echo "fuzz: $target: the input is $input"
    echo "fuzz:   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target $input"
    echo "fuzz:   or the whole run: FUZZ_SEED=$FUZZ_SEED FUZZ_SECONDS=$seconds .ci/fuzz.sh $target"
  fi
done
rm -rf "$work/tmp"

echo "== fuzz: done in $(elapsed)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
