//! Changing who may read an ingested file, in place: the store's grants and
//! both indexes' access entries, without re-embedding; the labels follow
//! (rules may name readers).

use std::collections::BTreeSet;

use twake_types::{AccessPass, Principal};

use crate::engine::workspace::access_of;
use crate::{Result, Workspace};

impl Workspace {
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
            && let super::Relabel::Skipped(why) = self.relabel_file(&file, file.sensitivity, false).await?
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
