//! What compose decides before reading a service: which files, the .env files, the
//! project's name, the active profiles; and how names are normalised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use super::{compose_error, dotenv, interpolate, scalar_string, ComposeOptions, NameSource, SourceFile, COMPOSE_FILES};
use crate::error::{Error, ErrorKind, Result};

/// The override files compose adds to a default compose file: the first found, whichever
/// the compose file is (compose-go's `DefaultOverrideFileNames`, in its order).
pub const OVERRIDE_FILES: [&str; 4] =
    ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml"];

/// The variables of the .env files read, the first file's value winning (compose reads the
/// running folder's, then the project directory's, and keeps what is already set).
#[derive(Debug, Default)]
pub(super) struct DotEnv {
    pub vars: BTreeMap<String, String>,
    pub files: Vec<PathBuf>,
}

impl DotEnv {
    /// Reads `path` if it is a file not read yet.
    pub(super) fn read(&mut self, path: &Path, shell: &BTreeMap<String, String>) -> Result<()> {
        if !path.is_file() || self.files.iter().any(|f| f == path) {
            return Ok(());
        }
        for (key, value) in self.parse(path, shell)? {
            self.vars.entry(key).or_insert(value);
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    /// Reads the `--env-file`s, in order, a later file's value winning (compose-go's
    /// `GetEnvFromFile`); one that is not there is an error, as in compose.
    pub(super) fn read_given(&mut self, paths: &[PathBuf], shell: &BTreeMap<String, String>) -> Result<()> {
        for path in paths {
            if !path.is_file() {
                return Err(Error::new(
                    ErrorKind::Compose,
                    format!("couldn't find the env file {}", path.display()),
                    "give `--env-file` an existing file (relative paths are the current folder's)",
                ));
            }
            // A file's `${VAR}` sees the shell, then the files before it.
            let mut lookup = shell.clone();
            for (key, value) in &self.vars {
                lookup.entry(key.clone()).or_insert_with(|| value.clone());
            }
            let vars = self.parse(path, &lookup)?;
            self.vars.extend(vars);
            self.files.push(path.to_path_buf());
        }
        Ok(())
    }

    fn parse(&self, path: &Path, shell: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        let source = SourceFile::read(path)?;
        let vars = dotenv::parse(&source.text, shell).map_err(|e| {
            compose_error(
                path,
                e.line,
                e.message,
                "correct the line (compose reads .env the same way: `KEY=value`; single quotes are literal, double \
                 quotes take `\\n` escapes and `${VAR}`)",
            )
        })?;
        Ok(vars.into_iter().collect())
    }
}

/// Whether a COMPOSE_* switch is on (Go's `strconv.ParseBool`, which compose uses).
pub(super) fn truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "t" | "true")
}

/// The compose files, absolute and canonical, in the order compose merges them.
pub(super) fn compose_files(
    options: &ComposeOptions,
    dir: &Path,
    search: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PathBuf>> {
    let from_variable = || {
        let list = lookup("COMPOSE_FILE")?;
        let default_separator = if cfg!(windows) { ";" } else { ":" };
        let separator = lookup("COMPOSE_PATH_SEPARATOR").filter(|s| !s.is_empty());
        let separator = separator.as_deref().unwrap_or(default_separator);
        let files: Vec<PathBuf> = list.split(separator).filter(|p| !p.is_empty()).map(PathBuf::from).collect();
        Some(files).filter(|f| !f.is_empty())
    };
    let (given, origin) = if !options.files.is_empty() {
        (options.files.clone(), "given with -f")
    } else if let Some(files) = from_variable() {
        (files, "named in COMPOSE_FILE")
    } else {
        return default_files(search);
    };
    given
        .iter()
        .map(|file| {
            if file.as_os_str() == "-" {
                return Err(Error::new(
                    ErrorKind::Compose,
                    "a compose file read from standard input (`-f -`) cannot be watched",
                    "save the compose file and give its path with -f",
                ));
            }
            let path = dir.join(file);
            path.canonicalize().map_err(|e| {
                Error::new(
                    ErrorKind::Compose,
                    format!("{}: cannot open the compose file {origin}: {e}", path.display()),
                    "correct the path (relative paths start from the folder docker-rebuilder runs in)",
                )
            })
        })
        .collect()
}

/// The first of COMPOSE_FILES in `dir`, and the first of OVERRIDE_FILES there.
fn default_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let first = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let Some(main) = first(&COMPOSE_FILES) else {
        return Err(Error::new(
            ErrorKind::Compose,
            format!("no compose file in {} (looked for {})", dir.display(), COMPOSE_FILES.join(", ")),
            "run in the folder of the compose file, or name it with -f",
        ));
    };
    Ok([Some(main), first(&OVERRIDE_FILES)].into_iter().flatten().collect())
}

/// The top-level `name:` of the files, interpolated: the last file's that sets one.
pub(super) fn name_key(
    documents: &[Vec<Value>],
    sources: &[SourceFile],
    env: &BTreeMap<String, String>,
) -> Result<Option<String>> {
    let mut found = None;
    for (id, file_documents) in documents.iter().enumerate() {
        for document in file_documents {
            if let Some(name) = document.get("name").and_then(scalar_string).filter(|n| !n.is_empty()) {
                found = Some((id, name));
            }
        }
    }
    let Some((id, raw)) = found else { return Ok(None) };
    let mut holder = Value::Mapping([(Value::from("name"), Value::from(raw))].into_iter().collect());
    interpolate::interpolate_tree(&mut holder, env, &sources[id])?;
    Ok(holder.get("name").and_then(scalar_string).filter(|n| !n.is_empty()))
}

/// The project's name before normalisation, and where it came from.
pub(super) fn project_name(
    flag: Option<&str>,
    shell: &BTreeMap<String, String>,
    dotenv: &BTreeMap<String, String>,
    name_key: Option<String>,
    dir: &Path,
) -> (String, NameSource) {
    let variable =
        |vars: &BTreeMap<String, String>| vars.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()).cloned();
    if let Some(name) = flag.filter(|n| !n.is_empty()) {
        return (name.to_string(), NameSource::Flag);
    }
    if let Some(name) = variable(shell) {
        return (name, NameSource::Env);
    }
    if let Some(name) = variable(dotenv) {
        return (name, NameSource::EnvFile);
    }
    if let Some(name) = name_key {
        return (name, NameSource::NameKey);
    }
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (folder, NameSource::Folder)
}

/// The active profiles: the flags, else COMPOSE_PROFILES (environment, then .env).
pub(super) fn active_profiles(
    flags: &[String],
    shell: &BTreeMap<String, String>,
    dotenv: &BTreeMap<String, String>,
) -> Vec<String> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    let variable = shell.get("COMPOSE_PROFILES").or_else(|| dotenv.get("COMPOSE_PROFILES"));
    variable
        .map(|v| v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Compose v1's `normalize_name`: lowercase, without characters outside `[-_a-z0-9]`.
pub(super) fn normalize_v1(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect()
}

/// compose-go's `NormalizeProjectName`: v1's, then without leading `-` and `_`.
pub(super) fn normalize_v2(name: &str) -> String {
    normalize_v1(name).trim_start_matches(['-', '_']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn folder(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("temp dir: {e}"));
        for file in files {
            let path = dir.path().join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(path, "services: {}\n").unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    }

    fn names(files: Result<Vec<PathBuf>>, dir: &Path) -> Vec<String> {
        let dir = dir.canonicalize().unwrap_or_default();
        match files {
            Ok(files) => files.iter().map(|f| f.strip_prefix(&dir).unwrap_or(f).display().to_string()).collect(),
            Err(e) => vec![format!("error: {}", e.cause)],
        }
    }

    fn chosen(dir: &Path, given: &[&str], env: &[(&str, &str)]) -> Vec<String> {
        let options = ComposeOptions { files: given.iter().map(PathBuf::from).collect(), ..Default::default() };
        let env = vars(env);
        names(compose_files(&options, dir, dir, &|k| env.get(k).cloned()), dir)
    }

    #[test]
    fn the_default_file_is_the_first_found_with_the_first_override() {
        let dir = folder(&["docker-compose.yml", "compose.yml", "docker-compose.override.yml"]);
        assert_eq!(chosen(dir.path(), &[], &[]), ["compose.yml", "docker-compose.override.yml"]);
        let dir = folder(&["docker-compose.yaml", "compose.override.yaml", "docker-compose.override.yaml"]);
        assert_eq!(chosen(dir.path(), &[], &[]), ["docker-compose.yaml", "compose.override.yaml"]);
        let dir = folder(&["compose.yaml"]);
        assert_eq!(chosen(dir.path(), &[], &[]), ["compose.yaml"]);
    }

    #[test]
    fn no_compose_file_is_an_error_naming_the_names_looked_for() {
        let dir = folder(&["compose.override.yml"]);
        let got = chosen(dir.path(), &[], &[]);
        assert!(got[0].starts_with("error: no compose file in ") && got[0].contains("compose.yaml, compose.yml"));
    }

    #[test]
    fn files_given_with_f_replace_the_defaults_and_must_exist() {
        let dir = folder(&["compose.yaml", "compose.override.yml", "a.yml", "sub/b.yml"]);
        assert_eq!(chosen(dir.path(), &["a.yml", "sub/b.yml"], &[("COMPOSE_FILE", "x.yml")]), ["a.yml", "sub/b.yml"]);
        let got = chosen(dir.path(), &["a.yml", "missing.yml"], &[]);
        assert!(got[0].contains("missing.yml: cannot open the compose file given with -f"), "{got:?}");
        assert!(chosen(dir.path(), &["-"], &[])[0].contains("standard input"));
    }

    #[test]
    fn compose_file_splits_on_the_path_separator() {
        let dir = folder(&["compose.yaml", "a.yml", "sub/b.yml"]);
        assert_eq!(chosen(dir.path(), &[], &[("COMPOSE_FILE", "a.yml:sub/b.yml")]), ["a.yml", "sub/b.yml"]);
        let env = [("COMPOSE_FILE", "a.yml;sub/b.yml"), ("COMPOSE_PATH_SEPARATOR", ";")];
        assert_eq!(chosen(dir.path(), &[], &env), ["a.yml", "sub/b.yml"]);
        // Nothing named: the default file.
        assert_eq!(chosen(dir.path(), &[], &[("COMPOSE_FILE", "::")]), ["compose.yaml"]);
        let got = chosen(dir.path(), &[], &[("COMPOSE_FILE", "a.yml:nope.yml")]);
        assert!(got[0].contains("nope.yml: cannot open the compose file named in COMPOSE_FILE"), "{got:?}");
    }

    #[test]
    fn the_project_name_comes_from_the_first_source_that_gives_one() {
        let dir = Path::new("/work/My.App_2");
        let (shell, file) = (vars(&[("COMPOSE_PROJECT_NAME", "shell")]), vars(&[("COMPOSE_PROJECT_NAME", "dotenv")]));
        let none = BTreeMap::new();
        let key = || Some("key".to_string());
        assert_eq!(project_name(Some("flag"), &shell, &file, key(), dir), ("flag".into(), NameSource::Flag));
        assert_eq!(project_name(None, &shell, &file, key(), dir), ("shell".into(), NameSource::Env));
        assert_eq!(project_name(None, &none, &file, key(), dir), ("dotenv".into(), NameSource::EnvFile));
        assert_eq!(project_name(None, &none, &none, key(), dir), ("key".into(), NameSource::NameKey));
        assert_eq!(project_name(Some(""), &none, &none, None, dir), ("My.App_2".into(), NameSource::Folder));
    }

    #[test]
    fn names_normalise_as_each_compose_version_does() {
        assert_eq!(normalize_v1("My.App_2"), "myapp_2");
        assert_eq!(normalize_v2("My.App_2"), "myapp_2");
        assert_eq!(normalize_v1("_x"), "_x");
        assert_eq!(normalize_v2("_x"), "x");
        assert_eq!(normalize_v2("-_My Project-"), "myproject-");
        assert_eq!(normalize_v1("Émile"), "mile");
    }

    #[test]
    fn profiles_come_from_the_flags_else_the_variable() {
        let shell = vars(&[("COMPOSE_PROFILES", "a, b,,")]);
        let file = vars(&[("COMPOSE_PROFILES", "c")]);
        let none = BTreeMap::new();
        assert_eq!(active_profiles(&["x".into()], &shell, &file), ["x"]);
        assert_eq!(active_profiles(&[], &shell, &file), ["a", "b"]);
        assert_eq!(active_profiles(&[], &none, &file), ["c"]);
        assert!(active_profiles(&[], &none, &none).is_empty());
    }

    #[test]
    fn switches_read_as_go_reads_booleans() {
        assert!(truthy("1") && truthy("TRUE") && truthy(" t "));
        assert!(!truthy("0") && !truthy("no") && !truthy(""));
    }
}
