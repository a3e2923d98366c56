//! docker-rebuilder's core: everything that knows Docker and builds, and nothing of LSP.
//!
//! - [`project`]: what a project is and what its Dockerfile implies (pure, no Docker);
//! - [`sync`]: host tree, manifest, archives;
//! - [`engine`]: the only module that talks to the Docker Engine API;
//! - [`rebuild`]: the loop itself, reporting through [`events`].
//!
//! The CLI (`main.rs`, [`cli`]) is a thin front end over this.

pub mod cli;
pub mod engine;
pub mod error;
pub mod events;
pub mod project;
pub mod rebuild;
pub mod sync;
