//! The image's stage made again after a builder rebuilt: a container of the stage as it was
//! before its first instruction that reads a builder (from the full build), the instructions
//! from there replayed into it — `COPY --from` out of the builders (or a stage's image),
//! `COPY` from the synced context, `RUN` by exec — then committed with the config
//! `docker build` gave the image. A stage that runs nothing after the copies needs no shell:
//! its container is never started (distroless, scratch).

use std::collections::HashMap;
use std::time::Instant;

use super::diagnose::Diagnoser;
use super::phases::Phases;
use super::{CancelToken, Outcome, Rebuilder};
use crate::engine::{BuilderSpec, CommitConfig, ExecRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Stage};
use crate::project::glob::has_glob;
use crate::project::plan::{clean_container_path, CopySource, ReplayOp, Step};
use crate::project::{LABEL_PROJECT, LABEL_ROLE, LABEL_SOURCES};
use crate::sync::archive::ArchiveWriter;
use crate::sync::copy_from::{parse_chmod, rewrite_into, rewrite_stream, CopyTarget};
use crate::sync::walk::{HostTree, SourceKind};
use crate::sync::AssemblyRecord;

/// PID 1 of a replay container that runs RUNs: alive until removed.
const KEEPALIVE: [&str; 3] = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 86400 & wait; done"];
/// The command of a container that is never started (the engine wants one).
const NEVER_STARTED: [&str; 1] = ["/.docker-rebuilder-never-started"];

/// A replay container made while the builders build (creating one takes ~100 ms).
pub(super) struct Prepared {
    base: String,
    container: String,
    started: bool,
}

pub(super) type Ahead = tokio::task::JoinHandle<Result<Prepared>>;

/// A `COPY --from` source the stage it reads does not have: the build fails there, as
/// `docker build` would.
fn missing_source(phases: &mut Phases<'_>, missing: &str, line: usize) -> Outcome {
    phases.reporter.report(Event::Output {
        stream: crate::engine::OutputStream::Stderr,
        text: format!("COPY --from at line {line}: {missing} does not exist in the stage it copies from\n"),
    });
    Outcome::BuildFailed { exit_code: 1, step: format!("COPY {missing} (line {line})") }
}

fn full_build(cause: String) -> Error {
    Error::new(ErrorKind::FullBuildNeeded, cause, "")
}

impl Rebuilder {
    /// Starts making the replay's container in the background, from the base the full build
    /// recorded: called when a builder starts building, so it is ready when the build ends.
    pub(super) fn prepare_replay(&self) -> Option<Ahead> {
        let record = self.stages.first()?.known_manifest()?.assembly?;
        let runs = self.project.plan.assembly.as_ref()?.ops.iter().any(|op| matches!(op, ReplayOp::Run(_)));
        let engine = self.engine.clone();
        let labels = self.replay_labels();
        let (network, extra_hosts) = (self.project.config.network.clone(), self.project.config.extra_hosts.clone());
        Some(tokio::spawn(async move {
            let keepalive: &[&str] = if runs { &KEEPALIVE } else { &NEVER_STARTED };
            let spec = BuilderSpec {
                name: "",
                image_id: &record.base,
                image_config: &record.config,
                labels,
                keepalive,
                mounts: Vec::new(),
                network: network.as_deref(),
                extra_hosts: &extra_hosts,
            };
            let container = engine.create_container(spec).await?;
            let mut started = false;
            if runs && engine.path_kind(&container, "/bin/sh").await.ok().flatten().is_some() {
                started = engine.start_container(&container).await.is_ok();
            }
            Ok(Prepared { base: record.base, container, started })
        }))
    }

    /// A container made ahead and not used (the build failed, or nothing needed a replay).
    pub(super) fn discard(&self, ahead: Option<Ahead>) {
        let Some(ahead) = ahead else { return };
        let engine = self.engine.clone();
        self.in_background(tokio::spawn(async move {
            if let Ok(Ok(prepared)) = ahead.await {
                let _ = engine.remove_container(&prepared.container).await;
            }
        }));
    }

    fn replay_labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.label()),
            (LABEL_ROLE.to_string(), "replay".to_string()),
        ]);
        labels.extend(self.compose_labels(false));
        labels
    }

    fn in_background(&self, task: tokio::task::JoinHandle<()>) {
        let mut background = self.background.lock().unwrap_or_else(|e| e.into_inner());
        background.retain(|h| !h.is_finished());
        background.push(task);
    }

    /// Replays the image's stage and commits it as the image, labelled with `sources`.
    pub(super) async fn replay(
        &self,
        record: &AssemblyRecord,
        tree: &HostTree,
        sources: &str,
        cancel: Option<&CancelToken>,
        phases: &mut Phases<'_>,
        ahead: Option<Ahead>,
    ) -> Result<Outcome> {
        let plan = &self.project.plan;
        let Some(assembly) = plan.assembly.as_ref() else { return Ok(Outcome::UpToDate) };
        phases.start(Phase::Replay, format!("stage {} from line {}", assembly.stage.label(), assembly.cut_line));
        let replaying = Instant::now();
        let Some(base) = self.engine.image(&record.base).await? else {
            self.discard(ahead);
            return Err(full_build(format!(
                "the image of stage {} before line {} is gone (removed by `docker image prune`?)",
                assembly.stage.label(),
                assembly.cut_line
            )));
        };
        let runs = assembly.ops.iter().any(|op| matches!(op, ReplayOp::Run(_)));
        let prepared = match ahead {
            Some(ahead) => match ahead.await {
                Ok(Ok(p)) if p.base == record.base => Some(p),
                Ok(Ok(p)) => {
                    let _ = self.engine.remove_container(&p.container).await;
                    None
                }
                _ => None,
            },
            None => None,
        };
        let (container, started) = match prepared {
            Some(p) => (p.container, p.started),
            None => {
                let keepalive: &[&str] = if runs { &KEEPALIVE } else { &NEVER_STARTED };
                let labels = self.replay_labels();
                let spec = BuilderSpec {
                    name: "",
                    image_id: &base.id,
                    image_config: &record.config,
                    labels,
                    keepalive,
                    mounts: Vec::new(),
                    network: self.project.config.network.as_deref(),
                    extra_hosts: &self.project.config.extra_hosts,
                };
                (self.engine.create_container(spec).await?, false)
            }
        };
        let result = self.replay_into(&container, &base.config, record, tree, runs && !started, cancel, phases).await;
        let result = match result {
            Ok(None) => {
                phases.stage(Stage::Replay, replaying.elapsed());
                self.commit_replay(&container, record, sources, phases).await
            }
            Ok(Some(failed)) => Ok(failed),
            Err(e) => Err(e),
        };
        // The image is tagged: the container goes in the background, off the save's path.
        let engine = self.engine.clone();
        self.in_background(tokio::spawn(async move {
            let _ = engine.remove_container(&container).await;
        }));
        result
    }

    /// Commits the replay container as the image, and prunes the image it supersedes.
    async fn commit_replay(
        &self,
        container: &str,
        record: &AssemblyRecord,
        sources: &str,
        phases: &mut Phases<'_>,
    ) -> Result<Outcome> {
        let plan = &self.project.plan;
        phases.start(Phase::Commit, plan.image.clone());
        let committing = Instant::now();
        let previous = self.engine.image(&plan.image).await?.map(|i| i.id);
        let mut extra_labels = HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.label()),
            (LABEL_ROLE.to_string(), "image".to_string()),
            (LABEL_SOURCES.to_string(), sources.to_string()),
        ]);
        // The replay container's emptied ones must not reach the image.
        extra_labels.extend(self.compose_labels(true));
        let new_id =
            self.engine.commit(container, &plan.image, CommitConfig { original: &record.config, extra_labels }).await?;
        phases.stage(Stage::Commit, committing.elapsed());
        self.tag_also(&new_id, phases.reporter).await;
        phases.start(Phase::Prune, "");
        let pruning = Instant::now();
        let superseded = previous.filter(|p| *p != new_id);
        self.prune_superseded(superseded, phases.reporter).await;
        phases.stage(Stage::Prune, pruning.elapsed());
        Ok(Outcome::Succeeded { committed: true })
    }

    /// The replayed instructions, in order (`start`: the container must be started for the
    /// RUNs first). `Some(outcome)` when a RUN failed.
    #[allow(clippy::too_many_arguments)]
    async fn replay_into(
        &self,
        container: &str,
        base: &bollard::models::ImageConfig,
        record: &AssemblyRecord,
        tree: &HostTree,
        start: bool,
        cancel: Option<&CancelToken>,
        phases: &mut Phases<'_>,
    ) -> Result<Option<Outcome>> {
        let Some(assembly) = self.project.plan.assembly.as_ref() else { return Ok(None) };
        let stage = assembly.stage.label();
        if start {
            if self.engine.path_kind(container, "/bin/sh").await?.is_none() {
                let run = assembly.ops.iter().find_map(|op| match op {
                    ReplayOp::Run(step) => Some(step),
                    _ => None,
                });
                return Err(full_build(format!(
                    "stage {stage} runs `{}` at line {} after copying from a builder, and has no /bin/sh to run it \
                     in a container of its own",
                    run.map_or("", |s| s.display.as_str()),
                    run.map_or(0, |s| s.line)
                )));
            }
            self.engine.start_container(container).await?;
        }
        let (passwd, group) = self.owner_files(container, assembly).await?;
        let base_user = base.user.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| "0".to_string());
        let view = self.project.plan.assembly_view().unwrap_or_else(|| self.project.plan.clone());
        // The problem matchers only for RUNs (making them costs a few ms).
        let mut diagnoser = None;
        for op in &assembly.ops {
            match op {
                ReplayOp::CopyFrom { source, sources, dest, dest_is_dir, chown, chmod, line } => {
                    let owner = match chown {
                        Some(spec) => Some(crate::sync::owner::resolve(spec, &passwd, &group).ok_or_else(|| {
                            full_build(format!("the --chown={spec} at line {line} names no user of stage {stage}"))
                        })?),
                        None => None,
                    };
                    let mode = chmod.as_deref().and_then(parse_chmod);
                    // Where the sources go, once it is known whether the destination exists.
                    let place = |exists: Option<bool>| CopyTarget {
                        dest: dest.clone(),
                        into_dir: *dest_is_dir || exists == Some(true),
                        make_dest: exists.is_none(),
                        owner,
                        mode,
                    };
                    // One file or folder out of a builder, the usual `COPY --from=build`: it
                    // streams from the builder into the container.
                    if let (CopySource::Builder(b), [path]) = (source, sources.as_slice()) {
                        if let Some(from) = self.stages.get(*b).and_then(|s| s.known_builder_id()) {
                            let path = clean_container_path(path);
                            if self.stream_from_builder(&from, &path, container, dest, place).await?.is_none() {
                                return Ok(Some(missing_source(phases, &path, *line)));
                            }
                            continue;
                        }
                    }
                    // Both ask the engine for an archive operation (tens of ms each): at once.
                    let (exists, fetched) = tokio::join!(
                        self.engine.path_kind(container, dest),
                        self.fetch(source, sources, record, *line)
                    );
                    let target = place(exists?);
                    let archives = match fetched? {
                        Ok(archives) => archives,
                        Err(missing) => return Ok(Some(missing_source(phases, &missing, *line))),
                    };
                    let mut tar = tar::Builder::new(Vec::new());
                    for archive in &archives {
                        rewrite_into(&mut tar, archive, &target)?;
                    }
                    let tar = tar.into_inner().map_err(|e| Error::io("cannot pack a COPY --from", e))?;
                    self.engine.upload(container, tar).await?;
                }
                ReplayOp::CopyContext { rule } => {
                    let owner = match assembly.sync.get(*rule).and_then(|r| r.chown.clone()) {
                        Some(spec) => crate::sync::owner::resolve(&spec, &passwd, &group).unwrap_or((0, 0)),
                        None => (0, 0),
                    };
                    let mut archive = ArchiveWriter::new();
                    for (path, file) in tree.entries.iter().filter(|(_, f)| f.rule == *rule) {
                        match &file.kind {
                            SourceKind::File => {
                                archive.add_file(path, &file.host, file.mode, owner, None)?;
                            }
                            SourceKind::Dir => archive.add_dir(path, &file.host, file.mode, owner)?,
                            SourceKind::Symlink(target) => archive.add_symlink(path, target, owner)?,
                        }
                    }
                    if !archive.is_empty() {
                        self.engine.upload(container, archive.finish()?).await?;
                    }
                }
                ReplayOp::Workdir { path, .. } => {
                    if self.engine.path_kind(container, path).await?.is_none() {
                        self.engine.upload(container, folder_only(path)?).await?;
                    }
                }
                ReplayOp::Run(step) => {
                    let diagnoser = diagnoser.get_or_insert_with(|| Diagnoser::new(&view));
                    if let Some(failed) =
                        self.replay_run(container, step, &base_user, cancel, diagnoser, phases).await?
                    {
                        return Ok(Some(failed));
                    }
                }
            }
        }
        Ok(None)
    }

    /// One path out of a builder streamed into `container`; None when the builder lacks it.
    /// The destination's stat (which `place` turns into where the copy goes) runs while the
    /// download starts.
    async fn stream_from_builder(
        &self,
        from: &str,
        path: &str,
        container: &str,
        dest: &str,
        place: impl FnOnce(Option<bool>) -> CopyTarget,
    ) -> Result<Option<()>> {
        let (placed_tx, placed_rx) = std::sync::mpsc::channel::<CopyTarget>();
        // Moved in: dropped when the stat fails, so the rewrite stops waiting.
        let placing = async move {
            let exists = self.engine.path_kind(container, dest).await?;
            let _ = placed_tx.send(place(exists));
            Ok::<(), Error>(())
        };
        let rewrite = move |archive: &mut dyn std::io::Read, out: &mut dyn std::io::Write| {
            let target = placed_rx
                .recv()
                .map_err(|_| Error::new(ErrorKind::Internal, "the copy's destination was not found out", ""))?;
            rewrite_stream(archive, out, &target)
        };
        let (placed, copied) = tokio::join!(placing, self.engine.copy_across(from, path, container, rewrite));
        placed?;
        copied
    }

    /// The engine's archive of each source of one `COPY --from`, out of the builder (or a
    /// stage's image); `Err(path)` for a source the stage does not have.
    async fn fetch(
        &self,
        source: &CopySource,
        sources: &[String],
        record: &AssemblyRecord,
        line: usize,
    ) -> Result<std::result::Result<Vec<Vec<u8>>, String>> {
        let display = format!("COPY --from at line {line}");
        if let Some(glob) = sources.iter().find(|s| has_glob(s)) {
            return Err(full_build(format!(
                "the source `{glob}` of the {display} is a pattern, which the replay does not expand"
            )));
        }
        let (from, temporary) = match source {
            CopySource::Builder(b) => match self.stages.get(*b).and_then(|s| s.known_builder_id()) {
                Some(id) => (id, false),
                None => return Err(full_build(format!("the builder the {display} reads is not known"))),
            },
            CopySource::Stage(s) => {
                let Some(image) = record.stage_images.get(s) else {
                    return Err(full_build(format!("the image of the stage the {display} reads was not recorded")));
                };
                (self.never_started(image).await?, true)
            }
            CopySource::Image(image) => (self.never_started(image).await?, true),
        };
        let mut archives = Vec::new();
        let mut result = Ok(Ok(()));
        for path in sources {
            let path = clean_container_path(path);
            match self.engine.download(&from, &path).await {
                Ok(Some(archive)) => archives.push(archive),
                Ok(None) => {
                    result = Ok(Err(path));
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if temporary {
            let _ = self.engine.remove_container(&from).await;
        }
        Ok(result?.map(|()| archives))
    }

    async fn never_started(&self, image: &str) -> Result<String> {
        let info = self.engine.image(image).await?.ok_or_else(|| {
            full_build(format!("the image {image} that a COPY --from reads is gone (removed by `docker image prune`?)"))
        })?;
        self.never_started_of(&info).await
    }

    /// A container of `info` that is never started (no shell needed): files are read out of
    /// it or put into it. Labelled as the replay's, so `clean` finds one a crash left.
    pub(super) async fn never_started_of(&self, info: &crate::engine::ImageInfo) -> Result<String> {
        let labels = self.replay_labels();
        let spec = BuilderSpec {
            name: "",
            image_id: &info.id,
            image_config: &info.config,
            labels,
            keepalive: &NEVER_STARTED,
            mounts: Vec::new(),
            network: None,
            extra_hosts: &[],
        };
        self.engine.create_container(spec).await
    }

    /// /etc/passwd and /etc/group of the image's stage, when a `--chown` names users.
    async fn owner_files(
        &self,
        container: &str,
        assembly: &crate::project::plan::Assembly,
    ) -> Result<(String, String)> {
        let chowns = assembly.ops.iter().any(|op| matches!(op, ReplayOp::CopyFrom { chown: Some(_), .. }))
            || assembly.sync.iter().any(|r| r.chown.is_some());
        if !chowns {
            return Ok(Default::default());
        }
        let read = |bytes: Option<Vec<u8>>| String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
        Ok((
            read(self.engine.read_file(container, "/etc/passwd").await?),
            read(self.engine.read_file(container, "/etc/group").await?),
        ))
    }

    async fn replay_run(
        &self,
        container: &str,
        step: &Step,
        base_user: &str,
        cancel: Option<&CancelToken>,
        diagnoser: &mut Diagnoser<'_>,
        phases: &mut Phases<'_>,
    ) -> Result<Option<Outcome>> {
        phases.start(Phase::Exec, step.display.clone());
        diagnoser.start_step(step);
        let user = step.user.clone().unwrap_or_else(|| base_user.to_string());
        let request = ExecRequest {
            argv: &step.argv,
            display: &step.display,
            workdir: Some(&step.workdir),
            env: &step.env,
            user: Some(&user),
            stdin: None,
        };
        let reporter = &mut *phases.reporter;
        let mut on_output = |stream, bytes: &[u8]| {
            reporter.report(Event::Output { stream, text: String::from_utf8_lossy(bytes).into_owned() });
            if diagnoser.feed(bytes) {
                reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
            }
        };
        let running = Instant::now();
        let exit = self.engine.exec(container, request, self.project.plan.timeout, cancel, &mut on_output).await;
        phases.stage(Stage::Build, running.elapsed());
        diagnoser.finish_step();
        match exit {
            Ok(exit) if exit.code == 0 => Ok(None),
            Ok(exit) => {
                diagnoser.fallback_for_failure(step, exit.code);
                phases.reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
                Ok(Some(Outcome::BuildFailed { exit_code: exit.code, step: step.display.clone() }))
            }
            Err(e) if e.kind == ErrorKind::Timeout => Ok(Some(Outcome::TimedOut {
                step: step.display.clone(),
                timeout_secs: self.project.plan.timeout.map_or(0, |t| t.as_secs()),
            })),
            Err(e) => Err(e),
        }
    }
}

/// An archive holding one folder (root, 0755), its missing parents made by the engine.
fn folder_only(path: &str) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    let name = format!("{}/", path.trim_matches('/'));
    b.append_data(&mut h, name, std::io::empty()).map_err(|e| Error::io("cannot pack a folder", e))?;
    b.into_inner().map_err(|e| Error::io("cannot pack a folder", e))
}
