#![no_main]
//! JavaScript front-end builds: Create React App, Vite, esbuild, ESLint.

use docker_rebuilder::diagnostics::FrontendMatcher;
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut FrontendMatcher::default(), &text);
});
