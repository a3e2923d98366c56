#![no_main]
//! javac (and Gradle printing it).

use docker_rebuilder::diagnostics::JavacMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut JavacMatcher::default(), &text);
});
