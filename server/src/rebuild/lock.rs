//! One operation on a project's builder at a time, across processes: two editors (two
//! servers), or an editor and a terminal, on the same project take turns, so their syncs,
//! builds and commits never interleave. An advisory lock on a file (flock): the kernel drops
//! it when its holder exits or crashes, so it can never be left stale. The lock files live in
//! the user's own runtime folder (`runtime_dir`): per user, so users who share an engine never
//! lock each other out (each takes turns with their own processes only).
//!
//! The lock file also records when the last build in the builder ended (`BuildMark`): every
//! process that builds holds the lock, so the file always names the latest, whichever
//! process ran it.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Rebuilder;
use crate::cancel::CancelToken;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter};

/// Held for the duration of one operation; dropping it lets the next process in.
pub(super) struct ProjectLock {
    file: File,
    path: PathBuf,
}

/// The end of the last build that ran in a builder, and the stat of the builder's manifest
/// then: while the manifest still has that stat, nobody synced (or built) there since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BuildMark {
    pub container: String,
    pub manifest: (i64, String),
    pub ended: SystemTime,
}

/// The first line of the lock file's record; another means another format (no record).
const MARK_FORMAT: &str = "docker-rebuilder build mark 1";

impl BuildMark {
    fn to_text(&self) -> String {
        let ended = self.ended.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let (size, mtime) = &self.manifest;
        format!("{MARK_FORMAT}\n{} {size} {ended} {mtime}\n", self.container)
    }

    fn parse(text: &str) -> Option<BuildMark> {
        let mut lines = text.lines();
        if lines.next()? != MARK_FORMAT {
            return None;
        }
        let mut fields = lines.next()?.splitn(4, ' ');
        let container = fields.next()?.to_string();
        let size = fields.next()?.parse().ok()?;
        let ended: u64 = fields.next()?.parse().ok()?;
        let mtime = fields.next()?.to_string();
        let ended = UNIX_EPOCH.checked_add(Duration::from_nanos(ended))?;
        Some(BuildMark { container, manifest: (size, mtime), ended })
    }
}

impl ProjectLock {
    /// The last build's mark, if one was recorded.
    pub(super) fn last_build(&self) -> Option<BuildMark> {
        let mut bytes = vec![0u8; 4096];
        let read = self.file.read_at(&mut bytes, 0).ok()?;
        BuildMark::parse(std::str::from_utf8(&bytes[..read]).ok()?)
    }

    /// Ends the lock and removes its file (`clean`: the builder is gone, and its record
    /// with it). Removed while held: a process waiting on the file finds, once it has the
    /// lock, that the path no longer names it, and takes a new one (`lock`).
    pub(super) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Records `mark` (best effort: without it, the next cycle assumes the worst).
    pub(super) fn record_build(&self, mark: &BuildMark) {
        let text = mark.to_text();
        if self.file.set_len(0).is_ok() {
            let _ = self.file.write_all_at(text.as_bytes(), 0);
        }
    }
}

const POLL: Duration = Duration::from_millis(50);

impl Rebuilder {
    /// Waits (saying so once) until no other process works on this project.
    pub(super) async fn lock(&self, cancel: Option<&CancelToken>, reporter: &mut dyn Reporter) -> Result<ProjectLock> {
        let path = lock_path(&self.project.builder_name())?;
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot use the lock file {}: {e}", path.display()),
                format!("remove it (`rm {}`) and try again", path.display()),
            )
        };
        let open = || -> Result<File> {
            let file =
                OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
            // The folder is private, so this holds; checked anyway, as a lock someone else
            // could open would be no lock.
            let meta = file.metadata().map_err(io)?;
            if !meta.is_file() || meta.uid() != crate::runtime_dir::current_uid() {
                return Err(io(std::io::Error::other("it is not a file of yours")));
            }
            Ok(file)
        };
        let mut file = open()?;
        let mut said = false;
        loop {
            match file.try_lock() {
                // A `clean` may have removed the file while this process waited on it: a lock
                // on a file no longer at the path excludes nobody; the path's file is taken.
                Ok(()) if still_at(&file, &path) => return Ok(ProjectLock { file, path }),
                Ok(()) => {
                    file = open()?;
                    continue;
                }
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

/// `file` is the one `path` names now.
fn still_at(file: &File, path: &std::path::Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

/// Per builder (so per project folder), in the user's runtime folder.
fn lock_path(builder: &str) -> Result<PathBuf> {
    Ok(crate::runtime_dir::dir()?.join(format!("{builder}.lock")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let path = lock_path(&format!("unit-test-{}", std::process::id())).expect("runtime folder");
        let open = || OpenOptions::new().create(true).truncate(false).write(true).open(&path).expect("open");
        let first = open();
        first.try_lock().expect("first holder");
        let second = open();
        assert!(matches!(second.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        second.try_lock().expect("free once the first is dropped");
        let _ = std::fs::remove_file(&path);
    }

    /// `clean` removes the file while holding it; one who waited on it meanwhile must not
    /// hold a lock on the removed file while a third process locks the new one.
    #[tokio::test]
    async fn a_lock_file_removed_by_its_holder_is_taken_anew_by_the_one_waiting() {
        let path = lock_path(&format!("unit-test-removed-{}", std::process::id())).expect("runtime folder");
        let open = || OpenOptions::new().create(true).truncate(false).write(true).open(&path).expect("open");
        let cleaner = open();
        cleaner.try_lock().expect("the cleaner holds it");
        let waiter = open();
        assert!(matches!(waiter.try_lock(), Err(TryLockError::WouldBlock)));
        ProjectLock { file: cleaner, path: path.clone() }.remove();
        assert!(!path.exists(), "removed");
        waiter.try_lock().expect("the old file is free");
        assert!(!still_at(&waiter, &path), "but no longer at the path");
        let third = open();
        third.try_lock().expect("a new file, a new lock");
        assert!(still_at(&third, &path));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_build_mark_reads_back_as_written_and_garbage_is_no_mark() {
        let mark = BuildMark {
            container: "0123abcd".to_string(),
            manifest: (512, "2026-12-02T17:22:29.123456789Z".to_string()),
            ended: UNIX_EPOCH + Duration::new(1_790_000_000, 987_654_321),
        };
        assert_eq!(BuildMark::parse(&mark.to_text()), Some(mark));
        for text in ["", "docker-rebuilder build mark 0\nx 1 2 t\n", "docker-rebuilder build mark 1\nx y 2 t\n"] {
            assert_eq!(BuildMark::parse(text), None, "{text:?}");
        }
    }
}
