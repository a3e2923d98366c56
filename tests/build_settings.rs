//! Build settings that are not in the Dockerfile — image labels, more tags, the build's network,
//! extra hosts — from rebuilder.toml or a compose service's `build:`, against the real engine: the
//! image has the labels, every new image takes the extra tag over (and the one it replaced,
//! left unnamed, is pruned), and the build's RUN step resolves the extra host and runs on the host's
//! network, in the full build and in a rebuild in the builder (which a builder on the default
//! network without the host would fail). With BuildKit and with the classic builder.

mod support;

use serde_json::Value;
use support::{docker_ok, require_images, Run, TempProject};

const LABEL: &str = "org.example.team";
const HOST: &str = "builddb.internal:10.9.8.7";

#[derive(Clone, Copy, PartialEq)]
enum From {
    RebuilderToml,
    ComposeService,
}

#[test]
fn rebuilder_toml_s_labels_network_and_extra_host_reach_the_build_and_the_builder() {
    settings_reach_the_build_and_the_builder(From::RebuilderToml, false);
}

#[test]
fn rebuilder_toml_s_labels_network_and_extra_host_reach_a_classic_build_and_the_builder() {
    settings_reach_the_build_and_the_builder(From::RebuilderToml, true);
}

#[test]
fn a_service_s_build_labels_network_and_extra_host_reach_the_build_and_the_builder() {
    settings_reach_the_build_and_the_builder(From::ComposeService, false);
}

#[test]
fn a_service_s_build_labels_network_and_extra_host_reach_a_classic_build_and_the_builder() {
    settings_reach_the_build_and_the_builder(From::ComposeService, true);
}

/// Removes a project label's containers and images, and two tags, when dropped (a compose
/// service's objects are labelled `<context>#<service>`, which `TempProject` does not know).
struct RemovedOnDrop(String, String, String);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        support::remove_labelled(&self.0, &[&self.1, &self.2]);
    }
}

fn settings_reach_the_build_and_the_builder(from: From, classic: bool) {
    require_images(&["debian:bookworm-slim"]);
    let p = TempProject::fixture("build-settings");
    let extra = format!("{}-extra:dev", p.image.trim_end_matches(":latest"));
    let (image, label) = match from {
        From::RebuilderToml => {
            std::fs::remove_file(p.path("compose.yaml")).expect("no compose file");
            p.write(
                "rebuilder.toml",
                &format!(
                    "labels = {{ \"{LABEL}\" = \"shop\" }}\ntags = [\"{extra}\"]\nnetwork = \"host\"\n\
                     extra_hosts = [\"{HOST}\"]\n"
                ),
            );
            (p.image.clone(), p.dir.display().to_string())
        }
        From::ComposeService => {
            let image = format!("{}-settings:latest", p.image.trim_end_matches(":latest"));
            p.write(
                "compose.yaml",
                &format!(
                    "services:\n  app:\n    image: {image}\n    build:\n      context: .\n      labels:\n        \
                     {LABEL}: shop\n      tags:\n        - {extra}\n      network: host\n      extra_hosts:\n        - {HOST}\n      \
                     shm_size: 256m\n"
                ),
            );
            (image, format!("{}#app", p.dir.display()))
        }
    };
    let _cleanup = RemovedOnDrop(label.clone(), image.clone(), extra.clone());
    let env: &[(&str, &std::ffi::OsStr)] = if classic { &[("DOCKER_BUILDKIT", "0".as_ref())] } else { &[] };
    let build = |code: i32| -> Value {
        let run: Run = p.run_env(&["build", "--json"], env);
        assert_eq!(run.code, code, "{}\n{}", run.stdout, run.stderr);
        serde_json::from_str(run.stdout.trim()).expect("JSON")
    };
    let in_image = |file: &str| docker_ok(&["run", "--rm", "--entrypoint", "cat", &image, file]);
    let id_of = |name: &str| docker_ok(&["image", "inspect", "--format", "{{.Id}}", name]);
    let image_id = || id_of(&image);
    let saw_the_settings = |when: &str| {
        assert_eq!(in_image("/app/host.txt"), "10.9.8.7", "{when}: the RUN step resolved the extra host");
        let nets = in_image("/app/nets.txt");
        assert!(nets.lines().any(|n| n == "docker0"), "{when}: the RUN step ran on the host's network: {nets}");
        let format = format!("{{{{index .Config.Labels \"{LABEL}\"}}}}");
        let team = docker_ok(&["image", "inspect", "--format", &format, &image]);
        assert_eq!(team, "shop", "{when}: the image has the build's label");
        assert_eq!(id_of(&extra), image_id(), "{when}: the extra tag names the new image");
    };

    let first = build(0);
    assert_eq!(first["outcome"], "image_built", "{first}");
    // A build key compose applies and we do not is said, at its line, not dropped silently.
    let unapplied = first["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|n| n.starts_with("warning: ") && n.contains("`build.shm_size` (") && n.contains("compose.yaml:13)"));
    assert_eq!(unapplied.is_some(), from == From::ComposeService, "{first}");
    saw_the_settings("the full build");
    let status = p.run_env(&["status", "--json"], env);
    let status: Value = serde_json::from_str(status.stdout.trim()).expect("status JSON");
    assert_eq!(status["tags"], serde_json::json!([extra]), "`status` names the extra tag: {status}");
    let filter = format!("label=dev.docker-rebuilder.project={label}");
    let builder = docker_ok(&["ps", "-q", "--filter", &filter, "--filter", "label=dev.docker-rebuilder.role=builder"]);
    let format = "{{.HostConfig.NetworkMode}} {{json .HostConfig.ExtraHosts}}";
    let host_config = docker_ok(&["inspect", "--format", format, &builder]);
    assert_eq!(host_config, format!("host [\"{HOST}\"]"), "the builder runs as the full build's steps ran");

    p.write("msg", "message v2\n");
    let edited = build(0);
    assert_eq!(edited["outcome"], "succeeded", "a rebuild in the builder: {edited}");
    assert_eq!(in_image("/app/out.txt"), "message v2");
    saw_the_settings("the rebuild");
    // The next commit supersedes this image: the tags leave it before the prune, which removes it.
    let rebuilt = image_id();
    p.write("msg", "message v3\n");
    assert_eq!(build(0)["outcome"], "succeeded");
    assert_eq!(in_image("/app/out.txt"), "message v3");
    saw_the_settings("the second rebuild");
    let gone = support::docker(&["image", "inspect", &rebuilt]);
    assert!(!gone.status.success(), "the superseded image, unnamed by the move of both tags, was pruned");

    if classic {
        // Two extra hosts: the classic builder is given one through the API client; said before
        // anything is built, and the image stays.
        let before = image_id();
        let second = "other.internal:10.9.8.8";
        match from {
            From::RebuilderToml => {
                p.replace("rebuilder.toml", &format!("\"{HOST}\""), &format!("\"{HOST}\", \"{second}\""))
            }
            From::ComposeService => {
                p.replace("compose.yaml", &format!("- {HOST}\n"), &format!("- {HOST}\n        - {second}\n"))
            }
        }
        let refused = build(2);
        assert_eq!(refused["outcome"], "error", "{refused}");
        assert!(refused["error"].as_str().is_some_and(|e| e.contains("2 extra hosts")), "{refused}");
        assert!(refused["fix"].as_str().is_some_and(|f| f.contains("BuildKit")), "{refused}");
        assert_eq!(image_id(), before);
    }
}

/// The platform the image is built for: a service's `platform:`, rebuilder.toml's `platform`,
/// else DOCKER_DEFAULT_PLATFORM, as compose and the docker CLI take them. The engine's own
/// platform builds; another one reaches BuildKit, which looks for that platform's base image
/// (not pullable here), and the failure names the platform and what asked for it.
#[test]
fn the_platform_asked_for_is_the_one_the_build_is_for() {
    require_images(&["debian:bookworm-slim"]);
    let p = TempProject::fixture("build-settings");
    let image = format!("{}-platform:latest", p.image.trim_end_matches(":latest"));
    let label = format!("{}#app", p.dir.display());
    let _cleanup = RemovedOnDrop(label, image.clone(), p.image.clone());
    let engine = docker_ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    let build = |env: &[(&str, &std::ffi::OsStr)], code: i32| -> Value {
        let run: Run = p.run_env(&["build", "--json"], env);
        assert_eq!(run.code, code, "{}\n{}", run.stdout, run.stderr);
        serde_json::from_str(run.stdout.trim()).expect("JSON")
    };
    let refused = |report: &Value, asked_by: &str| {
        assert_eq!(report["outcome"], "error", "{report}");
        let cause = report["error"].as_str().unwrap_or_default();
        assert!(cause.starts_with(&format!("the build is for linux/s390x ({asked_by})")), "{report}");
        assert!(report["fix"].as_str().is_some_and(|f| f.contains("the Dockerfile itself is fine")), "{report}");
    };

    let compose = |platform: &str| {
        format!("services:\n  app:\n    image: {image}\n    platform: {platform}\n    build:\n      context: .\n")
    };
    p.write("compose.yaml", &compose("linux/s390x"));
    refused(&build(&[], 2), "the service `app`'s platform");
    assert!(!support::docker(&["image", "inspect", &image]).status.success(), "no image made");
    p.write("compose.yaml", &compose(&engine));
    assert_eq!(build(&[], 0)["outcome"], "image_built");
    let arch = docker_ok(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", &image]);
    assert_eq!(arch, engine);

    // A plain folder: DOCKER_DEFAULT_PLATFORM, then rebuilder.toml's `platform` over it.
    std::fs::remove_file(p.path("compose.yaml")).expect("no compose file");
    let s390x = [("DOCKER_DEFAULT_PLATFORM", "linux/s390x".as_ref())];
    refused(&build(&s390x, 2), "DOCKER_DEFAULT_PLATFORM");
    p.write("rebuilder.toml", &format!("platform = \"{engine}\"\n"));
    assert_eq!(build(&s390x, 0)["outcome"], "image_built");
}
