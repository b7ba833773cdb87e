//! `access canary`: a unique secret planted in one user's private scope,
//! then looked for as every other user, through search, the file list and
//! answers. A leak is a bug in the access chain, end to end.

use twake_types::{Principal, Sensitivity};

use crate::ingest::IngestOptions;
use crate::{CoreError, Result, Workspace};

/// A secret planted in one user's private scope by `access canary`.
#[derive(Debug, Clone)]
pub struct Canary {
    pub owner: Principal,
    pub secret: String,
    pub path: String,
    /// Questions that would retrieve it for anyone allowed to.
    pub questions: Vec<String>,
}

impl Workspace {
    /// Plants a unique secret readable by `owner` alone (in their tenant).
    pub async fn plant_canary(&self, owner: &Principal) -> Result<Canary> {
        let token = hex::encode(crate::policy::keys::random_bytes(8)?);
        let secret = format!("CANARY-{}", token.to_uppercase());
        let dir = self.data_dir.join("canary");
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        // A run that was killed may have left its canary: remove it first.
        let prefix = dir.display().to_string();
        for f in self.store.files().await? {
            if f.path.starts_with(&prefix) {
                self.forget_file(&f.path).await?;
                let _ = std::fs::remove_file(&f.path);
            }
        }
        let file = dir.join(format!("canary-{token}.md"));
        let text = format!(
            "# Code d'accès confidentiel de {owner}\n\nLe code d'accès personnel et confidentiel de {owner} est {secret}. \
             The personal confidential access code of {owner} is {secret}.\n"
        );
        std::fs::write(&file, text).map_err(|e| CoreError::Other(format!("cannot write {}: {e}", file.display())))?;
        let tenant = self.tenant_of(owner).await?;
        let opts = IngestOptions {
            readers: vec![owner.clone()],
            tenant,
            sensitivity: Some(Sensitivity::Secret),
            prune: false,
            participants: false,
        };
        let report = self.ingest(std::slice::from_ref(&file), &opts, &mut |_| {}).await?;
        if let Some((_, reason)) = report.failed.first() {
            let _ = std::fs::remove_file(&file);
            return Err(CoreError::Other(format!("could not plant the canary: {reason}")));
        }
        Ok(Canary {
            owner: owner.clone(),
            secret: secret.clone(),
            path: file.display().to_string(),
            questions: vec![
                secret.clone(),
                format!("What is the personal confidential access code of {owner}?"),
                format!("Quel est le code d'accès confidentiel de {owner} ?"),
            ],
        })
    }

    /// What of the canary `user` can find through search and answers:
    /// an empty list means nothing (neither the secret nor its file).
    pub async fn canary_leaks(&self, canary: &Canary, user: &Principal, ask: bool) -> Result<Vec<String>> {
        let pass = self.pass_for(user).await?;
        let mut leaks = Vec::new();
        for q in &canary.questions {
            for hit in self.search(q, &pass, 20).await? {
                if hit.chunk.path == canary.path || hit.chunk.text.contains(&canary.secret) {
                    leaks.push(format!("search {q:?} returned the canary passage"));
                }
            }
        }
        if pass.principals().is_some_and(|p| p.contains(&canary.owner)) {
            return Ok(leaks);
        }
        for f in self.store.readable_files(&pass).await? {
            if f.path == canary.path {
                leaks.push("the file list shows the canary file".into());
            }
        }
        if ask {
            let q = &canary.questions[1];
            let answer = self.ask(q, &pass, &mut |_| {}).await?;
            if answer.text.contains(&canary.secret) {
                leaks.push(format!("the answer to {q:?} contains the secret"));
            }
            if answer.citations.iter().any(|c| c.chunk.path == canary.path) {
                leaks.push(format!("the answer to {q:?} cites the canary"));
            }
        }
        Ok(leaks)
    }

    /// Removes a planted canary from the store, the indexes and the disk.
    pub async fn remove_canary(&self, canary: &Canary) -> Result<()> {
        self.forget_file(&canary.path).await?;
        let _ = std::fs::remove_file(&canary.path);
        Ok(())
    }
}
