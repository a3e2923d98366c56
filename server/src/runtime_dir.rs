//! The user's own folder for runtime files (the project locks): `$XDG_RUNTIME_DIR/docker-rebuilder`
//! when the session gives a usable one, else `$TMPDIR/docker-rebuilder-<uid>` (`/tmp/…`), made
//! mode 0700. Per user, because users who share an engine share nothing else: a folder the first
//! of them made in /tmp would lock the others out, or let them tamper with its files.
//!
//! In /tmp a name can be taken first by someone else. A folder there that is not a plain folder
//! of ours (a symbolic link, someone else's) is refused with the fix, never used or followed: with
//! another name it could be squatted in turn, and a refusal says what happened. One of ours with
//! a looser mode (an older version, a umask) is made 0700 again: it is ours, and in the sticky
//! /tmp nobody else can swap it meanwhile.

use std::ffi::OsStr;
use std::fs::DirBuilder;
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// This user's runtime folder, made (or checked) private.
pub fn dir() -> Result<PathBuf> {
    let uid = current_uid();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR");
    let dir = choose(xdg.as_deref(), &std::env::temp_dir(), uid);
    prepare(&dir, uid)?;
    Ok(dir)
}

/// The effective user id: whom the files we make belong to.
pub fn current_uid() -> u32 {
    extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid takes nothing, cannot fail and only reads the process's credentials.
    unsafe { geteuid() }
}

/// Where the runtime files of user `uid` go, given XDG_RUNTIME_DIR and the temporary folder.
fn choose(xdg: Option<&OsStr>, tmp: &Path, uid: u32) -> PathBuf {
    match xdg.map(Path::new) {
        Some(runtime) if usable_runtime_dir(runtime, uid) => runtime.join("docker-rebuilder"),
        _ => tmp.join(format!("docker-rebuilder-{uid}")),
    }
}

/// Whether XDG_RUNTIME_DIR can hold our folder: an absolute path to a folder of `uid` that
/// nobody else may write to. `sudo`, `su` and `runuser` may pass on the caller's (someone
/// else's), and the XDG spec says to fall back then.
fn usable_runtime_dir(path: &Path, uid: u32) -> bool {
    path.is_absolute() && std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// Makes `dir` a folder of `uid`'s with mode 0700, or says why it cannot be one.
fn prepare(dir: &Path, uid: u32) -> Result<()> {
    let shown = dir.display();
    let elsewhere = "or set XDG_RUNTIME_DIR (or TMPDIR) to a folder of your own";
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == IoKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot make the folder for docker-rebuilder's locks, {shown}: {e}"),
                format!("check that {} exists and is writable, {elsewhere}", parent_of(dir)),
            ))
        }
    }
    // Not followed: a link someone planted in /tmp would send our files where they choose.
    let meta = std::fs::symlink_metadata(dir).map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot read {shown}: {e}"), format!("remove it, {elsewhere}"))
    })?;
    let refuse = |what: String, fix: String| {
        Error::new(
            ErrorKind::Io,
            format!("{shown}, docker-rebuilder's folder for your locks, {what}; it is not used"),
            format!("{fix}, {elsewhere}"),
        )
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link".into(), format!("remove the link (`rm {shown}`)")));
    }
    if !meta.is_dir() {
        return Err(refuse("is not a folder".into(), format!("remove it (`rm {shown}`)")));
    }
    if meta.uid() != uid {
        return Err(refuse(
            format!("belongs to another user (uid {}; you are uid {uid})", meta.uid()),
            format!("have its owner or root remove it (`sudo rm -r {shown}`)"),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            refuse(format!("is open to others and cannot be made private ({e})"), format!("`chmod 700 {shown}`"))
        })?;
    }
    Ok(())
}

fn parent_of(dir: &Path) -> String {
    dir.parent().map(|p| p.display().to_string()).unwrap_or_else(|| "its parent".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(mode: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_private_runtime_dir_of_ours_is_used_else_a_per_user_folder_in_tmp() {
        let me = current_uid();
        let tmp = Path::new("/tmp");
        let fallback = PathBuf::from(format!("/tmp/docker-rebuilder-{me}"));
        let runtime = folder(0o700);
        let xdg = runtime.path().as_os_str();
        assert_eq!(choose(Some(xdg), tmp, me), runtime.path().join("docker-rebuilder"));
        assert_eq!(choose(None, tmp, me), fallback);
        assert_eq!(choose(Some(OsStr::new("")), tmp, me), fallback, "empty");
        assert_eq!(choose(Some(OsStr::new("run/user")), tmp, me), fallback, "relative");
        let gone = runtime.path().join("missing");
        assert_eq!(choose(Some(gone.as_os_str()), tmp, me), fallback, "no such folder");
        // Someone else's, as `sudo` or `runuser` may pass it on: the other user's fallback.
        let other = me.wrapping_add(1);
        assert_eq!(choose(Some(xdg), tmp, other), PathBuf::from(format!("/tmp/docker-rebuilder-{other}")));
        let open = folder(0o777);
        assert_eq!(choose(Some(open.path().as_os_str()), tmp, me), fallback, "writable by others");
    }

    #[test]
    fn the_folder_is_made_private_and_an_open_one_of_ours_is_closed() {
        let me = current_uid();
        let parent = folder(0o755);
        let dir = parent.path().join("docker-rebuilder-x");
        prepare(&dir, me).expect("made");
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        prepare(&dir, me).expect("kept");
        assert_eq!(mode(&dir), 0o700, "made private again");
    }

    #[test]
    fn a_planted_link_a_file_or_someone_elses_folder_is_refused_with_the_fix() {
        let me = current_uid();
        let parent = folder(0o755);
        let target = parent.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = prepare(&link, me).expect_err("a link is refused");
        assert!(e.cause.contains(&link.display().to_string()) && e.cause.contains("symbolic link"), "{e:?}");
        assert!(e.fix.contains("rm ") && e.fix.contains("XDG_RUNTIME_DIR"), "{e:?}");
        assert_eq!(mode(&target), 0o755, "the link's target untouched");

        let file = parent.path().join("file");
        std::fs::write(&file, "").expect("write");
        assert!(prepare(&file, me).expect_err("a file").cause.contains("not a folder"));

        // Owned by someone else: seen here as a folder that is not `uid`'s.
        let e = prepare(&target, me.wrapping_add(1)).expect_err("not ours");
        assert!(e.cause.contains("another user") && e.cause.contains(&target.display().to_string()), "{e:?}");
        assert!(e.fix.contains("sudo rm -r"), "{e:?}");
        assert_eq!(mode(&target), 0o755, "someone else's folder untouched");
    }

    #[test]
    fn a_folder_that_cannot_be_made_names_its_path_and_the_fix() {
        let e = prepare(Path::new("/nonexistent-parent/docker-rebuilder-1"), current_uid()).expect_err("no parent");
        assert!(e.cause.contains("/nonexistent-parent/docker-rebuilder-1"), "{e:?}");
        assert!(e.fix.contains("/nonexistent-parent") && e.fix.contains("TMPDIR"), "{e:?}");
    }
}
