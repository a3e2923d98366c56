#![no_main]
//! Zero-config inference from a Dockerfile's text (written to a scratch project folder), then
//! after a NUL byte an optional target stage and a container path to map back to the host.
//!
//! Invariants: sync rules map context-relative paths that stay inside the context to absolute,
//! cleaned container paths; every step has a command; and no container path maps to a host
//! path outside the build context (files are never read from outside it).

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use docker_rebuilder::project::config::Config;
use docker_rebuilder::project::plan::{clean_container_path, Plan};
use fuzz_support::split_nul;
use libfuzzer_sys::fuzz_target;

fn project() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("docker-rebuilder-fuzz-plan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/sub")).expect("scratch project");
        std::fs::write(dir.join("src/main.c"), "int main(void) { return 0; }\n").expect("scratch file");
        std::fs::write(dir.join("Makefile"), "all:\n").expect("scratch file");
        dir.canonicalize().expect("scratch project")
    })
}

fn inside(path: &Path, context: &Path) -> bool {
    path.starts_with(context) && !path.components().any(|c| c == Component::ParentDir)
}

fuzz_target!(|data: &[u8]| {
    let (dockerfile, rest) = split_nul(data);
    let rest = String::from_utf8_lossy(rest.unwrap_or_default());
    let (target, container_path) = rest.split_once('\n').unwrap_or((&rest, "/src/main.c"));
    let dir = project();
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write the Dockerfile");
    let lines = dockerfile.split(|b| *b == b'\n').count();
    let config = Config { target: Some(target.to_owned()).filter(|t| !t.is_empty()), ..Config::default() };
    let Ok(plan) = Plan::infer(dir, &config) else { return };
    assert_eq!(plan.context, dir);
    assert!(!plan.sync.is_empty(), "a plan has something to mirror");
    // Every builder's rules and the replayed copies keep the same promises.
    let replayed = plan.assembly.iter().flat_map(|a| a.sync.iter());
    let all_rules: Vec<_> = plan.builders.iter().flat_map(|b| b.sync.iter()).chain(replayed).collect();
    assert!(plan.builders.iter().all(|b| (1..=lines).contains(&b.stage.line)), "{:?}", plan.builders);
    if let Some(a) = &plan.assembly {
        assert!((1..=lines).contains(&a.cut_line), "{a:?}");
        assert!(a.ops.iter().all(|op| !matches!(op, docker_rebuilder::project::plan::ReplayOp::Run(s) if s.argv.is_empty())));
    }
    for rule in all_rules {
        assert!(rule.dest.starts_with('/'), "{rule:?}");
        assert_eq!(clean_container_path(&rule.dest), rule.dest, "{rule:?}");
        assert!((1..=lines).contains(&rule.line), "{rule:?}");
        for source in &rule.sources {
            assert!(!source.starts_with('/'), "context-relative: {rule:?}");
            assert!(source.split('/').all(|part| part != ".."), "inside the context: {rule:?}");
        }
    }
    for step in plan.builders.iter().flat_map(|b| b.steps.iter()) {
        assert!(!step.argv.is_empty(), "{step:?}");
        assert!((1..=lines).contains(&step.line), "{step:?}");
    }
    let mut asked: Vec<String> = vec![container_path.to_owned()];
    for rule in &plan.sync {
        asked.push(rule.dest.clone());
        asked.push(format!("{}/main.c", rule.dest));
        asked.push(format!("{}/../../etc/passwd", rule.dest));
    }
    for path in &asked {
        if let Some(host) = plan.host_path(path) {
            assert!(inside(&host, &plan.context), "{path:?} maps to {host:?}, outside the context");
        }
    }
});
