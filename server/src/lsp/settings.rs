//! The editor's settings for a workspace folder, pulled with `workspace/configuration`
//! (section `dockerRebuilder.compose`, scoped to the folder): the compose flags a user passes
//! to `docker compose` on the command line, so the editor resolves the project as they run it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::project::compose::ComposeOptions;

/// The section asked for, per workspace folder.
pub const COMPOSE_SECTION: &str = "dockerRebuilder.compose";

/// `dockerRebuilder.compose`: compose's `-f`, `--profile`, `-p`, `--env-file` and
/// `--project-directory`. Relative paths are relative to the workspace folder; an empty value
/// means compose's default, as no flag does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeSettings {
    pub files: Vec<String>,
    pub profiles: Vec<String>,
    pub project_name: Option<String>,
    pub env_files: Vec<String>,
    pub project_directory: Option<String>,
}

impl ComposeSettings {
    /// The client's answer for one folder: null (nothing set) is the defaults; anything that
    /// is not the object described above is an error naming the setting and what it holds.
    pub fn parse(value: &Value) -> Result<ComposeSettings, String> {
        if value.is_null() {
            return Ok(ComposeSettings::default());
        }
        let Some(object) = value.as_object() else {
            return Err(format!("the setting {COMPOSE_SECTION} must be an object (files, profiles, projectName, envFiles, projectDirectory), not {value}"));
        };
        // Blank entries are dropped: an editor's list setting often keeps an empty row.
        let list = |key: &str| -> Result<Vec<String>, String> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()),
                Some(other) => {
                    Err(format!("the setting {COMPOSE_SECTION}.{key} must be a list of strings, not {other}"))
                }
            }
        };
        let one = |key: &str| -> Result<Option<String>, String> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
                Some(other) => Err(format!("the setting {COMPOSE_SECTION}.{key} must be a string, not {other}")),
            }
        };
        Ok(ComposeSettings {
            files: list("files")?,
            profiles: list("profiles")?,
            project_name: one("projectName")?,
            env_files: list("envFiles")?,
            project_directory: one("projectDirectory")?,
        })
    }

    /// Whether they say where the compose files are (files, or a project directory to look in),
    /// which makes the folder a compose folder even without a compose file of a default name.
    pub fn names_files(&self) -> bool {
        !self.files.is_empty() || self.project_directory.is_some()
    }

    /// The options compose would run with in `folder` given these flags.
    pub fn options(&self, folder: &Path) -> ComposeOptions {
        let path = |p: &String| -> PathBuf { folder.join(p) };
        ComposeOptions {
            dir: folder.to_path_buf(),
            files: self.files.iter().map(path).collect(),
            project_name: self.project_name.clone(),
            profiles: self.profiles.clone(),
            env: std::env::vars().collect(),
            env_files: self.env_files.iter().map(path).collect(),
            project_directory: self.project_directory.as_ref().map(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_the_defaults_and_blank_entries_are_dropped() {
        assert_eq!(ComposeSettings::parse(&Value::Null), Ok(ComposeSettings::default()));
        let parsed = ComposeSettings::parse(&json!({"files": ["a.yml", " ", ""], "projectName": "  ", "other": 1}));
        assert_eq!(parsed, Ok(ComposeSettings { files: vec!["a.yml".into()], ..Default::default() }));
    }

    #[test]
    fn a_wrong_type_names_the_setting_and_the_field() {
        let e = ComposeSettings::parse(&json!({"files": "compose.dev.yml"})).expect_err("a string is not a list");
        assert!(e.contains("dockerRebuilder.compose.files must be a list") && e.contains("compose.dev.yml"), "{e}");
        let e = ComposeSettings::parse(&json!({"projectName": 3})).expect_err("a number is not a name");
        assert!(e.contains("dockerRebuilder.compose.projectName must be a string"), "{e}");
        let e = ComposeSettings::parse(&json!(["a.yml"])).expect_err("a list is not the object");
        assert!(e.contains("dockerRebuilder.compose"), "{e}");
    }

    #[test]
    fn relative_paths_are_the_folders_and_absolute_ones_stay() {
        let settings = ComposeSettings::parse(&json!({
            "files": ["compose.yml", "/etc/compose.override.yml"],
            "envFiles": ["dev.env"],
            "projectDirectory": "deploy",
            "projectName": "shop",
            "profiles": ["debug"],
        }))
        .expect("valid");
        let options = settings.options(Path::new("/ws"));
        assert_eq!(options.files, [PathBuf::from("/ws/compose.yml"), PathBuf::from("/etc/compose.override.yml")]);
        assert_eq!(options.env_files, [PathBuf::from("/ws/dev.env")]);
        assert_eq!(options.project_directory, Some(PathBuf::from("/ws/deploy")));
        assert_eq!((options.project_name.as_deref(), options.profiles), (Some("shop"), vec!["debug".to_string()]));
        assert!(settings.names_files());
    }
}
