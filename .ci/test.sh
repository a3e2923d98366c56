#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the end-to-end tests against the
# real Docker engine (which must answer: `.ci/engine.sh` starts one and makes base images).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The hashes docker-rebuilder keeps per project go beside the build, not into the user's cache.
tests_cache="$PWD/target/test-cache"
# Engine tests share one daemon; two at a time keeps this 2-core machine responsive.
XDG_CACHE_HOME="$tests_cache" cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
# The sync suite again on an image with GNU tar, where changes ride on the build's own exec.
XDG_CACHE_HOME="$tests_cache" DR_TEST_BASE=busybox:gnutar \
  cargo test --locked --test sync_fidelity -- --test-threads="${TEST_THREADS:-2}"
bash .ci/editors.sh
