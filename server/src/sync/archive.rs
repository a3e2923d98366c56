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
    /// (the file may have changed since it was scanned), or None when it vanished.
    pub fn add_file(&mut self, name: &str, host: &Path, mode: u32, owner: (u32, u32)) -> Result<Option<String>> {
        let read = |e: std::io::Error| Error::io(format!("cannot read {}", host.display()), e);
        let mut file = match std::fs::File::open(host) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read(e)),
        };
        let meta = file.metadata().map_err(read)?;
        let mut content = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut content).map_err(read)?;
        let hash = Sha256::digest(&content).iter().map(|b| format!("{b:02x}")).collect();
        let mut header = header(tar::EntryType::Regular, mode, owner, content.len() as u64);
        self.append_mtime(&meta)?;
        set_mtime(&mut header, &meta);
        self.append(&mut header, name, content.as_slice())?;
        Ok(Some(hash))
    }

    pub fn add_dir(&mut self, name: &str, host: &Path, mode: u32, owner: (u32, u32)) -> Result<()> {
        let mut header = header(tar::EntryType::Directory, mode, owner, 0);
        if let Ok(meta) = std::fs::symlink_metadata(host) {
            self.append_mtime(&meta)?;
            set_mtime(&mut header, &meta);
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

    fn append_mtime(&mut self, meta: &std::fs::Metadata) -> Result<()> {
        if let Ok(since) = meta.modified().map(|m| m.duration_since(UNIX_EPOCH).unwrap_or_default()) {
            let value = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
            self.builder
                .append_pax_extensions([("mtime", value.as_bytes())])
                .map_err(|e| Error::io("cannot pack a modification time", e))?;
        }
        Ok(())
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

fn set_mtime(header: &mut tar::Header, meta: &std::fs::Metadata) {
    if let Ok(since) = meta.modified().map(|m| m.duration_since(UNIX_EPOCH).unwrap_or_default()) {
        header.set_mtime(since.as_secs());
    }
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
        let hash = w.add_file("/app/a.c", &path, 0o640, (1000, 1001)).expect("pack").expect("exists");
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
        assert_eq!(w.add_file("x", Path::new("/nonexistent/x"), 0o644, (0, 0)).expect("no error"), None);
        assert!(w.is_empty());
    }
}
