#![no_main]
//! tsc, `--pretty false` and `--pretty`.

use docker_rebuilder::diagnostics::TscMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut TscMatcher::default(), &text);
});
