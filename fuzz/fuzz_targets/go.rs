#![no_main]
//! `go build` / `go test` / `go vet` output, and a Go program's panic.

use docker_rebuilder::diagnostics::{GoMatcher, GoPanicMatcher};
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut GoMatcher::new(false), &text);
    run_matcher(&mut GoMatcher::new(true), &text);
    run_matcher(&mut GoPanicMatcher::default(), &text);
});
