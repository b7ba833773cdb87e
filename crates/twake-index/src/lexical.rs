//! Lexical index: tantivy BM25 with a French and an English field, each with
//! its own analyser (tokenise → lowercase → stop words → stem → fold
//! accents). Readers are an indexed field so the access filter is a clause
//! of the query itself.

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermSetQuery};
use tantivy::schema::{Field, INDEXED, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use twake_types::{AccessPass, Tenant};

use crate::{ChunkAccess, IndexError, Result};

/// The lexical index. One variant today.
pub enum LexicalIndex {
    Tantivy(TantivyIndex),
}

impl LexicalIndex {
    pub fn search(&self, query: &str, pass: &AccessPass, k: usize) -> Result<Vec<(i64, f32)>> {
        match self {
            LexicalIndex::Tantivy(t) => t.search(query, pass, k),
        }
    }

    pub fn add(&mut self, chunk: ChunkAccess<'_>, text: &str) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.add(chunk, text),
        }
    }

    pub fn remove_docs(&mut self, doc_ids: &[i64]) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.remove_docs(doc_ids),
        }
    }

    pub fn clear(&mut self) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.clear(),
        }
    }

    /// Makes the changes durable and visible to searches, and records that
    /// the index now reflects the store's `generation`.
    pub fn commit(&mut self, generation: i64) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.commit_at(generation),
        }
    }

    /// The store generation of the last commit (`None`: unknown, as after
    /// a crash between a commit and its record, or in an older layout).
    pub fn generation(&self) -> Option<i64> {
        match self {
            LexicalIndex::Tantivy(t) => t.generation(),
        }
    }

    /// Sees what another process committed since this one opened the index.
    pub fn reload(&mut self) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.reload(),
        }
    }

    /// Takes the writer of every tenant's index, or none of them (false:
    /// another process is writing). Held until the next commit.
    pub fn lock_for_writing(&mut self) -> Result<bool> {
        match self {
            LexicalIndex::Tantivy(t) => t.lock_for_writing(),
        }
    }

    /// Every chunk id in the index, sorted (for `twake-ai check`).
    pub fn chunk_ids(&self) -> Result<Vec<i64>> {
        match self {
            LexicalIndex::Tantivy(t) => t.chunk_ids(),
        }
    }

    pub fn num_docs(&self) -> u64 {
        match self {
            LexicalIndex::Tantivy(t) => t.num_docs(),
        }
    }
}

fn lex_err(path: &str, e: tantivy::TantivyError) -> IndexError {
    IndexError::Lexical { path: path.to_string(), reason: e.to_string() }
}

/// One tantivy index per tenant (`<dir>/<tenant>/`): BM25 statistics are
/// per tenant, so no tenant's documents ever weigh on another's ranking.
pub struct TantivyIndex {
    dir: std::path::PathBuf,
    shards: BTreeMap<String, Shard>,
}

struct Shard {
    path: String,
    index: Index,
    reader: IndexReader,
    writer: Option<IndexWriter>,
    f: Fields,
}

#[derive(Clone, Copy)]
struct Fields {
    chunk: Field,
    doc: Field,
    readers: Field,
    tenant: Field,
    fr: Field,
    en: Field,
}

fn analyzer(lang: Language) -> TextAnalyzer {
    let mut b = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop) = StopWordFilter::new(lang) {
        b = b.filter_dynamic(stop);
    }
    b.filter_dynamic(Stemmer::new(lang)).filter_dynamic(AsciiFoldingFilter).build()
}

fn schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let chunk = sb.add_i64_field("chunk_id", INDEXED | STORED);
    let doc = sb.add_i64_field("doc_id", INDEXED);
    let readers = sb.add_text_field("readers", STRING);
    let tenant = sb.add_text_field("tenant", STRING);
    let text = |tok: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tok)
                .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fr = sb.add_text_field("text_fr", text("twake_fr"));
    let en = sb.add_text_field("text_en", text("twake_en"));
    (sb.build(), Fields { chunk, doc, readers, tenant, fr, en })
}

fn data_err(path: &Path) -> impl Fn(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::DataDir { path: path.display().to_string(), source }
}

impl Shard {
    fn open(dir: &Path) -> Result<Self> {
        let path = dir.display().to_string();
        let err = |e: tantivy::TantivyError| IndexError::Lexical { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(data_err(dir))?;
        let (schema, f) = schema();
        let mmap = |d: &Path| {
            tantivy::directory::MmapDirectory::open(d)
                .map_err(|e| IndexError::Lexical { path: path.clone(), reason: e.to_string() })
        };
        let index = match Index::open_or_create(mmap(dir)?, schema.clone()) {
            Ok(index) => index,
            // Derived data with an older schema: start afresh, the caller
            // rebuilds it from the store (its document count is then 0).
            Err(tantivy::TantivyError::SchemaError(reason)) => {
                tracing::info!(target: "ingest", %reason, "lexical index schema changed; rebuilding it");
                std::fs::remove_dir_all(dir).map_err(data_err(dir))?;
                std::fs::create_dir_all(dir).map_err(data_err(dir))?;
                Index::open_or_create(mmap(dir)?, schema).map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        index.tokenizers().register("twake_fr", analyzer(Language::French));
        index.tokenizers().register("twake_en", analyzer(Language::English));
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        Ok(Shard { path, index, reader, writer: None, f })
    }

    fn err(&self) -> impl Fn(tantivy::TantivyError) -> IndexError + '_ {
        |e| lex_err(&self.path, e)
    }

    fn writer(&mut self) -> Result<&mut IndexWriter> {
        if self.writer.is_none() {
            let w = match self.index.writer_with_num_threads(1, 32_000_000) {
                Err(tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _)) => {
                    return Err(IndexError::Busy { path: self.path.clone() });
                }
                w => w.map_err(self.err())?,
            };
            self.writer = Some(w);
        }
        Ok(self.writer.as_mut().expect("just set"))
    }

    /// Commits and lets the writer go, so that another process (a CLI
    /// ingest while `serve` runs, or the reverse) can take it.
    fn commit(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            w.commit().map_err(|e| lex_err(&self.path, e))?;
            w.wait_merging_threads().map_err(|e| lex_err(&self.path, e))?;
        }
        self.reader.reload().map_err(self.err())?;
        Ok(())
    }

    fn search(&self, query: &str, pass: &AccessPass, k: usize) -> Result<Vec<(i64, f32)>> {
        let parser = QueryParser::for_index(&self.index, vec![self.f.fr, self.f.en]);
        // Query syntax is not for end users: strip it and keep the words.
        let cleaned: String =
            query.chars().map(|c| if c.is_alphanumeric() || c == '\'' || c == '-' { c } else { ' ' }).collect();
        let cleaned = cleaned.replace(['\'', '-'], " ");
        let (text_query, _) = parser.parse_query_lenient(&cleaned);
        let query: Box<dyn Query> = match (pass.principals(), pass.tenant()) {
            (Some(principals), Some(tenant)) => {
                let terms = principals.iter().map(|p| Term::from_field_text(self.f.readers, p.as_str()));
                let tenant = Term::from_field_text(self.f.tenant, tenant.as_str());
                // The filters score 0: results keep their BM25 score, the
                // same as in an index holding the readable chunks alone.
                let filter = |q: TermSetQuery| -> Box<dyn Query> { Box::new(ConstScoreQuery::new(Box::new(q), 0.0)) };
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, text_query),
                    (Occur::Must, filter(TermSetQuery::new(terms))),
                    (Occur::Must, filter(TermSetQuery::new([tenant]))),
                ]))
            }
            _ if pass.system_reason().is_some() => text_query,
            // Fail closed on a pass that is neither a user's nor the system's.
            _ => return Ok(vec![]),
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k.max(1)).order_by_score()).map_err(self.err())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(self.err())?;
            if let Some(id) = d.get_first(self.f.chunk).and_then(|v| v.as_i64()) {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

impl TantivyIndex {
    /// Opens every tenant's index under `dir`. An index in the layout of
    /// older versions (one index for all tenants) is removed: it is derived
    /// data, rebuilt from the store.
    pub fn open(dir: &Path) -> Result<Self> {
        if dir.join("meta.json").exists() {
            tracing::info!(target: "ingest", "lexical index in the single-tenant layout; rebuilding it per tenant");
            std::fs::remove_dir_all(dir).map_err(data_err(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(data_err(dir))?;
        let mut shards = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(data_err(dir))? {
            let entry = entry.map_err(data_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && Tenant::parse(&name).is_ok_and(|t| t.as_str() == name) {
                shards.insert(name, Shard::open(&entry.path())?);
            }
        }
        Ok(TantivyIndex { dir: dir.to_path_buf(), shards })
    }

    fn shard(&mut self, tenant: &str) -> Result<&mut Shard> {
        if !self.shards.contains_key(tenant) {
            // Tenant names are checked (no path syntax) before they get here.
            let t = Tenant::parse(tenant)
                .map_err(|e| IndexError::Lexical { path: self.dir.display().to_string(), reason: e.to_string() })?;
            let shard = Shard::open(&self.dir.join(t.as_str()))?;
            self.shards.insert(tenant.to_string(), shard);
        }
        Ok(self.shards.get_mut(tenant).expect("just inserted"))
    }

    pub fn add(&mut self, chunk: ChunkAccess<'_>, text: &str) -> Result<()> {
        let shard = self.shard(chunk.tenant)?;
        let f = shard.f;
        let mut d = doc!(f.chunk => chunk.chunk_id, f.doc => chunk.doc_id, f.tenant => chunk.tenant, f.fr => text, f.en => text);
        for r in chunk.readers {
            d.add_text(f.readers, r);
        }
        let path = shard.path.clone();
        shard.writer()?.add_document(d).map_err(|e| lex_err(&path, e))?;
        Ok(())
    }

    /// Removes these documents from whichever tenant holds them.
    pub fn remove_docs(&mut self, doc_ids: &[i64]) -> Result<()> {
        for shard in self.shards.values_mut() {
            let f = shard.f.doc;
            let w = shard.writer()?;
            for id in doc_ids {
                w.delete_term(Term::from_field_i64(f, *id));
            }
        }
        Ok(())
    }

    pub fn clear(&mut self) -> Result<()> {
        for shard in self.shards.values_mut() {
            let path = shard.path.clone();
            shard.writer()?.delete_all_documents().map_err(|e| lex_err(&path, e))?;
        }
        Ok(())
    }

    pub fn commit(&mut self) -> Result<()> {
        for shard in self.shards.values_mut() {
            shard.commit()?;
        }
        Ok(())
    }

    /// Commits every tenant's index, then records `generation` in
    /// `<dir>/generation` (written aside and renamed: a crash leaves the
    /// older record, and the next open rebuilds).
    pub fn commit_at(&mut self, generation: i64) -> Result<()> {
        self.commit()?;
        let file = self.dir.join("generation");
        let tmp = self.dir.join("generation.tmp");
        std::fs::write(&tmp, generation.to_string()).map_err(data_err(&tmp))?;
        std::fs::rename(&tmp, &file).map_err(data_err(&file))?;
        Ok(())
    }

    pub fn generation(&self) -> Option<i64> {
        std::fs::read_to_string(self.dir.join("generation")).ok()?.trim().parse().ok()
    }

    /// Opens the tenants' indexes created since, and moves every reader to
    /// the last commit.
    pub fn reload(&mut self) -> Result<()> {
        for entry in std::fs::read_dir(&self.dir).map_err(data_err(&self.dir))? {
            let entry = entry.map_err(data_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir()
                && !self.shards.contains_key(&name)
                && Tenant::parse(&name).is_ok_and(|t| t.as_str() == name)
            {
                self.shards.insert(name, Shard::open(&entry.path())?);
            }
        }
        for shard in self.shards.values() {
            shard.reader.reload().map_err(shard.err())?;
        }
        Ok(())
    }

    pub fn lock_for_writing(&mut self) -> Result<bool> {
        let mut busy = false;
        for shard in self.shards.values_mut() {
            match shard.writer() {
                Ok(_) => {}
                Err(IndexError::Busy { .. }) => busy = true,
                Err(e) => return Err(e),
            }
        }
        if busy {
            for shard in self.shards.values_mut() {
                shard.writer = None;
            }
        }
        Ok(!busy)
    }

    pub fn chunk_ids(&self) -> Result<Vec<i64>> {
        let mut ids = Vec::new();
        for shard in self.shards.values() {
            let searcher = shard.reader.searcher();
            for segment in searcher.segment_readers() {
                let store = segment.get_store_reader(64).map_err(|e| lex_err(&shard.path, e.into()))?;
                for doc in segment.doc_ids_alive() {
                    let d: TantivyDocument = store.get(doc).map_err(shard.err())?;
                    if let Some(id) = d.get_first(shard.f.chunk).and_then(|v| v.as_i64()) {
                        ids.push(id);
                    }
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    pub fn num_docs(&self) -> u64 {
        self.shards.values().map(|s| s.reader.searcher().num_docs()).sum()
    }

    /// BM25 top-k among the chunks the pass may read: a user's pass reads
    /// their tenant's index only; a system pass merges every tenant's.
    pub fn search(&self, query: &str, pass: &AccessPass, k: usize) -> Result<Vec<(i64, f32)>> {
        match pass.tenant() {
            Some(t) => match self.shards.get(t.as_str()) {
                Some(shard) => shard.search(query, pass, k),
                None => Ok(vec![]),
            },
            None => {
                let mut all = Vec::new();
                for shard in self.shards.values() {
                    all.extend(shard.search(query, pass, k)?);
                }
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                all.truncate(k);
                Ok(all)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twake_types::{Directory, Principal, Tenant};

    fn at(chunk_id: i64, readers: &[String]) -> ChunkAccess<'_> {
        ChunkAccess { chunk_id, doc_id: chunk_id, tenant: "default", readers }
    }

    #[test]
    fn french_stemming_folding_and_access_filter() {
        let dir = tempfile_dir();
        let mut idx = TantivyIndex::open(&dir).unwrap();
        idx.add(at(1, &["alice@x".into()]), "La bascule du datacenter de Lyon est prévue le 14 mars.").unwrap();
        idx.add(at(2, &["bob@x".into()]), "Les bascules électriques de Lyon.").unwrap();
        idx.commit().unwrap();
        let alice = AccessPass::for_user(&Directory::default(), Principal::parse("alice@x").unwrap());
        let hits = idx.search("basculer prevues", &alice, 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1]);
        let all = idx.search("bascules \"lyon\" AND (", &AccessPass::system("test"), 10).unwrap();
        assert_eq!(all.len(), 2);
        idx.remove_docs(&[1]).unwrap();
        idx.commit().unwrap();
        assert!(idx.search("bascule", &alice, 10).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tenants_have_their_own_statistics_and_never_see_each_other() {
        let dir = tempfile_dir().with_extension("tenants");
        let _ = std::fs::remove_dir_all(&dir);
        let mut idx = TantivyIndex::open(&dir).unwrap();
        let r = ["alice@a.fr".to_string()];
        let a = |id| ChunkAccess { chunk_id: id, doc_id: id, tenant: "a", readers: &r };
        idx.add(a(1), "budget Lyon migration").unwrap();
        idx.add(a(2), "planning du projet").unwrap();
        idx.commit().unwrap();
        let mut d = Directory::default();
        d.add_domain("a.fr", Tenant::parse("a").unwrap());
        let alice = AccessPass::for_user(&d, Principal::parse("alice@a.fr").unwrap());
        let before = idx.search("budget", &alice, 5).unwrap();
        // Another tenant full of "budget", with alice's address as reader.
        for id in 10..40 {
            idx.add(ChunkAccess { chunk_id: id, doc_id: id, tenant: "b", readers: &r }, "budget budget").unwrap();
        }
        idx.commit().unwrap();
        assert_eq!(idx.search("budget", &alice, 5).unwrap(), before, "tenant b changed tenant a's scores");
        assert_eq!(idx.num_docs(), 32);
        // Reopened from disk, each tenant in its own folder.
        drop(idx);
        let idx = TantivyIndex::open(&dir).unwrap();
        assert_eq!(idx.search("budget", &alice, 5).unwrap(), before);
        assert!(dir.join("a").is_dir() && dir.join("b").is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("twake-lex-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}
