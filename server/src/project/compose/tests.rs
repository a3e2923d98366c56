//! `load` end to end: files, .env, names, merge, profiles, and what `named` answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// A folder holding `files` (relative paths; folders made as needed).
pub(super) fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("temp dir: {e}"));
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

pub(super) fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn canonical(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// The workspace in `dir` with only `env` as the environment.
pub(super) fn load_with(dir: &Path, env: &[(&str, &str)]) -> Result<Workspace> {
    load(&ComposeOptions { dir: dir.to_path_buf(), env: vars(env), ..Default::default() })
}

pub(super) fn loaded(dir: &Path, env: &[(&str, &str)]) -> Workspace {
    load_with(dir, env).unwrap_or_else(|e| panic!("{e}"))
}

/// The error's cause with `dir` written `ROOT`, and its location's line.
pub(super) fn error_in<T: std::fmt::Debug>(dir: &Path, result: Result<T>) -> (String, Option<usize>) {
    let root = canonical(dir).display().to_string();
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => (e.cause.replace(&root, "ROOT"), e.location.map(|(_, line)| line)),
    }
}

/// The build context of the service `name`.
pub(super) fn context(workspace: &Workspace, name: &str) -> BuildContext {
    workspace.service(name).and_then(|s| s.build.as_ref()).map(|b| b.context.clone()).expect("a service with build:")
}

fn images(workspace: &Workspace) -> Vec<String> {
    workspace.services.iter().map(|s| s.image.clone().unwrap_or_default()).collect()
}

#[test]
fn the_shell_wins_over_the_env_file_for_interpolation() {
    let dir = folder(&[
        (
            "compose.yaml",
            "services:\n  api:\n    image: \"app:${TAG}-${FROM_FILE}-${UNSET:-d}\"\n    container_name: a$$b\n",
        ),
        (".env", "TAG=file\nFROM_FILE=f\n"),
    ]);
    let workspace = loaded(dir.path(), &[("TAG", "shell")]);
    assert_eq!(images(&workspace), ["app:shell-f-d"]);
    assert_eq!(workspace.services[0].container_name.as_deref(), Some("a$b"));
    assert_eq!(workspace.env_file, Some(canonical(dir.path()).join(".env")));
    let workspace = loaded(dir.path(), &[("COMPOSE_DISABLE_ENV_FILE", "true")]);
    assert_eq!(images(&workspace), ["app:--d"]);
    assert_eq!(workspace.env_file, None);
}

#[test]
fn the_files_merge_in_order() {
    let dir = folder(&[
        ("a.yml", "services:\n  api:\n    image: a\n    build:\n      context: ./api\n      args: [X=1, Y=2]\n  db:\n    image: pg\n"),
        ("sub/b.yml", "services:\n  api:\n    image: b\n    build:\n      args:\n        Y: '3'\n  web:\n    build: ./web\n"),
    ]);
    let options = ComposeOptions {
        dir: dir.path().to_path_buf(),
        files: vec!["a.yml".into(), "sub/b.yml".into()],
        ..Default::default()
    };
    let workspace = load(&options).unwrap_or_else(|e| panic!("{e}"));
    let root = canonical(dir.path());
    assert_eq!(workspace.dir, root);
    assert_eq!(workspace.files, [root.join("a.yml"), root.join("sub/b.yml")]);
    let names: Vec<&str> = workspace.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api", "db", "web"]);
    let api = workspace.service("api").unwrap_or_else(|| panic!("no api"));
    assert_eq!(api.image.as_deref(), Some("b"));
    let build = api.build.clone().unwrap_or_else(|| panic!("no build"));
    assert_eq!(build.context, BuildContext::Local(root.join("api")));
    assert_eq!(build.args, vars(&[("X", "1"), ("Y", "3")]));
    assert_eq!((api.file.clone(), api.line), (root.join("a.yml"), 2));
    assert_eq!((build.file, build.line), (root.join("sub/b.yml"), 4));
    // Every file's relative paths start from the project directory, not from the file's.
    let web = workspace.service("web").and_then(|s| s.build.clone()).map(|b| b.context);
    assert_eq!(web, Some(BuildContext::Local(root.join("web"))));
}

#[test]
fn the_override_file_is_read_by_default() {
    let dir = folder(&[
        ("compose.yaml", "services:\n  api:\n    image: base\n"),
        ("compose.override.yaml", "services:\n  api:\n    image: overridden\n"),
    ]);
    let workspace = loaded(dir.path(), &[]);
    assert_eq!(images(&workspace), ["overridden"]);
    assert_eq!(workspace.files.len(), 2);
}

#[test]
fn compose_file_names_the_files_from_the_environment_or_the_env_file() {
    let dir = folder(&[
        ("compose.yaml", "services:\n  api:\n    image: default\n"),
        ("one.yml", "services:\n  api:\n    image: one\n"),
        ("two.yml", "services:\n  api:\n    container_name: two\n"),
    ]);
    let workspace = loaded(dir.path(), &[("COMPOSE_FILE", "one.yml:two.yml")]);
    assert_eq!(images(&workspace), ["one"]);
    assert_eq!(workspace.services[0].container_name.as_deref(), Some("two"));
    std::fs::write(dir.path().join(".env"), "COMPOSE_FILE=two.yml,one.yml\nCOMPOSE_PATH_SEPARATOR=,\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let workspace = loaded(dir.path(), &[]);
    assert_eq!(workspace.files, [canonical(dir.path()).join("two.yml"), canonical(dir.path()).join("one.yml")]);
}

#[test]
fn the_project_name_comes_from_each_source_in_turn() {
    let dir = folder(&[("My.App_2/compose.yaml", "name: ${KEY_NAME:-Keyed}\nservices:\n  api:\n    build: .\n")]);
    let dir = dir.path().join("My.App_2");
    let named = |options: ComposeOptions| {
        let workspace = load(&ComposeOptions { dir: dir.clone(), ..options }).unwrap_or_else(|e| panic!("{e}"));
        (
            workspace.name.clone(),
            workspace.name_source,
            workspace.project_name(ComposeVersion::V1),
            workspace.project_name(ComposeVersion::V2),
        )
    };
    let flag = ComposeOptions { project_name: Some("_Flag".into()), ..Default::default() };
    assert_eq!(named(flag), ("_Flag".into(), NameSource::Flag, "_flag".into(), "flag".into()));
    let env = ComposeOptions { env: vars(&[("COMPOSE_PROJECT_NAME", "from-env")]), ..Default::default() };
    assert_eq!(named(env).1, NameSource::Env);
    // `name:` is interpolated; compose v1 does not read it and names the project by folder.
    let key = ComposeOptions { env: vars(&[("KEY_NAME", "Key.Name")]), ..Default::default() };
    assert_eq!(named(key), ("Key.Name".into(), NameSource::NameKey, "myapp_2".into(), "keyname".into()));
    std::fs::write(dir.join(".env"), "COMPOSE_PROJECT_NAME=from_file\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(named(ComposeOptions::default()).1, NameSource::EnvFile);
    std::fs::write(dir.join(".env"), "").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("compose.yaml"), "services:\n  api:\n    build: .\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        named(ComposeOptions::default()),
        ("My.App_2".into(), NameSource::Folder, "myapp_2".into(), "myapp_2".into())
    );
}

#[test]
fn the_project_name_is_interpolated_into_the_files() {
    let dir = folder(&[("Demo/compose.yaml", "services:\n  api:\n    container_name: ${COMPOSE_PROJECT_NAME}-api\n")]);
    let workspace = loaded(&dir.path().join("Demo"), &[]);
    assert_eq!(workspace.services[0].container_name.as_deref(), Some("demo-api"));
}

#[test]
fn images_are_named_as_each_compose_version_names_them() {
    let dir =
        folder(&[("Shop/compose.yaml", "services:\n  api:\n    build: .\n  web:\n    build: .\n    image: web\n")]);
    let workspace = loaded(&dir.path().join("Shop"), &[]);
    let (api, web) = (&workspace.services[0], &workspace.services[1]);
    assert_eq!(workspace.image_name(api, ComposeVersion::V1), "shop_api:latest");
    assert_eq!(workspace.image_name(api, ComposeVersion::V2), "shop-api:latest");
    assert_eq!(workspace.image_name(web, ComposeVersion::V2), "web:latest");
    let options = ComposeOptions { project_name: Some("_Shop".into()), ..Default::default() };
    let workspace = load(&ComposeOptions { dir: dir.path().join("Shop"), ..options }).unwrap_or_else(|e| panic!("{e}"));
    let api = &workspace.services[0];
    assert_eq!(workspace.project_name(ComposeVersion::V1), "_shop");
    assert_eq!(workspace.image_name(api, ComposeVersion::V1), "shop_api:latest");
    assert_eq!(workspace.image_name(api, ComposeVersion::V2), "shop-api:latest");
}

#[test]
fn the_services_run_from_a_built_image_are_its_image_users() {
    let dir = folder(&[(
        "Shop/compose.yaml",
        "services:\n  web:\n    build: .\n    image: shop/app\n  worker:\n    image: shop/app:latest\n  \
         beat:\n    image: shop/app\n    profiles: [cron]\n  other:\n    image: shop/app:v1\n  twin:\n    \
         build: .\n    image: shop/app\n",
    )]);
    let workspace = loaded(&dir.path().join("Shop"), &[]);
    // A service that builds the image itself is a project of its own; another tag is another image.
    assert_eq!(workspace.image_users("shop/app:latest", "web"), ["worker", "beat"]);
}

#[test]
fn profiles_enable_services_and_a_named_service_is_found_anyway() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build: .\n  debug:\n    build: .\n    profiles: [debug, tools]\n  docs:\n    image: \
         docs\n    profiles: [docs]\n",
    )]);
    let names = |workspace: &Workspace| workspace.services.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let workspace = loaded(dir.path(), &[]);
    assert_eq!(names(&workspace), ["api"]);
    assert!(workspace.service("debug").is_none());
    assert_eq!(workspace.named("debug").map(|s| s.name.clone()).ok().as_deref(), Some("debug"));
    assert_eq!(names(&loaded(dir.path(), &[("COMPOSE_PROFILES", "tools")])), ["api", "debug"]);
    assert_eq!(names(&loaded(dir.path(), &[("COMPOSE_PROFILES", "*")])), ["api", "debug", "docs"]);
    let options = ComposeOptions {
        dir: dir.path().to_path_buf(),
        profiles: vec!["docs".into()],
        env: vars(&[("COMPOSE_PROFILES", "debug")]),
        ..Default::default()
    };
    let workspace = load(&options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&workspace), ["api", "docs"]);
}

#[test]
fn named_explains_an_unknown_service_or_one_compose_does_not_build() {
    let dir = folder(&[(
        "compose.yaml",
        "services:\n  api:\n    build: .\n  db:\n    image: postgres\n  debug:\n    build: .\n    profiles: [debug]\n",
    )]);
    let workspace = loaded(dir.path(), &[]);
    assert_eq!(
        error_in(dir.path(), workspace.named("nope")),
        (
            "ROOT/compose.yaml:1: no service `nope` in ROOT/compose.yaml; services with `build:`: `api`, `debug` \
             (profile `debug`, inactive)"
                .into(),
            Some(1)
        )
    );
    assert_eq!(
        error_in(dir.path(), workspace.named("db")),
        (
            "ROOT/compose.yaml:4: the service `db` has no `build:` section; docker-rebuilder rebuilds only services \
             compose builds; services with `build:`: `api`, `debug` (profile `debug`, inactive)"
                .into(),
            Some(4)
        )
    );
}

#[test]
fn extends_in_an_override_file_keeps_the_base_files_paths() {
    let dir = folder(&[
        ("compose.yaml", "services:\n  api:\n    image: api\n"),
        ("compose.override.yml", "services:\n  api:\n    extends:\n      file: lib/base.yml\n      service: base\n"),
        ("lib/base.yml", "services:\n  base:\n    build:\n      context: ../api\n      dockerfile: Dockerfile.dev\n"),
        ("api/Dockerfile.dev", "FROM scratch\n"),
    ]);
    let workspace = loaded(dir.path(), &[]);
    let build = workspace.services[0].build.clone().unwrap_or_else(|| panic!("no build"));
    assert_eq!(build.context, BuildContext::Local(canonical(dir.path()).join("api")));
    assert_eq!(build.dockerfile, PathBuf::from("Dockerfile.dev"));
    assert_eq!(build.file, canonical(dir.path()).join("lib/base.yml"));
    assert_eq!(workspace.files.len(), 2);
}

#[test]
fn a_files_documents_and_merge_keys_are_read() {
    let dir = folder(&[(
        "compose.yaml",
        "x-base: &base\n  build: .\n  profiles: [p]\nservices:\n  api:\n    <<: *base\n    image: one\n---\nservices:\n  \
         api:\n    image: two\n",
    )]);
    let workspace = loaded(dir.path(), &[("COMPOSE_PROFILES", "p")]);
    assert_eq!(images(&workspace), ["two"]);
    assert!(workspace.services[0].build.is_some());
}

#[test]
fn unreadable_files_are_errors_at_their_line() {
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    image: [unclosed\n")]);
    let (cause, line) = error_in(dir.path(), load_with(dir.path(), &[]));
    assert!(
        cause.starts_with("ROOT/compose.yaml:4: invalid YAML") || cause.starts_with("ROOT/compose.yaml:3"),
        "{cause}"
    );
    assert!(line.is_some());
    // Where is said once: the line first, the column beside "invalid YAML".
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    build: ./api\n   ports: [x]\n")]);
    let (cause, line) = error_in(dir.path(), load_with(dir.path(), &[]));
    assert_eq!(
        cause,
        "ROOT/compose.yaml:4: invalid YAML (column 4): did not find expected key, while parsing a block mapping at \
         line 2 column 3"
    );
    assert_eq!(line, Some(4));
    let dir = folder(&[("compose.yaml", "version: '3'\nname: x\n")]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])),
        ("ROOT/compose.yaml:1: no `services:` in the compose files".into(), Some(1))
    );
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    image: ${IMAGE:?name the image}\n")]);
    assert_eq!(
        error_in(dir.path(), load_with(dir.path(), &[])),
        ("ROOT/compose.yaml:3: required variable IMAGE is missing a value: name the image".into(), Some(3))
    );
    let dir = folder(&[("compose.yaml", "services:\n  api:\n    image: x\n"), (".env", "A=1\nB='open\n")]);
    assert_eq!(error_in(dir.path(), load_with(dir.path(), &[])).1, Some(2));
}

#[test]
fn missing_files_are_errors() {
    let dir = folder(&[("notes.txt", "")]);
    let (cause, _) = error_in(dir.path(), load_with(dir.path(), &[]));
    assert!(cause.starts_with("no compose file in ROOT (looked for compose.yaml"), "{cause}");
    let options =
        ComposeOptions { dir: dir.path().to_path_buf(), files: vec!["gone.yml".into()], ..Default::default() };
    let (cause, _) = error_in(dir.path(), load(&options));
    assert!(cause.starts_with("ROOT/gone.yml: cannot open the compose file given with -f"), "{cause}");
}

#[test]
fn find_dir_looks_upward_for_a_compose_file() {
    let dir = folder(&[("docker-compose.yml", "services: {}\n"), ("a/b/file.txt", "")]);
    assert_eq!(find_dir(&dir.path().join("a/b")), Some(canonical(dir.path())));
    let empty = folder(&[("a/file.txt", "")]);
    assert!(find_dir(&empty.path().join("a")).is_none_or(|d| !d.starts_with(canonical(empty.path()))));
}

#[test]
fn a_dotenv_naming_the_compose_files_makes_its_folder_the_project() {
    // As compose: COMPOSE_FILE in the working folder's .env, no file of a default name.
    let dir = folder(&[("stack.yml", "services: {}\n"), ("a/.env", "COMPOSE_FILE=../stack.yml\n"), ("b/x", "")]);
    let a = dir.path().join("a");
    assert_eq!(find_dir(&a), Some(canonical(&a)));
    assert!(finds_project_in(&a, &BTreeMap::new()));
    assert!(!finds_project_in(&dir.path().join("b"), &BTreeMap::new()), "no compose file, no COMPOSE_FILE");
    let env = BTreeMap::from([("COMPOSE_FILE".to_string(), "stack.yml".to_string())]);
    assert!(finds_project_in(&dir.path().join("b"), &env), "COMPOSE_FILE in the environment");
    let workspace = load(&ComposeOptions { dir: a, ..Default::default() }).expect("loads");
    assert_eq!(workspace.files, [canonical(dir.path()).join("stack.yml")]);
}

/// Found by the fuzzer: libyaml's error at the end of a text without a final newline is one
/// line past it; the error names the last line.
#[test]
fn a_yaml_error_at_the_end_of_the_text_names_its_last_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  api:A    buew:\n  apild").expect("write");
    let options = ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() };
    let Err(error) = load(&options) else { panic!("invalid YAML must not load") };
    assert_eq!(error.location.as_ref().map(|(_, line)| *line), Some(3), "{error}");
}

#[test]
fn env_files_given_replace_the_env_file_and_a_later_one_wins() {
    let dir = folder(&[
        ("compose.yaml", "services:\n  api:\n    image: \"app:${A:-unset}-${B:-unset}-${C:-unset}-${D:-unset}\"\n"),
        (".env", "A=dotenv\nD=dotenv\n"),
        ("one.env", "A=one\nB=one\n"),
        ("two.env", "B=two-after-${A}\nC=two\n"),
    ]);
    let root = canonical(dir.path());
    let options = |files: &[&str]| ComposeOptions {
        dir: dir.path().to_path_buf(),
        env: vars(&[("C", "shell")]),
        env_files: files.iter().map(|f| root.join(f)).collect(),
        ..Default::default()
    };
    let workspace = load(&options(&["one.env", "two.env"])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(images(&workspace), ["app:one-two-after-one-shell-unset"], ".env is not read; the shell wins");
    assert_eq!(workspace.env_files_given, [root.join("one.env"), root.join("two.env")]);
    let (cause, _) = error_in(dir.path(), load(&options(&["missing.env"])));
    assert_eq!(cause, "couldn't find the env file ROOT/missing.env");
}

#[test]
fn a_project_directory_is_where_files_are_found_paths_resolve_and_env_is_read() {
    let dir = folder(&[
        ("deploy/compose.yaml", "services:\n  api:\n    build: ./api\n    image: \"api:${TAG}\"\n"),
        ("deploy/.env", "TAG=deploy\n"),
        (".env", "TAG=root\n"),
        ("api/Dockerfile", "FROM scratch\n"),
        ("compose.yaml", "services:\n  other:\n    image: other\n"),
    ]);
    let root = canonical(dir.path());
    let options = ComposeOptions {
        dir: dir.path().join("deploy"),
        files: vec![PathBuf::from("compose.yaml")],
        project_directory: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let workspace = load(&options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(workspace.files, [root.join("deploy/compose.yaml")], "-f is the running folder's");
    assert_eq!(workspace.dir, root);
    assert_eq!(images(&workspace), ["api:root"], "the project directory's .env");
    assert_eq!(context(&workspace, "api"), BuildContext::Local(root.join("api")));
    // Without -f, the project directory's compose file.
    let options = ComposeOptions { files: Vec::new(), ..options };
    assert_eq!(load(&options).unwrap_or_else(|e| panic!("{e}")).files, [root.join("compose.yaml")]);
}
