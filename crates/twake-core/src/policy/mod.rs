//! Who may read what, and which model may see it: readers and groups
//! (`access`), sensitivity labels (`sensitivity`), routing a request to a
//! model cleared for its passages (`gateway`), pseudonymisation before a
//! remote model (`pseudonym`), the signed provenance log (`audit`), quotas
//! and budgets (`quota`), API keys (`keys`) and prompt-injection guards
//! (`injection`).

pub mod access;
pub mod audit;
pub mod gateway;
pub mod injection;
pub mod keys;
pub mod pseudonym;
pub mod quota;
pub mod sensitivity;
