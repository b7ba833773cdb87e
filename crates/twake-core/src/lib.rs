//! The TwakeAI engine: ingestion pipeline, hybrid retrieval and grounded
//! answers with verified citations, over the backends of `twake-index` and
//! the models of `twake-llm`.
//!
//! The library is cut by capability, one folder each, lowest first (a
//! folder uses only the folders above it in this list; `scripts/check-
//! layering.sh` checks it and that no modules form a circle):
//! - [`engine`]: the [`Workspace`] (opens the data directory, holds the
//!   store, the indexes and the models), configuration, model registry,
//!   text and date helpers, capped HTTP reads;
//! - [`policy`]: who may read what and which model may see it: access,
//!   sensitivity labels, gateway routing, pseudonymisation, the signed
//!   provenance log, quotas, API keys, prompt-injection guards;
//! - [`ingest`]: files and connector items into the store and the indexes;
//! - [`connectors`]: IMAP, JMAP, Matrix, CalDAV/CardDAV/WebDAV sync;
//! - [`retrieve`]: hybrid search and grounded answers with verified
//!   citations;
//! - [`assist`]: the assistants (thread summaries, minutes, writing, triage,
//!   brief, room catch-up, tools);
//! - [`history`]: users' conversations and their ratings of answers.
//!
//! Architecture invariants: every search and answer runs with an
//! [`AccessPass`]; every `[n]` in an answer maps to a passage that was given
//! to the model and that supports the sentence.

pub mod assist;
pub mod connectors;
pub mod engine;
pub mod history;
pub mod ingest;
pub mod policy;
pub mod retrieve;

pub use engine::config::Config;
pub use engine::workspace::{Embedder, Workspace};
pub use twake_types::{AccessPass, Principal, PrincipalKind, Sensitivity, Tenant};

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

impl From<String> for CoreError {
    fn from(s: String) -> Self {
        CoreError::Other(s)
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
