//! Storage and retrieval backends.
//!
//! Boundary: the [`Store`] keeps files, documents, readers, chunks and their
//! vectors (the source of truth); the [`LexicalIndex`] and the
//! [`VectorIndex`] are derived from it and can be rebuilt from it. Closed
//! sets of backends are enums: today `Sqlite`, `Tantivy` and `Flat`; a later
//! issue adds PostgreSQL + pgvector variants behind the same methods.
//!
//! Architecture invariant: every read that returns chunks takes an
//! [`AccessPass`] and filters *inside* the query (a SQL `EXISTS` on readers,
//! a tantivy term-set clause, a reader-set mask in the vector scan), so the
//! top-k are always the asker's best k.

mod lexical;
mod sqlite;
mod vectors;

pub use lexical::{LexicalIndex, TantivyIndex};
pub use sqlite::{
    ApiKeyRecord, AuditRow, ChunkView, ConversationRow, DocAccess, DocLabels, DocView, FeedbackRow, FileRecord,
    FileView, Grant, Membership, NewChunk, NewDocument, SourceHealth, SourceRow, SqliteStore, StoredVector, Usage,
};
pub use vectors::{ChunkAccess, FlatIndex, VectorIndex, quantize};

pub use twake_types::{AccessPass, Directory, Principal, Sensitivity, Tenant};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("database error in {path}: {source}")]
    Database { path: String, source: sqlx::Error },
    #[error(
        "lexical index error in {path}: {reason} (delete that folder and run `twake-ai ingest` again to rebuild it)"
    )]
    Lexical { path: String, reason: String },
    #[error(
        "the lexical index in {path} is being written by another twake-ai process (a sync, an ingest or serve): \
         wait for it to finish, or run this command through that process (e.g. the API of `twake-ai serve`)"
    )]
    Busy { path: String },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(
        "vector of dimension {got} given to an index of dimension {expected}: the embedding model changed; re-ingest into a fresh data directory"
    )]
    Dimension { expected: usize, got: usize },
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// The metadata and chunk store. One variant today; PostgreSQL joins it.
pub enum Store {
    Sqlite(SqliteStore),
}

impl Store {
    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        match self {
            Store::Sqlite(s) => s.meta(key).await,
        }
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.set_meta(key, value).await,
        }
    }

    pub async fn source_add(&self, row: &SourceRow) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.source_add(row).await,
        }
    }

    pub async fn sources(&self) -> Result<Vec<SourceRow>> {
        match self {
            Store::Sqlite(s) => s.sources().await,
        }
    }

    pub async fn source_remove(&self, name: &str) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.source_remove(name).await,
        }
    }

    pub async fn source_save_state(&self, name: &str, state: &str, items: i64) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.source_save_state(name, state, items).await,
        }
    }

    pub async fn source_record(&self, name: &str, now: i64, error: Option<&str>) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.source_record(name, now, error).await,
        }
    }

    pub async fn room_documents(&self, room: &str, after: &str, pass: &AccessPass, limit: i64) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.room_documents(room, after, pass, limit).await,
        }
    }

    pub async fn kind_documents(
        &self,
        kind: twake_types::SourceKind,
        after: &str,
        undated: bool,
        pass: &AccessPass,
        limit: i64,
    ) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.kind_documents(kind, after, undated, pass, limit).await,
        }
    }

    pub async fn readable_titles(&self, kind: twake_types::SourceKind, pass: &AccessPass) -> Result<Vec<String>> {
        match self {
            Store::Sqlite(s) => s.readable_titles(kind, pass).await,
        }
    }

    pub async fn files_under(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            Store::Sqlite(s) => s.files_under(prefix).await,
        }
    }

    /// How many files have a path starting with `prefix` (a source's items).
    pub async fn count_under(&self, prefix: &str) -> Result<i64> {
        match self {
            Store::Sqlite(s) => s.count_under(prefix).await,
        }
    }

    pub async fn file(&self, path: &str) -> Result<Option<FileRecord>> {
        match self {
            Store::Sqlite(s) => s.file(path).await,
        }
    }

    pub async fn files(&self) -> Result<Vec<FileRecord>> {
        match self {
            Store::Sqlite(s) => s.files().await,
        }
    }

    /// Replaces one file's documents in one transaction; returns the ids of
    /// the documents removed and added, and the new generation.
    pub async fn replace_file(&self, file: &FileRecord, docs: &[NewDocument]) -> Result<(Vec<i64>, Vec<i64>, i64)> {
        match self {
            Store::Sqlite(s) => s.replace_file(file, docs).await,
        }
    }

    pub async fn remove_file(&self, path: &str) -> Result<(Vec<i64>, i64)> {
        match self {
            Store::Sqlite(s) => s.remove_file(path).await,
        }
    }

    /// Counts the changes to what the derived indexes hold: a process whose
    /// indexes reflect an older generation than this reloads them.
    pub async fn generation(&self) -> Result<i64> {
        match self {
            Store::Sqlite(s) => s.generation().await,
        }
    }

    pub async fn set_chunk_vector(&self, chunk_id: i64, scale: f32, embedding: &[i8]) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.set_chunk_vector(chunk_id, scale, embedding).await,
        }
    }

    pub async fn chunk_index_text(&self, chunk_id: i64) -> Result<Option<String>> {
        match self {
            Store::Sqlite(s) => s.chunk_index_text(chunk_id).await,
        }
    }

    /// The storage engine's own integrity findings (empty when sound) and
    /// the chunks (id, path) whose vector is not of `dim` bytes.
    pub async fn check(&self, dim: usize) -> Result<(Vec<String>, Vec<(i64, String)>)> {
        match self {
            Store::Sqlite(s) => s.check(dim).await,
        }
    }

    pub async fn chunks(&self, ids: &[i64], pass: &AccessPass) -> Result<Vec<ChunkView>> {
        match self {
            Store::Sqlite(s) => s.chunks(ids, pass).await,
        }
    }

    pub async fn chunks_of_docs(
        &self,
        doc_ids: Option<&[i64]>,
        pass: &AccessPass,
    ) -> Result<Vec<(StoredVector, String)>> {
        match self {
            Store::Sqlite(s) => s.chunks_of_docs(doc_ids, pass).await,
        }
    }

    pub async fn insert_key(
        &self,
        principal: &str,
        label: &str,
        hash: &str,
        tokens_per_day: Option<u64>,
    ) -> Result<i64> {
        match self {
            Store::Sqlite(s) => s.insert_key(principal, label, hash, tokens_per_day).await,
        }
    }

    pub async fn key_principal(&self, hash: &str) -> Result<Option<(String, i64, Option<u64>)>> {
        match self {
            Store::Sqlite(s) => s.key_principal(hash).await,
        }
    }

    pub async fn revoke_key(&self, id: i64) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.revoke_key(id).await,
        }
    }

    pub async fn insert_session(
        &self,
        hash: &str,
        principal: &str,
        key_id: Option<i64>,
        expires_at: i64,
    ) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.insert_session(hash, principal, key_id, expires_at).await,
        }
    }

    #[allow(clippy::type_complexity)]
    pub async fn session(&self, hash: &str) -> Result<Option<(String, Option<(i64, Option<u64>)>)>> {
        match self {
            Store::Sqlite(s) => s.session(hash).await,
        }
    }

    pub async fn delete_session(&self, hash: &str) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.delete_session(hash).await,
        }
    }

    pub async fn keys(&self) -> Result<Vec<ApiKeyRecord>> {
        match self {
            Store::Sqlite(s) => s.keys().await,
        }
    }

    pub async fn readable_files(&self, pass: &AccessPass) -> Result<Vec<FileView>> {
        match self {
            Store::Sqlite(s) => s.readable_files(pass).await,
        }
    }

    pub async fn ping(&self) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.ping().await,
        }
    }

    /// (files, documents, chunks).
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        match self {
            Store::Sqlite(s) => s.counts().await,
        }
    }

    pub async fn directory_for(&self, user: &Principal) -> Result<Directory> {
        match self {
            Store::Sqlite(s) => s.directory_for(user).await,
        }
    }

    pub async fn add_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.add_member(tenant, container, member).await,
        }
    }

    pub async fn remove_member(&self, tenant: &Tenant, container: &Principal, member: &Principal) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.remove_member(tenant, container, member).await,
        }
    }

    pub async fn memberships(&self) -> Result<Vec<Membership>> {
        match self {
            Store::Sqlite(s) => s.memberships().await,
        }
    }

    pub async fn members_of(&self, tenant: &Tenant, container: &Principal) -> Result<Vec<String>> {
        match self {
            Store::Sqlite(s) => s.members_of(tenant, container).await,
        }
    }

    pub async fn set_tenant_domain(&self, domain: &str, tenant: &Tenant) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.set_tenant_domain(domain, tenant).await,
        }
    }

    pub async fn tenant_domains(&self) -> Result<Vec<(String, String)>> {
        match self {
            Store::Sqlite(s) => s.tenant_domains().await,
        }
    }

    pub async fn set_file_readers(&self, path: &str, readers: &[Principal]) -> Result<Option<(Vec<i64>, i64)>> {
        match self {
            Store::Sqlite(s) => s.set_file_readers(path, readers).await,
        }
    }

    pub async fn readable_file_documents(&self, path: &str, pass: &AccessPass) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.readable_file_documents(path, pass).await,
        }
    }

    pub async fn recent_mail(&self, since: &str, pass: &AccessPass, limit: i64) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.recent_mail(since, pass, limit).await,
        }
    }

    pub async fn thread_documents(&self, message_id: &str, pass: &AccessPass) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.thread_documents(message_id, pass).await,
        }
    }

    pub async fn conversation_save(
        &self,
        user: &str,
        id: Option<i64>,
        title: &str,
        turns: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        match self {
            Store::Sqlite(s) => s.conversation_save(user, id, title, turns, now).await,
        }
    }

    pub async fn conversations(&self, user: &str, limit: i64) -> Result<Vec<ConversationRow>> {
        match self {
            Store::Sqlite(s) => s.conversations(user, limit).await,
        }
    }

    pub async fn conversation(&self, user: &str, id: i64) -> Result<Option<ConversationRow>> {
        match self {
            Store::Sqlite(s) => s.conversation(user, id).await,
        }
    }

    pub async fn key_used(&self, id: i64, at: i64) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.key_used(id, at).await,
        }
    }

    pub async fn feedback_set(&self, row: &FeedbackRow) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.feedback_set(row).await,
        }
    }

    pub async fn feedback_report(&self, tenant: Option<&str>, limit: i64) -> Result<(i64, i64, Vec<FeedbackRow>)> {
        match self {
            Store::Sqlite(s) => s.feedback_report(tenant, limit).await,
        }
    }

    pub async fn conversation_delete(&self, user: &str, id: i64) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.conversation_delete(user, id).await,
        }
    }

    pub async fn readable_document(&self, doc_id: i64, pass: &AccessPass) -> Result<Option<DocView>> {
        match self {
            Store::Sqlite(s) => s.readable_document(doc_id, pass).await,
        }
    }

    pub async fn neighbours(&self, doc: &DocView, prefix: &str, n: i64, pass: &AccessPass) -> Result<Vec<DocView>> {
        match self {
            Store::Sqlite(s) => s.neighbours(doc, prefix, n, pass).await,
        }
    }

    pub async fn doc_chunks(&self, doc_id: i64, pass: &AccessPass) -> Result<Vec<ChunkView>> {
        match self {
            Store::Sqlite(s) => s.doc_chunks(doc_id, pass).await,
        }
    }

    pub async fn set_labels(&self, path: &str, default: Option<Sensitivity>, docs: &[DocLabels]) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.set_labels(path, default, docs).await,
        }
    }

    pub async fn readable_documents(&self, pass: &AccessPass) -> Result<Vec<DocAccess>> {
        match self {
            Store::Sqlite(s) => s.readable_documents(pass).await,
        }
    }

    pub async fn file_documents(&self, path: &str) -> Result<Vec<DocAccess>> {
        match self {
            Store::Sqlite(s) => s.file_documents(path).await,
        }
    }

    pub async fn known_users(&self) -> Result<Vec<Principal>> {
        match self {
            Store::Sqlite(s) => s.known_users().await,
        }
    }

    pub async fn audit_append(&self, row: &AuditRow, head: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.audit_append(row, head).await,
        }
    }

    pub async fn audit_last(&self) -> Result<Option<(i64, String)>> {
        match self {
            Store::Sqlite(s) => s.audit_last().await,
        }
    }

    pub async fn audit_rows(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>> {
        match self {
            Store::Sqlite(s) => s.audit_rows(after, limit).await,
        }
    }

    pub async fn usage_add(&self, day: i64, principals: &[String], tokens: u64, cost: f64) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.usage_add(day, principals, tokens, cost).await,
        }
    }

    pub async fn usage_sum(&self, principal: &str, from: i64, to: i64) -> Result<Usage> {
        match self {
            Store::Sqlite(s) => s.usage_sum(principal, from, to).await,
        }
    }

    pub async fn usage_report(&self, from: i64, to: i64) -> Result<Vec<(String, Usage)>> {
        match self {
            Store::Sqlite(s) => s.usage_report(from, to).await,
        }
    }

    pub async fn usage_by_day(&self, from: i64, to: i64) -> Result<Vec<(i64, String, Usage)>> {
        match self {
            Store::Sqlite(s) => s.usage_by_day(from, to).await,
        }
    }

    pub async fn people(&self, tenant: &str) -> Result<(Vec<String>, Vec<String>)> {
        match self {
            Store::Sqlite(s) => s.people(tenant).await,
        }
    }
}
