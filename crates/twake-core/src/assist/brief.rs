//! The daily brief ([`Workspace::brief`]): what happened since a time
//! (yesterday by default) across mail, chat rooms and meetings that
//! concerns the user, each item with its source.
//!
//! Mail is the inbox triage (the only part that asks the model: gists,
//! replies needed, urgency, deadlines); rooms and meetings are read in
//! code: new messages per room with the ones naming the user, and the
//! meetings held since with the passages that name the user (not their own
//! words). Nothing is summarised that the user could not open: every read
//! goes through their pass.

use serde::Serialize;
use twake_types::{AccessPass, SourceKind};

use crate::assist::catchup::{mentions, names_of};
use crate::assist::triage::Triage;
use crate::engine::dates::Date;
use crate::engine::text::person_name;
use crate::{Result, Workspace};

/// A message naming the user in a room.
#[derive(Debug, Clone, Serialize)]
pub struct RoomMention {
    pub from: String,
    pub date: Option<String>,
    pub text: String,
    /// The message's event ID and item path (its source).
    pub message_id: Option<String>,
    pub path: String,
}

/// A chat room with new messages.
#[derive(Debug, Clone, Serialize)]
pub struct RoomActivity {
    pub room: String,
    pub new_messages: usize,
    /// Who wrote them, most active first.
    pub authors: Vec<String>,
    pub last: Option<String>,
    pub mentions: Vec<RoomMention>,
}

/// A passage of a meeting that names the user.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingMention {
    /// The passage's time window in the recording.
    pub time: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeetingActivity {
    pub title: String,
    pub path: String,
    pub date: Option<String>,
    pub mentions: Vec<MeetingMention>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub user: String,
    /// RFC 3339: what happened after this.
    pub since: String,
    pub mail: Triage,
    pub rooms: Vec<RoomActivity>,
    pub meetings: Vec<MeetingActivity>,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

impl crate::assist::task::Charged for Brief {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

/// The start of a brief from `since` as the CLI and the API take it
/// (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MMZ`, `24h`, `7d`; default: yesterday,
/// 00:00 UTC), in Unix seconds; `None` when it is none of these.
pub fn brief_since(since: Option<&str>, today: Date, now: i64) -> Option<i64> {
    match since {
        None => Some((today.days() - 1) * 86_400),
        Some(s) => match crate::assist::catchup::parse_since(s, now)? {
            crate::assist::catchup::Since::At(t) => Some(t),
            crate::assist::catchup::Since::LastRead => None,
        },
    }
}

/// Documents read per kind at most.
const LIMIT: i64 = 2000;

/// The day a meeting took place: its date, or one in its title or path.
fn meeting_day(date: Option<&str>, title: &str, path: &str) -> Option<Date> {
    date.and_then(Date::find_iso).or_else(|| Date::find_iso(title)).or_else(|| Date::find_iso(path))
}

impl Workspace {
    /// The brief of what happened after `since` (Unix seconds) that `pass`
    /// may read.
    pub async fn brief(
        &self,
        since: i64,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Brief> {
        let me = pass.user().map(|u| u.as_str().to_string()).unwrap_or_default();
        let names = names_of(&me);
        let own_name = person_name(&me);
        let after = crate::engine::dates::rfc3339(since);
        let since_day = Date::from_days(since.div_euclid(86_400));

        // Rooms: new messages per room, the ones naming the user.
        let mut rooms: Vec<RoomActivity> = Vec::new();
        for d in self.store.kind_documents(SourceKind::Chat, &after, false, pass, LIMIT).await? {
            let idx = match rooms.iter().position(|r| r.room == d.title) {
                Some(i) => i,
                None => {
                    rooms.push(RoomActivity {
                        room: d.title.clone(),
                        new_messages: 0,
                        authors: vec![],
                        last: None,
                        mentions: vec![],
                    });
                    rooms.len() - 1
                }
            };
            let r = &mut rooms[idx];
            r.new_messages += 1;
            r.last = d.date.clone();
            let author = d.author.clone().unwrap_or_default();
            let from = person_name(&author);
            r.authors.push(from.clone());
            if author != me && mentions(&d.body, &names) {
                r.mentions.push(RoomMention {
                    from,
                    date: d.date.clone(),
                    text: d.body.clone(),
                    message_id: d.message_id.clone(),
                    path: d.path.clone(),
                });
            }
        }
        for r in &mut rooms {
            let mut counted: Vec<(String, usize)> = Vec::new();
            for a in &r.authors {
                match counted.iter_mut().find(|(n, _)| n == a) {
                    Some((_, c)) => *c += 1,
                    None => counted.push((a.clone(), 1)),
                }
            }
            counted.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
            r.authors = counted.into_iter().map(|(n, _)| n).collect();
        }
        // Mentions first, then the busiest rooms.
        rooms.sort_by_key(|r| std::cmp::Reverse((r.mentions.len(), r.new_messages)));

        // Meetings held since that day, with the passages naming the user.
        let mut meetings = Vec::new();
        for d in self.store.kind_documents(SourceKind::Transcript, &after, true, pass, LIMIT).await? {
            let Some(day) = meeting_day(d.date.as_deref(), &d.title, &d.path) else { continue };
            if day < since_day {
                continue;
            }
            let mut found = Vec::new();
            for c in self.store.doc_chunks(d.doc_id, pass).await? {
                for line in c.text.lines() {
                    let own = !own_name.is_empty() && line.starts_with(&format!("{own_name}:"));
                    if !own && mentions(line, &names) {
                        found.push(MeetingMention { time: c.locator.display(), text: line.trim().to_string() });
                    }
                }
            }
            meetings.push(MeetingActivity {
                title: d.title,
                path: d.path,
                date: Some(day.to_string()),
                mentions: found,
            });
        }
        meetings.sort_by_key(|m| std::cmp::Reverse(m.mentions.len()));

        let mail = self.triage(since_day, pass, on_tokens).await?;
        Ok(Brief {
            user: me,
            since: after,
            tokens: mail.tokens,
            price_per_million: mail.price_per_million,
            completion_tokens: mail.completion_tokens,
            mail,
            rooms,
            meetings,
        })
    }
}

impl Brief {
    pub fn to_text(&self) -> String {
        let mut s = format!("Brief for {} since {}\n", self.user, self.since);
        let replies: Vec<_> = self.mail.threads.iter().filter(|t| t.needs_reply).collect();
        s.push_str(&format!(
            "\nMail: {} thread(s) with new messages, {} need your reply\n",
            self.mail.threads.len(),
            replies.len()
        ));
        for t in &self.mail.threads {
            let flag = if t.needs_reply { "reply" } else { "info" };
            let due: Vec<&str> = t.deadlines.iter().map(|d| d.date.as_str()).collect();
            let due = if due.is_empty() { String::new() } else { format!(" — due {}", due.join(", ")) };
            let id = t.message_id.as_deref().map(|i| format!(" <{i}>")).unwrap_or_default();
            s.push_str(&format!("  [{flag}, {:?}] {}: {}{due}{id}\n", t.urgency, t.subject, t.gist));
        }
        s.push_str(&format!("\nRooms: {} with new messages\n", self.rooms.len()));
        for r in &self.rooms {
            s.push_str(&format!("  {} — {} new message(s) from {}\n", r.room, r.new_messages, r.authors.join(", ")));
            for m in &r.mentions {
                s.push_str(&format!("    mentions you: {}: {} ({})\n", m.from, m.text.trim(), m.path));
            }
        }
        s.push_str(&format!("\nMeetings: {}\n", self.meetings.len()));
        for m in &self.meetings {
            s.push_str(&format!("  {} ({}) {}\n", m.title, m.date.as_deref().unwrap_or("?"), m.path));
            for x in &m.mentions {
                s.push_str(&format!("    [{}] {}\n", x.time, x.text));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brief_starts_yesterday_unless_told() {
        let today = Date::find_iso("2026-11-29").unwrap();
        let now = today.days() * 86_400 + 3600;
        assert_eq!(brief_since(None, today, now), Some(now - 3600 - 86_400));
        assert_eq!(brief_since(Some("24h"), today, now), Some(now - 86_400));
        assert_eq!(brief_since(Some("last-read"), today, now), None);
        assert_eq!(brief_since(Some("hier"), today, now), None);
    }

    #[test]
    fn a_meeting_day_comes_from_its_date_title_or_path() {
        let d = |s| Date::find_iso(s);
        assert_eq!(meeting_day(Some("2026-11-20T10:00:00Z"), "x", "y"), d("2026-11-20"));
        assert_eq!(meeting_day(None, "Comité 2026-11-20", "y"), d("2026-11-20"));
        assert_eq!(meeting_day(None, "Weekly sync", "meetings/weekly-sync-2026-11-23.srt"), d("2026-11-23"));
        assert_eq!(meeting_day(None, "Weekly sync", "meetings/weekly.srt"), None);
    }
}
