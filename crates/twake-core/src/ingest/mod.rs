//! The ingestion pipeline: walk → read → hash → extract → chunk → embed →
//! store → index. One file at a time, each in its own store transaction, so
//! a bad file or a crash never loses what was already indexed.

pub mod items;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use twake_extract::{Format, chunk_document};
use twake_index::{DocLabels, FileRecord, NewChunk, NewDocument, quantize};
use twake_types::{AccessPass, Chunk, Document, Principal, Sensitivity, Tenant};

use crate::engine::derived::access_of;
use crate::policy::sensitivity::{Label, Source};
use crate::{CoreError, Result, Workspace};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    New {
        documents: usize,
        chunks: usize,
    },
    Updated {
        documents: usize,
        chunks: usize,
    },
    Unchanged,
    /// Same content, new readers: access (and labels, which rules may
    /// derive from readers) updated, nothing re-embedded.
    ReadersChanged,
    /// Same content and readers, another `--sensitivity`: labels updated.
    Relabelled,
    Failed(String),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub readers_changed: usize,
    pub relabelled: usize,
    pub failed: Vec<(String, String)>,
    /// Parts of files that could not be read (a broken message in an mbox).
    pub warnings: Vec<(String, String)>,
    pub skipped: usize,
    pub pruned: usize,
    pub documents: usize,
    pub chunks: usize,
}

/// What `relabel` did.
#[derive(Debug, Default, Clone)]
pub struct RelabelReport {
    pub files: usize,
    /// Documents whose level changed.
    pub changed: Vec<LabelChange>,
    /// Files whose labels were kept, and why.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelChange {
    pub path: String,
    pub title: String,
    pub from: Sensitivity,
    pub to: Sensitivity,
    pub reasons: Vec<String>,
}

/// One file labelled again.
pub(crate) enum Relabel {
    Same,
    Changed(Vec<LabelChange>),
    Skipped(String),
}

/// Progress events for a bar or a log.
pub enum IngestEvent<'a> {
    Started { files: usize },
    FileDone { path: &'a str, outcome: &'a FileOutcome },
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Who may read every document of these files (besides the
    /// participants of a mail, see `access.mail_participants`).
    pub readers: Vec<Principal>,
    /// The tenant the documents belong to.
    pub tenant: Tenant,
    /// The sensitivity of this source when nothing says more (default:
    /// `sensitivity.default`); rules, markings and detectors raise it.
    pub sensitivity: Option<Sensitivity>,
    pub prune: bool,
    /// Whether a mail's participants read it too (when
    /// `access.mail_participants` says so). Off for a file a user uploads:
    /// the `To:` of an `.eml` they wrote themselves gives nobody anything.
    pub participants: bool,
}

impl IngestOptions {
    pub fn readers(readers: Vec<Principal>) -> Self {
        IngestOptions { readers, tenant: Tenant::default(), sensitivity: None, prune: false, participants: true }
    }
}

/// A file to ingest: its path as given (relative stays relative) and
/// whether its format is forced (Maildir messages have no extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub forced: Option<Format>,
    /// Named on the command line (an unknown format is then an error, not a skip).
    pub explicit: bool,
}

/// Expands files and folders (recursively, in sorted order, hidden entries
/// skipped). A folder with `cur/` and `new/` is a Maildir.
pub fn walk(paths: &[PathBuf]) -> (Vec<Input>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk_dir(p, &mut out, &mut errors);
        } else if p.exists() {
            out.push(Input { path: p.clone(), forced: None, explicit: true });
        } else {
            errors.push((p.display().to_string(), "no such file or directory".to_string()));
        }
    }
    (out, errors)
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn walk_dir(dir: &Path, out: &mut Vec<Input>, errors: &mut Vec<(String, String)>) {
    if is_maildir(dir) {
        for sub in ["cur", "new"] {
            let mut files = list(&dir.join(sub), errors);
            files.retain(|f| f.is_file());
            out.extend(files.into_iter().map(|path| Input { path, forced: Some(Format::Eml), explicit: false }));
        }
        return;
    }
    for entry in list(dir, errors) {
        if entry.is_dir() {
            walk_dir(&entry, out, errors);
        } else if entry.is_file() {
            out.push(Input { path: entry, forced: None, explicit: false });
        }
    }
}

fn list(dir: &Path, errors: &mut Vec<(String, String)>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect();
            v.sort();
            v
        }
        Err(e) => {
            errors.push((dir.display().to_string(), format!("cannot list folder: {e}")));
            vec![]
        }
    }
}

/// Text given to both indexes for a chunk: the title carries the topic.
pub fn index_text(title: &str, text: &str) -> String {
    format!("{title}\n{text}")
}

impl Workspace {
    pub async fn ingest(
        &self,
        paths: &[PathBuf],
        opts: &IngestOptions,
        progress: &mut (dyn FnMut(IngestEvent<'_>) + Send),
    ) -> Result<IngestReport> {
        // One ingestion at a time: each file's store transaction and index
        // updates stay in order. Searches run meanwhile.
        let _guard = self.ingest_lock.lock().await;
        let mut report = IngestReport::default();
        let (inputs, errors) = walk(paths);
        report.failed.extend(errors);
        progress(IngestEvent::Started { files: inputs.len() });
        let readers: Vec<Principal> = {
            let set: BTreeSet<Principal> = opts.readers.iter().cloned().collect();
            set.into_iter().collect()
        };
        let mut since_commit = 0;
        for input in &inputs {
            let path = input.path.display().to_string();
            let outcome = match self.ingest_one(input, &readers, opts).await {
                Ok(Some((o, warnings))) => {
                    report.warnings.extend(warnings.into_iter().map(|w| (path.clone(), w)));
                    o
                }
                Ok(None) => {
                    report.skipped += 1;
                    continue;
                }
                Err(e) => FileOutcome::Failed(e),
            };
            match &outcome {
                FileOutcome::New { documents, chunks } => {
                    report.new += 1;
                    report.documents += documents;
                    report.chunks += chunks;
                    since_commit += 1;
                }
                FileOutcome::Updated { documents, chunks } => {
                    report.updated += 1;
                    report.documents += documents;
                    report.chunks += chunks;
                    since_commit += 1;
                }
                FileOutcome::Unchanged => report.unchanged += 1,
                FileOutcome::ReadersChanged => {
                    report.readers_changed += 1;
                    since_commit += 1;
                }
                FileOutcome::Relabelled => report.relabelled += 1,
                FileOutcome::Failed(reason) => report.failed.push((path.clone(), reason.clone())),
            }
            progress(IngestEvent::FileDone { path: &path, outcome: &outcome });
            if since_commit >= 50 {
                self.commit_lexical()?;
                since_commit = 0;
            }
        }
        if opts.prune {
            report.pruned = self.prune().await?;
        }
        self.commit_lexical()?;
        Ok(report)
    }

    /// Removes the documents of files that no longer exist.
    async fn prune(&self) -> Result<usize> {
        let mut n = 0;
        for f in self.store.files().await? {
            // Items of connected sources (`matrix://…`) are no files.
            if !is_source_item(&f.path) && !Path::new(&f.path).exists() {
                let (removed, generation) = self.store.remove_file(&f.path).await?;
                self.drop_derived(&removed)?;
                self.advance(generation);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes one ingested file from the store and the indexes; false
    /// when no such file was ingested.
    pub async fn forget_file(&self, path: &str) -> Result<bool> {
        let _guard = self.ingest_lock.lock().await;
        let found = self.forget_locked(path).await?;
        self.commit_lexical()?;
        Ok(found)
    }

    /// [`Workspace::forget_file`] for a caller holding `ingest_lock`; the
    /// lexical index is committed by the caller.
    pub(crate) async fn forget_locked(&self, path: &str) -> Result<bool> {
        if self.store.file(path).await?.is_none() {
            return Ok(false);
        }
        let (removed, generation) = self.store.remove_file(path).await?;
        self.drop_derived(&removed)?;
        self.advance(generation);
        Ok(true)
    }

    fn drop_derived(&self, docs: &[i64]) -> Result<()> {
        self.vectors_mut().remove_docs(docs);
        Ok(self.lexical_mut().remove_docs(docs)?)
    }

    /// `Ok(None)`: not a file TwakeAI reads (skipped while walking a folder).
    /// `Err(reason)`: the file failed; nothing already indexed is lost.
    async fn ingest_one(
        &self,
        input: &Input,
        readers: &[Principal],
        opts: &IngestOptions,
    ) -> Result<Option<(FileOutcome, Vec<String>)>, String> {
        let tenant = &opts.tenant;
        let path = input.path.display().to_string();
        let max_mb = self.config.ingest.max_file_mb;
        let size = tokio::fs::metadata(&input.path).await.map_err(|e| format!("cannot read file: {e}"))?.len();
        if size > max_mb << 20 {
            return Err(format!(
                "the file is {:.1} MB, above the limit of {max_mb} MB (`ingest.max_file_mb`): split it, or raise the limit",
                size as f64 / f64::from(1 << 20)
            ));
        }
        let bytes = tokio::fs::read(&input.path).await.map_err(|e| format!("cannot read file: {e}"))?;
        let name = input.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let format = match input.forced.or_else(|| Format::detect(&name, &bytes[..bytes.len().min(4096)])) {
            Some(f) => f,
            None if input.explicit => {
                return Err("unknown format: TwakeAI reads .eml, mbox, Maildir, .md, .txt, .html, .pdf, .docx, .odt, .pptx, .vtt and .srt".into());
            }
            None => return Ok(None),
        };
        let hash = hex::encode(Sha256::digest(&bytes));
        let previous = self.store.file(&path).await.map_err(|e| e.to_string())?;
        if let Some(prev) = &previous
            && prev.content_hash == hash
            && &prev.tenant == tenant
        {
            let readers_changed = prev.readers != readers;
            if !readers_changed && prev.sensitivity == opts.sensitivity {
                return Ok(Some((FileOutcome::Unchanged, vec![])));
            }
            if readers_changed {
                self.set_readers_locked(&path, readers).await.map_err(|e| e.to_string())?;
            }
            let record = FileRecord { readers: readers.to_vec(), ..prev.clone() };
            match self.relabel_file(&record, opts.sensitivity, false).await.map_err(|e| e.to_string())? {
                Relabel::Skipped(why) => return Err(format!("labels not updated: {why}")),
                Relabel::Same | Relabel::Changed(_) => {}
            }
            let outcome = if readers_changed { FileOutcome::ReadersChanged } else { FileOutcome::Relabelled };
            return Ok(Some((outcome, vec![])));
        }
        let name2 = name.clone();
        let extracted = tokio::task::spawn_blocking(move || twake_extract::extract(format, &name2, &bytes))
            .await
            .map_err(|e| format!("extraction crashed: {e}"))?
            .map_err(|e| e.to_string())?;
        let record = FileRecord {
            path: path.clone(),
            content_hash: hash,
            readers: readers.to_vec(),
            format: format.name().to_string(),
            tenant: tenant.clone(),
            sensitivity: opts.sensitivity,
        };
        let (n_docs, n_chunks) = self.store_documents(&record, extracted.documents, opts.participants).await?;
        let outcome = if previous.is_some() {
            FileOutcome::Updated { documents: n_docs, chunks: n_chunks }
        } else {
            FileOutcome::New { documents: n_docs, chunks: n_chunks }
        };
        Ok(Some((outcome, extracted.warnings)))
    }

    /// Chunks, embeds, labels and stores the documents of one file (or of
    /// one item of a connected source) in one store transaction, replacing
    /// what was stored under its path, then updates the derived indexes.
    /// The caller holds `ingest_lock`. Returns (documents, chunks). A
    /// mail's participants read it too when `participants` is set and
    /// `access.mail_participants` says so.
    pub(crate) async fn store_documents(
        &self,
        record: &FileRecord,
        documents: Vec<Document>,
        participants: bool,
    ) -> Result<(usize, usize), String> {
        let readers = &record.readers[..];
        let mut docs = Vec::new();
        let mut texts = Vec::new();
        for doc in documents {
            let chunks = chunk_document(&doc);
            for c in &chunks {
                texts.push(format!("passage: {}", index_text(&doc.title, &c.text)));
            }
            docs.push((doc, chunks));
        }
        let vectors = self.embedder.embed(texts).await.map_err(|e| format!("embedding failed: {e}"))?;
        let mut vi = vectors.into_iter();
        let mut new_docs = Vec::new();
        let mut n_chunks = 0;
        let source = crate::policy::sensitivity::Source { path: &record.path, readers, default: record.sensitivity };
        let labels = self.label_all(&docs, &source);
        for ((doc, chunks), (doc_label, chunk_labels)) in docs.into_iter().zip(labels) {
            let chunks = chunks
                .into_iter()
                .zip(chunk_labels)
                .map(|(c, label)| {
                    let (scale, embedding) = quantize(&vi.next().unwrap_or_default());
                    let sensitivity = label.level;
                    NewChunk { ordinal: c.ordinal, locator: c.locator, text: c.text, scale, embedding, sensitivity }
                })
                .collect::<Vec<_>>();
            n_chunks += chunks.len();
            let grants =
                crate::policy::access::grants(&doc, readers, self.config.access.mail_participants && participants);
            new_docs.push(NewDocument {
                doc,
                chunks,
                grants,
                sensitivity: doc_label.level,
                sensitivity_reasons: doc_label.reasons,
            });
        }
        let n_docs = new_docs.len();
        let (removed, added, generation) =
            self.store.replace_file(record, &new_docs).await.map_err(|e| e.to_string())?;
        self.index_docs(&removed, &added).await.map_err(|e| e.to_string())?;
        self.advance(generation);
        Ok((n_docs, n_chunks))
    }

    /// Labels documents and their chunks: each chunk gets its document's
    /// label raised by its own detectors; the document the highest of its
    /// chunks.
    fn label_all(&self, docs: &[(Document, Vec<Chunk>)], source: &Source<'_>) -> Vec<(Label, Vec<Label>)> {
        let labels = &self.config.sensitivity;
        docs.iter()
            .map(|(doc, chunks)| {
                let base = labels.label_document(doc, source);
                let mut doc_label = base.clone();
                let chunk_labels: Vec<Label> = chunks
                    .iter()
                    .map(|c| {
                        let label = labels.label_chunk(&base, &c.text);
                        for r in &label.reasons {
                            doc_label.raise(label.level, r.clone());
                        }
                        label
                    })
                    .collect();
                (doc_label, chunk_labels)
            })
            .collect()
    }

    /// Recomputes the labels of every indexed file from the current rules,
    /// markings and detectors, and each file's own default, without
    /// re-embedding anything (files are read and extracted again). Files
    /// changed or gone since they were indexed keep their labels and are
    /// listed as skipped. With `dry_run`, nothing is written.
    pub async fn relabel(
        &self,
        dry_run: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<RelabelReport> {
        let _guard = self.ingest_lock.lock().await;
        let files = self.store.files().await?;
        let mut report = RelabelReport { files: files.len(), ..RelabelReport::default() };
        for (i, f) in files.iter().enumerate() {
            match self.relabel_file(f, f.sensitivity, dry_run).await? {
                Relabel::Same => {}
                Relabel::Changed(c) => report.changed.extend(c),
                Relabel::Skipped(why) => report.skipped.push((f.path.clone(), why)),
            }
            progress(i + 1, files.len());
        }
        Ok(report)
    }

    /// Labels one indexed file again (see [`Workspace::relabel`]) with
    /// `default` as its own default level, which is stored with it.
    pub(crate) async fn relabel_file(
        &self,
        file: &FileRecord,
        default: Option<Sensitivity>,
        dry_run: bool,
    ) -> Result<Relabel> {
        if is_source_item(&file.path) {
            return Ok(Relabel::Skipped(
                "an item of a connected source: labelled again when the source changes it".into(),
            ));
        }
        let bytes = match tokio::fs::read(&file.path).await {
            Ok(b) => b,
            Err(e) => return Ok(Relabel::Skipped(format!("cannot read the file ({e}); its labels are kept"))),
        };
        if hex::encode(Sha256::digest(&bytes)) != file.content_hash {
            return Ok(Relabel::Skipped(
                "changed since it was indexed; its labels are kept until it is ingested again".into(),
            ));
        }
        let Some(format) = Format::from_name(&file.format) else {
            return Ok(Relabel::Skipped(format!("unknown stored format {:?}: ingest it again", file.format)));
        };
        let name = Path::new(&file.path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let extracted = tokio::task::spawn_blocking(move || twake_extract::extract(format, &name, &bytes))
            .await
            .map_err(|e| CoreError::Other(format!("extraction crashed: {e}")))?;
        let docs: Vec<(Document, Vec<Chunk>)> = match extracted {
            Ok(x) => x
                .documents
                .into_iter()
                .map(|d| {
                    let c = chunk_document(&d);
                    (d, c)
                })
                .collect(),
            Err(e) => return Ok(Relabel::Skipped(format!("cannot be read again ({e}); its labels are kept"))),
        };
        let stored = self.store.file_documents(&file.path).await?;
        let differs = "its documents differ from the indexed ones (a newer extractor?): ingest it again";
        if stored.len() != docs.len() || stored.iter().zip(&docs).any(|(s, (d, _))| s.title != d.title) {
            return Ok(Relabel::Skipped(differs.into()));
        }
        let source = Source { path: &file.path, readers: &file.readers, default };
        let labels = self.label_all(&docs, &source);
        let mut changes = Vec::new();
        let mut updates = Vec::new();
        for ((s, (_, chunks)), (doc_label, chunk_labels)) in stored.iter().zip(&docs).zip(labels) {
            if s.sensitivity != doc_label.level {
                changes.push(LabelChange {
                    path: file.path.clone(),
                    title: s.title.clone(),
                    from: s.sensitivity,
                    to: doc_label.level,
                    reasons: doc_label.reasons.clone(),
                });
            }
            updates.push(DocLabels {
                doc_id: s.doc_id,
                sensitivity: doc_label.level,
                reasons: doc_label.reasons,
                chunks: chunks.iter().zip(chunk_labels).map(|(c, l)| (c.ordinal, l.level)).collect(),
            });
        }
        if !dry_run && !self.store.set_labels(&file.path, default, &updates).await? {
            return Ok(Relabel::Skipped(differs.into()));
        }
        Ok(if changes.is_empty() { Relabel::Same } else { Relabel::Changed(changes) })
    }

    async fn index_docs(&self, removed: &[i64], added: &[i64]) -> Result<()> {
        self.drop_derived(removed)?;
        let rows = self.store.chunks_of_docs(Some(added), &AccessPass::system("index newly stored chunks")).await?;
        let (mut vectors, mut lexical) = (self.vectors_mut(), self.lexical_mut());
        for (v, text) in &rows {
            vectors.insert(access_of(v), v.scale, &v.embedding)?;
            lexical.add(access_of(v), text)?;
        }
        Ok(())
    }

    /// Replaces the readers of an ingested file. The indexes are updated in
    /// place (nothing is re-embedded); the next query sees the change. The
    /// file's labels are computed again (rules may name readers); when that
    /// cannot be done (the file changed or is gone) the reason is returned
    /// and the labels are kept. False when no such file was ingested.
    pub async fn set_readers(&self, path: &str, readers: &[Principal]) -> Result<(bool, Option<String>)> {
        let _guard = self.ingest_lock.lock().await;
        let found = self.set_readers_locked(path, readers).await?;
        self.commit_lexical()?;
        let mut kept = None;
        if found
            && let Some(file) = self.store.file(path).await?
            && let Relabel::Skipped(why) = self.relabel_file(&file, file.sensitivity, false).await?
        {
            kept = Some(why);
        }
        Ok((found, kept))
    }

    /// [`Workspace::set_readers`] for a caller that holds the ingest lock.
    pub(crate) async fn set_readers_locked(&self, path: &str, readers: &[Principal]) -> Result<bool> {
        let mut readers = readers.to_vec();
        readers.sort();
        readers.dedup();
        let Some((docs, generation)) = self.store.set_file_readers(path, &readers).await? else { return Ok(false) };
        let rows = self.store.chunks_of_docs(Some(&docs), &AccessPass::system("re-index changed readers")).await?;
        let (mut vectors, mut lexical) = (self.vectors_mut(), self.lexical_mut());
        lexical.remove_docs(&docs)?;
        let mut seen = BTreeSet::new();
        for (v, text) in &rows {
            if seen.insert(v.doc_id) {
                vectors.set_access(v.doc_id, &v.tenant, &v.readers);
            }
            lexical.add(access_of(v), text)?;
        }
        drop((vectors, lexical));
        self.advance(generation);
        Ok(true)
    }
}

/// Whether a stored path is an item of a connected source (not a file).
pub fn is_source_item(path: &str) -> bool {
    path.split_once("://")
        .is_some_and(|(scheme, _)| matches!(scheme, "matrix" | "imap" | "jmap" | "webdav" | "caldav" | "folder"))
}

/// The path prefix of every item of a source.
pub fn item_prefix(kind: &str, name: &str) -> String {
    format!("{kind}://{name}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_finds_files_sorted_detects_maildir_and_reports_missing() {
        let d = std::env::temp_dir().join(format!("twake-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("docs/.git")).unwrap();
        std::fs::create_dir_all(d.join("mail/cur")).unwrap();
        std::fs::create_dir_all(d.join("mail/new")).unwrap();
        std::fs::create_dir_all(d.join("mail/tmp")).unwrap();
        std::fs::write(d.join("docs/b.md"), "x").unwrap();
        std::fs::write(d.join("docs/a.txt"), "x").unwrap();
        std::fs::write(d.join("docs/.git/config"), "x").unwrap();
        std::fs::write(d.join("mail/cur/123.host:2,S"), "x").unwrap();
        let (inputs, errors) = walk(&[d.clone(), d.join("missing.pdf")]);
        let names: Vec<String> =
            inputs.iter().map(|i| i.path.strip_prefix(&d).unwrap().display().to_string()).collect();
        assert_eq!(names, ["docs/a.txt", "docs/b.md", "mail/cur/123.host:2,S"]);
        assert_eq!(inputs[2].forced, Some(Format::Eml));
        assert_eq!(errors.len(), 1);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn source_items_are_told_from_files() {
        assert!(is_source_item("matrix://chat/!r:localhost/$e"));
        assert!(!is_source_item("examples/workspace/shared/mail/x.mbox"));
        assert!(!is_source_item("/tmp/a://b"));
    }
}
