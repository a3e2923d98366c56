//! What the fuzz targets share: running a problem matcher the way the pipeline does, and the
//! invariants every diagnostic must hold whatever the output was.

use docker_rebuilder::diagnostics::{utf16_column, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher};

/// Runs `matcher` over `text` as [`docker_rebuilder::diagnostics::Pipeline`] feeds it (lines
/// split at `\n`, make's directory changes tracked), then checks the diagnostics; then runs it
/// over the same text again: after `finish` a matcher starts afresh (a rebuild's next step),
/// so it must find the same diagnostics.
pub fn run_matcher(matcher: &mut dyn Matcher, text: &str) -> Vec<Diagnostic> {
    let first = run_once(matcher, text);
    check_diagnostics(&first, text);
    let again = run_once(matcher, text);
    assert_eq!(first, again, "{}: a second output after finish() gave other diagnostics", matcher.name());
    first
}

fn run_once(matcher: &mut dyn Matcher, text: &str) -> Vec<Diagnostic> {
    let mut dirs = DirectoryStack::new();
    let mut found = Vec::new();
    for line in text.split('\n') {
        dirs.observe(line);
        found.extend(matcher.line(line, &dirs));
    }
    found.extend(matcher.finish());
    found
}

/// Invariants of any matcher's diagnostics for the output `text`.
pub fn check_diagnostics(found: &[Diagnostic], text: &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    // A line completes at most a pending diagnostic and one of its own; nothing multiplies.
    assert!(found.len() <= 2 * lines.len() + 1, "{} diagnostics from {} lines", found.len(), lines.len());
    for diagnostic in found {
        check_location(&diagnostic.location, &lines);
        for (location, _) in &diagnostic.related {
            check_location(location, &lines);
        }
    }
}

fn check_location(location: &Location, lines: &[&str]) {
    assert!(location.column != Some(0), "columns are 1-based: {location:?}");
    // The column converted against some line of text, as the editor front ends do: the file's
    // line when the output echoed it, else any line, including one shorter than the column.
    let candidates = [
        lines.get(location.line.saturating_sub(1) as usize).copied().unwrap_or(""),
        lines.first().copied().unwrap_or(""),
        "",
        "\t中𝑥é😀x",
    ];
    for line_text in candidates {
        for column in [location.column, location.end_column].into_iter().flatten() {
            check_utf16_column(line_text, column, location.unit);
        }
    }
}

/// `utf16_column` lands on a character boundary within the line, and never goes backwards as the
/// column grows.
pub fn check_utf16_column(line_text: &str, column: u32, unit: ColumnUnit) {
    let at = utf16_column(line_text, column, unit);
    let boundaries: Vec<u32> = std::iter::once(0)
        .chain(line_text.chars().scan(0u32, |n, c| {
            *n += c.len_utf16() as u32;
            Some(*n)
        }))
        .collect();
    assert!(boundaries.contains(&at), "column {column} ({unit:?}) → {at}, not a character boundary of {line_text:?}");
    let next = utf16_column(line_text, column.saturating_add(1), unit);
    assert!(next >= at, "column {column} → {at} but {} → {next} ({unit:?}) on {line_text:?}", column + 1);
}

/// A small deterministic generator for choices the fuzzer's bytes drive (chunk sizes and such).
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, at: 0 }
    }

    /// The next byte, cycling; 0 when there are none.
    pub fn byte(&mut self) -> u8 {
        if self.bytes.is_empty() {
            return 0;
        }
        let b = self.bytes[self.at % self.bytes.len()];
        self.at += 1;
        b
    }
}

/// Splits fuzz input at the first NUL: (before, Some(after)) or (all, None).
pub fn split_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}
