//! A Dockerfile cut short, for builders that keep no image per step (BuildKit): the text up
//! to a stage's first `keep` instructions, so that building it gives that stage's image at
//! that point, from the same build cache as the whole file.

use crate::project::dockerfile;

/// The Dockerfile `text` up to and including instruction `keep - 1` of stage `stage` (its
/// FROM alone when `keep` is 0); that stage is then the file's last. None when the stage
/// does not exist or the text does not parse.
pub fn dockerfile_upto(text: &str, stage: usize, keep: usize) -> Option<String> {
    let parsed = dockerfile::parse(text).ok()?;
    let s = parsed.stages.get(stage)?;
    let last_line = match keep.checked_sub(1) {
        Some(i) => s.instructions.get(i)?.end_line,
        // The FROM line alone: up to the line before the stage's next instruction (or stage).
        None => {
            let next = s.instructions.first().map(|i| i.line).or_else(|| parsed.stages.get(stage + 1).map(|n| n.line));
            next.map_or(usize::MAX, |n| n - 1)
        }
    };
    let mut out = String::new();
    for line in text.split_inclusive('\n').take(last_line) {
        out.push_str(line);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# syntax=docker/dockerfile:1\nFROM golang AS build\nWORKDIR /src\nCOPY . .\nRUN go build \\\n    -o /app .\n\nFROM alpine\nRUN apk add \\\n  ca-certificates\nUSER app\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";

    #[test]
    fn the_text_stops_after_the_last_kept_instruction_with_its_continuation_lines() {
        let upto = dockerfile_upto(TEXT, 1, 2).expect("stage 1");
        assert!(upto.ends_with("RUN apk add \\\n  ca-certificates\nUSER app\n"), "{upto}");
        assert!(!upto.contains("COPY --from"), "{upto}");
        assert!(
            upto.starts_with("# syntax=docker/dockerfile:1\nFROM golang AS build\n"),
            "the directives and stages before stay"
        );
        let build = dockerfile_upto(TEXT, 0, 3).expect("stage 0");
        assert!(build.ends_with("    -o /app .\n"), "{build}");
        assert!(!build.contains("alpine"), "{build}");
    }

    #[test]
    fn keeping_nothing_keeps_the_from_line() {
        let from = dockerfile_upto(TEXT, 1, 0).expect("stage 1");
        assert!(from.ends_with("\nFROM alpine\n"), "{from}");
        assert_eq!(dockerfile_upto(TEXT, 2, 0), None);
        assert_eq!(dockerfile_upto(TEXT, 1, 9), None);
        // What is kept parses, and its last stage is the one asked for, with `keep` instructions.
        let parsed = dockerfile::parse(&dockerfile_upto(TEXT, 1, 1).expect("one")).expect("parses");
        assert_eq!(parsed.stages.len(), 2);
        assert_eq!(parsed.stages[1].instructions.len(), 1);
    }
}
