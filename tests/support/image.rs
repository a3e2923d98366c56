//! Looking inside images with the real `docker` CLI, and the reference every comparison needs:
//! a fresh, plain `docker build` of the same folder. For the multi-stage tests (an image we made
//! must equal what `docker build` makes) and anything else that compares two images.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{docker, docker_ok};

/// The config fields `docker build` sets from the Dockerfile and that must survive as they are.
pub const CONFIG_FIELDS: [&str; 9] =
    ["Cmd", "Entrypoint", "Env", "User", "WorkingDir", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck"];

/// Labels docker-rebuilder may add to what it commits (and nothing else).
pub const OUR_LABELS: &str = "dev.docker-rebuilder.";

/// `docker image inspect IMAGE`, the whole object.
pub fn image_inspect(image: &str) -> Value {
    let text = docker_ok(&["image", "inspect", image]);
    let mut all: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("inspect {image}: {e}"));
    all[0].take()
}

/// The image's `Config` (CMD, ENTRYPOINT, ENV, USER, LABELs...).
pub fn image_config(image: &str) -> Value {
    image_inspect(image)["Config"].take()
}

/// The image's size in bytes, as `docker images` counts it (all its layers).
pub fn image_size(image: &str) -> u64 {
    image_inspect(image)["Size"].as_u64().unwrap_or_else(|| panic!("no Size for {image}"))
}

/// One entry of an image's filesystem, as the tar of `docker export` lists it: what the file is,
/// who owns it and its mode. Not its mtime nor its content (a rebuilt binary differs in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// `-` file, `d` folder, `l` symlink, `h` hard link, `c`/`b` device, `p` fifo.
    pub kind: char,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// A link's target.
    pub link: Option<String>,
    /// Bytes, for files; compared loosely (see `assert_same_files`).
    pub size: u64,
}

impl std::fmt::Display for FileEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:04o} {}:{}", self.kind, self.mode, self.uid, self.gid)?;
        if let Some(link) = &self.link {
            write!(f, " -> {link}")?;
        }
        Ok(())
    }
}

/// Every path in the image (absolute, no trailing `/`), from `docker create` + `docker export`.
/// The container is never started; what `docker create` itself adds (`/.dockerenv`, `/dev`,
/// `/etc/hostname`...) is there for every image alike.
pub fn image_files(image: &str) -> BTreeMap<String, FileEntry> {
    // Any entrypoint will do: the container only exists to be exported (and an image may have
    // no CMD, or no shell).
    let id = docker_ok(&["create", "--entrypoint", "/nonexistent", image]);
    let mut child = Command::new("docker")
        .args(["export", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker export runs");
    let mut files = BTreeMap::new();
    let stdout = child.stdout.take().expect("stdout");
    let mut archive = tar::Archive::new(stdout);
    for entry in archive.entries().expect("tar entries") {
        let entry = entry.expect("tar entry");
        let header = entry.header();
        let raw = entry.path().expect("path").to_string_lossy().into_owned();
        let path = format!("/{}", raw.trim_start_matches("./").trim_matches('/'));
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => '-',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            other => panic!("{image}: {path} has tar entry type {other:?}"),
        };
        let link = entry.link_name().expect("link name").map(|l| l.to_string_lossy().into_owned());
        let file = FileEntry {
            kind,
            mode: header.mode().expect("mode") & 0o7777,
            uid: header.uid().expect("uid"),
            gid: header.gid().expect("gid"),
            link,
            size: if kind == '-' { header.size().expect("size") } else { 0 },
        };
        files.insert(path, file);
    }
    let out = child.wait_with_output().expect("docker export ends");
    docker(&["rm", "-f", &id]);
    assert!(out.status.success(), "docker export {image}: {}", String::from_utf8_lossy(&out.stderr));
    files
}

/// The content of one file in the image, read without running anything in it (the image may
/// have no shell): `docker create` + `docker cp CONTAINER:PATH -`. None when it is not there.
pub fn image_file(image: &str, path: &str) -> Option<Vec<u8>> {
    let id = docker_ok(&["create", "--entrypoint", "/nonexistent", image]);
    let out = Command::new("docker").args(["cp", &format!("{id}:{path}"), "-"]).output().expect("docker cp runs");
    docker(&["rm", "-f", &id]);
    if !out.status.success() {
        return None;
    }
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entries = archive.entries().expect("tar from docker cp");
    let mut entry = entries.next()?.expect("tar entry");
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut content).expect("read entry");
    Some(content)
}

/// `image_file` as text.
pub fn image_text(image: &str, path: &str) -> Option<String> {
    image_file(image, path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A plain `docker build` (classic builder, as the product's engine uses) of a folder, tagged
/// `tag`. Dropping it removes the tag and the images this build made (each stage's steps: the
/// classic builder keeps them as cache, untagged), newest first and one at a time: images it
/// reused from the cache stay, and so does one something else has built on since.
///
/// Removing an image another build is about to use from its cache breaks that build ("failed
/// to get digest"), so the fresh builds of this test process run one at a time, and a test
/// whose sources another test may build at the same time makes them its own first (a comment
/// with a unique word in each source file gives new layers from the first COPY of sources on).
pub struct FreshBuild {
    pub tag: String,
    /// What this build made, oldest first (not the images FROM names, not cache hits).
    made: Vec<String>,
    pub output: String,
}

/// One fresh build or removal at a time in this process.
static FRESH: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn fresh_build(dir: &Path, tag: &str) -> FreshBuild {
    let _one_at_a_time = FRESH.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("docker")
        .args(["build", "-t", tag])
        .arg(dir)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build runs");
    let output = String::from_utf8_lossy(&out.stdout).into_owned();
    let made = made_images(&output);
    let build = FreshBuild { tag: tag.to_string(), made, output };
    assert!(
        out.status.success(),
        "docker build {} failed:\n{}\n{}",
        dir.display(),
        build.output,
        String::from_utf8_lossy(&out.stderr)
    );
    build
}

/// A fresh `docker build` with BuildKit (`DOCKER_BUILDKIT=1`, the engine's own BuildKit: the
/// Debian client at /usr/bin/docker talks to it without buildx), tagged `tag`, removed when
/// dropped. BuildKit makes no intermediate images.
pub fn fresh_buildkit_build(dir: &Path, tag: &str) -> FreshBuild {
    let _one_at_a_time = FRESH.lock().unwrap_or_else(|e| e.into_inner());
    let client = if Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" };
    let out = Command::new(client)
        .args(["build", "-t", tag])
        .arg(dir)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .expect("docker build runs");
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let build = FreshBuild { tag: tag.to_string(), made: Vec::new(), output };
    assert!(out.status.success(), "DOCKER_BUILDKIT=1 docker build {} failed:\n{}", dir.display(), build.output);
    build
}

/// From the classic builder's output: the image each step made, oldest first (a `FROM`
/// answers with the image it names, a cached step with the image it reused: neither counts).
fn made_images(output: &str) -> Vec<String> {
    let mut made = Vec::new();
    // The current step's answer: made unless it is a FROM or came from the cache.
    let mut making = false;
    for line in output.lines().map(str::trim) {
        if line.starts_with("Step ") {
            making = !line.contains(" : FROM ");
        } else if line == "---> Using cache" {
            making = false;
        } else if let Some(id) = line.strip_prefix("---> ").filter(|id| !id.contains(' ')) {
            if making {
                made.push(id.to_string());
            }
            making = false;
        }
    }
    made
}

impl Drop for FreshBuild {
    fn drop(&mut self) {
        let _one_at_a_time = FRESH.lock().unwrap_or_else(|e| e.into_inner());
        docker(&["rmi", "--no-prune", &self.tag]);
        for id in self.made.iter().rev() {
            // Not forced: an image that has children now (or another tag) stays.
            docker(&["rmi", "--no-prune", id]);
        }
    }
}

/// Config fields equal (a missing field counts as null); labels equal except ours.
pub fn assert_same_config(ours: &str, reference: &str) {
    let (a, b) = (image_config(ours), image_config(reference));
    for field in CONFIG_FIELDS {
        assert_eq!(
            a.get(field).unwrap_or(&Value::Null),
            b.get(field).unwrap_or(&Value::Null),
            "Config.{field} of {ours} differs from a fresh docker build's"
        );
    }
    let labels = |v: &Value| -> BTreeMap<String, Value> {
        v.get("Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter().filter(|(k, _)| !k.starts_with(OUR_LABELS)).map(|(k, v)| (k.clone(), v.clone())).collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        labels(&a),
        labels(&b),
        "Config.Labels (but {OUR_LABELS}*) of {ours} differ from a fresh docker build's"
    );
}

/// The same paths with the same kind, mode, owner and link target. Sizes are not compared
/// (a rebuilt binary may differ by a few bytes): `assert_size_within` covers the total.
pub fn assert_same_files(ours: &str, reference: &str) {
    let (a, b) = (image_files(ours), image_files(reference));
    let differences = diff_files(&a, &b);
    assert!(
        differences.is_empty(),
        "the files of {ours} differ from a fresh docker build's ({reference}):\n{}",
        differences.join("\n")
    );
}

/// Lines describing each difference (`-` only in ours... `+` only in the reference, `~` both).
pub fn diff_files(ours: &BTreeMap<String, FileEntry>, reference: &BTreeMap<String, FileEntry>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, entry) in ours {
        match reference.get(path) {
            None => out.push(format!("  only in ours:      {path} ({entry})")),
            Some(theirs) if theirs.to_string() != entry.to_string() => {
                out.push(format!("  differs:           {path}: ours {entry}, docker build's {theirs}"))
            }
            Some(_) => {}
        }
    }
    for (path, entry) in reference {
        if !ours.contains_key(path) {
            out.push(format!("  only in reference: {path} ({entry})"));
        }
    }
    out
}

/// `ours` is within `percent` % of the reference's size.
pub fn assert_size_within(ours: &str, reference: &str, percent: f64) {
    let (a, b) = (image_size(ours) as f64, image_size(reference) as f64);
    let off = (a - b).abs() / b * 100.0;
    assert!(off <= percent, "{ours} is {a} bytes, a fresh docker build {b}: {off:.1} % apart (at most {percent} %)");
}
