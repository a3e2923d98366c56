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
    /// The first of the rebuild steps that a change to the context files `changed` must run
    /// (an index into `steps`; `steps.len()`: none): as docker's layer cache would, every RUN
    /// from the first COPY that reads a changed file on, so a file copied after the last RUN
    /// (the sources after `COPY requirements.txt` / `RUN pip install`) runs none. All of them
    /// when the order is not known: a file whose path is unknown (None), a step that is not a
    /// Dockerfile line, or a rule that is not one (rebuilder.toml's, develop.watch's) and puts
    /// its files where no COPY of the Dockerfile does (one that does has that COPY's line:
    /// `from_config::dockerfile_line`).
    pub fn first_step_for(&self, changed: &[Option<String>]) -> usize {
        if self.steps.iter().any(|s| s.line == 0) {
            return 0;
        }
        let mut first_line = usize::MAX;
        for rel in changed {
            let Some(rel) = rel else { return 0 };
            let reading = self.sync.iter().filter(|r| !r.dest.starts_with(ELSEWHERE) && rule_reads(r, rel));
            match reading.map(|r| r.line).min() {
                None | Some(0) => return 0,
                Some(line) => first_line = first_line.min(line),
            }
        }
        // A RUN's bind mount is a rule at the RUN's own line.
        self.steps.iter().position(|s| s.line >= first_line).unwrap_or(self.steps.len())
    }

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
            let rules: Vec<&SyncRule> = builder.sync.iter().filter(|r| rule_reads(r, rel)).collect();
            // A copy a sync cannot take decides: the change is a full build, whatever the
            // other copies of the file would run.
            let full: Vec<String> = rules
                .iter()
                .filter(|r| r.dest.starts_with(ELSEWHERE) || r.needs_full_build)
                .map(|rule| {
                    let why = if rule.dest.starts_with(ELSEWHERE) {
                        rule.why.clone().unwrap_or_default()
                    } else {
                        format!("it is copied before a RUN that a sync cannot replay ({})", rule.dest)
                    };
                    format!("full docker build ({}): {why}", places(&[rule]))
                })
                .collect();
            if !full.is_empty() {
                lines.extend(full);
                continue;
            }
            let Some(first) = rules.iter().min_by_key(|r| r.line) else { continue };
            // The steps from the first copy of it on, as the cycle runs them (`first_step_for`;
            // all when a rule or a step is not a Dockerfile line).
            let unordered = rules.iter().any(|r| r.line == 0) || builder.steps.iter().any(|s| s.line == 0);
            let steps: Vec<&str> = builder
                .steps
                .iter()
                .filter(|s| unordered || s.line >= first.line)
                .map(|s| s.display.as_str())
                .collect();
            let then =
                if self.assembly.is_some() { ", then the image's stage is replayed" } else { ", then committed" };
            let runs =
                if steps.is_empty() { "nothing runs".to_string() } else { format!("`{}` runs", steps.join("`, `")) };
            let mut dests: Vec<&str> = rules.iter().map(|r| r.dest.as_str()).collect();
            dests.dedup();
            lines.push(format!("synced to {whose} under {} ({}); {runs}{then}", dests.join(" and "), places(&rules)));
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

/// Where `rules` come from: "Dockerfile line 3", "Dockerfile lines 3 and 5", "rebuilder.toml".
fn places(rules: &[&SyncRule]) -> String {
    let mut lines: Vec<String> = rules.iter().filter(|r| r.line > 0).map(|r| r.line.to_string()).collect();
    lines.dedup();
    let mut parts = Vec::new();
    match lines.as_slice() {
        [] => {}
        [one] => parts.push(format!("Dockerfile line {one}")),
        [init @ .., last] => parts.push(format!("Dockerfile lines {} and {last}", init.join(", "))),
    }
    if rules.iter().any(|r| r.line == 0) {
        parts.push("rebuilder.toml".to_string());
    }
    parts.join(", ")
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

    fn plan(dockerfile: &str) -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write");
        let plan = Plan::infer(dir.path(), &crate::project::config::Config::default()).expect("plan");
        (dir, plan)
    }

    fn changed(rels: &[&str]) -> Vec<Option<String>> {
        rels.iter().map(|r| Some(r.to_string())).collect()
    }

    #[test]
    fn a_file_copied_after_every_run_runs_no_step_and_an_earlier_one_runs_them() {
        // The dependency-cache shape of Python and Node images.
        let (_dir, flask) = plan(
            "FROM p\nWORKDIR /code\nCOPY requirements.txt /code\nRUN pip3 install -r requirements.txt\nCOPY . /code\n\
             CMD [\"python3\", \"app.py\"]\n",
        );
        assert_eq!(flask.steps.len(), 1);
        assert_eq!(flask.first_step_for(&changed(&["app.py"])), 1, "no step for the sources");
        assert_eq!(flask.first_step_for(&changed(&["requirements.txt"])), 0, "its install runs again");
        assert_eq!(flask.first_step_for(&changed(&["app.py", "requirements.txt"])), 0);
        assert_eq!(flask.first_step_for(&[None]), 0, "a path not known: every step");
        let ignore = DockerIgnore::parse("").expect("ignore");
        let effects = flask.effects_of("app.py", &ignore).join("\n");
        assert!(effects.contains("under /code (Dockerfile line 5); nothing runs"), "{effects}");
        // Copied twice (line 3, then with the sources at line 5): one effect, the first copy's.
        let effects = flask.effects_of("requirements.txt", &ignore);
        assert_eq!(
            effects,
            ["synced to the builder under /code (Dockerfile lines 3 and 5); `pip3 install -r requirements.txt` runs, \
              then committed"],
        );

        // The sources built by a RUN after them: it runs, whatever changed.
        let (_dir, c) = plan("FROM d\nWORKDIR /src\nCOPY src ./src\nRUN make\nCOPY static /www\n");
        assert_eq!(c.first_step_for(&changed(&["src/main.c"])), 0);
        assert_eq!(c.first_step_for(&changed(&["static/index.html"])), 1);
    }

    #[test]
    fn steps_or_rules_that_are_not_dockerfile_lines_run_every_step_unless_a_copy_says_where() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), "FROM d\nCOPY a /a\nRUN make\nCOPY b /b\n").expect("write");
        for folder in ["a", "b", "c"] {
            std::fs::create_dir(dir.path().join(folder)).expect("mkdir");
        }
        let configured = |toml_text: &str| {
            let config: crate::project::config::Config = toml::from_str(toml_text).expect("config");
            Plan::infer(dir.path(), &config).expect("plan")
        };
        // Where the Dockerfile's `COPY b /b` puts it: after the RUN, which does not read it.
        let plan = configured("[[sync]]\nsrc = \"b\"\ndest = \"/b\"\n");
        assert_eq!(plan.first_step_for(&changed(&["b/x"])), 1, "{:?}", plan.sync);
        // Elsewhere (into the folder `make` reads), or what no COPY reads: every step.
        let plan = configured("[[sync]]\nsrc = \"b\"\ndest = \"/a/b\"\n");
        assert_eq!(plan.first_step_for(&changed(&["b/x"])), 0, "{:?}", plan.sync);
        let plan = configured("[[sync]]\nsrc = \"c\"\ndest = \"/c\"\n");
        assert_eq!(plan.first_step_for(&changed(&["c/x"])), 0, "{:?}", plan.sync);
        // Before the RUN, where `COPY a /a` puts it: the RUN runs.
        let plan = configured("[[sync]]\nsrc = \"a\"\ndest = \"/a\"\n");
        assert_eq!(plan.first_step_for(&changed(&["a/x"])), 0, "{:?}", plan.sync);
        // A configured rebuild command: every step, wherever the file goes.
        let plan = configured("rebuild = \"make\"\n[[sync]]\nsrc = \"b\"\ndest = \"/b\"\n");
        assert_eq!(plan.first_step_for(&changed(&["b/x"])), 0, "{:?}", plan.steps);
    }

    /// compose's Watch demo (dockersamples/avatars): `path: web/` synced to `/app`, where
    /// `COPY web/ ./` put it after `yarn install` — a source edit runs no install; and a rule
    /// for a folder below the copied one (`web/src` → `/app/src`) agrees with the copy too.
    #[test]
    fn a_develop_watch_rule_that_mirrors_a_copy_reruns_what_the_copy_would() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("web/src")).expect("mkdir");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM node\nWORKDIR /app\nCOPY web/package.json web/yarn.lock ./\nRUN yarn install\nCOPY web/ ./\nCMD [\"yarn\", \"dev\"]\n",
        )
        .expect("write");
        for (src, dest) in
            [("web", "/app"), ("web/", "/app/"), ("web/src", "/app/src"), ("web/src/App.jsx", "/app/src/App.jsx")]
        {
            let text = format!("[[sync]]\nsrc = \"{src}\"\ndest = \"{dest}\"\n");
            let config: crate::project::config::Config = toml::from_str(&text).expect("config");
            let plan = Plan::infer(dir.path(), &config).expect("plan");
            assert_eq!(plan.first_step_for(&changed(&["web/src/App.jsx"])), 1, "{src} → {dest}: {:?}", plan.sync);
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
