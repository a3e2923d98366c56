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
//!
//! One compose project's services update one at a time (`recreate_lock`): the stop ahead takes
//! the project's lock and the recreate releases it. Otherwise a service that starts while
//! another one's containers are stopped or being replaced cannot reach them (nginx in front of
//! two web services exits with "host not found in upstream", as seen on awesome-compose's
//! nginx-nodejs-redis when both were built at once), and two compose v1 runs recreating in one
//! project at once lose containers under each other ("No such container").

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tokio::task::JoinHandle;

use super::bind_view::shown_live;
use super::Rebuilder;
use crate::engine::ServiceContainer;
use crate::events::{Event, Reporter};
use crate::project::service::ServiceBinding;

/// The stop started ahead: it ends with the containers it stopped, and holds the compose
/// project's recreate lock until the recreate (or the restart of those containers) is done.
pub(super) type StopAhead = Mutex<Option<(JoinHandle<Stopped>, OwnedMutexGuard<()>)>>;

/// Containers a stop ahead stopped, and the ids of those the engine had to kill (they did not
/// exit on their stop signal within their grace period).
#[derive(Default)]
pub(super) struct Stopped {
    pub containers: Vec<ServiceContainer>,
    pub killed: Vec<String>,
}

/// How long a service's update waits for another one of its compose project to finish: past
/// it, it goes ahead (a cycle that never released the lock must not stop every other one).
const RECREATE_WAIT: Duration = Duration::from_secs(60);

/// The recreate lock of the compose project `project`: one per project in the process.
fn recreate_lock(project: &str) -> Arc<AsyncMutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    locks.entry(project.to_string()).or_default().clone()
}

/// The compose project's recreate lock, once no other service of it is being updated (or
/// after RECREATE_WAIT: then None, and the update goes ahead).
pub(super) async fn wait_for_recreates(project: &str) -> Option<OwnedMutexGuard<()>> {
    tokio::time::timeout(RECREATE_WAIT, recreate_lock(project).lock_owned()).await.ok()
}

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
        // Another service of the project is being updated: no stop ahead (the recreate waits).
        let Ok(guard) = recreate_lock(&service.project).try_lock_owned() else { return };
        let engine = self.engine.clone();
        let project = service.project.clone();
        // The service and its twins (`project/twins.rs`), each with its own grace period.
        let services: Vec<(String, Option<Duration>)> =
            std::iter::once((service.name.clone(), service.stop_grace_period))
                .chain(service.twins.iter().map(|t| (t.name.clone(), t.stop_grace_period)))
                .collect();
        let task = tokio::spawn(async move {
            let mut containers = Vec::new();
            for (name, grace) in &services {
                let Ok(theirs) = engine.service_containers(&project, name).await else { return Stopped::default() };
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
            let ids: Vec<String> = stopping.iter().map(|(c, _)| c.id.clone()).collect();
            let kills = engine.watch_kills(&ids);
            let stops = stopping.into_iter().map(|(c, grace)| {
                let engine = engine.clone();
                async move { engine.stop_container(&c.id, grace).await.is_ok().then_some(c) }
            });
            let containers = futures_util::future::join_all(stops).await.into_iter().flatten().collect();
            Stopped { containers, killed: kills.killed() }
        });
        *slot = Some((task, guard));
    }

    /// The containers the stop ahead stopped (once it is done), and the project's recreate lock
    /// it holds; nothing when none was started.
    pub(super) async fn take_stopped_ahead(&self) -> (Stopped, Option<OwnedMutexGuard<()>>) {
        let taken = self.stopped_ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some((task, guard)) => (task.await.unwrap_or_default(), Some(guard)),
            None => (Stopped::default(), None),
        }
    }

    /// No new container takes over: the containers stopped ahead are started again, so the
    /// old code keeps serving (then the project's other services may update). A no-op when
    /// none were.
    pub(super) async fn restart_stopped_ahead(&self, reporter: &mut dyn Reporter) {
        let (stopped, _lock) = self.take_stopped_ahead().await;
        self.start_again(&stopped.containers, reporter).await;
    }

    /// Says that the containers `killed` (of `stale`) had to be killed by their stop: every
    /// update of the service waits out their grace period. A warning the first time, then a note.
    pub(super) fn say_killed_by_stop(
        &self,
        service: &ServiceBinding,
        stale: &[&ServiceContainer],
        killed: &[String],
        reporter: &mut dyn Reporter,
    ) {
        let names: Vec<&str> = stale.iter().filter(|c| killed.contains(&c.id)).map(|c| c.name.as_str()).collect();
        let Some(first) = stale.iter().find(|c| killed.contains(&c.id)) else { return };
        let grace = std::iter::once((service.name.as_str(), service.stop_grace_period))
            .chain(service.twins.iter().map(|t| (t.name.as_str(), t.stop_grace_period)))
            .find(|(name, _)| *name == first.service)
            .and_then(|(_, grace)| grace);
        let text = killed_by_stop(&names, &first.service, grace);
        if self.told_killed_by_stop.swap(true, std::sync::atomic::Ordering::Relaxed) {
            reporter.report(Event::Note(text));
        } else {
            reporter.report(Event::Warning(text));
        }
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

/// The words for containers of `service` a stop had to kill after `grace` (None: compose's
/// 10 s default), with the fixes that make its app stop at once.
fn killed_by_stop(names: &[&str], service: &str, grace: Option<Duration>) -> String {
    let grace = match grace {
        Some(grace) => format!("its `stop_grace_period` ({:.1} s)", grace.as_secs_f64()),
        None => "the 10 s grace period (compose's default)".to_string(),
    };
    format!(
        "{} did not exit on the stop signal: the engine killed {} when {grace} ran out, and every update of the \
         service `{service}` waits that long. Most often its main process, PID 1, has no handler for SIGTERM (a \
         start script, or a server that installs none), and PID 1 ignores the signals it does not handle: set \
         `init: true` on the service (an init runs as PID 1 and passes the signal on) or make the app handle \
         SIGTERM; if its shutdown really takes that long, set a shorter `stop_grace_period`",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's update waits while another service of its compose project holds the
    /// lock (its stop ahead, through its recreate), and goes on once that is done; services of
    /// other projects do not wait.
    #[tokio::test]
    async fn one_compose_project_updates_one_service_at_a_time() {
        let held = recreate_lock("shop").try_lock_owned().expect("free");
        let waiting = tokio::spawn(wait_for_recreates("shop"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "waits while the other service's update holds the lock");
        assert!(wait_for_recreates("another-shop").await.is_some(), "another project does not wait");
        drop(held);
        let lock = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("goes on").expect("joined");
        assert!(lock.is_some(), "and holds the lock itself");
        assert!(recreate_lock("shop").try_lock_owned().is_err());
    }
}
