//! The engine, as compose is told it. Compose finds its engine from its environment (and
//! docker's config folder); ours may come from our own flags (`--host`, `--context`,
//! `--config`, the TLS flags, or docker's global flags given to us as a plugin). Left to its
//! environment, a recreate would go to another engine than the one whose containers we found:
//! on the default socket it would make the service anew from a stale image. So compose is
//! given our engine's address, TLS files and config folder, in the variables both compose v1
//! and v2 read (DOCKER_HOST beats any context in both).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::target::{Address, EngineSource, Target, TlsFiles};

impl super::Engine {
    /// The variables that point compose at this engine.
    pub fn compose_env(&self) -> Vec<EnvChange> {
        compose_env(self.target(), &super::connect::config_dir())
    }
}

/// A variable for compose's process: set to a value, or removed.
pub type EnvChange = (&'static str, Option<OsString>);

/// The variables that point compose at `target`, with docker's config folder `config`.
pub fn compose_env(target: &Target, config: &Path) -> Vec<EnvChange> {
    let mut env: Vec<EnvChange> = vec![("DOCKER_CONFIG", Some(config.as_os_str().to_owned()))];
    if target.source == EngineSource::Default {
        // Nothing named one: compose finds the same default.
        return env;
    }
    let (host, tls) = match &target.address {
        Address::Unix(path) => (format!("unix://{}", path.display()), None),
        Address::Tcp { authority, tls, .. } => (format!("tcp://{authority}"), tls.as_ref()),
        Address::Ssh { .. } => (target.written.clone(), None),
    };
    env.push(("DOCKER_HOST", Some(host.into())));
    env.push(("DOCKER_CONTEXT", None));
    match tls {
        None => env.extend([("DOCKER_TLS_VERIFY", None), ("DOCKER_TLS", None), ("DOCKER_CERT_PATH", None)]),
        Some(files) => {
            let verify = (!files.skip_verify).then(|| OsString::from("1"));
            env.push(("DOCKER_TLS_VERIFY", verify));
            env.push(("DOCKER_TLS", Some("1".into())));
            env.push(("DOCKER_CERT_PATH", cert_folder(files).map(PathBuf::into_os_string)));
            // Compose v1's HTTP library takes these over the engine's CA (psf/requests#3829):
            // with either set, as on machines that point them at the system's bundle, it
            // cannot verify the engine. The engine's CA is the one to use here; compose talks
            // to nothing else.
            env.extend([("REQUESTS_CA_BUNDLE", None), ("CURL_CA_BUNDLE", None)]);
        }
    }
    env
}

/// A folder holding the TLS files as `ca.pem`, `cert.pem` and `key.pem`, the names compose
/// looks for under DOCKER_CERT_PATH: their own folder when they are named so (a context's,
/// `~/.docker`'s), else a folder of links to them made for compose (links, not copies: no key
/// is written anywhere). None when there are no files.
fn cert_folder(files: &TlsFiles) -> Option<PathBuf> {
    let named = [("ca.pem", &files.ca), ("cert.pem", &files.cert), ("key.pem", &files.key)];
    let given: Vec<(&str, &PathBuf)> = named.iter().filter_map(|(n, p)| p.as_ref().map(|p| (*n, p))).collect();
    let (_, first) = given.first()?;
    let folder = first.parent()?;
    if given.iter().all(|(name, path)| path.parent() == Some(folder) && path.file_name() == Some(name.as_ref())) {
        return Some(folder.to_path_buf());
    }
    links_folder(&given).ok()
}

/// `$TMPDIR/docker-rebuilder-tls-<uid>-<hash of the paths>`: one per set of files, made again
/// each time (a file moved since is linked anew).
fn links_folder(given: &[(&str, &PathBuf)]) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    given.hash(&mut hasher);
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    let folder = std::env::temp_dir().join(format!("docker-rebuilder-tls-{uid}-{:016x}", hasher.finish()));
    std::fs::create_dir_all(&folder)?;
    for (name, path) in given {
        let link = folder.join(name);
        let absolute = std::path::absolute(path)?;
        let linked = || std::fs::read_link(&link).ok().as_deref() == Some(absolute.as_path());
        if !linked() {
            let _ = std::fs::remove_file(&link);
            // Another of our processes may have made the same link in between: that is as good.
            if let Err(e) = std::os::unix::fs::symlink(&absolute, &link) {
                if !linked() {
                    return Err(e);
                }
            }
        }
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::target::{parse_address, ContextNamedBy};

    fn target(written: &str, tls: Option<TlsFiles>, source: EngineSource) -> Target {
        Target { address: parse_address(written, tls).expect("address"), written: written.into(), source }
    }

    fn value<'a>(env: &'a [EnvChange], name: &str) -> Option<Option<&'a str>> {
        env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_ref().and_then(|v| v.to_str()))
    }

    #[test]
    fn the_default_engine_is_left_to_compose_but_the_config_folder_is_ours() {
        let env = compose_env(&target("unix:///var/run/docker.sock", None, EngineSource::Default), Path::new("/c"));
        assert_eq!(value(&env, "DOCKER_CONFIG"), Some(Some("/c")));
        assert_eq!(value(&env, "DOCKER_HOST"), None);
    }

    #[test]
    fn a_flag_or_a_context_becomes_docker_host_and_no_context() {
        let flag = compose_env(&target("127.0.0.1:2375", None, EngineSource::HostFlag), Path::new("/c"));
        assert_eq!(value(&flag, "DOCKER_HOST"), Some(Some("tcp://127.0.0.1:2375")));
        assert_eq!(value(&flag, "DOCKER_CONTEXT"), Some(None));
        assert_eq!(value(&flag, "DOCKER_TLS_VERIFY"), Some(None));
        let context = EngineSource::Context { name: "remote".into(), named_by: ContextNamedBy::Flag };
        let ssh = compose_env(&target("ssh://me@box:2222", None, context), Path::new("/c"));
        assert_eq!(value(&ssh, "DOCKER_HOST"), Some(Some("ssh://me@box:2222")));
        let unix = compose_env(&target("unix:///run/other.sock", None, EngineSource::HostFlag), Path::new("/c"));
        assert_eq!(value(&unix, "DOCKER_HOST"), Some(Some("unix:///run/other.sock")));
    }

    #[test]
    fn tls_files_named_as_compose_expects_are_given_by_their_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = |name: &str| Some(dir.path().join(name));
        let tls = TlsFiles { ca: files("ca.pem"), cert: files("cert.pem"), key: files("key.pem"), skip_verify: false };
        let env = compose_env(&target("tcp://127.0.0.1:2376", Some(tls), EngineSource::HostFlag), Path::new("/c"));
        assert_eq!(value(&env, "DOCKER_HOST"), Some(Some("tcp://127.0.0.1:2376")));
        assert_eq!(value(&env, "DOCKER_TLS_VERIFY"), Some(Some("1")));
        assert_eq!(value(&env, "DOCKER_CERT_PATH"), Some(dir.path().to_str()));
        assert_eq!(value(&env, "REQUESTS_CA_BUNDLE"), Some(None), "the engine's CA, not the system's");
    }

    #[test]
    fn tls_files_of_other_names_are_linked_under_the_names_compose_expects() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in [("my-ca.crt", "ca"), ("client.crt", "cert"), ("client.key", "key")] {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        let files = |name: &str| Some(dir.path().join(name));
        let tls =
            TlsFiles { ca: files("my-ca.crt"), cert: files("client.crt"), key: files("client.key"), skip_verify: true };
        let env = compose_env(&target("tcp://127.0.0.1:2376", Some(tls), EngineSource::HostFlag), Path::new("/c"));
        assert_eq!(value(&env, "DOCKER_TLS_VERIFY"), Some(None), "--tls without verify");
        assert_eq!(value(&env, "DOCKER_TLS"), Some(Some("1")));
        let folder = PathBuf::from(value(&env, "DOCKER_CERT_PATH").flatten().expect("a cert folder"));
        assert_ne!(folder, dir.path());
        for (name, text) in [("ca.pem", "ca"), ("cert.pem", "cert"), ("key.pem", "key")] {
            assert_eq!(std::fs::read_to_string(folder.join(name)).expect(name), text);
        }
        let _ = std::fs::remove_dir_all(folder);
    }
}
