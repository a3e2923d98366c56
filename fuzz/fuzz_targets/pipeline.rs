#![no_main]
//! All matchers together over arbitrary output bytes, fed in arbitrary chunks. The first byte picks
//! the rebuild command (which orders the matchers) and whether a custom matcher applies, the second
//! seeds the chunk sizes; the rest is the output, not necessarily UTF-8.
//!
//! Invariants: where the chunks break changes nothing (a line, or a character, split between two
//! chunks is whole again); a second output after `finish` is judged afresh, so the same bytes give
//! the same diagnostics; no problem is reported twice in one output.

use std::collections::HashSet;

use docker_rebuilder::diagnostics::{ColumnUnit, CustomMatcher, Diagnostic, Pipeline, Severity};
use fuzz_support::{check_diagnostics, Choices};
use libfuzzer_sys::fuzz_target;

const COMMANDS: [&str; 16] = [
    "make -j2",
    "make CC=clang",
    "ninja -C build",
    "cargo build --message-format=json",
    "cargo clippy",
    "javac -d out src/*.java",
    "./gradlew build",
    "mvn -q compile",
    "go build ./...",
    "go vet ./...",
    "tsc --pretty false",
    "npx tsc",
    "python -m mypy src",
    "python3 gen.py && make",
    "sh build.sh",
    "",
];

/// yamllint's `-f parsable` format, as the docs suggest for it.
const YAMLLINT: &str = r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): \[(?P<severity>\w+)\] (?P<message>.*?)(?: \((?P<code>[\w-]+)\))?$";

fn pipeline(choice: u8) -> Pipeline {
    let command = COMMANDS[usize::from(choice) % COMMANDS.len()].to_owned();
    let custom = if choice & 0x10 != 0 {
        vec![CustomMatcher::new(YAMLLINT, Severity::Error, ColumnUnit::Chars).expect("valid regex")]
    } else {
        Vec::new()
    };
    Pipeline::new(&[command], custom)
}

fn whole(p: &mut Pipeline, output: &[u8]) -> Vec<Diagnostic> {
    let mut found = p.feed(output);
    found.extend(p.finish());
    found
}

fuzz_target!(|data: &[u8]| {
    let [choice, seed, output @ ..] = data else { return };
    let mut p = pipeline(*choice);
    let expected = whole(&mut p, output);

    let text = String::from_utf8_lossy(output);
    check_diagnostics(&expected, &text);
    let mut seen = HashSet::new();
    for d in &expected {
        let l = &d.location;
        let key = (&l.path, &l.base_dir, l.line, l.column, &d.message);
        assert!(seen.insert(key), "reported twice: {d:?}");
    }

    // The same bytes again through the same pipeline (as a rebuild's next step), in chunks of
    // 1..=63 bytes with empty ones between (a read that returned nothing).
    let mut sizes = Choices::new(output);
    let mut chunked = Vec::new();
    let mut rest = output;
    let mut salt = *seed;
    while !rest.is_empty() {
        salt = salt.wrapping_mul(31).wrapping_add(sizes.byte());
        let mut size = usize::from(salt % 64);
        if size == 0 {
            chunked.extend(p.feed(&[]));
            size = 1;
        }
        let size = size.min(rest.len());
        chunked.extend(p.feed(&rest[..size]));
        rest = &rest[size..];
    }
    chunked.extend(p.finish());
    if chunked != expected {
        // Which of the two it is: the reuse, or the chunks.
        assert_eq!(expected, whole(&mut p, output), "a reused pipeline remembered an earlier output");
        assert_eq!(expected, chunked, "chunk boundaries changed the diagnostics");
    }
});
