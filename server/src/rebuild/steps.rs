//! Running a rebuild step in the builder: as which user, behind the extraction script when
//! the changes ride on its exec (or on the step started ahead), its output through the
//! problem matchers, and its time split into stages.

use std::time::{Duration, Instant, SystemTime};

use super::diagnose::Diagnoser;
use super::phases::Phases;
use super::{CancelToken, Rebuilder};
use crate::engine::{ExecExit, ExecRequest, OutputStream, Stdin};
use crate::error::Result;
use crate::events::{Event, Stage};
use crate::project::plan::Step;
use crate::sync::extract::{self, ExtractWatch, Verdict};

impl Rebuilder {
    /// The user a RUN has before any USER instruction: the base image's (root when it sets
    /// none). The builder's own default is the image's final USER, which may come later.
    pub(super) async fn base_user(&self) -> Result<String> {
        if self.project.plan.steps.iter().all(|s| s.user.is_some()) {
            return Ok(String::new());
        }
        let base = self.engine.image(&self.project.plan.base_image).await?;
        let user = base.and_then(|i| i.config.user).unwrap_or_default();
        Ok(if user.is_empty() { "0".to_string() } else { user })
    }

    /// Runs one rebuild step, its output through the matchers. With `archive`, the step runs
    /// behind the extraction script, and the script's verdict comes back with the exit.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_step(
        &self,
        builder: &str,
        step: &Step,
        user: &str,
        archive: Option<&[u8]>,
        cancel: Option<&CancelToken>,
        diagnoser: &mut Diagnoser<'_>,
        phases: &mut Phases<'_>,
    ) -> Result<(ExecExit, Option<Verdict>)> {
        // A secret is in place only while its step runs (in a tmpfs: never in a commit).
        let secrets = self.put_secrets(builder, step).await?;
        let ssh = match self.put_ssh(builder, step).await {
            Ok(ssh) => ssh,
            Err(e) => {
                if secrets {
                    self.take_secrets(builder, step).await?;
                }
                return Err(e);
            }
        };
        let result = self.run_step_inner(builder, step, user, archive, cancel, diagnoser, phases).await;
        if secrets {
            self.take_secrets(builder, step).await?;
        }
        if ssh {
            self.take_ssh(builder, step).await?;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step_inner(
        &self,
        builder: &str,
        step: &Step,
        user: &str,
        archive: Option<&[u8]>,
        cancel: Option<&CancelToken>,
        diagnoser: &mut Diagnoser<'_>,
        phases: &mut Phases<'_>,
    ) -> Result<(ExecExit, Option<Verdict>)> {
        // From here the builder's files may change (even if the start fails half-way).
        self.set_built(Some(SystemTime::now()));
        let argv = match archive {
            Some(_) => extract::wrap(&step.argv),
            None => step.argv.clone(),
        };
        // The archive is written once the script says it will read it.
        let ready = tokio::sync::Notify::new();
        let stdin = archive.map(|bytes| Stdin { bytes, ready: &ready });
        // The step's own environment; with the compilers' colour switches when `build` prints
        // to a colour terminal (a copy only then).
        let colored: Vec<(String, String)>;
        let env: &[(String, String)] = if self.color.load(std::sync::atomic::Ordering::SeqCst) {
            colored = step
                .env
                .iter()
                .cloned()
                .chain(super::COLOR_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .collect();
            &colored
        } else {
            &step.env
        };
        let request = ExecRequest {
            argv: &argv,
            display: &step.display,
            workdir: Some(&step.workdir),
            env,
            user: Some(user),
            stdin,
        };
        let mut watch = archive.map(|_| ExtractWatch::new());
        let reporter = &mut *phases.reporter;
        let mut pass = |stream: OutputStream, bytes: &[u8]| {
            reporter.report(Event::Output { stream, text: String::from_utf8_lossy(bytes).into_owned() });
            if diagnoser.feed(bytes) {
                reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
            }
        };
        let mut on_output = |stream: OutputStream, bytes: &[u8]| match watch.as_mut() {
            Some(w) => {
                let was_ready = w.ready_at.is_some();
                w.feed(stream, bytes, &mut pass);
                if !was_ready && w.ready_at.is_some() {
                    ready.notify_one();
                }
            }
            None => pass(stream, bytes),
        };
        let asked = Instant::now();
        let timeout = self.project.plan.timeout;
        let exit = match stdin {
            // Riding: on the exec a long-lived front end started ahead, if it still waits.
            Some(stdin) => {
                let attached = match self.take_standby(builder).await {
                    Some(mut warm) => {
                        warm.start = Duration::ZERO;
                        Ok(warm)
                    }
                    None => self.engine.start_exec(builder, &request, true).await,
                };
                match attached {
                    Ok(a) => self.engine.finish_exec(builder, a, Some(stdin), timeout, cancel, &mut on_output).await,
                    Err(e) => Err(e),
                }
            }
            None => self.engine.exec(builder, request, timeout, cancel, &mut on_output).await,
        };
        let ended = Instant::now();
        self.set_built(Some(SystemTime::now()));
        // Behind the extraction script, its ready line marks the process running; else the
        // exec counts as started once attached (its process start then falls in the build).
        let attached = asked + exit.as_ref().map(|e| e.start).unwrap_or_default();
        let started = watch.as_ref().and_then(|w| w.ready_at).unwrap_or(attached);
        phases.stage(Stage::ExecStart, started.saturating_duration_since(asked));
        let synced_at = watch.as_ref().and_then(|w| w.synced_at);
        if let Some(at) = synced_at {
            phases.stage(Stage::Upload, at.saturating_duration_since(started));
        }
        phases.stage(Stage::Build, ended.saturating_duration_since(synced_at.unwrap_or(started)));
        let exit = exit?;
        Ok((exit, watch.map(ExtractWatch::outcome)))
    }

    pub(super) fn lock_rides(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, bool>> {
        self.rides.lock().unwrap_or_else(|e| e.into_inner())
    }
}
