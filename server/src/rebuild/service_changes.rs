//! What changed for a compose service's running containers, and how a recreate says what it
//! did: the newest change of the service's compose and env files (a container made before it
//! may run settings compose would now give otherwise), and whose containers a recreate made.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::{ContainerMount, Engine};
use crate::project::service::ServiceBinding;

/// The newest change of the service's compose and env files: a container made before it may
/// run settings compose would now give otherwise.
pub(super) fn config_stamp(service: &ServiceBinding) -> Option<SystemTime> {
    service.recipe_files().iter().filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).max()
}

/// Whether the container made at `created` (whole seconds, as the engine lists it) was made
/// before `stamp`; within that second, the engine is asked for its exact time (a container
/// `up` made in the second its compose file was written is not stale).
pub(super) async fn made_before(engine: &Engine, id: &str, created: i64, stamp: SystemTime) -> bool {
    let listed = UNIX_EPOCH + Duration::from_secs(u64::try_from(created).unwrap_or(0));
    if listed + Duration::from_secs(1) <= stamp {
        return true;
    }
    if listed > stamp {
        return false;
    }
    engine.container_created(id).await.is_some_and(|made| made < stamp)
}

/// Whose containers a recreate made anew, as its message names them: the service built (with
/// its twins and users, when theirs were recreated too), or only those others, said as such
/// ("service b (built as a)": a message naming only `a` would read as if `b`'s container were
/// `a`'s).
pub(super) fn recreated_whose<T>(service: &ServiceBinding, recreated: &[(String, T)]) -> String {
    let names: Vec<&str> = recreated.iter().map(|(name, _)| name.as_str()).collect();
    match names.as_slice() {
        [one] if *one == service.name => format!("service {one}"),
        [one] => format!("service {one} (built as {})", service.name),
        many if many.contains(&service.name.as_str()) => format!("services {}", many.join(", ")),
        many => format!("services {} (built as {})", many.join(", "), service.name),
    }
}

/// What became of a container left running because its bind mounts show the change.
pub(super) fn kept_note(container: &str, mounts: &[ContainerMount], workspace: &Path) -> String {
    let shown: Vec<String> = mounts
        .iter()
        .map(|m| {
            let source = match m.source.strip_prefix(workspace) {
                Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
                Ok(rel) => format!("./{}", rel.display()),
                Err(_) => m.source.display().to_string(),
            };
            format!("{source} at {}", m.destination)
        })
        .collect();
    format!(
        "{container} kept running: its bind mount of {} already shows the change, and no build step ran (the next \
         `up` recreates it on the new image; a develop.watch `restart` rule restarts it on each change)",
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rebuild::service_update::tests::service;

    #[test]
    fn a_recreate_names_the_services_whose_containers_it_made() {
        let (_dir, project) = service("");
        let api = project.service.as_ref().expect("a service");
        let named =
            |names: &[&str]| recreated_whose(api, &names.iter().map(|n| (n.to_string(), ())).collect::<Vec<_>>());
        assert_eq!(named(&["api"]), "service api");
        assert_eq!(named(&["worker"]), "service worker (built as api)");
        assert_eq!(named(&["api", "worker"]), "services api, worker");
        assert_eq!(named(&["worker", "web"]), "services worker, web (built as api)");
    }

    #[test]
    fn the_settings_changed_when_a_compose_file_did() {
        let (dir, project) = service("");
        let api = project.service.as_ref().expect("a service");
        let file = std::fs::File::options().write(true).open(dir.path().join("compose.yaml")).expect("open");
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        file.set_modified(at).expect("set mtime");
        assert_eq!(config_stamp(api), Some(at));
    }
}
