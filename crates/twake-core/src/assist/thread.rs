//! Mail threads: picking one ([`Workspace::recent_threads`]), reading it
//! as its reader may ([`Workspace::thread_of`]) and summarising it
//! ([`Workspace::summarize_thread`]): what was said, decided and left open,
//! each point citing the message that supports it.

use serde::Serialize;
use twake_index::ChunkView;
use twake_llm::{ChatMessage, Role};
use twake_types::{AccessPass, SourceKind};

use super::support::{supported_due, supporting};
use super::task::{Charged, parts};
use crate::engine::dates::Date;
use crate::engine::text::display_name;
use crate::engine::text::{Lang, detect};
use crate::{CoreError, Result, Workspace};

/// A mail thread to pick (see [`Workspace::recent_threads`]).
#[derive(Debug, Clone, Serialize)]
pub struct ThreadChoice {
    /// Its latest readable message's Message-ID (what the thread tools take).
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub date: Option<String>,
    /// How many of its messages the reader may read.
    pub messages: usize,
}

impl Charged for ThreadSummary {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

/// One message of a summarised thread, numbered from 1, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadMessage {
    pub n: usize,
    pub message_id: Option<String>,
    pub from: String,
    /// The sender's address (`from` is the display name).
    #[serde(skip)]
    pub address: String,
    pub date: Option<String>,
    pub path: String,
    #[serde(skip)]
    pub text: String,
}

/// A point of a thread: who (for questions), what, by when (for open
/// points) and the message it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The message's number in `messages`.
    pub message: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadSummary {
    pub subject: String,
    pub messages: Vec<ThreadMessage>,
    pub summary: String,
    pub asked: Vec<Point>,
    pub decided: Vec<Point>,
    pub open: Vec<Point>,
    pub dropped: usize,
    pub truncated: bool,
    /// How many parts the thread was read in (see [`Minutes::parts`]).
    pub parts: usize,
    pub model: String,
    /// The provenance record of the last generation (each part has its own).
    pub audit_id: i64,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

/// The JSON shape of a thread summary.
pub fn thread_schema() -> serde_json::Value {
    let point = |fields: &[&str]| {
        let mut props = serde_json::Map::new();
        for f in fields {
            props.insert(f.to_string(), serde_json::json!({"type": "string"}));
        }
        props.insert("message".into(), serde_json::json!({"type": "integer"}));
        serde_json::json!({"type": "array", "maxItems": 8, "items": {"type": "object", "properties": props}})
    };
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "asked": point(&["who", "what"]),
            "decided": point(&["what"]),
            "open": point(&["what", "due"])
        }
    })
}

/// The address of `Name <address>` (or of a bare address).
fn address_of(author: &str) -> String {
    match author.split_once('<') {
        Some((_, addr)) => addr.trim_end_matches('>').trim().to_string(),
        None => author.trim().to_string(),
    }
}

/// The messages of a thread as the prompt shows them: `[n] From: name, date`
/// and the text.
pub(crate) fn numbered_thread(messages: &[ThreadMessage]) -> String {
    let mut thread = String::new();
    for m in messages {
        let date = m.date.as_deref().map(|d| format!(", {}", &d[..d.len().min(10)])).unwrap_or_default();
        thread.push_str(&format!(
            "[{}] From: {}{date}\n{}\n\n",
            m.n,
            m.from,
            crate::policy::injection::defuse(m.text.trim())
        ));
    }
    thread
}

fn thread_messages(subject: &str, messages: &[ThreadMessage], lang: Lang) -> Vec<ChatMessage> {
    let thread = numbered_thread(messages);
    let system = format!(
        "You summarise e-mail threads in {lang}. You reply with JSON only. \
         Use only what the messages say; never invent a person, a decision or a date.",
        lang = lang.name()
    );
    let user = format!(
        "E-mail thread \"{subject}\" (numbered messages, oldest first):\n\n{thread}\
         Summarise it in {lang} as JSON: \"summary\": two or three sentences; \
         \"asked\": each question or request, with \"who\" asked it, \"what\" (one full sentence saying what was asked) \
         and \"message\" (its number); \
         \"decided\": each decision, with \"what\" (one full sentence) and \"message\"; \
         \"open\": each request or question nobody has answered yet, with \"what\" (one full sentence), \
         \"due\" (its deadline in the messages' own words, or \"\" if none) and \"message\".",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// Turns the model's JSON into checked points: each points to a message
/// that supports it, or is dropped; who asked is that message's author; a
/// due date is kept when that message names it, resolved against its date.
pub fn check_thread(raw: &serde_json::Value, messages: &[ThreadMessage]) -> (String, [Vec<Point>; 3], usize) {
    let units: Vec<(usize, String)> = messages.iter().map(|m| (m.n, format!("{} {}", m.from, m.text))).collect();
    let str_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").trim().to_string();
    let mut dropped = 0;
    let mut out: [Vec<Point>; 3] = Default::default();
    for (k, key) in ["asked", "decided", "open"].into_iter().enumerate() {
        for p in raw[key].as_array().into_iter().flatten() {
            let what = str_of(p, "what");
            if what.is_empty() {
                continue;
            }
            let given = p["message"].as_u64().map(|n| n as usize);
            let Some(n) = supporting(&what, given, &units) else {
                dropped += 1;
                continue;
            };
            let msg = &messages[n - 1];
            // Who asked is the author of the message that asks.
            let who = (key == "asked").then(|| msg.from.clone());
            let reference = msg.date.as_deref().and_then(Date::find_iso);
            let due = (key == "open").then(|| supported_due(&str_of(p, "due"), &what, &msg.text, reference)).flatten();
            if !out[k].iter().any(|x| x.what == what) {
                out[k].push(Point { who, what, due, message: n });
            }
        }
    }
    (str_of(raw, "summary"), out, dropped)
}

impl Workspace {
    /// The readable messages of the thread of `message_id` (with or
    /// without `<>`), oldest first: its subject, the messages (the sender's
    /// own text, quotes and signature stripped at ingestion) and their
    /// passages.
    pub(crate) async fn thread_of(
        &self,
        message_id: &str,
        pass: &AccessPass,
    ) -> Result<(String, Vec<ThreadMessage>, Vec<ChunkView>)> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let docs = self.store.thread_documents(id, pass).await?;
        if docs.is_empty() {
            return Err(CoreError::NotFound(format!(
                "no message you may read has the Message-ID <{id}>: `twake-ai search --json` shows the message_id of mails"
            )));
        }
        let mut material = Vec::new();
        let mut messages = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let chunks = self.store.doc_chunks(d.doc_id, pass).await?;
            // Without the subject and From header lines of each passage.
            let text: Vec<&str> = chunks
                .iter()
                .filter(|c| c.locator == twake_types::Locator::Message)
                .map(|c| c.text.split_once("\n\n").map(|(_, t)| t).unwrap_or(&c.text))
                .collect();
            messages.push(ThreadMessage {
                n: i + 1,
                message_id: d.message_id.clone(),
                from: d.author.as_deref().map(display_name).unwrap_or_default(),
                address: d.author.as_deref().map(address_of).unwrap_or_default(),
                date: d.date.clone(),
                path: d.path.clone(),
                text: text.join("\n"),
            });
            material.extend(chunks.into_iter().filter(|c| c.locator == twake_types::Locator::Message));
        }
        Ok((docs[0].title.clone(), messages, material))
    }

    /// The latest mail threads `pass` may read, newest first, at most
    /// `limit`: what a person picks from instead of typing a Message-ID.
    /// A thread is named by its latest readable message.
    pub async fn recent_threads(&self, pass: &AccessPass, limit: usize) -> Result<Vec<ThreadChoice>> {
        let docs = self.store.kind_documents(SourceKind::Mail, "", true, pass, 2000).await?;
        let mut out: Vec<ThreadChoice> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        // Oldest first: a later message of a thread replaces its choice.
        for d in docs {
            let Some(message_id) = d.message_id.clone() else { continue };
            let thread = d.thread_id.clone().unwrap_or_else(|| message_id.clone());
            let choice = ThreadChoice {
                message_id,
                subject: d.title.clone(),
                from: d.author.as_deref().map(display_name).unwrap_or_default(),
                date: d.date.clone(),
                messages: 1,
            };
            match seen.get(&thread) {
                Some(&i) => out[i] = ThreadChoice { messages: out[i].messages + 1, ..choice },
                None => {
                    seen.insert(thread, out.len());
                    out.push(choice);
                }
            }
        }
        out.sort_by(|a, b| b.date.cmp(&a.date));
        out.truncate(limit);
        Ok(out)
    }

    /// The chat rooms `pass` may read (by name).
    pub async fn readable_rooms(&self, pass: &AccessPass) -> Result<Vec<String>> {
        Ok(self.store.readable_titles(SourceKind::Chat, pass).await?)
    }

    /// Summary of the mail thread of `message_id` (with or without `<>`),
    /// from the messages of that thread that `pass` may read.
    pub async fn summarize_thread(
        &self,
        message_id: &str,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ThreadSummary> {
        let (subject, messages, material) = self.thread_of(message_id, pass).await?;
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let lang = detect(&messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" "));
        let request = format!("summary of thread <{id}>");
        // Units of the map: messages, a long one cut into pieces that keep
        // its number.
        let units: Vec<ThreadMessage> = messages
            .iter()
            .flat_map(|m| {
                let pieces = parts(&m.text);
                let pieces = if pieces.is_empty() { vec![String::new()] } else { pieces };
                pieces.into_iter().map(|text| ThreadMessage { text, ..m.clone() })
            })
            .collect();
        let costs: Vec<usize> =
            units.iter().map(|u| (u.text.chars().count() + u.from.len() + 24).div_ceil(3)).collect();
        let prompt_for = |r: std::ops::Range<usize>| thread_messages(&subject, &units[r], lang);
        let material_for = |r: std::ops::Range<usize>| {
            let ids: Vec<&Option<String>> = units[r].iter().map(|u| &u.message_id).collect();
            material.iter().filter(|c| ids.contains(&&c.message_id)).cloned().collect::<Vec<_>>()
        };
        let what = format!("the e-mail thread \"{subject}\"");
        let parts = self
            .json_in_parts(
                &request,
                Some((&what, lang)),
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &thread_schema(),
                700,
                pass,
                on_tokens,
            )
            .await?;
        let raw = parts.merged(&["asked", "decided", "open"]);
        let (summary, [asked, decided, open], dropped) = check_thread(&raw, &messages);
        Ok(ThreadSummary {
            subject,
            messages,
            summary,
            asked,
            decided,
            open,
            dropped,
            truncated: parts.truncated,
            parts: parts.raws.len(),
            tokens: parts.tokens,
            price_per_million: parts.price_per_million(),
            completion_tokens: parts.generated as u64,
            model: parts.model.clone(),
            audit_id: *parts.audit_ids.last().expect("one part at least"),
        })
    }
}

impl ThreadSummary {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {} ({} messages)\n\n{}\n", self.subject, self.messages.len(), self.summary);
        for (title, points) in [("Asked", &self.asked), ("Decided", &self.decided), ("Still open", &self.open)] {
            if points.is_empty() {
                continue;
            }
            s.push_str(&format!("\n## {title}\n\n"));
            for p in points {
                let who = p.who.as_deref().map(|w| format!("{w}: ")).unwrap_or_default();
                let due = p.due.as_deref().map(|d| format!(" (due {d})")).unwrap_or_default();
                s.push_str(&format!("- {who}{}{due} [{}]\n", p.what, p.message));
            }
        }
        s.push('\n');
        for m in &self.messages {
            let date = m.date.as_deref().map(|d| format!(", {}", &d[..d.len().min(10)])).unwrap_or_default();
            let id = m.message_id.as_deref().map(|i| format!(" <{i}>")).unwrap_or_default();
            s.push_str(&format!("[{}] {}{date}{id}\n", m.n, m.from));
        }
        s.push_str(&format!("\n_{} · provenance record {}_\n", self.model, self.audit_id));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_points_point_to_supporting_messages_and_due_dates_use_their_message() {
        let msg = |n: usize, from: &str, date: &str, text: &str| ThreadMessage {
            n,
            message_id: Some(format!("m{n}@x")),
            from: from.into(),
            address: String::new(),
            date: Some(date.into()),
            path: "t.mbox".into(),
            text: text.into(),
        };
        let messages = vec![
            msg(
                1,
                "Claire Dubois",
                "2026-11-02T09:12:00+01:00",
                "La bascule aura lieu le 14 mars. Merci de me faire part de vos contraintes avant vendredi.",
            ),
            msg(
                2,
                "Alice Martin",
                "2026-11-02T11:40:00+01:00",
                "La date nous convient. Les 48 commutateurs doivent être installés trois semaines avant.",
            ),
        ];
        let raw = serde_json::json!({
            "summary": "Bascule le 14 mars.",
            "asked": [{"who": "Alice Martin", "what": "Faire part de vos contraintes", "message": 2}],
            "decided": [{"what": "La bascule aura lieu le 14 mars", "message": 1}, {"what": "Licencier tout le monde", "message": 1}],
            "open": [
                {"what": "Contraintes à remonter", "due": "avant vendredi", "message": 1},
                {"what": "Installer les 48 commutateurs", "due": "demain", "message": 2}
            ]
        });
        let (summary, [asked, decided, open], dropped) = check_thread(&raw, &messages);
        assert_eq!(summary, "Bascule le 14 mars.");
        assert_eq!(
            asked,
            vec![Point {
                who: Some("Claire Dubois".into()),
                what: "Faire part de vos contraintes".into(),
                due: None,
                message: 1
            }]
        );
        assert_eq!(decided.len(), 1);
        assert_eq!(dropped, 1);
        assert_eq!(open[0].due.as_deref(), Some("2026-11-06"), "the Friday after Monday 2 November");
        assert_eq!(open[1].due, None, "message 2 names no such date: the model cannot add one");
        assert_eq!(display_name("\"Bob Leroy\" <bob@x.fr>"), "Bob Leroy");
        assert_eq!(display_name("<bob@x.fr>"), "bob@x.fr");
    }
}
