//! Content hashes remembered by file identity and timestamps, so a cycle reads only the files
//! that changed since the last one (git's index does the same). A file modified within
//! RACY of being hashed is not remembered: timestamps are coarse (a kernel tick), and a second
//! write in the same tick with the same size would otherwise look unchanged.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RACY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

#[derive(Default)]
struct Maps {
    /// What the last complete scan hashed.
    current: HashMap<PathBuf, (Stamp, String)>,
    /// What the running scan hashed: replaces `current` when it completes, so deleted files
    /// are forgotten.
    next: HashMap<PathBuf, (Stamp, String)>,
}

#[derive(Default)]
pub struct HashCache {
    maps: Mutex<Maps>,
}

impl HashCache {
    /// The content hash of `path`, whose metadata (not following links) is `meta`.
    pub fn hash(
        &self,
        path: &Path,
        meta: &Metadata,
        read: impl FnOnce() -> std::io::Result<String>,
    ) -> std::io::Result<String> {
        let stamp = Stamp::of(meta);
        let cached = {
            let maps = self.lock();
            maps.current.get(path).or_else(|| maps.next.get(path)).filter(|(s, _)| *s == stamp).map(|(_, h)| h.clone())
        };
        let started = SystemTime::now();
        let hash = match cached {
            Some(hash) => hash,
            None => read()?,
        };
        let settled =
            started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0) - RACY.as_nanos() as i128;
        if stamp.mtime_ns < settled && stamp.ctime_ns < settled {
            self.lock().next.insert(path.to_path_buf(), (stamp, hash.clone()));
        }
        Ok(hash)
    }

    /// A scan completed: keep only what it saw.
    pub fn scan_completed(&self) {
        let mut maps = self.lock();
        maps.current = std::mem::take(&mut maps.next);
    }

    /// A scan starts: drop leftovers of one that failed.
    pub fn scan_started(&self) {
        self.lock().next.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn hash_with(cache: &HashCache, path: &Path, reads: &Cell<u32>) -> String {
        let meta = std::fs::symlink_metadata(path).expect("meta");
        cache
            .hash(path, &meta, || {
                reads.set(reads.get() + 1);
                Ok(std::fs::read_to_string(path).expect("read"))
            })
            .expect("hash")
    }

    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(10);
        std::fs::File::options().write(true).open(path).expect("open").set_modified(old).expect("set mtime");
    }

    #[test]
    fn a_settled_file_is_read_once_and_a_changed_one_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a");
        std::fs::write(&path, "one").expect("write");
        age(&path);
        std::thread::sleep(RACY * 2); // ctime too must be settled
        let cache = HashCache::default();
        let reads = Cell::new(0);
        assert_eq!(hash_with(&cache, &path, &reads), "one");
        cache.scan_completed();
        assert_eq!(hash_with(&cache, &path, &reads), "one");
        assert_eq!(reads.get(), 1, "unchanged file not read again");
        std::fs::write(&path, "two").expect("write");
        assert_eq!(hash_with(&cache, &path, &reads), "two");
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn a_file_written_just_now_is_not_remembered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a");
        std::fs::write(&path, "one").expect("write");
        let cache = HashCache::default();
        let reads = Cell::new(0);
        hash_with(&cache, &path, &reads);
        cache.scan_completed();
        // Same size, and possibly the same coarse timestamp: must be read again.
        std::fs::write(&path, "two").expect("write");
        assert_eq!(hash_with(&cache, &path, &reads), "two");
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn files_gone_from_a_completed_scan_are_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a");
        std::fs::write(&path, "one").expect("write");
        age(&path);
        std::thread::sleep(RACY * 2);
        let cache = HashCache::default();
        let reads = Cell::new(0);
        hash_with(&cache, &path, &reads);
        cache.scan_completed();
        cache.scan_started();
        cache.scan_completed();
        assert!(cache.lock().current.is_empty());
    }
}
