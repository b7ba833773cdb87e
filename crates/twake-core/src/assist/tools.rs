//! The assistants as tools of the `twake-ai` chat model: a chat request
//! that names an assistant ("résume le fil <lyon-002@valmont.fr>",
//! "rattrape-moi sur Projet Lyon", "traduis en anglais : …", "mon brief")
//! runs that assistant; anything else is a grounded question (`ask`).
//!
//! The choice is made by rules, not by a generation: [`intent`] reads the
//! instruction (the text before the first `:` or line break, so a text to
//! translate never triggers anything) in French or English, and
//! [`Workspace::route`] fills the arguments from what the user may read (a
//! Message-ID of a thread they received, a room or a meeting they can open).
//! A tool whose argument is not found falls back to `ask`. Rules because on
//! 2 cores a routing generation would add seconds to every chat turn and a
//! 1.5B model calls functions unreliably; the assistants themselves are the
//! model's work, checked as everywhere else.

use serde::Serialize;
use twake_types::{AccessPass, SourceKind};

use crate::assist::catchup::Since;
use crate::assist::task::Charged;
use crate::assist::writing::{Language, Tone};
use crate::engine::dates::Date;
use crate::engine::text::fold;
use crate::{Result, Workspace};

/// What a chat request asks for, read from its instruction alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Ask,
    DraftReply { tone: Tone, lang: Option<Language> },
    SummarizeThread,
    SummarizeRoom,
    Minutes,
    Translate { to: Language },
    Rewrite { tone: Tone },
    Triage,
    Brief,
}

/// A tool with its arguments, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    SummarizeThread { message_id: String },
    SummarizeRoom { room: String, since: Since },
    Minutes { path: String },
    DraftReply { message_id: String, tone: Tone, lang: Option<Language> },
    Translate { to: Language, text: String },
    Rewrite { tone: Tone, text: String },
    Triage { since: Date },
    Brief { since: i64 },
}

impl ToolCall {
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::SummarizeThread { .. } => "summarize_thread",
            ToolCall::SummarizeRoom { .. } => "summarize_room",
            ToolCall::Minutes { .. } => "minutes",
            ToolCall::DraftReply { .. } => "draft_reply",
            ToolCall::Translate { .. } => "translate",
            ToolCall::Rewrite { .. } => "rewrite",
            ToolCall::Triage { .. } => "triage",
            ToolCall::Brief { .. } => "brief",
        }
    }

    /// The arguments as the native API takes them.
    pub fn arguments(&self) -> serde_json::Value {
        use serde_json::json;
        let since = |s: &Since| match s {
            Since::LastRead => "last-read".to_string(),
            Since::At(t) => crate::engine::dates::rfc3339(*t),
        };
        match self {
            ToolCall::SummarizeThread { message_id } => json!({"message_id": message_id}),
            ToolCall::SummarizeRoom { room, since: s } => json!({"room": room, "since": since(s)}),
            ToolCall::Minutes { path } => json!({"path": path}),
            ToolCall::DraftReply { message_id, tone, lang } => {
                json!({"message_id": message_id, "tone": tone, "lang": lang})
            }
            ToolCall::Translate { to, text } => json!({"to": to, "text": text}),
            ToolCall::Rewrite { tone, text } => json!({"tone": tone, "text": text}),
            ToolCall::Triage { since } => json!({"since": since.to_string()}),
            ToolCall::Brief { since } => json!({"since": crate::engine::dates::rfc3339(*since)}),
        }
    }
}

/// A tool's answer: its text for the chat, its structured result, and
/// what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct ToolAnswer {
    pub name: &'static str,
    pub arguments: serde_json::Value,
    /// The result as the native API returns it.
    pub result: serde_json::Value,
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    pub tokens: u64,
    #[serde(skip)]
    pub completion_tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// The provenance record of the last generation, if any.
    #[serde(skip)]
    pub audit_id: Option<i64>,
}

fn has(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// The language a request asks for ("en anglais", "into English"…).
fn target_language(instruction: &str) -> Option<Language> {
    let table: [(&[&str], Language); 5] = [
        (&["anglais", "english"], Language::En),
        (&["francais", "french"], Language::Fr),
        (&["allemand", "german"], Language::De),
        (&["espagnol", "spanish"], Language::Es),
        (&["italien", "italian"], Language::It),
    ];
    table.into_iter().find(|(w, _)| has(instruction, w)).map(|(_, l)| l)
}

fn tone_of(instruction: &str) -> Tone {
    if has(instruction, &["formel", "formal", "soutenu", "courtois", "polite"]) {
        Tone::Formal
    } else if has(instruction, &["amical", "friendly", "chaleureu", "warm", "decontract", "casual"]) {
        Tone::Friendly
    } else {
        Tone::Neutral
    }
}

/// The instruction of a request (folded: lower case, no accents) and the
/// text it applies to (after the first `:` or line break, if any).
pub fn split_request(request: &str) -> (String, Option<String>) {
    let cut = request.find([':', '\n']);
    match cut {
        Some(i) => {
            let text = request[i + 1..].trim();
            (fold(&request[..i]), (!text.is_empty()).then(|| text.to_string()))
        }
        None => (fold(request), None),
    }
}

/// What a request asks for (see the module's documentation). Pure.
pub fn intent(request: &str) -> Intent {
    let (i, text) = split_request(request);
    let has_text = text.is_some();
    if has(&i, &["tradui", "translat"])
        && has_text
        && let Some(to) = target_language(&i)
    {
        return Intent::Translate { to };
    }
    if has(&i, &["reecri", "reformule", "rewrite", "rephrase", "reword"]) && has_text {
        return Intent::Rewrite { tone: tone_of(&i) };
    }
    if has(
        &i,
        &[
            "brouillon",
            "redige une reponse",
            "prepare une reponse",
            "reponds",
            "repondre",
            "draft",
            "reply",
            "write an answer",
        ],
    ) {
        return Intent::DraftReply { tone: tone_of(&i), lang: target_language(&i) };
    }
    if has(&i, &["compte rendu", "compte-rendu", "proces-verbal", "minutes", "action items", "actions de la reunion"]) {
        return Intent::Minutes;
    }
    if has(
        &i,
        &[
            "rattrape",
            "catch me up",
            "catch up",
            "que s'est-il passe",
            "what happened",
            "salon",
            "room",
            "canal",
            "channel",
        ],
    ) {
        return Intent::SummarizeRoom;
    }
    if has(&i, &["resume", "resumer", "synthese", "summar", "recap"]) {
        return Intent::SummarizeThread;
    }
    if has(
        &i,
        &[
            "triage",
            "trie mes",
            "trier mes",
            "boite de reception",
            "inbox",
            "mails a traiter",
            "need a reply",
            "needs a reply",
        ],
    ) {
        return Intent::Triage;
    }
    if has(&i, &["brief", "quoi de neuf", "what's new", "whats new", "point du jour", "depuis hier", "since yesterday"])
    {
        return Intent::Brief;
    }
    Intent::Ask
}

/// The Message-ID candidates of a request: words with an `@`, without
/// `<>` and punctuation around.
fn message_ids(request: &str) -> Vec<String> {
    request
        .split_whitespace()
        .filter(|w| w.contains('@'))
        .map(|w| w.trim_matches(|c: char| "<>()[]{},;:\"'«»".contains(c) || c == '.').to_string())
        .filter(|w| w.len() > 3)
        .collect()
}

impl Workspace {
    /// The tool a chat request calls, with its arguments found among what
    /// `pass` may read; `None`: answer it as a question.
    pub async fn route(&self, request: &str, pass: &AccessPass) -> Result<Option<ToolCall>> {
        let folded = fold(request);
        let (_, text) = split_request(request);
        let thread = async {
            for id in message_ids(request) {
                if !self.store.thread_documents(&id, pass).await?.is_empty() {
                    return Ok::<_, crate::CoreError>(Some(id));
                }
            }
            Ok(None)
        };
        Ok(match intent(request) {
            Intent::Ask => None,
            Intent::Translate { to } => text.map(|text| ToolCall::Translate { to, text }),
            Intent::Rewrite { tone } => text.map(|text| ToolCall::Rewrite { tone, text }),
            Intent::DraftReply { tone, lang } => {
                thread.await?.map(|message_id| ToolCall::DraftReply { message_id, tone, lang })
            }
            Intent::SummarizeThread => match thread.await? {
                Some(message_id) => Some(ToolCall::SummarizeThread { message_id }),
                // "résume le salon X" without the word "salon" matched first.
                None => match self.room_named(&folded, pass).await? {
                    Some(room) => {
                        Some(ToolCall::SummarizeRoom { since: self.room_since(&folded, &room, pass).await, room })
                    }
                    None => None,
                },
            },
            Intent::SummarizeRoom => match self.room_named(&folded, pass).await? {
                Some(room) => {
                    Some(ToolCall::SummarizeRoom { since: self.room_since(&folded, &room, pass).await, room })
                }
                None => None,
            },
            Intent::Minutes => self.meeting_named(&folded, pass).await?.map(|path| ToolCall::Minutes { path }),
            Intent::Triage => Some(ToolCall::Triage { since: Date::from_days(self.today().days() - 7) }),
            Intent::Brief => Some(ToolCall::Brief { since: (self.today().days() - 1) * 86_400 }),
        })
    }

    /// Since the day the request names (`2026-11-24`), else the user's
    /// last read of the room, else the last 24 hours.
    async fn room_since(&self, folded: &str, room: &str, pass: &AccessPass) -> Since {
        if let Some(day) = Date::find_iso(folded) {
            return Since::At(day.days() * 86_400);
        }
        match pass.user() {
            Some(u) if matches!(self.last_read(u, room).await, Ok(Some(_))) => Since::LastRead,
            _ => Since::At(self.now() - 86_400),
        }
    }

    /// The readable chat room whose name the (folded) request contains; the
    /// longest name wins.
    async fn room_named(&self, folded: &str, pass: &AccessPass) -> Result<Option<String>> {
        let mut best: Option<String> = None;
        for title in self.store.readable_titles(SourceKind::Chat, pass).await? {
            let name = fold(&title);
            if name.len() >= 3 && folded.contains(&name) && best.as_ref().is_none_or(|b| b.len() < title.len()) {
                best = Some(title);
            }
        }
        Ok(best)
    }

    /// The readable meeting the (folded) request names: by its title, its
    /// file name, or its day (`2026-11-20`); only when one matches.
    async fn meeting_named(&self, folded: &str, pass: &AccessPass) -> Result<Option<String>> {
        let docs = self.store.kind_documents(SourceKind::Transcript, "", true, pass, 1000).await?;
        let day = Date::find_iso(folded);
        let matching: Vec<String> = docs
            .into_iter()
            .filter(|d| {
                let stem =
                    std::path::Path::new(&d.path).file_stem().map(|s| fold(&s.to_string_lossy())).unwrap_or_default();
                let title = fold(&d.title);
                (title.len() >= 5 && folded.contains(&title))
                    || (stem.len() >= 5 && folded.contains(&stem))
                    || day.is_some_and(|day| Date::find_iso(&d.title).or_else(|| Date::find_iso(&d.path)) == Some(day))
            })
            .map(|d| d.path)
            .collect();
        Ok(match matching.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
    }

    /// Runs a tool for the user of `pass`.
    pub async fn run_tool(
        &self,
        call: ToolCall,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ToolAnswer> {
        fn answer<T: Serialize + Charged>(call: &ToolCall, out: &T, text: String, audit_id: Option<i64>) -> ToolAnswer {
            let (tokens, price_per_million) = out.charge();
            ToolAnswer {
                name: call.name(),
                arguments: call.arguments(),
                result: serde_json::to_value(out).unwrap_or_default(),
                text,
                tokens,
                completion_tokens: out.completion_tokens(),
                price_per_million,
                audit_id,
            }
        }
        Ok(match &call {
            ToolCall::SummarizeThread { message_id } => {
                let out = self.summarize_thread(message_id, pass, on_tokens).await?;
                answer(&call, &out, out.to_markdown(), Some(out.audit_id))
            }
            ToolCall::SummarizeRoom { room, since } => {
                let out = self.catch_up_room(room, *since, pass, on_tokens).await?;
                answer(&call, &out, out.to_markdown(), out.audit_id)
            }
            ToolCall::Minutes { path } => {
                let out = self.minutes(path, pass, None, on_tokens).await?;
                answer(&call, &out, out.to_markdown(), Some(out.audit_id))
            }
            ToolCall::DraftReply { message_id, tone, lang } => {
                let out = self.draft_reply(message_id, *lang, *tone, &[], pass, on_tokens).await?;
                answer(&call, &out, out.to_text(), Some(out.audit_id))
            }
            ToolCall::Translate { to, text } => {
                let out = self.rewrite(text, Some(*to), None, None, pass, on_tokens).await?;
                answer(&call, &out, out.text.clone(), out.audit_ids.last().copied())
            }
            ToolCall::Rewrite { tone, text } => {
                let out = self.rewrite(text, None, Some(*tone), None, pass, on_tokens).await?;
                answer(&call, &out, out.text.clone(), out.audit_ids.last().copied())
            }
            ToolCall::Triage { since } => {
                let out = self.triage(*since, pass, on_tokens).await?;
                answer(&call, &out, out.to_text(), out.audit_ids.last().copied())
            }
            ToolCall::Brief { since } => {
                let out = self.brief(*since, pass, on_tokens).await?;
                answer(&call, &out, out.to_text(), out.mail.audit_ids.last().copied())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_name_their_assistant_in_french_and_english() {
        assert_eq!(intent("Résume le fil <lyon-002@valmont.fr>"), Intent::SummarizeThread);
        assert_eq!(intent("Summarize the thread lyon-002@valmont.fr please"), Intent::SummarizeThread);
        assert_eq!(intent("Rattrape-moi sur le salon Projet Lyon"), Intent::SummarizeRoom);
        assert_eq!(intent("Fais le compte rendu de la réunion du 2026-11-20"), Intent::Minutes);
        assert_eq!(
            intent("Prépare une réponse formelle en anglais à <lyon-003@valmont.fr>"),
            Intent::DraftReply { tone: Tone::Formal, lang: Some(Language::En) }
        );
        assert_eq!(intent("Traduis en allemand : Bonjour à tous."), Intent::Translate { to: Language::De });
        assert_eq!(intent("Rewrite this in a friendly tone: Send the file."), Intent::Rewrite { tone: Tone::Friendly });
        assert_eq!(intent("Quels mails de ma boîte de réception dois-je traiter ?"), Intent::Triage);
        assert_eq!(intent("Quoi de neuf depuis hier ?"), Intent::Brief);
        assert_eq!(intent("Quand a lieu la bascule du datacenter de Lyon ?"), Intent::Ask);
        // A translation without a text or a language is a question.
        assert_eq!(intent("Comment traduire « bascule » en anglais ?"), Intent::Ask);
    }

    #[test]
    fn message_ids_are_read_without_brackets_or_punctuation() {
        assert_eq!(message_ids("Résume <lyon-002@valmont.fr>, merci."), ["lyon-002@valmont.fr"]);
        assert!(message_ids("Résume le fil de la bascule").is_empty());
    }

    proptest! {
        /// Whatever follows the instruction (a text to translate, with
        /// words like "résume" or "brief" in it) never changes the tool.
        #[test]
        fn the_text_after_the_instruction_never_changes_the_tool(text in "[a-zA-Zéèà @<>.,?!'\n-]{0,80}") {
            let request = format!("Traduis en anglais : {text}");
            let expected = if split_request(&request).1.is_some() { Intent::Translate { to: Language::En } } else { Intent::Ask };
            prop_assert_eq!(intent(&request), expected);
            let request = format!("Quand a lieu la bascule ?\n{text}");
            prop_assert_eq!(intent(&request), Intent::Ask);
        }
    }
}
