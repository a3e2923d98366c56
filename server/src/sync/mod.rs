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

/// Whether a host read failed because the path changed under us: gone, now a folder where a
/// file was, or a parent now a file. The user is editing; the watcher's news of that change
/// starts the next cycle, which sees the path as it is then. (An error would fail the cycle
/// for an edit that is perfectly fine.)
pub(crate) fn vanished(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{IsADirectory, NotADirectory, NotFound};
    matches!(e.kind(), NotFound | IsADirectory | NotADirectory)
}

pub use manifest::{AssemblyRecord, Changes, FirstLayer, Manifest, MANIFEST_PATH};
pub use walk::{HashSource, HostTree, SourceFile, SourceKind};
