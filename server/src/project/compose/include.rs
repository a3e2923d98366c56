//! The top-level `include:` (compose v2.20+, compose-go's `ApplyInclude`): each entry is a
//! compose project of its own — its files (the first one names its folder), its project
//! directory (where its relative paths resolve), its .env — loaded as the main files are
//! (interpolation, `extends`, its own `include`s), whose services and secrets then join the
//! including file's. The including file defining one of them differently is an error, as in
//! compose. Compose v1 has no `include` (it refuses the key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::locate::{self, Seg};
use super::merge::{self, absolute, untagged, untagged_mut, ORIGIN};
use super::{compose_error, files, key_string, parse_yaml, scalar_string, SourceFile};
use crate::error::Result;

/// What loading a project reads and carries along.
pub(super) struct Loader<'a> {
    pub home: Option<&'a str>,
    /// Every file read, by id (a service's origin names its file's id).
    pub sources: Vec<SourceFile>,
    /// The files read for `include`s (and their .env files): a change to one reloads the project.
    pub included: Vec<PathBuf>,
    /// The main files of the includes being loaded, outermost first (to find a cycle).
    chain: Vec<PathBuf>,
}

/// One entry of `include:`.
struct Entry {
    /// Absolute; the first is the included project's main file.
    paths: Vec<PathBuf>,
    project_directory: PathBuf,
    env_files: Vec<PathBuf>,
}

impl<'a> Loader<'a> {
    pub(super) fn new(home: Option<&'a str>, sources: Vec<SourceFile>) -> Loader<'a> {
        let chain = sources.first().map(|s| vec![s.path.clone()]).unwrap_or_default();
        Loader { home, sources, included: Vec::new(), chain }
    }

    /// The model of the documents of `files` (ids into `sources`), merged in order: each
    /// interpolated with `env`, its relative paths resolved against `base`, its `extends`
    /// and `include`s applied.
    pub(super) fn model(
        &mut self,
        files: Vec<(usize, Vec<Value>)>,
        base: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Value> {
        let mut merged = Value::Mapping(Mapping::new());
        let mut extender = super::extends::Extender::new(env, self.home);
        for (id, documents) in files {
            for mut document in documents {
                if document.is_null() {
                    continue;
                }
                super::interpolate::interpolate_tree(&mut document, env, &self.sources[id])?;
                merge::prepare(&mut document, id, &self.sources[id], base, self.home)?;
                extender.apply(&mut document, id, &mut self.sources)?;
                self.apply(&mut document, id, base, env)?;
                merged = merge::merge(merged, document, &mut Vec::new());
            }
        }
        Ok(merged)
    }

    /// Replaces the `include:` of a document of `sources[id]` by what it includes.
    fn apply(&mut self, document: &mut Value, id: usize, base: &Path, env: &BTreeMap<String, String>) -> Result<()> {
        let Value::Mapping(top) = untagged_mut(document) else { return Ok(()) };
        let Some(list) = top.remove("include") else { return Ok(()) };
        let source = &self.sources[id];
        let line = locate::line_of(&source.text, &[Seg::key("include")]);
        let entries = entries(untagged(&list), source, line, base, self.home)?;
        let including = source.path.clone();
        let at = |what: String, fix: &str| compose_error(&including, line, what, fix.to_string());
        for entry in entries {
            let main = entry.paths[0].clone();
            if self.chain.contains(&main) {
                let chain: Vec<String> = self.chain.iter().chain([&main]).map(|p| p.display().to_string()).collect();
                return Err(at(
                    format!("include cycle: {}", chain.join(" includes ")),
                    "remove the `include` that leads back to a file already including it",
                ));
            }
            let mut included_env = env.clone();
            let mut dotenv = files::DotEnv::default();
            for file in &entry.env_files {
                dotenv.read(file, env)?;
            }
            // The including project's variables win over the included one's .env.
            for (key, value) in dotenv.vars {
                included_env.entry(key).or_insert(value);
            }
            self.included.extend(dotenv.files);
            let mut documents = Vec::new();
            for path in &entry.paths {
                if !path.is_file() {
                    return Err(at(
                        format!("the included compose file {} does not exist", path.display()),
                        "correct the path under `include:` (relative paths are the including project's)",
                    ));
                }
                let source = SourceFile::read(path)?;
                let parsed = parse_yaml(&source)?;
                self.sources.push(source);
                self.included.push(path.clone());
                documents.push((self.sources.len() - 1, parsed));
            }
            self.chain.push(main);
            let model = self.model(documents, &entry.project_directory, &included_env);
            self.chain.pop();
            let model = model?;
            let Value::Mapping(top) = untagged_mut(document) else { return Ok(()) };
            for key in ["services", "secrets"] {
                import(top, &model, key).map_err(|name| {
                    at(
                        format!("`{key}.{name}` conflicts with the one included from {}", entry.paths[0].display()),
                        "rename one of them, or change the included one with an override file listed in the include's `path`",
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// The entries of `include:`: a path, or `path` (one or a list), `project_directory`,
/// `env_file` (one or a list), relative to `base`.
fn entries(list: &Value, source: &SourceFile, line: usize, base: &Path, home: Option<&str>) -> Result<Vec<Entry>> {
    let bad = |what: &str| {
        compose_error(
            &source.path,
            line,
            format!("`include` {what}"),
            "write `include:` as a list of compose files, or of `path:` (with `project_directory:`, `env_file:`)",
        )
    };
    let Value::Sequence(items) = list else { return Err(bad("must be a list")) };
    let strings = |value: Option<&Value>| -> Option<Vec<String>> {
        match value.map(untagged) {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Sequence(items)) => items.iter().map(|i| scalar_string(untagged(i))).collect(),
            Some(other) => scalar_string(other).map(|s| vec![s]),
        }
    };
    let mut entries = Vec::new();
    for item in items {
        let (paths, directory, env_files) =
            match untagged(item) {
                Value::Mapping(entry) => {
                    if let Some(unknown) = entry.keys().map(key_string).find(|k| {
                        !["path", "project_directory", "env_file"].contains(&k.as_str()) && !k.starts_with("x-")
                    }) {
                        return Err(bad(&format!(
                            "entries take `path`, `project_directory` and `env_file`, not `{unknown}`"
                        )));
                    }
                    let paths =
                        strings(entry.get("path")).ok_or_else(|| bad("`path` must be a file or a list of files"))?;
                    let directory = entry.get("project_directory").map(untagged).and_then(scalar_string);
                    let env_files = strings(entry.get("env_file"))
                        .ok_or_else(|| bad("`env_file` must be a file or a list of files"))?;
                    (paths, directory, env_files)
                }
                other => match scalar_string(other) {
                    Some(path) => (vec![path], None, Vec::new()),
                    None => return Err(bad("entries must be a path or a mapping with `path`")),
                },
            };
        let paths: Vec<PathBuf> = paths.iter().map(|p| PathBuf::from(absolute(p, base, home))).collect();
        let Some(main) = paths.first() else { return Err(bad("entries need a `path`")) };
        if paths.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(bad("paths must not be empty"));
        }
        let project_directory = match directory {
            Some(dir) => PathBuf::from(absolute(&dir, base, home)),
            None => main.parent().map(Path::to_path_buf).unwrap_or_else(|| base.to_path_buf()),
        };
        let env_files = if env_files.is_empty() {
            vec![project_directory.join(".env")]
        } else {
            let files: Vec<PathBuf> = env_files.iter().map(|f| PathBuf::from(absolute(f, base, home))).collect();
            if let Some(missing) = files.iter().find(|f| !f.is_file()) {
                return Err(bad(&format!("names the env_file {}, which is not a file", missing.display())));
            }
            files
        };
        entries.push(Entry { paths, project_directory, env_files });
    }
    Ok(entries)
}

/// Adds `model`'s `key` entries to `top`'s; `Err(name)` when `top` has one of them already,
/// defined otherwise (compose lets an identical definition through).
fn import(top: &mut Mapping, model: &Value, key: &str) -> std::result::Result<(), String> {
    let Some(Value::Mapping(from)) = model.get(key).map(untagged) else { return Ok(()) };
    let to = top.entry(Value::from(key)).or_insert_with(|| Value::Mapping(Mapping::new()));
    if to.is_null() {
        *to = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(to) = untagged_mut(to) else { return Err(key.to_string()) };
    for (name, value) in from {
        match to.get(name) {
            Some(existing) if without_origins(existing) == without_origins(value) => {}
            Some(_) => return Err(key_string(name)),
            None => {
                to.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(())
}

/// `value` without the marks of where its parts are (two files' identical definitions differ
/// only there).
fn without_origins(value: &Value) -> Value {
    match untagged(value) {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .filter(|(k, _)| k.as_str() != Some(ORIGIN))
                .map(|(k, v)| (k.clone(), without_origins(v)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.iter().map(without_origins).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{canonical, context, error_in, folder, load_with, loaded};
    use super::super::BuildContext;

    #[test]
    fn an_included_project_resolves_against_its_own_folder_and_env_file() {
        let dir = folder(&[
            ("compose.yaml", "include:\n  - sub/compose.yaml\n  - path: [other/base.yaml, other/more.yaml]\n    env_file: other.env\nservices:\n  web:\n    image: web\n"),
            ("sub/compose.yaml", "services:\n  api:\n    build: ./src\n    image: \"api:${TAG}-${SHELL_WINS}\"\n"),
            ("sub/.env", "TAG=sub\nSHELL_WINS=sub\n"),
            ("sub/src/Dockerfile", "FROM scratch\n"),
            ("other/base.yaml", "services:\n  worker:\n    build: .\n    image: \"w:${OTHER}\"\n"),
            ("other/more.yaml", "services:\n  worker:\n    build:\n      target: dev\n"),
            ("other.env", "OTHER=from-env-file\n"),
        ]);
        let root = canonical(dir.path());
        let workspace = loaded(dir.path(), &[("SHELL_WINS", "shell")]);
        let names: Vec<&str> = workspace.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "api", "worker"]);
        let api = workspace.service("api").expect("api");
        assert_eq!(api.image.as_deref(), Some("api:sub-shell"));
        assert_eq!(context(&workspace, "api"), BuildContext::Local(root.join("sub/src")));
        assert_eq!((api.file.clone(), api.line), (root.join("sub/compose.yaml"), 2));
        let worker = workspace.service("worker").expect("worker");
        assert_eq!(worker.image.as_deref(), Some("w:from-env-file"));
        let other = BuildContext::Local(root.join("other"));
        assert_eq!(context(&workspace, "worker"), other, "the first file's folder is the project directory");
        assert_eq!(worker.build.as_ref().and_then(|b| b.target.as_deref()), Some("dev"), "the include's files merge");
        assert_eq!(workspace.files, [root.join("compose.yaml")], "compose is given only the main files");
        let mut included = workspace.included.clone();
        included.sort();
        let mut expected = ["sub/compose.yaml", "sub/.env", "other/base.yaml", "other/more.yaml", "other.env"]
            .map(|f| root.join(f))
            .to_vec();
        expected.sort();
        assert_eq!(included, expected);
    }

    #[test]
    fn a_project_directory_moves_where_the_included_paths_resolve() {
        let dir = folder(&[
            ("compose.yaml", "include:\n  - path: deploy/compose.yaml\n    project_directory: .\n"),
            ("deploy/compose.yaml", "services:\n  api:\n    build: ./api\n"),
        ]);
        let workspace = loaded(dir.path(), &[]);
        assert_eq!(context(&workspace, "api"), BuildContext::Local(canonical(dir.path()).join("api")));
    }

    #[test]
    fn conflicts_cycles_and_missing_files_are_errors_at_the_include() {
        let conflict = folder(&[
            ("compose.yaml", "services:\n  api:\n    image: a\ninclude:\n  - sub.yaml\n"),
            ("sub.yaml", "services:\n  api:\n    image: b\n"),
        ]);
        let (cause, line) = error_in(conflict.path(), load_with(conflict.path(), &[]));
        assert_eq!(cause, "ROOT/compose.yaml:4: `services.api` conflicts with the one included from ROOT/sub.yaml");
        assert_eq!(line, Some(4));

        let same = folder(&[
            ("compose.yaml", "services:\n  api:\n    image: a\ninclude:\n  - sub.yaml\n"),
            ("sub.yaml", "services:\n  api:\n    image: a\n"),
        ]);
        assert_eq!(loaded(same.path(), &[]).services.len(), 1, "an identical definition is no conflict");

        let cycle = folder(&[
            ("compose.yaml", "include: [a.yaml]\nservices: {}\n"),
            ("a.yaml", "include: [b.yaml]\n"),
            ("b.yaml", "include: [a.yaml]\n"),
        ]);
        let (cause, _) = error_in(cycle.path(), load_with(cycle.path(), &[]));
        assert_eq!(
            cause,
            "ROOT/b.yaml:1: include cycle: ROOT/compose.yaml includes ROOT/a.yaml includes ROOT/b.yaml includes ROOT/a.yaml"
        );

        let missing = folder(&[("compose.yaml", "services: {}\ninclude:\n  - nope/compose.yaml\n")]);
        let (cause, line) = error_in(missing.path(), load_with(missing.path(), &[]));
        assert_eq!(cause, "ROOT/compose.yaml:2: the included compose file ROOT/nope/compose.yaml does not exist");
        assert_eq!(line, Some(2));

        let bad = folder(&[("compose.yaml", "services: {}\ninclude:\n  - pth: x.yaml\n")]);
        let (cause, _) = error_in(bad.path(), load_with(bad.path(), &[]));
        assert_eq!(
            cause,
            "ROOT/compose.yaml:2: `include` entries take `path`, `project_directory` and `env_file`, not `pth`"
        );
    }
}
