//! The TwakeAI engine: ingestion pipeline, hybrid retrieval and grounded
//! answers with verified citations, over the backends of `twake-index` and
//! the models of `twake-llm`.
//!
//! Boundary: [`Workspace`] is the one entry point (the CLI and, later, the
//! server call it). Architecture invariants: every search and answer runs
//! with an [`AccessPass`]; every `[n]` in an answer maps to a passage that
//! was given to the model and that supports the sentence.

pub mod access;
pub mod answer;
pub mod assist;
pub mod audit;
pub mod bench;
pub mod brief;
pub mod catchup;
pub mod config;
pub mod consistency;
pub mod conversations;
pub mod dates;
pub mod facts;
pub mod feedback;
pub mod gateway;
pub mod ingest;
pub mod injection;
pub mod keys;
pub mod models;
pub mod pseudonym;
pub mod quality;
pub mod quota;
pub mod search;
pub mod sensitivity;
pub mod sources;
pub mod text;
pub mod tools;
pub mod triage;
mod workspace;
pub mod writing;

pub use config::Config;
pub use twake_types::{AccessPass, Principal, PrincipalKind, Sensitivity, Tenant};
pub use workspace::{Embedder, Workspace};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("model: {0}")]
    Model(String),
    #[error(transparent)]
    Index(#[from] twake_index::IndexError),
    #[error(transparent)]
    Llm(#[from] twake_llm::LlmError),
    /// The policy refused to send the request's passages to any model; the
    /// refusal is in the provenance log under `audit_id`.
    #[error("{message}")]
    Refused { message: String, audit_id: i64 },
    /// A quota or budget is spent; `retry_after` is in seconds.
    #[error("{message}")]
    Quota { message: String, retry_after: u64 },
    /// Nothing the caller may read matches (a path, a Message-ID…); the
    /// message says what to give instead.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
