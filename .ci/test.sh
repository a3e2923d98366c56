#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the end-to-end tests against the
# real Docker engine (which must answer: `.ci/engine.sh` starts one and makes base images).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Engine tests share one daemon; two at a time keeps this 2-core machine responsive.
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
# The sync suite again on an image with GNU tar, where changes ride on the build's own exec.
DR_TEST_BASE=busybox:gnutar cargo test --locked --test sync_fidelity -- --test-threads="${TEST_THREADS:-2}"
bash .ci/editors.sh
