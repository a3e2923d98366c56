#![no_main]
//! rustc and cargo, human output and `--message-format=json` lines alike.

use docker_rebuilder::diagnostics::RustcMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut RustcMatcher::default(), &text);
});
