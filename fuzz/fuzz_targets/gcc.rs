#![no_main]
//! gcc and clang output (and the linker's source-line errors), as gcc and as clang.

use docker_rebuilder::diagnostics::GccMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut GccMatcher::new(false), &text);
    run_matcher(&mut GccMatcher::new(true), &text);
});
