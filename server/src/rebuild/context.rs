//! The build context archive for a full `docker build`, as the docker CLI would send it
//! (.dockerignore applied, Dockerfile and .dockerignore always included), recording the hash
//! of every file exactly as sent so the new builder's manifest matches its content.

use std::collections::HashMap;

use crate::error::Result;
use crate::project::Project;
use crate::sync::archive::ArchiveWriter;
use crate::sync::walk::{hash_bytes, link_escapes, mode_of, walk_context};

/// Name of the Dockerfile in the archive when it lives outside the context.
const OUTSIDE_DOCKERFILE: &str = ".docker-rebuilder.Dockerfile";

pub struct BuildContext {
    pub tar: Vec<u8>,
    /// Dockerfile path inside the archive.
    pub dockerfile: String,
    /// Context-relative path → content hash (files and links).
    pub hashes: HashMap<String, String>,
    /// Paths in the archive for the builder only, not part of the context (see
    /// `BuildKitRequest::builder_only`).
    pub builder_only: Vec<String>,
}

pub fn pack(project: &Project) -> Result<BuildContext> {
    let context = &project.plan.context;
    // The daemon needs the build files even when .dockerignore excludes them (it then
    // hides them from COPY, so the sync rules keep using the plain patterns).
    let mut ignore = project.ignore.clone().always_include(".dockerignore");
    let mut builder_only: Vec<String> = Vec::new();
    if project.ignore.is_excluded(".dockerignore") {
        builder_only.push(".dockerignore".to_string());
    }
    if let Some(df) = project.plan.dockerfile_in_context() {
        ignore = ignore.always_include(&df);
        if project.ignore.is_excluded(&df) {
            // And the folders on its way that the docker CLI would not send either.
            let folders = df.match_indices('/').map(|(i, _)| &df[..i]);
            let unsent = folders.filter(|f| project.ignore.is_excluded(f) && !project.ignore.may_descend(f));
            builder_only.extend(unsent.map(str::to_string));
            builder_only.push(df);
        }
    }
    let mut writer = ArchiveWriter::new();
    let mut hashes = HashMap::new();
    let mut entries = Vec::new();
    // Names that are not UTF-8 are left out here too (the cycle warns), so image and builder agree.
    walk_context(
        context,
        &ignore,
        "",
        &mut |rel, meta| {
            if !rel.is_empty() {
                entries.push((rel.to_string(), meta.clone()));
            }
        },
        &mut |_| {},
    )?;
    for (rel, meta) in entries {
        let path = context.join(&rel);
        let mode = mode_of(&meta);
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&path) {
                let target = target.to_string_lossy().into_owned();
                if link_escapes(&rel, &target) {
                    // Refused like in a sync (the cycle warns), so image and builder agree.
                    continue;
                }
                writer.add_symlink(&rel, &target, (0, 0))?;
                hashes.insert(rel, hash_bytes(target.as_bytes()));
            }
        } else if meta.is_dir() {
            writer.add_dir(&rel, &path, mode, (0, 0))?;
        } else if meta.is_file() {
            if let Some(hash) = writer.add_file(&rel, &path, mode, (0, 0), None)? {
                hashes.insert(rel, hash);
            }
        }
    }
    let dockerfile = match project.plan.dockerfile_in_context() {
        Some(rel) => rel,
        None => {
            let text = std::fs::read(&project.plan.dockerfile).map_err(|e| {
                crate::error::Error::io(format!("cannot read {}", project.plan.dockerfile.display()), e)
            })?;
            writer.add_bytes(OUTSIDE_DOCKERFILE, &text, 0o644)?;
            builder_only.push(OUTSIDE_DOCKERFILE.to_string());
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    Ok(BuildContext { tar: writer.finish()?, dockerfile, hashes, builder_only })
}

/// The context archive `tar` with the file at `path` holding `content` instead (everything
/// else as it was: entries are copied raw, PAX headers and their nanosecond mtimes included).
pub fn replace_file(tar: &[u8], path: &str, content: &[u8]) -> Result<Vec<u8>> {
    let broken = |e: std::io::Error| crate::error::Error::io("cannot rewrite the build context archive".to_string(), e);
    let mut archive = tar::Archive::new(tar);
    let mut out = tar::Builder::new(Vec::with_capacity(tar.len() + content.len()));
    for entry in archive.entries().map_err(broken)?.raw(true) {
        let mut entry = entry.map_err(broken)?;
        let mut header = entry.header().clone();
        let name = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        let regular = entry.header().entry_type() == tar::EntryType::Regular;
        if regular && name.trim_start_matches("./") == path {
            header.set_size(content.len() as u64);
            header.set_cksum();
            out.append(&header, content).map_err(broken)?;
        } else {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(broken)?;
            out.append(&header, data.as_slice()).map_err(broken)?;
        }
    }
    out.into_inner().map_err(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_is_replaced_and_every_other_entry_kept_with_its_pax_mtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), "FROM a\nRUN b\n").expect("write");
        std::fs::write(dir.path().join("main.c"), "int main;").expect("write");
        let mut writer = ArchiveWriter::new();
        writer.add_file("Dockerfile", &dir.path().join("Dockerfile"), 0o644, (0, 0), None).expect("add");
        writer.add_file("main.c", &dir.path().join("main.c"), 0o600, (1, 2), None).expect("add");
        let tar = writer.finish().expect("tar");
        let out = replace_file(&tar, "Dockerfile", b"FROM a\n").expect("rewritten");
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            let pax_mtime = entry
                .pax_extensions()
                .ok()
                .flatten()
                .is_some_and(|mut p| p.any(|e| e.ok().is_some_and(|e| e.key() == Ok("mtime"))));
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            seen.push((name, text, entry.header().mode().expect("mode"), pax_mtime));
        }
        assert_eq!(seen[0].0, "Dockerfile");
        assert_eq!(seen[0].1, "FROM a\n");
        assert_eq!((seen[1].1.as_str(), seen[1].2, seen[1].3), ("int main;", 0o600, true), "{seen:?}");
    }
}
