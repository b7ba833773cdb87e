//! SQLite store (through sqlx): the source of truth.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite};
use twake_types::{AccessPass, Directory, Document, Locator, Principal, Sensitivity, SourceKind, Tenant};

use crate::{IndexError, Result};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    readers TEXT NOT NULL,
    tenant TEXT NOT NULL DEFAULT 'default',
    format TEXT NOT NULL,
    ingested_at INTEGER NOT NULL,
    sensitivity TEXT
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    message_id TEXT,
    thread_id TEXT,
    author TEXT,
    date TEXT,
    body TEXT NOT NULL,
    tenant TEXT NOT NULL DEFAULT 'default',
    sensitivity TEXT NOT NULL DEFAULT 'secret',
    sensitivity_reasons TEXT NOT NULL DEFAULT '',
    recipients TEXT
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE INDEX IF NOT EXISTS documents_thread ON documents(thread_id);
CREATE TABLE IF NOT EXISTS doc_readers (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'readers',
    PRIMARY KEY (doc_id, principal, reason)
);
CREATE INDEX IF NOT EXISTS doc_readers_principal ON doc_readers(principal);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    locator TEXT NOT NULL,
    text TEXT NOT NULL,
    scale REAL NOT NULL,
    embedding BLOB NOT NULL,
    sensitivity TEXT NOT NULL DEFAULT 'secret'
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    principal TEXT NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    tokens_per_day INTEGER
);
-- Web UI sessions: the hash of a random id the cookie holds; one signed
-- in with an API key lives while its key does.
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    key_id INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    tenant TEXT NOT NULL,
    container TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (tenant, member, container)
);
CREATE INDEX IF NOT EXISTS memberships_container ON memberships(tenant, container);
CREATE TABLE IF NOT EXISTS tenant_domains (domain TEXT PRIMARY KEY, tenant TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (
    day INTEGER NOT NULL,
    principal TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (day, principal)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    user TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    config TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    last_attempt INTEGER,
    last_success INTEGER,
    last_error TEXT,
    errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    title TEXT NOT NULL,
    turns TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations (user, updated_at);
-- What people think of answers (the web UI's thumbs): one rating per user
-- and provenance record, +1 or -1, with an optional comment.
CREATE TABLE IF NOT EXISTS feedback (
    user TEXT NOT NULL,
    tenant TEXT NOT NULL,
    audit_id INTEGER NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    PRIMARY KEY (user, audit_id)
);
CREATE INDEX IF NOT EXISTS feedback_by_tenant ON feedback (tenant, at);
-- When each API key was last used (to the nearest few minutes).
CREATE TABLE IF NOT EXISTS key_use (
    key_id INTEGER PRIMARY KEY,
    last_used_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '4');
"#;

/// Version 3 stores did not keep a mail's recipients (To and Cc); mails
/// ingested before have none recorded (`NULL`: unknown) until ingested again.
const MIGRATE_3_TO_4: &str = r#"
ALTER TABLE documents ADD COLUMN recipients TEXT;
UPDATE meta SET value = '4' WHERE key = 'schema_version';
"#;

/// Version 2 stores did not keep a file's own default level (`ingest
/// --sensitivity`); it is recovered from the first reason of its documents'
/// labels (`default <level>`), so relabelling never forgets it.
const MIGRATE_2_TO_3: &str = r#"
ALTER TABLE files ADD COLUMN sensitivity TEXT;
UPDATE files SET sensitivity = (
    SELECT substr(d.sensitivity_reasons, 9, instr(d.sensitivity_reasons || char(10), char(10)) - 9)
    FROM documents d WHERE d.path = files.path AND d.sensitivity_reasons LIKE 'default %' LIMIT 1
);
UPDATE meta SET value = '3' WHERE key = 'schema_version';
"#;

/// Version 1 stores (before tenants and grant reasons) are upgraded in place.
const MIGRATE_1_TO_2: &str = r#"
ALTER TABLE files ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE documents ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE documents ADD COLUMN sensitivity TEXT NOT NULL DEFAULT 'secret';
ALTER TABLE documents ADD COLUMN sensitivity_reasons TEXT NOT NULL DEFAULT 'ingested before sensitivity labels: counted as secret until re-ingested';
ALTER TABLE chunks ADD COLUMN sensitivity TEXT NOT NULL DEFAULT 'secret';
ALTER TABLE api_keys ADD COLUMN tokens_per_day INTEGER;
CREATE TABLE doc_readers_v2 (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'readers',
    PRIMARY KEY (doc_id, principal, reason)
);
INSERT INTO doc_readers_v2 (doc_id, principal) SELECT doc_id, principal FROM doc_readers;
DROP TABLE doc_readers;
ALTER TABLE doc_readers_v2 RENAME TO doc_readers;
CREATE INDEX IF NOT EXISTS doc_readers_principal ON doc_readers(principal);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"#;

pub struct SqliteStore {
    pool: SqlitePool,
    path: String,
}

/// A connected source (a Matrix account, later IMAP, JMAP, WebDAV and
/// CalDAV): its configuration and secret as given, the connector's cursor
/// One rating of an answer (see the `feedback` table).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeedbackRow {
    pub user: String,
    pub tenant: String,
    pub audit_id: i64,
    pub rating: i64,
    pub comment: String,
    pub at: i64,
}

/// A conversation of the web UI, owned by one user (`turns`: JSON owned by
/// the engine). The `conversations` table is additive like `sources`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: i64,
    pub title: String,
    pub turns: String,
    pub updated_at: i64,
}

/// (`state`, JSON owned by the connector) and its health. The `sources`
/// table is additive: stores of schema 4 gain it at open.
#[derive(Clone, PartialEq)]
pub struct SourceRow {
    pub name: String,
    pub kind: String,
    pub tenant: Tenant,
    /// The connector's settings (JSON).
    pub config: String,
    /// A password or token; never printed (see `Debug`).
    pub secret: String,
    /// The connector's cursor (JSON), saved after each batch.
    pub state: String,
    pub health: SourceHealth,
}

impl std::fmt::Debug for SourceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRow")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("tenant", &self.tenant)
            .field("config", &self.config)
            .field("secret", &"***")
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// How a source's syncs went: Unix seconds of the last attempt and of the
/// last success, the last error (cleared by a success), the number of
/// failed syncs in a row, and the items it has indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceHealth {
    pub items: i64,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub errors: i64,
}

/// What is recorded about an ingested file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    /// The path as it was given to `ingest`.
    pub path: String,
    pub content_hash: String,
    /// The readers given for the whole file (`--readers`, an upload's owner).
    pub readers: Vec<Principal>,
    pub format: String,
    pub tenant: Tenant,
    /// The file's own default level (`ingest --sensitivity`); `None`: the
    /// configured default.
    pub sensitivity: Option<Sensitivity>,
}

/// New labels for one stored document and its chunks (by ordinal).
pub struct DocLabels {
    pub doc_id: i64,
    pub sensitivity: Sensitivity,
    pub reasons: Vec<String>,
    pub chunks: Vec<(u32, Sensitivity)>,
}

pub struct NewDocument {
    pub doc: Document,
    pub chunks: Vec<NewChunk>,
    /// Who may read this document, and why.
    pub grants: Vec<Grant>,
    /// The document's level (the highest of its chunks) and why.
    pub sensitivity: Sensitivity,
    pub sensitivity_reasons: Vec<String>,
}

/// One reader of a document and the rule that made it one: `readers` (the
/// file's readers), or a mail role (`from`, `to`, `cc`, `bcc`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub principal: Principal,
    pub reason: String,
}

/// A document with who may read it, for access reports and explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocAccess {
    pub doc_id: i64,
    pub path: String,
    pub kind: String,
    pub title: String,
    pub tenant: String,
    pub grants: Vec<Grant>,
    pub sensitivity: Sensitivity,
    pub sensitivity_reasons: Vec<String>,
}

/// One membership edge: `member` belongs to `container` in `tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant: String,
    pub container: String,
    pub member: String,
}

pub struct NewChunk {
    pub ordinal: u32,
    pub locator: Locator,
    pub text: String,
    /// Int8-quantised unit vector and its scale (see [`crate::quantize`]).
    pub scale: f32,
    pub embedding: Vec<i8>,
    pub sensitivity: Sensitivity,
}

/// A chunk with what a result or a citation shows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkView {
    pub chunk_id: i64,
    pub doc_id: i64,
    pub path: String,
    pub kind: SourceKind,
    pub title: String,
    pub message_id: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub locator: Locator,
    pub text: String,
    pub sensitivity: Sensitivity,
}

/// A whole document as stored (its text is the body before chunking).
#[derive(Debug, Clone, PartialEq)]
pub struct DocView {
    pub doc_id: i64,
    pub path: String,
    pub kind: SourceKind,
    pub title: String,
    pub message_id: Option<String>,
    pub thread_id: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub body: String,
    /// A mail's To and Cc addresses, lower case; `None` for other documents
    /// and for mails ingested before recipients were kept.
    pub recipients: Option<Vec<String>>,
}

/// A stored vector with what the vector index needs to filter it.
pub struct StoredVector {
    pub chunk_id: i64,
    pub doc_id: i64,
    pub tenant: String,
    pub readers: Vec<String>,
    pub scale: f32,
    pub embedding: Vec<i8>,
}

fn db_err(path: &str) -> impl Fn(sqlx::Error) -> IndexError + '_ {
    move |source| IndexError::Database { path: path.to_string(), source }
}

impl SqliteStore {
    pub async fn open(file: &Path) -> Result<Self> {
        let path = file.display().to_string();
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(db_err(&path))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(db_err(&path))?;
        let version: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema_version'")
            .fetch_optional(&pool)
            .await
            .unwrap_or(None);
        let steps: &[&str] = match version.as_deref() {
            Some("1") => &[MIGRATE_1_TO_2, MIGRATE_2_TO_3, MIGRATE_3_TO_4],
            Some("2") => &[MIGRATE_2_TO_3, MIGRATE_3_TO_4],
            Some("3") => &[MIGRATE_3_TO_4],
            _ => &[],
        };
        for step in steps {
            let mut tx = pool.begin().await.map_err(db_err(&path))?;
            sqlx::raw_sql(step).execute(&mut *tx).await.map_err(db_err(&path))?;
            tx.commit().await.map_err(db_err(&path))?;
        }
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(db_err(&path))?;
        sqlx::raw_sql("CREATE INDEX IF NOT EXISTS documents_tenant ON documents(tenant);")
            .execute(&pool)
            .await
            .map_err(db_err(&path))?;
        Ok(SqliteStore { pool, path })
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> IndexError + '_ {
        db_err(&self.path)
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Adds a source; an error if one of that name exists.
    pub async fn source_add(&self, row: &SourceRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO sources (name, kind, tenant, config, secret, state) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.name)
        .bind(&row.kind)
        .bind(row.tenant.as_str())
        .bind(&row.config)
        .bind(&row.secret)
        .bind(&row.state)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn sources(&self) -> Result<Vec<SourceRow>> {
        let rows = sqlx::query(
            "SELECT name, kind, tenant, config, secret, state, items, last_attempt, last_success, last_error, errors FROM sources ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| SourceRow {
                name: r.get(0),
                kind: r.get(1),
                tenant: Tenant::parse(r.get::<&str, _>(2)).unwrap_or_else(|_| Tenant::default_tenant()),
                config: r.get(3),
                secret: r.get(4),
                state: r.get(5),
                health: SourceHealth {
                    items: r.get(6),
                    last_attempt: r.get(7),
                    last_success: r.get(8),
                    last_error: r.get(9),
                    errors: r.get(10),
                },
            })
            .collect())
    }

    /// Forgets a source (not its documents); false when there was none.
    pub async fn source_remove(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sources WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(done.rows_affected() == 1)
    }

    /// Saves a connector's cursor after a batch.
    pub async fn source_save_state(&self, name: &str, state: &str, items: i64) -> Result<()> {
        sqlx::query("UPDATE sources SET state = ?, items = ? WHERE name = ?")
            .bind(state)
            .bind(items)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(())
    }

    /// Records the end of a sync at `now` (Unix seconds): a success clears
    /// the error count, a failure keeps the last success and counts up.
    pub async fn source_record(&self, name: &str, now: i64, error: Option<&str>) -> Result<()> {
        let sql = match error {
            None => {
                "UPDATE sources SET last_attempt = ?, last_success = ?, last_error = NULL, errors = 0 WHERE name = ?"
            }
            Some(_) => "UPDATE sources SET last_attempt = ?, last_error = ?, errors = errors + 1 WHERE name = ?",
        };
        let q = sqlx::query(sql).bind(now);
        let q = match error {
            None => q.bind(now),
            Some(e) => q.bind(e),
        };
        q.bind(name).execute(&self.pool).await.map_err(self.err())?;
        Ok(())
    }

    /// Creates (`id` None) or replaces a conversation of `user`; `None`
    /// when `id` names no conversation of theirs.
    pub async fn conversation_save(
        &self,
        user: &str,
        id: Option<i64>,
        title: &str,
        turns: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        match id {
            None => {
                let done =
                    sqlx::query("INSERT INTO conversations (user, title, turns, updated_at) VALUES (?, ?, ?, ?)")
                        .bind(user)
                        .bind(title)
                        .bind(turns)
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(self.err())?;
                Ok(Some(done.last_insert_rowid()))
            }
            Some(id) => {
                let done = sqlx::query(
                    "UPDATE conversations SET title = ?, turns = ?, updated_at = ? WHERE id = ? AND user = ?",
                )
                .bind(title)
                .bind(turns)
                .bind(now)
                .bind(id)
                .bind(user)
                .execute(&self.pool)
                .await
                .map_err(self.err())?;
                Ok((done.rows_affected() == 1).then_some(id))
            }
        }
    }

    /// A user's conversations, latest first, without their turns.
    pub async fn conversations(&self, user: &str, limit: i64) -> Result<Vec<ConversationRow>> {
        let rows = sqlx::query(
            "SELECT id, title, updated_at FROM conversations WHERE user = ? ORDER BY updated_at DESC, id DESC LIMIT ?",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| ConversationRow { id: r.get(0), title: r.get(1), turns: String::new(), updated_at: r.get(2) })
            .collect())
    }

    /// One conversation of `user`.
    pub async fn conversation(&self, user: &str, id: i64) -> Result<Option<ConversationRow>> {
        let row = sqlx::query("SELECT id, title, turns, updated_at FROM conversations WHERE id = ? AND user = ?")
            .bind(id)
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row.map(|r| ConversationRow { id: r.get(0), title: r.get(1), turns: r.get(2), updated_at: r.get(3) }))
    }

    /// Deletes a conversation of `user`; false when there was none.
    pub async fn conversation_delete(&self, user: &str, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM conversations WHERE id = ? AND user = ?")
            .bind(id)
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(done.rows_affected() == 1)
    }

    /// The ingested files whose path starts with `prefix` (a source's items).
    pub async fn files_under(&self, prefix: &str) -> Result<Vec<String>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT path FROM files WHERE substr(path, 1, length(?)) = ? ORDER BY path")
                .bind(prefix)
                .bind(prefix)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(rows)
    }

    pub async fn count_under(&self, prefix: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE substr(path, 1, length(?)) = ?")
            .bind(prefix)
            .bind(prefix)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())
    }

    pub async fn file(&self, path: &str) -> Result<Option<FileRecord>> {
        let row =
            sqlx::query("SELECT path, content_hash, readers, format, tenant, sensitivity FROM files WHERE path = ?")
                .bind(path)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(row.map(|r| file_record(&r)))
    }

    pub async fn files(&self) -> Result<Vec<FileRecord>> {
        let rows =
            sqlx::query("SELECT path, content_hash, readers, format, tenant, sensitivity FROM files ORDER BY path")
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(rows.iter().map(file_record).collect())
    }

    /// Replaces everything known about one file in one transaction. Returns
    /// the ids of the documents removed and of the documents added, and
    /// the store generation this change made.
    pub async fn replace_file(&self, file: &FileRecord, docs: &[NewDocument]) -> Result<(Vec<i64>, Vec<i64>, i64)> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let removed: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE path = ?")
            .bind(&file.path)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query("DELETE FROM files WHERE path = ?").bind(&file.path).execute(&mut *tx).await.map_err(self.err())?;
        let readers = file.readers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",");
        sqlx::query("INSERT INTO files (path, content_hash, readers, format, tenant, ingested_at, sensitivity) VALUES (?, ?, ?, ?, ?, strftime('%s','now'), ?)")
            .bind(&file.path)
            .bind(&file.content_hash)
            .bind(&readers)
            .bind(&file.format)
            .bind(file.tenant.as_str())
            .bind(file.sensitivity.map(|s| s.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        let mut added = Vec::with_capacity(docs.len());
        for nd in docs {
            let d = &nd.doc;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO documents (path, key, kind, title, message_id, thread_id, author, date, body, tenant, sensitivity, sensitivity_reasons, recipients) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&file.path)
            .bind(&d.key)
            .bind(d.kind.as_str())
            .bind(&d.title)
            .bind(&d.message_id)
            .bind(&d.thread_id)
            .bind(&d.author)
            .bind(&d.date)
            .bind(&d.body)
            .bind(file.tenant.as_str())
            .bind(nd.sensitivity.as_str())
            .bind(nd.sensitivity_reasons.join("\n"))
            .bind(recipients(d))
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err())?;
            for g in &nd.grants {
                sqlx::query("INSERT OR IGNORE INTO doc_readers (doc_id, principal, reason) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(g.principal.as_str())
                    .bind(&g.reason)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
            for c in &nd.chunks {
                let bytes: Vec<u8> = c.embedding.iter().map(|&x| x as u8).collect();
                sqlx::query(
                    "INSERT INTO chunks (doc_id, ordinal, locator, text, scale, embedding, sensitivity) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(c.ordinal as i64)
                .bind(c.locator.encode())
                .bind(&c.text)
                .bind(c.scale)
                .bind(bytes)
                .bind(c.sensitivity.as_str())
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            }
            added.push(id);
        }
        let generation = self.bump(&mut tx).await?;
        tx.commit().await.map_err(self.err())?;
        Ok((removed, added, generation))
    }

    /// Counts, in the transaction that makes it, a change to what the
    /// derived indexes hold (chunks, their documents' readers); returns the
    /// new generation. Another process's writes show as a generation its
    /// derived indexes have not seen.
    async fn bump(&self, tx: &mut sqlx::SqliteConnection) -> Result<i64> {
        let g: String = sqlx::query_scalar(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') \
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err())?;
        Ok(g.parse().unwrap_or(0))
    }

    /// The generation of the chunks and readers (0 before the first write).
    pub async fn generation(&self) -> Result<i64> {
        Ok(self.meta("generation").await?.and_then(|g| g.parse().ok()).unwrap_or(0))
    }

    /// Forgets a file; returns the ids of its documents and the generation.
    pub async fn remove_file(&self, path: &str) -> Result<(Vec<i64>, i64)> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let removed: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE path = ?")
            .bind(path)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query("DELETE FROM files WHERE path = ?").bind(path).execute(&mut *tx).await.map_err(self.err())?;
        let generation = self.bump(&mut tx).await?;
        tx.commit().await.map_err(self.err())?;
        Ok((removed, generation))
    }

    /// Chunks of the given documents (all when `None`) that the pass may
    /// read, with their readers and their index text (title + text), for
    /// the derived indexes.
    pub async fn chunks_of_docs(
        &self,
        doc_ids: Option<&[i64]>,
        pass: &AccessPass,
    ) -> Result<Vec<(StoredVector, String)>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT c.id, c.doc_id, c.scale, c.embedding, c.text, d.title, (SELECT group_concat(DISTINCT principal) FROM doc_readers r WHERE r.doc_id = c.doc_id) AS readers, d.tenant FROM chunks c JOIN documents d ON d.id = c.doc_id",
        );
        qb.push(" WHERE 1 = 1");
        if let Some(ids) = doc_ids {
            if ids.is_empty() {
                return Ok(vec![]);
            }
            qb.push(" AND c.doc_id IN (");
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(")");
        }
        push_access_filter(&mut qb, pass, "c.doc_id");
        qb.push(" ORDER BY c.id");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| {
                let bytes: Vec<u8> = r.get(3);
                let readers: Option<String> = r.get(6);
                let title: String = r.get(5);
                let text: String = r.get(4);
                (
                    StoredVector {
                        chunk_id: r.get(0),
                        doc_id: r.get(1),
                        tenant: r.get(7),
                        readers: readers
                            .unwrap_or_default()
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                        scale: r.get(2),
                        embedding: bytes.into_iter().map(|b| b as i8).collect(),
                    },
                    format!("{title}\n{text}"),
                )
            })
            .collect())
    }

    /// The chunks with these ids that the pass may read, in the given order.
    /// The access check is repeated here: a chunk id alone never opens a
    /// chunk.
    pub async fn chunks(&self, ids: &[i64], pass: &AccessPass) -> Result<Vec<ChunkView>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT c.id, c.doc_id, d.path, d.kind, d.title, d.message_id, d.author, d.date, c.locator, c.text, c.sensitivity FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        qb.push(")");
        push_access_filter(&mut qb, pass, "c.doc_id");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        let mut by_id: HashMap<i64, ChunkView> = rows
            .iter()
            .map(|r| {
                let v = ChunkView {
                    chunk_id: r.get(0),
                    doc_id: r.get(1),
                    path: r.get(2),
                    kind: SourceKind::parse(r.get::<&str, _>(3)).unwrap_or(SourceKind::Document),
                    title: r.get(4),
                    message_id: r.get(5),
                    author: r.get(6),
                    date: r.get(7),
                    locator: Locator::decode(r.get::<&str, _>(8)).unwrap_or(Locator::Message),
                    text: r.get(9),
                    sensitivity: Sensitivity::parse_or_secret(r.get::<&str, _>(10)),
                };
                (v.chunk_id, v)
            })
            .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The documents of an ingested file that the pass may read, in
    /// ingestion order, with their full text.
    pub async fn readable_file_documents(&self, path: &str, pass: &AccessPass) -> Result<Vec<DocView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.path = ",
        );
        qb.push_bind(path.to_string());
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.id");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().map(doc_view).collect())
    }

    /// The mails the pass may read dated on or after `since` (an RFC 3339
    /// prefix such as `2026-11-20`), oldest first, at most `limit`.
    pub async fn recent_mail(&self, since: &str, pass: &AccessPass, limit: i64) -> Result<Vec<DocView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.kind = 'mail' AND d.date >= ",
        );
        qb.push_bind(since.to_string());
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.date, d.id LIMIT ");
        qb.push_bind(limit);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().map(doc_view).collect())
    }

    /// The documents of one kind (`chat`, `transcript`…) that the pass may
    /// read, dated after `after` (RFC 3339) or, with `undated`, without a
    /// date: the latest `limit`, oldest first.
    pub async fn kind_documents(
        &self,
        kind: SourceKind,
        after: &str,
        undated: bool,
        pass: &AccessPass,
        limit: i64,
    ) -> Result<Vec<DocView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.kind = ",
        );
        qb.push_bind(kind.as_str());
        qb.push(" AND (d.date > ");
        qb.push_bind(after.to_string());
        qb.push(if undated { " OR d.date IS NULL)" } else { ")" });
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.date DESC, d.id DESC LIMIT ");
        qb.push_bind(limit);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().rev().map(doc_view).collect())
    }

    /// The distinct titles of the documents of a kind that the pass may
    /// read (a chat room's name is its messages' title).
    pub async fn readable_titles(&self, kind: SourceKind, pass: &AccessPass) -> Result<Vec<String>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT DISTINCT d.title FROM documents d WHERE d.kind = ");
        qb.push_bind(kind.as_str());
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.title");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The chat messages of a room (named by its title or its ID, as in an
    /// item path `…/ROOM/EVENT`) sent after `after` (RFC 3339) that the
    /// pass may read: the latest `limit`, oldest first.
    pub async fn room_documents(&self, room: &str, after: &str, pass: &AccessPass, limit: i64) -> Result<Vec<DocView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.kind = 'chat' AND (lower(d.title) = lower(",
        );
        qb.push_bind(room.to_string());
        qb.push(") OR instr(d.path, ");
        qb.push_bind(format!("/{room}/"));
        qb.push(") > 0) AND d.date > ");
        qb.push_bind(after.to_string());
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.date DESC, d.id DESC LIMIT ");
        qb.push_bind(limit);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().rev().map(doc_view).collect())
    }

    /// The messages of the thread of `message_id` that the pass may read,
    /// oldest first; empty when the pass may not read that message.
    pub async fn thread_documents(&self, message_id: &str, pass: &AccessPass) -> Result<Vec<DocView>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT d.thread_id FROM documents d WHERE d.thread_id IS NOT NULL AND d.message_id = ");
        qb.push_bind(message_id.to_string());
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" LIMIT 1");
        let Some(row) = qb.build().fetch_optional(&self.pool).await.map_err(self.err())? else { return Ok(vec![]) };
        let thread: String = row.get(0);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.thread_id = ",
        );
        qb.push_bind(thread);
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.date, d.id");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().map(doc_view).collect())
    }

    /// One document the pass may read, with its full text; `None` when it
    /// does not exist or the pass may not read it.
    pub async fn readable_document(&self, doc_id: i64, pass: &AccessPass) -> Result<Option<DocView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE d.id = ",
        );
        qb.push_bind(doc_id);
        push_access_filter(&mut qb, pass, "d.id");
        let row = qb.build().fetch_optional(&self.pool).await.map_err(self.err())?;
        Ok(row.as_ref().map(doc_view))
    }

    /// The documents the pass may read whose path starts with `prefix` (a
    /// chat room's items) next to `doc` by date: up to `n` before it and
    /// `n` after it, oldest first, `doc` itself excluded.
    pub async fn neighbours(&self, doc: &DocView, prefix: &str, n: i64, pass: &AccessPass) -> Result<Vec<DocView>> {
        let date = doc.date.clone().unwrap_or_default();
        let mut out = Vec::new();
        for (cmp, order) in [("<", "DESC"), (">", "ASC")] {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT d.id, d.path, d.kind, d.title, d.message_id, d.thread_id, d.author, d.date, d.body, d.recipients FROM documents d WHERE substr(d.path, 1, ",
            );
            qb.push_bind(prefix.chars().count() as i64);
            qb.push(") = ");
            qb.push_bind(prefix.to_string());
            qb.push(format!(" AND (coalesce(d.date, '') {cmp} "));
            qb.push_bind(date.clone());
            qb.push(" OR (coalesce(d.date, '') = ");
            qb.push_bind(date.clone());
            qb.push(format!(" AND d.id {cmp} "));
            qb.push_bind(doc.doc_id);
            qb.push("))");
            push_access_filter(&mut qb, pass, "d.id");
            qb.push(format!(" ORDER BY d.date {order}, d.id {order} LIMIT "));
            qb.push_bind(n);
            let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
            let mut side: Vec<DocView> = rows.iter().map(doc_view).collect();
            if order == "DESC" {
                side.reverse();
            }
            out.extend(side);
        }
        Ok(out)
    }

    /// A document's chunks that the pass may read, in order.
    pub async fn doc_chunks(&self, doc_id: i64, pass: &AccessPass) -> Result<Vec<ChunkView>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM chunks WHERE doc_id = ? ORDER BY ordinal")
            .bind(doc_id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        self.chunks(&ids, pass).await
    }

    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        let r = sqlx::query(
            "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }
}

/// A file as listed to a user: what they can read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    pub path: String,
    pub format: String,
    /// Readable documents in the file (messages of an mbox, or one).
    pub documents: i64,
    pub title: String,
    pub ingested_at: i64,
}

/// An API key as listed (its secret is never stored, only a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub principal: String,
    pub label: String,
    pub created_at: i64,
    pub revoked: bool,
    /// Unix seconds of its last use (to the nearest few minutes), if any.
    pub last_used_at: Option<i64>,
}

impl SqliteStore {
    pub async fn insert_key(
        &self,
        principal: &str,
        label: &str,
        hash: &str,
        tokens_per_day: Option<u64>,
    ) -> Result<i64> {
        sqlx::query_scalar("INSERT INTO api_keys (principal, label, hash, created_at, tokens_per_day) VALUES (?, ?, ?, strftime('%s','now'), ?) RETURNING id")
            .bind(principal)
            .bind(label)
            .bind(hash)
            .bind(tokens_per_day.map(|t| t as i64))
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())
    }

    /// Notes that key `id` was used at `at` (Unix seconds).
    pub async fn key_used(&self, id: i64, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO key_use (key_id, last_used_at) VALUES (?, ?) \
             ON CONFLICT(key_id) DO UPDATE SET last_used_at = max(last_used_at, excluded.last_used_at)",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Records a rating (replacing the user's earlier one of that record).
    pub async fn feedback_set(&self, row: &FeedbackRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO feedback (user, tenant, audit_id, rating, comment, at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT(user, audit_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, at = excluded.at",
        )
        .bind(&row.user)
        .bind(&row.tenant)
        .bind(row.audit_id)
        .bind(row.rating)
        .bind(&row.comment)
        .bind(row.at)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// The ratings of one tenant (all with `None`): how many up and down,
    /// and the latest `limit`, newest first.
    pub async fn feedback_report(&self, tenant: Option<&str>, limit: i64) -> Result<(i64, i64, Vec<FeedbackRow>)> {
        let (up, down): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(rating > 0), 0), COALESCE(SUM(rating < 0), 0) FROM feedback WHERE ?1 IS NULL OR tenant = ?1",
        )
        .bind(tenant)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        let rows = sqlx::query(
            "SELECT user, tenant, audit_id, rating, comment, at FROM feedback WHERE ?1 IS NULL OR tenant = ?1 \
             ORDER BY at DESC, audit_id DESC LIMIT ?2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let rows = rows
            .iter()
            .map(|r| FeedbackRow {
                user: r.get(0),
                tenant: r.get(1),
                audit_id: r.get(2),
                rating: r.get(3),
                comment: r.get(4),
                at: r.get(5),
            })
            .collect();
        Ok((up, down, rows))
    }

    /// The principal, id and daily token limit of a live (not revoked) key
    /// with this hash.
    pub async fn key_principal(&self, hash: &str) -> Result<Option<(String, i64, Option<u64>)>> {
        let row =
            sqlx::query("SELECT principal, id, tokens_per_day FROM api_keys WHERE hash = ? AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get::<Option<i64>, _>(2).map(|t| t.max(0) as u64))))
    }

    /// Records a web UI session (`hash` of its id) until `expires_at`
    /// (Unix seconds); expired ones are removed on the way.
    pub async fn insert_session(
        &self,
        hash: &str,
        principal: &str,
        key_id: Option<i64>,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= strftime('%s','now')")
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        sqlx::query(
            "INSERT INTO sessions (hash, principal, key_id, created_at, expires_at) VALUES (?, ?, ?, strftime('%s','now'), ?)",
        )
        .bind(hash)
        .bind(principal)
        .bind(key_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// The principal of a live session, with its key's id and daily limit
    /// when it was opened with a key: expired sessions and those whose key
    /// was revoked are not live.
    #[allow(clippy::type_complexity)]
    pub async fn session(&self, hash: &str) -> Result<Option<(String, Option<(i64, Option<u64>)>)>> {
        let row = sqlx::query(
            "SELECT s.principal, s.key_id, k.tokens_per_day, k.id IS NOT NULL AND k.revoked_at IS NULL \
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.key_id \
             WHERE s.hash = ? AND s.expires_at > strftime('%s','now')",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(row.and_then(|r| {
            let key: Option<i64> = r.get(1);
            let live_key: bool = r.get(3);
            match key {
                Some(id) if live_key => {
                    Some((r.get(0), Some((id, r.get::<Option<i64>, _>(2).map(|t| t.max(0) as u64)))))
                }
                Some(_) => None,
                None => Some((r.get(0), None)),
            }
        }))
    }

    /// Ends a session; false when there was none.
    pub async fn delete_session(&self, hash: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    /// Revokes a key; false when no live key has this id.
    pub async fn revoke_key(&self, id: i64) -> Result<bool> {
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = strftime('%s','now') WHERE id = ? AND revoked_at IS NULL")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(
            "SELECT k.id, k.principal, k.label, k.created_at, k.revoked_at IS NOT NULL, u.last_used_at \
             FROM api_keys k LEFT JOIN key_use u ON u.key_id = k.id ORDER BY k.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| ApiKeyRecord {
                id: r.get(0),
                principal: r.get(1),
                label: r.get(2),
                created_at: r.get(3),
                revoked: r.get(4),
                last_used_at: r.get(5),
            })
            .collect())
    }

    /// The files the pass may read something of, with their readable
    /// documents counted.
    pub async fn readable_files(&self, pass: &AccessPass) -> Result<Vec<FileView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT f.path, f.format, count(c.doc_id), min(c.title), f.ingested_at FROM files f JOIN (SELECT d.id AS doc_id, d.path, d.title FROM documents d) c ON c.path = f.path WHERE 1 = 1",
        );
        push_access_filter(&mut qb, pass, "c.doc_id");
        qb.push(" GROUP BY f.path ORDER BY f.path");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| FileView {
                path: r.get(0),
                format: r.get(1),
                documents: r.get(2),
                title: r.get(3),
                ingested_at: r.get(4),
            })
            .collect())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(self.err())?;
        Ok(())
    }

    /// Replaces one chunk's vector (a repair: the text and access stay).
    pub async fn set_chunk_vector(&self, chunk_id: i64, scale: f32, embedding: &[i8]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let bytes: Vec<u8> = embedding.iter().map(|&x| x as u8).collect();
        sqlx::query("UPDATE chunks SET scale = ?, embedding = ? WHERE id = ?")
            .bind(scale)
            .bind(bytes)
            .bind(chunk_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(self.err())?;
        Ok(())
    }

    /// The text a chunk's vector is computed from (title and text).
    pub async fn chunk_index_text(&self, chunk_id: i64) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT d.title, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?")
                .bind(chunk_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(row.map(|r| format!("{}\n{}", r.get::<String, _>(0), r.get::<String, _>(1))))
    }

    /// What SQLite's own check finds wrong with the database file (empty
    /// when it is sound), and every chunk (id, file path) whose stored
    /// vector is not of `dim` bytes.
    pub async fn check(&self, dim: usize) -> Result<(Vec<String>, Vec<(i64, String)>)> {
        let problems: Vec<String> =
            sqlx::query_scalar("PRAGMA quick_check").fetch_all(&self.pool).await.map_err(self.err())?;
        let problems = problems.into_iter().filter(|p| p != "ok").collect();
        let bad = sqlx::query(
            "SELECT c.id, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE length(c.embedding) != ? ORDER BY c.id",
        )
        .bind(dim as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok((problems, bad.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }
}

/// `AND <the document is in the pass's tenant and has one of its principals as reader>`.
fn push_access_filter(qb: &mut QueryBuilder<'_, Sqlite>, pass: &AccessPass, doc_id: &str) {
    if let (Some(principals), Some(tenant)) = (pass.principals(), pass.tenant()) {
        qb.push(format!(
            " AND EXISTS (SELECT 1 FROM doc_readers r JOIN documents ad ON ad.id = r.doc_id WHERE r.doc_id = {doc_id} AND ad.tenant = "
        ));
        qb.push_bind(tenant.as_str().to_string());
        qb.push(" AND r.principal IN (");
        let mut sep = qb.separated(", ");
        for p in principals {
            sep.push_bind(p.as_str().to_string());
        }
        qb.push("))");
    } else if pass.system_reason().is_none() {
        // Unreachable with today's passes; fail closed if one ever appears.
        qb.push(" AND 0");
    }
}

/// A mail's To and Cc addresses, one a line, lower case (`None` for other
/// documents).
fn recipients(d: &twake_types::Document) -> Option<String> {
    (d.kind == SourceKind::Mail).then(|| {
        d.participants
            .iter()
            .filter(|p| matches!(p.role, twake_types::Role::To | twake_types::Role::Cc))
            .map(|p| p.address.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn doc_view(r: &sqlx::sqlite::SqliteRow) -> DocView {
    DocView {
        doc_id: r.get(0),
        path: r.get(1),
        kind: SourceKind::parse(r.get::<&str, _>(2)).unwrap_or(SourceKind::Document),
        title: r.get(3),
        message_id: r.get(4),
        thread_id: r.get(5),
        author: r.get(6),
        date: r.get(7),
        body: r.get(8),
        recipients: r
            .get::<Option<String>, _>(9)
            .map(|s| s.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()),
    }
}

fn file_record(r: &sqlx::sqlite::SqliteRow) -> FileRecord {
    let readers: String = r.get(2);
    FileRecord {
        path: r.get(0),
        content_hash: r.get(1),
        readers: readers.split(',').filter_map(|p| Principal::parse(p).ok()).collect(),
        format: r.get(3),
        tenant: Tenant::parse(r.get::<&str, _>(4)).unwrap_or_default(),
        // A level that cannot be read counts as secret (fail closed).
        sensitivity: r.get::<Option<&str>, _>(5).map(Sensitivity::parse_or_secret),
    }
}

/// Access administration: the directory (tenants, memberships) and the
/// readers of documents.
impl SqliteStore {
    /// The directory as one user's pass needs it: every tenant domain, and
    /// the membership edges reachable from the user in their tenant (a
    /// recursive query, so a large directory is never loaded whole).
    pub async fn directory_for(&self, user: &Principal) -> Result<Directory> {
        let mut dir = Directory::default();
        let domains =
            sqlx::query("SELECT domain, tenant FROM tenant_domains").fetch_all(&self.pool).await.map_err(self.err())?;
        for r in &domains {
            if let Ok(t) = Tenant::parse(r.get::<&str, _>(1)) {
                dir.add_domain(r.get::<&str, _>(0), t);
            }
        }
        let tenant = dir.tenant_of(user);
        let rows = sqlx::query(
            "WITH RECURSIVE up(p) AS (SELECT ?1 UNION SELECT m.container FROM memberships m JOIN up ON m.member = up.p WHERE m.tenant = ?2) \
             SELECT m.container, m.member FROM memberships m JOIN up ON m.member = up.p WHERE m.tenant = ?2",
        )
        .bind(user.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        for r in &rows {
            if let (Ok(c), Ok(m)) = (Principal::parse(r.get::<&str, _>(0)), Principal::parse(r.get::<&str, _>(1))) {
                dir.add_membership(&tenant, c, m);
            }
        }
        Ok(dir)
    }

    /// Adds `member` to `container`; false when it was already there.
    pub async fn add_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        let r = sqlx::query("INSERT OR IGNORE INTO memberships (tenant, container, member) VALUES (?, ?, ?)")
            .bind(tenant.as_str())
            .bind(container.as_str())
            .bind(member.as_str())
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes `member` from `container`; false when it was not there.
    pub async fn remove_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        let r = sqlx::query("DELETE FROM memberships WHERE tenant = ? AND container = ? AND member = ?")
            .bind(tenant.as_str())
            .bind(container.as_str())
            .bind(member.as_str())
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(r.rows_affected() == 1)
    }

    /// Every membership edge, by tenant, container and member.
    pub async fn memberships(&self) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT tenant, container, member FROM memberships ORDER BY tenant, container, member")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| Membership { tenant: r.get(0), container: r.get(1), member: r.get(2) }).collect())
    }

    /// The direct members of one container of a tenant.
    pub async fn members_of(&self, tenant: &Tenant, container: &Principal) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT member FROM memberships WHERE tenant = ? AND container = ? ORDER BY member")
            .bind(tenant.as_str())
            .bind(container.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Users of `domain` belong to `tenant` from now on.
    pub async fn set_tenant_domain(&self, domain: &str, tenant: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_domains (domain, tenant) VALUES (?, ?) ON CONFLICT(domain) DO UPDATE SET tenant = excluded.tenant",
        )
        .bind(domain.to_lowercase())
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    pub async fn tenant_domains(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT domain, tenant FROM tenant_domains ORDER BY tenant, domain")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Rewrites the labels of an ingested file's documents and chunks, and
    /// its own default level, in one transaction. `Ok(false)` (and nothing
    /// written) when the file, a document or a chunk is not as given: the
    /// stored content differs from what was labelled.
    pub async fn set_labels(&self, path: &str, default: Option<Sensitivity>, docs: &[DocLabels]) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let updated = sqlx::query("UPDATE files SET sensitivity = ? WHERE path = ?")
            .bind(default.map(|s| s.as_str()))
            .bind(path)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        for d in docs {
            let doc =
                sqlx::query("UPDATE documents SET sensitivity = ?, sensitivity_reasons = ? WHERE id = ? AND path = ?")
                    .bind(d.sensitivity.as_str())
                    .bind(d.reasons.join("\n"))
                    .bind(d.doc_id)
                    .bind(path)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks WHERE doc_id = ?")
                .bind(d.doc_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err())?;
            if doc.rows_affected() != 1 || stored != d.chunks.len() as i64 {
                return Ok(false);
            }
            for (ordinal, level) in &d.chunks {
                let c = sqlx::query("UPDATE chunks SET sensitivity = ? WHERE doc_id = ? AND ordinal = ?")
                    .bind(level.as_str())
                    .bind(d.doc_id)
                    .bind(*ordinal as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
                if c.rows_affected() != 1 {
                    return Ok(false);
                }
            }
        }
        tx.commit().await.map_err(self.err())?;
        Ok(true)
    }

    /// Replaces the file-level readers of an ingested file (grants with
    /// reason `readers`); grants from mail roles stay. Returns the file's
    /// document ids and the generation, or `None` when no such file was
    /// ingested.
    pub async fn set_file_readers(&self, path: &str, readers: &[Principal]) -> Result<Option<(Vec<i64>, i64)>> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let joined = readers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",");
        let r = sqlx::query("UPDATE files SET readers = ? WHERE path = ?")
            .bind(&joined)
            .bind(path)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let docs: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE path = ? ORDER BY id")
            .bind(path)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        for id in &docs {
            sqlx::query("DELETE FROM doc_readers WHERE doc_id = ? AND reason = 'readers'")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            for p in readers {
                sqlx::query("INSERT OR IGNORE INTO doc_readers (doc_id, principal, reason) VALUES (?, ?, 'readers')")
                    .bind(id)
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
        }
        let generation = self.bump(&mut tx).await?;
        tx.commit().await.map_err(self.err())?;
        Ok(Some((docs, generation)))
    }

    /// The documents the pass may read, with every grant (not only the
    /// ones that match the pass), ordered by path.
    pub async fn readable_documents(&self, pass: &AccessPass) -> Result<Vec<DocAccess>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT d.id, d.path, d.kind, d.title, d.tenant, (SELECT group_concat(principal || ' ' || reason, ',') FROM doc_readers g WHERE g.doc_id = d.id), d.sensitivity, d.sensitivity_reasons FROM documents d WHERE 1 = 1",
        );
        push_access_filter(&mut qb, pass, "d.id");
        qb.push(" ORDER BY d.path, d.id");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        Ok(rows.iter().map(doc_access).collect())
    }

    /// The documents of one file with all their grants (no access filter:
    /// for administrators' explanations).
    pub async fn file_documents(&self, path: &str) -> Result<Vec<DocAccess>> {
        let rows = sqlx::query(
            "SELECT d.id, d.path, d.kind, d.title, d.tenant, (SELECT group_concat(principal || ' ' || reason, ',') FROM doc_readers g WHERE g.doc_id = d.id), d.sensitivity, d.sensitivity_reasons FROM documents d WHERE d.path = ? ORDER BY d.id",
        )
        .bind(path)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows.iter().map(doc_access).collect())
    }

    /// Every user principal the store knows of (readers, members, key
    /// owners), for checks that must cover everyone.
    pub async fn known_users(&self) -> Result<Vec<Principal>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT principal FROM doc_readers UNION SELECT member FROM memberships UNION SELECT principal FROM api_keys",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut users: Vec<Principal> = rows
            .iter()
            .filter_map(|s| Principal::parse(s).ok())
            .filter(|p| p.kind() == twake_types::PrincipalKind::User)
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }
}

fn doc_access(r: &sqlx::sqlite::SqliteRow) -> DocAccess {
    let grants: Option<String> = r.get(5);
    let mut grants: Vec<Grant> = grants
        .unwrap_or_default()
        .split(',')
        .filter_map(|g| {
            let (p, reason) = g.split_once(' ')?;
            Some(Grant { principal: Principal::parse(p).ok()?, reason: reason.to_string() })
        })
        .collect();
    grants.sort();
    let reasons: String = r.get(7);
    DocAccess {
        doc_id: r.get(0),
        path: r.get(1),
        kind: r.get(2),
        title: r.get(3),
        tenant: r.get(4),
        grants,
        sensitivity: Sensitivity::parse_or_secret(r.get::<&str, _>(6)),
        sensitivity_reasons: reasons.lines().map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of version 1 stores, as shipped before tenants.
    const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    readers TEXT NOT NULL,
    format TEXT NOT NULL,
    ingested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    message_id TEXT,
    thread_id TEXT,
    author TEXT,
    date TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE INDEX IF NOT EXISTS documents_thread ON documents(thread_id);
CREATE TABLE IF NOT EXISTS doc_readers (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    PRIMARY KEY (doc_id, principal)
);
CREATE INDEX IF NOT EXISTS doc_readers_principal ON doc_readers(principal);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    locator TEXT NOT NULL,
    text TEXT NOT NULL,
    scale REAL NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    principal TEXT NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
"#;

    #[tokio::test]
    async fn a_version_1_store_is_migrated_in_place() {
        let dir = std::env::temp_dir().join(format!("twake-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("twake.db");
        {
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))
                .unwrap()
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            sqlx::raw_sql(SCHEMA_V1).execute(&pool).await.unwrap();
            sqlx::raw_sql(
                "INSERT INTO files VALUES ('a.md', 'h', 'bob@x.fr', 'markdown', 0);
                 INSERT INTO documents (id, path, key, kind, title, body) VALUES (1, 'a.md', '', 'document', 'A', 'text');
                 INSERT INTO doc_readers VALUES (1, 'bob@x.fr');
                 INSERT INTO chunks (doc_id, ordinal, locator, text, scale, embedding) VALUES (1, 0, 'message', 'text', 1.0, x'01');",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(&file).await.unwrap();
        assert_eq!(store.meta("schema_version").await.unwrap().as_deref(), Some("4"));
        let f = store.file("a.md").await.unwrap().unwrap();
        assert_eq!(f.tenant, Tenant::default());
        assert_eq!(f.sensitivity, None, "no default was given before labels existed");
        let docs = store.file_documents("a.md").await.unwrap();
        assert_eq!(docs[0].tenant, "default");
        assert_eq!(docs[0].sensitivity, Sensitivity::Secret, "unlabelled data fails closed");
        assert_eq!(
            docs[0].grants,
            [Grant { principal: Principal::parse("bob@x.fr").unwrap(), reason: "readers".into() }]
        );
        let rows = store.chunks_of_docs(None, &AccessPass::system("test")).await.unwrap();
        assert_eq!(rows[0].0.readers, ["bob@x.fr"]);
        // Opening again is a no-op.
        drop(store);
        let store = SqliteStore::open(&file).await.unwrap();
        assert_eq!(store.file_documents("a.md").await.unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A store in a fresh folder of its own (the caller removes it).
    async fn temp_store(name: &str) -> (std::path::PathBuf, SqliteStore) {
        let dir = std::env::temp_dir().join(format!("twake-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("twake.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn members_of_one_container_of_one_tenant() {
        let (dir, store) = temp_store("members").await;
        let p = |s: &str| Principal::parse(s).unwrap();
        let (t, other) = (Tenant::default_tenant(), Tenant::parse("other").unwrap());
        store.add_member(&t, &p("room:!a"), &p("bob@x.fr")).await.unwrap();
        store.add_member(&t, &p("room:!a"), &p("alice@x.fr")).await.unwrap();
        store.add_member(&t, &p("room:!b"), &p("carol@x.fr")).await.unwrap();
        store.add_member(&other, &p("room:!a"), &p("eve@y.fr")).await.unwrap();
        assert_eq!(store.members_of(&t, &p("room:!a")).await.unwrap(), ["alice@x.fr", "bob@x.fr"]);
        assert_eq!(store.members_of(&other, &p("room:!a")).await.unwrap(), ["eve@y.fr"]);
        assert!(store.members_of(&t, &p("room:!c")).await.unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_chat_messages_neighbours_are_the_readable_ones_of_its_room() {
        let (dir, store) = temp_store("neighbours").await;
        let bob = Principal::parse("bob@x.fr").unwrap();
        let carol = Principal::parse("carol@x.fr").unwrap();
        // Room A: e1..e5 a minute apart, e3 for Carol only; room B: one
        // message; room C: Carol's only.
        let messages = [
            ("a", 1, &bob),
            ("a", 2, &bob),
            ("a", 3, &carol),
            ("a", 4, &bob),
            ("a", 5, &bob),
            ("b", 2, &bob),
            ("c", 1, &carol),
        ];
        for (room, minute, reader) in messages {
            let path = format!("matrix://chat/!{room}/e{minute}");
            let title = format!("Room {}", room.to_uppercase());
            let mut doc = Document::new(SourceKind::Chat, title, format!("message {room}{minute}"));
            doc.date = Some(format!("2026-11-30T10:0{minute}:00Z"));
            let chunk = NewChunk {
                ordinal: 0,
                locator: Locator::Message,
                text: doc.body.clone(),
                scale: 1.0,
                embedding: vec![0; 4],
                sensitivity: Sensitivity::Internal,
            };
            let file = FileRecord {
                path: path.clone(),
                content_hash: path.clone(),
                readers: vec![reader.clone()],
                format: "chat".into(),
                tenant: Tenant::default_tenant(),
                sensitivity: None,
            };
            let new = NewDocument {
                doc,
                chunks: vec![chunk],
                grants: vec![Grant { principal: reader.clone(), reason: "readers".into() }],
                sensitivity: Sensitivity::Internal,
                sensitivity_reasons: vec![],
            };
            store.replace_file(&file, &[new]).await.unwrap();
        }
        let pass = AccessPass::for_user(&Directory::default(), bob.clone());
        let docs = store.readable_file_documents("matrix://chat/!a/e4", &pass).await.unwrap();
        let around = store.neighbours(&docs[0], "matrix://chat/!a/", 2, &pass).await.unwrap();
        let bodies: Vec<&str> = around.iter().map(|d| d.body.as_str()).collect();
        // Carol's e3 is skipped (e1, e2 before), room B never appears.
        assert_eq!(bodies, ["message a1", "message a2", "message a5"]);
        // The rooms Bob may read, by name, once each.
        assert_eq!(store.readable_titles(SourceKind::Chat, &pass).await.unwrap(), ["Room A", "Room B"]);
        assert!(store.readable_document(docs[0].doc_id, &pass).await.unwrap().is_some());
        let carols = store
            .readable_file_documents("matrix://chat/!a/e3", &AccessPass::for_user(&Directory::default(), carol))
            .await
            .unwrap();
        assert!(store.readable_document(carols[0].doc_id, &pass).await.unwrap().is_none(), "Bob opens Carol's message");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_version_2_store_keeps_each_files_own_default_level() {
        let dir = std::env::temp_dir().join(format!("twake-migrate-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("twake.db");
        {
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))
                .unwrap()
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            sqlx::raw_sql(SCHEMA_V1).execute(&pool).await.unwrap();
            sqlx::raw_sql(MIGRATE_1_TO_2).execute(&pool).await.unwrap();
            sqlx::raw_sql(
                "INSERT INTO files (path, content_hash, readers, format, ingested_at) VALUES ('a.md', 'h', 'bob@x.fr', 'Markdown', 0), ('b.md', 'h', 'bob@x.fr', 'Markdown', 0);
                 INSERT INTO documents (id, path, key, kind, title, body, sensitivity, sensitivity_reasons)
                   VALUES (1, 'a.md', '', 'document', 'A', 'text', 'secret', 'default confidential' || char(10) || 'French NIR (social security number) detected (secret)'),
                          (2, 'b.md', '', 'document', 'B', 'text', 'internal', 'default internal');",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(&file).await.unwrap();
        assert_eq!(store.meta("schema_version").await.unwrap().as_deref(), Some("4"));
        assert_eq!(store.file("a.md").await.unwrap().unwrap().sensitivity, Some(Sensitivity::Confidential));
        assert_eq!(store.file("b.md").await.unwrap().unwrap().sensitivity, Some(Sensitivity::Internal));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// One record of the provenance log as stored: the canonical JSON body (it
/// holds `seq` and the previous record's hash), its SHA-256 and the
/// installation's Ed25519 signature of that hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub user: String,
    pub body: String,
    pub hash: String,
    pub signature: String,
}

/// The append-only provenance log.
impl SqliteStore {
    /// Appends a record and moves the signed head, in one transaction; the
    /// caller serialises appends (the sequence number is the primary key, so
    /// a concurrent writer fails rather than forks the chain).
    pub async fn audit_append(&self, row: &AuditRow, head: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        sqlx::query("INSERT INTO audit (seq, at, user, body, hash, signature) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(row.seq)
            .bind(row.at)
            .bind(&row.user)
            .bind(&row.body)
            .bind(&row.hash)
            .bind(&row.signature)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(head)
        .execute(&mut *tx)
        .await
        .map_err(self.err())?;
        tx.commit().await.map_err(self.err())?;
        Ok(())
    }

    /// The last record's sequence number and hash.
    pub async fn audit_last(&self) -> Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Records after `after`, in sequence order, at most `limit`.
    pub async fn audit_rows(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let rows =
            sqlx::query("SELECT seq, at, user, body, hash, signature FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| AuditRow {
                seq: r.get(0),
                at: r.get(1),
                user: r.get(2),
                body: r.get(3),
                hash: r.get(4),
                signature: r.get(5),
            })
            .collect())
    }
}

/// Usage of one principal (a user, `group:…`, `key:ID`) over some days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub tokens: u64,
    pub cost: f64,
    pub requests: u64,
}

/// The summed tokens, cost and requests at columns `at`, `at + 1`, `at + 2`.
fn usage_of(r: &sqlx::sqlite::SqliteRow, at: usize) -> Usage {
    Usage {
        tokens: r.get::<i64, _>(at).max(0) as u64,
        cost: r.get(at + 1),
        requests: r.get::<i64, _>(at + 2).max(0) as u64,
    }
}

/// Token and cost accounting, per UTC day and charged principal.
impl SqliteStore {
    /// Adds one request's tokens and cost to each principal's day.
    pub async fn usage_add(&self, day: i64, principals: &[String], tokens: u64, cost: f64) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        for p in principals {
            sqlx::query(
                "INSERT INTO usage (day, principal, tokens, cost, requests) VALUES (?, ?, ?, ?, 1) \
                 ON CONFLICT(day, principal) DO UPDATE SET tokens = tokens + excluded.tokens, cost = cost + excluded.cost, requests = requests + 1",
            )
            .bind(day)
            .bind(p)
            .bind(tokens as i64)
            .bind(cost)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())?;
        Ok(())
    }

    /// A principal's usage from day `from` to day `to`, inclusive.
    pub async fn usage_sum(&self, principal: &str, from: i64, to: i64) -> Result<Usage> {
        let r = sqlx::query(
            "SELECT coalesce(sum(tokens), 0), coalesce(sum(cost), 0.0), coalesce(sum(requests), 0) FROM usage WHERE principal = ? AND day BETWEEN ? AND ?",
        )
        .bind(principal)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(usage_of(&r, 0))
    }

    /// Every principal's usage from day `from` to day `to`, by principal.
    pub async fn usage_report(&self, from: i64, to: i64) -> Result<Vec<(String, Usage)>> {
        let rows = sqlx::query(
            "SELECT principal, sum(tokens), sum(cost), sum(requests) FROM usage WHERE day BETWEEN ? AND ? GROUP BY principal ORDER BY principal",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), usage_of(r, 1))).collect())
    }

    /// Every principal's usage on each day from `from` to `to` that has
    /// some, in day then principal order (one query, for charts).
    pub async fn usage_by_day(&self, from: i64, to: i64) -> Result<Vec<(i64, String, Usage)>> {
        let rows = sqlx::query(
            "SELECT day, principal, sum(tokens), sum(cost), sum(requests) FROM usage WHERE day BETWEEN ? AND ? GROUP BY day, principal ORDER BY day, principal",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), usage_of(r, 2))).collect())
    }
}

impl SqliteStore {
    /// The authors of a tenant's documents as written (`Name <address>`)
    /// and every user principal known (readers, members, key owners).
    pub async fn people(&self, tenant: &str) -> Result<(Vec<String>, Vec<String>)> {
        let authors: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT author FROM documents WHERE tenant = ? AND author IS NOT NULL ORDER BY author",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let users = self.known_users().await?.into_iter().map(|p| p.as_str().to_string()).collect();
        Ok((authors, users))
    }
}
