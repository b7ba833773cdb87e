//! Hybrid retrieval: BM25 (French and English fields) and dense vectors,
//! both filtered by the access pass inside the index, then fused.

use std::collections::HashMap;

use twake_index::ChunkView;
use twake_types::AccessPass;

use crate::engine::config::FusionMethod;
use crate::engine::text::terms;
use crate::{Result, Workspace};

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub rank: usize,
    /// Fused score (meaning depends on the fusion method).
    pub score: f32,
    /// Cosine similarity of the passage to the query.
    pub dense: f32,
    pub lexical: Option<f32>,
    pub chunk: ChunkView,
    pub snippet: String,
}

/// One candidate after fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub chunk_id: i64,
    pub score: f32,
    /// Cosine similarity (the lowest dense candidate's for a chunk found by
    /// the lexical index only: it is at most that).
    pub dense: f32,
    pub lexical: Option<f32>,
}

/// A candidate's positions in both rankings.
#[derive(Clone, Copy)]
struct Ranks {
    dense: Option<usize>,
    cosine: f32,
    lexical: Option<(usize, f32)>,
}

/// Combines a dense and a lexical ranking (each best first).
pub fn fuse(
    dense: &[(i64, f32)],
    lexical: &[(i64, f32)],
    method: FusionMethod,
    lexical_weight: f32,
    rrf_k: f32,
) -> Vec<Fused> {
    let floor = dense.last().map(|d| d.1).unwrap_or(0.0);
    let max_bm25 = lexical.iter().map(|l| l.1).fold(0f32, f32::max).max(1e-6);
    let empty = Ranks { dense: None, cosine: floor, lexical: None };
    let mut all: HashMap<i64, Ranks> = HashMap::new();
    for (r, (id, s)) in dense.iter().enumerate() {
        let e = all.entry(*id).or_insert(empty);
        e.dense = Some(r);
        e.cosine = *s;
    }
    for (r, (id, s)) in lexical.iter().enumerate() {
        all.entry(*id).or_insert(empty).lexical = Some((r, *s));
    }
    let rrf = |r: usize| 1.0 / (rrf_k + r as f32 + 1.0);
    let mut out: Vec<Fused> = all
        .into_iter()
        .filter_map(|(id, r)| {
            let score = match method {
                FusionMethod::Dense => r.dense.map(|_| r.cosine)?,
                FusionMethod::Lexical => r.lexical.map(|(_, s)| s)?,
                FusionMethod::Weighted => {
                    r.cosine + lexical_weight * r.lexical.map(|(_, s)| s / max_bm25).unwrap_or(0.0)
                }
                FusionMethod::Rrf => r.dense.map(rrf).unwrap_or(0.0) + r.lexical.map(|(k, _)| rrf(k)).unwrap_or(0.0),
            };
            Some(Fused { chunk_id: id, score, dense: r.cosine, lexical: r.lexical.map(|l| l.1) })
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.chunk_id.cmp(&b.chunk_id)));
    out
}

/// The sentence of `text` that shares most terms with the query, cut to
/// about `max` characters. A mail chunk's header lines (subject, sender)
/// are left out.
pub fn snippet(text: &str, query: &str, max: usize) -> String {
    let q: Vec<String> = terms(query);
    let body = match text.split_once("\n\n") {
        Some((head, rest))
            if head.lines().count() == 2 && head.lines().nth(1).is_some_and(|l| l.starts_with("From: ")) =>
        {
            rest
        }
        _ => text,
    };
    let flat = body.replace('\n', " ");
    let sentences = twake_extract::chunk::sentences(&flat);
    let best = sentences
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| {
            let t = terms(s);
            (q.iter().filter(|w| t.contains(w)).count(), usize::MAX - i)
        })
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut out = String::new();
    for s in sentences.iter().skip(best) {
        if !out.is_empty() && out.chars().count() + s.chars().count() > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    if out.chars().count() > max {
        out = out.chars().take(max).collect::<String>() + "…";
    }
    out
}

/// What a search may be narrowed to (the web UI's search page): kinds of
/// source, a person (a case-insensitive part of the author's name or
/// address) and dates (`YYYY-MM-DD`, both ends included; an undated passage
/// is left out when a date is given). Applied to the best candidates both
/// rankings found for the pass, so the top-k stay the asker's best k among
/// what matches.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub kinds: Vec<twake_types::SourceKind>,
    pub person: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl SearchFilter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.person.is_none() && self.since.is_none() && self.until.is_none()
    }

    pub fn keeps(&self, c: &ChunkView) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&c.kind) {
            return false;
        }
        if let Some(p) = &self.person {
            let p = p.to_lowercase();
            if !c.author.as_deref().is_some_and(|a| a.to_lowercase().contains(&p)) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(day) = c.date.as_deref().and_then(|d| d.get(..10)) else { return false };
            if self.since.as_deref().is_some_and(|s| day < s) || self.until.as_deref().is_some_and(|u| day > u) {
                return false;
            }
        }
        true
    }
}

/// How many more candidates a filtered search reads than an unfiltered one.
const FILTER_WIDENING: usize = 10;

impl Workspace {
    /// Hybrid search over what the pass may read: the best `k` passages.
    pub async fn search(&self, query: &str, pass: &AccessPass, k: usize) -> Result<Vec<SearchHit>> {
        self.search_filtered(query, pass, k, &SearchFilter::default()).await
    }

    /// [`Workspace::search`] narrowed by `filter`.
    pub async fn search_filtered(
        &self,
        query: &str,
        pass: &AccessPass,
        k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchHit>> {
        let cfg = &self.config.retrieval;
        let qv = self.embedder.embed_query(query).await?;
        let n = if filter.is_empty() { cfg.candidates.max(k) } else { cfg.candidates.max(k) * FILTER_WIDENING };
        let dense = self.vectors().search(&qv, pass, n)?;
        let lexical = self.lexical().search(query, pass, n)?;
        let fused = fuse(&dense, &lexical, cfg.fusion, cfg.lexical_weight, cfg.rrf_k);
        let top: Vec<_> = if filter.is_empty() { fused.into_iter().take(k).collect() } else { fused };
        let ids: Vec<i64> = top.iter().map(|t| t.chunk_id).collect();
        let views = self.store.chunks(&ids, pass).await?;
        let mut by_id: HashMap<i64, ChunkView> = views.into_iter().map(|v| (v.chunk_id, v)).collect();
        Ok(top
            .into_iter()
            .filter_map(|f| {
                let chunk = by_id.remove(&f.chunk_id).filter(|c| filter.keeps(c))?;
                let snippet = snippet(&chunk.text, query, 240);
                Some(SearchHit { rank: 0, score: f.score, dense: f.dense, lexical: f.lexical, chunk, snippet })
            })
            .take(k)
            .enumerate()
            .map(|(i, hit)| SearchHit { rank: i + 1, ..hit })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_methods() {
        let dense = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let lexical = [(3, 10.0), (4, 5.0)];
        let ids = |v: Vec<Fused>| v.into_iter().map(|x| x.chunk_id).collect::<Vec<_>>();
        assert_eq!(ids(fuse(&dense, &lexical, FusionMethod::Dense, 0.0, 60.0)), [1, 2, 3]);
        assert_eq!(ids(fuse(&dense, &lexical, FusionMethod::Lexical, 0.0, 60.0)), [3, 4]);
        // A strong lexical match lifts chunk 3 above 2 and 1 with weight 0.3.
        assert_eq!(ids(fuse(&dense, &lexical, FusionMethod::Weighted, 0.3, 60.0))[0], 3);
        let rrf = ids(fuse(&dense, &lexical, FusionMethod::Rrf, 0.0, 60.0));
        assert_eq!(rrf[0], 3);
        assert_eq!(rrf.len(), 4);
    }

    #[test]
    fn snippet_picks_the_matching_sentence() {
        let t = "Intro sans rapport. La bascule de Lyon aura lieu le 14 mars. Autre chose.";
        assert!(snippet(t, "date de la bascule Lyon", 60).starts_with("La bascule de Lyon"));
    }
}
