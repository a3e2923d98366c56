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
}

pub fn pack(project: &Project) -> Result<BuildContext> {
    let context = &project.plan.context;
    // The daemon needs the build files even when .dockerignore excludes them (it then
    // hides them from COPY, so the sync rules keep using the plain patterns).
    let mut ignore = project.ignore.clone().always_include(".dockerignore");
    if let Some(df) = project.plan.dockerfile_in_context() {
        ignore = ignore.always_include(&df);
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
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    Ok(BuildContext { tar: writer.finish()?, dockerfile, hashes })
}
