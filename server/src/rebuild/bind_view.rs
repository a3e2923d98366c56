//! What a compose service's running container already shows through its bind mounts.
//!
//! Dev compose files often bind-mount the sources over the image's copy (`./src:/app/src`)
//! and run a reloader (nodemon, flask's debug server, a bundler's dev server, PHP): an edit
//! reaches the container through the mount before any build. Recreating it on the new image
//! would only restart it, drop its state, and cost the service's stop (the whole grace period
//! when its process ignores SIGTERM, as busybox's httpd does: 10.5 s measured). So when a
//! cycle changed the image by files alone (no step ran, see `CycleReport::files_only`), a
//! container whose bind mounts show each of those files at its place in the image is left
//! running, as Compose Watch leaves alone a sync path that a bind mount declares. The image
//! has the change all the same, and the next `up` recreates the container on it (its image
//! changed). Inductively the container then differs from the image only in files it shows
//! from the host.
//!
//! A bind of a single file does not count: an editor that saves by writing a new file and
//! renaming it over the old one leaves the container on the old file.

use std::path::{Component, Path, PathBuf};

use crate::engine::{ContainerMount, Engine, ServiceContainer};

/// `shows_all` for a cycle's `files_only` (None: the image changed by more than files), when
/// the engine shares this machine's files: only then is a bind's source a path here.
pub async fn shown_live<'a>(
    engine: &Engine,
    container: &'a ServiceContainer,
    files_only: Option<&[(PathBuf, String)]>,
) -> Option<Vec<&'a ContainerMount>> {
    let files = files_only?;
    if container.mounts.iter().all(|m| !m.bind) || !engine.shares_host_files().await {
        return None;
    }
    shows_all(container, files)
}

/// The bind mounts through which `container` shows each of `files` (a host file, absent when
/// deleted, and its path in the image) at its place in the image; None when one is not shown
/// that way, or `files` is empty.
pub fn shows_all<'a>(container: &'a ServiceContainer, files: &[(PathBuf, String)]) -> Option<Vec<&'a ContainerMount>> {
    if files.is_empty() {
        return None;
    }
    let mut through: Vec<&ContainerMount> = Vec::new();
    for (host, path) in files {
        let mount = bind_showing(&container.mounts, host, path)?;
        if !through.contains(&mount) {
            through.push(mount);
        }
    }
    Some(through)
}

/// The bind mount through which a container with `mounts` shows the host file `host` at
/// `path`: the deepest mount at `path` (or above it) must be a bind of a host folder holding
/// `host` at the same place below it. A volume there, or a bind of something else, hides it.
pub fn bind_showing<'a>(mounts: &'a [ContainerMount], host: &Path, path: &str) -> Option<&'a ContainerMount> {
    let path = normal(Path::new(path));
    let (mount, below) = mounts
        .iter()
        .filter_map(|m| path.strip_prefix(normal(Path::new(&m.destination))).ok().map(|below| (m, below.to_path_buf())))
        .max_by_key(|(m, _)| normal(Path::new(&m.destination)).components().count())?;
    if !mount.bind || !mount.source.is_dir() {
        return None;
    }
    let shown = canonical(&mount.source.join(below))?;
    (canonical(host)? == shown).then_some(mount)
}

/// `path` without `.` and repeated separators (container paths are absolute and clean already,
/// save for a trailing `/`).
fn normal(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// `path` with its folder's links resolved; the file itself need not exist (a deleted one).
fn canonical(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let folder = path.parent()?;
    Some(std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf()).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(source: &Path, destination: &str) -> ContainerMount {
        ContainerMount { bind: true, source: source.to_path_buf(), destination: destination.into() }
    }

    fn volume(destination: &str) -> ContainerMount {
        ContainerMount {
            bind: false,
            source: PathBuf::from("/var/lib/docker/volumes/x/_data"),
            destination: destination.into(),
        }
    }

    fn container(mounts: Vec<ContainerMount>) -> ServiceContainer {
        ServiceContainer {
            id: "c".into(),
            name: "p-web-1".into(),
            running: true,
            crashed: false,
            image_id: "sha256:old".into(),
            project: "p".into(),
            service: "web".into(),
            compose_version: "2.26.1".into(),
            working_dir: None,
            config_files: Vec::new(),
            env_files: Vec::new(),
            created: 0,
            mounts,
        }
    }

    /// A context `web/` holding `src/app.js` and `conf/motd`.
    fn context() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let web = dir.path().join("web");
        for file in ["src/app.js", "conf/motd"] {
            let path = web.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x").expect("write");
        }
        (dir, web)
    }

    #[test]
    fn a_bind_of_the_files_folder_at_its_place_in_the_image_shows_it() {
        let (_dir, web) = context();
        let mounts = [bind(&web.join("src"), "/app/src")];
        let app = web.join("src/app.js");
        assert_eq!(bind_showing(&mounts, &app, "/app/src/app.js"), Some(&mounts[0]));
        // The whole context bound over the image's copy of it.
        let whole = [bind(&web, "/app/")];
        assert_eq!(bind_showing(&whole, &app, "/app/src/app.js"), Some(&whole[0]));
        // A file deleted on the host is gone from the container too.
        let gone = web.join("src/old.js");
        assert_eq!(bind_showing(&mounts, &gone, "/app/src/old.js"), Some(&mounts[0]));
    }

    #[test]
    fn a_bind_elsewhere_or_of_another_folder_does_not() {
        let (_dir, web) = context();
        let app = web.join("src/app.js");
        // The image has the file at /app/src; the mount puts the folder at /srv.
        assert_eq!(bind_showing(&[bind(&web.join("src"), "/srv")], &app, "/app/src/app.js"), None);
        // The right place, another host folder.
        assert_eq!(bind_showing(&[bind(&web.join("conf"), "/app/src")], &app, "/app/src/app.js"), None);
        // A name that only starts like the mount's destination.
        assert_eq!(bind_showing(&[bind(&web.join("src"), "/app/sr")], &app, "/app/src/app.js"), None);
        // No mount at all.
        assert_eq!(bind_showing(&[], &app, "/app/src/app.js"), None);
    }

    #[test]
    fn the_deepest_mount_decides_a_volume_over_the_bind_hides_the_host() {
        let (_dir, web) = context();
        // `- .:/app` and `- /app/src` (an anonymous volume, as for node_modules).
        let mounts = [bind(&web, "/app"), volume("/app/src")];
        assert_eq!(bind_showing(&mounts, &web.join("src/app.js"), "/app/src/app.js"), None);
        assert_eq!(bind_showing(&mounts, &web.join("conf/motd"), "/app/conf/motd"), Some(&mounts[0]));
    }

    #[test]
    fn a_bind_of_the_file_itself_does_not_count() {
        let (_dir, web) = context();
        let app = web.join("src/app.js");
        assert_eq!(bind_showing(&[bind(&app, "/app/src/app.js")], &app, "/app/src/app.js"), None);
    }

    #[test]
    fn links_in_the_hosts_path_are_resolved_on_both_sides() {
        let (dir, web) = context();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&web, &link).expect("symlink");
        let mounts = [bind(&link.join("src"), "/app/src")];
        assert_eq!(bind_showing(&mounts, &web.join("src/app.js"), "/app/src/app.js"), Some(&mounts[0]));
        let mounts = [bind(&web.join("src"), "/app/src")];
        assert_eq!(bind_showing(&mounts, &link.join("src/app.js"), "/app/src/app.js"), Some(&mounts[0]));
    }

    #[test]
    fn every_file_must_be_shown_and_the_mounts_used_are_named_once() {
        let (_dir, web) = context();
        let (app, motd) = (web.join("src/app.js"), web.join("conf/motd"));
        let files = |list: &[(&Path, &str)]| -> Vec<(PathBuf, String)> {
            list.iter().map(|(h, p)| (h.to_path_buf(), p.to_string())).collect()
        };
        let c = container(vec![bind(&web.join("src"), "/app/src")]);
        let one = files(&[(&app, "/app/src/app.js"), (&web.join("src/b.js"), "/app/src/b.js")]);
        assert_eq!(shows_all(&c, &one).map(|m| m.len()), Some(1));
        assert_eq!(shows_all(&c, &files(&[(&app, "/app/src/app.js"), (&motd, "/etc/motd")])), None);
        assert_eq!(shows_all(&c, &[]), None, "nothing changed: nothing to show");
    }
}
