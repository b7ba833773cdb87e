//! Items of connected sources, stored like files: each under a path of its
//! own (`imap://NAME/…`, `matrix://NAME/…`), through the same chunking,
//! embedding, labels and grants, idempotently (same bytes and readers:
//! nothing is done). Connectors fetch; this stores.

use twake_types::Tenant;

use crate::{CoreError, Result, Workspace};

/// What storing an item did.
pub enum Stored {
    New,
    /// Another version replaced the one stored.
    Replaced,
    /// The same bytes for the same readers were stored already.
    Unchanged,
}

/// Stores one item of a source under `path`: its documents (read from
/// `bytes`), readable by `readers`, through the same chunking, embedding,
/// labels and grants as ingested files; nothing is done when the same bytes
/// for the same readers are stored there already.
pub async fn store_item(
    ws: &Workspace,
    path: String,
    bytes: &[u8],
    readers: Vec<twake_types::Principal>,
    format: &str,
    tenant: &Tenant,
    documents: Vec<twake_types::Document>,
) -> Result<Stored> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(bytes);
    for p in &readers {
        h.update([0]);
        h.update(p.as_str().as_bytes());
    }
    let hash = hex::encode(h.finalize());
    let before = ws.store.file(&path).await?;
    if before.as_ref().is_some_and(|f| f.content_hash == hash) {
        return Ok(Stored::Unchanged);
    }
    let record = twake_index::FileRecord {
        path,
        content_hash: hash,
        readers,
        format: format.into(),
        tenant: tenant.clone(),
        sensitivity: None,
    };
    ws.store_documents(&record, documents, true).await.map_err(CoreError::Other)?;
    Ok(if before.is_some() { Stored::Replaced } else { Stored::New })
}

/// The documents of one mail a connector fetched, parsed on a blocking
/// thread (MIME parsing of a large mail must not stall the async workers
/// that serve requests); `Err` says why the mail cannot be read.
pub async fn parse_mail(
    path: &str,
    raw: Vec<u8>,
) -> (Vec<u8>, std::result::Result<Vec<twake_types::Document>, String>) {
    let path = path.to_string();
    let joined = tokio::task::spawn_blocking(move || {
        let parsed = twake_extract::extract(twake_extract::Format::Eml, &path, &raw)
            .map(|x| x.documents)
            .map_err(|e| e.to_string());
        (raw, parsed)
    })
    .await;
    match joined {
        Ok(done) => done,
        // The parser panicked: the mail is skipped, the sync goes on.
        Err(e) => (Vec::new(), Err(format!("the parser failed ({e})"))),
    }
}
