//! `rebuilder.toml`: the optional project configuration. Everything in it overrides what
//! is inferred from the Dockerfile; nothing in it is required.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostics::{ColumnUnit, CustomMatcher, Severity};
use crate::error::{Error, ErrorKind, Result};

pub const CONFIG_FILE: &str = "rebuilder.toml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Image name (`name` or `name:tag`); default: the project folder's name, tag `latest`.
    pub image: Option<String>,
    /// Dockerfile path, relative to the project folder.
    pub dockerfile: Option<PathBuf>,
    /// Build context, relative to the project folder.
    pub context: Option<PathBuf>,
    /// Stage to build and rebuild (`docker build --target`).
    pub target: Option<String>,
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// Rebuild command(s), run with the Dockerfile's SHELL; replaces the inferred RUN steps.
    pub rebuild: Option<RebuildCommand>,
    /// Working directory of the rebuild command inside the container.
    pub workdir: Option<String>,
    /// Explicit sync rules; replace the ones inferred from COPY/ADD.
    #[serde(default)]
    pub sync: Vec<SyncEntry>,
    /// Extra .dockerignore-style patterns never synced.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// More names the image gets, as `docker build -t` given again: each new image takes them
    /// over from the one before.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Commit the builder to the image after a clean build (default true).
    pub commit: Option<bool>,
    /// Push every image a cycle makes to this reference (`REGISTRY/NAME[:TAG]`), with the
    /// credentials docker would use.
    pub push: Option<String>,
    /// Stop the rebuild command after this many seconds.
    pub timeout_secs: Option<u64>,
    /// Custom problem matchers: a regex with named groups, like VS Code's.
    #[serde(default, rename = "matcher")]
    pub matchers: Vec<MatcherEntry>,
    /// `[stage.NAME]`: `rebuild`, `workdir` and `[[stage.NAME.sync]]` for the builder of one
    /// stage of a multi-stage Dockerfile (the top-level keys apply when there is one builder).
    #[serde(default, rename = "stage")]
    pub stages: BTreeMap<String, StageConfig>,
    /// Which of the engine's builders makes full builds: `auto` (BuildKit when the engine has
    /// it, as `docker build` does), `buildkit` or `classic`.
    pub builder: Option<BuilderChoice>,
    /// `[secrets]`: what `RUN --mount=type=secret,id=ID` reads, as `docker build --secret`
    /// takes it: `ID = "path/relative/to/project"`, `ID = { file = "path" }` or
    /// `ID = { env = "VAR" }`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretEntry>,
    /// Labels the image gets, as `docker build --label` gives them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The network the build's RUN steps use (`docker build --network`): `default`, `host`,
    /// `none` or, with the classic builder, a network's name. The builder runs on it too, so
    /// a rebuild reaches what the full build reached.
    pub network: Option<String>,
    /// The platform the image is built for (`docker build --platform`, `os/arch[/variant]`);
    /// default: `DOCKER_DEFAULT_PLATFORM`, else the engine's own.
    pub platform: Option<String>,
    /// `HOST:IP` (or `HOST=IP`) lines the build's RUN steps, and the builder, have in
    /// /etc/hosts (`docker build --add-host`); IP may be `host-gateway`.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// Context paths whose change needs a full build, and why (a compose service's
    /// `develop.watch` `rebuild` rules; not a rebuilder.toml key).
    #[serde(skip)]
    pub full_build_paths: Vec<FullBuildPath>,
}

/// A context path (file or folder) whose change needs a full build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullBuildPath {
    /// Relative to the build context.
    pub src: String,
    /// The reason a full build gives, naming the rule.
    pub why: String,
}

/// `builder = "..."` in rebuilder.toml.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BuilderChoice {
    Auto,
    Buildkit,
    Classic,
}

/// One `[secrets]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SecretEntry {
    /// A file, relative to the project folder.
    Path(String),
    File {
        file: String,
    },
    Env {
        env: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub rebuild: Option<RebuildCommand>,
    pub workdir: Option<String>,
    #[serde(default)]
    pub sync: Vec<SyncEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatcherEntry {
    /// Named groups: `file`, `line`, `message`; optional `column`, `end_line`, `end_column`,
    /// `severity`, `code`.
    pub regex: String,
    /// error (default), warning, info or hint, when the regex has no `severity` group.
    pub severity: Option<String>,
    /// How the tool counts columns: bytes (default), chars, utf16, display.
    pub columns: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RebuildCommand {
    One(String),
    Many(Vec<String>),
}

impl RebuildCommand {
    pub fn commands(&self) -> Vec<String> {
        match self {
            RebuildCommand::One(c) => vec![c.clone()],
            RebuildCommand::Many(cs) => cs.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncEntry {
    /// Host path relative to the build context (a file or a folder).
    pub src: String,
    /// Container path; relative paths are against the rebuild's working directory.
    pub dest: String,
    /// .dockerignore-style patterns, below `src`, that are not synced.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When given, only files matching one of these patterns (below `src`) are synced.
    #[serde(default)]
    pub include: Vec<String>,
}

impl Config {
    /// Reads `rebuilder.toml` from `project_dir`; a missing file is the empty config.
    pub fn load(project_dir: &Path) -> Result<Config> {
        let path = project_dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
    }

    /// Parses the text of a config file; errors name the file, line and key.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            let message = e.message().trim().to_string();
            Error::new(
                ErrorKind::Config,
                format!("{}:{line}: {message}", path.display()),
                format!(
                    "correct line {line} of {}; valid keys: image, dockerfile, context, target, \
                     build_args, rebuild, workdir, [[sync]] src/dest/exclude/include, ignore, tags, commit, push, timeout_secs, \
                     [[matcher]] regex/severity/columns, [stage.NAME] rebuild/workdir/[[stage.NAME.sync]], \
                     builder (auto, buildkit, classic), [secrets] ID = \"path\" or {{ env = \"VAR\" }}, \
                     labels, network, extra_hosts, platform",
                    path.display()
                ),
            )
            .at(path, line)
        })?;
        let mut config = config;
        // An error at the line of `key`.
        let at_key = |key: &str, cause: String, fix: &str| {
            let line = key_line(text, key);
            Error::new(ErrorKind::Config, format!("{}:{line}: {cause}", path.display()), fix).at(path, line)
        };
        for entry in config.extra_hosts.iter_mut() {
            *entry = extra_host(entry).ok_or_else(|| {
                at_key(
                    "extra_hosts",
                    format!("`extra_hosts` entry {entry:?} is not `HOST:IP`"),
                    "write each entry as `HOST:IP` (an IPv4 or IPv6 address, or `host-gateway`)",
                )
            })?;
        }
        if let Some(problem) = config.tags.iter().find_map(|t| crate::project::plan::reference_problem(t)) {
            return Err(at_key(
                "tags",
                format!("`tags`: {problem}"),
                "write each tag as docker names images: `name`, `name:tag` or `registry/name:tag`, lowercase",
            ));
        }
        if let Some(platform) = config.platform.as_deref().filter(|p| !is_platform(p)) {
            return Err(at_key(
                "platform",
                format!("`platform` {platform:?} is not `os/arch[/variant]`"),
                "write it as docker build's --platform takes it, e.g. \"linux/amd64\" or \"linux/arm64/v8\"",
            ));
        }
        if config.timeout_secs == Some(0) {
            return Err(at_key(
                "timeout_secs",
                "`timeout_secs` must be at least 1".to_string(),
                "remove the key for no timeout, or give a number of seconds",
            ));
        }
        Ok(config)
    }
}

impl Config {
    /// The line of `[stage.NAME]` (or the first mention of the stage), for errors.
    pub fn stage_line(text: &str, name: &str) -> usize {
        let header = |l: &str| {
            let l = l.trim().trim_start_matches("[[").trim_start_matches('[');
            l.strip_prefix("stage.").is_some_and(|rest| rest.trim_matches(['"', '\'']).starts_with(name))
        };
        text.lines().position(header).map_or(1, |i| i + 1)
    }

    /// The `[[matcher]]` entries, compiled; errors name the entry.
    pub fn custom_matchers(&self, project_dir: &Path) -> Result<Vec<CustomMatcher>> {
        let path = project_dir.join(CONFIG_FILE);
        let invalid = |i: usize, what: String| {
            Error::new(
                ErrorKind::Config,
                format!("{}: [[matcher]] #{}: {what}", path.display(), i + 1),
                "correct the matcher in rebuilder.toml",
            )
            .at(&path, 1)
        };
        self.matchers
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let severity = match m.severity.as_deref().unwrap_or("error") {
                    "error" => Severity::Error,
                    "warning" => Severity::Warning,
                    "info" => Severity::Info,
                    "hint" => Severity::Hint,
                    other => {
                        return Err(invalid(i, format!("unknown severity `{other}` (error, warning, info, hint)")))
                    }
                };
                let unit = match m.columns.as_deref().unwrap_or("bytes") {
                    "bytes" => ColumnUnit::Bytes,
                    "chars" => ColumnUnit::Chars,
                    "utf16" => ColumnUnit::Utf16,
                    "display" => ColumnUnit::DisplayTab8,
                    other => {
                        return Err(invalid(i, format!("unknown column unit `{other}` (bytes, chars, utf16, display)")))
                    }
                };
                CustomMatcher::new(&m.regex, severity, unit).map_err(|e| invalid(i, e))
            })
            .collect()
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// `os/arch[/variant]`, each part lowercase letters, digits, `_` or `-` (as docker's
/// `--platform` names one; `linux/amd64`, `linux/arm/v7`).
pub fn is_platform(platform: &str) -> bool {
    let parts: Vec<&str> = platform.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        })
}

/// An extra host as the engine takes it (`HOST:IP`), from `HOST:IP`, `HOST=IP` or
/// `HOST:[IPv6]` (as docker's `--add-host` and compose's `extra_hosts` accept them); None when
/// it is not one.
pub fn extra_host(entry: &str) -> Option<String> {
    let (host, ip) = match entry.split_once('=') {
        Some(split) => split,
        None => entry.split_once(':')?,
    };
    let (host, ip) = (host.trim(), ip.trim());
    let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    let valid = ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok();
    (valid && !host.is_empty() && !host.contains(char::is_whitespace)).then(|| format!("{host}:{ip}"))
}

/// The line of `key`'s value, as the TOML parser saw it: a text search is fooled by a quoted
/// key (`"timeout_secs" = 0`) or by a multi-line string holding the word.
fn key_line(text: &str, key: &str) -> usize {
    toml::from_str::<BTreeMap<String, toml::Spanned<toml::Value>>>(text)
        .ok()
        .and_then(|keys| keys.get(key).map(|value| line_of(text, value.span().start)))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/p/rebuilder.toml"))
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let c = parse(
            r#"
image = "demo:dev"
dockerfile = "docker/Dockerfile"
context = "."
target = "build"
build_args = { VERSION = "1" }
rebuild = ["make", "make test"]
workdir = "/src"
ignore = ["*.log"]
commit = false
timeout_secs = 60
builder = "classic"
[secrets]
token = "secrets/token.txt"
npm = { env = "NPM_TOKEN" }
aws = { file = "aws.txt" }
[[sync]]
src = "src"
dest = "/src/src"
"#,
        )
        .expect("valid");
        assert_eq!(c.image.as_deref(), Some("demo:dev"));
        assert_eq!(c.rebuild.map(|r| r.commands()), Some(vec!["make".into(), "make test".into()]));
        assert_eq!(
            c.sync,
            vec![SyncEntry { src: "src".into(), dest: "/src/src".into(), exclude: Vec::new(), include: Vec::new() }]
        );
        assert_eq!(c.commit, Some(false));
        assert_eq!(c.builder, Some(BuilderChoice::Classic));
        assert_eq!(c.secrets["token"], SecretEntry::Path("secrets/token.txt".into()));
        assert_eq!(c.secrets["npm"], SecretEntry::Env { env: "NPM_TOKEN".into() });
        assert_eq!(c.secrets["aws"], SecretEntry::File { file: "aws.txt".into() });
    }

    #[test]
    fn build_labels_network_and_extra_hosts_are_read_as_docker_build_takes_them() {
        let c = parse(
            "labels = { \"org.example.team\" = \"shop\" }\nnetwork = \"host\"\n\
             extra_hosts = [\"db:10.0.0.2\", \"gw=host-gateway\", \"v6:[::1]\", \"v6b:fe80::1\"]\n",
        )
        .expect("valid");
        assert_eq!(c.labels["org.example.team"], "shop");
        assert_eq!(c.network.as_deref(), Some("host"));
        assert_eq!(c.extra_hosts, ["db:10.0.0.2", "gw:host-gateway", "v6:::1", "v6b:fe80::1"]);
        let err = parse("image = \"x\"\nextra_hosts = [\"db:10.0.0.2\", \"nohost\"]\n").expect_err("bad host");
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 2)), "{}", err.cause);
        assert!(err.cause.contains("nohost"), "{}", err.cause);
        assert!(parse("extra_hosts = [\"db:not-an-ip\"]\n").is_err());
    }

    #[test]
    fn tags_are_image_names_and_a_bad_one_names_its_line() {
        let c = parse("tags = [\"shop/api:dev\", \"reg.example:5000/api\"]\n").expect("valid");
        assert_eq!(c.tags, ["shop/api:dev", "reg.example:5000/api"]);
        let err = parse("image = \"x\"\ntags = [\"ok\", \"Not Ok\"]\n").expect_err("bad tag");
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 2)), "{}", err.cause);
        assert!(err.cause.contains("`Not Ok`"), "{}", err.cause);
        assert!(parse("tags = [\"api@sha256:00\"]\n").expect_err("a digest").cause.contains("digest"));
    }

    #[test]
    fn the_platform_is_os_slash_arch_and_a_bad_one_names_its_line() {
        assert_eq!(parse("platform = \"linux/arm/v7\"\n").expect("valid").platform.as_deref(), Some("linux/arm/v7"));
        let err = parse("image = \"x\"\nplatform = \"arm64\"\n").expect_err("no os");
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 2)), "{}", err.cause);
        for bad in ["linux/", "Linux/amd64", "linux/arm/v7/x", "linux amd64"] {
            assert!(!is_platform(bad), "{bad}");
        }
    }

    #[test]
    fn an_unknown_builder_or_secret_form_names_its_line() {
        let err = parse("image = \"x\"\nbuilder = \"kaniko\"\n").expect_err("unknown builder");
        assert!(err.cause.contains(":2:"), "{}", err.cause);
        let err = parse("[secrets]\ntok = { path = \"x\" }\n").expect_err("unknown secret form");
        assert!(err.cause.contains(":2:"), "{}", err.cause);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("image = \"x\"\n\nimgae_name = \"y\"\n").expect_err("unknown key");
        assert!(err.cause.starts_with("/p/rebuilder.toml:3:"), "{}", err.cause);
        assert!(err.cause.contains("imgae_name"), "{}", err.cause);
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 3)));
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let err = parse("image = \"x\"\ncommit = \"yes\"\n").expect_err("wrong type");
        assert!(err.cause.starts_with("/p/rebuilder.toml:2:"), "{}", err.cause);
        assert!(err.to_string().contains("commit") || err.cause.contains("bool"), "{err}");
    }

    #[test]
    fn unknown_key_in_a_sync_table_is_an_error() {
        let err = parse("[[sync]]\nsrc = \"a\"\ndest = \"/a\"\nmode = 1\n").expect_err("bad");
        assert!(err.cause.contains(":4:"), "{}", err.cause);
        assert!(err.cause.contains("mode"), "{}", err.cause);
    }

    #[test]
    fn zero_timeout_is_refused() {
        let err = parse("timeout_secs = 0\n").expect_err("zero");
        assert!(err.cause.contains(":1:"), "{}", err.cause);
    }

    #[test]
    fn zero_timeout_is_reported_on_its_own_line_however_the_key_is_written() {
        // Found by the config fuzz target's invariant: the line was found by a text search for a
        // line starting with `timeout_secs`, so a quoted key was reported on line 1.
        let err = parse("image = \"x\"\n\"timeout_secs\" = 0\n").expect_err("zero");
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 2)), "{}", err.cause);
        let err = parse("rebuild = \"\"\"\ntimeout_secs is not this\"\"\"\ntimeout_secs = 0\n").expect_err("zero");
        assert_eq!(err.location, Some((PathBuf::from("/p/rebuilder.toml"), 3)), "{}", err.cause);
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").expect("empty"), Config::default());
    }
}
