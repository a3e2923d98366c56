//! The build context through the session, as `docker build` sends it to BuildKit
//! (`remote=client-session`): the engine calls `FileSync/DiffCopy` for the dir "context" and
//! for "dockerfile" (the Dockerfile's folder), naming what it wants in the call's headers
//! (`include-patterns`, `followpaths`, `exclude-patterns`). We answer with fsutil's protocol: a
//! STAT per entry in Go's walk order (a folder's names sorted, parents first), an empty STAT,
//! then each file the engine asks for (REQ, by its index among the STATs) as DATA packets
//! closed by an empty one; the engine's FIN is answered with ours and the call ends.
//!
//! The files served are the context archive packed (and hashed) for this build: the engine
//! gets exactly what the new builder's manifest records, however the files change meanwhile,
//! and the context is filtered as the docker CLI filters it (its .dockerignore), which a
//! context sent as the request body is not.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::packet::file_sync_server::FileSync;
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tonic::{Request, Response, Status, Streaming};

use super::dial::AbortOnDrop;
use crate::project::dockerignore::DockerIgnore;
use crate::project::glob::glob_segment_matches;

/// Go's `os.FileMode` bits, as fsutil sends a file's mode.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_STICKY: u32 = 1 << 20;

/// A DATA packet's largest payload (the engine takes gRPC messages up to 4 MiB).
const CHUNK: usize = 256 * 1024;

/// The dir names the engine asks for, as the docker CLI names them.
const DIR_CONTEXT: &str = "context";
const DIR_DOCKERFILE: &str = "dockerfile";

/// One entry of the archive.
#[derive(Debug, Clone)]
struct Entry {
    /// Its stat, `path` relative to the archive's root.
    stat: Stat,
    /// A regular file's content in the archive.
    data: Option<Range<usize>>,
}

/// The context archive, read as the entries fsutil would walk.
#[derive(Debug)]
pub(in crate::engine) struct ContextFiles {
    archive: Bytes,
    /// In walk order.
    entries: Vec<Entry>,
    /// Paths in the archive for the builder only (a Dockerfile or .dockerignore the
    /// .dockerignore excludes, a Dockerfile from outside the context): not in "context".
    hidden: Vec<String>,
    /// The Dockerfile's folder in the archive ("" for the root): the dir "dockerfile".
    dockerfile_dir: String,
}

impl ContextFiles {
    /// Reads the archive (PAX names and nanosecond mtimes included). `dockerfile` is the
    /// Dockerfile's path in it.
    pub(in crate::engine) fn from_tar(tar: Vec<u8>, dockerfile: &str, hidden: &[String]) -> Result<Self, String> {
        let archive = Bytes::from(tar);
        let mut entries: Vec<Entry> = Vec::new();
        let mut reader = tar::Archive::new(std::io::Cursor::new(archive.as_ref()));
        let unreadable = |e: std::io::Error| format!("the context archive is unreadable: {e}");
        for entry in reader.entries().map_err(unreadable)? {
            let mut entry = entry.map_err(unreadable)?;
            let Some(path) = clean(&entry.path().map_err(unreadable)?.to_string_lossy()) else { continue };
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode().map_err(unreadable)?;
            let mut stat = Stat {
                path,
                mode: go_mode(mode),
                // Ours are 0 (the docker CLI resets them too); blank fields read as 0.
                uid: header.uid().unwrap_or(0) as u32,
                gid: header.gid().unwrap_or(0) as u32,
                mod_time: header.mtime().map_err(unreadable)? as i64 * 1_000_000_000,
                ..Stat::default()
            };
            let mut data = None;
            if kind.is_dir() {
                stat.mode |= MODE_DIR;
            } else if kind.is_symlink() {
                stat.mode |= MODE_SYMLINK;
                stat.linkname = link_name(&entry)?;
            } else if kind.is_hard_link() {
                // fsutil's hard link: a regular file naming the path it shares content with.
                stat.linkname = link_name(&entry)?;
            } else if kind.is_file() {
                let start = entry.raw_file_position() as usize;
                let size = entry.size() as usize;
                if start + size > archive.len() {
                    return Err("the context archive is truncated".to_string());
                }
                stat.size = size as i64;
                data = Some(start..start + size);
            } else {
                // Devices and pipes: the context walk never packs them.
                continue;
            }
            if let Some(nanos) = pax_mtime(&mut entry) {
                stat.mod_time = nanos;
            }
            entries.push(Entry { stat, data });
        }
        add_missing_parents(&mut entries);
        entries.sort_by(|a, b| walk_order(&a.stat.path, &b.stat.path));
        entries.dedup_by(|later, earlier| later.stat.path == earlier.stat.path);
        let dockerfile_dir = match dockerfile.rsplit_once('/') {
            Some((dir, _)) => clean(dir).unwrap_or_default(),
            None => String::new(),
        };
        Ok(ContextFiles { archive, entries, hidden: hidden.to_vec(), dockerfile_dir })
    }

    /// What a DiffCopy call for `dir` sends: the entries (paths relative to the dir) in walk
    /// order, each with the archive range of its content when the engine may ask for it.
    fn select(&self, dir: &str, patterns: &Patterns) -> Result<Vec<Entry>, String> {
        let base = match dir {
            DIR_CONTEXT => "",
            DIR_DOCKERFILE => self.dockerfile_dir.as_str(),
            other => return Err(format!("no access allowed to dir {other:?}")),
        };
        let in_dir = |path: &str| -> Option<String> {
            if base.is_empty() {
                return Some(path.to_string());
            }
            path.strip_prefix(base).and_then(|rest| rest.strip_prefix('/')).map(str::to_string)
        };
        let candidates: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| dir != DIR_CONTEXT || !self.hidden.contains(&e.stat.path))
            .filter_map(|e| {
                in_dir(&e.stat.path).map(|path| Entry { stat: Stat { path, ..e.stat.clone() }, ..e.clone() })
            })
            .collect();
        let includes = patterns.includes(&candidates);
        // The docker CLI sends the context with its own .dockerignore applied (already, here)
        // instead of the patterns the engine names; the Dockerfile's folder with the engine's.
        let excludes = match dir {
            DIR_CONTEXT => None,
            _ if patterns.excludes.is_empty() => None,
            _ => Some(DockerIgnore::parse(&patterns.excludes.join("\n")).map_err(|e| e.to_string())?),
        };
        let mut chosen = Vec::new();
        let mut skipped: Option<String> = None;
        let mut included_dir: Option<String> = None;
        for entry in candidates {
            let path = entry.stat.path.as_str();
            let is_dir = entry.stat.mode & MODE_DIR != 0;
            if skipped.as_deref().is_some_and(|s| is_below(path, s)) {
                continue;
            }
            skipped = None;
            if let Some(includes) = &includes {
                if !included_dir.as_deref().is_some_and(|d| is_below(path, d)) {
                    let mut matched = false;
                    let mut partial = true;
                    for pattern in includes {
                        if let Some(is_partial) = match_prefix(pattern, path) {
                            matched = true;
                            if !is_partial {
                                partial = false;
                                break;
                            }
                        }
                    }
                    if !matched {
                        if is_dir {
                            skipped = Some(path.to_string());
                        }
                        continue;
                    }
                    if !partial && is_dir {
                        included_dir = Some(path.to_string());
                    }
                }
            }
            if let Some(excludes) = &excludes {
                // An excluded folder an exception may re-include from is sent, as fsutil does.
                if excludes.is_excluded(path) && !(is_dir && excludes.may_descend(path)) {
                    if is_dir {
                        skipped = Some(path.to_string());
                    }
                    continue;
                }
            }
            chosen.push(entry);
        }
        Ok(chosen)
    }
}

/// What a DiffCopy call's headers ask for.
#[derive(Debug, Default)]
struct Patterns {
    includes: Option<Vec<String>>,
    excludes: Vec<String>,
    follow: Vec<String>,
}

impl Patterns {
    fn of(metadata: &tonic::metadata::MetadataMap) -> Patterns {
        let all = |key: &str| -> Vec<String> {
            metadata.get_all(key).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
        };
        let includes = all("include-patterns");
        Patterns {
            includes: (!includes.is_empty()).then_some(includes),
            excludes: all("exclude-patterns"),
            follow: all("followpaths"),
        }
    }

    /// The include patterns fsutil walks with: the named ones, the follow paths and what
    /// their symlinks lead to (fsutil's FollowLinks). `None`: everything.
    fn includes(&self, entries: &[Entry]) -> Option<Vec<String>> {
        let mut includes: Vec<String> = self.includes.clone().unwrap_or_default();
        if self.includes.is_none() && self.follow.is_empty() {
            return None;
        }
        let links: HashMap<&str, &str> = entries
            .iter()
            .filter(|e| e.stat.mode & MODE_SYMLINK != 0)
            .map(|e| (e.stat.path.as_str(), e.stat.linkname.as_str()))
            .collect();
        for path in &self.follow {
            let mut current = clean(path);
            // A chain of links, as far as the kernel would follow one.
            for _ in 0..40 {
                let Some(path) = current.take() else { break };
                current = links.get(path.as_str()).and_then(|target| resolve_link(&path, target));
                includes.push(path);
            }
        }
        let mut cleaned: Vec<String> = includes.iter().filter_map(|p| clean(p)).collect();
        cleaned.dedup();
        Some(cleaned)
    }
}

/// fsutil's matchPrefix: whether `path` matches `pattern` cut to as many components as the
/// path has; `Some(true)` when the pattern was cut (a folder on the way to what it names).
fn match_prefix(pattern: &str, path: &str) -> Option<bool> {
    let path_parts: Vec<&str> = path.split('/').collect();
    let pattern_parts: Vec<&str> = pattern.split('/').collect();
    let partial = pattern_parts.len() > path_parts.len();
    let pattern_parts = &pattern_parts[..pattern_parts.len().min(path_parts.len())];
    let matched = pattern_parts.len() == path_parts.len()
        && pattern_parts.iter().zip(&path_parts).all(|(p, n)| glob_segment_matches(p, n));
    matched.then_some(partial)
}

/// A symlink's target as a path in the archive, if it stays inside.
fn resolve_link(link: &str, target: &str) -> Option<String> {
    let joined = match (target.starts_with('/'), link.rsplit_once('/')) {
        (true, _) => target.to_string(),
        (false, Some((dir, _))) => format!("{dir}/{target}"),
        (false, None) => target.to_string(),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn is_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// Go's walk order: component by component, each folder's names sorted as bytes.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// An archive path as fsutil names it: no `./`, no trailing `/`; `None` for the root.
fn clean(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A tar mode as Go's `os.FileMode` permission and special bits.
fn go_mode(mode: u32) -> u32 {
    let mut go = mode & 0o777;
    if mode & 0o4000 != 0 {
        go |= MODE_SETUID;
    }
    if mode & 0o2000 != 0 {
        go |= MODE_SETGID;
    }
    if mode & 0o1000 != 0 {
        go |= MODE_STICKY;
    }
    go
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, String> {
    let name = entry.link_name().map_err(|e| format!("the context archive is unreadable: {e}"))?;
    Ok(name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// The PAX `mtime` (seconds with a fraction) in nanoseconds.
fn pax_mtime<R: Read>(entry: &mut tar::Entry<'_, R>) -> Option<i64> {
    let extensions = entry.pax_extensions().ok()??;
    for extension in extensions.flatten() {
        if extension.key() == Ok("mtime") {
            let value = extension.value().ok()?;
            let (seconds, fraction) = value.split_once('.').unwrap_or((value, ""));
            let seconds: i64 = seconds.parse().ok()?;
            let digits: String = fraction.chars().take(9).collect();
            let nanos: i64 = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
            return Some(seconds * 1_000_000_000 + if seconds < 0 { -nanos } else { nanos });
        }
    }
    None
}

/// Every folder on the way to an entry, as the walk would list it (an archive may omit some).
fn add_missing_parents(entries: &mut Vec<Entry>) {
    let known: std::collections::HashSet<String> = entries.iter().map(|e| e.stat.path.clone()).collect();
    let mut missing: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for entry in entries.iter() {
        let path = &entry.stat.path;
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            if !known.contains(parent) {
                missing.insert(parent.to_string());
            }
        }
    }
    entries.extend(
        missing
            .into_iter()
            .map(|path| Entry { stat: Stat { path, mode: MODE_DIR | 0o755, ..Stat::default() }, data: None }),
    );
}

/// The FileSync service of a build's session.
pub(super) struct FileSyncService {
    pub(super) files: Option<Arc<ContextFiles>>,
}

type PacketStream = std::pin::Pin<Box<dyn Stream<Item = Result<Packet, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl FileSync for FileSyncService {
    type DiffCopyStream = PacketStream;

    async fn diff_copy(&self, request: Request<Streaming<Packet>>) -> Result<Response<PacketStream>, Status> {
        let Some(files) = self.files.clone() else {
            return Err(Status::not_found("this build sends no files through its session"));
        };
        let dir = request.metadata().get("dir-name").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let patterns = Patterns::of(request.metadata());
        let entries = files.select(&dir, &patterns).map_err(Status::permission_denied)?;
        let sender = Sender::new(files, entries, request.into_inner());
        Ok(Response::new(Box::pin(futures_util::stream::unfold(sender, |mut sender| async move {
            sender.next().await.map(|packet| (packet, sender))
        }))))
    }

    type TarStreamStream = PacketStream;

    async fn tar_stream(&self, _: Request<Streaming<Packet>>) -> Result<Response<PacketStream>, Status> {
        Err(Status::unimplemented("the context is sent by DiffCopy"))
    }
}

/// fsutil's sender, one packet at a time: the stats, then the files asked for, then FIN.
struct Sender {
    files: Arc<ContextFiles>,
    entries: Vec<Entry>,
    next_stat: usize,
    stats_ended: bool,
    /// Index among the STATs → the content the engine may ask for.
    requestable: HashMap<u32, Range<usize>>,
    asked: VecDeque<(u32, Range<usize>)>,
    /// The file being sent: its id and what is left of it.
    sending: Option<(u32, Range<usize>)>,
    /// The engine's packets, read as they come by a task of their own: the engine asks for
    /// files while the stats flow, in tiny messages, and HTTP/2 (h2) ends a connection whose
    /// peer's small DATA frames pile up unread (ENHANCE_YOUR_CALM) — which they would while our
    /// own sending waits for the engine's window.
    inbound: UnboundedReceiver<Result<Packet, Status>>,
    _reader: AbortOnDrop,
    inbound_open: bool,
    fin_asked: bool,
    done: bool,
}

impl Sender {
    fn new(files: Arc<ContextFiles>, entries: Vec<Entry>, mut stream: Streaming<Packet>) -> Sender {
        let (sink, inbound) = unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                let message = stream.message().await;
                let last = !matches!(message, Ok(Some(_)));
                if let Some(message) = message.transpose() {
                    if sink.send(message).is_err() {
                        return;
                    }
                }
                if last {
                    return;
                }
            }
        });
        let requestable = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.stat.linkname.is_empty())
            .filter_map(|(i, e)| e.data.clone().map(|range| (i as u32, range)))
            .collect();
        Sender {
            files,
            entries,
            next_stat: 0,
            stats_ended: false,
            requestable,
            asked: VecDeque::new(),
            sending: None,
            inbound,
            _reader: AbortOnDrop(reader),
            inbound_open: true,
            fin_asked: false,
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Result<Packet, Status>> {
        loop {
            if self.done {
                return None;
            }
            // What the engine asked meanwhile, without waiting: it asks while stats still flow.
            while self.inbound_open {
                let message = match self.inbound.try_recv() {
                    Ok(message) => Some(message),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                };
                if let Err(status) = self.take(message) {
                    self.done = true;
                    return Some(Err(status));
                }
            }
            if let Some(packet) = self.next_data() {
                return Some(Ok(packet));
            }
            if let Some(entry) = self.entries.get(self.next_stat) {
                self.next_stat += 1;
                return Some(Ok(Packet {
                    r#type: PacketType::PacketStat as i32,
                    stat: Some(entry.stat.clone()),
                    ..Packet::default()
                }));
            }
            if !self.stats_ended {
                self.stats_ended = true;
                return Some(Ok(Packet { r#type: PacketType::PacketStat as i32, ..Packet::default() }));
            }
            if self.fin_asked {
                self.done = true;
                return Some(Ok(Packet { r#type: PacketType::PacketFin as i32, ..Packet::default() }));
            }
            if !self.inbound_open {
                return None;
            }
            let message = self.inbound.recv().await;
            if let Err(status) = self.take(message) {
                self.done = true;
                return Some(Err(status));
            }
        }
    }

    /// One packet from the engine (`None`: it sends no more).
    fn take(&mut self, message: Option<Result<Packet, Status>>) -> Result<(), Status> {
        let packet = match message {
            Some(Ok(packet)) => packet,
            None => {
                self.inbound_open = false;
                return Ok(());
            }
            Some(Err(status)) => {
                self.inbound_open = false;
                return Err(status);
            }
        };
        match PacketType::try_from(packet.r#type) {
            Ok(PacketType::PacketReq) => match self.requestable.remove(&packet.id) {
                Some(range) => self.asked.push_back((packet.id, range)),
                None => return Err(Status::invalid_argument(format!("invalid file id {}", packet.id))),
            },
            Ok(PacketType::PacketFin) => self.fin_asked = true,
            Ok(PacketType::PacketErr) => {
                return Err(Status::aborted(format!("error from receiver: {}", String::from_utf8_lossy(&packet.data))))
            }
            _ => {}
        }
        Ok(())
    }

    /// The next DATA packet of the files asked for: chunks, then an empty one per file.
    fn next_data(&mut self) -> Option<Packet> {
        if self.sending.is_none() {
            self.sending = self.asked.pop_front();
        }
        let (id, left) = self.sending.as_mut()?;
        let id = *id;
        if left.start >= left.end {
            self.sending = None;
            return Some(Packet { r#type: PacketType::PacketData as i32, id, ..Packet::default() });
        }
        let end = left.end.min(left.start + CHUNK);
        let data = self.files.archive[left.start..end].to_vec();
        left.start = end;
        Some(Packet { r#type: PacketType::PacketData as i32, id, data, ..Packet::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_mtime(1_700_000_000);
            header.set_uid(0);
            header.set_gid(0);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                header.set_link_name(link).expect("link");
            }
            builder.append_data(&mut header, path, data).expect("append");
        };
        add("./", tar::EntryType::Directory, 0o755, b"", None);
        add("a.txt", tar::EntryType::Regular, 0o644, b"a", None);
        add("a/b/c.go", tar::EntryType::Regular, 0o4755, b"package c", None);
        add("Dockerfile", tar::EntryType::Regular, 0o644, b"FROM x", None);
        add("docker/Dockerfile.dev", tar::EntryType::Regular, 0o644, b"FROM y", None);
        add("link", tar::EntryType::Symlink, 0o777, b"", Some("a.txt"));
        add("a/z", tar::EntryType::Directory, 0o700, b"", None);
        builder.into_inner().expect("tar")
    }

    fn paths(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.stat.path.as_str()).collect()
    }

    #[test]
    fn entries_come_in_go_walk_order_with_every_parent() {
        let files = ContextFiles::from_tar(archive(), "Dockerfile", &[]).expect("read");
        // "a" and its tree before "a.txt": '/' sorts after '.' as text, not in a walk.
        assert_eq!(
            paths(&files.entries),
            ["Dockerfile", "a", "a/b", "a/b/c.go", "a/z", "a.txt", "docker", "docker/Dockerfile.dev", "link"]
        );
        let c = &files.entries[3];
        assert_eq!(c.stat.mode, 0o755 | MODE_SETUID);
        assert_eq!(c.stat.mod_time, 1_700_000_000 * 1_000_000_000);
        assert_eq!(&files.archive[c.data.clone().expect("data")], b"package c");
        assert_eq!(files.entries[4].stat.mode, 0o700 | MODE_DIR);
        let link = &files.entries[8];
        assert_eq!((link.stat.mode & MODE_SYMLINK, link.stat.linkname.as_str()), (MODE_SYMLINK, "a.txt"));
    }

    #[test]
    fn the_engine_gets_what_its_patterns_name() {
        let files = ContextFiles::from_tar(archive(), "docker/Dockerfile.dev", &["Dockerfile".into()]).expect("read");
        let all = files.select(DIR_CONTEXT, &Patterns::default()).expect("context");
        assert!(!paths(&all).contains(&"Dockerfile"), "hidden from the context: {:?}", paths(&all));
        let only = |includes: &[&str]| Patterns {
            includes: Some(includes.iter().map(|s| s.to_string()).collect()),
            ..Patterns::default()
        };
        // A folder on the way is sent, its other entries are not; a whole folder is.
        assert_eq!(paths(&files.select(DIR_CONTEXT, &only(&["a/b/*.go"])).expect("sel")), ["a", "a/b", "a/b/c.go"]);
        assert_eq!(paths(&files.select(DIR_CONTEXT, &only(&["a"])).expect("sel")), ["a", "a/b", "a/b/c.go", "a/z"]);
        // The Dockerfile's folder, relative to it.
        let dockerfile = files.select(DIR_DOCKERFILE, &only(&["Dockerfile.dev"])).expect("dockerfile");
        assert_eq!(paths(&dockerfile), ["Dockerfile.dev"]);
        // A followed link brings its target.
        let follow = Patterns { follow: vec!["link".into()], ..Patterns::default() };
        assert_eq!(paths(&files.select(DIR_CONTEXT, &follow).expect("follow")), ["a.txt", "link"]);
        assert!(files.select("elsewhere", &Patterns::default()).is_err());
    }

    #[test]
    fn excludes_apply_to_the_dockerfile_folder() {
        let files = ContextFiles::from_tar(archive(), "Dockerfile", &[]).expect("read");
        let patterns = Patterns { excludes: vec!["a".into(), "*.txt".into()], ..Patterns::default() };
        assert_eq!(
            paths(&files.select(DIR_DOCKERFILE, &patterns).expect("sel")),
            ["Dockerfile", "docker", "docker/Dockerfile.dev", "link"]
        );
    }

    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(resolve_link("d/l", "../x").as_deref(), Some("x"));
        assert_eq!(resolve_link("d/l", "y").as_deref(), Some("d/y"));
        assert_eq!(resolve_link("l", "../../etc/passwd"), None);
    }

    #[test]
    fn pax_mtimes_keep_their_nanoseconds() {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions([("mtime", b"1700000000.123456789".as_slice())]).expect("pax");
        let mut header = tar::Header::new_ustar();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_mtime(0);
        builder.append_data(&mut header, "f", b"x".as_slice()).expect("append");
        let files = ContextFiles::from_tar(builder.into_inner().expect("tar"), "Dockerfile", &[]).expect("read");
        assert_eq!(files.entries[0].stat.mod_time, 1_700_000_000_123_456_789);
    }
}
