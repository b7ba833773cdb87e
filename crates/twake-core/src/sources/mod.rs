//! Connected sources: accounts TwakeAI keeps in sync with, instead of files
//! given to `ingest`. Matrix and IMAP today; JMAP, WebDAV and CalDAV join
//! the closed set [`SourceSpec`] with the rest of their issue.
//!
//! Boundary: `Workspace::{add_source, sources, remove_source, sync_source}`.
//! A source is a row of the store (settings, secret, the connector's cursor,
//! health); each item it brings is stored like a file under a path of its
//! own (`matrix://NAME/ROOM/EVENT`, `imap://NAME/FOLDER/UIDVALIDITY/UID`), in its own transaction, through the
//! same chunking, embedding, labelling and grants as ingested files.
//!
//! Invariants: the cursor is saved only after the items it covers are
//! stored, and storing an item is idempotent (same path, same content hash:
//! skipped), so a sync stopped anywhere resumes without loss or duplicate.
//! Secrets never leave the store except to the source itself: [`Secret`]
//! prints `***`.

pub mod imap;
pub mod matrix;

use std::fmt;

use serde::{Deserialize, Serialize};
use twake_index::{SourceHealth, SourceRow};
use twake_types::Tenant;

use crate::{CoreError, Result, Workspace};

/// A password or an access token: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the source's own requests only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a source is reached, one variant per connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceSpec {
    Matrix(matrix::MatrixSpec),
    Imap(imap::ImapSpec),
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Matrix(_) => "matrix",
            SourceSpec::Imap(_) => "imap",
        }
    }

    /// Where the source is, for listings (never a secret).
    pub fn location(&self) -> String {
        match self {
            SourceSpec::Matrix(m) => format!("{} as {}", m.homeserver, m.user_id),
            SourceSpec::Imap(m) => format!("{} for {}", m.location(), m.owner),
        }
    }
}

/// What the user gives to authenticate a new source.
#[derive(Debug, Clone)]
pub enum Credentials {
    Password(Secret),
    Token(Secret),
}

/// A source as listed: settings and health, never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: &'static str,
    pub tenant: String,
    pub location: String,
    pub spec: SourceSpec,
    /// Items indexed from it.
    pub items: i64,
    /// Unix seconds of the last sync attempt and of the last success.
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    /// Seconds since the last success (`None`: never synced).
    pub lag_seconds: Option<i64>,
    pub last_error: Option<String>,
    /// Failed syncs in a row.
    pub errors: i64,
    /// `ok`, `never synced`, `failing`.
    pub status: &'static str,
}

/// What one sync did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    /// Items stored (new or changed).
    pub stored: usize,
    /// Items whose content was replaced by an edit.
    pub edited: usize,
    /// Items removed (redacted or deleted at the source).
    pub removed: usize,
    /// Items seen again, already indexed as they are.
    pub unchanged: usize,
    /// Places read (rooms).
    pub places: usize,
    /// Things skipped and why (an encrypted room…).
    pub notices: Vec<String>,
}

/// Progress of a sync, for a bar or a log.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    /// A batch lists this many places (rooms) to read.
    Places {
        total: usize,
    },
    /// One place read; `items` stored so far in this sync.
    PlaceDone {
        name: &'a str,
        done: usize,
        total: usize,
        items: usize,
    },
    /// Within one place (a folder), `done` of `total` new items fetched.
    Items {
        place: &'a str,
        done: usize,
        total: usize,
    },
    Notice(&'a str),
}

/// Whether a stored path is an item of a connected source (not a file).
pub fn is_source_item(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| matches!(scheme, "matrix" | "imap"))
}

/// The path prefix of every item of a source.
pub(crate) fn item_prefix(kind: &str, name: &str) -> String {
    format!("{kind}://{name}/")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn info(row: SourceRow, now: i64) -> Result<SourceInfo> {
    let spec: SourceSpec = serde_json::from_str(&row.config).map_err(|e| {
        CoreError::Other(format!("source {:?} has unreadable settings ({e}): remove it and add it again", row.name))
    })?;
    let SourceHealth { items, last_attempt, last_success, last_error, errors } = row.health;
    let status = match (last_success, errors) {
        (_, e) if e > 0 => "failing",
        (None, _) => "never synced",
        _ => "ok",
    };
    Ok(SourceInfo {
        name: row.name,
        kind: spec.kind(),
        tenant: row.tenant.as_str().to_string(),
        location: spec.location(),
        spec,
        items,
        last_attempt,
        last_success,
        lag_seconds: last_success.map(|t| (now - t).max(0)),
        last_error,
        errors,
        status,
    })
}

impl Workspace {
    /// Connects to a new source once (a password is exchanged for a token,
    /// which is what is kept) and records it; nothing is indexed until
    /// [`Workspace::sync_source`].
    pub async fn add_source(
        &self,
        name: &str,
        tenant: &Tenant,
        spec: SourceSpec,
        credentials: Credentials,
    ) -> Result<SourceInfo> {
        if !valid_name(name) {
            return Err(CoreError::Other(format!(
                "invalid source name {name:?}: use lowercase letters, digits, '-', '_' or '.', e.g. chat-valmont"
            )));
        }
        if self.store.sources().await?.iter().any(|s| s.name == name) {
            return Err(CoreError::Other(format!(
                "a source named {name:?} exists: remove it first (`twake-ai sources remove {name}`) or choose another name"
            )));
        }
        let (spec, secret) = match spec {
            SourceSpec::Matrix(m) => {
                let (m, token) = matrix::connect(m, credentials).await?;
                (SourceSpec::Matrix(m), token)
            }
            SourceSpec::Imap(m) => {
                let secret = match credentials {
                    Credentials::Password(s) | Credentials::Token(s) => s,
                };
                imap::connect(&m, &secret).await?;
                (SourceSpec::Imap(m), secret)
            }
        };
        let row = SourceRow {
            name: name.to_string(),
            kind: spec.kind().to_string(),
            tenant: tenant.clone(),
            config: serde_json::to_string(&spec).map_err(|e| CoreError::Other(e.to_string()))?,
            secret: secret.expose().to_string(),
            state: "{}".into(),
            health: SourceHealth::default(),
        };
        if !self.store.source_add(&row).await? {
            return Err(CoreError::Other(format!("a source named {name:?} was added meanwhile")));
        }
        info(row, self.clock.now())
    }

    pub async fn sources(&self) -> Result<Vec<SourceInfo>> {
        let now = self.clock.now();
        self.store.sources().await?.into_iter().map(|r| info(r, now)).collect()
    }

    /// Forgets a source and, unless `keep_items`, every item it brought.
    /// Returns the number of items removed.
    pub async fn remove_source(&self, name: &str, keep_items: bool) -> Result<usize> {
        let Some(row) = self.store.sources().await?.into_iter().find(|s| s.name == name) else {
            return Err(CoreError::NotFound(format!("no source named {name:?}: `twake-ai sources list` shows them")));
        };
        let _guard = self.ingest_lock.lock().await;
        let mut removed = 0;
        if !keep_items {
            for path in self.store.files_under(&item_prefix(&row.kind, &row.name)).await? {
                removed += usize::from(self.forget_locked(&path).await?);
            }
            self.commit_lexical()?;
        }
        self.store.source_remove(name).await?;
        Ok(removed)
    }

    /// Brings a source's index up to date from its saved cursor (the whole
    /// history the first time), then records the sync's health.
    pub async fn sync_source(
        &self,
        name: &str,
        progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
    ) -> Result<SyncReport> {
        let Some(row) = self.store.sources().await?.into_iter().find(|s| s.name == name) else {
            return Err(CoreError::NotFound(format!("no source named {name:?}: `twake-ai sources list` shows them")));
        };
        let spec = info(row.clone(), 0)?.spec;
        let _guard = self.ingest_lock.lock().await;
        let result = match &spec {
            SourceSpec::Matrix(m) => matrix::sync(self, &row, m, progress).await,
            SourceSpec::Imap(m) => imap::sync(self, &row, m, progress).await,
        };
        // What was stored before a failure stays; the lexical index is
        // committed either way.
        let committed = self.commit_lexical();
        let error = result.as_ref().err().map(|e| e.to_string());
        self.store.source_record(name, self.clock.now(), error.as_deref()).await?;
        let report = result?;
        committed?;
        Ok(report)
    }
}

impl Workspace {
    /// When `user` last read a chat room (by name or ID) according to the
    /// read receipts the sources saw: Unix seconds, `None` when unknown.
    pub async fn last_read(&self, user: &twake_types::Principal, room: &str) -> Result<Option<i64>> {
        let mut best = None;
        for row in self.store.sources().await? {
            let Ok(spec) = serde_json::from_str::<SourceSpec>(&row.config) else { continue };
            let at = match &spec {
                SourceSpec::Matrix(m) => matrix::last_read(m, &row.state, user, room).map(|ms| ms.div_euclid(1000)),
                SourceSpec::Imap(_) => None,
            };
            best = best.max(at);
        }
        Ok(best)
    }
}

/// Syncs every source, then waits `every`, forever (`twake-ai serve` runs
/// it in the background). A failing source is logged and recorded in its
/// health; the others go on.
pub async fn keep_in_sync(ws: std::sync::Arc<Workspace>, every: std::time::Duration) {
    loop {
        match ws.sources().await {
            Ok(list) => {
                for s in list {
                    if let Err(e) = ws.sync_source(&s.name, &mut |_| {}).await {
                        tracing::warn!(source = %s.name, "sync failed: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("cannot list the sources: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("syt_very_secret");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let c = Credentials::Password(s);
        assert!(!format!("{c:?}").contains("very_secret"));
    }

    #[test]
    fn source_items_are_told_from_files() {
        assert!(is_source_item("matrix://chat/!r:localhost/$e"));
        assert!(!is_source_item("examples/workspace/shared/mail/x.mbox"));
        assert!(!is_source_item("/tmp/a://b"));
        assert!(valid_name("chat-valmont") && !valid_name("Chat") && !valid_name("a/b") && !valid_name(""));
    }
}
