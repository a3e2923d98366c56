//! `tags` (rebuilder.toml, or a compose service's `build.tags`): the image's other names.
//! Each new image takes them over before the image it replaced is pruned, so that image is
//! left unnamed (and pruned), and `docker run OTHER-NAME` runs the new code too.

use super::Rebuilder;
use crate::events::{Event, Reporter};

impl Rebuilder {
    /// Names the new image `image_id` by every extra tag; a failure is a warning (the image
    /// is made under its own name).
    pub(super) async fn tag_also(&self, image_id: &str, reporter: &mut dyn Reporter) {
        for reference in &self.project.plan.tags {
            if let Err(e) = self.engine.tag(image_id, reference).await {
                reporter.report(Event::Warning(format!(
                    "the image is made, but not named {reference}: {} — fix: {}",
                    e.cause, e.fix
                )));
            }
        }
    }
}
