#![no_main]
//! `.dockerignore` text and the paths asked about it: the patterns, then after a NUL byte one path
//! per line (without one, each pattern line is asked about as a path too).
//!
//! An error names a line of the file. For any path: the context root is never excluded; a
//! directory the walk may not enter is excluded, and so is everything below it; spelling the path
//! `./p`, `/p` or `p/` changes nothing; and a path given to `always_include` is never excluded,
//! nor is any folder above it skipped.

use docker_rebuilder::project::dockerignore::DockerIgnore;
use fuzz_support::split_nul;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (patterns, paths) = split_nul(data);
    let text = String::from_utf8_lossy(patterns);
    let paths = String::from_utf8_lossy(paths.unwrap_or(patterns));
    let lines = text.lines().count();
    let ignore = match DockerIgnore::parse(&text) {
        Ok(ignore) => ignore,
        Err(e) => {
            assert!((1..=lines).contains(&e.line), "line {} of {lines}: {e}", e.line);
            return;
        }
    };
    for root in ["", ".", "/", "./", "//."] {
        assert!(!ignore.is_excluded(root), "the root is never excluded");
        assert!(ignore.may_descend(root), "the root is always walked");
    }
    for path in paths.lines().take(16) {
        let path = path.trim_start_matches('!');
        // Spelled as the walk spells paths: no `.`, `..` or empty parts. Other spellings are
        // asked about too, but `..` is no path in the context, and `a/..` is not below `a`.
        let walkable = path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        let excluded = ignore.is_excluded(path);
        let may_descend = ignore.may_descend(path);
        let forced = ignore.clone().always_include(path);
        assert!(!forced.is_excluded(path), "{path:?} is always included");
        if !walkable {
            continue;
        }
        for spelling in [format!("./{path}"), format!("/{path}"), format!("{path}/"), format!("{path}//.")] {
            assert_eq!(ignore.is_excluded(&spelling), excluded, "{spelling:?} vs {path:?}");
        }
        if !may_descend {
            assert!(excluded, "{path:?} is skipped but not excluded");
            assert!(ignore.is_excluded(&format!("{path}/x")), "below the skipped {path:?}");
            assert!(ignore.is_excluded(&format!("{path}/{path}")), "below the skipped {path:?}");
        }
        // The folders above a path always included are walked.
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            assert!(forced.may_descend(parent), "{parent:?} must be walked to reach {path:?}");
            dir = parent;
        }
    }
});
