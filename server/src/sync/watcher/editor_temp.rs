//! Which file names are an editor's temporaries, whose events the watcher drops.

/// Files editors write beside the real one while saving (swap, backup, lock, atomic-save
/// temporaries): they are never sources, and reacting to them would rebuild mid-save.
pub fn is_editor_temp(name: &str) -> bool {
    const SUFFIXES: [&str; 8] = [".swp", ".swo", ".swx", ".swpx", "~", "___jb_tmp___", "___jb_old___", ".crswap"];
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // vim probes whether it may write in a directory with a file named "4913" (or a bit more).
    let vim_probe = digits(name) && name.parse::<u32>().is_ok_and(|n| (4913..=5000).contains(&n));
    let emacs = name.starts_with(".#") || (name.len() >= 2 && name.starts_with('#') && name.ends_with('#'));
    let hidden = name.starts_with('.');
    let kate = hidden && name.ends_with(".kate-swp");
    let gnome = name.starts_with(".goutputstream-");
    // Atomic saves: `.<name>.tmp`, `<name>.tmp.<digits>`.
    let hidden_tmp = hidden && name.len() > ".tmp".len() + 1 && name.ends_with(".tmp");
    let numbered_tmp = name.rsplit_once('.').is_some_and(|(head, tail)| digits(tail) && head.ends_with(".tmp"));
    SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
        || vim_probe
        || emacs
        || kate
        || gnome
        || hidden_tmp
        || numbered_tmp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temporaries_are_recognised() {
        for name in [
            "main.rs.swp",
            ".main.rs.swp",
            ".main.rs.swo",
            ".main.rs.swx",
            ".main.rs.swpx",
            "4913",
            "5000",
            "main.rs~",
            ".#main.rs",
            "#main.rs#",
            "main.rs___jb_tmp___",
            "main.rs___jb_old___",
            ".main.rs.kate-swp",
            "main.rs.crswap",
            ".goutputstream-AB12CD",
            ".main.rs.tmp",
            "main.rs.tmp.12345",
        ] {
            assert!(is_editor_temp(name), "{name} is an editor temporary");
        }
        for name in [
            "main.rs",
            "Dockerfile",
            ".dockerignore",
            "4912",
            "5001",
            "12345",
            "notes.tmp",
            ".tmp",
            "main.rs.tmp.x",
            "main.tmp.",
            "#",
            "#include",
            "swp",
            "main.swp.rs",
        ] {
            assert!(!is_editor_temp(name), "{name} is a source file");
        }
    }
}
