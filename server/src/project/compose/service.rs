//! The merged services as typed values: only the keys docker-rebuilder uses, each checked
//! where it is read; every other key is compose's to validate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::locate::{self, service_path, Seg};
use super::merge::{is_remote_context, origin_of, untagged};
use super::{
    compose_error, key_string, scalar_string, Build, BuildContext, BuildSecret, Develop, SecretSource, Service,
    SourceFile, WatchAction, WatchRule,
};
use crate::error::{Error, Result};

/// What typing a service needs besides the service.
pub(super) struct Typing<'a> {
    pub sources: &'a [SourceFile],
    /// Shell environment over the .env file's: values for build args written without one.
    pub env: &'a BTreeMap<String, String>,
    /// The top-level `secrets:`.
    pub secrets: Option<&'a Mapping>,
    pub project_dir: &'a Path,
}

/// Where a marked mapping is written, for errors about its keys.
struct Place<'a> {
    source: &'a SourceFile,
    line: usize,
    /// The path of the mapping in its file (`services.<name as written there>…`).
    path: Vec<Seg>,
    /// The service's name, for messages.
    service: String,
}

impl Place<'_> {
    /// The line of `below` (or of the nearest part of it found under the mapping).
    fn line_of(&self, below: &[Seg]) -> usize {
        let path = [self.path.as_slice(), below].concat();
        (self.path.len()..=path.len())
            .rev()
            .find_map(|n| locate::exact_line(&self.source.text, &path[..n]))
            .unwrap_or(self.line)
    }

    fn error(&self, below: &[&str], cause: String, fix: &str) -> Error {
        let below: Vec<Seg> = below.iter().map(|k| Seg::key(k)).collect();
        compose_error(&self.source.path, self.line_of(&below), cause, fix)
    }

    /// `key`'s text; `None` when absent or null.
    fn text(&self, map: &Mapping, key: &str) -> Result<Option<String>> {
        match map.get(key).map(untagged) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => scalar_string(value).map(Some).ok_or_else(|| {
                self.error(
                    &[key],
                    format!("`{key}` of the service `{}` must be a string", self.service),
                    "write one value",
                )
            }),
        }
    }

    /// `key`'s texts: a list, or one string as a list of one.
    fn list(&self, map: &Mapping, key: &str) -> Result<Vec<String>> {
        let wrong = || {
            self.error(
                &[key],
                format!("`{key}` of the service `{}` must be a list of strings", self.service),
                "write `- value` items",
            )
        };
        match map.get(key).map(untagged) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items.iter().map(|i| scalar_string(i).ok_or_else(wrong)).collect(),
            Some(value) => scalar_string(value).map(|s| vec![s]).ok_or_else(wrong),
        }
    }
}

impl Place<'_> {
    /// `key`'s `NAME: value` mapping or `- NAME=value` list (compose's form for labels), as
    /// pairs; a name without a value has the empty one.
    fn pairs(&self, map: &Mapping, key: &str) -> Result<Vec<(String, String)>> {
        let wrong = || {
            self.error(
                &[key],
                format!("`{key}` of the service `{}` must be a mapping or a list of strings", self.service),
                "write `NAME: value` entries or `- NAME=value` items",
            )
        };
        match map.get(key).map(untagged) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Mapping(given)) => given
                .iter()
                .map(|(k, v)| match untagged(v) {
                    Value::Null => Ok((key_string(k), String::new())),
                    v => scalar_string(v).map(|v| (key_string(k), v)).ok_or_else(wrong),
                })
                .collect(),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|i| {
                    let item = scalar_string(i).ok_or_else(wrong)?;
                    Ok(match item.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (item, String::new()),
                    })
                })
                .collect(),
            Some(_) => Err(wrong()),
        }
    }

    /// `build.extra_hosts`: `- HOST:IP` / `- HOST=IP` items or a `HOST: IP` mapping, as the
    /// engine takes them (`HOST:IP`).
    fn extra_hosts(&self, map: &Mapping) -> Result<Vec<String>> {
        let entries: Vec<String> = match map.get("extra_hosts").map(untagged) {
            Some(Value::Mapping(_)) => {
                self.pairs(map, "extra_hosts")?.into_iter().map(|(host, ip)| format!("{host}={ip}")).collect()
            }
            _ => self.list(map, "extra_hosts")?,
        };
        entries
            .iter()
            .map(|entry| {
                crate::project::config::extra_host(entry).ok_or_else(|| {
                    self.error(
                        &["extra_hosts"],
                        format!("`extra_hosts` entry {entry:?} of the service `{}` is not `HOST:IP`", self.service),
                        "write each entry as `HOST:IP` (an IPv4 or IPv6 address, or `host-gateway`)",
                    )
                })
            })
            .collect()
    }
}

impl Typing<'_> {
    fn place(&self, map: &Mapping, below: &[&str], service: &str) -> Place<'_> {
        let (file, line, written_as) = origin_of(map).unwrap_or((0, 1, service.to_string()));
        let source = self.sources.get(file).unwrap_or(&self.sources[0]);
        Place { source, line, path: service_path(&written_as, below), service: service.to_string() }
    }

    pub(super) fn service(&self, name: &str, value: &Value) -> Result<Service> {
        let Value::Mapping(map) = untagged(value) else {
            // Only a file that names the service without settings leaves it so.
            let path = service_path(name, &[]);
            let (source, line) = self
                .sources
                .iter()
                .find_map(|s| Some((s, locate::exact_line(&s.text, &path)?)))
                .unwrap_or((&self.sources[0], 1));
            return Err(compose_error(
                &source.path,
                line,
                format!("the service `{name}` has no settings"),
                "give it an `image:` or a `build:` (compose refuses an empty service too)",
            ));
        };
        let place = self.place(map, &[], name);
        let mut profiles = place.list(map, "profiles")?;
        let mut seen = std::collections::HashSet::new();
        profiles.retain(|p| seen.insert(p.clone()));
        let build = match map.get("build").map(untagged) {
            Some(Value::Mapping(build)) => Some(self.build(name, build)?),
            _ => None,
        };
        let develop = match map.get("develop").map(untagged) {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(develop)) => Some(self.develop(name, develop, &place)?),
            Some(_) => {
                return Err(place.error(
                    &["develop"],
                    format!("`develop` of the service `{name}` must be a mapping"),
                    "write `develop:` with `watch:` rules indented below it",
                ))
            }
        };
        Ok(Service {
            name: name.to_string(),
            build,
            image: place.text(map, "image")?,
            container_name: place.text(map, "container_name")?,
            stop_grace_period: place.text(map, "stop_grace_period")?,
            profiles,
            develop,
            file: place.source.path.clone(),
            line: place.line,
        })
    }

    fn build(&self, name: &str, map: &Mapping) -> Result<Build> {
        let place = self.place(map, &["build"], name);
        let context = match place.text(map, "context")? {
            Some(context) if is_remote_context(&context) => BuildContext::Remote(context),
            Some(context) => BuildContext::Local(existing(self.project_dir.join(context))),
            None => BuildContext::Local(existing(self.project_dir.to_path_buf())),
        };
        let mut args = BTreeMap::new();
        match map.get("args").map(untagged) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(given)) => {
                for (key, value) in given {
                    let key = key_string(key);
                    let value = match untagged(value) {
                        // Compose passes the environment's value, or no arg at all.
                        Value::Null => self.env.get(&key).cloned(),
                        value => Some(scalar_string(value).ok_or_else(|| {
                            place.error(
                                &["args"],
                                format!("the build arg `{key}` of the service `{name}` must be a string"),
                                "write `KEY: value` or `- KEY=value`",
                            )
                        })?),
                    };
                    if let Some(value) = value {
                        args.insert(key, value);
                    }
                }
            }
            Some(_) => {
                return Err(place.error(
                    &["args"],
                    format!("`build.args` of the service `{name}` must be a mapping or a list"),
                    "write `KEY: value` entries or `- KEY=value` items",
                ))
            }
        }
        if map.contains_key("additional_contexts") {
            return Err(place.error(
                &["additional_contexts"],
                format!("`build.additional_contexts` of the service `{name}` is not supported by docker-rebuilder yet"),
                "build this service with compose itself for now, or copy what the Dockerfile reads from the \
                 additional context into the build context",
            ));
        }
        Ok(Build {
            context,
            labels: place.pairs(map, "labels")?.into_iter().collect(),
            network: place.text(map, "network")?,
            extra_hosts: place.extra_hosts(map)?,
            dockerfile: PathBuf::from(place.text(map, "dockerfile")?.unwrap_or_else(|| "Dockerfile".into())),
            dockerfile_inline: place.text(map, "dockerfile_inline")?,
            target: place.text(map, "target")?,
            args,
            secrets: self.build_secrets(name, map, &place)?,
            ssh: place.list(map, "ssh")?,
            file: place.source.path.clone(),
            line: place.line,
        })
    }

    /// `build.secrets`, short (`- name`) or long (`- source: name` with `target: id`),
    /// resolved against the top-level `secrets:`.
    fn build_secrets(&self, name: &str, map: &Mapping, place: &Place) -> Result<Vec<BuildSecret>> {
        let items = match map.get("secrets").map(untagged) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                return Err(place.error(
                    &["secrets"],
                    format!("`build.secrets` of the service `{name}` must be a list"),
                    "write `- name` items, or `- source: name` with `target: id`",
                ))
            }
        };
        let secrets_line = place.line_of(&[Seg::key("secrets")]);
        let at =
            |needle: &str| locate::line_containing(&place.source.text, secrets_line, needle).unwrap_or(secrets_line);
        let mut out = Vec::new();
        for item in items {
            let (source, target) = match untagged(item) {
                Value::Mapping(long) => {
                    (long.get("source").and_then(scalar_string), long.get("target").and_then(scalar_string))
                }
                short => (scalar_string(short), None),
            };
            let Some(source) = source else {
                return Err(compose_error(
                    &place.source.path,
                    secrets_line,
                    format!("a build secret of the service `{name}` names no secret"),
                    "write `- name`, or `- source: name` with `target: id`",
                ));
            };
            let defined = self.secrets.and_then(|s| s.get(source.as_str())).map(untagged);
            let file = defined.and_then(|d| d.get("file")).and_then(scalar_string);
            let env = defined.and_then(|d| d.get("environment")).and_then(scalar_string);
            let secret_source = match (defined, file, env) {
                (None, ..) => {
                    return Err(compose_error(
                        &place.source.path,
                        at(&source),
                        format!("the build secret `{source}` of the service `{name}` is not defined under the top-level `secrets:`"),
                        format!("define it: `secrets:` then `  {source}:` then `    file: ./path` (or `    environment: VAR`)"),
                    ))
                }
                (Some(_), Some(file), _) => SecretSource::File(self.project_dir.join(file)),
                (Some(_), None, Some(var)) => SecretSource::Env(var),
                (Some(_), None, None) => {
                    return Err(compose_error(
                        &place.source.path,
                        at(&source),
                        format!("the secret `{source}` has neither `file:` nor `environment:`, so no build can read it"),
                        format!("give the top-level secret `{source}` a `file:` or an `environment:`"),
                    ))
                }
            };
            out.push(BuildSecret { id: target.unwrap_or_else(|| source.clone()), source: secret_source });
        }
        Ok(out)
    }

    fn develop(&self, name: &str, map: &Mapping, place: &Place) -> Result<Develop> {
        let rules = match map.get("watch").map(untagged) {
            None | Some(Value::Null) => return Ok(Develop { watch: Vec::new() }),
            Some(Value::Sequence(rules)) => rules,
            Some(_) => {
                return Err(place.error(
                    &["develop", "watch"],
                    format!("`develop.watch` of the service `{name}` must be a list of rules"),
                    "write `- path: …` items with an `action:`",
                ))
            }
        };
        let watch = rules.iter().map(|rule| self.watch_rule(name, rule, place)).collect::<Result<_>>()?;
        Ok(Develop { watch })
    }

    fn watch_rule(&self, name: &str, rule: &Value, develop: &Place) -> Result<WatchRule> {
        let Value::Mapping(map) = untagged(rule) else {
            return Err(develop.error(
                &["develop", "watch"],
                format!("a `develop.watch` rule of the service `{name}` is not a mapping"),
                "write each rule as `- path: …` with `action: …` below it",
            ));
        };
        let place = self.place(map, &[], name);
        let at = |cause: String, fix: &str| compose_error(&place.source.path, place.line, cause, fix);
        let Some(path) = place.text(map, "path")? else {
            return Err(at(
                format!("a `develop.watch` rule of the service `{name}` has no `path`"),
                "add `path: ./dir`",
            ));
        };
        let action = match place.text(map, "action")?.as_deref() {
            Some("sync") => WatchAction::Sync,
            Some("rebuild") => WatchAction::Rebuild,
            Some("restart") => WatchAction::Restart,
            Some("sync+restart") => WatchAction::SyncRestart,
            Some("sync+exec") => {
                let exec = map.get("exec").map(untagged);
                let command = match exec.and_then(|e| e.get("command")).map(untagged) {
                    Some(Value::Sequence(words)) => words.iter().filter_map(scalar_string).collect(),
                    Some(Value::String(line)) => shell_words(line),
                    _ => Vec::new(),
                };
                if command.is_empty() {
                    return Err(at(
                        format!("the `sync+exec` rule of the service `{name}` has no `exec.command`"),
                        "add `exec:` with `command: …` (a string or a list) to the rule",
                    ));
                }
                WatchAction::SyncExec { command }
            }
            Some(other) => {
                return Err(at(
                    format!("unknown `develop.watch` action `{other}` for the service `{name}`"),
                    "use one of sync, rebuild, restart, sync+restart, sync+exec",
                ))
            }
            None => {
                return Err(at(
                    format!("a `develop.watch` rule of the service `{name}` has no `action`"),
                    "add `action: sync` (or rebuild, restart, sync+restart, sync+exec)",
                ))
            }
        };
        let initial_sync = match map.get("initial_sync").map(untagged) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(WatchRule {
            path: existing(self.project_dir.join(path)),
            action,
            target: place.text(map, "target")?,
            ignore: place.list(map, "ignore")?,
            include: place.list(map, "include")?,
            initial_sync,
            file: place.source.path.clone(),
            line: place.line,
        })
    }
}

/// `path`, canonical when it exists (compose resolves symbolic links of watched paths).
fn existing(path: PathBuf) -> PathBuf {
    path.canonicalize().unwrap_or(path)
}

/// A command line split into words as a POSIX shell would, without expansions: quotes
/// group, a backslash escapes outside single quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|c| *c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(other) => w.extend(['\\', other]),
                            None => w.push('\\'),
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
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
        let services: String =
            contexts.iter().enumerate().map(|(i, c)| format!("  s{i}:\n    build: \"{c}\"\n")).collect();
        let dir = folder(&[("compose.yaml", &format!("services:\n{services}"))]);
        let workspace = loaded(dir.path(), &[]);
        let got: Vec<BuildContext> =
            workspace.services.iter().filter_map(|s| s.build.clone()).map(|b| b.context).collect();
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
        let got: Vec<(PathBuf, PathBuf, usize)> =
            rules.iter().map(|r| (r.path.clone(), r.file.clone(), r.line)).collect();
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
}
