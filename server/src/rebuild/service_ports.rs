//! A recreate that moved the service's published ports, said. Compose interpolates the compose
//! file with the environment it runs in: ours, for a recreate. When the user's
//! `docker compose up` ran in a shell that set a variable the file reads (a port, typically) and
//! ours lacks it, the recreated containers publish other ports. They run the new code all the
//! same; the user is told where they now answer, why, and the fix.

use std::path::PathBuf;

use super::Rebuilder;
use crate::project::service::ServiceBinding;

impl Rebuilder {
    /// The ports `containers` publish, all together, sorted; None when one cannot be read.
    pub(super) async fn published_ports(&self, containers: impl Iterator<Item = &str>) -> Option<Vec<String>> {
        let mut all = Vec::new();
        for id in containers {
            all.extend(self.engine.published_ports(id).await.ok()?);
        }
        all.sort();
        Some(all)
    }

    /// A warning when the service's containers on `image_id` publish other ports than
    /// `before` (the old ones', made at `made`, seconds since the epoch) while no compose or env
    /// file changed since: new ports from an edited file are what `docker compose up` gives too.
    pub(super) async fn ports_moved(
        &self,
        service: &ServiceBinding,
        before: Option<Vec<String>>,
        image_id: &str,
        made: i64,
    ) -> Option<String> {
        let before = before?;
        let now = self.engine.service_containers(&service.project, &service.name).await.ok()?;
        let after = self.published_ports(now.iter().filter(|c| c.image_id == image_id).map(|c| c.id.as_str())).await?;
        if after == before || service.recipe_files().iter().any(|f| modified_since(f, made)) {
            return None;
        }
        let shown = |ports: &[String]| if ports.is_empty() { "no port".to_string() } else { ports.join(", ") };
        Some(format!(
            "service {}: the recreated containers publish {} where the old ones published {}, and no compose or \
             env file changed: compose read the compose file with docker-rebuilder's environment, which lacks (or \
             differs in) a variable set where `docker compose up` ran. Fix: put that variable in the project's \
             .env file (compose and docker-rebuilder both read it), or start docker-rebuilder (or the editor) \
             from that shell; `docker compose up -d` there puts the ports back",
            service.name,
            shown(&after),
            shown(&before)
        ))
    }
}

/// `file` was modified at or after `since` (seconds since the epoch).
fn modified_since(file: &PathBuf, since: i64) -> bool {
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
    let secs = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs());
    secs.is_some_and(|s| i64::try_from(s).unwrap_or(i64::MAX) >= since)
}
