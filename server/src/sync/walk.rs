//! Walk the build context through the sync rules: every host file that the image's COPY/ADD
//! instructions would have copied, keyed by where it lands in the container.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::dockerignore::DockerIgnore;
use crate::project::glob::{glob_segment_matches, has_glob};
use crate::project::plan::{Plan, SyncRule};
use crate::sync::hash_cache::HashCache;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    File,
    Dir,
    Symlink(String),
}

/// One host file as it should appear in the container.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub host: PathBuf,
    /// Context-relative path.
    pub rel: String,
    pub kind: SourceKind,
    /// Permission bits.
    pub mode: u32,
    /// Content hash (files), target hash (links), empty (directories).
    pub hash: String,
    /// Index of the sync rule that maps it.
    pub rule: usize,
    /// A COPY before a RUN that a sync cannot replay takes it (possibly besides a later COPY
    /// to the same place, like `COPY package.json ./` then `COPY . .`): a change needs a full
    /// build. The index of that rule.
    pub full_build: Option<usize>,
}

/// The host side of the mirror: container path → source.
#[derive(Debug, Clone, Default)]
pub struct HostTree {
    pub entries: BTreeMap<String, SourceFile>,
    /// Links left out because they point outside the build context: context-relative path →
    /// target. Sending them would hand the container a path into the host's layout.
    pub refused_links: BTreeMap<String, String>,
    /// Names left out because they are not UTF-8 (shown lossily).
    pub refused_names: std::collections::BTreeSet<String>,
}

/// Where content hashes come from.
pub enum HashSource<'a> {
    /// Read and hash each file now.
    Disk,
    /// Hashes recorded while the image's build context was packed (context-relative path →
    /// hash); files not in it were not in the image and are left out.
    Recorded(&'a HashMap<String, String>),
    /// Hash files whose identity or timestamps changed since the cache saw them.
    Cached(&'a HashCache),
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

#[cfg(unix)]
pub fn mode_of(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// Every context entry below `root_rel` (itself included) that .dockerignore keeps, in
/// path order, without following links. Names that are not UTF-8 go to `not_utf8` (lossily
/// printed) instead: paths are strings throughout, so such a file cannot be mirrored.
pub fn walk_context(
    context: &Path,
    ignore: &DockerIgnore,
    root_rel: &str,
    visit: &mut dyn FnMut(&str, &fs::Metadata),
    not_utf8: &mut dyn FnMut(String),
) -> Result<()> {
    let root = if root_rel.is_empty() { context.to_path_buf() } else { context.join(root_rel) };
    // A source below a linked folder (`src/x` with `src` a link) would be read through the
    // link, possibly out of the context: such a source is not there for us.
    let mut prefix = context.to_path_buf();
    for part in root_rel.split('/').filter(|p| !p.is_empty()).collect::<Vec<_>>().iter().rev().skip(1).rev() {
        prefix.push(part);
        if fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(());
        }
    }
    let meta = match fs::symlink_metadata(&root) {
        Ok(m) => m,
        Err(e) if super::vanished(&e) => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot read {}", root.display()), e)),
    };
    walk_entry(context, ignore, root_rel, &meta, visit, not_utf8)
}

fn walk_entry(
    context: &Path,
    ignore: &DockerIgnore,
    rel: &str,
    meta: &fs::Metadata,
    visit: &mut dyn FnMut(&str, &fs::Metadata),
    not_utf8: &mut dyn FnMut(String),
) -> Result<()> {
    let excluded = !rel.is_empty() && ignore.is_excluded(rel);
    if !excluded {
        visit(rel, meta);
    }
    if !meta.is_dir() || (excluded && !ignore.may_descend(rel)) {
        return Ok(());
    }
    let dir = if rel.is_empty() { context.to_path_buf() } else { context.join(rel) };
    let mut names: Vec<String> = Vec::new();
    let read = match fs::read_dir(&dir) {
        Ok(read) => read,
        // Replaced by a file, or deleted, while we walked: the next cycle sees what it is.
        Err(e) if !rel.is_empty() && super::vanished(&e) => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
    };
    for entry in read {
        let entry = entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        match entry.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(name) => {
                let shown = name.to_string_lossy();
                not_utf8(if rel.is_empty() { shown.into_owned() } else { format!("{rel}/{shown}") });
            }
        }
    }
    names.sort();
    for name in names {
        let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let path = context.join(&child);
        match fs::symlink_metadata(&path) {
            Ok(m) => walk_entry(context, ignore, &child, &m, visit, not_utf8)?,
            // Deleted (or its folder replaced) while we walked: it is simply not there.
            Err(e) if super::vanished(&e) => {}
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }
    Ok(())
}

/// Scans the host through `plan`'s sync rules.
pub fn scan(plan: &Plan, ignore: &DockerIgnore, hashes: HashSource<'_>) -> Result<HostTree> {
    if let HashSource::Cached(cache) = hashes {
        cache.scan_started();
    }
    let tree = scan_rules(plan, ignore, &hashes)?;
    if let HashSource::Cached(cache) = hashes {
        cache.scan_completed();
    }
    Ok(tree)
}

fn scan_rules(plan: &Plan, ignore: &DockerIgnore, hashes: &HashSource<'_>) -> Result<HostTree> {
    let mut tree = HostTree::default();
    for (index, rule) in plan.sync.iter().enumerate() {
        // `COPY --exclude`: patterns as .dockerignore's, matched below the source and in the
        // context (a bad one was refused when the Dockerfile was parsed).
        let excluded =
            (!rule.excludes.is_empty()).then(|| DockerIgnore::parse(&rule.excludes.join("\n")).ok()).flatten();
        // compose's `include`: only matching files (a pattern naming no folder, at any depth).
        let included = (!rule.includes.is_empty())
            .then(|| {
                let at_any_depth = rule.includes.iter().filter(|p| !p.contains('/')).map(|p| format!("**/{p}"));
                let all: Vec<String> = rule.includes.iter().cloned().chain(at_any_depth).collect();
                DockerIgnore::parse(&all.join("\n")).ok()
            })
            .flatten();
        for source in expand_sources(&plan.context, ignore, rule)? {
            let meta = match fs::symlink_metadata(plan.context.join(&source)) {
                Ok(m) => m,
                Err(_) => continue,
            };
            let (base_dest, strip) = if rule.parents {
                // `COPY --parents`: the source's path below the context is kept.
                (rule.dest.clone(), String::new())
            } else if meta.is_dir() {
                (rule.dest.clone(), source.clone())
            } else if rule.dest_is_dir {
                let name = source.rsplit('/').next().unwrap_or(&source);
                (join(&rule.dest, name), source.clone())
            } else {
                (rule.dest.clone(), source.clone())
            };
            let mut error = None;
            let mut not_utf8 = Vec::new();
            walk_context(
                &plan.context,
                ignore,
                &source,
                &mut |rel, meta| {
                    if error.is_some() || (rel == strip && meta.is_dir()) {
                        // The copied folder itself is the destination, which the image has.
                        return;
                    }
                    let below = rel.strip_prefix(&strip).unwrap_or(rel).trim_start_matches('/');
                    if excluded
                        .as_ref()
                        .is_some_and(|x| (!below.is_empty() && x.is_excluded(below)) || x.is_excluded(rel))
                    {
                        return;
                    }
                    if included.as_ref().is_some_and(|i| !meta.is_dir() && !below.is_empty() && !i.is_excluded(below)) {
                        return;
                    }
                    let dest = if below.is_empty() { base_dest.clone() } else { join(&base_dest, below) };
                    match source_file(&plan.context, rel, meta, index, hashes) {
                        Ok(Some(SourceFile { kind: SourceKind::Symlink(target), .. }))
                            if link_escapes(rel, &target) =>
                        {
                            tree.refused_links.insert(rel.to_string(), target);
                        }
                        Ok(Some(mut file)) => {
                            if let (Some(mode), false) = (rule.chmod, matches!(file.kind, SourceKind::Symlink(_))) {
                                file.mode = mode;
                            }
                            add_hidden_parents(&mut tree, &plan.context, &base_dest, &dest, rel, index);
                            let earlier = tree.entries.get(&dest).filter(|e| e.rel == file.rel);
                            file.full_build =
                                earlier.and_then(|e| e.full_build).or(rule.needs_full_build.then_some(index));
                            tree.entries.insert(dest, file);
                        }
                        Ok(None) => {}
                        Err(e) => error = Some(e),
                    }
                },
                &mut |name| not_utf8.push(name),
            )?;
            tree.refused_names.extend(not_utf8);
            if let Some(e) = error {
                return Err(e);
            }
        }
    }
    Ok(tree)
}

fn source_file(
    context: &Path,
    rel: &str,
    meta: &fs::Metadata,
    rule: usize,
    hashes: &HashSource<'_>,
) -> Result<Option<SourceFile>> {
    let host = context.join(rel);
    let (kind, hash) = if meta.file_type().is_symlink() {
        let target = fs::read_link(&host).map_err(|e| Error::io(format!("cannot read link {}", host.display()), e))?;
        let target = target.to_string_lossy().into_owned();
        let hash = hash_bytes(target.as_bytes());
        (SourceKind::Symlink(target), hash)
    } else if meta.is_dir() {
        (SourceKind::Dir, String::new())
    } else if meta.is_file() {
        let hash = match hashes {
            HashSource::Disk => match hash_file(&host) {
                Ok(h) => h,
                Err(e) if super::vanished(&e) => return Ok(None),
                Err(e) => return Err(Error::io(format!("cannot read {}", host.display()), e)),
            },
            HashSource::Recorded(recorded) => match recorded.get(rel) {
                Some(h) => h.clone(),
                None => return Ok(None),
            },
            HashSource::Cached(cache) => match cache.hash(&host, meta, || hash_file(&host)) {
                Ok(h) => h,
                Err(e) if super::vanished(&e) => return Ok(None),
                Err(e) => return Err(Error::io(format!("cannot read {}", host.display()), e)),
            },
        };
        (SourceKind::File, hash)
    } else {
        // Sockets, fifos, devices: docker build cannot copy them either.
        return Ok(None);
    };
    if let (HashSource::Recorded(recorded), SourceKind::Symlink(_)) = (hashes, &kind) {
        if !recorded.contains_key(rel) {
            return Ok(None);
        }
    }
    Ok(Some(SourceFile { host, rel: rel.to_string(), kind, mode: mode_of(meta), hash, rule, full_build: None }))
}

/// Folders that .dockerignore excludes but walks into for an exception (`build/` with
/// `!build/keep/**`): docker build sends no entry for them, and COPY makes them 0755 with its
/// owner. They are part of the mirror, so they are made like that, and removed with their last
/// kept child.
fn add_hidden_parents(tree: &mut HostTree, context: &Path, base_dest: &str, dest: &str, rel: &str, rule: usize) {
    let (mut dest, mut rel) = (dest, rel);
    while let (Some((parent, _)), Some((parent_rel, _))) = (dest.rsplit_once('/'), rel.rsplit_once('/')) {
        if parent.len() <= base_dest.len() || tree.entries.contains_key(parent) {
            return;
        }
        let file = SourceFile {
            host: context.join(parent_rel),
            rel: parent_rel.to_string(),
            kind: SourceKind::Dir,
            mode: 0o755,
            hash: String::new(),
            rule,
            full_build: None,
        };
        tree.entries.insert(parent.to_string(), file);
        (dest, rel) = (parent, parent_rel);
    }
}

/// Whether the link at context-relative `rel` with `target` points outside the context:
/// absolute targets, and relative ones that climb above the context's root.
pub fn link_escapes(rel: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth = rel.split('/').count() as isize - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// A rule's sources as concrete context-relative paths (globs expanded, excluded ones dropped).
fn expand_sources(context: &Path, ignore: &DockerIgnore, rule: &SyncRule) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for source in &rule.sources {
        if !has_glob(source) {
            if source.is_empty() || !ignore.is_excluded(source) || ignore.may_descend(source) {
                out.push(source.clone());
            }
            continue;
        }
        let mut candidates = vec![String::new()];
        for segment in source.split('/') {
            let mut next = Vec::new();
            for dir in &candidates {
                if !has_glob(segment) {
                    next.push(if dir.is_empty() { segment.to_string() } else { format!("{dir}/{segment}") });
                    continue;
                }
                let path = if dir.is_empty() { context.to_path_buf() } else { context.join(dir) };
                let Ok(read) = fs::read_dir(&path) else { continue };
                let mut names: Vec<String> =
                    read.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                for name in names.into_iter().filter(|n| glob_segment_matches(segment, n)) {
                    next.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
                }
            }
            candidates = next;
        }
        out.extend(candidates.into_iter().filter(|c| !ignore.is_excluded(c)));
    }
    Ok(out)
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaced_by_a_folder_after_it_was_listed_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f.txt"), "x").expect("write");
        let meta = fs::symlink_metadata(dir.path().join("f.txt")).expect("meta");
        std::fs::remove_file(dir.path().join("f.txt")).expect("rm");
        std::fs::create_dir(dir.path().join("f.txt")).expect("mkdir");
        let found = source_file(dir.path(), "f.txt", &meta, 0, &HashSource::Disk).expect("not an error");
        assert!(found.is_none(), "skipped this cycle; the watcher's news of it starts the next");
    }

    #[test]
    fn links_that_climb_out_of_the_context_or_are_absolute_escape() {
        assert!(!link_escapes("link", "data/a.txt"));
        assert!(!link_escapes("a/b/link", "../../top.txt"));
        assert!(!link_escapes("a/link", "./x/../y"));
        assert!(!link_escapes("dangling", "missing"));
        assert!(link_escapes("link", "../outside"));
        assert!(link_escapes("a/b/link", "../../../etc/passwd"));
        assert!(link_escapes("a/link", "x/../../../y"));
        assert!(link_escapes("link", "/etc/passwd"));
    }
}
