//! Syncing inside the build's own exec. The archive of changes goes to the first rebuild
//! step's stdin; a few lines of sh extract it with GNU tar, say so on stderr, then `exec` the
//! step. One exec instead of two round trips: the engine's archive endpoint alone costs
//! 60–120 ms here (it re-executes dockerd as `docker-untar` in the container's root).
//!
//! The script refuses (and the cycle falls back to the archive endpoint) when the image has
//! no GNU tar; a `tar` without nanosecond mtimes and numeric owners would not mirror exactly.

use std::time::Instant;

use crate::engine::OutputStream;

/// Printed on stderr once the script runs and found GNU tar: the archive may be sent (a
/// script that stops before reading it must not be written to) and starting the exec is over.
pub const READY: &[u8] = b"\x1edocker-rebuilder:ready\n";
/// Printed on stderr once every change is in place, right before the step starts.
pub const SYNCED: &[u8] = b"\x1edocker-rebuilder:synced\n";
/// Printed on stderr, followed by tar's own message, when the extraction failed.
pub const FAILED: &[u8] = b"\x1edocker-rebuilder:extract-failed\n";

/// Why each piece is there: `tar --version` proves GNU tar (busybox's would drop
/// nanoseconds); TAR_OPTIONS from the image must not change how we extract, but stays for the
/// build; `-b 1` so tar never waits for the rest of a 10 KB record; tar's chatter is kept off
/// the build's output; the step gets no stdin, as a plain exec has none.
const SCRIPT: &str = r#"case $(tar --version 2>/dev/null) in *"GNU tar"*) ;; *) echo "docker-rebuilder: no GNU tar" >&2; exit 125;; esac
printf '\036docker-rebuilder:ready\n' >&2
if out=$(unset TAR_OPTIONS; tar -x -b 1 -f - -C / --numeric-owner --same-owner --same-permissions 2>&1); then
  printf '\036docker-rebuilder:synced\n' >&2
else
  printf '\036docker-rebuilder:extract-failed\n%s\n' "$out" >&2
  exit 125
fi
exec "$@" </dev/null"#;

/// `argv` run behind the extraction script.
pub fn wrap(argv: &[String]) -> Vec<String> {
    ["/bin/sh", "-c", SCRIPT, "docker-rebuilder-sync"]
        .iter()
        .map(|s| s.to_string())
        .chain(argv.iter().cloned())
        .collect()
}

/// Whether a `user[:group]` is root, the only user that can extract with every owner.
pub fn is_root(user: &str) -> bool {
    let mut parts = user.splitn(2, ':');
    let is = |p: Option<&str>| matches!(p, None | Some("") | Some("0") | Some("root"));
    !user.is_empty() && matches!(parts.next(), Some("0") | Some("root")) && is(parts.next())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing decisive seen yet.
    Pending,
    /// Everything was extracted; what follows is the step's own output.
    Synced,
    /// tar failed; its message.
    Failed(String),
    /// The output ended without a verdict: the script could not run (no shell) or found no
    /// GNU tar, and extracted nothing. What it printed instead.
    Refused(String),
}

/// Reads the wrapped command's output: finds the script's verdict, holds back everything
/// printed before it (the script's, never the build's), and passes the rest on.
#[derive(Debug)]
pub struct ExtractWatch {
    verdict: Verdict,
    held: Vec<u8>,
    held_stdout: Vec<u8>,
    pub ready_at: Option<Instant>,
    pub synced_at: Option<Instant>,
}

impl Default for ExtractWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl ExtractWatch {
    pub fn new() -> ExtractWatch {
        ExtractWatch {
            verdict: Verdict::Pending,
            held: Vec::new(),
            held_stdout: Vec::new(),
            ready_at: None,
            synced_at: None,
        }
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Feeds a chunk of output; calls `pass` with what belongs to the build.
    pub fn feed(&mut self, stream: OutputStream, bytes: &[u8], pass: &mut dyn FnMut(OutputStream, &[u8])) {
        match &mut self.verdict {
            Verdict::Synced => return pass(stream, bytes),
            Verdict::Failed(message) => {
                if stream == OutputStream::Stderr {
                    message.push_str(&String::from_utf8_lossy(bytes));
                }
                return;
            }
            // Only `outcome` makes it, once the output has ended.
            Verdict::Refused(_) => return,
            Verdict::Pending => {}
        }
        if stream == OutputStream::Stdout {
            self.held_stdout.extend_from_slice(bytes);
            return;
        }
        self.held.extend_from_slice(bytes);
        if self.ready_at.is_none() && self.held.starts_with(READY) {
            self.ready_at = Some(Instant::now());
            self.held.drain(..READY.len());
        }
        if self.held.starts_with(SYNCED) {
            self.verdict = Verdict::Synced;
            self.synced_at = Some(Instant::now());
            let rest = self.held.split_off(SYNCED.len());
            self.held.clear();
            if !self.held_stdout.is_empty() {
                pass(OutputStream::Stdout, &std::mem::take(&mut self.held_stdout));
            }
            if !rest.is_empty() {
                pass(OutputStream::Stderr, &rest);
            }
        } else if self.held.starts_with(FAILED) {
            let message = String::from_utf8_lossy(&self.held[FAILED.len()..]).into_owned();
            self.verdict = Verdict::Failed(message);
            self.held.clear();
        }
    }

    /// The verdict once the output has ended: still pending means refused.
    pub fn outcome(self) -> Verdict {
        match self.verdict {
            Verdict::Pending => {
                let mut text = String::from_utf8_lossy(&self.held).into_owned();
                text.push_str(&String::from_utf8_lossy(&self.held_stdout));
                Verdict::Refused(text.trim().trim_start_matches("docker-rebuilder: ").to_string())
            }
            verdict => verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[(OutputStream, &[u8])]) -> (ExtractWatch, Vec<(OutputStream, Vec<u8>)>) {
        let mut watch = ExtractWatch::new();
        let mut passed = Vec::new();
        for (stream, bytes) in chunks {
            watch.feed(*stream, bytes, &mut |s, b| passed.push((s, b.to_vec())));
        }
        (watch, passed)
    }

    #[test]
    fn the_marker_is_stripped_and_the_build_output_passes() {
        let (watch, passed) = run(&[
            (OutputStream::Stderr, b"\x1edocker-rebuilder:ready\n\x1edocker-rebuilder:syn"),
            (OutputStream::Stderr, b"ced\nsrc/a.c:1:1: error: x\n"),
            (OutputStream::Stdout, b"cc -c a.c\n"),
        ]);
        assert_eq!(watch.verdict(), &Verdict::Synced);
        assert!(watch.ready_at.is_some() && watch.synced_at.is_some());
        assert_eq!(
            passed,
            vec![
                (OutputStream::Stderr, b"src/a.c:1:1: error: x\n".to_vec()),
                (OutputStream::Stdout, b"cc -c a.c\n".to_vec())
            ]
        );
    }

    #[test]
    fn a_failed_extraction_keeps_tar_s_message_and_passes_nothing() {
        let (watch, passed) = run(&[
            (OutputStream::Stderr, b"\x1edocker-rebuilder:ready\n"),
            (OutputStream::Stderr, b"\x1edocker-rebuilder:extract-failed\ntar: src/a.c: Cannot open: "),
            (OutputStream::Stderr, b"No space left on device\n"),
        ]);
        assert_eq!(watch.verdict(), &Verdict::Failed("tar: src/a.c: Cannot open: No space left on device\n".into()));
        assert!(passed.is_empty());
    }

    #[test]
    fn without_a_shell_or_gnu_tar_nothing_passes_and_the_reason_is_kept() {
        let (watch, passed) = run(&[(OutputStream::Stderr, b"docker-rebuilder: no GNU tar\n")]);
        assert_eq!(watch.verdict(), &Verdict::Pending);
        assert!(watch.ready_at.is_none(), "nothing may be written to a script that will not read it");
        assert!(passed.is_empty());
        assert_eq!(watch.outcome(), Verdict::Refused("no GNU tar".into()));

        let oci = b"exec: \"/bin/sh\": stat /bin/sh: no such file or directory\n";
        let (watch, passed) = run(&[(OutputStream::Stdout, oci)]);
        assert!(passed.is_empty());
        assert_eq!(watch.outcome(), Verdict::Refused(String::from_utf8_lossy(oci).trim().to_string()));
    }

    #[test]
    fn root_is_recognised_in_every_spelling() {
        for user in ["0", "root", "0:0", "root:root", "root:0", "0:"] {
            assert!(is_root(user), "{user}");
        }
        for user in ["", "1000", "dev", "0:1000", "root:dev", "rooty"] {
            assert!(!is_root(user), "{user}");
        }
    }

    #[test]
    fn the_step_runs_as_the_script_s_arguments() {
        let argv = wrap(&["/bin/sh".to_string(), "-c".to_string(), "make -j2".to_string()]);
        assert_eq!(&argv[..2], ["/bin/sh", "-c"]);
        assert_eq!(&argv[3..], ["docker-rebuilder-sync", "/bin/sh", "-c", "make -j2"]);
    }
}
