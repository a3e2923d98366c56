//! `extends`: a service built on another one, of the same file (`extends: base`) or of
//! another (`extends: {service: base, file: common.yml}`), as compose-go applies it: per
//! file, before the files merge; the base's own `extends` first; the base merged under the
//! extending service by the same rules as files; the other file interpolated and its
//! relative paths resolved against its own folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::locate::{self, service_path};
use super::merge::{self, untagged, untagged_mut, ORIGIN};
use super::{compose_error, interpolate, key_string, parse_yaml, scalar_string, SourceFile};
use crate::error::{Error, Result};

pub(super) struct Extender<'a> {
    env: &'a BTreeMap<String, String>,
    home: Option<&'a str>,
    /// The files read for `extends.file`, by canonical path: their id and services.
    loaded: HashMap<PathBuf, (usize, Mapping)>,
}

impl<'a> Extender<'a> {
    pub(super) fn new(env: &'a BTreeMap<String, String>, home: Option<&'a str>) -> Extender<'a> {
        Extender { env, home, loaded: HashMap::new() }
    }

    /// Applies `extends` to the services of a prepared document of `sources[file]`; the
    /// files it reads join `sources`.
    pub(super) fn apply(&mut self, document: &mut Value, file: usize, sources: &mut Vec<SourceFile>) -> Result<()> {
        let Some(Value::Mapping(services)) = document.get_mut("services").map(untagged_mut) else { return Ok(()) };
        let written = services.clone();
        for (key, service) in services.iter_mut() {
            if untagged(service).get("extends").is_some() {
                *service = self.resolve(&key_string(key), &written, file, &mut Vec::new(), sources)?;
            }
        }
        Ok(())
    }

    /// The service `name` of `services` (of `sources[file]`) with its `extends` applied;
    /// `chain` holds the services being resolved, to find a cycle.
    fn resolve(
        &mut self,
        name: &str,
        services: &Mapping,
        file: usize,
        chain: &mut Vec<(usize, String)>,
        sources: &mut Vec<SourceFile>,
    ) -> Result<Value> {
        let Some(Value::Mapping(mut service)) = services.get(name).map(untagged).cloned() else {
            return Ok(services.get(name).cloned().unwrap_or(Value::Null));
        };
        let Some(extends) = service.shift_remove("extends") else { return Ok(Value::Mapping(service)) };
        let error = |sources: &[SourceFile], below: &[&str], cause: String, fix: &str| -> Error {
            let source = &sources[file];
            let line = locate::line_of(&source.text, &service_path(name, &[&["extends"], below].concat()));
            compose_error(&source.path, line, cause, fix)
        };
        let (target, target_file) = match untagged(&extends) {
            Value::Mapping(extends) => match extends.get("service").and_then(scalar_string) {
                Some(target) => (target, extends.get("file").and_then(scalar_string)),
                None => {
                    return Err(error(
                        sources,
                        &[],
                        format!("`extends` of the service `{name}` names no `service`"),
                        "write `extends: {service: NAME}`, with `file: FILE` when NAME is in another file",
                    ))
                }
            },
            other => match scalar_string(other) {
                Some(target) => (target, None),
                None => {
                    return Err(error(
                        sources,
                        &[],
                        format!("`extends` of the service `{name}` must be a service's name or a mapping"),
                        "write `extends: NAME`, or `extends: {service: NAME, file: FILE}`",
                    ))
                }
            },
        };
        chain.push((file, name.to_string()));
        let (base_file, base_services) = match &target_file {
            Some(path) => self.load(path, file, name, sources)?,
            None => (file, services.clone()),
        };
        if !base_services.contains_key(target.as_str()) {
            let path = sources[base_file].path.display().to_string();
            return Err(error(
                sources,
                if target_file.is_some() { &["service"] } else { &[] },
                format!("the service `{name}` extends `{target}`, which {path} does not define"),
                &format!("name a service defined in {path}"),
            ));
        }
        if let Some(start) = chain.iter().position(|link| *link == (base_file, target.clone())) {
            let names: Vec<&str> = chain[start..].iter().map(|(_, n)| n.as_str()).chain([target.as_str()]).collect();
            return Err(error(
                sources,
                &[],
                format!("the service `{name}` closes an `extends` cycle: {}", names.join(" → ")),
                "break the cycle: a service cannot extend, directly or not, itself",
            ));
        }
        let base = self.resolve(&target, &base_services, base_file, chain, sources)?;
        chain.pop();
        let origin = service.get(ORIGIN).cloned();
        let mut merged = merge::merge(base, Value::Mapping(service), &mut vec!["services".into(), name.into()]);
        // The service is where it is written, not where its base is.
        if let (Value::Mapping(merged), Some(origin)) = (&mut merged, origin) {
            merged.insert(Value::from(ORIGIN), origin);
        }
        Ok(merged)
    }

    /// The file `extends.file` names (absolute once prepared), read once: its id in
    /// `sources` and its services.
    fn load(&mut self, path: &str, from: usize, name: &str, sources: &mut Vec<SourceFile>) -> Result<(usize, Mapping)> {
        let source = &sources[from];
        let line = locate::line_of(&source.text, &service_path(name, &["extends", "file"]));
        let folder = source.path.parent().unwrap_or(Path::new("/"));
        let canonical = folder.join(path).canonicalize().map_err(|e| {
            compose_error(
                &source.path,
                line,
                format!("cannot read {path}, the `extends.file` of the service `{name}`: {e}"),
                "correct `extends.file` (a relative path starts from the folder of the file that names it; for the \
                 files compose is given, the project directory)",
            )
        })?;
        if let Some((id, services)) = self.loaded.get(&canonical) {
            return Ok((*id, services.clone()));
        }
        let extended = SourceFile::read(&canonical)?;
        let documents = parse_yaml(&extended)?;
        let id = sources.len();
        sources.push(extended);
        let base = canonical.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut merged = Value::Mapping(Mapping::new());
        for mut document in documents.into_iter().filter(|d| !d.is_null()) {
            interpolate::interpolate_tree(&mut document, self.env, &sources[id])?;
            merge::prepare(&mut document, id, &sources[id], &base, self.home)?;
            merged = merge::merge(merged, document, &mut Vec::new());
        }
        let Some(Value::Mapping(services)) = merged.get("services") else {
            let source = &sources[from];
            return Err(compose_error(
                &source.path,
                line,
                format!("{} has no `services:`, so the service `{name}` cannot extend one of it", canonical.display()),
                "name a file that defines the service in `extends.file`",
            ));
        };
        self.loaded.insert(canonical, (id, services.clone()));
        Ok((id, services.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Project {
        dir: tempfile::TempDir,
    }

    impl Project {
        fn new(files: &[(&str, &str)]) -> Project {
            Project { dir: crate::project::compose::tests::folder(files) }
        }

        fn root(&self) -> PathBuf {
            self.dir.path().canonicalize().unwrap_or_default()
        }

        /// compose.yaml's services with `extends` applied, and the files read.
        fn extended(&self) -> Result<(Value, Vec<SourceFile>)> {
            let root = self.root();
            let mut sources = vec![SourceFile::read(&root.join("compose.yaml"))?];
            let mut document = parse_yaml(&sources[0])?.remove(0);
            let env = BTreeMap::from([("TAG".to_string(), "v2".to_string())]);
            interpolate::interpolate_tree(&mut document, &env, &sources[0])?;
            merge::prepare(&mut document, 0, &sources[0], &root, None)?;
            Extender::new(&env, None).apply(&mut document, 0, &mut sources)?;
            Ok((document["services"].clone(), sources))
        }

        fn error(&self) -> String {
            let root = self.root().display().to_string();
            self.extended().err().map(|e| e.cause.replace(&root, "ROOT")).unwrap_or_default()
        }
    }

    #[test]
    fn a_service_extends_one_of_the_same_file() {
        let project = Project::new(&[(
            "compose.yaml",
            "services:\n  base:\n    image: app\n    build:\n      context: .\n      target: dev\n    profiles: [a]\n  \
             api:\n    extends: base\n    build:\n      target: prod\n    profiles: [b]\n",
        )]);
        let (services, _) = project.extended().unwrap_or_else(|e| panic!("{e}"));
        let api = &services["api"];
        assert_eq!(api["image"], Value::from("app"));
        assert_eq!(api["build"]["target"], Value::from("prod"));
        assert_eq!(api["build"]["context"], Value::from(project.root().display().to_string()));
        assert_eq!(api["profiles"], serde_norway::from_str::<Value>("[a, b]").unwrap_or_default());
        assert_eq!(api.get("extends"), None);
        let origin = api.as_mapping().and_then(merge::origin_of);
        assert_eq!(origin, Some((0, 8, "api".into())));
    }

    #[test]
    fn a_base_in_another_file_keeps_its_paths_relative_to_its_folder() {
        let project = Project::new(&[
            (
                "compose.yaml",
                "services:\n  api:\n    extends:\n      file: common/base.yml\n      service: server\n    image: \
                 app\n",
            ),
            ("common/base.yml", "services:\n  server:\n    build:\n      context: ./server\n      target: ${TAG}\n"),
        ]);
        let (services, sources) = project.extended().unwrap_or_else(|e| panic!("{e}"));
        let build = &services["api"]["build"];
        assert_eq!(build["context"], Value::from(project.root().join("common/server").display().to_string()));
        assert_eq!(build["target"], Value::from("v2"));
        // The build is where the base file writes it.
        let origin = build.as_mapping().and_then(merge::origin_of);
        assert_eq!(origin, Some((1, 3, "server".into())));
        assert_eq!(sources[1].path, project.root().join("common/base.yml"));
    }

    #[test]
    fn extends_chain_across_files() {
        let project = Project::new(&[
            ("compose.yaml", "services:\n  api:\n    extends: {file: a/one.yml, service: one}\n"),
            ("a/one.yml", "services:\n  one:\n    extends: {file: ../b/two.yml, service: two}\n    image: one\n"),
            ("b/two.yml", "services:\n  two:\n    build: ctx\n    image: two\n    container_name: c\n"),
        ]);
        let (services, _) = project.extended().unwrap_or_else(|e| panic!("{e}"));
        let api = &services["api"];
        assert_eq!(api["image"], Value::from("one"));
        assert_eq!(api["container_name"], Value::from("c"));
        assert_eq!(api["build"]["context"], Value::from(project.root().join("b/ctx").display().to_string()));
    }

    #[test]
    fn a_cycle_is_an_error_at_the_extends_that_closes_it() {
        let project = Project::new(&[(
            "compose.yaml",
            "services:\n  a:\n    extends: b\n  b:\n    image: x\n    extends:\n      service: a\n",
        )]);
        assert_eq!(project.error(), "ROOT/compose.yaml:6: the service `b` closes an `extends` cycle: a → b → a");
        let project = Project::new(&[("compose.yaml", "services:\n  a:\n    extends: a\n")]);
        assert_eq!(project.error(), "ROOT/compose.yaml:3: the service `a` closes an `extends` cycle: a → a");
    }

    #[test]
    fn an_unknown_base_or_file_is_an_error_at_its_line() {
        let project = Project::new(&[("compose.yaml", "services:\n  api:\n    image: x\n    extends: nothing\n")]);
        assert_eq!(
            project.error(),
            "ROOT/compose.yaml:4: the service `api` extends `nothing`, which ROOT/compose.yaml does not define"
        );
        let project = Project::new(&[
            ("compose.yaml", "services:\n  api:\n    extends:\n      file: base.yml\n      service: nothing\n"),
            ("base.yml", "services:\n  other:\n    image: x\n"),
        ]);
        assert_eq!(
            project.error(),
            "ROOT/compose.yaml:5: the service `api` extends `nothing`, which ROOT/base.yml does not define"
        );
        let project = Project::new(&[(
            "compose.yaml",
            "services:\n  api:\n    extends:\n      file: gone.yml\n      service: x\n",
        )]);
        let error = project.error();
        assert!(
            error
                .starts_with("ROOT/compose.yaml:4: cannot read ROOT/gone.yml, the `extends.file` of the service `api`"),
            "{error}"
        );
        let project = Project::new(&[("compose.yaml", "services:\n  api:\n    extends:\n      file: x.yml\n")]);
        assert_eq!(project.error(), "ROOT/compose.yaml:3: `extends` of the service `api` names no `service`");
    }
}
