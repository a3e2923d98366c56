#![no_main]
//! A compose file's text (written as compose.yaml in a scratch folder, with an `api/` context
//! beside it), read as compose reads it. An error is a compose error whose location, when it
//! has one, is a line of the file (1-based, at most one past the last newline) that its cause
//! names first; a file that loads gives every service a line of the file, both compose
//! versions' project names in their alphabets, image names, and `named()` for each service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use docker_rebuilder::error::ErrorKind;
use docker_rebuilder::project::compose::{self, ComposeOptions, ComposeVersion};
use libfuzzer_sys::fuzz_target;

fn folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("docker-rebuilder-fuzz-compose-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("api/src")).expect("scratch folder");
        std::fs::write(dir.join("api/Dockerfile"), "FROM scratch\nCOPY src /src\n").expect("scratch file");
        std::fs::write(dir.join(".env"), "TAG=1.0\nNAME=from-env-file\n").expect("scratch file");
        dir.canonicalize().expect("scratch folder")
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    let file = dir.join("compose.yaml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let lines = data.iter().filter(|b| **b == b'\n').count() + 1;
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string()), ("PORT".to_string(), "8080".to_string())]);
    let options = ComposeOptions { dir: dir.to_path_buf(), env, ..Default::default() };
    let workspace = match compose::load(&options) {
        Ok(w) => w,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Compose, "{e}");
            if let Some((at, line)) = &e.location {
                if at == &file {
                    assert!((1..=lines).contains(line), "line {line} of a {lines}-line file: {e}");
                    assert!(e.cause.starts_with(&format!("{}:{line}", file.display())), "{e}");
                }
            }
            assert!(!e.fix.is_empty(), "an error says what to do: {e}");
            return;
        }
    };
    for version in [ComposeVersion::V1, ComposeVersion::V2] {
        let name = workspace.project_name(version);
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'), "{name:?}");
    }
    for service in &workspace.services {
        if service.file == file {
            assert!((1..=lines).contains(&service.line), "service {} at line {}", service.name, service.line);
        }
        assert!(workspace.named(&service.name).is_ok() || service.build.is_none(), "{}", service.name);
        for version in [ComposeVersion::V1, ComposeVersion::V2] {
            assert!(!workspace.image_name(service, version).is_empty());
        }
    }
});
