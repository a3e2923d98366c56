#![no_main]
//! GNU make and ninja: directory changes, Makefile errors, held-back recipe failures.

use docker_rebuilder::diagnostics::{DirectoryStack, MakeMatcher};
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    run_matcher(&mut MakeMatcher::default(), &text);
    // The directory stack alone: a line that is no directory change changes nothing, and an
    // `Entering` makes its directory (absolute, or under the current one) the current one.
    let mut dirs = DirectoryStack::new();
    for line in text.split('\n') {
        let before = dirs.current().map(str::to_owned);
        if !dirs.observe(line) {
            assert_eq!(dirs.current().map(str::to_owned), before, "not a directory line: {line:?}");
        } else if line.split_once(": ").is_some_and(|(_, what)| what.starts_with("Entering directory ")) {
            let current = dirs.current().expect("a directory was entered");
            assert!(
                current.starts_with('/') || before.is_none() || current.starts_with(before.as_deref().unwrap_or(""))
            );
        }
    }
});
