//! docker-rebuilder's core: everything that knows Docker and builds, and nothing of LSP.
//!
//! - [`project`]: what a project is and what its Dockerfile implies (pure, no Docker);
//! - [`sync`]: host tree, manifest, archives;
//! - [`engine`]: the only module that talks to the Docker Engine API;
//! - [`rebuild`]: one cycle (and builds, cleans), reporting through [`events`];
//! - [`session`]: the loop every long-lived front end drives: inputs in, events out.
//!
//! The CLI ([`cli`]) and the LSP server ([`lsp`], the only module that knows LSP) are thin
//! front ends over this.

pub mod cancel;
pub mod cli;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod events;
pub mod lsp;
pub mod memory;
pub mod project;
pub mod rebuild;
pub mod runtime_dir;
pub mod session;
pub mod sync;
