//! What a change to one context file does, in words: which builder it is synced to and what
//! runs there, whether the image's stage replays it, or why it needs a full build. For
//! `status --change`, so a user can check the map before trusting it.

use super::{Plan, SyncRule, ELSEWHERE};
use crate::project::dockerignore::DockerIgnore;
use crate::project::glob::{glob_segment_matches, has_glob};

/// Whether the rule copies the context path `rel` (a file, or a folder's contents).
pub fn rule_reads(rule: &SyncRule, rel: &str) -> bool {
    rule.sources.iter().any(|source| {
        if source.is_empty() || source == rel || rel.starts_with(&format!("{source}/")) {
            return true;
        }
        if !has_glob(source) {
            return false;
        }
        let pattern: Vec<&str> = source.split('/').collect();
        let path: Vec<&str> = rel.split('/').collect();
        path.len() >= pattern.len() && pattern.iter().zip(&path).all(|(p, n)| glob_segment_matches(p, n))
    })
}

impl Plan {
    /// One line per way the image reads `rel` (context-relative); empty: it does not.
    pub fn effects_of(&self, rel: &str, ignore: &DockerIgnore) -> Vec<String> {
        if ignore.is_excluded(rel) {
            return vec![".dockerignore excludes it: no build sees it".to_string()];
        }
        let mut lines = Vec::new();
        let several = self.builders.len() > 1 || self.assembly.is_some();
        for builder in &self.builders {
            let whose = if several {
                format!("the builder of stage {}", builder.stage.label())
            } else {
                "the builder".to_string()
            };
            for rule in builder.sync.iter().filter(|r| rule_reads(r, rel)) {
                let line =
                    if rule.line > 0 { format!("Dockerfile line {}", rule.line) } else { "rebuilder.toml".to_string() };
                if rule.dest.starts_with(ELSEWHERE) {
                    let why = rule.why.clone().unwrap_or_default();
                    lines.push(format!("full docker build ({line}): {why}"));
                } else if rule.needs_full_build {
                    lines.push(format!(
                        "full docker build ({line}): it is copied before a RUN that a sync cannot replay ({})",
                        rule.dest
                    ));
                } else {
                    let steps: Vec<&str> = builder.steps.iter().map(|s| s.display.as_str()).collect();
                    let then = if self.assembly.is_some() {
                        ", then the image's stage is replayed"
                    } else {
                        ", then committed"
                    };
                    let runs = if steps.is_empty() {
                        "nothing runs".to_string()
                    } else {
                        format!("`{}` runs", steps.join("`, `"))
                    };
                    lines.push(format!("synced to {whose} under {} ({line}); {runs}{then}", rule.dest));
                }
            }
        }
        if let Some(assembly) = &self.assembly {
            for rule in assembly.sync.iter().filter(|r| rule_reads(r, rel)) {
                lines.push(format!(
                    "copied into the image by the replay of stage {} (Dockerfile line {}) to {}",
                    assembly.stage.label(),
                    rule.line,
                    rule.dest
                ));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sources: &[&str]) -> SyncRule {
        SyncRule {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: "/src".into(),
            dest_is_dir: true,
            chown: None,
            chmod: None,
            excludes: Vec::new(),
            includes: Vec::new(),
            parents: false,
            line: 3,
            needs_full_build: false,
            why: None,
        }
    }

    #[test]
    fn a_rule_reads_its_files_folders_and_pattern_matches() {
        assert!(rule_reads(&rule(&[""]), "cmd/main.go"));
        assert!(rule_reads(&rule(&["cmd"]), "cmd/main.go"));
        assert!(!rule_reads(&rule(&["cmd"]), "cmdx/main.go"));
        assert!(rule_reads(&rule(&["*.go"]), "main.go"));
        assert!(rule_reads(&rule(&["src/*"]), "src/a/b.c"));
        assert!(!rule_reads(&rule(&["src/*.c"]), "lib/a.c"));
    }
}
