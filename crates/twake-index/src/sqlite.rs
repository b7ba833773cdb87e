//! SQLite store (through sqlx): the source of truth.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite};
use twake_types::{AccessPass, Document, Locator, Principal, SourceKind};

use crate::{IndexError, Result};

const SCHEMA: &str = r#"
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

pub struct SqliteStore {
    pool: SqlitePool,
    path: String,
}

/// What is recorded about an ingested file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    /// The path as it was given to `ingest`.
    pub path: String,
    pub content_hash: String,
    pub readers: Vec<Principal>,
    pub format: String,
}

pub struct NewDocument {
    pub doc: Document,
    pub chunks: Vec<NewChunk>,
}

pub struct NewChunk {
    pub ordinal: u32,
    pub locator: Locator,
    pub text: String,
    /// Int8-quantised unit vector and its scale (see [`crate::quantize`]).
    pub scale: f32,
    pub embedding: Vec<i8>,
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
}

/// A stored vector with what the vector index needs to filter it.
pub struct StoredVector {
    pub chunk_id: i64,
    pub doc_id: i64,
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
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(db_err(&path))?;
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

    pub async fn file(&self, path: &str) -> Result<Option<FileRecord>> {
        let row = sqlx::query("SELECT path, content_hash, readers, format FROM files WHERE path = ?")
            .bind(path)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row.map(|r| file_record(&r)))
    }

    pub async fn files(&self) -> Result<Vec<FileRecord>> {
        let rows = sqlx::query("SELECT path, content_hash, readers, format FROM files ORDER BY path")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(file_record).collect())
    }

    /// Replaces everything known about one file in one transaction. Returns
    /// the ids of the documents removed and of the documents added.
    pub async fn replace_file(&self, file: &FileRecord, docs: &[NewDocument]) -> Result<(Vec<i64>, Vec<i64>)> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let removed: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE path = ?")
            .bind(&file.path)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query("DELETE FROM files WHERE path = ?").bind(&file.path).execute(&mut *tx).await.map_err(self.err())?;
        let readers = file.readers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",");
        sqlx::query("INSERT INTO files (path, content_hash, readers, format, ingested_at) VALUES (?, ?, ?, ?, strftime('%s','now'))")
            .bind(&file.path)
            .bind(&file.content_hash)
            .bind(&readers)
            .bind(&file.format)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        let mut added = Vec::with_capacity(docs.len());
        for nd in docs {
            let d = &nd.doc;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO documents (path, key, kind, title, message_id, thread_id, author, date, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err())?;
            for p in &file.readers {
                sqlx::query("INSERT OR IGNORE INTO doc_readers (doc_id, principal) VALUES (?, ?)")
                    .bind(id)
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
            for c in &nd.chunks {
                let bytes: Vec<u8> = c.embedding.iter().map(|&x| x as u8).collect();
                sqlx::query(
                    "INSERT INTO chunks (doc_id, ordinal, locator, text, scale, embedding) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(c.ordinal as i64)
                .bind(c.locator.encode())
                .bind(&c.text)
                .bind(c.scale)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            }
            added.push(id);
        }
        tx.commit().await.map_err(self.err())?;
        Ok((removed, added))
    }

    /// Forgets a file; returns the ids of its documents.
    pub async fn remove_file(&self, path: &str) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let removed: Vec<i64> = sqlx::query_scalar("SELECT id FROM documents WHERE path = ?")
            .bind(path)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        sqlx::query("DELETE FROM files WHERE path = ?").bind(path).execute(&mut *tx).await.map_err(self.err())?;
        tx.commit().await.map_err(self.err())?;
        Ok(removed)
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
            "SELECT c.id, c.doc_id, c.scale, c.embedding, c.text, d.title, (SELECT group_concat(principal, ',') FROM doc_readers r WHERE r.doc_id = c.doc_id) AS readers FROM chunks c JOIN documents d ON d.id = c.doc_id",
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
        push_access_filter(&mut qb, pass);
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
            "SELECT c.id, c.doc_id, d.path, d.kind, d.title, d.message_id, d.author, d.date, c.locator, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        qb.push(")");
        push_access_filter(&mut qb, pass);
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
                };
                (v.chunk_id, v)
            })
            .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
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
}

impl SqliteStore {
    pub async fn insert_key(&self, principal: &str, label: &str, hash: &str) -> Result<i64> {
        sqlx::query_scalar("INSERT INTO api_keys (principal, label, hash, created_at) VALUES (?, ?, ?, strftime('%s','now')) RETURNING id")
            .bind(principal)
            .bind(label)
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())
    }

    /// The principal of a live (not revoked) key with this hash.
    pub async fn key_principal(&self, hash: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT principal FROM api_keys WHERE hash = ? AND revoked_at IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())
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
        let rows =
            sqlx::query("SELECT id, principal, label, created_at, revoked_at IS NOT NULL FROM api_keys ORDER BY id")
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
            })
            .collect())
    }

    /// The files the pass may read something of, with their readable
    /// documents counted.
    pub async fn readable_files(&self, pass: &AccessPass) -> Result<Vec<FileView>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT f.path, f.format, count(c.doc_id), min(c.title), f.ingested_at FROM files f JOIN (SELECT d.id AS doc_id, d.path, d.title FROM documents d) c ON c.path = f.path WHERE 1 = 1",
        );
        push_access_filter(&mut qb, pass);
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
}

fn push_access_filter(qb: &mut QueryBuilder<'_, Sqlite>, pass: &AccessPass) {
    if let Some(principals) = pass.principals() {
        qb.push(" AND EXISTS (SELECT 1 FROM doc_readers r WHERE r.doc_id = c.doc_id AND r.principal IN (");
        let mut sep = qb.separated(", ");
        for p in principals {
            sep.push_bind(p.as_str().to_string());
        }
        qb.push("))");
    }
}

fn file_record(r: &sqlx::sqlite::SqliteRow) -> FileRecord {
    let readers: String = r.get(2);
    FileRecord {
        path: r.get(0),
        content_hash: r.get(1),
        readers: readers.split(',').filter_map(|p| Principal::parse(p).ok()).collect(),
        format: r.get(3),
    }
}
