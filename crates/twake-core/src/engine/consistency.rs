//! The derived indexes kept in step with the store.
//!
//! The store is the source of truth; the vector index (in memory) and the
//! lexical index (tantivy, on disk) are derived from it. Every change to
//! chunks or readers bumps the store's *generation* in the transaction that
//! makes it. A process knows the generation its in-memory indexes reflect,
//! and the lexical index records the generation of its last commit. So:
//! - a crash between a store commit and the lexical commit leaves a lexical
//!   index behind the store, which the next open rebuilds;
//! - a running `serve` sees another process's changes (a CLI ingest, a
//!   sync) by polling the generation ([`Workspace::refresh`]);
//! - `twake-ai check` compares the three, chunk by chunk, and repairs.

use std::sync::atomic::Ordering;

use serde::Serialize;
use twake_index::{VectorIndex, quantize};
use twake_types::AccessPass;

use crate::engine::derived::{fill, rebuild_lexical_if_stale, vectors_from};
use crate::{Result, Workspace};

/// What `twake-ai check` found, and did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckReport {
    pub files: i64,
    pub documents: i64,
    pub chunks: i64,
    /// The store's generation, and the one the lexical index last recorded.
    pub generation: i64,
    pub lexical_generation: Option<i64>,
    /// The storage engine's own findings (empty when the file is sound).
    pub store_problems: Vec<String>,
    /// Chunks whose stored vector is damaged: (chunk id, path).
    pub bad_vectors: Vec<(i64, String)>,
    /// Chunks of the store missing from the lexical index, and ids in the
    /// lexical index of no stored chunk (the first 20 of each; counts whole).
    pub lexical_missing: Vec<i64>,
    pub lexical_missing_count: usize,
    pub lexical_extra: Vec<i64>,
    pub lexical_extra_count: usize,
    /// Chunks in the vector index, against the stored chunks with a sound
    /// vector.
    pub vectors: usize,
    pub vectors_expected: usize,
    /// What `--repair` did.
    pub repaired: Vec<String>,
}

impl CheckReport {
    /// True when store, lexical and vector indexes agree.
    /// The lexical index's last commit is of the store's generation (an
    /// index that never committed matches a store never written: a new
    /// data directory).
    pub fn lexical_in_step(&self) -> bool {
        self.lexical_generation.unwrap_or(0) == self.generation
    }

    pub fn consistent(&self) -> bool {
        self.store_problems.is_empty()
            && self.bad_vectors.is_empty()
            && self.lexical_missing_count == 0
            && self.lexical_extra_count == 0
            && self.vectors == self.vectors_expected
            && self.lexical_in_step()
    }
}

impl Workspace {
    /// Moves the generation the in-memory indexes reflect from `g - 1` to
    /// `g`, after a change of this process reached them. A gap (another
    /// process wrote in between) leaves it behind, for
    /// [`Workspace::refresh`] to catch up.
    pub(crate) fn advance(&self, g: i64) {
        let _ = self.indexed.compare_exchange(g - 1, g, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Commits the lexical index with the generation it reflects.
    pub(crate) fn commit_lexical(&self) -> Result<()> {
        let g = self.indexed.load(Ordering::SeqCst);
        self.lexical_mut().commit(g)?;
        self.lexical_loaded.store(g, Ordering::SeqCst);
        Ok(())
    }

    /// Brings the in-memory indexes up to date with changes another
    /// process made to the same data directory (documents, readers). Cheap
    /// when nothing changed (one read of the generation, one of the lexical
    /// index's record); skipped while an ingestion of this process runs.
    /// The vectors follow the store's generation; the lexical readers
    /// follow the index's own commits, which another process may make
    /// after its store writes (its ingestion commits the lexical index at
    /// its end). True when something was reloaded.
    pub async fn refresh(&self) -> Result<bool> {
        let Ok(_guard) = self.ingest_lock.try_lock() else { return Ok(false) };
        let generation = self.store.generation().await?;
        let committed = self.lexical().generation().unwrap_or(-1);
        let vectors_behind = generation != self.indexed.load(Ordering::SeqCst);
        let stale_before = self.lexical_stale.load(Ordering::SeqCst);
        if !vectors_behind && !stale_before && committed == self.lexical_loaded.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let mut rows = None;
        if vectors_behind {
            let r = self.store.chunks_of_docs(None, &AccessPass::system("reload derived indexes")).await?;
            *self.vectors_mut() = VectorIndex::Flat(vectors_from(self.embedder.dim(), &r)?);
            self.indexed.store(generation, Ordering::SeqCst);
            rows = Some(r);
        }
        self.lexical_mut().reload()?;
        let stale = self.lexical().generation() != Some(generation);
        // Behind the store: rebuilt here if nobody is writing it; else the
        // writer's commit moves its record, and a later call reloads (or,
        // if that writer died, rebuilds once the index is free).
        let still_stale = stale && !self.lexical_mut().lock_for_writing()?;
        if stale && !still_stale {
            let rows = match rows {
                Some(r) => r,
                None => self.store.chunks_of_docs(None, &AccessPass::system("rebuild the lexical index")).await?,
            };
            rebuild_lexical_if_stale(&mut self.lexical_mut(), &self.data_dir.join("lexical"), generation, &rows)?;
        }
        self.lexical_stale.store(still_stale, Ordering::SeqCst);
        self.lexical_loaded.store(self.lexical().generation().unwrap_or(-1), Ordering::SeqCst);
        if !still_stale || !stale_before {
            tracing::info!(target: "ingest", generation, "reloaded the indexes: another process changed the store");
        }
        Ok(true)
    }

    /// What this process's indexes hold: the store generation its vectors
    /// reflect, the chunks of its lexical index (as last reloaded) and of
    /// its vector index (for `/metrics`).
    pub fn index_state(&self) -> (i64, u64, usize) {
        (self.indexed.load(Ordering::SeqCst), self.lexical().num_docs(), self.vectors().len())
    }

    /// Verifies the store against the lexical and vector indexes, chunk by
    /// chunk; with `repair`, computes damaged vectors again and rebuilds
    /// the lexical index and the vectors from the store.
    pub async fn check(&self, repair: bool) -> Result<CheckReport> {
        let _guard = self.ingest_lock.lock().await;
        let (files, documents, chunks) = self.store.counts().await?;
        let generation = self.store.generation().await?;
        let (store_problems, bad_vectors) = self.store.check(self.embedder.dim()).await?;
        let mut report = CheckReport {
            files,
            documents,
            chunks,
            generation,
            lexical_generation: self.lexical().generation(),
            store_problems,
            bad_vectors,
            ..CheckReport::default()
        };
        let rows = self.store.chunks_of_docs(None, &AccessPass::system("check derived indexes")).await?;
        let stored: Vec<i64> = rows.iter().map(|(v, _)| v.chunk_id).collect();
        let indexed = self.lexical().chunk_ids()?;
        let (missing, extra) = differences(&stored, &indexed);
        report.lexical_missing_count = missing.len();
        report.lexical_missing = missing.into_iter().take(20).collect();
        report.lexical_extra_count = extra.len();
        report.lexical_extra = extra.into_iter().take(20).collect();
        report.vectors = self.vectors().len();
        report.vectors_expected = rows.len() - report.bad_vectors.len();
        if !repair || report.consistent() {
            return Ok(report);
        }
        for (chunk, path) in report.bad_vectors.clone() {
            let Some(text) = self.store.chunk_index_text(chunk).await? else { continue };
            let v = self.embedder.embed(vec![format!("passage: {text}")]).await?;
            let (scale, q) = quantize(&v.into_iter().next().unwrap_or_default());
            self.store.set_chunk_vector(chunk, scale, &q).await?;
            report.repaired.push(format!("computed the vector of chunk {chunk} ({path}) again"));
        }
        let generation = self.store.generation().await?;
        let rows = self.store.chunks_of_docs(None, &AccessPass::system("repair derived indexes")).await?;
        *self.vectors_mut() = VectorIndex::Flat(vectors_from(self.embedder.dim(), &rows)?);
        fill(&mut self.lexical_mut(), generation, &rows)?;
        self.indexed.store(generation, Ordering::SeqCst);
        self.lexical_loaded.store(generation, Ordering::SeqCst);
        report.repaired.push(format!("rebuilt the lexical and vector indexes from the store ({} chunks)", rows.len()));
        Ok(report)
    }
}

/// Empties the lexical index and fills it with `rows`, committed as of
/// `generation`.
/// (in `a` not in `b`, in `b` not in `a`) of two sorted lists.
fn differences(a: &[i64], b: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (vec![], vec![]);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_a.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                only_a.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                only_b.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (only_a, only_b)
}

#[cfg(test)]
mod tests {
    use super::differences;

    #[test]
    fn differences_of_sorted_lists() {
        assert_eq!(differences(&[1, 2, 4, 6], &[2, 3, 4, 7, 8]), (vec![1, 6], vec![3, 7, 8]));
        assert_eq!(differences(&[], &[5]), (vec![], vec![5]));
        assert_eq!(differences(&[1, 1, 2], &[1, 2]), (vec![1], vec![]));
    }
}
