//! A compose service's running containers stopped while the new image is committed.
//!
//! The recreate that follows a clean build stops the old containers before it starts the new
//! ones (their published ports cannot be held twice), and the engine's stop (the stop signal,
//! the process's exit, the network torn down: ~0.2 s here) would otherwise sit on the path
//! from the save to the new code answering. So once the build in the builder is clean and
//! only the commit (or the final stage's replay) is left, the stop runs beside it; compose then
//! finds the containers stopped and recreates them as it would running ones.
//!
//! The old code must keep serving whenever no new container takes over: a commit or replay
//! that fails, a cancel, a replay that turns into a full build, a recreate that fails —
//! each starts the containers stopped here again (`restart_stopped_ahead`). Only for a
//! service without `develop.watch` rules, whose update is always a recreate.
//!
//! Only for containers compose v1 made, too. A `docker compose up` (v2) left attached in a terminal follows a
//! container compose recreates: compose makes the new container, labelled as the old one's
//! replacement, before it stops the old one, and the old one's exit then reads as "recreated".
//! An old container stopped first, by us, reads as an exit instead; with no other container to
//! show, that `up` ends (tests/compose.rs, `a_compose_up_left_running…`). v1's attached `up`
//! never follows a recreated container, whoever stops the old one.
//!
//! A container whose bind mounts already show the cycle's files is not recreated
//! (`bind_view.rs`), so it is not stopped either.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::bind_view::shown_live;
use super::Rebuilder;
use crate::engine::ServiceContainer;
use crate::events::{Event, Reporter};

/// The stop started ahead: it ends with the containers it stopped.
pub(super) type StopAhead = Mutex<Option<JoinHandle<Vec<ServiceContainer>>>>;

impl Rebuilder {
    /// Starts stopping the service's running containers (see the module's comment). Called
    /// when a clean build's commit or replay is about to start; `files_only`: the cycle's
    /// `CycleReport::files_only`.
    pub(super) fn stop_service_ahead(&self, files_only: Option<Vec<(PathBuf, String)>>) {
        let Some(service) = &self.project.service else { return };
        if !service.develop().is_empty() {
            return;
        }
        let mut slot = self.stopped_ahead.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return;
        }
        let engine = self.engine.clone();
        let project = service.project.clone();
        // The service and its twins (`project/twins.rs`), each with its own grace period.
        let services: Vec<(String, Option<Duration>)> =
            std::iter::once((service.name.clone(), service.stop_grace_period))
                .chain(service.twins.iter().map(|t| (t.name.clone(), t.stop_grace_period)))
                .collect();
        *slot = Some(tokio::spawn(async move {
            let mut containers = Vec::new();
            for (name, grace) in &services {
                let Ok(theirs) = engine.service_containers(&project, name).await else { return Vec::new() };
                containers.extend(theirs.into_iter().map(|c| (c, *grace)));
            }
            // Only those compose v1 made: the compose that made a container is the one that
            // recreates it (`recreate_if_stale`), whatever version the workspace was loaded with.
            let mut stopping = Vec::new();
            for (c, grace) in containers.into_iter().filter(|(c, _)| c.running && c.by_compose_v1()) {
                if shown_live(&engine, &c, files_only.as_deref()).await.is_none() {
                    stopping.push((c, grace));
                }
            }
            let stops = stopping.into_iter().map(|(c, grace)| {
                let engine = engine.clone();
                async move { engine.stop_container(&c.id, grace).await.is_ok().then_some(c) }
            });
            futures_util::future::join_all(stops).await.into_iter().flatten().collect()
        }));
    }

    /// The containers the stop ahead stopped (once it is done); empty when none was started.
    pub(super) async fn take_stopped_ahead(&self) -> Vec<ServiceContainer> {
        let task = self.stopped_ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
        match task {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// No new container takes over: the containers stopped ahead are started again, so the
    /// old code keeps serving. A no-op when none were.
    pub(super) async fn restart_stopped_ahead(&self, reporter: &mut dyn Reporter) {
        let stopped = self.take_stopped_ahead().await;
        self.start_again(&stopped, reporter).await;
    }

    /// Starts `stopped` again (those still there and stopped), saying so.
    pub(super) async fn start_again(&self, stopped: &[ServiceContainer], reporter: &mut dyn Reporter) {
        for container in stopped {
            let still_stopped = match self.engine.container(&container.id).await {
                Ok(Some(now)) => !now.running,
                Ok(None) => false,
                Err(_) => true,
            };
            if !still_stopped {
                continue;
            }
            match self.engine.start_container(&container.id).await {
                Ok(()) => reporter.report(Event::Note(format!(
                    "started {} again on its old image (no new container took over)",
                    container.name
                ))),
                Err(e) => reporter.report(Event::Warning(format!(
                    "{} was stopped for the recreate and could not be started again: {}; start it with `docker start \
                     {}`",
                    container.name,
                    e.one_line(),
                    container.name
                ))),
            }
        }
    }
}
