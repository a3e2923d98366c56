//! The cycle's last phase for a project with `push = "REGISTRY/NAME[:TAG]"`: the image it
//! ended with, pushed. After the commit and the service update, so diagnostics, the local image
//! and the running service never wait for a registry; a push that fails is a warning, the local
//! image stays made. An image this process already pushed is not pushed again.
//! It runs in the cycle, not behind it: a save during a push starts its cycle after the push,
//! so pushes never overlap and the registry ends with the last image.

use std::time::Instant;

use super::{CycleReport, Outcome, Rebuilder};
use crate::events::{Event, Phase, Reporter};

impl Rebuilder {
    pub(super) async fn push_image(&self, report: &mut CycleReport, reporter: &mut dyn Reporter) {
        let Some(reference) = &self.project.plan.push else { return };
        let fresh = matches!(
            report.outcome,
            Outcome::ImageBuilt { .. } | Outcome::Succeeded { committed: true } | Outcome::UpToDate
        );
        let Some(image_id) = report.image_id.clone().filter(|_| fresh) else { return };
        if self.pushed.lock().unwrap_or_else(|e| e.into_inner()).as_deref() == Some(image_id.as_str()) {
            return;
        }
        let started = Instant::now();
        reporter.report(Event::PhaseStarted { phase: Phase::Push, detail: reference.clone() });
        // The image the reference named until now: the tag moves off it, which leaves it to
        // the prune (the commit's prune skipped it while the tag held it).
        let previous = self.engine.image(reference).await.ok().flatten().map(|i| i.id).filter(|id| *id != image_id);
        let pushed = self.engine.push(&image_id, reference).await;
        self.prune(previous.iter(), reporter).await;
        match pushed {
            Ok(digest) => {
                reporter.report(Event::PhaseFinished { phase: Phase::Push, elapsed: started.elapsed() });
                report.timings.push((Phase::Push, started.elapsed()));
                report.total += started.elapsed();
                report.push = Some(format!("pushed {reference}@{digest}"));
                *self.pushed.lock().unwrap_or_else(|e| e.into_inner()) = Some(image_id);
            }
            Err(e) => {
                reporter.report(Event::Warning(format!("{} — fix: {}", e.cause, e.fix)));
                report.push = Some(format!("not pushed: {}", e.cause));
            }
        }
    }
}
