//! The Language Server front end: the only module that knows LSP and its JSON. Handlers
//! only enqueue into a project's session (the core's loop, one per project); a task per
//! project renders the session's events for the client (progress, log, diagnostics, status).

mod backend;
mod convert;
mod project;
pub mod protocol;
mod settings;
mod transport;
mod workspace;

pub use backend::Backend;
pub use protocol::{StatusNotification, StatusParams, COMMANDS};

use tower_lsp_server::{ClientSocket, LspService, Server};

/// The service, for running over any transport (tests use an in-memory duplex).
pub fn service() -> (LspService<Backend>, ClientSocket) {
    LspService::build(Backend::new)
        .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
        .custom_method(transport::MALFORMED, Backend::malformed)
        .finish()
}

/// Serves LSP on stdin/stdout until the client exits.
pub async fn run_stdio() {
    let (service, socket) = service();
    Server::new(transport::guard(tokio::io::stdin()), tokio::io::stdout(), socket).serve(service).await;
}
