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

    /// Names `image_id` by the images of the service's twins (`project/twins.rs`) that are
    /// another image now: a cycle that made no image (up to date) has not named it so, and
    /// compose's own build may have named them since. compose recreates a service from its
    /// image's name, so this comes first.
    pub(super) async fn name_twins(
        &self,
        service: &crate::project::service::ServiceBinding,
        image_id: &str,
    ) -> crate::error::Result<()> {
        for reference in service.twins.iter().flat_map(|t| &t.images) {
            let current = self.engine.image(reference).await?;
            if current.is_none_or(|i| i.id != image_id) {
                self.engine.tag(image_id, reference).await?;
            }
        }
        Ok(())
    }
}
