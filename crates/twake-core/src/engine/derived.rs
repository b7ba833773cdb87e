//! The derived indexes built from the store's rows: what they hold of a
//! chunk's access, the vector index, and the lexical index filled or
//! rebuilt when it disagrees with the store. Used at open
//! ([`super::workspace`]), by the consistency check ([`super::consistency`])
//! and by ingestion; nothing here holds a `Workspace`.

use std::path::Path;

use twake_index::{ChunkAccess, FlatIndex, LexicalIndex, StoredVector, TantivyIndex};

use crate::Result;

/// What the derived indexes store about a stored chunk's access.
pub(crate) fn access_of(v: &StoredVector) -> ChunkAccess<'_> {
    ChunkAccess { chunk_id: v.chunk_id, doc_id: v.doc_id, tenant: &v.tenant, readers: &v.readers }
}

/// The vector index of these stored chunks. A vector of the wrong size (a
/// damaged row) is left out, not fatal: `twake-ai check` names it and
/// computes it again.
pub(crate) fn vectors_from(dim: usize, rows: &[(StoredVector, String)]) -> Result<FlatIndex> {
    let mut flat = FlatIndex::new(dim);
    for (v, _) in rows {
        if v.embedding.len() != dim {
            tracing::warn!(target: "ingest", chunk = v.chunk_id, "stored vector of the wrong size; `twake-ai check --repair` computes it again");
            continue;
        }
        flat.insert(access_of(v), v.scale, &v.embedding)?;
    }
    Ok(flat)
}

pub(crate) fn fill(
    lexical: &mut LexicalIndex,
    generation: i64,
    rows: &[(StoredVector, String)],
) -> twake_index::Result<()> {
    lexical.clear()?;
    for (v, text) in rows {
        lexical.add(access_of(v), text)?;
    }
    lexical.commit(generation)
}

/// Rebuilds the lexical index (kept in `dir`) from `rows` when its last
/// commit is not of `generation` or its size differs. Another process
/// writing it is not an error: its commit will bring the index up to date.
/// True when it was rebuilt.
pub(crate) fn rebuild_lexical_if_stale(
    lexical: &mut LexicalIndex,
    dir: &Path,
    generation: i64,
    rows: &[(StoredVector, String)],
) -> Result<bool> {
    if lexical.generation() == Some(generation) && lexical.num_docs() == rows.len() as u64 {
        return Ok(false);
    }
    tracing::info!(target: "ingest", chunks = rows.len(), "rebuilding the lexical index from the store");
    match fill(lexical, generation, rows) {
        Ok(()) => Ok(true),
        Err(twake_index::IndexError::Busy { .. }) => {
            tracing::info!(target: "ingest", "another process is writing the lexical index: not rebuilding it");
            // Reopened: a writer taken on another tenant's shard is let
            // go, its uncommitted clearing discarded.
            *lexical = LexicalIndex::Tantivy(TantivyIndex::open(dir)?);
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
