//! A builder whose cache mounts are new volumes (a project's first build, or after
//! `clean --caches`) runs its rebuild steps once, right after it is made. BuildKit keeps its
//! cache mounts' files to itself, so the builder's volumes start empty and, without this, the
//! first edit after the first build would compile from nothing (bench/buildkit.py: 5.5 s
//! against 1.2 s for the next ones). Its output is nobody's: a failure only ends the warm-up.

use super::Rebuilder;
use crate::engine::ExecRequest;

impl Rebuilder {
    /// Runs the rebuild steps in `builder` to fill its cache volumes, quietly.
    pub(super) async fn warm_caches(&self, builder: &str) {
        // A bind-mount build's sources reach the builder with its first cycle: nothing to run yet.
        if self.has_bind_mirrors() {
            return;
        }
        let Ok(base_user) = self.base_user().await else { return };
        for step in &self.project.plan.steps {
            let user = step.user.clone().unwrap_or_else(|| base_user.clone());
            let Ok(secrets) = self.put_secrets(builder, step).await else { return };
            let ssh = self.put_ssh(builder, step).await.unwrap_or(false);
            let request = ExecRequest {
                argv: &step.argv,
                display: &step.display,
                workdir: Some(&step.workdir),
                env: &step.env,
                user: Some(&user),
                stdin: None,
            };
            let timeout = self.project.plan.timeout;
            let exit = self.engine.exec(builder, request, timeout, None, &mut |_, _: &[u8]| {}).await;
            if secrets {
                let _ = self.take_secrets(builder, step).await;
            }
            if ssh {
                let _ = self.take_ssh(builder, step).await;
            }
            if !exit.is_ok_and(|e| e.code == 0) {
                return;
            }
        }
    }
}
