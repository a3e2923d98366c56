//! Mirroring host sources into the builder: find what changed (against the manifest the
//! builder keeps), pack it into one archive, and say what to delete.

pub mod archive;
pub mod copy_from;
pub mod extract;
pub mod hash_cache;
pub mod manifest;
pub mod owner;
pub mod walk;
pub mod watcher;

pub use manifest::{AssemblyRecord, Changes, FirstLayer, Manifest, MANIFEST_PATH};
pub use walk::{HashSource, HostTree, SourceFile, SourceKind};
