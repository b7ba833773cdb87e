//! Matrix chat: the text of a room event, and a whole room exported as JSON
//! (Element's "Export chat" → JSON: `{"room_name", "topic", "exported_by",
//! "messages": [event, …]}`, each message a Matrix client-server event).
//!
//! An exported room gives one [`Document`] per message, like the Matrix
//! connector's items: edits (`m.replace`) give the latest text, redacted
//! messages are left out, and when the export holds the membership events
//! each message lists the users joined when it was sent as participants
//! (`Role::Member`), so they — and not later joiners — may read it.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;
use twake_types::{Document, Locator, Participant, Role, Section, SourceKind, civil};

use crate::{ExtractError, Extracted, Result};

const FORMAT: &str = "Matrix room export (JSON)";

/// The text of a message content; `None` for nothing to index (a redacted
/// event has an empty content, a reaction or a state event no `body`).
pub fn message_text(sender_name: &str, content: &Value) -> Option<String> {
    let body = content.get("body")?.as_str()?.trim();
    if body.is_empty() {
        return None;
    }
    Some(match content.get("msgtype").and_then(Value::as_str) {
        Some("m.emote") => format!("* {sender_name} {body}"),
        Some("m.file" | "m.image" | "m.video" | "m.audio") => format!("[file: {body}]"),
        _ => body.to_string(),
    })
}

/// The latest content of a message: the server's aggregated edit when the
/// event carries one, else the event's own.
pub fn latest_content(event: &Value) -> &Value {
    let edit = &event["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"];
    if edit.is_object() { edit } else { &event["content"] }
}

/// The thread root of a message in a Matrix thread (`m.thread`).
pub fn thread_of(event: &Value) -> Option<String> {
    let relates = &event["content"]["m.relates_to"];
    (relates["rel_type"].as_str() == Some("m.thread")).then(|| relates["event_id"].as_str().map(str::to_string))?
}

/// The event an edit replaces, when `event` is an edit.
pub fn replaces(event: &Value) -> Option<&str> {
    let relates = &event["content"]["m.relates_to"];
    (relates["rel_type"].as_str() == Some("m.replace")).then(|| relates["event_id"].as_str())?
}

/// RFC 3339 (UTC, seconds) of a Matrix timestamp in milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// The address of a Matrix user: `@alice.martin:valmont.fr` is
/// `alice.martin@valmont.fr` (lowercased); `None` for an invalid ID.
pub fn address_of(mxid: &str) -> Option<String> {
    let (local, server) = mxid.strip_prefix('@')?.split_once(':')?;
    (!local.is_empty() && !server.is_empty()).then(|| format!("{local}@{server}").to_lowercase())
}

/// Reads a room exported as JSON.
pub fn room_export(stem: &str, bytes: &[u8]) -> Result<Extracted> {
    let corrupt = |reason: String| ExtractError::Corrupt { format: FORMAT, reason };
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        corrupt(format!("not valid JSON ({e}); export the room again (Element: Room info → Export chat → JSON)"))
    })?;
    let Some(events) = root.get("messages").and_then(Value::as_array) else {
        return Err(corrupt(
            "no \"messages\" list: expected a room exported as JSON by Element (Room info → Export chat → JSON)".into(),
        ));
    };
    let room_id = events.iter().find_map(|e| e["room_id"].as_str());
    let title = root["room_name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .or(room_id)
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| stem.to_string());
    let mut warnings = Vec::new();

    // Redactions and the latest edit of each message, wherever they sit.
    let mut redacted: HashSet<&str> = HashSet::new();
    // The latest edit of each message by each sender: (time, new content).
    let mut edits: HashMap<(&str, &str), (i64, &Value)> = HashMap::new();
    for e in events {
        if e["type"].as_str() == Some("m.room.redaction")
            && let Some(id) = e["redacts"].as_str().or_else(|| e["content"]["redacts"].as_str())
        {
            redacted.insert(id);
        }
        if let Some(target) = replaces(e) {
            let ts = e["origin_server_ts"].as_i64().unwrap_or(0);
            let new = &e["content"]["m.new_content"];
            let key = (target, e["sender"].as_str().unwrap_or(""));
            if new.is_object() && edits.get(&key).is_none_or(|(t, _)| *t <= ts) {
                edits.insert(key, (ts, new));
            }
        }
    }

    // The timeline in order of time (the export's order for equal times).
    let mut order: Vec<&Value> = events.iter().collect();
    order.sort_by_key(|e| e["origin_server_ts"].as_i64().unwrap_or(0));
    let has_members = order.iter().any(|e| e["type"].as_str() == Some("m.room.member"));
    let mut joined: BTreeSet<String> = BTreeSet::new();
    let (mut malformed, mut encrypted) = (0usize, 0usize);
    let mut documents = Vec::new();
    for e in order {
        match e["type"].as_str() {
            Some("m.room.member") => {
                let Some(who) = e["state_key"].as_str().and_then(address_of) else { continue };
                match e["content"]["membership"].as_str() {
                    Some("join") => joined.insert(who),
                    Some("leave" | "ban") => joined.remove(&who),
                    _ => false,
                };
            }
            Some("m.room.encrypted") => encrypted += 1,
            Some("m.room.message") => {
                if replaces(e).is_some() {
                    continue;
                }
                let (Some(event_id), Some(author), Some(ts)) =
                    (e["event_id"].as_str(), e["sender"].as_str().and_then(address_of), e["origin_server_ts"].as_i64())
                else {
                    malformed += 1;
                    continue;
                };
                if redacted.contains(event_id) || !e["unsigned"]["redacted_because"].is_null() {
                    continue;
                }
                // Only its sender may edit a message (Matrix ignores others').
                let sender = e["sender"].as_str().unwrap_or("");
                let content = edits.get(&(event_id, sender)).map(|(_, c)| *c).unwrap_or_else(|| latest_content(e));
                let Some(text) = message_text(&author, content) else { continue };
                let mut participants = vec![Participant { role: Role::From, address: author.clone() }];
                if has_members {
                    participants.extend(
                        joined
                            .iter()
                            .filter(|m| **m != author)
                            .map(|m| Participant { role: Role::Member, address: m.clone() }),
                    );
                }
                documents.push(Document {
                    key: event_id.to_string(),
                    message_id: Some(event_id.to_string()),
                    thread_id: thread_of(e),
                    author: Some(author),
                    date: Some(rfc3339_ms(ts)),
                    participants,
                    sections: vec![Section { locator: Locator::Message, text: text.clone() }],
                    ..Document::new(SourceKind::Chat, title.clone(), text)
                });
            }
            _ => {}
        }
    }
    if malformed > 0 {
        warnings.push(format!("{malformed} message(s) without an event_id, a sender or a time were skipped"));
    }
    if encrypted > 0 {
        warnings.push(format!(
            "{encrypted} encrypted message(s) could not be read: export the room from a client that holds its keys"
        ));
    }
    if documents.is_empty() {
        return Err(ExtractError::NoText { format: FORMAT, hint: ": the export holds no readable message" });
    }
    Ok(Extracted { documents, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(t: &str, id: &str, sender: &str, ts: i64, content: Value) -> Value {
        json!({"type": t, "event_id": id, "sender": sender, "origin_server_ts": ts, "room_id": "!r:valmont.fr", "content": content})
    }

    fn member(who: &str, ts: i64, membership: &str) -> Value {
        let mut e = ev("m.room.member", &format!("$m{ts}"), who, ts, json!({"membership": membership}));
        e["state_key"] = json!(who);
        e
    }

    fn export(messages: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"room_name": "Projet Lyon", "topic": "", "exported_by": "Alice", "messages": messages}),
        )
        .unwrap()
    }

    fn readers(d: &Document) -> Vec<(&'static str, &str)> {
        d.participants.iter().map(|p| (p.role.as_str(), p.address.as_str())).collect()
    }

    #[test]
    fn messages_with_edits_redactions_threads_and_members_at_their_time() {
        let bytes = export(vec![
            member("@alice:valmont.fr", 1_000, "join"),
            member("@bob:valmont.fr", 2_000, "join"),
            ev(
                "m.room.message",
                "$1",
                "@alice:valmont.fr",
                1_764_000_000_000,
                json!({"msgtype": "m.text", "body": "Bascule le 13 mars"}),
            ),
            ev(
                "m.room.message",
                "$2",
                "@bob:valmont.fr",
                1_764_000_060_000,
                json!({"msgtype": "m.text", "body": "secret"}),
            ),
            json!({"type": "m.room.redaction", "event_id": "$r", "sender": "@bob:valmont.fr", "origin_server_ts": 1_764_000_070_000_i64, "redacts": "$2", "content": {}}),
            ev(
                "m.room.message",
                "$e",
                "@alice:valmont.fr",
                1_764_000_080_000,
                json!({
                "body": "* Bascule le 14 mars", "m.new_content": {"msgtype": "m.text", "body": "Bascule le 14 mars"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}),
            ),
            // Bob cannot edit Alice's message, even later.
            ev(
                "m.room.message",
                "$f",
                "@bob:valmont.fr",
                1_764_000_085_000,
                json!({
                "body": "* Bascule annulée", "m.new_content": {"msgtype": "m.text", "body": "Bascule annulée"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"}}),
            ),
            member("@carol:valmont.fr", 1_764_000_090_000, "join"),
            member("@bob:valmont.fr", 1_764_000_095_000, "leave"),
            ev(
                "m.room.message",
                "$3",
                "@carol:valmont.fr",
                1_764_000_100_000,
                json!({
                "msgtype": "m.text", "body": "Qui prévient les utilisateurs ?",
                "m.relates_to": {"rel_type": "m.thread", "event_id": "$1"}}),
            ),
            ev(
                "m.room.message",
                "$4",
                "@carol:valmont.fr",
                1_764_000_110_000,
                json!({"msgtype": "m.emote", "body": "approuve"}),
            ),
            ev("m.room.encrypted", "$5", "@carol:valmont.fr", 1_764_000_120_000, json!({"ciphertext": "…"})),
            json!({"type": "m.room.message", "content": {"body": "no id"}}),
        ]);
        let out = room_export("export", &bytes).unwrap();
        let texts: Vec<&str> = out.documents.iter().map(|d| d.body.as_str()).collect();
        assert_eq!(texts, ["Bascule le 14 mars", "Qui prévient les utilisateurs ?", "* carol@valmont.fr approuve"]);
        let first = &out.documents[0];
        assert_eq!((first.title.as_str(), first.kind), ("Projet Lyon", SourceKind::Chat));
        assert_eq!(first.date.as_deref(), Some("2025-11-24T16:00:00Z"));
        assert_eq!(first.author.as_deref(), Some("alice@valmont.fr"));
        assert_eq!(readers(first), [("from", "alice@valmont.fr"), ("member", "bob@valmont.fr")]);
        // Carol joined after the first message; Bob left before hers.
        assert_eq!(readers(&out.documents[1]), [("from", "carol@valmont.fr"), ("member", "alice@valmont.fr")]);
        assert_eq!(out.documents[1].thread_id.as_deref(), Some("$1"));
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
        assert!(out.warnings.iter().any(|w| w.contains("1 encrypted")));
    }

    #[test]
    fn without_membership_events_only_the_sender_is_a_participant() {
        let bytes = export(vec![ev("m.room.message", "$1", "@Alice:valmont.fr", 0, json!({"body": "hello"}))]);
        let out = room_export("export", &bytes).unwrap();
        assert_eq!(readers(&out.documents[0]), [("from", "alice@valmont.fr")]);
        assert_eq!(out.documents[0].date.as_deref(), Some("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn bad_exports_say_what_is_wrong() {
        let err = room_export("x", b"{\"messages\": [").unwrap_err().to_string();
        assert!(err.contains("not valid JSON") && err.contains("Export chat"), "{err}");
        let err = room_export("x", b"{\"rooms\": []}").unwrap_err().to_string();
        assert!(err.contains("no \"messages\" list"), "{err}");
        let err = room_export("x", &export(vec![member("@a:x", 0, "join")])).unwrap_err().to_string();
        assert!(err.contains("no readable message"), "{err}");
        // A room without a name is titled by its ID.
        let bytes =
            serde_json::to_vec(&json!({"messages": [ev("m.room.message", "$1", "@a:x", 0, json!({"body": "hi"}))]}))
                .unwrap();
        assert_eq!(room_export("x", &bytes).unwrap().documents[0].title, "!r:valmont.fr");
    }

    #[test]
    fn addresses_of_matrix_ids() {
        assert_eq!(address_of("@Alice.Martin:valmont.fr").as_deref(), Some("alice.martin@valmont.fr"));
        assert_eq!(address_of("alice:valmont.fr"), None);
        assert_eq!(address_of("@:x"), None);
    }
}
