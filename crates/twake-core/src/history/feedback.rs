//! What people think of the answers: a thumbs up or down, with an optional
//! comment, per person and answer — the quality figures of real use.
//!
//! An answer is named by its provenance record (`audit_id`); only the
//! person it was given to may rate it (a record of someone else, or an
//! administrator's action, is no answer of theirs). Rating again replaces
//! the earlier rating. Administrators see the counts and the latest
//! comments of the tenants they administer.

use serde::Serialize;
use twake_index::FeedbackRow;
use twake_types::Principal;

use crate::policy::audit::AuditRecord;
use crate::{Result, Workspace};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// Counts and the latest ratings of a scope.
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackReport {
    pub up: i64,
    pub down: i64,
    /// Newest first.
    pub recent: Vec<FeedbackRow>,
}

impl Workspace {
    /// Records `user`'s rating (`up` or not) of the answer logged as
    /// provenance record `audit_id`, with `comment` (trimmed, cut to
    /// [`MAX_COMMENT_CHARS`]). False when that record is not an answer or
    /// an assistant's result given to `user`.
    pub async fn rate_answer(&self, user: &Principal, audit_id: i64, up: bool, comment: &str) -> Result<bool> {
        let rows = self.store.audit_rows(audit_id.saturating_sub(1), 1).await?;
        let Some(record) =
            rows.iter().filter(|r| r.seq == audit_id).find_map(|r| serde_json::from_str::<AuditRecord>(&r.body).ok())
        else {
            return Ok(false);
        };
        if record.user != user.as_str() || record.model == "admin" {
            return Ok(false);
        }
        let comment: String = comment.trim().chars().take(MAX_COMMENT_CHARS).collect();
        self.store
            .feedback_set(&FeedbackRow {
                user: record.user,
                tenant: record.tenant,
                audit_id,
                rating: if up { 1 } else { -1 },
                comment,
                at: self.clock.now(),
            })
            .await?;
        Ok(true)
    }

    /// The ratings of `tenant` (every tenant with `None`): counts and the
    /// latest `limit`.
    pub async fn feedback_report(&self, tenant: Option<&str>, limit: i64) -> Result<FeedbackReport> {
        let (up, down, recent) = self.store.feedback_report(tenant, limit).await?;
        Ok(FeedbackReport { up, down, recent })
    }
}
