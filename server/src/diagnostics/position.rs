//! Column arithmetic. Every tool counts columns its own way (gcc in display columns, clang and go in
//! bytes, rustc in chars, tsc and javac in UTF-16 units); LSP wants 0-based UTF-16, so the caller
//! converts with the file's line in hand. The units below were measured on each real tool, on a line
//! with a tab, a wide CJK character, non-BMP letters, an accent and an emoji (see the tests).

use super::ColumnUnit;

/// Converts a tool's 1-based column on `line_text` (the file's line, without newline) to an LSP 0-based
/// UTF-16 column. Columns past the end clamp to the line's end.
///
/// A column that falls inside a character (a byte in the middle of `é`, a display column in the middle
/// of a tab or of `中`) lands on that character's start.
pub fn utf16_column(line_text: &str, column: u32, unit: ColumnUnit) -> u32 {
    let target = column.saturating_sub(1);
    let mut at = 0u32; // where the current char starts, 0-based, in `unit`
    let mut utf16 = 0u32;
    for ch in line_text.chars() {
        let width = match unit {
            ColumnUnit::Bytes => ch.len_utf8() as u32,
            ColumnUnit::Chars => 1,
            ColumnUnit::Utf16 | ColumnUnit::FileOffsetUtf16 => ch.len_utf16() as u32,
            ColumnUnit::DisplayTab8 if ch == '\t' => 8 - at % 8,
            ColumnUnit::DisplayTab8 => display_width(ch),
        };
        if target < at.saturating_add(width) {
            return utf16;
        }
        at = at.saturating_add(width);
        utf16 = utf16.saturating_add(ch.len_utf16() as u32);
    }
    utf16
}

/// The 0-based line and UTF-16 column of a 1-based UTF-16 `offset` into the whole `text` (a
/// [`ColumnUnit::FileOffsetUtf16`] position); past the end is the end of the last line that has
/// text. A position on a line break is the end of its line.
pub fn file_position(text: &str, offset: u32) -> (u32, u32) {
    let target = offset.saturating_sub(1);
    let (mut at, mut line, mut column) = (0u32, 0u32, 0u32);
    let mut last_text = (0u32, 0u32);
    for ch in text.chars() {
        if at >= target {
            return (line, column);
        }
        at = at.saturating_add(ch.len_utf16() as u32);
        if ch == '\n' {
            line += 1;
            column = 0;
        } else if ch != '\r' {
            column += ch.len_utf16() as u32;
            last_text = (line, column);
        }
    }
    last_text
}

/// How many chars of `text` (a compiler's echo of a source line, tabs already expanded) start within
/// the display columns `[start, start + len)`: turns an underline's width into a char count.
/// None when the underline starts past the text, i.e. the echo was not the line it underlines.
pub(crate) fn chars_in_display_span(text: &str, start: usize, len: usize) -> Option<u32> {
    let mut at = 0usize;
    let mut count = 0u32;
    let mut reached = false;
    for ch in text.chars() {
        if at >= start + len {
            break;
        }
        if at >= start {
            reached = true;
            count += 1;
        }
        at += display_width(ch) as usize;
    }
    (reached && count > 0).then_some(count)
}

/// Terminal width of a char as compilers compute it (wcwidth): 2 for East Asian Wide and Fullwidth,
/// 0 for the common combining marks and invisible format characters, else 1.
pub(crate) fn display_width(ch: char) -> u32 {
    let cp = ch as u32;
    if in_ranges(cp, ZERO_WIDTH) {
        0
    } else if in_ranges(cp, WIDE) {
        2
    } else {
        1
    }
}

fn in_ranges(cp: u32, ranges: &[(u32, u32)]) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The usual combining blocks, zero-width spaces and joiners, variation selectors, Hangul medial vowels.
const ZERO_WIDTH: &[(u32, u32)] = &[
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x0591, 0x05BD),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x1160, 0x11FF),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
    (0xFEFF, 0xFEFF),
    (0xE0100, 0xE01EF),
];

/// East Asian Width W and F, Unicode 14 (what gcc 12 uses), generated from Python's unicodedata with
/// unassigned code points merged into their neighbours.
const WIDE: &[(u32, u32)] = &[
    (0x1100, 0x115F),
    (0x231A, 0x231B),
    (0x2329, 0x232A),
    (0x23E9, 0x23EC),
    (0x23F0, 0x23F0),
    (0x23F3, 0x23F3),
    (0x25FD, 0x25FE),
    (0x2614, 0x2615),
    (0x2648, 0x2653),
    (0x267F, 0x267F),
    (0x2693, 0x2693),
    (0x26A1, 0x26A1),
    (0x26AA, 0x26AB),
    (0x26BD, 0x26BE),
    (0x26C4, 0x26C5),
    (0x26CE, 0x26CE),
    (0x26D4, 0x26D4),
    (0x26EA, 0x26EA),
    (0x26F2, 0x26F3),
    (0x26F5, 0x26F5),
    (0x26FA, 0x26FA),
    (0x26FD, 0x26FD),
    (0x2705, 0x2705),
    (0x270A, 0x270B),
    (0x2728, 0x2728),
    (0x274C, 0x274C),
    (0x274E, 0x274E),
    (0x2753, 0x2755),
    (0x2757, 0x2757),
    (0x2795, 0x2797),
    (0x27B0, 0x27B0),
    (0x27BF, 0x27BF),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x2E80, 0x3029),
    (0x302E, 0x303E),
    (0x3041, 0x3096),
    (0x309B, 0x3247),
    (0x3250, 0x4DBF),
    (0x4E00, 0xA4C6),
    (0xA960, 0xA97C),
    (0xAC00, 0xD7A3),
    (0xF900, 0xFAD9),
    (0xFE10, 0xFE19),
    (0xFE30, 0xFE6B),
    (0xFF01, 0xFF60),
    (0xFFE0, 0xFFE6),
    (0x16FE0, 0x16FE3),
    (0x16FF0, 0x1B2FB),
    (0x1F004, 0x1F004),
    (0x1F0CF, 0x1F0CF),
    (0x1F18E, 0x1F18E),
    (0x1F191, 0x1F19A),
    (0x1F200, 0x1F320),
    (0x1F32D, 0x1F335),
    (0x1F337, 0x1F37C),
    (0x1F37E, 0x1F393),
    (0x1F3A0, 0x1F3CA),
    (0x1F3CF, 0x1F3D3),
    (0x1F3E0, 0x1F3F0),
    (0x1F3F4, 0x1F3F4),
    (0x1F3F8, 0x1F43E),
    (0x1F440, 0x1F440),
    (0x1F442, 0x1F4FC),
    (0x1F4FF, 0x1F53D),
    (0x1F54B, 0x1F54E),
    (0x1F550, 0x1F567),
    (0x1F57A, 0x1F57A),
    (0x1F595, 0x1F596),
    (0x1F5A4, 0x1F5A4),
    (0x1F5FB, 0x1F64F),
    (0x1F680, 0x1F6C5),
    (0x1F6CC, 0x1F6CC),
    (0x1F6D0, 0x1F6D2),
    (0x1F6D5, 0x1F6DF),
    (0x1F6EB, 0x1F6EC),
    (0x1F6F4, 0x1F6FC),
    (0x1F7E0, 0x1F7F0),
    (0x1F90C, 0x1F93A),
    (0x1F93C, 0x1F945),
    (0x1F947, 0x1F9FF),
    (0x1FA70, 0x1FAF6),
    (0x20000, 0x3FFFD),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::utf16_offset_of;

    // Each tool reported the column of `zz` (or `k`, or the trailing space) on these lines; the numbers
    // come from the `*-columns.txt` fixtures, captured on this machine.
    const C_LINE: &str = "\tconst char *s = \"中𝑥𝑥é😀\"; return zz;";
    const JAVA_LINE: &str = "\tint f() { String s = \"中𝑥𝑥é😀\"; return zz; }";
    const GO_LINE: &str = "\tvar s = \"中𝑥𝑥é😀\"; _ = s + zz";
    const RUST_LINE: &str = "\tlet s = \"中𝑥𝑥é😀\"; let _ = zz;";
    const TS_LINE: &str = "\tconst s = \"中𝑥𝑥é😀\"; const k: number = s;";

    #[test]
    fn gcc_counts_display_columns_with_tabs_to_8_and_wide_chars_as_2() {
        assert_eq!(utf16_column(C_LINE, 43, ColumnUnit::DisplayTab8), utf16_offset_of(C_LINE, "zz"));
    }

    #[test]
    fn clang_counts_bytes() {
        assert_eq!(utf16_column(C_LINE, 46, ColumnUnit::Bytes), utf16_offset_of(C_LINE, "zz"));
    }

    #[test]
    fn javac_caret_counts_utf16_units_with_a_tab_as_one() {
        assert_eq!(utf16_column(JAVA_LINE, 42, ColumnUnit::Utf16), utf16_offset_of(JAVA_LINE, "zz"));
    }

    #[test]
    fn maven_column_expands_tabs_to_8_so_display_columns_are_the_nearest_unit() {
        // Maven prints javac's getColumnNumber(): tabs to the next multiple of 8, then UTF-16 units.
        // On `Col.java` (tab, `é`, emoji: both count alike) it said [4,43]: display columns exactly.
        let col_java = "\tint f() { String é = \"😀\"; return é; }";
        assert_eq!(utf16_column(col_java, 43, ColumnUnit::DisplayTab8), utf16_offset_of(col_java, "é;"));
        // On the hostile line it said 49: 中 counts 2 in display but 1 UTF-16 unit, 𝑥 the reverse,
        // so display columns land one char late there. No closer unit exists in `ColumnUnit`.
        assert_eq!(utf16_column(JAVA_LINE, 49, ColumnUnit::DisplayTab8), utf16_offset_of(JAVA_LINE, "zz") + 1);
    }

    #[test]
    fn go_counts_bytes() {
        assert_eq!(utf16_column(GO_LINE, 39, ColumnUnit::Bytes), utf16_offset_of(GO_LINE, "zz"));
    }

    #[test]
    fn rustc_counts_chars_in_human_and_json_output() {
        assert_eq!(utf16_column(RUST_LINE, 27, ColumnUnit::Chars), utf16_offset_of(RUST_LINE, "zz"));
    }

    #[test]
    fn tsc_counts_utf16_units() {
        assert_eq!(utf16_column(TS_LINE, 30, ColumnUnit::Utf16), utf16_offset_of(TS_LINE, "k:"));
    }

    #[test]
    fn mypy_1_counts_bytes() {
        // mypy 1.20 on `    s = "中𝑥𝑥é😀"; return s` reported column 37 (mypy1-columns.txt).
        let line = "    s = \"中𝑥𝑥é😀\"; return s";
        assert_eq!(utf16_column(line, 37, ColumnUnit::Bytes), utf16_offset_of(line, "return s") + 7);
    }

    #[test]
    fn yamllint_counts_chars() {
        // `a: "<TAB>中𝑥𝑥é😀" ` with its trailing space reported at column 12 (custom-yamllint fixture run).
        let line = "a: \"\t中𝑥𝑥é😀\" ";
        assert_eq!(utf16_column(line, 12, ColumnUnit::Chars), utf16_offset_of(line, "\" ") + 1);
    }

    #[test]
    fn columns_past_the_end_clamp_and_columns_inside_a_char_land_on_its_start() {
        assert_eq!(utf16_column("ab", 99, ColumnUnit::Bytes), 2);
        assert_eq!(utf16_column("é!", 2, ColumnUnit::Bytes), 0);
        assert_eq!(utf16_column("\tx", 5, ColumnUnit::DisplayTab8), 0);
        assert_eq!(utf16_column("\tx", 9, ColumnUnit::DisplayTab8), 1);
        assert_eq!(utf16_column("😀x", 3, ColumnUnit::Utf16), 2);
        assert_eq!(utf16_column("", 0, ColumnUnit::Chars), 0);
    }

    #[test]
    fn a_file_offset_finds_its_line_and_column() {
        // npm 9 (Debian's, node 18) on this file: "Unexpected token \"i\" (0x69) in JSON at
        // position 77" (npm9-ejsonparse.txt): 😀 counts two.
        let text = "{\n  \"name\": \"x\",\n  \"description\": \"café 😀\",\n  \"version\": \"1.0.0\",\n  \"main\": index.js\n}\n";
        assert_eq!(file_position(text, 78), (4, 10));
        assert_eq!(file_position(text, 1), (0, 0));
        // CRLF: the position counts the \r; the column does not reach it.
        assert_eq!(file_position("{\r\n  x\r\n}", 6), (1, 2));
        // Past the end: the end of the last line with text.
        assert_eq!(file_position("{\n  \"a\": {\n\n", u32::MAX), (1, 8));
        assert_eq!(file_position("", 5), (0, 0));
    }

    #[test]
    fn an_underline_width_becomes_a_char_count() {
        // rustc underlines `"😀"` (4 display columns, 3 chars) after `let é = ` (8 columns).
        assert_eq!(chars_in_display_span("let é = \"😀\";", 8, 4), Some(3));
        assert_eq!(chars_in_display_span("short", 10, 2), None);
    }
}
