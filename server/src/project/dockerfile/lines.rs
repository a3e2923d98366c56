//! Physical lines to instructions, as BuildKit's `parser.Parse` reads them: line continuations,
//! comment and blank lines (also inside a continuation), the parser directives that only count at
//! the very top (`directives.rs`), and the bodies of heredocs, which are read as they are.

use super::directives::Directives;
use super::ParseError;

/// One instruction's text after joining continuation lines.
pub(super) struct LogicalLine {
    /// first line, 1-based
    pub(super) start: usize,
    /// last line, 1-based
    pub(super) end: usize,
    pub(super) text: String,
}

/// A Dockerfile's lines, read one instruction (and its heredoc bodies) at a time.
pub(super) struct LineReader<'a> {
    /// (line without its ending, line as written with its ending)
    lines: Vec<(&'a str, &'a str)>,
    next: usize,
    directives: Directives,
}

impl<'a> LineReader<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        LineReader { lines: physical_lines(text), next: 0, directives: Directives::default() }
    }

    /// The escape character in effect (final once the first instruction is read).
    pub(super) fn escape(&self) -> char {
        self.directives.escape
    }

    /// The number of physical lines in the file.
    pub(super) fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// The last line read, 1-based.
    pub(super) fn current_line(&self) -> usize {
        self.next
    }

    /// The next instruction, `None` at the end of the file.
    pub(super) fn next_instruction(&mut self) -> Result<Option<LogicalLine>, ParseError> {
        while self.next < self.lines.len() {
            let mut raw = self.lines[self.next].0;
            if self.next == 0 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            self.next += 1;
            let start = self.next;
            let trimmed = raw.trim_start();
            self.directives.check(trimmed).map_err(|message| ParseError { line: start, message })?;
            let escape = self.directives.escape;
            let content = if trimmed.starts_with('#') { "" } else { trimmed };
            let (first, mut complete) = trim_continuation(content, escape);
            if complete && first.is_empty() {
                continue;
            }
            let mut joined = first.to_string();
            while !complete && self.next < self.lines.len() {
                let raw = self.lines[self.next].0;
                self.next += 1;
                // Docker skips comment and blank lines inside a continuation without
                // ending the instruction. Unlike the first line, continuation lines
                // keep their leading whitespace.
                let trimmed = raw.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let (part, done) = trim_continuation(raw, escape);
                joined.push_str(part);
                complete = done;
            }
            return Ok(Some(LogicalLine { start, end: self.next, text: joined }));
        }
        Ok(None)
    }

    /// A heredoc's body: the lines after the ones read so far, each with its line ending, up to
    /// the line that is `terminator` (after leading tabs when `strip_tabs`), which is consumed
    /// too. `None` when the file ends first.
    pub(super) fn heredoc_body(&mut self, terminator: &str, strip_tabs: bool) -> Option<String> {
        let mut body = String::new();
        while let Some(&(_, raw)) = self.lines.get(self.next) {
            self.next += 1;
            let mut candidate = raw.trim_end_matches(['\r', '\n']);
            if strip_tabs {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == terminator {
                return Some(body);
            }
            body.push_str(raw);
        }
        None
    }
}

/// Lines as BuildKit's scanner yields them: `\n`-separated, no empty line after a final
/// newline; each without its ending (`\n`, or `\r\n`) and as written.
fn physical_lines(text: &str) -> Vec<(&str, &str)> {
    text.split_inclusive('\n')
        .map(|raw| {
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            (line.strip_suffix('\r').unwrap_or(line), raw)
        })
        .collect()
}

/// A line ending in the escape character (then optional blanks) continues on
/// the next line; the escape character and those blanks are dropped.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(kept) => (kept, false),
        None => (line, true),
    }
}

#[cfg(test)]
mod tests {
    use crate::project::dockerfile::tests::*;

    #[test]
    fn a_run_split_over_lines_is_one_shell_command() {
        let kind = only_kind("FROM alpine\nRUN apk add \\\n    curl \\\n    git\n");
        assert_eq!(kind, run(shell("apk add     curl     git")));
    }

    #[test]
    fn comments_and_blank_lines_inside_a_continuation_are_skipped() {
        let text = "FROM alpine\nRUN apt-get update && \\\n  # install tools\n\n   \n  apt-get install -y curl\nRUN echo done\n";
        let all = instructions(text);
        assert_eq!(all[0].kind, run(shell("apt-get update &&   apt-get install -y curl")));
        assert_eq!((all[0].line, all[0].end_line), (2, 6));
        assert_eq!((all[1].line, all[1].end_line), (7, 7));
    }

    #[test]
    fn line_numbers_count_physical_lines_after_continuations_and_comments() {
        let text =
            "# a comment\n\nFROM alpine AS base\nENV A=1 \\\n    B=2\n\n# another\nWORKDIR /app\nFROM base\nCOPY . .\n";
        let dockerfile = parse(text).expect("parses");
        assert_eq!(dockerfile.stages[0].line, 3);
        let env = &dockerfile.stages[0].instructions[0];
        assert_eq!((env.line, env.end_line), (4, 5));
        assert_eq!(dockerfile.stages[0].instructions[1].line, 8);
        assert_eq!(dockerfile.stages[1].line, 9);
        assert_eq!(dockerfile.stages[1].instructions[0].line, 10);
    }

    #[test]
    fn a_continuation_at_the_end_of_the_file_ends_the_instruction() {
        let all = instructions("FROM alpine\nRUN echo hi \\\n");
        assert_eq!(all[0].kind, run(shell("echo hi")));
        assert_eq!((all[0].line, all[0].end_line), (2, 2));
    }

    #[test]
    fn the_escape_directive_makes_backtick_the_continuation_character() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY C:\\src\\app C:\\app\\\nRUN dir `\n    C:\\app\n";
        let dockerfile = parse(text).expect("parses");
        assert_eq!(dockerfile.escape(), '`');
        let kinds: Vec<_> = dockerfile.stages[0].instructions.iter().map(|i| i.kind.clone()).collect();
        assert!(matches!(
            &kinds[0],
            InstructionKind::Copy { sources, dest, .. }
                if *sources == strings(&["C:\\src\\app"]) && dest == "C:\\app\\"
        ));
        assert_eq!(kinds[1], run(shell("dir     C:\\app")));
        assert_eq!(parse("FROM a\n").map(|d| d.escape()), Ok('\\'));
    }

    #[test]
    fn directives_count_only_at_the_top_of_the_file() {
        // syntax then escape, both honoured.
        let top = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n").expect("parses");
        assert_eq!(top.escape(), '`');
        // After a blank line, a comment or an instruction it is a plain comment.
        for text in ["\n# escape=`\nFROM a\n", "# hello\n# escape=`\nFROM a\n", "FROM a\n# escape=`\n"] {
            assert_eq!(parse(text).map(|d| d.escape()), Ok('\\'), "{text:?}");
        }
        // Directive keys and surrounding blanks are lenient, as in Docker.
        assert_eq!(parse("#  ESCAPE = `  \nFROM a\n").map(|d| d.escape()), Ok('`'));
    }

    #[test]
    fn a_repeated_or_invalid_directive_is_an_error() {
        let repeated = error("# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(repeated.line, 2);
        assert_eq!(repeated.message, "only one escape parser directive can be used");
        let syntax = error("# syntax=a\n# syntax=b\nFROM a\n");
        assert_eq!(syntax.message, "only one syntax parser directive can be used");
        let invalid = error("# escape=x\nFROM a\n");
        assert_eq!(
            (invalid.line, invalid.to_string()),
            (1, "line 1: invalid escape token 'x' does not match ` or \\".to_string())
        );
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_ignored() {
        let dockerfile = parse("\u{feff}# escape=`\r\nFROM a\r\nRUN echo `\r\n  hi\r\n").expect("parses");
        assert_eq!(dockerfile.escape(), '`');
        assert_eq!(dockerfile.stages[0].instructions[0].kind, run(shell("echo   hi")));
    }
}
