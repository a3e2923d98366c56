//! The builder's sources are exactly the host's, as a fresh `docker build` would see them.
//!
//! Every check compares the builder's tree (read with `docker cp`, never through
//! docker-rebuilder) with what a fresh classic `docker build` of the same folder copies
//! (`support::tree::docker_build_tree`): kind, content, link target, mode, uid and gid.

mod support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::tree::{self, Tree};
use support::{docker_ok, TempProject};

/// Where the context-app fixture's Dockerfile copies the context.
const DEST: &str = "/ctx";

fn outcome(v: &serde_json::Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

fn reason(v: &serde_json::Value) -> &str {
    v["detail"]["reason"].as_str().unwrap_or_default()
}

/// `build --json`, which must exit 0 with `expected` as its outcome.
#[track_caller]
fn build(p: &TempProject, expected: &str) -> serde_json::Value {
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), expected, "{v}");
    v
}

/// What a fresh `docker build` of the project copies to /ctx.
fn oracle(p: &TempProject) -> Tree {
    tree::docker_build_tree(&p.dir, DEST)
}

fn builder_tree(p: &TempProject) -> Tree {
    tree::container_tree(&p.builder(), DEST)
}

/// The builder's /ctx is what a fresh `docker build` would copy; returns that tree.
#[track_caller]
fn assert_builder_is_docker_build(p: &TempProject, when: &str) -> Tree {
    let expected = oracle(p);
    tree::assert_same(&expected, &builder_tree(p), &format!("the builder's {DEST} {when}"));
    expected
}

/// How many entries the fixture's build.sh found under /ctx (itself included) on its last run
/// in the builder: it proves the build ran over the synced tree.
fn entries_seen_by_the_build(p: &TempProject) -> usize {
    let out = p.in_builder(&["cat", "/out/count"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a count")
}

/// Writes a file (its own path as content, so no two files hash alike) or, for a path ending
/// in `/`, makes an empty folder.
fn make(p: &TempProject, rel: &str) {
    let path = p.path(rel);
    if rel.ends_with('/') {
        std::fs::create_dir_all(&path).expect("mkdir");
        return;
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, format!("{rel}\n")).expect("write");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn link(p: &TempProject, rel: &str, target: &str) {
    let path = p.path(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    symlink(target, path).expect("symlink");
}

fn remove(p: &TempProject, rel: &str) {
    let path = p.path(rel);
    let meta = std::fs::symlink_metadata(&path).expect("exists");
    if meta.is_dir() {
        std::fs::remove_dir_all(path).expect("rm -r");
    } else {
        std::fs::remove_file(path).expect("rm");
    }
}

fn rename(p: &TempProject, from: &str, to: &str) {
    std::fs::rename(p.path(from), p.path(to)).expect("rename");
}

/// Host paths the tricky .dockerignore of the context-app fixture keeps (true) or leaves out
/// (false); a trailing `/` is an empty folder. Each pattern has both.
const TRICKY: &[(&str, bool)] = &[
    // `#readme.txt` is a comment; `  #indented.txt` is a pattern.
    ("#kept.txt", true),
    ("#indented.txt", false),
    // `**/*.log` at any depth, `!important.log` at the root only, `!  logs/keep.log` trimmed.
    ("a.log", false),
    (".log", false),
    ("sub/b.log", false),
    ("sub/deeper/c.log", false),
    ("dirs.log/inner.txt", false),
    ("log.txt", true),
    ("sub/logfile", true),
    ("important.log", true),
    ("sub/important.log", false),
    ("logs/keep.log", true),
    ("logs/other.log", false),
    // `build/` with `!build/keep/**`: Docker walks into build/ but sends no entry for it.
    ("build/out.o", false),
    ("build/sub/x.o", false),
    ("build/empty/", false),
    ("build/keep/a.txt", true),
    ("build/keep/deep/b.txt", true),
    ("build/keep/.hidden", true),
    ("build/keep/empty/", true),
    ("build.txt", true),
    ("builder/x.txt", true),
    // `docs/*.md`: one level only.
    ("docs/a.md", false),
    ("docs/.b.md", false),
    ("docs/a.txt", true),
    ("docs/sub/c.md", true),
    ("docs/md", true),
    // `**/node_modules`: folders and files of that name, at any depth.
    ("node_modules/pkg/index.js", false),
    ("web/node_modules/x.js", false),
    ("web/node_modules_cache/y.js", true),
    ("web/not_node_modules/z.js", true),
    ("web/app.js", true),
    ("other/node_modules", false),
    ("web/node_modules/keep.me", false),
    ("node_modules/keep.me", false),
    // `*.tmp`: the root only.
    ("x.tmp", false),
    ("sub/y.tmp", true),
    ("x.tmpl", true),
    // `/abs-root.txt`, `/cfg/*.ini`, `./dot-slash.txt`, `cache/../cache2`: cleaned, anchored.
    ("abs-root.txt", false),
    ("sub/abs-root.txt", true),
    ("cfg/a.ini", false),
    ("cfg/sub/b.ini", true),
    ("cfg/a.cfg", true),
    ("dot-slash.txt", false),
    ("sub/dot-slash.txt", true),
    ("cache2/x", false),
    ("cache/y", true),
    // `file?.txt`, `caf?.txt`, classes, `star\*.txt`, `dir.with.dots/`, `   spaced.txt   `.
    ("file1.txt", false),
    ("fileX.txt", false),
    ("file.txt", true),
    ("file10.txt", true),
    ("sub/file1.txt", true),
    ("café.txt", false),
    ("cafe.txt", false),
    ("caf.txt", true),
    ("cafés.txt", true),
    ("nega.txt", false),
    ("neg!.txt", false),
    ("negb.txt", true),
    ("posa.txt", true),
    ("posb.txt", false),
    ("esc].txt", false),
    ("escx.txt", false),
    ("escy.txt", true),
    ("a-class.dat", false),
    ("c-class.dat", false),
    ("d-class.dat", true),
    ("A-class.dat", true),
    ("star*.txt", false),
    ("starX.txt", true),
    ("dir.with.dots/f", false),
    ("dirXwithXdots/f", true),
    ("spaced.txt", false),
    (" spaced.txt", true),
    // `.git`; other dotfiles stay.
    (".git/HEAD", false),
    (".git/objects/ab/cdef", false),
    (".gitignore", true),
    (".github/ci.yml", true),
    (".env", true),
    (".hidden/.inner", true),
    // `secret` with `!secret/public`: a re-included folder under an excluded one.
    ("secret/key", false),
    ("secret/publicity.txt", false),
    ("secret/public/readme", true),
    ("secret/public/nested/deep.txt", true),
    ("secret/id.pub", true),
    ("secret/id", false),
    // `deep/**/skip-*` with `!deep/**/skip-me-not`.
    ("deep/skip-a", false),
    ("deep/x/y/skip-b", false),
    ("deep/skip-dir/inner", false),
    ("deep/skip-me-not", true),
    ("deep/x/skip-me-not", true),
    ("deep/x/keep.txt", true),
    // `vendor` with `!vendor/ours/`.
    ("vendor/README", false),
    ("vendor/theirs/a", false),
    ("vendor/ours/b", true),
    ("vendor/ours/sub/c", true),
    // Empty folders, and modes on folders Docker does and does not send.
    ("empty/", true),
    ("nested/empty/", true),
    ("private/secret.txt", true),
    ("tool.sh", true),
    // The last line ends in CR LF.
    ("crlf.txt", false),
];

fn make_tricky_tree(p: &TempProject) {
    for (rel, _) in TRICKY {
        make(p, rel);
    }
    chmod(&p.path("private"), 0o700);
    chmod(&p.path("tool.sh"), 0o755);
    // Docker sends no entry for these (excluded, but walked into): their modes must not leak.
    chmod(&p.path("build"), 0o700);
    chmod(&p.path("build/keep"), 0o750);
}

#[test]
fn the_builder_holds_exactly_what_docker_build_copies_through_a_tricky_dockerignore() {
    let p = TempProject::fixture("context-app");
    build(&p, "image_built");
    // Our own build context went through the same .dockerignore as the docker CLI's.
    tree::assert_same(&oracle(&p), &tree::image_tree(&p.image, DEST), "the first image's /ctx");

    make_tricky_tree(&p);
    let expected = oracle(&p);
    for (rel, kept) in TRICKY {
        let rel = rel.trim_end_matches('/');
        assert_eq!(expected.contains_key(rel), *kept, "docker build keeps {rel:?}: the fixture's premise is wrong");
    }
    assert!(!expected.contains_key("Dockerfile") && expected.contains_key("build.sh"), "{:?}", expected.keys());
    let v = build(&p, "succeeded");
    assert!(v["uploaded"].as_u64().unwrap_or_default() > 40, "a sync of the whole new tree: {v}");
    tree::assert_same(&expected, &builder_tree(&p), "the builder's /ctx after syncing the tricky tree");
    tree::assert_same(&expected, &tree::image_tree(&p.image, DEST), "the committed image's /ctx");
    assert_eq!(entries_seen_by_the_build(&p), expected.len() + 1, "build.sh ran over the synced tree");

    // A full build from the same tree packs the same context.
    assert_eq!(outcome(&p.build_json(&["--full"], 0)), "image_built");
    tree::assert_same(&expected, &tree::image_tree(&p.image, DEST), "the fully rebuilt image's /ctx");
    tree::assert_same(&expected, &builder_tree(&p), "the new builder's /ctx");
}

#[test]
fn deletes_and_renames_of_files_and_directories_are_mirrored() {
    let p = TempProject::fixture("context-app");
    for rel in [
        "src/a.txt",
        "src/Case.txt",
        "src/dir/x.txt",
        "src/dir/.dot",
        "src/dir/y/z.txt",
        "src/dir/y/empty/",
        "trash/t1/t2/t3.txt",
        "trash/u.txt",
        "file-to-dir",
        "dir-to-file/inner/f.txt",
        "dir-to-file/g.txt",
        "file-to-link",
        "dir-to-link/h.txt",
        "real/r.txt",
        "swap/p.txt",
        "swap/q.txt",
        "ignored-then-not.tmp",
    ] {
        make(&p, rel);
    }
    link(&p, "link-to-file", "src/a.txt");
    link(&p, "link-to-dir", "real");
    build(&p, "image_built");
    assert_builder_is_docker_build(&p, "after the first build");

    // A file renamed (same content, new name) and one renamed by case only.
    rename(&p, "src/a.txt", "src/b.txt");
    rename(&p, "src/Case.txt", "src/case.txt");
    let v = build(&p, "succeeded");
    assert_eq!(v["deleted"], 2, "{v}");
    assert_builder_is_docker_build(&p, "after renaming files");

    // A folder renamed with everything in it.
    rename(&p, "src/dir", "src/moved");
    build(&p, "succeeded");
    assert_builder_is_docker_build(&p, "after renaming a folder");

    // A folder tree deleted.
    remove(&p, "trash");
    let v = build(&p, "succeeded");
    assert_eq!(v["deleted"], 1, "one rm of the top folder: {v}");
    assert_builder_is_docker_build(&p, "after deleting a folder tree");

    // A file becomes a folder of the same name, and a folder becomes a file.
    remove(&p, "file-to-dir");
    make(&p, "file-to-dir/now-inside.txt");
    remove(&p, "dir-to-file");
    make(&p, "dir-to-file");
    build(&p, "succeeded");
    assert_builder_is_docker_build(&p, "after swapping a file and a folder for each other");

    // Files and folders become links, and links become a file and a folder.
    remove(&p, "file-to-link");
    link(&p, "file-to-link", "src/b.txt");
    remove(&p, "dir-to-link");
    link(&p, "dir-to-link", "src/moved");
    remove(&p, "link-to-file");
    make(&p, "link-to-file");
    remove(&p, "link-to-dir");
    make(&p, "link-to-dir/inside.txt");
    build(&p, "succeeded");
    assert_builder_is_docker_build(&p, "after turning files and folders into links and back");

    // Two names swapped; a file moved under an ignored name, and one out of it.
    rename(&p, "swap/p.txt", "swap/tmp");
    rename(&p, "swap/q.txt", "swap/p.txt");
    rename(&p, "swap/tmp", "swap/q.txt");
    rename(&p, "src/b.txt", "src/b.tmp.log");
    rename(&p, "ignored-then-not.tmp", "not-ignored-now.txt");
    build(&p, "succeeded");
    let expected =
        assert_builder_is_docker_build(&p, "after swapping names and moving files in and out of ignored names");
    tree::assert_same(&expected, &tree::image_tree(&p.image, DEST), "the committed image's /ctx");
}

/// Names a shell, a tar or a careless quoting would trip on.
const HOSTILE: &[&str] = &[
    "with space.txt",
    " leading space.txt",
    "trailing space.txt ",
    "é.txt",
    "e\u{301}.txt",
    "日本/語.txt",
    "emoji-🚀.txt",
    "-rf",
    "--help",
    "-",
    "new\nline.txt",
    "tab\there.txt",
    "a*b.txt",
    "q?.txt",
    "br[ack.txt",
    "br]ack.txt",
    "it's.txt",
    "say \"hi\".txt",
    "back\\slash.txt",
    "$HOME.txt",
    "`tick`.txt",
    "semi;colon|pipe&amp.txt",
    "...",
    "dir with space/-rf/x*.txt",
    "dir with space/--/y.txt",
    "new\ndir/inner\n.txt",
    "-dir/--help",
];

fn long_name() -> String {
    // A path well past tar's 100-byte name field, with a 200-byte last component.
    format!("long/{}/{}.txt", "d".repeat(120), "n".repeat(196))
}

#[test]
fn hostile_names_survive_sync_and_delete() {
    let p = TempProject::fixture("context-app");
    build(&p, "image_built");

    for rel in HOSTILE {
        make(&p, rel);
    }
    make(&p, &long_name());
    let v = build(&p, "succeeded");
    let expected = assert_builder_is_docker_build(&p, "after syncing hostile names");
    for rel in HOSTILE {
        assert!(expected.contains_key(*rel), "docker build keeps {rel:?}: the test's premise is wrong");
    }
    assert_eq!(entries_seen_by_the_build(&p), expected.len() + 1, "build.sh saw every synced name: {v}");

    // Delete about half of them, the folders with hostile names included.
    for rel in [
        "-rf",
        "--help",
        "new\nline.txt",
        "it's.txt",
        "say \"hi\".txt",
        "back\\slash.txt",
        "br[ack.txt",
        "q?.txt",
        "é.txt",
        "with space.txt",
        "trailing space.txt ",
        "...",
        "日本",
        "dir with space",
        "new\ndir",
        "long",
    ] {
        remove(&p, rel);
    }
    build(&p, "succeeded");
    let expected = assert_builder_is_docker_build(&p, "after deleting half of the hostile names");
    assert_eq!(entries_seen_by_the_build(&p), expected.len() + 1, "build.sh saw every remaining name");

    // And a full build packs them as the docker CLI does.
    assert_eq!(outcome(&p.build_json(&["--full"], 0)), "image_built");
    tree::assert_same(&expected, &tree::image_tree(&p.image, DEST), "the fully rebuilt image's /ctx");
}

#[test]
fn a_name_that_is_not_utf8_is_refused_with_a_warning_and_nothing_else_breaks() {
    // Linux names are bytes: Latin-1 "été.txt" is valid on disk and docker build copies it;
    // docker-rebuilder keeps paths as strings, so it leaves such names out and says so.
    use std::os::unix::ffi::OsStrExt;
    let p = TempProject::fixture("context-app");
    build(&p, "image_built");
    std::fs::write(p.dir.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9.txt")), "x\n").expect("write");
    std::fs::create_dir_all(p.dir.join(std::ffi::OsStr::from_bytes(b"dir-\xff"))).expect("mkdir");
    std::fs::write(p.dir.join(std::ffi::OsStr::from_bytes(b"dir-\xff/inner.txt")), "y\n").expect("write");
    make(&p, "plain.txt");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for shown in ["latin1-\u{fffd}t\u{fffd}.txt", "dir-\u{fffd}"] {
        assert!(
            run.stderr.lines().any(|l| l.contains("not valid UTF-8") && l.contains(shown)),
            "a warning names {shown}: {}",
            run.stderr
        );
    }
    // The tree helpers read names lossily, the same way on both sides.
    let refused = ["latin1-\u{fffd}t\u{fffd}.txt", "dir-\u{fffd}", "dir-\u{fffd}/inner.txt"];
    let expected = tree::without(&oracle(&p), &refused);
    tree::assert_same(&expected, &builder_tree(&p), "the builder's /ctx (names that are not UTF-8 left out)");
    assert!(builder_tree(&p).contains_key("plain.txt"), "the rest is synced");
}

#[test]
fn symlinks_are_sent_as_links_and_links_out_of_the_project_are_refused() {
    let p = TempProject::fixture("context-app");
    make(&p, "data/a.txt");
    make(&p, "data/b.txt");
    build(&p, "image_built");

    let inside = [
        ("link", "data/a.txt"),
        ("dirlink", "data"),
        ("dangling", "missing/nowhere.txt"),
        ("data/up", "../readme.txt"),
        ("data/here", "."),
    ];
    let outside =
        [("up-and-out", "../../etc/passwd"), ("absolute", "/etc/passwd"), ("data/way-out", "./../../outside.txt")];
    for (rel, target) in inside.iter().chain(&outside) {
        link(&p, rel, target);
    }
    let run = p.run(&["build"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let refused: Vec<&str> = outside.iter().map(|(rel, _)| *rel).collect();
    let expected = tree::without(&oracle(&p), &refused);
    let actual = builder_tree(&p);
    tree::assert_same(&expected, &actual, "the builder's /ctx (links out of the project left out)");
    for (rel, target) in inside {
        let entry = &actual[rel];
        assert!(entry.kind == 'l' && entry.content == target, "{rel} is a link to {target}, not followed: {entry:?}");
    }
    for rel in &refused {
        assert!(
            run.stderr.lines().any(|l| l.contains("outside") && l.contains(rel)),
            "a warning names the link {rel} as pointing outside: {}",
            run.stderr
        );
    }

    // A link retargeted inside is updated; one retargeted outside disappears from the builder.
    remove(&p, "link");
    link(&p, "link", "data/b.txt");
    remove(&p, "dirlink");
    link(&p, "dirlink", "/etc");
    make(&p, "data/c.txt");
    build(&p, "succeeded");
    let refused: Vec<&str> = refused.into_iter().chain(["dirlink"]).collect();
    tree::assert_same(
        &tree::without(&oracle(&p), &refused),
        &builder_tree(&p),
        "the builder's /ctx after retargeting links",
    );
}

/// (secs, nanos) of a modification time.
fn mtime_of(time: SystemTime) -> (u64, u32) {
    let since = time.duration_since(UNIX_EPOCH).expect("after the epoch");
    (since.as_secs(), since.subsec_nanos())
}

fn host_mtime(path: &Path) -> (u64, u32) {
    mtime_of(std::fs::symlink_metadata(path).expect("stat").modified().expect("mtime"))
}

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let file = std::fs::File::open(path).expect("open");
    file.set_modified(UNIX_EPOCH + Duration::new(secs, nanos)).expect("set mtime");
}

/// (secs, nanos) of `path`'s mtime inside a container, from busybox `stat`.
fn container_mtime(container_args: &[&str], path: &str) -> (u64, u32) {
    let mut args = container_args.to_vec();
    args.extend_from_slice(&["stat", "-c", "%Y %y", path]);
    let out = docker_ok(&args);
    // "1234567890 2009-02-13 23:31:30.123456789 +0000"
    let mut words = out.split_whitespace();
    let secs = words.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("stat {path}: {out}"));
    let nanos = words
        .nth(1)
        .and_then(|t| t.split_once('.'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("no sub-second part in stat {path}: {out}"));
    (secs, nanos)
}

const WITH_USER: &str = "RUN echo 'dev:x:1234:1234::/ctx:/bin/sh' >>/etc/passwd && echo 'dev:x:1234:' >>/etc/group \
                         && mkdir -m 1777 /out";

#[test]
fn modes_mtimes_and_owner_are_kept() {
    let base = support::base_image();
    let p = TempProject::fixture("context-app");
    p.write(
        "Dockerfile",
        &format!("FROM {base}\n{WITH_USER}\nWORKDIR /ctx\nCOPY --chown=dev:dev . /ctx\nUSER dev\nRUN sh build.sh\n"),
    );
    build(&p, "image_built");
    let oracle_as_dev = |p: &TempProject| tree::docker_build_tree_with(&p.dir, DEST, WITH_USER, "--chown=dev:dev");
    tree::assert_same(&oracle_as_dev(&p), &tree::image_tree(&p.image, DEST), "the first image's /ctx");

    for rel in ["bin/run.sh", "secret.key", "private/inner.txt", "ro.txt", "shared/s.txt"] {
        make(&p, rel);
    }
    chmod(&p.path("bin/run.sh"), 0o755);
    chmod(&p.path("secret.key"), 0o600);
    chmod(&p.path("private/inner.txt"), 0o640);
    chmod(&p.path("private"), 0o700);
    chmod(&p.path("ro.txt"), 0o444);
    chmod(&p.path("shared"), 0o751);
    let mtimes = [
        ("bin/run.sh", 981_173_106, 123_456_789),
        ("secret.key", 946_684_799, 999_999_999),
        ("private/inner.txt", 1_700_000_000, 1),
        ("private", 1_262_304_000, 500_000_000),
        ("ro.txt", 2_208_988_800, 42),
    ];
    for (rel, secs, nanos) in mtimes {
        set_mtime(&p.path(rel), secs, nanos);
    }
    build(&p, "succeeded");
    let builder = p.builder();
    let expected = oracle_as_dev(&p);
    tree::assert_same(&expected, &builder_tree(&p), "the builder's /ctx (modes and owner dev:dev)");
    for (rel, secs, nanos) in mtimes {
        let path = format!("{DEST}/{rel}");
        assert_eq!(container_mtime(&["exec", &builder], &path), (secs, nanos), "mtime of {path} in the builder");
        // The engine writes image layers with whole-second mtimes (moby truncates them).
        let (image_secs, _) = container_mtime(&["run", "--rm", &p.image], &path);
        assert_eq!(image_secs, secs, "mtime of {path} in the committed image");
    }

    // A mode-only change is a change; an edit keeps the new mtime to the nanosecond.
    chmod(&p.path("bin/run.sh"), 0o700);
    p.write("private/inner.txt", "edited\n");
    let v = build(&p, "succeeded");
    assert_eq!(v["uploaded"], 2, "{v}");
    tree::assert_same(&oracle_as_dev(&p), &builder_tree(&p), "the builder's /ctx after a chmod and an edit");
    let edited = host_mtime(&p.path("private/inner.txt"));
    assert_eq!(container_mtime(&["exec", &builder], "/ctx/private/inner.txt"), edited, "the edit's mtime");
}

#[test]
fn folders_docker_sends_no_entry_for_still_get_the_copy_owner() {
    let base = support::base_image();
    // The fixture's .dockerignore has `build/` and `!build/keep/**`: Docker walks into build/
    // but sends no entry for build/ or build/keep/; the engine makes them when it unpacks the
    // files below, and `COPY --chown` then owns them like everything it copied.
    let p = TempProject::fixture("context-app");
    p.write(
        "Dockerfile",
        &format!("FROM {base}\n{WITH_USER}\nWORKDIR /ctx\nCOPY --chown=dev:dev . /ctx\nUSER dev\nRUN sh build.sh\n"),
    );
    build(&p, "image_built");
    make(&p, "build/keep/implied.txt");
    make(&p, "build/keep/deeper/implied.txt");
    build(&p, "succeeded");
    let expected = tree::docker_build_tree_with(&p.dir, DEST, WITH_USER, "--chown=dev:dev");
    tree::assert_same(&expected, &builder_tree(&p), "the builder's /ctx");
    // What it is for: the build, running as dev, can write next to those files.
    let out = p.in_builder(&["sh", "-c", "touch /ctx/build/keep/output.o && rm /ctx/build/keep/output.o"]);
    assert!(out.status.success(), "dev cannot write in build/keep: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn files_copied_without_chown_belong_to_root_even_when_the_image_has_a_user() {
    let base = support::base_image();
    // `COPY` without --chown makes root-owned files whatever USER is in effect.
    let p = TempProject::fixture("context-app");
    p.write("Dockerfile", &format!("FROM {base}\n{WITH_USER}\nUSER dev\nWORKDIR /ctx\nCOPY . /ctx\nRUN sh build.sh\n"));
    build(&p, "image_built");
    let oracle_under_user =
        |p: &TempProject| tree::docker_build_tree_with(&p.dir, DEST, &format!("{WITH_USER}\nUSER dev"), "");
    tree::assert_same(&oracle_under_user(&p), &tree::image_tree(&p.image, DEST), "the first image's /ctx");

    make(&p, "src/new.txt");
    p.write("readme.txt", "edited\n");
    build(&p, "succeeded");
    tree::assert_same(&oracle_under_user(&p), &builder_tree(&p), "the builder's /ctx after a sync");
}

/// A full build's reason names `changed` and none of the other recipe files.
fn names_only(reason: &str, changed: &str) -> bool {
    let others = ["Dockerfile", ".dockerignore", "rebuilder.toml"].into_iter().filter(|f| *f != changed);
    reason.contains(changed) && others.into_iter().all(|f| !reason.contains(f))
}

#[test]
fn full_build_fallbacks_say_why() {
    let base = support::base_image();
    let p = TempProject::fixture("context-app");
    make(&p, "extra.txt");
    build(&p, "image_built");
    let mut problems = Vec::new();

    let mut step = |what: &str, changed: &str, check_reason: &dyn Fn(&str) -> bool| {
        let v = p.build_json(&[], 0);
        if outcome(&v) != "image_built" {
            problems.push(format!("{what}: a full build was expected, got {v}"));
        } else if !check_reason(reason(&v)) {
            problems.push(format!("{what}: the reason should name {changed} (alone), got {:?}", reason(&v)));
        }
        let expected = oracle(&p);
        let diff = tree::differences(&expected, &builder_tree(&p));
        if !diff.is_empty() {
            problems.push(format!("{what}: the builder's /ctx differs from docker build's:\n  {}", diff.join("\n  ")));
        }
        expected
    };

    // The .dockerignore stops excluding itself (so COPY copies it) and excludes extra.txt.
    p.replace(".dockerignore", "\n.dockerignore\n", "\n");
    p.write(".dockerignore", &format!("{}extra.txt\n", p.read(".dockerignore")));
    let tree = step("editing .dockerignore", ".dockerignore", &|r: &str| names_only(r, ".dockerignore"));
    assert!(!tree.contains_key("extra.txt") && tree.contains_key(".dockerignore"), "{:?}", tree.keys());

    p.write("rebuilder.toml", "timeout_secs = 600\n");
    let tree = step("creating rebuilder.toml", "rebuilder.toml", &|r: &str| names_only(r, "rebuilder.toml"));
    assert!(tree.contains_key("rebuilder.toml"));
    p.write("rebuilder.toml", "timeout_secs = 900\n");
    step("editing rebuilder.toml", "rebuilder.toml", &|r: &str| names_only(r, "rebuilder.toml"));

    p.write("deps.txt", "dep 1\n");
    p.write(
        "Dockerfile",
        &format!(
            "FROM {base}\nWORKDIR /ctx\nCOPY deps.txt /ctx/\nRUN mkdir -p /out && cp /ctx/deps.txt /out/deps\n\
             COPY . /ctx\nRUN sh build.sh\n"
        ),
    );
    step("editing the Dockerfile", "Dockerfile", &|r: &str| names_only(r, "Dockerfile"));

    p.write("deps.txt", "dep 2\n");
    step("editing a file copied before an earlier RUN", "deps.txt", &|r: &str| {
        r.contains("deps.txt") && r.contains("Dockerfile line 3")
    });
    let installed = docker_ok(&["run", "--rm", &p.image, "cat", "/out/deps"]);
    if installed != "dep 2" {
        problems.push(format!("the RUN after `COPY deps.txt` did not run again: /out/deps holds {installed:?}"));
    }

    // An ordinary edit is still a sync.
    p.write("readme.txt", "edited\n");
    let v = p.build_json(&[], 0);
    if outcome(&v) != "succeeded" {
        problems.push(format!("an ordinary edit should sync, got {v}"));
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// With GNU tar in the image, an edit's changes ride on the build's own exec: the engine's
/// archive endpoint is never asked, and the build sees them. Without it (busybox's tar), they
/// go through that endpoint, with a note saying why. Either way the builder is exact.
#[test]
fn changes_ride_on_the_build_s_exec_when_the_image_has_gnu_tar_else_the_archive_endpoint() {
    const UPLOAD: &str = r"^(/v[0-9.]+)?/containers/[^/]+/archive\?";
    for (base, rides) in [("busybox:gnutar", true), ("busybox:local", false)] {
        let p = TempProject::fixture("context-app");
        p.replace("Dockerfile", &format!("FROM {}", support::base_image()), &format!("FROM {base}"));
        build(&p, "image_built");
        let proxy = support::proxy::Proxy::start();
        // Round 0 is the builder's first commit, which records its size in the manifest
        // through the archive endpoint once; round 1 is an ordinary edit.
        for round in 0..2 {
            let before = proxy.count("PUT", UPLOAD);
            make(&p, &format!("src/new-{round}.txt"));
            p.write("readme.txt", &format!("edit {round}\n"));
            // More than any socket buffer holds: a script that never reads it must not hang.
            p.write("big.txt", &format!("{round}").repeat(8 << 20));
            let run = proxy.run(support::BIN, &p, &["build", "--json"]);
            assert_eq!(run.code, 0, "{base}: {}{}", run.stdout, run.stderr);
            let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
            assert_eq!(outcome(&v), "succeeded", "{base}: {v}");
            let noted = v["notes"].to_string().contains("no GNU tar");
            assert_eq!(noted, !rides, "{base}, round {round}: the note on the archive endpoint: {v}");
            assert_eq!(entries_seen_by_the_build(&p), oracle(&p).len() + 1, "{base}: the build saw every file");
            let edited = host_mtime(&p.path("readme.txt"));
            assert_eq!(container_mtime(&["exec", &p.builder()], "/ctx/readme.txt"), edited, "{base}: the edit's mtime");
            let uploads = proxy.count("PUT", UPLOAD) - before;
            if !rides {
                assert!(uploads >= 1, "{base}, round {round}: the edit goes through the archive endpoint");
            } else if round == 1 {
                assert_eq!(uploads, 0, "{base}: no change may go through the archive endpoint");
            }
        }
        assert_builder_is_docker_build(&p, &format!("on {base}"));
    }
}
