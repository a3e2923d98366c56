//! A folder's tree as the engine holds it, read with `docker cp CONTAINER:PATH -` (a tar the
//! daemon writes), so comparisons never trust docker-rebuilder's own view of what it synced.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{docker, docker_ok};

/// One entry: `f` file (content hash), `d` directory, `l` link (its target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub content: String,
}

/// Path below the listed folder (no leading `/`) → entry. The folder itself is left out.
pub type Tree = BTreeMap<String, Entry>;

/// The tree under `path` inside a container (running or not).
pub fn container_tree(container: &str, path: &str) -> Tree {
    let out =
        Command::new("docker").args(["cp", &format!("{container}:{path}"), "-"]).output().expect("the docker CLI runs");
    assert!(out.status.success(), "docker cp {container}:{path} failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_tar(&out.stdout)
}

/// The tree under `path` in an image (through a created, never started container).
pub fn image_tree(image: &str, path: &str) -> Tree {
    // A command is given because imported base images have none; it never runs.
    let id = docker_ok(&["create", image, "/nonexistent"]);
    let tree = container_tree(&id, path);
    docker(&["rm", "-f", &id]);
    tree
}

/// What a fresh `docker build` of `context` (with the engine's own .dockerignore handling,
/// applied by the docker CLI) puts under `dest`, for a Dockerfile `FROM busybox:local` +
/// `COPY . <dest>`. The Dockerfile is written outside the context, so it is not part of it.
pub fn docker_build_tree(context: &Path, dest: &str) -> Tree {
    docker_build_tree_with(context, dest, "", "")
}

/// [`docker_build_tree`] with instructions between `FROM busybox:local` and the `COPY` (to make
/// a user, set `USER`...) and flags for the `COPY` (`--chown=...`).
///
/// The docker CLI hands a Dockerfile from outside the context to the daemon by adding it to
/// the context under a random name and appending that name to the context's .dockerignore.
/// When .dockerignore does not exclude itself, `COPY .` copies that appended copy: it is
/// checked to be exactly the host's text plus the added line, and recorded as the host's.
pub fn docker_build_tree_with(context: &Path, dest: &str, preamble: &str, copy_flags: &str) -> Tree {
    let dir = tempfile::tempdir().expect("tempdir");
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM {}\n{preamble}\nCOPY {copy_flags} . {dest}\n", super::base_image()))
        .expect("write Dockerfile");
    let tag = format!("dr-oracle-{}-{}", std::process::id(), dir.path().file_name().unwrap().to_string_lossy());
    let tag = tag.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-f"])
        .arg(&dockerfile)
        .arg(context)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker build of {} failed: {}",
        context.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut oracle = Oracle { image: tag, container: None };
    let id = docker_ok(&["create", &oracle.image, "/nonexistent"]);
    oracle.container = Some(id.clone());
    let mut tree = container_tree(&id, dest);
    if let Some(entry) = tree.get_mut(".dockerignore") {
        let copied = container_file(&id, &format!("{}/.dockerignore", dest.trim_end_matches('/')));
        let host = std::fs::read(context.join(".dockerignore")).expect("the context's .dockerignore");
        let added = copied.strip_prefix(host.as_slice()).map(String::from_utf8_lossy).unwrap_or_default();
        let name = added.trim_matches('\n');
        assert!(
            name.starts_with(".dockerfile.") && !name.contains('\n'),
            "the oracle's .dockerignore is not the host's plus the CLI's added line: {:?}",
            String::from_utf8_lossy(&copied)
        );
        entry.content = sha256_hex(&host);
    }
    tree
}

/// The oracle's image and container, removed even when an assertion fails.
struct Oracle {
    image: String,
    container: Option<String>,
}

impl Drop for Oracle {
    fn drop(&mut self) {
        if let Some(id) = &self.container {
            docker(&["rm", "-f", id]);
        }
        docker(&["rmi", "-f", "--no-prune", &self.image]);
    }
}

/// The bytes of one regular file in a container (running or not).
pub fn container_file(container: &str, path: &str) -> Vec<u8> {
    let out =
        Command::new("docker").args(["cp", &format!("{container}:{path}"), "-"]).output().expect("the docker CLI runs");
    assert!(out.status.success(), "docker cp {container}:{path} failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().expect("a tar from docker cp").next().expect("one entry").expect("tar entry");
    let mut data = Vec::new();
    entry.read_to_end(&mut data).expect("tar data");
    data
}

/// `tree` without `paths` and everything below them.
pub fn without(tree: &Tree, paths: &[&str]) -> Tree {
    tree.iter()
        .filter(|(path, _)| {
            !paths.iter().any(|p| path.as_str() == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
        })
        .map(|(path, entry)| (path.clone(), entry.clone()))
        .collect()
}

/// Panics with every difference, one per line, when `actual` is not `expected`.
#[track_caller]
pub fn assert_same(expected: &Tree, actual: &Tree, what: &str) {
    let diff = differences(expected, actual);
    assert!(diff.is_empty(), "{what}: {} difference(s) from the expected tree:\n  {}", diff.len(), diff.join("\n  "));
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_tar(bytes: &[u8]) -> Tree {
    let mut tree = Tree::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("a tar from docker cp") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("entry path").to_string_lossy().into_owned();
        // `docker cp` names entries after the copied folder: strip that first component.
        let rel = match path.trim_end_matches('/').split_once('/') {
            Some((_, rest)) => rest.to_string(),
            None => continue,
        };
        let header = entry.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Regular | tar::EntryType::Continuous => 'f',
            other => panic!("unexpected tar entry {other:?} at {rel}"),
        };
        let content = match kind {
            'f' => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("tar data");
                sha256_hex(&data)
            }
            'l' => entry.link_name().expect("link").map(|l| l.to_string_lossy().into_owned()).unwrap_or_default(),
            _ => String::new(),
        };
        let mode = header.mode().expect("mode") & 0o7777;
        let uid = header.uid().expect("uid");
        let gid = header.gid().expect("gid");
        tree.insert(rel, Entry { kind, mode, uid, gid, content });
    }
    tree
}

/// The differences between two trees, one line each, for assertion messages.
pub fn differences(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, e) in expected {
        match actual.get(path) {
            None => out.push(format!("missing: {path:?} {e:?}")),
            Some(a) if a != e => out.push(format!("differs: {path:?} expected {e:?}, got {a:?}")),
            _ => {}
        }
    }
    for (path, a) in actual {
        if !expected.contains_key(path) {
            out.push(format!("extra: {path:?} {a:?}"));
        }
    }
    out
}
