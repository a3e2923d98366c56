use super::super::tests::{canonical, error_in, folder, load_with, loaded};
use super::*;

fn build_of(dir: &Path, env: &[(&str, &str)], service: &str) -> Build {
    let workspace = loaded(dir, env);
    workspace.named(service).ok().and_then(|s| s.build.clone()).unwrap_or_else(|| panic!("no build for {service}"))
}

#[test]
fn build_settings_are_read_with_compose_defaults() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: api\n      dockerfile: docker/Dockerfile.dev\n      target: \
         dev\n      ssh: [default]\n  plain:\n    build:\n      dockerfile_inline: FROM scratch\n",
    )]);
    let root = canonical(dir.path());
    let api = build_of(dir.path(), &[], "api");
    assert_eq!(api.context, BuildContext::Local(root.join("api")));
    assert_eq!(api.dockerfile, PathBuf::from("docker/Dockerfile.dev"));
    assert_eq!(api.target.as_deref(), Some("dev"));
    assert_eq!(api.ssh, ["default"]);
    assert_eq!((api.file, api.line), (root.join("compose.yaml"), 3));
    let plain = build_of(dir.path(), &[], "plain");
    assert_eq!(plain.context, BuildContext::Local(root));
    assert_eq!(plain.dockerfile, PathBuf::from("Dockerfile"));
    assert_eq!(plain.dockerfile_inline.as_deref(), Some("FROM scratch"));
}

#[test]
fn build_labels_network_and_extra_hosts_are_read_in_both_of_compose_s_forms() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  map:\n    build:\n      context: .\n      labels:\n        org.example.team: shop\n        \
         empty:\n      network: host\n      extra_hosts:\n        db: 10.0.0.2\n        v6: \"::1\"\n  list:\n    \
         build:\n      context: .\n      labels: [\"a=1\", \"b\"]\n      extra_hosts: [\"db:10.0.0.2\", \
         \"gw=host-gateway\"]\n",
    )]);
    let map = build_of(dir.path(), &[], "map");
    assert_eq!(map.labels, super::super::tests::vars(&[("empty", ""), ("org.example.team", "shop")]));
    assert_eq!(map.network.as_deref(), Some("host"));
    assert_eq!(map.extra_hosts, ["db:10.0.0.2", "v6:::1"]);
    let list = build_of(dir.path(), &[], "list");
    assert_eq!(list.labels, super::super::tests::vars(&[("a", "1"), ("b", "")]));
    assert_eq!(list.network, None);
    assert_eq!(list.extra_hosts, ["db:10.0.0.2", "gw:host-gateway"]);
    assert!(map.tags.is_empty());
}

#[test]
fn build_keys_no_build_of_ours_applies_are_listed_with_their_lines() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: .\n      shm_size: 2gb\n      privileged: false\n      \
         ulimits:\n        nofile: 1024\n      cache_from: [a]\n      platforms: [linux/amd64]\n  multi:\n    build:\n      \
         context: .\n      platforms: [linux/amd64, linux/arm64]\n",
    )]);
    let file = canonical(dir.path()).join("compose.yaml");
    let unapplied = build_of(dir.path(), &[], "api").unapplied;
    let at = |key: &str, line: usize| format!("`build.{key}` ({}:{line})", file.display());
    // `privileged: false` is the default; the cache keys change no step's result.
    assert_eq!(unapplied, [at("shm_size", 5), at("ulimits", 7)]);
    // One platform is what the build is for; several, a multi-platform image we do not make.
    assert_eq!(build_of(dir.path(), &[], "multi").unapplied, [at("platforms", 14)]);
}

#[test]
fn build_tags_are_read_and_interpolated() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: .\n      tags:\n        - \"shop/api:${TAG}\"\n        \
         - reg.example:5000/shop/api\n",
    )]);
    assert_eq!(build_of(dir.path(), &[("TAG", "dev")], "api").tags, ["shop/api:dev", "reg.example:5000/shop/api"]);
}

#[test]
fn a_bad_extra_host_or_additional_contexts_is_an_error_at_its_line() {
    let error = |build: &str| {
        let text = format!("services:\n  api:\n    build:\n      context: .\n{build}");
        let dir = folder(&[("compose.yaml", &text)]);
        error_in(dir.path(), load_with(dir.path(), &[]))
    };
    let (cause, line) = error("      extra_hosts:\n        - nohost\n");
    assert!(cause.contains("\"nohost\"") && cause.contains("HOST:IP"), "{cause}");
    assert_eq!(line, Some(5), "{cause}");
    let (cause, line) = error("      additional_contexts:\n        shared: ../shared\n");
    assert!(cause.contains("`build.additional_contexts` of the service `api`"), "{cause}");
    assert_eq!(line, Some(5), "{cause}");
    let (cause, line) = error("      tags:\n        - shop/api:dev\n        - Shop/API\n");
    assert!(cause.contains("`build.tags` of the service `api`") && cause.contains("`Shop`"), "{cause}");
    assert_eq!(line, Some(5), "{cause}");
    let (cause, line) = error("    platform: amd64\n");
    assert!(cause.contains("`platform` \"amd64\" of the service `api` is not `os/arch[/variant]`"), "{cause}");
    assert_eq!(line, Some(5), "{cause}");
    let (cause, _) = error("      labels: 3\n");
    assert!(cause.contains("`labels` of the service `api` must be a mapping or a list"), "{cause}");
}

#[test]
fn an_arg_without_a_value_takes_the_environments_or_is_left_out() {
    let dir = folder(&[
        (
            "compose.yaml",
            "services:\n  list:\n    build:\n      args:\n        - A=1\n        - FROM_SHELL\n        - FROM_FILE\n        \
             - UNSET\n  map:\n    build:\n      args:\n        N: 2\n        B: true\n        FROM_SHELL:\n",
        ),
        (".env", "FROM_FILE=file\nFROM_SHELL=file\n"),
    ]);
    let env = [("FROM_SHELL", "shell")];
    let list = build_of(dir.path(), &env, "list").args;
    assert_eq!(list, super::super::tests::vars(&[("A", "1"), ("FROM_SHELL", "shell"), ("FROM_FILE", "file")]));
    let map = build_of(dir.path(), &env, "map").args;
    assert_eq!(map, super::super::tests::vars(&[("N", "2"), ("B", "true"), ("FROM_SHELL", "shell")]));
}

#[test]
fn remote_contexts_are_kept_as_given() {
    let contexts = [
        "https://github.com/a/b.git#main:dir",
        "git@github.com:a/b.git",
        "github.com/a/b",
        "git://host/repo",
        "ssh://git@host/repo",
        "docker-image://alpine",
    ];
    let services: String = contexts.iter().enumerate().map(|(i, c)| format!("  s{i}:\n    build: \"{c}\"\n")).collect();
    let dir = folder(&[("compose.yaml", &format!("services:\n{services}"))]);
    let workspace = loaded(dir.path(), &[]);
    let got: Vec<BuildContext> = workspace.services.iter().filter_map(|s| s.build.clone()).map(|b| b.context).collect();
    let expected: Vec<BuildContext> = contexts.iter().map(|c| BuildContext::Remote(c.to_string())).collect();
    assert_eq!(got, expected);
}

#[test]
fn build_secrets_resolve_against_the_top_level() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: .\n      secrets:\n        - npmrc\n        - source: token\n          \
         target: api_token\nsecrets:\n  npmrc:\n    file: ./secrets/.npmrc\n  token:\n    environment: API_TOKEN\n",
    )]);
    let secrets = build_of(dir.path(), &[], "api").secrets;
    let root = canonical(dir.path());
    assert_eq!(
        secrets,
        [
            BuildSecret { id: "npmrc".into(), source: SecretSource::File(root.join("secrets/.npmrc")) },
            BuildSecret { id: "api_token".into(), source: SecretSource::Env("API_TOKEN".into()) },
        ]
    );
}

#[test]
fn an_undefined_or_unusable_build_secret_is_an_error_at_its_line() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: .\n      secrets:\n        - known\n        - source: missing\n\
         secrets:\n  known:\n    file: k.txt\n",
    )]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])),
        (
            "ROOT/compose.yaml:7: the build secret `missing` of the service `api` is not defined under the \
             top-level `secrets:`"
                .into(),
            Some(7)
        )
    );
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build:\n      context: .\n      secrets: [ext]\nsecrets:\n  ext:\n    external: true\n",
    )]);
    let (cause, line) = error_in(dir.path(), load_with(dir.path(), &[]));
    assert_eq!(line, Some(5));
    assert!(cause.contains("the secret `ext` has neither `file:` nor `environment:`"), "{cause}");
}

#[test]
fn watch_rules_are_read_with_their_actions() {
    let dir = folder(&[
        (
            "compose.yaml",
            "services:\n  api:\n    build: .\n    develop:\n      watch:\n        - path: ./src\n          action: \
             sync\n          target: /app/src\n          ignore: node_modules/\n          include: ['*.js']\n          \
             initial_sync: true\n        - path: package.json\n          action: rebuild\n        - path: conf\n          \
             action: sync+restart\n        - path: x\n          action: restart\n        - path: y\n          action: \
             sync+exec\n          exec:\n            command: sh -c 'kill -HUP 1'\n        - path: z\n          action: \
             sync+exec\n          exec:\n            command: [touch, /tmp/reload]\n",
        ),
        ("src/main.js", ""),
    ]);
    let workspace = loaded(dir.path(), &[]);
    let root = canonical(dir.path());
    let rules = workspace.services[0].develop.clone().map(|d| d.watch).unwrap_or_default();
    assert_eq!(rules.len(), 6);
    assert_eq!(
        rules[0],
        WatchRule {
            path: root.join("src"),
            action: WatchAction::Sync,
            target: Some("/app/src".into()),
            ignore: vec!["node_modules/".into()],
            include: vec!["*.js".into()],
            initial_sync: true,
            file: root.join("compose.yaml"),
            line: 6,
        }
    );
    assert_eq!(
        (rules[1].path.clone(), rules[1].action.clone(), rules[1].line),
        (root.join("package.json"), WatchAction::Rebuild, 12)
    );
    assert_eq!(rules[2].action, WatchAction::SyncRestart);
    assert_eq!(rules[3].action, WatchAction::Restart);
    let command = |words: &[&str]| WatchAction::SyncExec { command: words.iter().map(|w| w.to_string()).collect() };
    assert_eq!(rules[4].action, command(&["sh", "-c", "kill -HUP 1"]));
    assert_eq!(rules[5].action, command(&["touch", "/tmp/reload"]));
}

#[test]
fn watch_rules_from_several_files_append() {
    let dir = folder(&[
        (
            "compose.yaml",
            "services:\n  api:\n    build: .\n    develop:\n      watch:\n        - {path: a, action: sync}\n",
        ),
        (
            "compose.override.yaml",
            "services:\n  api:\n    develop:\n      watch:\n        - path: b\n          action: rebuild\n",
        ),
    ]);
    let workspace = loaded(dir.path(), &[]);
    let rules = workspace.services[0].develop.clone().map(|d| d.watch).unwrap_or_default();
    let root = canonical(dir.path());
    let got: Vec<(PathBuf, PathBuf, usize)> = rules.iter().map(|r| (r.path.clone(), r.file.clone(), r.line)).collect();
    assert_eq!(
        got,
        [(root.join("a"), root.join("compose.yaml"), 6), (root.join("b"), root.join("compose.override.yaml"), 5)]
    );
}

#[test]
fn a_bad_watch_rule_is_an_error_at_its_line() {
    let rule = |body: &str| {
        let text = format!("services:\n  api:\n    build: .\n    develop:\n      watch:\n        - path: ok\n          action: sync\n{body}");
        let dir = folder(&[("compose.yaml", &text)]);
        error_in(dir.path(), load_with(dir.path(), &[]))
    };
    let (cause, line) = rule("        - path: x\n          action: teleport\n");
    assert_eq!(
        (cause.as_str(), line),
        ("ROOT/compose.yaml:8: unknown `develop.watch` action `teleport` for the service `api`", Some(8))
    );
    let (cause, _) = rule("        - action: sync\n");
    assert_eq!(cause, "ROOT/compose.yaml:8: a `develop.watch` rule of the service `api` has no `path`");
    let (cause, _) = rule("        - path: x\n          action: sync+exec\n");
    assert_eq!(cause, "ROOT/compose.yaml:8: the `sync+exec` rule of the service `api` has no `exec.command`");
}

#[test]
fn settings_of_the_wrong_type_are_errors_at_their_line() {
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    build: .\n    image:\n      - a\n")]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])),
        ("ROOT/compose.yaml:4: `image` of the service `api` must be a string".into(), Some(4))
    );
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    build:\n      context: .\n      args: oops\n")]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])),
        ("ROOT/compose.yaml:5: `build.args` of the service `api` must be a mapping or a list".into(), Some(5))
    );
    let dir = folder(&[("compose.yaml", "services:\n  api:\n")]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])).0,
        "ROOT/compose.yaml:2: the service `api` has no settings"
    );
}

#[test]
fn profiles_are_listed_once() {
    let dir = folder(&[
        ("compose.yaml", "services:\n  api:\n    build: .\n    profiles: [a, b]\n"),
        ("compose.override.yml", "services:\n  api:\n    profiles: [b, c]\n"),
    ]);
    let workspace = loaded(dir.path(), &[("COMPOSE_PROFILES", "c")]);
    assert_eq!(workspace.services[0].profiles, ["a", "b", "c"]);
}

#[test]
fn command_lines_split_as_a_shell_splits_them() {
    assert_eq!(shell_words(r#"a  'b c' "d \"e\" \$f" g\ h"#), ["a", "b c", "d \"e\" $f", "g h"]);
    assert_eq!(shell_words("''"), [""]);
    assert!(shell_words("   ").is_empty());
}
