//! What every capability stands on: the [`Workspace`](workspace::Workspace)
//! that opens the data directory and holds the store, the indexes and the
//! models; the configuration file's schema; the model registry; the check
//! that the indexes match the store; text, date and capped-HTTP helpers.
//! Nothing here knows of a capability above it.

pub mod config;
pub mod consistency;
pub mod dates;
pub mod derived;
pub mod http;
pub mod models;
pub mod remote;
pub mod text;
pub mod workspace;
