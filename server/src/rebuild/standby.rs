//! A warm exec for the next save. Starting an exec costs ~40 ms (runc), on every save. The
//! front ends that stay (the LSP server, `watch`) start the next cycle's first rebuild step
//! ahead of time, behind the extraction script (`sync::extract`), which then waits in `tar`
//! for the changes: the next save only writes them. The process touches nothing until then;
//! dropped unused, its stdin closes and it exits having extracted nothing.

use super::{Rebuilder, Standby};
use crate::engine::{Attached, ExecRequest};
use crate::sync::extract;

impl Rebuilder {
    /// Starts the next cycle's first step so that it only waits for the changes, once a
    /// cycle of this process rode its changes on that builder's step. Best effort: any
    /// failure leaves the next cycle to start its exec itself.
    pub async fn prepare_next_cycle(&self) {
        self.prepare_compose_standby();
        // A replayed image: each stage's builder gets its step started (an unused one waits).
        for stage in &self.stages {
            Box::pin(stage.prepare_next_cycle()).await;
        }
        let Some(builder) = self.known_builder_id() else { return };
        if self.lock_rides().get(&builder) != Some(&true) || self.standby_for(&builder) {
            return;
        }
        let Some(step) = self.project.plan.steps.first() else { return };
        let Ok(base_user) = self.base_user().await else { return };
        let user = step.user.clone().unwrap_or(base_user);
        if !extract::is_root(&user) {
            return;
        }
        let argv = extract::wrap(&step.argv);
        let request = ExecRequest {
            argv: &argv,
            display: &step.display,
            workdir: Some(&step.workdir),
            env: &step.env,
            user: Some(&user),
            stdin: None,
        };
        if let Ok(attached) = self.engine.start_exec_ahead(&builder, &request).await {
            *self.lock_standby() = Some(Standby { builder, recipe: self.project.recipe.clone(), attached });
        }
    }

    /// The warm exec for `builder`'s first step, if one was started for it and this recipe
    /// and it still runs.
    pub(super) async fn take_standby(&self, builder: &str) -> Option<Attached> {
        let standby = self.lock_standby().take()?;
        if standby.builder != builder || standby.recipe != self.project.recipe {
            return None;
        }
        let id = standby.attached.id().to_string();
        self.engine.exec_running(&id).await.then_some(standby.attached)
    }

    fn standby_for(&self, builder: &str) -> bool {
        self.lock_standby().as_ref().is_some_and(|s| s.builder == builder && s.recipe == self.project.recipe)
    }

    fn lock_standby(&self) -> std::sync::MutexGuard<'_, Option<Standby>> {
        self.standby.lock().unwrap_or_else(|e| e.into_inner())
    }
}
