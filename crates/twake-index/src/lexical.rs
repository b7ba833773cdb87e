//! Lexical index: tantivy BM25 with a French and an English field, each with
//! its own analyser (tokenise → lowercase → stop words → stem → fold
//! accents). Readers are an indexed field so the access filter is a clause
//! of the query itself.

use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermSetQuery};
use tantivy::schema::{Field, INDEXED, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use twake_types::AccessPass;

use crate::{IndexError, Result};

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

    pub fn add(&mut self, chunk_id: i64, doc_id: i64, readers: &[String], text: &str) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.add(chunk_id, doc_id, readers, text),
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

    /// Makes the changes durable and visible to searches.
    pub fn commit(&mut self) -> Result<()> {
        match self {
            LexicalIndex::Tantivy(t) => t.commit(),
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

pub struct TantivyIndex {
    path: String,
    index: Index,
    reader: IndexReader,
    writer: Option<IndexWriter>,
    f_chunk: Field,
    f_doc: Field,
    f_readers: Field,
    f_fr: Field,
    f_en: Field,
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

impl TantivyIndex {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.display().to_string();
        let err = |e: tantivy::TantivyError| IndexError::Lexical { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|source| IndexError::DataDir { path: path.clone(), source })?;
        let mut sb = Schema::builder();
        let f_chunk = sb.add_i64_field("chunk_id", INDEXED | STORED);
        let f_doc = sb.add_i64_field("doc_id", INDEXED);
        let f_readers = sb.add_text_field("readers", STRING);
        let text = |tok: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(tok)
                    .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
            )
        };
        let f_fr = sb.add_text_field("text_fr", text("twake_fr"));
        let f_en = sb.add_text_field("text_en", text("twake_en"));
        let schema = sb.build();
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| IndexError::Lexical { path: path.clone(), reason: e.to_string() })?;
        let index = Index::open_or_create(mmap, schema).map_err(err)?;
        index.tokenizers().register("twake_fr", analyzer(Language::French));
        index.tokenizers().register("twake_en", analyzer(Language::English));
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        Ok(TantivyIndex { path, index, reader, writer: None, f_chunk, f_doc, f_readers, f_fr, f_en })
    }

    fn err(&self) -> impl Fn(tantivy::TantivyError) -> IndexError + '_ {
        |e| lex_err(&self.path, e)
    }

    fn writer(&mut self) -> Result<&mut IndexWriter> {
        if self.writer.is_none() {
            let w = self.index.writer_with_num_threads(1, 64_000_000).map_err(self.err())?;
            self.writer = Some(w);
        }
        Ok(self.writer.as_mut().expect("just set"))
    }

    pub fn add(&mut self, chunk_id: i64, doc_id: i64, readers: &[String], text: &str) -> Result<()> {
        let (fc, fd, fr, ffr, fen) = (self.f_chunk, self.f_doc, self.f_readers, self.f_fr, self.f_en);
        let mut d = doc!(fc => chunk_id, fd => doc_id, ffr => text, fen => text);
        for r in readers {
            d.add_text(fr, r);
        }
        let path = self.path.clone();
        self.writer()?.add_document(d).map_err(|e| lex_err(&path, e))?;
        Ok(())
    }

    pub fn remove_docs(&mut self, doc_ids: &[i64]) -> Result<()> {
        let f = self.f_doc;
        let w = self.writer()?;
        for id in doc_ids {
            w.delete_term(Term::from_field_i64(f, *id));
        }
        Ok(())
    }

    pub fn clear(&mut self) -> Result<()> {
        let path = self.path.clone();
        self.writer()?.delete_all_documents().map_err(|e| lex_err(&path, e))?;
        Ok(())
    }

    pub fn commit(&mut self) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.commit().map_err(|e| lex_err(&self.path, e))?;
        }
        self.reader.reload().map_err(self.err())?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// BM25 top-k among the chunks the pass may read.
    pub fn search(&self, query: &str, pass: &AccessPass, k: usize) -> Result<Vec<(i64, f32)>> {
        let parser = QueryParser::for_index(&self.index, vec![self.f_fr, self.f_en]);
        // Query syntax is not for end users: strip it and keep the words.
        let cleaned: String =
            query.chars().map(|c| if c.is_alphanumeric() || c == '\'' || c == '-' { c } else { ' ' }).collect();
        let cleaned = cleaned.replace(['\'', '-'], " ");
        let (text_query, _) = parser.parse_query_lenient(&cleaned);
        let query: Box<dyn Query> = match pass.principals() {
            Some(principals) => {
                let terms = principals.iter().map(|p| Term::from_field_text(self.f_readers, p.as_str()));
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, text_query),
                    (Occur::Must, Box::new(TermSetQuery::new(terms))),
                ]))
            }
            None => text_query,
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k.max(1)).order_by_score()).map_err(self.err())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(self.err())?;
            if let Some(id) = d.get_first(self.f_chunk).and_then(|v| v.as_i64()) {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twake_types::Principal;

    #[test]
    fn french_stemming_folding_and_access_filter() {
        let dir = tempfile_dir();
        let mut idx = TantivyIndex::open(&dir).unwrap();
        idx.add(1, 1, &["alice@x".into()], "La bascule du datacenter de Lyon est prévue le 14 mars.").unwrap();
        idx.add(2, 2, &["bob@x".into()], "Les bascules électriques de Lyon.").unwrap();
        idx.commit().unwrap();
        let alice = AccessPass::for_user(Principal::parse("alice@x").unwrap());
        let hits = idx.search("basculer prevues", &alice, 10).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1]);
        let all = idx.search("bascules \"lyon\" AND (", &AccessPass::system("test"), 10).unwrap();
        assert_eq!(all.len(), 2);
        idx.remove_docs(&[1]).unwrap();
        idx.commit().unwrap();
        assert!(idx.search("bascule", &alice, 10).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("twake-lex-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}
