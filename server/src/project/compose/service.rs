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

    /// `key`'s text, a platform (`os/arch[/variant]`); `None` when absent or null.
    fn platform(&self, map: &Mapping, key: &str) -> Result<Option<String>> {
        let platform = self.text(map, key)?;
        match platform.as_deref().filter(|p| !crate::project::config::is_platform(p)) {
            None => Ok(platform),
            Some(bad) => Err(self.error(
                &[key],
                format!("`{key}` {bad:?} of the service `{}` is not `os/arch[/variant]`", self.service),
                "write it as docker names platforms, e.g. `linux/amd64` or `linux/arm64/v8`",
            )),
        }
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
            platform: place.platform(map, "platform")?,
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
        let tags = place.list(map, "tags")?;
        if let Some(problem) = tags.iter().find_map(|t| crate::project::plan::reference_problem(t)) {
            return Err(place.error(
                &["tags"],
                format!("`build.tags` of the service `{name}`: {problem}"),
                "write each tag as docker names images: `name`, `name:tag` or `registry/name:tag`, lowercase",
            ));
        }
        // Compose's build keys that change what a RUN step gets, which no build of ours applies.
        let unapplied = ["shm_size", "ulimits", "privileged", "isolation", "entitlements", "platforms"]
            .into_iter()
            .filter(|key| match map.get(*key).map(untagged) {
                None | Some(Value::Null | Value::Bool(false)) => false,
                // One platform is the build's platform; several make a multi-platform image.
                Some(Value::Sequence(platforms)) if *key == "platforms" => platforms.len() > 1,
                Some(_) => true,
            })
            .map(|key| {
                let at = place.line_of(&[Seg::key(key)]);
                format!("`build.{key}` ({}:{at})", place.source.path.display())
            })
            .collect();
        let platforms = place.list(map, "platforms")?;
        Ok(Build {
            context,
            unapplied,
            platforms,
            tags,
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
#[path = "service_tests.rs"]
mod tests;
