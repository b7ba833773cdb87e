//! Connected sources: accounts TwakeAI keeps in sync with, instead of files
//! given to `ingest`: Matrix, IMAP, JMAP, WebDAV, CalDAV and local folders,
//! the closed set [`SourceSpec`].
//!
//! Boundary: `Workspace::{add_source, sources, remove_source, sync_source}`.
//! A source is a row of the store (settings, secret, the connector's cursor,
//! health); each item it brings is stored like a file under a path of its
//! own (`matrix://NAME/ROOM/EVENT`, `imap://NAME/FOLDER/UIDVALIDITY/UID`,
//! `jmap://NAME/EMAILID`, `webdav://NAME/PATH`, `caldav://NAME/CALENDAR/RESOURCE`,
//! `folder://NAME/PATH`), in its own transaction, through the
//! same chunking, embedding, labelling and grants as ingested files.
//!
//! Invariants: the cursor is saved only after the items it covers are
//! stored, and storing an item is idempotent (same path, same content hash:
//! skipped), so a sync stopped anywhere resumes without loss or duplicate.
//! Secrets never leave the store except to the source itself: [`Secret`]
//! prints `***`.

pub mod dav;
pub mod imap;
pub mod jmap;
pub mod matrix;
pub mod sync;

pub use sync::{Credentials, SyncEvent, SyncReport};

use serde::{Deserialize, Serialize};
use twake_index::{SourceHealth, SourceRow};
use twake_types::Tenant;

use crate::engine::http::Secret;
use crate::engine::workspace::SyncProgress;
use crate::ingest::item_prefix;
use crate::{CoreError, Result, Workspace};

/// How a source is reached, one variant per connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceSpec {
    Matrix(matrix::MatrixSpec),
    Imap(imap::ImapSpec),
    Jmap(jmap::JmapSpec),
    Webdav(dav::DavSpec),
    Caldav(dav::DavSpec),
    Folder(dav::FolderSpec),
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Matrix(_) => "matrix",
            SourceSpec::Imap(_) => "imap",
            SourceSpec::Jmap(_) => "jmap",
            SourceSpec::Webdav(_) => "webdav",
            SourceSpec::Caldav(_) => "caldav",
            SourceSpec::Folder(_) => "folder",
        }
    }

    /// Where the source is, for listings (never a secret).
    pub fn location(&self) -> String {
        match self {
            SourceSpec::Matrix(m) => format!("{} as {}", m.homeserver, m.user_id),
            SourceSpec::Imap(m) => format!("{} for {}", m.location(), m.owner),
            SourceSpec::Jmap(m) => format!("{} for {}", m.location(), m.owner),
            SourceSpec::Webdav(d) | SourceSpec::Caldav(d) => format!("{} for {}", d.location(), d.readers.join(", ")),
            SourceSpec::Folder(f) => format!("{} for {}", f.path, f.readers.join(", ")),
        }
    }
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
    /// How far the sync running now (in this process: `serve`) is.
    pub syncing: Option<SyncProgress>,
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
        syncing: None,
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
            SourceSpec::Jmap(m) => {
                let secret = match credentials {
                    Credentials::Password(s) | Credentials::Token(s) => s,
                };
                jmap::connect(&m, &secret).await?;
                (SourceSpec::Jmap(m), secret)
            }
            SourceSpec::Webdav(d) => {
                let (d, secret) = dav::connect(dav::Tree::WebDav, &d, credentials).await?;
                (SourceSpec::Webdav(d), secret)
            }
            SourceSpec::Caldav(d) => {
                let (d, secret) = dav::connect(dav::Tree::CalDav, &d, credentials).await?;
                (SourceSpec::Caldav(d), secret)
            }
            SourceSpec::Folder(f) => (SourceSpec::Folder(dav::connect_folder(&f)?), Secret::new("")),
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
        let mut list: Vec<SourceInfo> =
            self.store.sources().await?.into_iter().map(|r| info(r, now)).collect::<Result<_>>()?;
        let running = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        for s in &mut list {
            s.syncing = running.get(&s.name).cloned();
        }
        Ok(list)
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
        let track = |ev: Option<&SyncEvent<'_>>| {
            let mut running = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
            match ev {
                Some(ev) => running.entry(name.to_string()).or_default().apply(ev),
                None => drop(running.remove(name)),
            }
        };
        let mut progress = |ev: SyncEvent<'_>| {
            track(Some(&ev));
            progress(ev);
        };
        let result = match &spec {
            SourceSpec::Matrix(m) => matrix::sync(self, &row, m, &mut progress).await,
            SourceSpec::Imap(m) => imap::sync(self, &row, m, &mut progress).await,
            SourceSpec::Jmap(m) => jmap::sync(self, &row, m, &mut progress).await,
            SourceSpec::Webdav(d) => dav::sync(self, &row, dav::Tree::WebDav, d, &mut progress).await,
            SourceSpec::Caldav(d) => dav::sync(self, &row, dav::Tree::CalDav, d, &mut progress).await,
            SourceSpec::Folder(f) => dav::sync_folder(self, &row, f, &mut progress).await,
        };
        track(None);
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
                _ => None,
            };
            best = best.max(at);
        }
        Ok(best)
    }
}

/// Syncs every source, then waits `every`, forever (`twake-ai serve` runs
/// it in the background). A failing source is logged and recorded in its
/// health; the others go on. Each IMAP source is also watched with IDLE,
/// each JMAP source through its event source, each local folder by polling
/// ([`watch`]), so that what changes does not wait for the next round.
pub async fn keep_in_sync(ws: std::sync::Arc<Workspace>, every: std::time::Duration) {
    let mut watchers: std::collections::BTreeMap<String, tokio::task::JoinHandle<()>> = Default::default();
    loop {
        match ws.sources().await {
            Ok(list) => {
                for s in &list {
                    if matches!(s.kind, "imap" | "jmap" | "folder")
                        && watchers.get(&s.name).is_none_or(|w| w.is_finished())
                    {
                        watchers.insert(s.name.clone(), tokio::spawn(watch(ws.clone(), s.name.clone())));
                    }
                }
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

/// Follows a source whose server announces changes (an IMAP INBOX with
/// IDLE, a JMAP account's event source) or that can be looked at cheaply (a
/// local folder) and syncs it as soon as something changed; ends when the source is removed. A server without push, or
/// unreachable, is tried again later (30 s doubling up to 30 min); the
/// periodic sync goes on meanwhile.
pub async fn watch(ws: std::sync::Arc<Workspace>, name: String) {
    use std::time::Duration;
    let mut failures = 0u32;
    loop {
        let rows = match ws.store.sources().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(source = %name, "cannot read the sources: {e}");
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
        };
        let Some(row) = rows.into_iter().find(|r| r.name == name) else { return };
        let secret = Secret::new(row.secret.clone());
        let wait = Duration::from_secs(25 * 60);
        let changed = match serde_json::from_str::<SourceSpec>(&row.config) {
            Ok(SourceSpec::Imap(spec)) => imap::wait_for_change(&spec, &secret, &row.state, wait).await,
            Ok(SourceSpec::Jmap(spec)) => jmap::wait_for_change(&spec, &secret, &row.state, wait).await,
            Ok(SourceSpec::Folder(spec)) => dav::wait_for_folder_change(&spec, &row.state, wait).await,
            _ => return,
        };
        match changed {
            Ok(changed) => {
                failures = 0;
                if changed && let Err(e) = ws.sync_source(&name, &mut |_| {}).await {
                    tracing::warn!(source = %name, "sync failed: {e}");
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
            Err(e) => {
                failures += 1;
                tracing::info!(source = %name, "no push for now ({e}); the periodic sync goes on");
                tokio::time::sleep(Duration::from_secs((30u64 << failures.min(6)).min(1800))).await;
            }
        }
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
    fn progress_follows_the_events_of_a_sync() {
        let mut p = SyncProgress::default();
        for ev in [
            SyncEvent::Places { total: 3 },
            SyncEvent::PlaceDone { name: "INBOX", done: 1, total: 3, items: 4 },
            SyncEvent::Items { place: "Archives", done: 50, total: 120 },
            SyncEvent::Notice("skipped"),
        ] {
            p.apply(&ev);
        }
        let want = SyncProgress {
            places_done: 1,
            places_total: 3,
            place: Some("Archives".into()),
            items_done: 50,
            items_total: 120,
            stored: 4,
        };
        assert_eq!(p, want);
        p.apply(&SyncEvent::PlaceDone { name: "Archives", done: 2, total: 3, items: 124 });
        assert_eq!((p.places_done, p.place.as_deref(), p.items_total, p.stored), (2, None, 0, 124));
    }

    #[test]
    fn source_names_are_checked() {
        assert!(valid_name("chat-valmont") && !valid_name("Chat") && !valid_name("a/b") && !valid_name(""));
    }
}
