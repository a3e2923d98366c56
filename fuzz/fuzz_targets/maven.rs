#![no_main]
//! Maven's compiler plugin.

use docker_rebuilder::diagnostics::MavenMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut MavenMatcher::default(), &text);
});
