//! Where a key is in a compose file's text. serde_norway's values carry no positions, so an
//! error about a key finds its line from the key's path, by indentation: exact for
//! block-style YAML (what compose files are in practice), else the nearest ancestor found.

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    /// The n-th (0-based) item of a sequence.
    Item(usize),
}

impl Seg {
    pub(super) fn key(key: &str) -> Seg {
        Seg::Key(key.to_string())
    }
}

/// The path `services.<name>` and below.
pub(super) fn service_path(name: &str, below: &[&str]) -> Vec<Seg> {
    [Seg::key("services"), Seg::key(name)].into_iter().chain(below.iter().map(|k| Seg::key(k))).collect()
}

/// `services.api.build.secrets[1]`, for messages.
pub(super) fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) if out.is_empty() => out.push_str(key),
            Seg::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Seg::Item(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The 1-based line of the deepest part of `path` found in `text`; 1 when not even the first
/// key is found.
pub(super) fn line_of(text: &str, path: &[Seg]) -> usize {
    find(text, path).1.unwrap_or(1)
}

/// The line of `path` only when all of it is found.
pub(super) fn exact_line(text: &str, path: &[Seg]) -> Option<usize> {
    match find(text, path) {
        (found, line) if found == path.len() => line,
        _ => None,
    }
}

/// The first line at or after `from` (1-based) that contains `needle`.
pub(super) fn line_containing(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.lines().enumerate().skip(from.saturating_sub(1)).find(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1)
}

/// A line's content as the indentation sees it: a `- ` item opens a nested entry at the
/// column its content starts in, so an item's first key is found like its later ones.
#[derive(Debug)]
struct Entry<'a> {
    line: usize,
    indent: usize,
    text: &'a str,
    dash: bool,
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let content = raw.trim_start_matches(' ');
        let mut indent = raw.len() - content.len();
        let mut content = content.trim_end();
        if content.is_empty() || content.starts_with('#') || content == "---" || content == "..." {
            continue;
        }
        while content == "-" || content.starts_with("- ") {
            out.push(Entry { line: i + 1, indent, text: content, dash: true });
            let rest = &content[1..];
            let after = rest.trim_start_matches(' ');
            indent += 1 + rest.len() - after.len();
            content = after;
        }
        if !content.is_empty() {
            out.push(Entry { line: i + 1, indent, text: content, dash: false });
        }
    }
    out
}

/// How many segments of `path` were found, and the line of the last one found.
fn find(text: &str, path: &[Seg]) -> (usize, Option<usize>) {
    let entries = entries(text);
    let (mut start, mut parent, mut line) = (0usize, None::<usize>, None);
    for (depth, seg) in path.iter().enumerate() {
        let inside = |e: &Entry| match parent {
            None => true,
            // A sequence may sit at its key's own indentation (`key:\n- item`).
            Some(p) => e.indent > p || (matches!(seg, Seg::Item(_)) && e.dash && e.indent == p),
        };
        let len = entries[start..].iter().position(|e| !inside(e)).unwrap_or(entries.len() - start);
        let block = &entries[start..start + len];
        let Some(child) = block.first().map(|e| e.indent) else { return (depth, line) };
        let found = match seg {
            Seg::Key(key) => block.iter().position(|e| e.indent == child && !e.dash && is_key(e.text, key)),
            Seg::Item(n) => {
                block.iter().enumerate().filter(|(_, e)| e.indent == child && e.dash).nth(*n).map(|(i, _)| i)
            }
        };
        let Some(i) = found else { return (depth, line) };
        line = Some(block[i].line);
        parent = Some(block[i].indent);
        start += i + 1;
    }
    (path.len(), line)
}

/// Whether `text` opens the mapping key `key` (plain, or single- or double-quoted).
fn is_key(text: &str, key: &str) -> bool {
    let rest = [("", ""), ("\"", "\""), ("'", "'")].iter().find_map(|(open, close)| {
        text.strip_prefix(open).and_then(|t| t.strip_prefix(key)).and_then(|t| t.strip_prefix(close))
    });
    match rest.map(|r| r.trim_start_matches(' ')) {
        Some(r) => r == ":" || r.starts_with(": ") || r.starts_with(":\t"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
name: demo
services:
  web:
    image: nginx
  api:
    # the API
    build:
      context: ./api
      secrets:
        - token
        - source: key
          target: id
    develop:
      watch:
      - path: ./src
        action: sync
      - action: rebuild
        path: package.json
  \"quoted\":
    image: x
";

    fn path(segs: &[&str]) -> Vec<Seg> {
        segs.iter().map(|s| s.parse::<usize>().map(Seg::Item).unwrap_or_else(|_| Seg::key(s))).collect()
    }

    #[test]
    fn keys_are_found_by_indentation() {
        assert_eq!(line_of(TEXT, &path(&["name"])), 2);
        assert_eq!(line_of(TEXT, &path(&["services", "web"])), 4);
        assert_eq!(line_of(TEXT, &path(&["services", "api"])), 6);
        assert_eq!(line_of(TEXT, &path(&["services", "api", "build"])), 8);
        assert_eq!(line_of(TEXT, &path(&["services", "api", "build", "context"])), 9);
        assert_eq!(line_of(TEXT, &path(&["services", "quoted"])), 20);
    }

    #[test]
    fn sequence_items_are_found_indented_or_not() {
        assert_eq!(line_of(TEXT, &path(&["services", "api", "build", "secrets", "1"])), 12);
        assert_eq!(line_of(TEXT, &path(&["services", "api", "build", "secrets", "1", "target"])), 13);
        assert_eq!(line_of(TEXT, &path(&["services", "api", "develop", "watch", "0"])), 16);
        assert_eq!(line_of(TEXT, &path(&["services", "api", "develop", "watch", "1", "path"])), 19);
    }

    #[test]
    fn a_key_is_not_taken_from_a_sibling_or_a_deeper_level() {
        // `image` of `web` is not `api`'s; `context` is below `build`, not directly in `api`.
        assert_eq!(exact_line(TEXT, &path(&["services", "api", "image"])), None);
        assert_eq!(exact_line(TEXT, &path(&["services", "api", "context"])), None);
        // Not found: the deepest ancestor that is.
        assert_eq!(line_of(TEXT, &path(&["services", "api", "build", "args"])), 8);
        assert_eq!(line_of(TEXT, &path(&["nothing"])), 1);
    }

    #[test]
    fn a_line_holding_text_is_found_from_a_line_on() {
        assert_eq!(line_containing(TEXT, 1, "image:"), Some(5));
        assert_eq!(line_containing(TEXT, 6, "image:"), Some(21));
        assert_eq!(line_containing(TEXT, 1, "absent"), None);
    }
}
