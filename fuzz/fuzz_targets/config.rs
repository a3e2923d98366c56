#![no_main]
//! `rebuilder.toml` text. An error names a line of the text (1-based, at most one past the last
//! newline) in its message and its location; a config that parses compiles its matchers or says
//! which one is wrong, and the matchers it compiles run.

use std::path::Path;

use docker_rebuilder::diagnostics::Pipeline;
use docker_rebuilder::error::ErrorKind;
use docker_rebuilder::project::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Config::load reads the file as UTF-8: nothing else reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/p/rebuilder.toml");
    let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
    let config = match Config::parse(text, path) {
        Ok(config) => config,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Config);
            let Some((at, line)) = e.location.clone() else { panic!("no location: {e}") };
            assert_eq!(at, path);
            assert!((1..=lines).contains(&line), "line {line} of a {lines}-line text: {e}");
            assert!(e.cause.starts_with(&format!("/p/rebuilder.toml:{line}: ")), "{e}");
            if e.cause.contains("`timeout_secs` must be at least 1") {
                let text_line = text.split('\n').nth(line - 1).unwrap_or("");
                assert!(text_line.contains("timeout_secs"), "line {line} is {text_line:?}: {e}");
            }
            return;
        }
    };
    if config.timeout_secs.is_some() {
        assert_ne!(config.timeout_secs, Some(0));
    }
    let matchers = match config.custom_matchers(Path::new("/p")) {
        Ok(matchers) => matchers,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Config);
            assert!(e.cause.starts_with("/p/rebuilder.toml: [[matcher]] #"), "{e}");
            return;
        }
    };
    assert_eq!(matchers.len(), config.matchers.len());
    let commands = config.rebuild.as_ref().map(|r| r.commands()).unwrap_or_default();
    let mut pipeline = Pipeline::new(&commands, matchers);
    pipeline.feed(text.as_bytes());
    pipeline.finish();
});
