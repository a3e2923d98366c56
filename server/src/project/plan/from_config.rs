//! The parts of the plan that `rebuilder.toml` gives rather than the Dockerfile: its `[[sync]]`
//! rules, its `full_build` paths, its extra `tags`, and the check that its `[stage.NAME]` tables
//! and top-level keys fit the builders the Dockerfile has.

use std::path::Path;

use super::{clean_container_path, clean_relative, graph, join_container, with_tag, SyncRule, ELSEWHERE};
use crate::error::{Error, ErrorKind, Result};
use crate::project::config::{Config, FullBuildPath, SyncEntry};
use crate::project::glob::has_glob;

/// `[stage.NAME]` tables name stages that have a builder; with several builders, the
/// top-level `rebuild`, `workdir` and `[[sync]]` would be ambiguous.
pub(super) fn check_stage_config(project_dir: &Path, config: &Config, walked: &graph::Graph) -> Result<()> {
    let path = project_dir.join(crate::project::config::CONFIG_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let with_builder: Vec<String> = walked.builders.iter().filter_map(|(s, _)| s.name.clone()).collect();
    let listed = if with_builder.is_empty() {
        "none (no builder stage has a name)".to_string()
    } else {
        with_builder.join(", ")
    };
    for name in config.stages.keys() {
        if with_builder.contains(name) {
            continue;
        }
        let line = Config::stage_line(&text, name);
        let known = walked.stages.iter().find(|s| s.stage.name.as_deref() == Some(name.as_str()));
        let cause = match known {
            Some(_) => format!(
                "{}:{line}: stage `{name}` has no builder (it compiles nothing the image needs incrementally)",
                path.display()
            ),
            None => format!("{}:{line}: the image needs no stage named `{name}`", path.display()),
        };
        return Err(Error::new(
            ErrorKind::Config,
            cause,
            format!("name a stage with a builder in `[stage.NAME]`: {listed}"),
        )
        .at(&path, line));
    }
    if walked.builders.len() > 1 {
        let top = [
            ("rebuild", config.rebuild.is_some()),
            ("workdir", config.workdir.is_some()),
            ("[[sync]]", !config.sync.is_empty()),
        ];
        if let Some((key, _)) = top.iter().find(|(_, set)| *set) {
            let bare = key.trim_matches(['[', ']']);
            let line = text
                .lines()
                .position(|l| l.trim_start().trim_start_matches('[').starts_with(bare))
                .map_or(1, |i| i + 1);
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}:{line}: `{key}` is ambiguous: the image has {} builders ({listed})",
                    path.display(),
                    walked.builders.len()
                ),
                format!(
                    "move it under the stage it is for, e.g. `[stage.{}]`",
                    with_builder.first().map_or("NAME", |n| n.as_str())
                ),
            )
            .at(&path, line));
        }
    }
    Ok(())
}

pub(super) fn config_sync_rules(entries: &[SyncEntry], workdir: &str) -> Result<Vec<SyncRule>> {
    entries
        .iter()
        .map(|entry| {
            let src = clean_relative(&entry.src);
            if src.starts_with("..") || Path::new(&entry.src).is_absolute() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("rebuilder.toml: sync src `{}` is outside the build context", entry.src),
                    "give `src` relative to the build context, inside it",
                ));
            }
            let dest = clean_container_path(&join_container(workdir, &entry.dest));
            if dest == "/" {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("rebuilder.toml: sync dest `{}` would mirror over the container's root", entry.dest),
                    "give `dest` a folder of its own, e.g. /app/src",
                ));
            }
            Ok(SyncRule {
                sources: vec![src],
                dest,
                dest_is_dir: entry.dest.ends_with('/'),
                chown: None,
                chmod: None,
                excludes: entry.exclude.clone(),
                includes: entry.include.clone(),
                parents: false,
                line: 0,
                needs_full_build: false,
                why: None,
            })
        })
        .collect()
}

/// The Dockerfile line of a configured rule that puts its files where a COPY of the
/// Dockerfile puts them (develop.watch's `path: api/`, `target: /app/api` beside `COPY api/
/// ./api/`): a change under it reruns the steps after that COPY, as a docker build would, not
/// every step (the dependency install before it). 0 (every step, the order unknown) when no
/// COPY reads its source, or when one would put its files elsewhere.
pub(super) fn dockerfile_line(rule: &SyncRule, dockerfile: &[SyncRule], context: &Path) -> usize {
    let [source] = rule.sources.as_slice() else { return 0 };
    if has_glob(source) {
        return 0;
    }
    let is_dir = context.join(source).is_dir();
    // Where a copy of folder or file `from` to `dest` puts the source.
    let place = |from: &str, dest: &str, dest_is_dir: bool| -> Option<String> {
        let below = if from.is_empty() {
            source.as_str()
        } else if from == source {
            ""
        } else {
            source.strip_prefix(from)?.strip_prefix('/')?
        };
        Some(match (below.is_empty(), is_dir || !dest_is_dir) {
            (false, _) => format!("{}/{below}", dest.trim_end_matches('/')),
            (true, true) => dest.to_string(),
            (true, false) => format!("{}/{}", dest.trim_end_matches('/'), source.rsplit('/').next().unwrap_or(source)),
        })
    };
    let Some(ours) = place(source, &rule.dest, rule.dest_is_dir) else { return 0 };
    dockerfile
        .iter()
        .filter(|d| d.line > 0 && !d.needs_full_build && !d.parents && d.excludes.is_empty())
        .filter(|d| {
            d.sources.iter().any(|from| !has_glob(from) && place(from, &d.dest, d.dest_is_dir) == Some(ours.clone()))
        })
        .map(|d| d.line)
        .min()
        .unwrap_or(0)
}

/// Rules that watch `paths` for the first builder: a change under one needs a full build.
pub(super) fn full_build_rules(paths: &[FullBuildPath]) -> Vec<SyncRule> {
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| SyncRule {
            sources: vec![clean_relative(&path.src)],
            dest: format!("{ELSEWHERE}/full-build-{i}"),
            dest_is_dir: true,
            chown: None,
            chmod: None,
            excludes: Vec::new(),
            includes: Vec::new(),
            parents: false,
            line: 0,
            needs_full_build: true,
            why: Some(path.why.clone()),
        })
        .collect()
}

/// `tags` with their tags, once each, without `image`.
pub(super) fn extra_tags(tags: &[String], image: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags.iter().map(|t| with_tag(t)) {
        if tag != image && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_tags_are_tagged_once_each_and_never_the_image() {
        let tags = ["a", "a:latest", "img", "b:dev"].map(String::from);
        assert_eq!(extra_tags(&tags, "img:latest"), ["a:latest", "b:dev"]);
    }
}
