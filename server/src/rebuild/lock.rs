//! One operation on a project's builder at a time, across processes: two editors (two
//! servers), or an editor and a terminal, on the same project take turns, so their syncs,
//! builds and commits never interleave. An advisory lock on a file (flock): the kernel drops
//! it when its holder exits or crashes, so it can never be left stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use super::Rebuilder;
use crate::cancel::CancelToken;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter};

/// Held for the duration of one operation; dropping it lets the next process in.
pub(super) struct ProjectLock {
    _file: File,
}

const POLL: Duration = Duration::from_millis(50);

impl Rebuilder {
    /// Waits (saying so once) until no other process works on this project.
    pub(super) async fn lock(&self, cancel: Option<&CancelToken>, reporter: &mut dyn Reporter) -> Result<ProjectLock> {
        let path = lock_path(&self.project.builder_name());
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot use the lock file {}: {e}", path.display()),
                "check that the temporary folder is writable (TMPDIR)",
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(ProjectLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            if !said {
                reporter.report(Event::Note(
                    "another docker-rebuilder (an editor or a terminal) is working on this project; waiting for it"
                        .to_string(),
                ));
                said = true;
            }
            if cancel.is_some_and(|c| c.is_cancelled()) {
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    "cancelled while waiting for another docker-rebuilder",
                    "",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Per builder (so per project folder), in the machine's temporary folder.
fn lock_path(builder: &str) -> PathBuf {
    std::env::temp_dir().join("docker-rebuilder").join(format!("{builder}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let path = lock_path(&format!("unit-test-{}", std::process::id()));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let open = || OpenOptions::new().create(true).truncate(false).write(true).open(&path).expect("open");
        let first = open();
        first.try_lock().expect("first holder");
        let second = open();
        assert!(matches!(second.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        second.try_lock().expect("free once the first is dropped");
        let _ = std::fs::remove_file(&path);
    }
}
