//! A panic in a session's loop is a bug, but it must not silently stop the project's builds:
//! it is caught, reported (the message goes to the front end, which names it a bug), and the
//! loop starts again with a fresh state, on the same queue.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::run::Session;
use super::{lock, Input, SessionEvent, SessionOptions, Shared, WeakHandle};

/// Set in a test's environment to make the loop panic once, at the start of cycle N of the
/// session (`panic-in-cycle:N`): the only way to prove supervision on the real binary.
const FAULT_VARIABLE: &str = "DOCKER_REBUILDER_FAULT";

pub(super) async fn supervise(
    options: SessionOptions,
    queue: WeakHandle,
    shared: Arc<Shared>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    events: mpsc::UnboundedSender<SessionEvent>,
) {
    let SessionOptions { source, watch, rebuilder } = options;
    let mut rebuilder = rebuilder;
    let mut fault = injected_fault();
    loop {
        let session =
            Session::new(source.clone(), watch, rebuilder.take(), queue.clone(), shared.clone(), events.clone());
        let run = session.run(&mut inputs, &mut fault);
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(()) => return,
            Err(panic) => {
                let message = panic_message(&*panic);
                *lock(&shared.running) = None;
                let status = {
                    let mut status = lock(&shared.status);
                    status.failed(&crate::error::Error::new(
                        crate::error::ErrorKind::Internal,
                        format!("docker-rebuilder hit a bug and restarted this project's task: {message}"),
                        "save again to rebuild; please report it with the log",
                    ));
                    status.clone()
                };
                let _ = events.send(SessionEvent::Crashed { message });
                let _ = events.send(SessionEvent::Status(status));
                if shared.stopping.load(Ordering::SeqCst) {
                    let _ = events.send(SessionEvent::Stopped);
                    return;
                }
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// The cycle number at which to panic once, from the environment (see FAULT_VARIABLE).
fn injected_fault() -> Option<u64> {
    std::env::var(FAULT_VARIABLE).ok()?.strip_prefix("panic-in-cycle:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_both_payload_kinds() {
        let caught = std::panic::catch_unwind(|| panic!("at {}", 3)).expect_err("panics");
        assert_eq!(panic_message(&*caught), "at 3");
        let caught = std::panic::catch_unwind(|| panic!("plain")).expect_err("panics");
        assert_eq!(panic_message(&*caught), "plain");
    }
}
