//! Conversation history: what a user asked and was answered, kept per user
//! in the store so it follows them from one browser to another.
//!
//! Invariant: a stored answer is shown again only while its reader may
//! still read every passage it cited. Each time a conversation is opened,
//! its citations are checked against the reader's pass as it is now; an
//! answer citing a passage they can no longer open is withheld (its
//! question stays). The citations' titles, locators and snippets are read
//! again from the store, never kept.

use serde::{Deserialize, Serialize};
use twake_types::AccessPass;

use crate::{CoreError, Principal, Result, Workspace};

/// The most turns a conversation keeps, and the longest question or
/// answer stored.
pub const MAX_TURNS: usize = 100;
pub const MAX_TEXT: usize = 20_000;

/// One question and its answer, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub question: String,
    pub answer: String,
    #[serde(default)]
    pub citations: Vec<CitedPassage>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub audit_id: Option<i64>,
}

/// A citation as stored: which passage `[n]` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitedPassage {
    pub n: usize,
    pub doc_id: i64,
    pub chunk_id: i64,
}

/// A conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationSummary {
    pub id: i64,
    pub title: String,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A conversation as its owner opens it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenedConversation {
    pub id: i64,
    pub title: String,
    pub updated_at: i64,
    pub turns: Vec<OpenedTurn>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenedTurn {
    pub question: String,
    /// `None` when withheld.
    pub answer: Option<String>,
    /// True when the answer cited a passage the reader can no longer open.
    pub withheld: bool,
    pub citations: Vec<OpenedCitation>,
    pub model: String,
    pub decision: String,
    pub audit_id: Option<i64>,
}

/// A citation with what the reader may see of its passage today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenedCitation {
    pub n: usize,
    pub doc_id: i64,
    pub chunk_id: i64,
    pub path: String,
    pub message_id: Option<String>,
    pub title: String,
    pub locator: String,
    pub snippet: String,
    pub sensitivity: &'static str,
}

/// Checks turns before they are stored: bounded sizes, a question each.
pub fn validate(turns: &[Turn]) -> std::result::Result<(), String> {
    if turns.len() > MAX_TURNS {
        return Err(format!("a conversation keeps at most {MAX_TURNS} turns; start a new one"));
    }
    for (i, t) in turns.iter().enumerate() {
        if t.question.trim().is_empty() {
            return Err(format!("turn {}: the question is empty", i + 1));
        }
        if t.question.len() > MAX_TEXT || t.answer.len() > MAX_TEXT {
            return Err(format!("turn {}: a question or answer is longer than {MAX_TEXT} bytes", i + 1));
        }
    }
    Ok(())
}

/// The longest title a user may give a conversation, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A title from the first question: its first 80 characters.
fn title_of(turns: &[Turn]) -> String {
    let q = turns.first().map(|t| t.question.trim()).unwrap_or("");
    let mut title: String = q.chars().take(80).collect();
    if q.chars().count() > 80 {
        title.push('…');
    }
    title
}

impl Workspace {
    /// Stores a conversation of `user` (a new one when `id` is `None`);
    /// `None` when `id` is not one of theirs.
    pub async fn save_conversation(&self, user: &Principal, id: Option<i64>, turns: &[Turn]) -> Result<Option<i64>> {
        validate(turns).map_err(CoreError::Other)?;
        let json = serde_json::to_string(turns).map_err(|e| CoreError::Other(e.to_string()))?;
        // The title follows the first question, unless the user renamed it.
        let mut title = title_of(turns);
        if let Some(id) = id {
            let Some(row) = self.store.conversation(user.as_str(), id).await? else { return Ok(None) };
            let before: Vec<Turn> = serde_json::from_str(&row.turns).unwrap_or_default();
            if row.title != title_of(&before) {
                title = row.title;
            }
        }
        Ok(self.store.conversation_save(user.as_str(), id, &title, &json, self.now()).await?)
    }

    /// Renames a conversation of `user` (trimmed, at most 200 characters);
    /// false when it is not one of theirs. An empty title gives back the
    /// one made from the first question.
    pub async fn rename_conversation(&self, user: &Principal, id: i64, title: &str) -> Result<bool> {
        let Some(row) = self.store.conversation(user.as_str(), id).await? else { return Ok(false) };
        let mut title: String = title.trim().chars().filter(|c| !c.is_control()).take(MAX_TITLE_CHARS).collect();
        if title.is_empty() {
            let turns: Vec<Turn> = serde_json::from_str(&row.turns).unwrap_or_default();
            title = title_of(&turns);
        }
        Ok(self.store.conversation_save(user.as_str(), Some(id), &title, &row.turns, row.updated_at).await?.is_some())
    }

    /// The user's conversations, latest first (at most 200).
    pub async fn conversations(&self, user: &Principal) -> Result<Vec<ConversationSummary>> {
        Ok(self
            .store
            .conversations(user.as_str(), 200)
            .await?
            .into_iter()
            .map(|c| ConversationSummary { id: c.id, title: c.title, updated_at: c.updated_at })
            .collect())
    }

    /// Opens a conversation of the pass's user, each answer checked against
    /// the pass now (see the module's invariant).
    pub async fn open_conversation(&self, id: i64, pass: &AccessPass) -> Result<Option<OpenedConversation>> {
        let Some(user) = pass.user() else { return Ok(None) };
        let Some(row) = self.store.conversation(user.as_str(), id).await? else { return Ok(None) };
        let turns: Vec<Turn> = serde_json::from_str(&row.turns)
            .map_err(|e| CoreError::Other(format!("conversation {id} is unreadable: {e}")))?;
        let ids: Vec<i64> = turns.iter().flat_map(|t| t.citations.iter().map(|c| c.chunk_id)).collect();
        let readable: std::collections::HashMap<i64, twake_index::ChunkView> =
            self.store.chunks(&ids, pass).await?.into_iter().map(|c| (c.chunk_id, c)).collect();
        let turns = turns
            .into_iter()
            .map(|t| {
                let opened: Option<Vec<OpenedCitation>> = t
                    .citations
                    .iter()
                    .map(|c| {
                        let v = readable.get(&c.chunk_id).filter(|v| v.doc_id == c.doc_id)?;
                        Some(OpenedCitation {
                            n: c.n,
                            doc_id: c.doc_id,
                            chunk_id: c.chunk_id,
                            path: v.path.clone(),
                            message_id: v.message_id.clone(),
                            title: v.title.clone(),
                            locator: v.locator.display(),
                            snippet: v.text.chars().take(240).collect(),
                            sensitivity: v.sensitivity.as_str(),
                        })
                    })
                    .collect();
                let withheld = opened.is_none();
                OpenedTurn {
                    question: t.question,
                    answer: (!withheld).then_some(t.answer),
                    withheld,
                    citations: opened.unwrap_or_default(),
                    model: t.model,
                    decision: t.decision,
                    audit_id: t.audit_id,
                }
            })
            .collect();
        Ok(Some(OpenedConversation { id: row.id, title: row.title, updated_at: row.updated_at, turns }))
    }

    /// Deletes a conversation of `user`; false when there was none.
    pub async fn delete_conversation(&self, user: &Principal, id: i64) -> Result<bool> {
        Ok(self.store.conversation_delete(user.as_str(), id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(q: &str) -> Turn {
        Turn {
            question: q.into(),
            answer: "a [1]".into(),
            citations: vec![CitedPassage { n: 1, doc_id: 1, chunk_id: 2 }],
            model: String::new(),
            decision: String::new(),
            audit_id: None,
        }
    }

    #[test]
    fn bounds_and_titles() {
        assert!(validate(&[turn("q")]).is_ok());
        assert!(validate(&[turn("  ")]).unwrap_err().contains("empty"));
        assert!(validate(&vec![turn("q"); MAX_TURNS + 1]).unwrap_err().contains("at most"));
        let long = "é".repeat(100);
        let t = title_of(&[turn(&long)]);
        assert_eq!(t.chars().count(), 81);
        assert!(t.ends_with('…'));
        assert_eq!(title_of(&[]), "");
    }

    #[test]
    fn stored_turns_refuse_unknown_fields() {
        let bad = r#"[{"question": "q", "answer": "a", "snippet": "copied text"}]"#;
        assert!(serde_json::from_str::<Vec<Turn>>(bad).is_err());
    }
}
