//! Inbox triage ([`Workspace::triage`]): for each mail thread with new
//! messages since a day, a one-line gist, whether it needs a reply from the
//! user, how urgent it is, and the deadlines its messages name.
//!
//! What can be known without a model is not asked of it: a thread whose
//! last message is the user's own needs no reply from them, nor one whose
//! last message was not addressed to them (To or Cc); deadlines are the
//! dates named after a deadline word ("avant", "d'ici", "by", "before"…),
//! resolved against each message's own date, and a deadline within two days
//! makes a thread urgent. The model writes the gists and its opinion on
//! replies and urgency in one JSON task (in parts when the inbox does not fit
//! its context), which the rules above can only lower (reply) or raise
//! (urgency).

use serde::Serialize;
use twake_index::{ChunkView, DocView};
use twake_llm::{ChatMessage, Role};
use twake_types::{AccessPass, Locator};

use crate::engine::dates::{Date, resolve};
use crate::engine::text::{Lang, detect, fold};
use crate::{Result, Workspace};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Normal,
    High,
}

impl Urgency {
    fn parse(s: &str) -> Urgency {
        match s {
            "high" => Urgency::High,
            "low" => Urgency::Low,
            _ => Urgency::Normal,
        }
    }
}

/// A date a message asks something by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deadline {
    pub date: String,
    /// The clause that names it, as written.
    pub text: String,
    /// The Message-ID of the message that names it.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriagedThread {
    pub subject: String,
    /// The thread's latest message (give it to `summarize thread` or
    /// `draft-reply`).
    pub message_id: Option<String>,
    pub from: String,
    pub date: Option<String>,
    /// Messages of the thread since the day asked.
    pub new_messages: usize,
    pub gist: String,
    pub needs_reply: bool,
    /// Why a reply is or is not needed.
    pub why: String,
    pub urgency: Urgency,
    pub deadlines: Vec<Deadline>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub since: String,
    pub threads: Vec<TriagedThread>,
    pub model: String,
    /// The provenance records of the generations (none when nothing is new).
    pub audit_ids: Vec<i64>,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

impl crate::assist::task::Charged for Triage {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

const DEADLINE_WORDS: &[&str] = &[
    "avant",
    "d'ici",
    "d’ici",
    "au plus tard",
    "jusqu'au",
    "jusqu’au",
    "pour le",
    "date limite",
    "échéance",
    "by ",
    "before",
    "until",
    "no later than",
    "deadline",
    "due",
];

/// The deadlines `text` names: clauses with a deadline word whose date,
/// read from `written` (the message's day), is on or after that day.
pub fn deadlines_in(text: &str, written: Date) -> Vec<(Date, String)> {
    let mut out: Vec<(Date, String)> = Vec::new();
    for clause in text.split(['.', ';', '!', '?', '\n']) {
        let lower = format!("{} ", clause.to_lowercase());
        if !DEADLINE_WORDS.iter().any(|w| lower.contains(w)) {
            continue;
        }
        if let Some(d) = resolve(clause, written)
            && d >= written
            && !out.iter().any(|(x, _)| *x == d)
        {
            out.push((d, clause.trim().to_string()));
        }
    }
    out
}

/// Whether the user must answer a thread whose last message is `last`:
/// `None` when the model may say, else `Some((false, why))`.
fn reply_rule(last: &DocView, me: &str) -> Option<(bool, String)> {
    let author = last.author.as_deref().map(fold).unwrap_or_default();
    if !me.is_empty() && author.contains(&fold(me)) {
        return Some((false, "your message is the last one".into()));
    }
    match &last.recipients {
        Some(r) if !r.iter().any(|a| a.eq_ignore_ascii_case(me)) => {
            Some((false, "the last message is not addressed to you (To or Cc)".into()))
        }
        _ => None,
    }
}

fn triage_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "threads": {"type": "array", "items": {"type": "object", "properties": {
                "thread": {"type": "integer"},
                "gist": {"type": "string"},
                "needs_reply": {"type": "boolean"},
                "urgency": {"enum": ["low", "normal", "high"]}
            }}}
        }
    })
}

/// One thread as the model sees it.
struct Unit {
    n: usize,
    subject: String,
    from: String,
    to_me: bool,
    text: String,
}

fn triage_messages(units: &[Unit], me: &str, lang: Lang) -> Vec<ChatMessage> {
    let mut inbox = String::new();
    for u in units {
        let to = if u.to_me { "to you" } else { "not addressed to you" };
        let text = crate::policy::injection::defuse(&u.text);
        inbox.push_str(&format!("[{}] \"{}\" — last message from {} ({to}):\n{text}\n\n", u.n, u.subject, u.from));
    }
    let system = format!(
        "You triage an inbox for {me}. You reply with JSON only, in {lang}. Use only what the messages say.",
        lang = lang.name()
    );
    let user = format!(
        "New mail threads (numbered):\n\n{inbox}For each thread write: \"thread\" (its number), \"gist\" (one sentence of \
         your own in {lang}, not the subject, saying what the last message asks or announces), \"needs_reply\" (true when the last \
         message asks {me} a question or for something), \"urgency\" (\"high\" when it must be handled within two \
         days, \"low\" when it is only for information, else \"normal\").",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

impl Workspace {
    /// Triage of the mail threads with messages dated on or after `since`
    /// that `pass` may read, replies needed first, then the most urgent.
    pub async fn triage(
        &self,
        since: Date,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Triage> {
        let me = pass.user().map(|u| u.as_str().to_string()).unwrap_or_default();
        let today = self.today();
        let docs = self.store.recent_mail(&since.to_string(), pass, 2000).await?;
        // Threads in order of their latest message, newest first.
        let mut threads: Vec<(String, Vec<DocView>)> = Vec::new();
        for d in docs {
            let key = d.thread_id.clone().or_else(|| d.message_id.clone()).unwrap_or_else(|| d.doc_id.to_string());
            match threads.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(d),
                None => threads.push((key, vec![d])),
            }
        }
        threads.sort_by(|a, b| b.1.last().map(|d| &d.date).cmp(&a.1.last().map(|d| &d.date)));
        let mut material: Vec<ChunkView> = Vec::new();
        let mut units = Vec::new();
        let mut out = Vec::new();
        for (i, (_, msgs)) in threads.iter().enumerate() {
            let last = msgs.last().expect("a thread has a message");
            let mut deadlines = Vec::new();
            let mut last_text = String::new();
            for m in msgs {
                let chunks = self.store.doc_chunks(m.doc_id, pass).await?;
                let text: Vec<&str> = chunks
                    .iter()
                    .filter(|c| c.locator == Locator::Message)
                    .map(|c| c.text.split_once("\n\n").map(|(_, t)| t).unwrap_or(&c.text))
                    .collect();
                let text = text.join("\n");
                if let Some(written) = m.date.as_deref().and_then(Date::find_iso) {
                    for (d, clause) in deadlines_in(&text, written) {
                        deadlines.push(Deadline {
                            date: d.to_string(),
                            text: clause,
                            message_id: m.message_id.clone(),
                        });
                    }
                }
                if m.doc_id == last.doc_id {
                    last_text = text.chars().take(600).collect();
                    material.extend(chunks.into_iter().filter(|c| c.locator == Locator::Message));
                }
            }
            let rule = reply_rule(last, &me);
            let to_me = last.recipients.as_ref().is_none_or(|r| r.iter().any(|a| a.eq_ignore_ascii_case(&me)));
            let from = last.author.as_deref().map(crate::engine::text::display_name).unwrap_or_default();
            units.push(Unit { n: i + 1, subject: last.title.clone(), from: from.clone(), to_me, text: last_text });
            out.push(TriagedThread {
                subject: last.title.clone(),
                message_id: last.message_id.clone(),
                from,
                date: last.date.clone(),
                new_messages: msgs.len(),
                gist: String::new(),
                needs_reply: false,
                why: rule.map(|(_, why)| why).unwrap_or_default(),
                urgency: Urgency::Normal,
                deadlines,
            });
        }
        let mut triage = Triage {
            since: since.to_string(),
            threads: Vec::new(),
            model: String::new(),
            audit_ids: vec![],
            tokens: 0,
            price_per_million: 0.0,
            completion_tokens: 0,
        };
        if units.is_empty() {
            return Ok(triage);
        }
        let lang = detect(&units.iter().map(|u| u.text.as_str()).collect::<Vec<_>>().join(" "));
        let costs: Vec<usize> =
            units.iter().map(|u| (u.text.chars().count() + u.subject.len() + 60).div_ceil(3)).collect();
        let prompt_for = |r: std::ops::Range<usize>| triage_messages(&units[r], &me, lang);
        let material_for = |r: std::ops::Range<usize>| {
            let ids: Vec<&Option<String>> = out[r].iter().map(|t| &t.message_id).collect();
            material.iter().filter(|c| ids.contains(&&c.message_id)).cloned().collect::<Vec<_>>()
        };
        let parts = self
            .json_in_parts(
                &format!("triage since {since}"),
                None,
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &triage_schema(),
                (120 * units.len()).min(1500) as u32,
                pass,
                on_tokens,
            )
            .await?;
        let said: Vec<serde_json::Value> =
            parts.raws.iter().flat_map(|r| r["threads"].as_array().cloned().unwrap_or_default()).collect();
        for (i, t) in out.iter_mut().enumerate() {
            let s = said.iter().find(|s| s["thread"].as_u64() == Some(i as u64 + 1));
            let gist = s.and_then(|s| s["gist"].as_str()).unwrap_or("").trim();
            t.gist = if gist.is_empty() { t.subject.clone() } else { gist.to_string() };
            let model_reply = s.and_then(|s| s["needs_reply"].as_bool()).unwrap_or(false);
            if t.why.is_empty() {
                t.needs_reply = model_reply;
                t.why = if model_reply {
                    "the last message asks you something (model)".into()
                } else {
                    "nothing is asked of you (model)".into()
                };
            }
            let mut urgency = Urgency::parse(s.and_then(|s| s["urgency"].as_str()).unwrap_or("normal"));
            // A deadline soon raises the urgency of what still needs a reply.
            let soonest = t.deadlines.iter().filter_map(|d| Date::find_iso(&d.date)).filter(|d| *d >= today).min();
            if let Some(d) = soonest {
                let days = d.days() - today.days();
                let by_date = if days <= 2 {
                    Urgency::High
                } else if days <= 7 {
                    Urgency::Normal
                } else {
                    Urgency::Low
                };
                if t.needs_reply {
                    urgency = urgency.max(by_date);
                }
            }
            t.urgency = urgency;
        }
        out.sort_by_key(|t| std::cmp::Reverse((t.needs_reply, t.urgency)));
        triage.threads = out;
        triage.model = parts.model.clone();
        triage.audit_ids = parts.audit_ids.clone();
        triage.tokens = parts.tokens;
        triage.price_per_million = parts.price_per_million();
        triage.completion_tokens = parts.generated as u64;
        Ok(triage)
    }
}

impl Triage {
    pub fn to_text(&self) -> String {
        let mut s = format!("{} thread(s) with new mail since {}\n", self.threads.len(), self.since);
        for t in &self.threads {
            let mark = if t.needs_reply { "reply" } else { "     " };
            let urgency = match t.urgency {
                Urgency::High => "HIGH  ",
                Urgency::Normal => "normal",
                Urgency::Low => "low   ",
            };
            let date = t.date.as_deref().map(|d| &d[..d.len().min(10)]).unwrap_or("");
            s.push_str(&format!("\n{mark} {urgency} {} — {}, {date} ({} new)\n", t.subject, t.from, t.new_messages));
            s.push_str(&format!("      {}\n      {}", t.gist, t.why));
            if let Some(id) = &t.message_id {
                s.push_str(&format!(" · <{id}>"));
            }
            s.push('\n');
            for d in &t.deadlines {
                s.push_str(&format!("      deadline {}: \"{}\"\n", d.date, d.text));
            }
        }
        if !self.audit_ids.is_empty() {
            let ids: Vec<String> = self.audit_ids.iter().map(i64::to_string).collect();
            s.push_str(&format!("\n_{} · provenance record {}_\n", self.model, ids.join(", ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_dates_after_a_deadline_word_read_from_the_message_day() {
        let monday = Date::new(2026, 11, 2).unwrap();
        let text =
            "La bascule aura lieu le samedi 14 mars 2027.\nMerci de me faire part de vos contraintes avant vendredi.";
        let d = deadlines_in(text, monday);
        assert_eq!(d.len(), 1, "an event date is not a deadline: {d:?}");
        assert_eq!(d[0].0, Date::new(2026, 11, 6).unwrap());
        assert_eq!(deadlines_in("Please send it by December 14.", monday)[0].0, Date::new(2026, 12, 14).unwrap());
        assert!(
            deadlines_in("Avant le 1er octobre 2026, tout allait bien.", monday).is_empty(),
            "past dates are not due"
        );
    }

    #[test]
    fn no_reply_is_needed_to_ones_own_message_or_one_not_addressed_to_one() {
        let doc = |author: &str, to: Option<&[&str]>| DocView {
            doc_id: 1,
            path: "m".into(),
            kind: twake_types::SourceKind::Mail,
            title: "t".into(),
            message_id: None,
            thread_id: None,
            author: Some(author.into()),
            date: None,
            body: String::new(),
            recipients: to.map(|t| t.iter().map(|s| s.to_string()).collect()),
        };
        let me = "alice@x.fr";
        assert!(reply_rule(&doc("Alice <alice@x.fr>", Some(&["bob@x.fr"])), me).unwrap().1.contains("last one"));
        assert!(reply_rule(&doc("Bob <bob@x.fr>", Some(&["carol@x.fr"])), me).unwrap().1.contains("not addressed"));
        assert_eq!(reply_rule(&doc("Bob <bob@x.fr>", Some(&["ALICE@x.fr"])), me), None, "the model may say");
        assert_eq!(reply_rule(&doc("Bob <bob@x.fr>", None), me), None, "recipients unknown: the model may say");
    }
}
