#![no_main]
//! Python tracebacks and mypy.

use docker_rebuilder::diagnostics::{MypyMatcher, TracebackMatcher};
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut TracebackMatcher::default(), &text);
    run_matcher(&mut MypyMatcher::default(), &text);
});
