//! Room catch-up: what happened in a chat room since a time or since the
//! user last read it, grouped by topic, with the messages that mention the
//! user first. Citations are message numbers, checked like a thread's.

use serde::Serialize;
use twake_llm::{ChatMessage, Role};
use twake_types::{AccessPass, Locator};

use crate::assist::support::supporting;
use crate::assist::thread::{Point, ThreadMessage};
use crate::engine::text::person_name;
use crate::engine::text::{Lang, detect};
use crate::{CoreError, Result, Workspace};

/// From when to catch up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// A Unix time in seconds.
    At(i64),
    /// The user's last read receipt in the room (Matrix `m.read`).
    LastRead,
}

/// A message that names the user.
#[derive(Debug, Clone, Serialize)]
pub struct Mention {
    /// Its number in `messages`.
    pub message: usize,
    pub from: String,
    pub date: Option<String>,
    pub text: String,
}

/// The points of one topic.
#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    pub topic: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoomCatchUp {
    pub room: String,
    /// RFC 3339: messages after this are read.
    pub since: String,
    /// `given` or `last read` (the user's read receipt).
    pub since_from: &'static str,
    pub messages: Vec<ThreadMessage>,
    /// Messages naming the user (not their own), first.
    pub mentions: Vec<Mention>,
    pub summary: String,
    pub topics: Vec<Topic>,
    /// Points dropped because no message supports them.
    pub dropped: usize,
    pub truncated: bool,
    pub parts: usize,
    /// Empty when there was nothing new (no model was called).
    pub model: String,
    pub audit_id: Option<i64>,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

impl crate::assist::task::Charged for RoomCatchUp {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

/// `last-read`, `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]Z`, or a duration back
/// from `now` (Unix seconds): `24h`, `7d`.
pub fn parse_since(s: &str, now: i64) -> Option<Since> {
    let s = s.trim();
    if s == "last-read" {
        return Some(Since::LastRead);
    }
    // Checked arithmetic: "99999999999999999d" is an error, not an
    // overflow; a duration back past 1970 means since the beginning.
    let back = |unit: i64, n: &str| {
        let secs = n.parse::<i64>().ok().filter(|n| *n >= 0)?.checked_mul(unit)?;
        now.checked_sub(secs).map(|at| Since::At(at.max(0)))
    };
    if let Some(n) = s.strip_suffix('h') {
        return back(3600, n);
    }
    if let Some(n) = s.strip_suffix('d') {
        return back(86_400, n);
    }
    let day = crate::engine::dates::Date::find_iso(s.get(..10)?).filter(|_| s.is_char_boundary(10))?;
    let at = day.days() * 86_400;
    match s.get(10..)? {
        "" => Some(Since::At(at)),
        time => {
            let t = time.strip_prefix('T')?.strip_suffix('Z')?;
            let mut parts = t.split(':').map(|p| p.parse::<i64>().ok());
            let (h, m) = (parts.next()??, parts.next()??);
            let sec = parts.next().flatten().unwrap_or(0);
            (h < 24 && m < 60 && sec < 60).then_some(Since::At(at + h * 3600 + m * 60 + sec))
        }
    }
}

/// At most this many messages (the latest) are read.
const MAX_MESSAGES: i64 = 400;

/// The JSON shape the model fills.
pub fn room_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "topics": {"type": "array", "maxItems": 6, "items": {"type": "object", "properties": {
                "topic": {"type": "string"},
                "points": {"type": "array", "maxItems": 6, "items": {"type": "object", "properties": {
                    "who": {"type": "string"},
                    "what": {"type": "string"},
                    "message": {"type": "integer"}
                }}}
            }}}
        }
    })
}

/// The words by which a message names `user` (an e-mail address): the
/// local part and its pieces (`alice.martin` → alice, martin), long enough
/// not to match everything.
pub(crate) fn names_of(user: &str) -> Vec<String> {
    let local = user.split('@').next().unwrap_or(user).to_lowercase();
    let mut names = vec![local.clone()];
    names.extend(local.split(['.', '-', '_']).filter(|p| p.chars().count() >= 3).map(str::to_string));
    names.dedup();
    names
}

/// Whether `text` names one of `names` as a whole word (or `@name`).
pub(crate) fn mentions(text: &str, names: &[String]) -> bool {
    let lower = text.to_lowercase();
    lower.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-' || c == '_')).any(|w| {
        let w = w.trim_matches(['.', '-', '_']);
        names.iter().any(|n| w == n)
    })
}

fn room_prompt(room: &str, messages: &[ThreadMessage], lang: Lang) -> Vec<ChatMessage> {
    let mut listed = String::new();
    for m in messages {
        let at =
            m.date.as_deref().map(|d| format!(", {}", d.get(..16).unwrap_or(d).replace('T', " "))).unwrap_or_default();
        listed.push_str(&format!("[{}] {}{at}: {}\n", m.n, m.from, crate::policy::injection::defuse(m.text.trim())));
    }
    let system = format!(
        "You summarise chat rooms in {lang}. You reply with JSON only. \
         Use only what the messages say; never invent a person, a decision or a date.",
        lang = lang.name()
    );
    // Small models drift to English unless the instruction itself is in
    // the room's language.
    let cue = match lang {
        Lang::Fr => " Réponds en français.",
        Lang::En => "",
    };
    let user = format!(
        "Chat room \"{room}\" (numbered messages, oldest first):\n\n{listed}\n\
         Summarise it in {lang} as JSON: \"summary\": two or three sentences in {lang}; \
         \"topics\": the subjects discussed (one per subject), each with \"topic\" (its name in a few words) \
         and \"points\": each thing said, asked or decided about it, with \"who\" said it, \
         \"what\" (one full sentence in {lang} saying what was said, asked or decided) \
         and \"message\" (its number).{cue}",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// The model's topics, merged by name, each point kept only when a message
/// supports it (and then cited to that message).
pub fn check_topics(raw: &serde_json::Value, messages: &[ThreadMessage]) -> (Vec<Topic>, usize) {
    let units: Vec<(usize, String)> = messages.iter().map(|m| (m.n, format!("{} {}", m.from, m.text))).collect();
    let mut topics: Vec<Topic> = Vec::new();
    let mut dropped = 0;
    for t in raw["topics"].as_array().into_iter().flatten() {
        let name = t["topic"].as_str().unwrap_or("").trim().to_string();
        let mut points = Vec::new();
        for p in t["points"].as_array().into_iter().flatten() {
            let what = p["what"].as_str().unwrap_or("").trim().to_string();
            if what.is_empty() {
                continue;
            }
            // A name or an address alone is not a point.
            if what.split_whitespace().count() < 3 {
                dropped += 1;
                continue;
            }
            let given = p["message"].as_u64().map(|n| n as usize);
            match supporting(&what, given, &units) {
                // Who said it is the author of the message that supports it.
                Some(n) => {
                    let who = messages.iter().find(|m| m.n == n).map(|m| m.from.clone());
                    points.push(Point { who, what, due: None, message: n })
                }
                None => dropped += 1,
            }
        }
        if points.is_empty() {
            continue;
        }
        let name = if name.is_empty() { "—".to_string() } else { name };
        match topics.iter_mut().find(|x| x.topic.to_lowercase() == name.to_lowercase()) {
            Some(x) => {
                for p in points {
                    if !x.points.iter().any(|q| q.what == p.what) {
                        x.points.push(p);
                    }
                }
            }
            None => topics.push(Topic { topic: name, points }),
        }
    }
    (topics, dropped)
}

impl Workspace {
    /// What happened in a chat room (by name or ID) since `since`, from the
    /// messages `pass` may read.
    pub async fn catch_up_room(
        &self,
        room: &str,
        since: Since,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<RoomCatchUp> {
        let user = pass.user().cloned();
        let (after, since_from) = match since {
            Since::At(t) => (t, "given"),
            Since::LastRead => {
                let Some(u) = &user else {
                    return Err(CoreError::Other("last-read needs a user".into()));
                };
                match self.last_read(u, room).await? {
                    Some(t) => (t, "last read"),
                    None => {
                        return Err(CoreError::NotFound(format!(
                            "no read receipt of yours is known in room {room:?}: give --since YYYY-MM-DD or a duration such as 24h"
                        )));
                    }
                }
            }
        };
        let since_text = crate::engine::dates::rfc3339(after);
        // Is there such a room at all (for this user)? Then what is new.
        if self.store.room_documents(room, "", pass, 1).await?.is_empty() {
            return Err(CoreError::NotFound(format!(
                "no chat room you may read is named {room:?}: give its name or its ID (`twake-ai search` shows rooms as titles)"
            )));
        }
        let docs = self.store.room_documents(room, &since_text, pass, MAX_MESSAGES).await?;
        let room_name = docs.first().map(|d| d.title.clone()).unwrap_or_else(|| room.to_string());
        let mut messages = Vec::new();
        let mut material = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let chunks = self.store.doc_chunks(d.doc_id, pass).await?;
            messages.push(ThreadMessage {
                n: i + 1,
                message_id: d.message_id.clone(),
                from: d.author.as_deref().map(person_name).unwrap_or_default(),
                address: d.author.clone().unwrap_or_default(),
                date: d.date.clone(),
                path: d.path.clone(),
                text: d.body.clone(),
            });
            material.extend(chunks.into_iter().filter(|c| c.locator == Locator::Message));
        }
        let me = user.as_ref().map(|u| u.as_str().to_string()).unwrap_or_default();
        let names = names_of(&me);
        let mentions: Vec<Mention> = messages
            .iter()
            .filter(|m| m.address != me && mentions(&m.text, &names))
            .map(|m| Mention { message: m.n, from: m.from.clone(), date: m.date.clone(), text: m.text.clone() })
            .collect();
        let mut out = RoomCatchUp {
            room: room_name.clone(),
            since: since_text,
            since_from,
            messages: vec![],
            mentions,
            summary: String::new(),
            topics: vec![],
            dropped: 0,
            truncated: false,
            parts: 0,
            model: String::new(),
            audit_id: None,
            tokens: 0,
            price_per_million: 0.0,
            completion_tokens: 0,
        };
        if messages.is_empty() {
            return Ok(out);
        }
        let lang = detect(&messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" "));
        let costs: Vec<usize> =
            messages.iter().map(|m| (m.text.chars().count() + m.from.len() + 30).div_ceil(3)).collect();
        let prompt_for = |r: std::ops::Range<usize>| room_prompt(&room_name, &messages[r], lang);
        let material_for = |r: std::ops::Range<usize>| {
            let ids: Vec<&Option<String>> = messages[r].iter().map(|m| &m.message_id).collect();
            material.iter().filter(|c| ids.contains(&&c.message_id)).cloned().collect::<Vec<_>>()
        };
        let what = format!("the chat room \"{room_name}\"");
        let parts = self
            .json_in_parts(
                &format!("catch-up of room {room_name}"),
                Some((&what, lang)),
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &room_schema(),
                700,
                pass,
                on_tokens,
            )
            .await?;
        let raw = parts.merged(&["topics"]);
        let (topics, dropped) = check_topics(&raw, &messages);
        out.summary = raw["summary"].as_str().unwrap_or("").trim().to_string();
        out.topics = topics;
        out.dropped = dropped;
        out.truncated = parts.truncated;
        out.parts = parts.raws.len();
        out.model = parts.model.clone();
        out.audit_id = parts.audit_ids.last().copied();
        out.tokens = parts.tokens;
        out.price_per_million = parts.price_per_million();
        out.completion_tokens = parts.generated as u64;
        out.messages = messages;
        Ok(out)
    }
}

impl RoomCatchUp {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {} — since {} ({})\n\n", self.room, self.since, self.since_from);
        if self.messages.is_empty() {
            s.push_str("Nothing new.\n");
            return s;
        }
        if !self.mentions.is_empty() {
            s.push_str("## Mentions of you\n\n");
            for m in &self.mentions {
                s.push_str(&format!("- {}: {} [{}]\n", m.from, m.text.trim(), m.message));
            }
            s.push('\n');
        }
        s.push_str(&format!("{}\n", self.summary));
        for t in &self.topics {
            s.push_str(&format!("\n## {}\n\n", t.topic));
            for p in &t.points {
                let who = p.who.as_deref().map(|w| format!("{w}: ")).unwrap_or_default();
                s.push_str(&format!("- {who}{} [{}]\n", p.what, p.message));
            }
        }
        s.push('\n');
        for m in &self.messages {
            let at = m.date.as_deref().map(|d| format!(", {d}")).unwrap_or_default();
            s.push_str(&format!("[{}] {}{at}\n", m.n, m.from));
        }
        if let Some(id) = self.audit_id {
            s.push_str(&format!("\n_{} · provenance record {id}_\n", self.model));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize, from: &str, text: &str) -> ThreadMessage {
        ThreadMessage {
            n,
            message_id: Some(format!("${n}")),
            from: from.into(),
            address: from.into(),
            date: None,
            path: String::new(),
            text: text.into(),
        }
    }

    #[test]
    fn since_reads_days_times_durations_and_last_read() {
        let now = 1_795_910_400; // 2026-11-29T00:00:00Z
        assert_eq!(parse_since("last-read", now), Some(Since::LastRead));
        assert_eq!(parse_since("24h", now), Some(Since::At(now - 86_400)));
        assert_eq!(parse_since("7d", now), Some(Since::At(now - 7 * 86_400)));
        assert_eq!(parse_since("2026-11-29", now), Some(Since::At(now)));
        assert_eq!(parse_since("2026-11-29T08:30Z", now), Some(Since::At(now + 8 * 3600 + 1800)));
        assert_eq!(parse_since("99999999999d", now), Some(Since::At(0)), "since the beginning");
        for bad in ["hier", "2026-13-01", "-3d", "2026-11-29T25:00Z", "2026-11-29 08:30", "999999999999999999h"] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn chat_authors_read_as_names() {
        assert_eq!(person_name("alice.martin@valmont.fr"), "Alice Martin");
        assert_eq!(person_name("carol@valmont.fr"), "Carol");
    }

    #[test]
    fn mentions_are_whole_names() {
        let names = names_of("alice.martin@valmont.fr");
        assert!(names.contains(&"alice".to_string()) && names.contains(&"martin".to_string()));
        assert!(mentions("@alice peux-tu valider ?", &names));
        assert!(mentions("Merci Alice.", &names));
        assert!(mentions("voir alice.martin@valmont.fr", &names) || mentions("voir alice.martin", &names));
        assert!(!mentions("Alicemania n'est pas un nom", &names));
        assert!(!mentions("la salle Martinique", &names));
    }

    #[test]
    fn topics_keep_only_supported_points_and_merge_by_name() {
        let messages = [
            msg(1, "alice@valmont.fr", "La bascule du datacenter est déplacée au 22 décembre."),
            msg(2, "bob@valmont.fr", "Les switchs arrivent le 10 décembre."),
        ];
        let raw = serde_json::json!({"topics": [
            {"topic": "Bascule", "points": [{"what": "Alice déplace la bascule du datacenter au 22 décembre.", "message": 2}]},
            {"topic": "bascule", "points": [{"what": "Les switchs arrivent le 10 décembre.", "message": 2},
                                             {"what": "Le budget atteint 48 000 euros pour Zoé.", "message": 1}]},
            {"topic": "Vide", "points": []},
            {"topic": "Noms", "points": [{"what": "carol@valmont.fr", "message": 1}]}
        ]});
        let (topics, dropped) = check_topics(&raw, &messages);
        assert_eq!(topics.len(), 1, "{topics:?}");
        let cited: Vec<usize> = topics[0].points.iter().map(|p| p.message).collect();
        assert_eq!(cited, [1, 2], "a point goes to the message that supports it");
        assert_eq!(dropped, 2, "a point no message supports, or a bare name, is dropped");
        assert!(room_schema()["properties"]["topics"].is_object());
    }
}
