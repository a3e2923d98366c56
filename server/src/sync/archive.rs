//! Tar archives for the engine: the build context, and each sync batch.
//!
//! Modification times go in PAX headers with nanoseconds: whole seconds (what `docker cp`
//! keeps) can make a file saved in the same second as its object file look older, and make
//! would then skip it.

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub struct ArchiveWriter {
    builder: tar::Builder<Vec<u8>>,
    entries: usize,
}

impl Default for ArchiveWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ArchiveWriter {
    pub fn new() -> ArchiveWriter {
        ArchiveWriter { builder: tar::Builder::new(Vec::new()), entries: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Adds the host file at `host` as `name`; returns the hash of the bytes actually packed
    /// (the file may have changed since it was scanned), or None when it vanished. With
    /// `floor`, an mtime not past it is packed as the current time instead.
    pub fn add_file(
        &mut self,
        name: &str,
        host: &Path,
        mode: u32,
        owner: (u32, u32),
        floor: Option<std::time::SystemTime>,
    ) -> Result<Option<String>> {
        let read = |e: std::io::Error| Error::io(format!("cannot read {}", host.display()), e);
        let mut file = match std::fs::File::open(host) {
            Ok(f) => f,
            Err(e) if super::vanished(&e) => return Ok(None),
            Err(e) => return Err(read(e)),
        };
        let meta = file.metadata().map_err(read)?;
        // Replaced by a folder since it was scanned: not a file to pack any more.
        if !meta.is_file() {
            return Ok(None);
        }
        let mut content = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut content).map_err(read)?;
        let hash = Sha256::digest(&content).iter().map(|b| format!("{b:02x}")).collect();
        let mut header = header(tar::EntryType::Regular, mode, owner, content.len() as u64);
        let mut mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        if floor.is_some_and(|floor| mtime <= floor) {
            mtime = std::time::SystemTime::now();
        }
        self.append_mtime(mtime)?;
        header.set_mtime(since_epoch(mtime).as_secs());
        self.append(&mut header, name, content.as_slice())?;
        Ok(Some(hash))
    }

    pub fn add_dir(&mut self, name: &str, host: &Path, mode: u32, owner: (u32, u32)) -> Result<()> {
        let mut header = header(tar::EntryType::Directory, mode, owner, 0);
        if let Ok(mtime) = std::fs::symlink_metadata(host).and_then(|m| m.modified()) {
            self.append_mtime(mtime)?;
            header.set_mtime(since_epoch(mtime).as_secs());
        }
        self.append(&mut header, &format!("{}/", name.trim_end_matches('/')), std::io::empty())
    }

    pub fn add_symlink(&mut self, name: &str, target: &str, owner: (u32, u32)) -> Result<()> {
        let mut header = header(tar::EntryType::Symlink, 0o777, owner, 0);
        self.builder
            .append_link(&mut header, name.trim_start_matches('/'), target)
            .map_err(|e| Error::io(format!("cannot pack link {name}"), e))?;
        self.entries += 1;
        Ok(())
    }

    /// Adds generated content (the manifest), stamped with the current time to the
    /// nanosecond: a stat of it then tells whether anyone rewrote it since.
    pub fn add_bytes(&mut self, name: &str, content: &[u8], mode: u32) -> Result<()> {
        let mut header = header(tar::EntryType::Regular, mode, (0, 0), content.len() as u64);
        let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let value = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        self.builder
            .append_pax_extensions([("mtime", value.as_bytes())])
            .map_err(|e| Error::io("cannot pack a modification time", e))?;
        header.set_mtime(now.as_secs());
        self.append(&mut header, name, content)
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        self.builder.into_inner().map_err(|e| Error::io("cannot finish the archive", e))
    }

    fn append(&mut self, header: &mut tar::Header, name: &str, data: impl Read) -> Result<()> {
        self.builder
            .append_data(header, name.trim_start_matches('/'), data)
            .map_err(|e| Error::io(format!("cannot pack {name}"), e))?;
        self.entries += 1;
        Ok(())
    }

    fn append_mtime(&mut self, mtime: std::time::SystemTime) -> Result<()> {
        let since = since_epoch(mtime);
        let value = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        self.builder
            .append_pax_extensions([("mtime", value.as_bytes())])
            .map_err(|e| Error::io("cannot pack a modification time", e))
    }
}

fn header(kind: tar::EntryType, mode: u32, (uid, gid): (u32, u32), size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(uid.into());
    header.set_gid(gid.into());
    header.set_size(size);
    header
}

fn since_epoch(time: std::time::SystemTime) -> std::time::Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_keep_mode_owner_and_nanosecond_mtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.c");
        std::fs::write(&path, b"int x;\n").expect("write");
        let mut w = ArchiveWriter::new();
        let hash = w.add_file("/app/a.c", &path, 0o640, (1000, 1001), None).expect("pack").expect("exists");
        assert_eq!(hash.len(), 64);
        let bytes = w.finish().expect("finish");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive.entries().expect("entries");
        let mut entry = entries.next().expect("one").expect("entry");
        assert_eq!(entry.path().expect("path").to_string_lossy(), "app/a.c");
        assert_eq!(entry.header().mode().expect("mode"), 0o640);
        assert_eq!(entry.header().uid().expect("uid"), 1000);
        assert_eq!(entry.header().gid().expect("gid"), 1001);
        let pax = entry.pax_extensions().expect("pax").expect("has pax");
        let mtime: Vec<_> = pax.filter_map(|e| e.ok()).filter(|e| e.key() == Ok("mtime")).collect();
        assert_eq!(mtime.len(), 1);
        let value = mtime[0].value().expect("utf8").to_string();
        assert!(value.contains('.') && value.split('.').nth(1).map(str::len) == Some(9), "{value}");
        let mut content = String::new();
        entry.read_to_string(&mut content).expect("read");
        assert_eq!(content, "int x;\n");
    }

    #[test]
    fn a_vanished_file_is_skipped() {
        let mut w = ArchiveWriter::new();
        assert_eq!(w.add_file("x", Path::new("/nonexistent/x"), 0o644, (0, 0), None).expect("no error"), None);
        // Replaced by a folder, or its folder by a file, since the scan: not a file any more.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("was-a-file")).expect("mkdir");
        std::fs::write(dir.path().join("now-a-file"), "x").expect("write");
        for gone in ["was-a-file", "now-a-file/below"] {
            assert_eq!(w.add_file(gone, &dir.path().join(gone), 0o644, (0, 0), None).expect("no error"), None);
        }
        assert!(w.is_empty());
    }

    /// The PAX mtime of the only entry of `bytes`, as (seconds, nanoseconds).
    fn packed_mtime(bytes: &[u8]) -> (u64, u32) {
        let mut archive = tar::Archive::new(bytes);
        let mut entries = archive.entries().expect("entries");
        let mut entry = entries.next().expect("one").expect("entry");
        let pax = entry.pax_extensions().expect("pax").expect("has pax");
        let value = pax.filter_map(|e| e.ok()).find(|e| e.key() == Ok("mtime")).expect("mtime");
        let value = value.value().expect("utf8").to_string();
        let (secs, nanos) = value.split_once('.').expect("fraction");
        (secs.parse().expect("secs"), nanos.parse().expect("nanos"))
    }

    #[test]
    fn an_mtime_not_past_the_floor_is_packed_as_now_and_a_later_one_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("main.c");
        std::fs::write(&path, b"int main;\n").expect("write");
        let written = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        std::fs::File::options().write(true).open(&path).expect("open").set_modified(written).expect("mtime");

        let pack = |floor| {
            let mut w = ArchiveWriter::new();
            w.add_file("main.c", &path, 0o644, (0, 0), floor).expect("pack").expect("exists");
            packed_mtime(&w.finish().expect("finish"))
        };
        assert_eq!(pack(None), (1_700_000_000, 123_456_789), "no floor: the host's mtime");
        let before = written - std::time::Duration::from_nanos(1);
        assert_eq!(pack(Some(before)), (1_700_000_000, 123_456_789), "past the floor: the host's mtime");
        let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).expect("epoch").as_secs();
        for floor in [written, written + std::time::Duration::from_secs(5)] {
            let (secs, _) = pack(Some(floor));
            assert!(secs >= now, "an mtime at or before the floor is packed as now: {secs} < {now}");
        }
    }
}
