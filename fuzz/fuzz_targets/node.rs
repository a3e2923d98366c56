#![no_main]
//! Node.js uncaught exceptions.

use docker_rebuilder::diagnostics::NodeMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut NodeMatcher::default(), &text);
});
