//! Compose services built alike: `web1`/`web2` behind a balancer, or a web app and its
//! worker, each with `build: .` and only their run settings (command, env, ports) apart.
//! Compose builds the image once per service; rebuilt each on its own, every save would run
//! every build step once per service, on the same cores. So the first of them (in the
//! compose file's order) is built, and the others are its twins: its builder serves them,
//! each new image also takes their images' names, and their containers are recreated in the
//! same compose call as its own. Pure: which services are asked for is the caller's.

use std::path::{Path, PathBuf};

use super::compose::{ComposeVersion, Workspace};
use super::service::{binding, service_label, ServiceBinding};

/// A service built as another one is (see the module's comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twin {
    pub name: String,
    /// The names compose runs its image by (its image name, then `build.tags`).
    pub images: Vec<String>,
    /// The services run from its image without building it.
    pub image_users: Vec<String>,
    /// Its own `stop_grace_period:` (the stop ahead stops its containers as compose would).
    pub stop_grace_period: Option<std::time::Duration>,
}

impl ServiceBinding {
    /// The project labels of the twins as services of their own: what a builder of theirs
    /// from a run that built them apart carries (`clean` removes those too).
    pub fn twin_labels(&self, context: &Path) -> Vec<String> {
        self.twins.iter().map(|t| service_label(context, &t.name)).collect()
    }

    /// The service, then its twins, then the services run from their images: every service
    /// whose containers run this build's image.
    pub fn running_services(&self) -> Vec<String> {
        let twins = self.twins.iter().map(|t| &t.name);
        let users = self.image_users.iter().chain(self.twins.iter().flat_map(|t| &t.image_users));
        let mut all: Vec<String> = Vec::new();
        for name in std::iter::once(&self.name).chain(twins).chain(users) {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        all
    }
}

/// `names` (services compose builds, in the order given) grouped by their build: each
/// service that builds as an earlier one goes with it. Each group: the one built, and its
/// twins. A service whose build does not resolve stays alone (its own load says why).
pub fn group(workspace: &Workspace, names: &[String]) -> Vec<(String, Vec<String>)> {
    // Each group: the one built, its twins, and its build (to compare the next ones with).
    type Group = (String, Vec<String>, Option<(ServiceBinding, PathBuf)>);
    let mut groups: Vec<Group> = Vec::new();
    for name in names {
        let bound = workspace.named(name).ok().and_then(|s| binding(workspace, s, ComposeVersion::V2).ok());
        let leader = bound.as_ref().and_then(|(b, context)| {
            groups.iter_mut().find(|(_, _, first)| {
                first.as_ref().is_some_and(|(first, first_context)| first_context == context && first.builds_like(b))
            })
        });
        match leader {
            Some((_, twins, _)) => twins.push(name.clone()),
            None => groups.push((name.clone(), Vec::new(), bound)),
        }
    }
    groups.into_iter().map(|(name, twins, _)| (name, twins)).collect()
}

/// Those of `names` that still build as `leader` (built from `context`) does, as twins; a
/// twin whose build has changed since the group was made is built no more with it.
pub(super) fn of(
    workspace: &Workspace,
    leader: &ServiceBinding,
    context: &Path,
    names: &[String],
    version: ComposeVersion,
) -> Vec<Twin> {
    names
        .iter()
        .filter(|name| **name != leader.name)
        .filter_map(|name| {
            let (twin, twin_context) = binding(workspace, workspace.named(name).ok()?, version).ok()?;
            (twin_context == context && leader.builds_like(&twin)).then(|| Twin {
                name: twin.name.clone(),
                images: twin.images(),
                image_users: twin.image_users.clone(),
                stop_grace_period: twin.stop_grace_period,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::compose::ComposeOptions;
    use crate::project::service::ProjectSource;

    /// A compose folder with `compose` and two contexts, `api/` and `other/`, each a C app.
    fn folder(compose: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for context in ["api", "other"] {
            std::fs::create_dir_all(dir.path().join(context).join("src")).expect("mkdir");
            std::fs::write(dir.path().join(context).join("src/main.c"), "int main(void) { return 0; }\n")
                .expect("write");
            std::fs::write(
                dir.path().join(context).join("Dockerfile"),
                "FROM debian:bookworm-slim\nWORKDIR /src\nCOPY src ./src\nRUN cc -o /app src/main.c\n",
            )
            .expect("write");
        }
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        dir
    }

    fn groups_of(compose: &str) -> Vec<(String, Vec<String>)> {
        let dir = folder(compose);
        let workspace =
            crate::project::compose::load(&ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() })
                .expect("loads");
        let names: Vec<String> =
            workspace.services.iter().filter(|s| s.build.is_some()).map(|s| s.name.clone()).collect();
        group(&workspace, &names)
    }

    fn group_of(leader: &str, twins: &[&str]) -> (String, Vec<String>) {
        (leader.to_string(), twins.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn services_built_alike_are_one_build_whatever_they_run_with() {
        let groups = groups_of(
            "services:\n  web1:\n    build: ./api\n    ports: ['8001:80']\n  web2:\n    build:\n      context: ./api\n    \
             environment:\n      ROLE: second\n  worker:\n    build: ./api\n    command: ['/app', 'work']\n    image: \
             shop/worker\n  other:\n    build: ./other\n  cache:\n    image: redis\n",
        );
        assert_eq!(groups, [group_of("web1", &["web2", "worker"]), group_of("other", &[])]);
    }

    #[test]
    fn another_dockerfile_target_arg_or_develop_rule_is_another_build() {
        let api = "services:\n  web:\n    build: ./api\n  job:\n    build:\n      context: ./api\n";
        for differs in [
            "      args:\n        MODE: job\n",
            "      target: job\n",
            "      dockerfile: Dockerfile.job\n",
            "      labels:\n        role: job\n",
        ] {
            let groups = groups_of(&format!("{api}{differs}"));
            assert_eq!(groups, [group_of("web", &[]), group_of("job", &[])], "{differs}");
        }
        let develop =
            |path: &str| format!("    develop:\n      watch:\n        - action: rebuild\n          path: {path}\n");
        let same = groups_of(&format!(
            "services:\n  web:\n    build: ./api\n{}  job:\n    build: ./api\n{}",
            develop("./api/src"),
            develop("./api/src")
        ));
        assert_eq!(same, [group_of("web", &["job"])], "the same rules, at other lines");
        let other = groups_of(&format!(
            "services:\n  web:\n    build: ./api\n{}  job:\n    build: ./api\n{}",
            develop("./api/src"),
            develop("./api/Dockerfile")
        ));
        assert_eq!(other, [group_of("web", &[]), group_of("job", &[])]);
    }

    #[test]
    fn the_first_built_takes_its_twins_images_as_names_and_runs_them() {
        let dir = folder(
            "services:\n  web:\n    build: ./api\n  worker:\n    build: ./api\n    image: shop/worker:dev\n  \
             beat:\n    image: shop/worker:dev\n",
        );
        let options = ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() };
        let load = |twins: &[&str]| {
            ProjectSource::Service {
                options: options.clone(),
                service: "web".into(),
                twins: twins.iter().map(|t| t.to_string()).collect(),
                version: Some(ComposeVersion::V2),
            }
            .load()
            .expect("loads")
        };
        let alone = load(&[]);
        let project = load(&["worker"]);
        assert_eq!(project.plan.tags, ["shop/worker:dev"]);
        let service = project.service.as_ref().expect("a service");
        assert_eq!(service.running_services(), ["web", "worker", "beat"]);
        assert_ne!(project.recipe, alone.recipe, "a new twin is a name each new image must take");
        assert_eq!(project.label(), alone.label(), "the same builder");
        assert!(service.twin_labels(&project.dir)[0].ends_with("/api#worker"));
        // How a twin runs is not the build's: the recipe stays.
        let compose = std::fs::read_to_string(dir.path().join("compose.yaml")).expect("read");
        let graced = compose.replace(
            "    image: shop/worker:dev\n  beat",
            "    image: shop/worker:dev\n    stop_grace_period: 3s\n  beat",
        );
        assert_ne!(graced, compose);
        std::fs::write(dir.path().join("compose.yaml"), &graced).expect("write");
        assert_eq!(load(&["worker"]).recipe, project.recipe);

        // A twin whose build changed is built apart again.
        let compose = std::fs::read_to_string(dir.path().join("compose.yaml")).expect("read");
        std::fs::write(
            dir.path().join("compose.yaml"),
            compose.replace(
                "    build: ./api\n    image: shop",
                "    build:\n      context: ./api\n      target: w\n    image: shop",
            ),
        )
        .expect("write");
        let project = load(&["worker"]);
        assert!(project.service.as_ref().expect("a service").twins.is_empty());
        assert!(project.plan.tags.is_empty());
    }
}
