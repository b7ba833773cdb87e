//! A data directory opened with its models.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use twake_index::{LexicalIndex, SqliteStore, Store, TantivyIndex, VectorIndex};
use twake_llm::{EmbedderOptions, GgufChat, GgufEmbedder, ModelOptions};
use twake_types::AccessPass;

use super::derived::{rebuild_lexical_if_stale, vectors_from};
use super::models;
use crate::{Config, CoreError, Result};

/// The embedding model. One variant today (an OpenAI-compatible endpoint
/// comes with the model gateway issue).
#[derive(Clone)]
pub enum Embedder {
    Gguf(Arc<GgufEmbedder>),
}

impl Embedder {
    pub fn name(&self) -> &str {
        match self {
            Embedder::Gguf(e) => &e.name,
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Embedder::Gguf(e) => e.dim,
        }
    }

    /// Embeds on the model's thread without blocking the async runtime.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        match self {
            Embedder::Gguf(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || e.embed(texts))
                    .await
                    .map_err(|e| CoreError::Other(format!("embedding task failed: {e}")))?
                    .map_err(CoreError::from)
            }
        }
    }

    /// Embeds texts as given (no prefix) with the token count of each.
    pub async fn embed_counted(&self, texts: Vec<String>) -> Result<Vec<(Vec<f32>, usize)>> {
        match self {
            Embedder::Gguf(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || e.embed_counted(texts))
                    .await
                    .map_err(|e| CoreError::Other(format!("embedding task failed: {e}")))?
                    .map_err(CoreError::from)
            }
        }
    }

    pub async fn embed_query(&self, q: &str) -> Result<Vec<f32>> {
        let mut v = self.embed(vec![format!("query: {q}")]).await?;
        Ok(v.pop().unwrap_or_default())
    }
}

/// A data directory with its store, derived indexes and models. Every
/// method takes `&self`: a server shares one `Arc<Workspace>` between
/// requests. The indexes sit behind short-lived locks (never held across an
/// `await`); ingestions run one at a time.
pub struct Workspace {
    pub config: Config,
    pub data_dir: PathBuf,
    pub(crate) store: Store,
    lexical: RwLock<LexicalIndex>,
    vectors: RwLock<VectorIndex>,
    pub(crate) embedder: Embedder,
    chat: tokio::sync::OnceCell<Arc<GgufChat>>,
    pub(crate) ingest_lock: tokio::sync::Mutex<()>,
    /// The store generation the in-memory indexes reflect (see
    /// [`Workspace::refresh`]).
    pub(crate) indexed: std::sync::atomic::AtomicI64,
    /// The lexical index's recorded generation when its readers last
    /// reloaded (-1: none recorded).
    pub(crate) lexical_loaded: std::sync::atomic::AtomicI64,
    /// The lexical index was found behind the store while another process
    /// held its writer: [`Workspace::refresh`] tries again.
    pub(crate) lexical_stale: std::sync::atomic::AtomicBool,
    /// The syncs running in this process and how far they are (the API
    /// shows them live).
    pub(crate) syncing: std::sync::Mutex<std::collections::BTreeMap<String, SyncProgress>>,
    /// Appends to the provenance log one at a time (each links to the last).
    pub(crate) audit_lock: tokio::sync::Mutex<()>,
    /// When each API key's use was last written down (see
    /// `authenticate_key`): at most one write per key every few minutes.
    pub(crate) key_use: std::sync::Mutex<std::collections::HashMap<i64, i64>>,
    /// The provenance log's signing key, read from disk once.
    pub(crate) audit_key: tokio::sync::OnceCell<ed25519_dalek::SigningKey>,
    /// Where quotas read the time (tests inject a fixed clock).
    pub(crate) clock: crate::engine::dates::Clock,
}

impl Workspace {
    /// Opens (or creates) the data directory and loads the embedding model;
    /// a lexical index behind the store (a crash between a store commit and
    /// the index's) is rebuilt from the store.
    pub async fn open(data_dir: &Path, config: Config) -> Result<Self> {
        Self::open_with(data_dir, config, true).await
    }

    /// Opens the data directory without mending the lexical index, for
    /// `twake-ai check` to see it as it is.
    pub async fn open_as_is(data_dir: &Path, config: Config) -> Result<Self> {
        Self::open_with(data_dir, config, false).await
    }

    async fn open_with(data_dir: &Path, config: Config, repair: bool) -> Result<Self> {
        config.sensitivity.validate().map_err(CoreError::Config)?;
        config.gateway.candidates().map_err(CoreError::Config)?;
        let fresh = !data_dir.exists();
        std::fs::create_dir_all(data_dir)
            .map_err(|e| CoreError::Other(format!("cannot create data directory {}: {e}", data_dir.display())))?;
        // The data directory holds every indexed message and the sources'
        // access tokens: a new one is for its owner only.
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| CoreError::Other(format!("cannot restrict data directory {}: {e}", data_dir.display())))?;
        }
        let models_dir = config.models.dir();
        let embed_path = models::resolve(&config.models.embedding, &models_dir);
        let threads = config.models.threads();
        let embedder = tokio::task::spawn_blocking(move || {
            GgufEmbedder::load(EmbedderOptions { path: embed_path, threads, queue: 64 })
        })
        .await
        .map_err(|e| CoreError::Other(e.to_string()))??;
        let embedder = Embedder::Gguf(Arc::new(embedder));

        let store = Store::Sqlite(SqliteStore::open(&data_dir.join("twake.db")).await?);
        match store.meta("embedding_model").await? {
            Some(m) if m != embedder.name() => {
                return Err(CoreError::Config(format!(
                    "{} was indexed with the embedding model {m}, but {} is configured: use the same model or ingest into a fresh --data-dir",
                    data_dir.display(),
                    embedder.name()
                )));
            }
            Some(_) => {}
            None => store.set_meta("embedding_model", embedder.name()).await?,
        }

        // The derived indexes are rebuilt from the store: vectors always (in
        // memory), the lexical index when it disagrees with the store.
        let generation = store.generation().await?;
        let rows = store.chunks_of_docs(None, &AccessPass::system("rebuild derived indexes at open")).await?;
        let flat = vectors_from(embedder.dim(), &rows)?;
        let lexical = TantivyIndex::open(&data_dir.join("lexical"))?;
        let ws = Workspace {
            config,
            data_dir: data_dir.to_path_buf(),
            store,
            lexical: RwLock::new(LexicalIndex::Tantivy(lexical)),
            vectors: RwLock::new(VectorIndex::Flat(flat)),
            indexed: std::sync::atomic::AtomicI64::new(generation),
            lexical_loaded: std::sync::atomic::AtomicI64::new(-1),
            lexical_stale: std::sync::atomic::AtomicBool::new(false),
            embedder,
            chat: tokio::sync::OnceCell::new(),
            ingest_lock: tokio::sync::Mutex::new(()),
            syncing: Default::default(),
            audit_lock: tokio::sync::Mutex::new(()),
            key_use: Default::default(),
            audit_key: tokio::sync::OnceCell::new(),
            clock: crate::engine::dates::Clock::System,
        };
        if repair {
            rebuild_lexical_if_stale(&mut ws.lexical_mut(), &data_dir.join("lexical"), generation, &rows)?;
        }
        let loaded = ws.lexical().generation();
        ws.lexical_loaded.store(loaded.unwrap_or(-1), std::sync::atomic::Ordering::SeqCst);
        ws.lexical_stale.store(loaded != Some(generation), std::sync::atomic::Ordering::SeqCst);
        Ok(ws)
    }

    /// Replaces the clock quotas read (tests move a fixed clock by hand).
    pub fn with_clock(mut self, clock: crate::engine::dates::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time (the injected clock in tests).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Today's date (UTC), from the same clock.
    pub fn today(&self) -> super::dates::Date {
        super::dates::Date::from_days(self.clock.now().div_euclid(86_400))
    }

    /// The lexical index for reading (a poisoned lock is recovered: the
    /// index itself is consistent, only a panicking writer left it).
    pub(crate) fn lexical(&self) -> RwLockReadGuard<'_, LexicalIndex> {
        self.lexical.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lexical_mut(&self) -> RwLockWriteGuard<'_, LexicalIndex> {
        self.lexical.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn vectors(&self) -> RwLockReadGuard<'_, VectorIndex> {
        self.vectors.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn vectors_mut(&self) -> RwLockWriteGuard<'_, VectorIndex> {
        self.vectors.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The file name of the configured chat model (what answers report).
    pub fn chat_model_name(&self) -> String {
        let path = models::resolve(&self.config.models.chat, &self.config.models.dir());
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Loads the chat model on first use.
    pub async fn chat(&self) -> Result<Arc<GgufChat>> {
        self.chat.get_or_try_init(|| self.load_chat()).await.cloned()
    }

    async fn load_chat(&self) -> Result<Arc<GgufChat>> {
        let path = models::resolve(&self.config.models.chat, &self.config.models.dir());
        let opts = ModelOptions {
            path,
            threads: self.config.models.chat_threads(),
            context: self.config.models.context,
            queue: 8,
        };
        let chat = tokio::task::spawn_blocking(move || GgufChat::load(opts))
            .await
            .map_err(|e| CoreError::Other(e.to_string()))??;
        Ok(Arc::new(chat))
    }

    /// (files, documents, chunks) in the store.
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        Ok(self.store.counts().await?)
    }

    /// A document as a reader opens it from a citation: its text, its
    /// passages with their locators, and for a chat message the messages
    /// around it in its room — all as the pass allows; `None` when the pass
    /// may not read the document (or there is none).
    pub async fn open_document(&self, doc_id: i64, pass: &AccessPass) -> Result<Option<OpenedDocument>> {
        let Some(doc) = self.store.readable_document(doc_id, pass).await? else { return Ok(None) };
        let chunks = self.store.doc_chunks(doc_id, pass).await?;
        let context = if doc.kind == twake_types::SourceKind::Chat {
            // A connected room's items are `matrix://SOURCE/ROOM/EVENT`;
            // an ingested export is one file.
            let prefix = match doc.path.rsplit_once('/') {
                Some((room, _)) if doc.path.contains("://") => format!("{room}/"),
                _ => doc.path.clone(),
            };
            self.store.neighbours(&doc, &prefix, 5, pass).await?
        } else {
            vec![]
        };
        Ok(Some(OpenedDocument { doc, chunks, context }))
    }
}

/// What [`Workspace::open_document`] shows.
pub struct OpenedDocument {
    pub doc: twake_index::DocView,
    pub chunks: Vec<twake_index::ChunkView>,
    /// Chat messages around a chat message, oldest first.
    pub context: Vec<twake_index::DocView>,
}

/// How far a running sync is.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct SyncProgress {
    /// Places (rooms, folders) read, of how many.
    pub places_done: usize,
    pub places_total: usize,
    /// The place being fetched, and how many of its new items are.
    pub place: Option<String>,
    pub items_done: usize,
    pub items_total: usize,
    /// Items stored so far by this sync.
    pub stored: usize,
}
