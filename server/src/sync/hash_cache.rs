//! Content hashes remembered by file identity and timestamps, so a cycle reads only the files
//! that changed since the last one (git's index does the same). A file modified within
//! RACY of being hashed is not remembered: timestamps are coarse (a kernel tick), and a second
//! write in the same tick with the same size would otherwise look unchanged.
//!
//! It is kept in a file between processes (`save`/`load`: a CLI run, an editor restarted): a
//! stamp names one content whichever process took it, as the ctime in it cannot be set back.
//!
//! Within a process, the projects that scan one build context share what they hashed
//! (`HashCache::shared`): compose services built from one folder, a multi-stage image's
//! builders. Each is a scanner of its own, whose completed scan replaces only its own entries,
//! so one never makes another read its files again; a file one of them hashed is read once.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

type Hashes = HashMap<PathBuf, (Stamp, String)>;

#[derive(Default)]
struct Maps {
    /// What each scanner's last complete scan hashed.
    current: HashMap<String, Hashes>,
    /// What each scanner's running scan hashed: replaces its `current` when it completes, so
    /// deleted files are forgotten.
    next: HashMap<String, Hashes>,
}

impl Maps {
    fn find(&self, path: &Path, stamp: Stamp) -> Option<String> {
        self.current
            .values()
            .chain(self.next.values())
            .find_map(|m| m.get(path).filter(|(s, _)| *s == stamp))
            .map(|(_, h)| h.clone())
    }
}

/// Maps shared by the projects of one build context in this process (held while one lives).
fn registry() -> &'static Mutex<HashMap<PathBuf, std::sync::Weak<Mutex<Maps>>>> {
    static SHARED: std::sync::OnceLock<Mutex<HashMap<PathBuf, std::sync::Weak<Mutex<Maps>>>>> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(Mutex::default)
}

#[derive(Default)]
pub struct HashCache {
    maps: std::sync::Arc<Mutex<Maps>>,
    /// Whose scans these are (a builder's name); empty for a cache of its own.
    scanner: String,
    /// Files read to hash them, ever.
    reads: AtomicUsize,
    /// A scan completed since the last `save`.
    unsaved: AtomicBool,
}

/// The first line of a saved cache; another line means another format (the file is ignored).
const FORMAT: &str = "docker-rebuilder hash cache 1";

impl HashCache {
    /// A cache for `scanner` that shares what it hashes with every other scanner of `context`
    /// in this process.
    pub fn shared(context: &Path, scanner: &str) -> HashCache {
        let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, maps| maps.strong_count() > 0);
        let maps = match all.get(context).and_then(std::sync::Weak::upgrade) {
            Some(maps) => maps,
            None => {
                let maps = std::sync::Arc::default();
                all.insert(context.to_path_buf(), std::sync::Arc::downgrade(&maps));
                maps
            }
        };
        HashCache { maps, scanner: scanner.to_string(), ..HashCache::default() }
    }

    /// The content hash of `path`, whose metadata (not following links) is `meta`.
    pub fn hash(
        &self,
        path: &Path,
        meta: &Metadata,
        read: impl FnOnce() -> std::io::Result<String>,
    ) -> std::io::Result<String> {
        let stamp = Stamp::of(meta);
        let cached = self.lock().find(path, stamp);
        let started = SystemTime::now();
        let hash = match cached {
            Some(hash) => hash,
            None => {
                self.reads.fetch_add(1, Ordering::Relaxed);
                read()?
            }
        };
        let settled =
            started.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0) - RACY.as_nanos() as i128;
        if stamp.mtime_ns < settled && stamp.ctime_ns < settled {
            self.lock().next.entry(self.scanner.clone()).or_default().insert(path.to_path_buf(), (stamp, hash.clone()));
        }
        Ok(hash)
    }

    /// A scan completed: keep only what it saw.
    pub fn scan_completed(&self) {
        let mut maps = self.lock();
        let scanned = maps.next.remove(&self.scanner).unwrap_or_default();
        maps.current.insert(self.scanner.clone(), scanned);
        self.unsaved.store(true, Ordering::Relaxed);
    }

    /// A scan starts: drop leftovers of one that failed.
    pub fn scan_started(&self) {
        self.lock().next.remove(&self.scanner);
    }

    /// How many files were read to hash them, so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// Takes what a completed scan of another process remembered (see `save`). A missing,
    /// unreadable or foreign file is no cache: every file is read, as without one.
    pub fn load(&self, file: &Path) {
        let Ok(text) = std::fs::read_to_string(file) else { return };
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return;
        }
        let entries = lines.filter_map(|line| {
            let mut fields = line.splitn(7, ' ');
            let mut number = || fields.next().and_then(|f| f.parse::<i128>().ok());
            let (dev, ino, size, mtime_ns, ctime_ns) = (number()?, number()?, number()?, number()?, number()?);
            let stamp = Stamp {
                dev: u64::try_from(dev).ok()?,
                ino: u64::try_from(ino).ok()?,
                size: u64::try_from(size).ok()?,
                mtime_ns,
                ctime_ns,
            };
            let hash = fields.next()?.to_string();
            let path = PathBuf::from(fields.next()?);
            Some((path, (stamp, hash)))
        });
        let mut maps = self.lock();
        let own = maps.current.entry(self.scanner.clone()).or_default();
        if own.is_empty() {
            *own = entries.collect();
        }
    }

    /// Writes what the last completed scan remembered to `file` (made whole, then renamed),
    /// unless that was written already.
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        if !self.unsaved.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        use std::fmt::Write as _;
        let maps = self.lock();
        let empty = Hashes::new();
        let own = maps.current.get(&self.scanner).unwrap_or(&empty);
        let mut text = String::with_capacity(FORMAT.len() + 1 + own.len() * 160);
        text.push_str(FORMAT);
        text.push('\n');
        for (path, (s, hash)) in own {
            let Some(path) = path.to_str().filter(|p| !p.contains('\n')) else { continue };
            let _ = writeln!(text, "{} {} {} {} {} {hash} {path}", s.dev, s.ino, s.size, s.mtime_ns, s.ctime_ns);
        }
        drop(maps);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut partial = file.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        let written = std::fs::File::create(&partial).and_then(|mut f| f.write_all(text.as_bytes()));
        match written.and_then(|()| std::fs::rename(&partial, file)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                self.unsaved.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
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
    fn a_saved_cache_spares_the_next_process_the_reads_and_still_sees_every_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (same, edited, touched) = (dir.path().join("same"), dir.path().join("edited"), dir.path().join("touched"));
        let spaced = dir.path().join("a name with spaces");
        for path in [&same, &edited, &touched, &spaced] {
            std::fs::write(path, "one").expect("write");
            age(path);
        }
        std::thread::sleep(RACY * 2);
        let first = HashCache::default();
        let reads = Cell::new(0);
        for path in [&same, &edited, &touched, &spaced] {
            hash_with(&first, path, &reads);
        }
        first.scan_completed();
        let file = dir.path().join("cache/hashes");
        first.save(&file).expect("save");

        // Same size, and the old mtime put back: only the ctime tells, and it does.
        std::fs::write(&edited, "two").expect("write");
        age(&edited);
        // Rewritten with the same content: read again, same hash.
        std::fs::write(&touched, "one").expect("write");
        let second = HashCache::default();
        second.load(&file);
        let reads = Cell::new(0);
        assert_eq!(hash_with(&second, &same, &reads), "one");
        assert_eq!(hash_with(&second, &spaced, &reads), "one");
        assert_eq!(reads.get(), 0, "unchanged files are not read");
        assert_eq!(hash_with(&second, &edited, &reads), "two");
        assert_eq!(hash_with(&second, &touched, &reads), "one");
        assert_eq!(reads.get(), 2);
        assert_eq!(second.reads(), 2);

        // Another format, or garbage: no cache, every file read.
        for text in ["docker-rebuilder hash cache 0\n1 2 3 4 5 h x\n", "\u{0}\u{1} nonsense\n"] {
            std::fs::write(&file, text).expect("write");
            let third = HashCache::default();
            third.load(&file);
            assert!(third.lock().current.values().all(HashMap::is_empty), "{text:?}");
        }
        let missing = HashCache::default();
        missing.load(&dir.path().join("nothing here"));
        assert!(missing.lock().current.values().all(HashMap::is_empty));
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
        assert!(cache.lock().current.values().all(HashMap::is_empty));
    }

    #[test]
    fn scanners_of_one_context_share_what_they_hash_and_keep_their_own_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for path in [&a, &b] {
            std::fs::write(path, "one").expect("write");
            age(path);
        }
        std::thread::sleep(RACY * 2);
        let api = HashCache::shared(dir.path(), "api");
        let worker = HashCache::shared(dir.path(), "worker");
        let reads = Cell::new(0);
        hash_with(&api, &a, &reads);
        api.scan_completed();
        // The other service's scan finds `a` hashed, and reads only its own `b`.
        hash_with(&worker, &a, &reads);
        hash_with(&worker, &b, &reads);
        worker.scan_completed();
        assert_eq!(reads.get(), 2, "each file read once");
        assert_eq!((api.reads(), worker.reads()), (1, 1));
        // A scan of `api` that saw only `a` keeps `b` for `worker`.
        api.scan_started();
        hash_with(&api, &a, &reads);
        api.scan_completed();
        hash_with(&worker, &b, &reads);
        assert_eq!(reads.get(), 2, "nothing read again");
        // Another context shares nothing.
        let other = HashCache::shared(&dir.path().join("elsewhere"), "api");
        hash_with(&other, &a, &reads);
        assert_eq!(reads.get(), 3);
    }
}
