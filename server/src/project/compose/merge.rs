//! One document made ready to merge (its services marked with where they are, `build`
//! and its args in one shape, relative paths made absolute), and compose-go's merge of
//! documents: mappings merge key by key, a later scalar or `!override` replaces, sequences
//! append, a null keeps what was there, `!reset` removes.

use std::path::Path;

use serde_norway::value::TaggedValue;
use serde_norway::{Mapping, Value};

use super::locate::{self, service_path, Seg};
use super::{compose_error, key_string, scalar_string, SourceFile};
use crate::error::Result;

/// A key we add to each service, build and watch rule: where it is (`file id:line:name`),
/// as values carry no positions. No YAML key can hold a NUL.
pub(super) const ORIGIN: &str = "\u{0}origin";

/// Where a marked mapping is: the file's id, the line, and the service's name in that file.
pub(super) fn origin_of(mapping: &Mapping) -> Option<(usize, usize, String)> {
    let text = mapping.get(ORIGIN).and_then(scalar_string)?;
    let mut parts = text.splitn(3, ':');
    let file = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((file, line, parts.next()?.to_string()))
}

fn mark(mapping: &mut Mapping, file: usize, line: usize, name: &str) {
    mapping.insert(Value::from(ORIGIN), Value::from(format!("{file}:{line}:{name}")));
}

/// The value under any YAML tags (`!override`, `!reset` are read by `merge`).
pub(super) fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untagged(&tagged.value),
        other => other,
    }
}

pub(super) fn untagged_mut(value: &mut Value) -> &mut Value {
    match value {
        Value::Tagged(tagged) => untagged_mut(&mut tagged.value),
        other => other,
    }
}

/// Prepares a document of `source` (file `file`): relative paths resolve against `base`.
pub(super) fn prepare(
    document: &mut Value,
    file: usize,
    source: &SourceFile,
    base: &Path,
    home: Option<&str>,
) -> Result<()> {
    let Value::Mapping(top) = untagged_mut(document) else {
        return Err(compose_error(
            &source.path,
            1,
            "the top level of a compose file must be a mapping (`services:`, `secrets:`, …)",
            "correct the file (`docker compose config` reports the same)",
        ));
    };
    if let Some(Value::Mapping(secrets)) = top.get_mut("secrets").map(untagged_mut) {
        for secret in secrets.values_mut() {
            if let Some(Value::String(path)) = untagged_mut(secret).get_mut("file").map(untagged_mut) {
                *path = absolute(path, base, home);
            }
        }
    }
    let services = match top.get_mut("services").map(untagged_mut) {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Mapping(services)) => services,
        Some(_) => {
            return Err(compose_error(
                &source.path,
                locate::line_of(&source.text, &[Seg::key("services")]),
                "`services` must be a mapping of service names to their settings",
                "write each service as `name:` under `services:`, its settings indented below it",
            ))
        }
    };
    for (key, service) in services.iter_mut() {
        let name = key_string(key);
        let line = locate::line_of(&source.text, &service_path(&name, &[]));
        let service = match untagged_mut(service) {
            Value::Mapping(service) => service,
            // Nothing to add: an override file may name a service without changing it.
            Value::Null => continue,
            _ => {
                return Err(compose_error(
                    &source.path,
                    line,
                    format!("the service `{name}` must be a mapping of its settings"),
                    "indent the service's settings (`image:`, `build:`, …) below its name",
                ))
            }
        };
        mark(service, file, line, &name);
        prepare_build(service, file, source, &name, base, home)?;
        prepare_watch(service, file, source, &name, base, home);
        if let Some(Value::String(path)) =
            service.get_mut("extends").map(untagged_mut).and_then(|e| e.get_mut("file")).map(untagged_mut)
        {
            *path = absolute(path, base, home);
        }
    }
    Ok(())
}

/// `build: ./dir` as `{context: ./dir}`, list args as a map, map ssh as a list, the context
/// and ssh key paths absolute.
fn prepare_build(
    service: &mut Mapping,
    file: usize,
    source: &SourceFile,
    name: &str,
    base: &Path,
    home: Option<&str>,
) -> Result<()> {
    let Some(build) = service.get_mut("build").map(untagged_mut) else { return Ok(()) };
    let line = locate::line_of(&source.text, &service_path(name, &["build"]));
    if let Value::String(context) = build {
        *build = Value::Mapping([(Value::from("context"), Value::from(context.clone()))].into_iter().collect());
    }
    let build = match build {
        Value::Mapping(build) => build,
        Value::Null => return Ok(()),
        _ => {
            return Err(compose_error(
                &source.path,
                line,
                format!("`build` of the service `{name}` must be a path (the build context) or a mapping"),
                "write `build: ./dir`, or `build:` with `context:`, `dockerfile:`, … indented below it",
            ))
        }
    };
    mark(build, file, line, name);
    if let Some(args) = build.get_mut("args").map(untagged_mut) {
        if let Value::Sequence(items) = args {
            let pairs = items.iter().filter_map(scalar_string).map(|item| match item.split_once('=') {
                Some((key, value)) => (Value::from(key), Value::from(value)),
                None => (Value::from(item), Value::Null),
            });
            *args = Value::Mapping(pairs.collect());
        }
    }
    if let Some(ssh) = build.get_mut("ssh").map(untagged_mut) {
        let entries: Vec<String> = match &*ssh {
            Value::Mapping(keys) => keys
                .iter()
                .map(|(k, v)| match scalar_string(v) {
                    Some(path) => format!("{}={path}", key_string(k)),
                    None => key_string(k),
                })
                .collect(),
            Value::Sequence(items) => items.iter().filter_map(scalar_string).collect(),
            other => scalar_string(other).into_iter().collect(),
        };
        let resolved = entries.into_iter().map(|entry| match entry.split_once('=') {
            Some((id, path)) => Value::from(format!("{id}={}", absolute(path, base, home))),
            None => Value::from(entry),
        });
        *ssh = Value::Sequence(resolved.collect());
    }
    if let Some(Value::String(context)) = build.get_mut("context").map(untagged_mut) {
        if !is_remote_context(context) {
            *context = absolute(context, base, home);
        }
    }
    Ok(())
}

/// Marks each `develop.watch` rule and makes its path absolute.
fn prepare_watch(service: &mut Mapping, file: usize, source: &SourceFile, name: &str, base: &Path, home: Option<&str>) {
    let develop = service.get_mut("develop").map(untagged_mut);
    let Some(Value::Sequence(rules)) = develop.and_then(|d| d.get_mut("watch")).map(untagged_mut) else { return };
    for (i, rule) in rules.iter_mut().enumerate() {
        if let Value::Mapping(rule) = untagged_mut(rule) {
            let path = [service_path(name, &["develop", "watch"]), vec![Seg::Item(i)]].concat();
            mark(rule, file, locate::line_of(&source.text, &path), name);
            if let Some(Value::String(path)) = rule.get_mut("path").map(untagged_mut) {
                *path = absolute(path, base, home);
            }
        }
    }
}

/// Whether compose leaves a build context as it is rather than as a local folder: a URL or
/// git reference (BuildKit's rule), or any builder-specific `scheme://` or `service:`.
pub(super) fn is_remote_context(context: &str) -> bool {
    context.contains("://")
        || context.starts_with("service:")
        || ["https://", "http://", "git://", "ssh://", "github.com/", "git@"].iter().any(|p| context.starts_with(p))
}

/// `path` made absolute against `base`, `~` expanded to `home`, as compose resolves paths.
pub(super) fn absolute(path: &str, base: &Path, home: Option<&str>) -> String {
    let expanded = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest.trim_start_matches('/')),
        _ => Path::new(path).to_path_buf(),
    };
    if path.is_empty() {
        return String::new();
    }
    clean(&base.join(expanded)).to_string_lossy().into_owned()
}

/// `path` without `.` and with `..` applied, lexically (Go's `filepath.Clean`, which
/// compose's `filepath.Join` applies).
fn clean(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::ParentDir if out.has_root() => {}
            other => out.push(other),
        }
    }
    out
}

/// `over` merged onto `base`; `path` is the keys down to them (for compose's special rules).
pub(super) fn merge(base: Value, over: Value, path: &mut Vec<String>) -> Value {
    match over {
        Value::Tagged(tagged) if tagged.tag == "override" => strip(tagged.value).unwrap_or(Value::Null),
        Value::Tagged(tagged) if tagged.tag == "reset" => Value::Null,
        Value::Tagged(tagged) => merge(base, tagged.value, path),
        Value::Null => base,
        Value::Mapping(over) => match base {
            Value::Mapping(base) => Value::Mapping(merge_mappings(base, over, path)),
            _ => strip(Value::Mapping(over)).unwrap_or(Value::Null),
        },
        Value::Sequence(over) => match base {
            Value::Sequence(mut base) => {
                base.extend(over.into_iter().filter_map(strip));
                Value::Sequence(base)
            }
            _ => strip(Value::Sequence(over)).unwrap_or(Value::Null),
        },
        scalar => scalar,
    }
}

fn merge_mappings(mut base: Mapping, over: Mapping, path: &mut Vec<String>) -> Mapping {
    let in_service = path.len() == 2 && path[0] == "services";
    // A build arg restated without a value takes the environment's, not the earlier value.
    let build_args = path.len() == 4 && path[0] == "services" && path[2] == "build" && path[3] == "args";
    for (key, value) in over {
        if is_reset(&value) {
            base.shift_remove(&key);
            continue;
        }
        let name = key_string(&key);
        if in_service && name == ORIGIN && base.contains_key(&key) {
            // A service is where it was first defined.
            continue;
        }
        match base.get_mut(&key) {
            Some(slot) if !build_args => {
                path.push(name);
                *slot = merge(std::mem::take(slot), value, path);
                path.pop();
            }
            Some(slot) => *slot = strip(value).unwrap_or(Value::Null),
            None => {
                if let Some(value) = strip(value) {
                    base.insert(key, value);
                }
            }
        }
    }
    base
}

fn is_reset(value: &Value) -> bool {
    matches!(value, Value::Tagged(tagged) if tagged.tag == "reset")
}

/// `value` without its tags: `!reset` removes what it tags (`None` at the top).
fn strip(value: Value) -> Option<Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "reset" => None,
        Value::Tagged(tagged) => {
            let TaggedValue { value, .. } = *tagged;
            strip(value)
        }
        Value::Mapping(map) => {
            Some(Value::Mapping(map.into_iter().filter_map(|(k, v)| Some((k, strip(v)?))).collect()))
        }
        Value::Sequence(items) => Some(Value::Sequence(items.into_iter().filter_map(strip).collect())),
        scalar => Some(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn merged(base: &str, over: &str) -> Value {
        let mut result = merge(Value::Mapping(Mapping::new()), yaml(base), &mut Vec::new());
        result = merge(result, yaml(over), &mut Vec::new());
        result
    }

    fn prepared(text: &str) -> Result<Value> {
        let source = SourceFile { path: "/p/compose.yaml".into(), text: text.into() };
        let mut document = yaml(text);
        prepare(&mut document, 0, &source, Path::new("/p"), Some("/home/u"))?;
        Ok(document)
    }

    fn error_of(text: &str) -> String {
        prepared(text).err().map(|e| e.cause).unwrap_or_default()
    }

    #[test]
    fn mappings_merge_scalars_replace_sequences_append_nulls_keep() {
        let result = merged(
            "services:\n  api:\n    image: a\n    build: {context: /c, target: dev}\n    profiles: [x]\n",
            "services:\n  api:\n    image: b\n    build: {target: prod}\n    profiles: [y]\n    container_name:\n",
        );
        let api = &result["services"]["api"];
        assert_eq!(api["image"], Value::from("b"));
        assert_eq!(api["build"], yaml("{context: /c, target: prod}"));
        assert_eq!(api["profiles"], yaml("[x, y]"));
        // A null in a later file keeps nothing it could replace, and adds the key empty.
        assert_eq!(api["container_name"], Value::Null);
        let result = merged("services:\n  api:\n    image: a\n", "services:\n  api:\n    image:\n");
        assert_eq!(result["services"]["api"]["image"], Value::from("a"));
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let result = merged(
            "services:\n  api:\n    image: a\n    profiles: [x]\n    build: {context: /c, target: dev}\n",
            "services:\n  api:\n    image: !reset null\n    profiles: !override [y]\n    build: !override {context: /d}\n",
        );
        let api = &result["services"]["api"];
        assert_eq!(api.get("image"), None);
        assert_eq!(api["profiles"], yaml("[y]"));
        assert_eq!(api["build"], yaml("{context: /d}"));
        // In a single file the tags only go away.
        let result = merged("services:\n  api:\n    image: !reset a\n    profiles: !override [z]\n", "{}");
        assert_eq!(result["services"]["api"], yaml("{profiles: [z]}"));
    }

    #[test]
    fn build_args_restated_without_a_value_lose_the_earlier_value() {
        let result = merged(
            "services:\n  api:\n    build:\n      args: {A: '1', B: '2'}\n",
            "services:\n  api:\n    build:\n      args: {A: null, C: '3'}\n",
        );
        assert_eq!(result["services"]["api"]["build"]["args"], yaml("{A: null, B: '2', C: '3'}"));
    }

    #[test]
    fn a_service_keeps_its_first_origin_and_its_build_the_last() {
        let base = format!("services:\n  api:\n    {ORIGIN:?}: '0:2:api'\n    build: {{{ORIGIN:?}: '0:3:api'}}\n");
        let over = format!("services:\n  api:\n    {ORIGIN:?}: '1:5:api'\n    build: {{{ORIGIN:?}: '1:6:api'}}\n");
        let result = merged(&base, &over);
        let api = result["services"]["api"].as_mapping().cloned().unwrap_or_default();
        assert_eq!(origin_of(&api), Some((0, 2, "api".into())));
        let build = api.get("build").and_then(Value::as_mapping).cloned().unwrap_or_default();
        assert_eq!(origin_of(&build), Some((1, 6, "api".into())));
    }

    #[test]
    fn build_strings_args_lists_and_ssh_maps_take_one_shape() {
        let document = prepared(
            "services:\n  api:\n    build: ./api\n  web:\n    build:\n      context: web\n      args:\n        - A=1=2\n        - \
             B\n      ssh:\n        default:\n        key: ./id_rsa\n",
        );
        let document = document.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(document["services"]["api"]["build"]["context"], Value::from("/p/api"));
        let web = &document["services"]["web"]["build"];
        assert_eq!(web["context"], Value::from("/p/web"));
        assert_eq!(web["args"]["A"], Value::from("1=2"));
        assert_eq!(web["args"]["B"], Value::Null);
        assert_eq!(web["ssh"], yaml("[default, key=/p/id_rsa]"));
    }

    #[test]
    fn paths_resolve_against_the_base_and_home_but_remote_contexts_stay() {
        let document = prepared(
            "services:\n  a:\n    build: https://github.com/x/y.git#main\n  b:\n    build: git@github.com:x/y\n  c:\n    \
             build: ~/src\n    extends: {file: base.yml, service: x}\n    develop:\n      watch:\n        - path: \
             /abs\n          action: sync\n        - path: src\n          action: rebuild\nsecrets:\n  s:\n    file: \
             ./s.txt\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let services = &document["services"];
        assert_eq!(services["a"]["build"]["context"], Value::from("https://github.com/x/y.git#main"));
        assert_eq!(services["b"]["build"]["context"], Value::from("git@github.com:x/y"));
        assert_eq!(services["c"]["build"]["context"], Value::from("/home/u/src"));
        assert_eq!(services["c"]["extends"]["file"], Value::from("/p/base.yml"));
        assert_eq!(services["c"]["develop"]["watch"][0]["path"], Value::from("/abs"));
        assert_eq!(services["c"]["develop"]["watch"][1]["path"], Value::from("/p/src"));
        assert_eq!(document["secrets"]["s"]["file"], Value::from("/p/s.txt"));
    }

    #[test]
    fn services_builds_and_rules_are_marked_with_their_lines() {
        let document = prepared(
            "services:\n  api:\n    image: x\n    build: .\n    develop:\n      watch:\n        - path: a\n          \
             action: sync\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let api = document["services"]["api"].as_mapping().cloned().unwrap_or_default();
        assert_eq!(origin_of(&api), Some((0, 2, "api".into())));
        let build = api.get("build").and_then(Value::as_mapping).cloned().unwrap_or_default();
        assert_eq!(origin_of(&build), Some((0, 4, "api".into())));
        let rule = document["services"]["api"]["develop"]["watch"][0].as_mapping().cloned().unwrap_or_default();
        assert_eq!(origin_of(&rule), Some((0, 7, "api".into())));
    }

    #[test]
    fn wrong_shapes_are_errors_at_their_line() {
        assert_eq!(
            error_of("- a\n- b\n"),
            "/p/compose.yaml:1: the top level of a compose file must be a mapping (`services:`, `secrets:`, …)"
        );
        assert_eq!(
            error_of("name: x\nservices:\n  - api\n"),
            "/p/compose.yaml:2: `services` must be a mapping of service names to their settings"
        );
        assert_eq!(
            error_of("services:\n  web:\n    image: x\n  api: nginx\n"),
            "/p/compose.yaml:4: the service `api` must be a mapping of its settings"
        );
        assert_eq!(
            error_of("services:\n  api:\n    image: x\n    build: [a]\n"),
            "/p/compose.yaml:4: `build` of the service `api` must be a path (the build context) or a mapping"
        );
    }
}
