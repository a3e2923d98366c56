//! `docker-rebuilder watch` end to end: the real binary watching a real folder, building in a
//! real engine, checked with the real `docker` CLI and the trees `docker build` would make.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::tree::{container_tree, differences, docker_build_tree, Tree};
use support::watch::Watch;
use support::TempProject;

/// Long enough for a first `docker build` of a busybox fixture on a busy machine.
const FIRST_CYCLE: Duration = Duration::from_secs(90);
/// A cycle of a few files: detect, sync, a shell script, commit.
const CYCLE: Duration = Duration::from_secs(30);

/// The builder's processes that are alive (zombies left out), as `STAT ARGS` lines.
fn live_processes(p: &TempProject) -> Vec<String> {
    let out = p.in_builder(&["ps", "-o", "stat,args"]);
    assert!(out.status.success(), "ps in the builder: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().skip(1).filter(|l| !l.starts_with('Z')).map(str::to_string).collect()
}

/// Kind, content and mode only: the builder's owners come from the Dockerfile's `--chown`.
fn without_owners(tree: Tree) -> Tree {
    tree.into_iter()
        .map(|(path, mut e)| {
            e.uid = 0;
            e.gid = 0;
            (path, e)
        })
        .collect()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_first_cycle_syncs_what_changed_while_nothing_ran() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    let built = p.image_id();

    p.write("data/a.txt", "uno\n");
    std::fs::remove_file(p.path("data/b.txt")).expect("rm");
    p.write("data/c.txt", "three\n");
    let w = Watch::json(&p);
    let first = w.expect("succeeded", CYCLE);
    assert_eq!(first["cycle"], 1, "{first}");
    assert_eq!(first["uploaded"], 2, "a.txt and c.txt: {first}");
    assert_eq!(first["deleted"], 1, "b.txt: {first}");
    assert_eq!(first["errors"], 0, "{first}");
    assert_eq!(first["image_id"].as_str(), Some(p.image_id().as_str()), "{first}");
    assert_ne!(p.image_id(), built, "committed");
    assert_eq!(p.run_image(), "uno\nthree");
    w.expect_silence(Duration::from_secs(1), "nothing changed after the first cycle");
}

#[test]
fn an_edit_made_outside_any_editor_is_built_and_committed() {
    let p = TempProject::fixture("busybox-app");
    let w = Watch::json(&p);
    let first = w.expect("image_built", FIRST_CYCLE);
    assert_eq!(first["cycle"], 1, "{first}");
    assert_eq!(p.run_image(), "one\ntwo");

    std::fs::write(p.path("data/c.txt"), "three\n").expect("write");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!(
        (v["cycle"].as_u64(), v["uploaded"].as_u64(), v["deleted"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(p.run_image(), "one\ntwo\nthree");
    let good = p.image_id();
    assert_eq!(v["image_id"].as_str(), Some(good.as_str()), "{v}");

    std::fs::write(p.path("data/a.txt"), "FAIL\n").expect("write");
    let v = w.expect("build_failed", CYCLE);
    assert_eq!(v["cycle"], 3, "{v}");
    assert!(v["errors"].as_u64().is_some_and(|n| n >= 1), "the failure is a problem: {v}");
    assert_eq!(v["image_id"].as_str(), Some(good.as_str()), "{v}");
    assert_eq!(p.image_id(), good, "nothing committed");

    std::fs::write(p.path("data/a.txt"), "uno\n").expect("write");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!((v["cycle"].as_u64(), v["errors"].as_u64()), (Some(4), Some(0)), "{v}");
    assert_eq!(p.run_image(), "uno\ntwo\nthree");
    assert_ne!(p.image_id(), good);
}

#[test]
fn a_branch_switch_of_many_files_is_one_cycle() {
    const FILES: usize = 1000;
    let p = TempProject::fixture("busybox-app");
    // The repository is the project: `.git` sits beside data/, outside every synced folder.
    git(&p.dir, &["init", "-q", "-b", "main"]);
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "start"]);
    git(&p.dir, &["checkout", "-q", "-b", "many"]);
    p.write("data/a.txt", "one on many\n");
    p.write("data/b.txt", "two on many\n");
    for i in 0..FILES - 2 {
        p.write(&format!("data/f{i:04}.txt"), &format!("file {i}\n"));
    }
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "many"]);
    git(&p.dir, &["checkout", "-q", "main"]);

    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);
    let builder = p.builder();
    let matches_host = |why: &str| {
        let expected = without_owners(docker_build_tree(&p.path("data"), "/app/data"));
        let actual = without_owners(container_tree(&builder, "/app/data"));
        let diff = differences(&expected, &actual);
        assert!(diff.is_empty(), "{why}: the builder's /app/data differs from a docker build:\n{}", diff.join("\n"));
    };

    git(&p.dir, &["checkout", "-q", "many"]);
    let v = w.expect("succeeded", Duration::from_secs(60));
    assert_eq!((v["uploaded"].as_u64(), v["deleted"].as_u64()), (Some(FILES as u64), Some(0)), "{v}");
    w.expect_silence(Duration::from_secs(3), "a checkout is one cycle");
    matches_host("after checking out the branch");
    let out = p.run_image();
    let head: String = out.chars().take(80).collect();
    assert!(out.starts_with("one on many\ntwo on many\nfile 0\n") && out.lines().count() == FILES, "{head}");

    git(&p.dir, &["checkout", "-q", "main"]);
    let v = w.expect("succeeded", Duration::from_secs(60));
    assert_eq!((v["uploaded"].as_u64(), v["deleted"].as_u64()), (Some(2), Some(FILES as u64 - 2)), "{v}");
    w.expect_silence(Duration::from_secs(3), "a checkout is one cycle");
    matches_host("after checking out main again");
    assert_eq!(p.run_image(), "one\ntwo");
}

#[test]
fn editor_swap_files_and_git_internals_trigger_nothing() {
    let p = TempProject::fixture("busybox-app");
    std::fs::create_dir_all(p.path(".git/objects/ab")).expect("mkdir .git");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);

    let temps = [".a.txt.swp", ".a.txt.swx", "a.txt~", "4913", ".#a.txt", "#a.txt#"];
    for name in temps {
        p.write(&format!("data/{name}"), "being saved\n");
    }
    for name in temps {
        std::fs::write(p.path(&format!("data/{name}")), "saved again\n").expect("modify");
    }
    for name in temps {
        std::fs::remove_file(p.path(&format!("data/{name}"))).expect("rm");
    }
    p.write(".git/HEAD", "ref: refs/heads/main\n");
    p.write(".git/objects/ab/cdef", "blob");
    p.write(".git/index.lock", "");
    std::fs::rename(p.path(".git/index.lock"), p.path(".git/index")).expect("mv");
    std::fs::remove_file(p.path(".git/objects/ab/cdef")).expect("rm");
    w.expect_silence(Duration::from_secs(2), "only editor temporaries and .git changed");

    // The watcher is alive, and those files were never synced.
    p.write("data/a.txt", "uno\n");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!((v["uploaded"].as_u64(), v["deleted"].as_u64()), (Some(1), Some(0)), "{v}");
    assert_eq!(v["cycle"], 2, "{v}");
}

#[test]
fn a_change_waits_while_git_holds_its_index_lock() {
    let p = TempProject::fixture("busybox-app");
    std::fs::create_dir_all(p.path(".git")).expect("mkdir .git");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);

    // As during a long checkout: the tree is being rewritten until the lock goes away.
    p.write(".git/index.lock", "");
    p.write("data/a.txt", "uno\n");
    w.expect_silence(Duration::from_millis(1500), "git still holds .git/index.lock");
    p.write("data/b.txt", "dos\n");
    std::fs::remove_file(p.path(".git/index.lock")).expect("rm lock");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!((v["cycle"].as_u64(), v["uploaded"].as_u64()), (Some(2), Some(2)), "one cycle for both: {v}");
    assert_eq!(p.run_image(), "uno\ndos");
    w.expect_silence(Duration::from_secs(1), "both were in that cycle");
}

#[test]
fn rewriting_files_with_the_content_already_synced_starts_no_cycle() {
    let p = TempProject::fixture("busybox-app");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);

    // Saved unchanged (new mtime, same bytes), and changed then changed back.
    std::fs::write(p.path("data/a.txt"), "one\n").expect("write");
    p.write("data/b.txt", "changed\n");
    p.write("data/b.txt", "two\n");
    w.expect_silence(Duration::from_secs(2), "the builder already holds these contents");

    p.write("data/b.txt", "deux\n");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!((v["cycle"].as_u64(), v["uploaded"].as_u64()), (Some(2), Some(1)), "{v}");
    std::fs::write(p.path("data/b.txt"), "deux\n").expect("write");
    w.expect_silence(Duration::from_secs(2), "b.txt was synced by the last cycle");
}

#[test]
fn changes_made_during_a_cycle_make_one_next_cycle() {
    let p = TempProject::fixture("watch-app");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);

    p.write("slow.txt", "SLOW 4\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !live_processes(&p).iter().any(|l| l.contains("sleep 4")) {
        assert!(Instant::now() < deadline, "the slow build never started:\n{}", w.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Three batches (each past the quiet period) while the build sleeps.
    p.write("data/c.txt", "three\n");
    std::thread::sleep(Duration::from_millis(400));
    p.write("data/d.txt", "four\n");
    std::thread::sleep(Duration::from_millis(400));
    std::fs::remove_file(p.path("slow.txt")).expect("rm");

    let v = w.expect("succeeded", CYCLE);
    assert_eq!((v["cycle"].as_u64(), v["uploaded"].as_u64()), (Some(2), Some(1)), "slow.txt only: {v}");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!(
        (v["cycle"].as_u64(), v["uploaded"].as_u64(), v["deleted"].as_u64()),
        (Some(3), Some(2), Some(1)),
        "{v}"
    );
    w.expect_silence(Duration::from_secs(2), "what changed during cycle 2 was all in cycle 3");
    assert_eq!(p.run_image(), "one\ntwo\nthree\nfour");
}

#[test]
fn ctrl_c_stops_a_running_build_commits_nothing_and_exits_cleanly() {
    let p = TempProject::fixture("watch-app");
    let mut w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);
    let before = p.image_id();

    p.write("slow.txt", "SLOW\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !live_processes(&p).iter().any(|l| l.contains("sleep 61")) {
        assert!(Instant::now() < deadline, "the slow build never started:\n{:?}\n{}", live_processes(&p), w.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let interrupted = Instant::now();
    w.signal("INT");
    let status = w.wait(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGINT:\n{}", w.log()));
    assert_eq!(status.code(), Some(0), "{}", w.log());
    let lines = w.remaining();
    let cancelled: Vec<&Value> = lines.iter().filter(|v| v["outcome"] == "cancelled").collect();
    assert_eq!(cancelled.len(), 1, "one cancelled cycle reported: {lines:?}\n{}", w.log());
    assert_eq!(cancelled[0]["cycle"], 2, "{}", cancelled[0]);
    eprintln!("exited {:?} after SIGINT", interrupted.elapsed());

    assert_eq!(p.image_id(), before, "nothing committed");
    let processes = live_processes(&p);
    assert!(!processes.iter().any(|l| l.contains("sleep 61")), "the build's processes were killed: {processes:?}");
    p.assert_no_zombies_stay();

    // The builder is consistent: a plain build syncs what changed since and builds.
    std::fs::remove_file(p.path("slow.txt")).expect("rm");
    p.write("data/c.txt", "three\n");
    let v = p.build_json(&[], 0);
    assert_eq!(v["outcome"], "succeeded", "{v}");
    assert_eq!((v["uploaded"].as_u64(), v["deleted"].as_u64()), (Some(1), Some(1)), "c.txt; slow.txt: {v}");
    assert_eq!(p.run_image(), "one\ntwo\nthree");
    assert!(!p.in_builder(&["test", "-e", "/ctx/slow.txt"]).status.success(), "slow.txt removed from the builder");
}

#[test]
fn a_second_signal_exits_at_once_with_130() {
    let p = TempProject::fixture("watch-app");
    let mut w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);
    let before = p.image_id();
    p.write("slow.txt", "SLOW\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !live_processes(&p).iter().any(|l| l.contains("sleep 61")) {
        assert!(Instant::now() < deadline, "the slow build never started:\n{}", w.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The second comes while the first is still stopping the build.
    w.signal("INT");
    std::thread::sleep(Duration::from_millis(20));
    w.signal("TERM");
    let status = w.wait(Duration::from_secs(5)).unwrap_or_else(|| panic!("still running:\n{}", w.log()));
    assert_eq!(status.code(), Some(130), "{}", w.log());
    assert!(w.log().contains("stopped at once"), "{}", w.log());
    assert_eq!(p.image_id(), before, "nothing committed");
}

#[test]
fn a_tool_error_is_reported_as_json_and_watching_goes_on() {
    let p = TempProject::fixture("busybox-app");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);

    p.write("rebuilder.toml", "image = \"demo\"\n\ncomit = false\n");
    let v = w.expect("error", CYCLE);
    let error = v["error"].as_str().unwrap_or_default();
    assert!(error.contains("rebuilder.toml") && error.contains("comit"), "{v}");
    assert!(v["fix"].as_str().is_some_and(|f| !f.is_empty()), "it says how to fix it: {v}");

    std::fs::remove_file(p.path("rebuilder.toml")).expect("rm");
    p.write("data/c.txt", "three\n");
    let v = w.expect("succeeded", CYCLE);
    assert_eq!(v["uploaded"], 1, "{v}");
    assert_eq!(p.run_image(), "one\ntwo\nthree");
}

#[test]
fn human_mode_prints_clickable_problems_relative_to_where_it_started() {
    let p = TempProject::fixture("watch-app");
    let mut w = Watch::spawn(&["watch"], &p.dir, Some(&p.dir));
    let banner = w.stderr_line(Duration::from_secs(30), "banner", |l| l.starts_with("watching "));
    assert!(banner.contains(&p.image) && banner.ends_with("(Ctrl-C to stop)"), "{banner}");
    w.stderr_line(FIRST_CYCLE, "first summary", |l| l.starts_with("#1 ✓"));

    p.write("data/sub/x.txt", "fine\nstill FAIL here\n");
    let problem = w.stderr_line(CYCLE, "problem line", |l| l.contains(": error: "));
    assert_eq!(problem, "data/sub/x.txt:2:7: error: this line says FAIL", "{}", w.log());
    let shown = problem.split(':').next().expect("path");
    assert!(Path::new(shown).is_relative() && p.path(shown).is_file(), "{shown} is a host file relative to the start");
    let summary = w.stderr_line(CYCLE, "failure summary", |l| l.starts_with('#'));
    assert!(summary.starts_with("#2 ✗"), "{summary}\n{}", w.log());

    p.write("data/sub/x.txt", "fine\nfixed\n");
    let summary = w.stderr_line(CYCLE, "success summary", |l| l.starts_with('#'));
    assert!(summary.starts_with("#3 ✓"), "{summary}\n{}", w.log());

    w.signal("INT");
    let status = w.wait(Duration::from_secs(10)).unwrap_or_else(|| panic!("still running:\n{}", w.log()));
    assert_eq!(status.code(), Some(0), "{}", w.log());
    w.stderr_line(Duration::from_secs(5), "stop message", |l| l.starts_with("stopped; "));
}

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// The fixture's own files: the random operations leave them alone.
const FIXED: [&str; 4] = ["Dockerfile", ".dockerignore", "build.sh", "data"];

/// Names for random entries: spaces, unicode, hidden, and what .dockerignore singles out
/// (`*.log` at the root, `tmp/` with `!tmp/keep`). None looks like an editor temporary.
const NAMES: [&str; 14] = [
    "a",
    "b.txt",
    "c.log",
    "keep",
    "tmp",
    "with space.txt",
    "ünïcödé.txt",
    "日本語",
    "x y z",
    ".hidden",
    "dir",
    "Ω",
    "notes.md",
    "run.sh",
];

/// What is on disk now (outside the fixture's own files), by kind, as '/'-separated paths.
#[derive(Default)]
struct Listing {
    dirs: Vec<String>,
    files: Vec<String>,
    links: Vec<String>,
}

fn list(root: &Path) -> Listing {
    fn walk(root: &Path, rel: &str, out: &mut Listing) {
        let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read_dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && FIXED.contains(&name.as_str()) {
                continue;
            }
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                out.links.push(path);
            } else if kind.is_dir() {
                out.dirs.push(path.clone());
                walk(root, &path, out);
            } else {
                out.files.push(path);
            }
        }
    }
    let mut out = Listing::default();
    walk(root, "", &mut out);
    out
}

fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a link at `link` (relative to the root) with relative `target` resolves outside the
/// root: docker-rebuilder refuses those on purpose, so the test never makes one.
fn escapes(link: &str, target: &str) -> bool {
    let mut depth = parent_of(link).split('/').filter(|s| !s.is_empty()).count() as i64;
    for part in Path::new(target).components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Whether moving `from` to `to` would make a link in what moves point out of the root.
fn move_breaks_links(root: &Path, from: &str, to: &str) -> bool {
    let links = list(root).links;
    links.iter().filter(|l| *l == from || l.starts_with(&format!("{from}/"))).any(|link| {
        let target = std::fs::read_link(root.join(link)).expect("readlink");
        let moved = format!("{to}{}", &link[from.len()..]);
        escapes(&moved, &target.to_string_lossy())
    })
}

fn random_content(rng: &mut Rng) -> String {
    let len = rng.below(200);
    (0..len).map(|_| b"abcdefghij klmnop\n"[rng.below(18)] as char).collect()
}

/// One random operation on the tree under `root`; returns what it did, for the log.
fn random_operation(rng: &mut Rng, root: &Path) -> Option<String> {
    let now = list(root);
    let mut dirs = vec![String::new()];
    dirs.extend(now.dirs.iter().cloned());
    let name = |rng: &mut Rng| {
        let base = *rng.pick(&NAMES).expect("names");
        if rng.chance(40) {
            match base.split_once('.') {
                Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{}.{ext}", rng.below(5)),
                _ => format!("{base}-{}", rng.below(5)),
            }
        } else {
            base.to_string()
        }
    };
    let fresh = |rng: &mut Rng, dirs: &[String]| {
        let dir = rng.pick(dirs).expect("dirs").clone();
        let path = join(&dir, &name(rng));
        let taken = root.join(&path).symlink_metadata().is_ok() || (dir.is_empty() && FIXED.contains(&path.as_str()));
        (!taken).then_some(path)
    };
    let p = |rel: &str| root.join(rel);
    match rng.below(100) {
        0..=24 => {
            let path = fresh(rng, &dirs)?;
            std::fs::write(p(&path), random_content(rng)).expect("create");
            Some(format!("create {path:?}"))
        }
        25..=39 => {
            let path = rng.pick(&now.files)?.clone();
            std::fs::write(p(&path), random_content(rng)).expect("edit");
            Some(format!("edit {path:?}"))
        }
        40..=47 => {
            let path = rng.pick(&[now.files.clone(), now.links.clone()].concat())?.clone();
            std::fs::remove_file(p(&path)).expect("delete");
            Some(format!("delete {path:?}"))
        }
        48..=57 => {
            let from = rng.pick(&[now.files.clone(), now.links.clone()].concat())?.clone();
            let to = fresh(rng, &dirs)?;
            if move_breaks_links(root, &from, &to) {
                return None;
            }
            std::fs::rename(p(&from), p(&to)).expect("rename");
            Some(format!("rename {from:?} → {to:?}"))
        }
        58..=69 => {
            let path = fresh(rng, &dirs)?;
            std::fs::create_dir(p(&path)).expect("mkdir");
            Some(format!("mkdir {path:?}"))
        }
        70..=74 => {
            let path = rng.pick(&now.dirs)?.clone();
            std::fs::remove_dir_all(p(&path)).expect("rm -r");
            Some(format!("rm -r {path:?}"))
        }
        75..=84 => {
            let link = fresh(rng, &dirs)?;
            let up = "../".repeat(parent_of(&link).split('/').filter(|s| !s.is_empty()).count());
            let everything = [now.files.clone(), now.dirs.clone(), now.links.clone()].concat();
            let target = match rng.pick(&everything) {
                Some(to) if !rng.chance(25) => format!("{up}{to}"),
                // Dangling, yet inside.
                _ => format!("{up}missing-{}", rng.below(3)),
            };
            assert!(!escapes(&link, &target), "{link} → {target}");
            std::os::unix::fs::symlink(&target, p(&link)).expect("symlink");
            Some(format!("symlink {link:?} → {target:?}"))
        }
        85..=92 => {
            let from = rng.pick(&now.dirs)?.clone();
            let to = fresh(rng, &dirs)?;
            if to.starts_with(&format!("{from}/")) || move_breaks_links(root, &from, &to) {
                return None;
            }
            std::fs::rename(p(&from), p(&to)).expect("rename dir");
            Some(format!("rename dir {from:?} → {to:?}"))
        }
        _ => {
            let path = rng.pick(&now.files)?.clone();
            let mode = *rng.pick(&[0o755, 0o644, 0o700, 0o600]).expect("modes");
            std::fs::set_permissions(p(&path), std::fs::Permissions::from_mode(mode)).expect("chmod");
            Some(format!("chmod {mode:o} {path:?}"))
        }
    }
}

#[test]
fn a_randomized_run_of_200_operations_ends_with_the_builder_equal_to_the_host() {
    let seed = match std::env::var("DR_SEED") {
        Ok(s) => s.parse().expect("DR_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos() as u64 | 1
        }
    };
    eprintln!("randomized watch run: DR_SEED={seed}");
    let mut rng = Rng(seed.max(1));
    let p = TempProject::fixture("watch-app");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);
    let builder = p.builder();

    let mut done = Vec::new();
    while done.len() < 200 {
        if let Some(op) = random_operation(&mut rng, &p.dir) {
            done.push(op);
            if rng.chance(30) {
                std::thread::sleep(Duration::from_millis(rng.below(21) as u64));
            }
            // Now and then a pause past the quiet period: a cycle starts while edits go on.
            if rng.chance(4) {
                std::thread::sleep(Duration::from_millis(100 + rng.below(300) as u64));
            }
        }
    }
    let expected = docker_build_tree(&p.dir, "/ctx");
    let deadline = Instant::now() + Duration::from_secs(60);
    let diff = loop {
        let diff = differences(&expected, &container_tree(&builder, "/ctx"));
        if diff.is_empty() || Instant::now() > deadline {
            break diff;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let cycles: Vec<String> = w.stdout.try_iter().collect();
    eprintln!("{} cycles after the first", cycles.len());
    assert!(
        diff.is_empty(),
        "DR_SEED={seed}: the builder's /ctx never matched a docker build of the host:\n{}\n\noperations:\n{}\n\ncycles:\n{}\n{}",
        diff.join("\n"),
        done.join("\n"),
        cycles.join("\n"),
        w.log()
    );
    let bad: Vec<&String> =
        cycles.iter().filter(|l| !l.contains("\"succeeded\"") && !l.contains("\"up_to_date\"")).collect();
    assert!(bad.is_empty(), "DR_SEED={seed}: every cycle builds: {bad:?}");
}

/// A multi-stage image whose dependency step (a RUN before the sources' COPY, which only a
/// full build runs) fails on the user's manifest: a failed build, located at the manifest's
/// line, in its stage — not an error blaming the Dockerfile. Putting the manifest back as the
/// builder holds it is a change too: a cycle says the image is up to date and the problem goes.
#[test]
fn a_failed_dependency_step_is_located_and_undoing_the_change_says_so() {
    let p = TempProject::fixture("busybox-app");
    let base = support::base_image();
    p.write(
        "Dockerfile",
        &format!(
            "FROM {base} AS deps\nWORKDIR /app\nCOPY deps.txt ./\n\
             RUN if grep -q broken deps.txt; then \
             echo \"/app/deps.txt:$(grep -n broken deps.txt | cut -d: -f1):1: error: a broken dependency\" >&2; \
             exit 3; fi\n\
             COPY data ./data\nRUN cat data/*.txt > all.txt\n\n\
             FROM {base}\nCOPY --from=deps /app/all.txt /all.txt\nCMD [\"cat\", \"/all.txt\"]\n"
        ),
    );
    p.write("deps.txt", "ok\n");
    let w = Watch::json(&p);
    w.expect("image_built", FIRST_CYCLE);
    let built = p.image_id();

    p.write("deps.txt", "ok\nbroken\n");
    let failed = w.expect("build_failed", CYCLE);
    assert_eq!(failed["stage"], "deps", "{failed}\n{}", w.log());
    assert_eq!(failed["detail"]["exit_code"], 3, "{failed}");
    let deps = p.path("deps.txt").canonicalize().expect("deps.txt");
    let located = failed["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|d| d["file"] == deps.to_string_lossy().as_ref() && d["line"] == 2);
    assert!(located, "at deps.txt:2: {failed}");

    p.write("deps.txt", "ok\n");
    let back = w.next(CYCLE);
    assert_eq!(back["outcome"], "up_to_date", "the builder already holds it: {back}\n{}", w.log());
    assert_eq!(back["errors"], 0, "{back}");
    assert_eq!(p.image_id(), built);
    assert_eq!(p.run_image(), "one\ntwo");
}
