//! The manifest the builder keeps at `MANIFEST_PATH`: what every mirrored path held when the
//! builder last saw it. It lives inside the container (and so in every committed image), so
//! any process, after any restart, can tell what changed by comparing content with the host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::walk::{HostTree, SourceKind};

pub const MANIFEST_PATH: &str = "/.docker-rebuilder/manifest.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// Hash of what the image's recipe was (Dockerfile, .dockerignore, config, target, args).
    pub recipe: String,
    /// Sources were synced but have not built cleanly yet: the image lags behind them.
    #[serde(default)]
    pub pending: bool,
    pub entries: BTreeMap<String, Entry>,
    /// The size of the first commit's layer from the builder named here: what one edit costs,
    /// against which a grown diff is judged (see `Rebuilder::rebase_if_large`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_layer: Option<FirstLayer>,
    /// In the first builder of an image whose stage is replayed: what the full build made
    /// for the replay (see `rebuild/replay.rs`). Carried from manifest to manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembly: Option<AssemblyRecord>,
}

/// What the replay of the image's stage starts from, recorded by the full build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssemblyRecord {
    /// The image of the stage's instructions before the replay point.
    pub base: String,
    /// The config `docker build` gave the image: every replayed commit keeps it.
    pub config: bollard::models::ImageConfig,
    /// Images of stages without a builder that the replay copies from, by stage index.
    pub stage_images: BTreeMap<usize, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstLayer {
    pub builder: String,
    pub bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `f` file, `d` directory, `l` symlink.
    #[serde(rename = "k")]
    pub kind: char,
    #[serde(rename = "h", default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    #[serde(rename = "m")]
    pub mode: u32,
    /// The path comes from a COPY whose change needs a fresh `docker build`.
    #[serde(rename = "fb", default, skip_serializing_if = "std::ops::Not::not")]
    pub full_build: bool,
}

/// What a sync must do to make the container's tree equal the host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Container paths to (re)write, parents before children.
    pub upload: Vec<String>,
    /// Container paths to remove (only the top-most of a removed subtree).
    pub delete: Vec<String>,
    /// Changed paths that a sync cannot mirror (their COPY feeds an earlier RUN).
    pub needs_full_build: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upload.is_empty() && self.delete.is_empty()
    }
}

impl Manifest {
    /// The manifest describing `tree`, with full-build flags from `full_build_rule`.
    pub fn of(tree: &HostTree, recipe: &str) -> Manifest {
        let entries = tree
            .entries
            .iter()
            .map(|(path, f)| {
                let kind = match f.kind {
                    SourceKind::File => 'f',
                    SourceKind::Dir => 'd',
                    SourceKind::Symlink(_) => 'l',
                };
                (path.clone(), Entry { kind, hash: f.hash.clone(), mode: f.mode, full_build: f.full_build.is_some() })
            })
            .collect();
        Manifest {
            version: VERSION,
            recipe: recipe.to_string(),
            pending: false,
            entries,
            first_layer: None,
            assembly: None,
        }
    }

    /// A hash of the mirrored tree alone (not of the flags): what an image built from these
    /// sources is labelled with.
    pub fn sources_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(serde_json::to_vec(&self.entries).unwrap_or_default());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        serde_json::from_slice::<Manifest>(bytes).ok().filter(|m| m.version == VERSION)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// What turns the container (described by `self`) into `host`.
    pub fn diff(&self, host: &Manifest) -> Changes {
        let mut changes = Changes::default();
        for (path, entry) in &host.entries {
            if self.entries.get(path) != Some(entry) {
                if entry.full_build || self.entries.get(path).is_some_and(|e| e.full_build) {
                    changes.needs_full_build.push(path.clone());
                }
                changes.upload.push(path.clone());
            }
        }
        let mut deleted_dirs: Vec<&str> = Vec::new();
        for (path, entry) in &self.entries {
            if host.entries.contains_key(path) {
                continue;
            }
            if entry.full_build {
                changes.needs_full_build.push(path.clone());
            }
            // BTreeMap order puts a folder right before its contents.
            if deleted_dirs.iter().any(|d| path.starts_with(d) && path.as_bytes().get(d.len()) == Some(&b'/')) {
                continue;
            }
            if entry.kind == 'd' {
                deleted_dirs.push(path);
            }
            changes.delete.push(path.clone());
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(entries: &[(&str, char, &str)]) -> Manifest {
        Manifest {
            version: VERSION,
            recipe: String::new(),
            pending: false,
            first_layer: None,
            assembly: None,
            entries: entries
                .iter()
                .map(|(p, k, h)| {
                    (p.to_string(), Entry { kind: *k, hash: h.to_string(), mode: 0o644, full_build: false })
                })
                .collect(),
        }
    }

    #[test]
    fn an_edited_file_is_uploaded_and_nothing_else() {
        let old = manifest(&[("/a/x.c", 'f', "1"), ("/a/y.c", 'f', "2")]);
        let new = manifest(&[("/a/x.c", 'f', "1"), ("/a/y.c", 'f', "3")]);
        assert_eq!(old.diff(&new), Changes { upload: vec!["/a/y.c".into()], ..Default::default() });
    }

    #[test]
    fn a_deleted_folder_is_one_delete() {
        let old = manifest(&[("/a/d", 'd', ""), ("/a/d/x", 'f', "1"), ("/a/d/y", 'f', "1"), ("/a/dz", 'f', "1")]);
        let new = manifest(&[]);
        assert_eq!(old.diff(&new).delete, vec!["/a/d".to_string(), "/a/dz".to_string()]);
    }

    #[test]
    fn a_mode_change_is_a_change() {
        let old = manifest(&[("/run.sh", 'f', "1")]);
        let mut new = old.clone();
        new.entries.get_mut("/run.sh").expect("entry").mode = 0o755;
        assert_eq!(old.diff(&new).upload, vec!["/run.sh".to_string()]);
    }

    #[test]
    fn no_change_is_empty() {
        let m = manifest(&[("/a", 'f', "1")]);
        assert!(m.diff(&m.clone()).is_empty());
    }

    #[test]
    fn a_change_under_a_full_build_copy_is_flagged() {
        let old = manifest(&[("/app/package.json", 'f', "1")]);
        let mut new = manifest(&[("/app/package.json", 'f', "2")]);
        new.entries.values_mut().for_each(|e| e.full_build = true);
        assert_eq!(old.diff(&new).needs_full_build, vec!["/app/package.json".to_string()]);
    }

    #[test]
    fn the_manifest_round_trips_through_json() {
        let m = manifest(&[("/a b/ü\nx", 'f', "1"), ("/l", 'l', "t")]);
        assert_eq!(Manifest::parse(&m.to_json()), Some(m));
    }
}
