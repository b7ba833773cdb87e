//! Scoring the assistants against references written by hand (the
//! evaluation set `examples/eval/assistants/`): action items (task, owner,
//! due date), decisions, thread points, and faithfulness checked by exact
//! facts. Pure functions; `twake-ai eval assistants` runs the assistants
//! and feeds them here.
//!
//! An item matches a reference when at least half of the reference's
//! keywords (rounded up) are in the item's text, case and accents ignored.
//! Each reference matches at most one item and each item one reference
//! (greedy, in order). Owners and askers match by last name.

use serde::{Deserialize, Serialize};

use twake_core::assist::catchup::RoomCatchUp;
use twake_core::assist::minutes::{Cue, Minutes};
use twake_core::assist::thread::{ThreadMessage, ThreadSummary};
use twake_core::engine::dates::Date;
use twake_core::engine::text::fold;
use twake_core::retrieve::facts::{facts, missing};

pub mod answers;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefItem {
    #[serde(default, alias = "who")]
    pub owner: Option<String>,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub due: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefMinutes {
    pub path: String,
    #[serde(default)]
    pub decisions: Vec<Vec<String>>,
    #[serde(default)]
    pub actions: Vec<RefItem>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefThread {
    pub path: String,
    pub message_id: String,
    #[serde(default)]
    pub asked: Vec<RefItem>,
    #[serde(default)]
    pub decided: Vec<Vec<String>>,
    #[serde(default)]
    pub open: Vec<RefItem>,
}

/// A room's catch-up: what each person said, asked or decided (`who`,
/// `keywords`), and which messages name the user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefRoom {
    pub path: String,
    /// The room's name as exported.
    pub room: String,
    /// Whose catch-up it is (an address): the mentions are of this user.
    pub user: String,
    /// From when: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]Z`.
    pub since: String,
    #[serde(default)]
    pub points: Vec<RefItem>,
    /// The numbers (from 1, in the catch-up's order) of the messages of
    /// others that name the user.
    #[serde(default)]
    pub mentions: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    #[serde(default)]
    pub minutes: Vec<RefMinutes>,
    #[serde(default)]
    pub threads: Vec<RefThread>,
    #[serde(default)]
    pub rooms: Vec<RefRoom>,
}

/// Predicted and reference counts and matches of one kind of item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    pub predicted: usize,
    pub reference: usize,
    /// Pairs whose text matches.
    pub matched: usize,
    /// Matched pairs whose owner (or asker) is right too.
    pub owner: usize,
    /// Matched pairs whose due date is right too (both absent counts).
    pub due: usize,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.predicted += o.predicted;
        self.reference += o.reference;
        self.matched += o.matched;
        self.owner += o.owner;
        self.due += o.due;
    }

    pub fn precision(&self, hits: usize) -> f64 {
        if self.predicted == 0 { 0.0 } else { hits as f64 / self.predicted as f64 }
    }

    pub fn recall(&self, hits: usize) -> f64 {
        if self.reference == 0 { 0.0 } else { hits as f64 / self.reference as f64 }
    }
}

/// Supported and checked counts: items (or sentences) whose names,
/// numbers and dates are all in the passage they cite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Faithfulness {
    pub checked: usize,
    pub supported: usize,
}

impl Faithfulness {
    pub fn add(&mut self, o: Faithfulness) {
        self.checked += o.checked;
        self.supported += o.supported;
    }

    pub fn share(&self) -> f64 {
        if self.checked == 0 { 1.0 } else { self.supported as f64 / self.checked as f64 }
    }

    fn check(&mut self, text: &str, source: &str, reference: Date) {
        self.checked += 1;
        if missing(&facts(text, reference), source, reference).is_empty() {
            self.supported += 1;
        }
    }
}

/// Whether `text` holds at least half of `keywords` (rounded up).
pub fn matches(text: &str, keywords: &[String]) -> bool {
    let t = fold(text);
    let found = keywords.iter().filter(|k| t.contains(&fold(k))).count();
    !keywords.is_empty() && found * 2 >= keywords.len()
}

fn same_person(a: &str, b: &str) -> bool {
    let last = |s: &str| fold(s).split_whitespace().last().unwrap_or("").to_string();
    !a.trim().is_empty() && last(a) == last(b)
}

/// A predicted item for scoring: text, owner, due date.
pub struct Predicted<'a> {
    pub text: &'a str,
    pub owner: Option<&'a str>,
    pub due: Option<&'a str>,
}

/// Greedy one-to-one matching of predictions to references.
pub fn tally(predicted: &[Predicted<'_>], references: &[RefItem]) -> Tally {
    let mut t = Tally { predicted: predicted.len(), reference: references.len(), ..Tally::default() };
    let mut used = vec![false; predicted.len()];
    for r in references {
        let Some(i) = (0..predicted.len()).find(|&i| !used[i] && matches(predicted[i].text, &r.keywords)) else {
            continue;
        };
        used[i] = true;
        t.matched += 1;
        let p = &predicted[i];
        if r.owner.as_deref().is_none_or(|o| p.owner.is_some_and(|po| same_person(po, o))) {
            t.owner += 1;
        }
        if r.due.as_deref() == p.due {
            t.due += 1;
        }
    }
    t
}

fn plain(keywords: &[Vec<String>]) -> Vec<RefItem> {
    keywords.iter().map(|k| RefItem { owner: None, keywords: k.clone(), due: None }).collect()
}

/// The scores of one set of minutes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MinutesScore {
    pub actions: Tally,
    pub decisions: Tally,
    pub faithfulness: Faithfulness,
}

pub fn score_minutes(m: &Minutes, r: &RefMinutes, cues: &[Cue]) -> MinutesScore {
    let reference = m.date.as_deref().and_then(Date::find_iso).unwrap_or(Date { year: 2026, month: 1, day: 1 });
    let cue_text = |n: usize| {
        cues.iter()
            .find(|c| c.n == n)
            .map(|c| format!("{} {}", c.speaker.as_deref().unwrap_or(""), c.text))
            .unwrap_or_default()
    };
    let actions: Vec<Predicted> = m
        .action_items
        .iter()
        .map(|a| Predicted { text: &a.task, owner: Some(&a.owner), due: a.due.as_deref() })
        .collect();
    let decisions: Vec<Predicted> =
        m.decisions.iter().map(|d| Predicted { text: &d.decision, owner: None, due: None }).collect();
    let mut faith = Faithfulness::default();
    for a in &m.action_items {
        faith.check(&format!("{} {}", a.owner, a.task), &cue_text(a.source.cue), reference);
    }
    for d in &m.decisions {
        faith.check(&d.decision, &cue_text(d.source.cue), reference);
    }
    // Summary sentences may name what the title names.
    let whole: String = std::iter::once(format!("{}\n", m.title))
        .chain(cues.iter().map(|c| format!("{} {}\n", c.speaker.as_deref().unwrap_or(""), c.text)))
        .collect();
    for sentence in sentences(&m.summary) {
        faith.check(sentence, &whole, reference);
    }
    MinutesScore {
        actions: tally(&actions, &r.actions),
        decisions: tally(&decisions, &plain(&r.decisions)),
        faithfulness: faith,
    }
}

/// The scores of one thread summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadScore {
    pub asked: Tally,
    pub decided: Tally,
    pub open: Tally,
    pub faithfulness: Faithfulness,
}

pub fn score_thread(s: &ThreadSummary, r: &RefThread, messages: &[ThreadMessage]) -> ThreadScore {
    let reference = Date { year: 2026, month: 1, day: 1 };
    let mut faith = Faithfulness::default();
    for p in s.asked.iter().chain(&s.decided).chain(&s.open) {
        let m = &messages[p.message - 1];
        let at = m.date.as_deref().and_then(Date::find_iso).unwrap_or(reference);
        faith.check(&p.what, &format!("{} {}", m.from, m.text), at);
    }
    let whole: String = std::iter::once(format!("{}\n", s.subject))
        .chain(messages.iter().map(|m| format!("{} {}\n", m.from, m.text)))
        .collect();
    for sentence in sentences(&s.summary) {
        faith.check(sentence, &whole, reference);
    }
    let score = |points: &[twake_core::assist::thread::Point], refs: &[RefItem]| {
        let p: Vec<Predicted> = points
            .iter()
            .map(|p| Predicted { text: &p.what, owner: p.who.as_deref(), due: p.due.as_deref() })
            .collect();
        tally(&p, refs)
    };
    ThreadScore {
        asked: score(&s.asked, &r.asked),
        decided: score(&s.decided, &plain(&r.decided)),
        open: score(&s.open, &r.open),
        faithfulness: faith,
    }
}

/// The scores of one room catch-up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoomScore {
    /// Points (with who said them) against the reference points.
    pub points: Tally,
    /// Mentions found against the reference mentions.
    pub mentions: Tally,
    pub faithfulness: Faithfulness,
}

pub fn score_room(c: &RoomCatchUp, r: &RefRoom) -> RoomScore {
    let undated = Date { year: 2026, month: 1, day: 1 };
    let mut faith = Faithfulness::default();
    let points: Vec<&twake_core::assist::thread::Point> = c.topics.iter().flat_map(|t| &t.points).collect();
    for p in &points {
        let Some(m) = c.messages.iter().find(|m| m.n == p.message) else {
            faith.checked += 1;
            continue;
        };
        let at = m.date.as_deref().and_then(Date::find_iso).unwrap_or(undated);
        faith.check(&p.what, &format!("{} {}", m.from, m.text), at);
    }
    let whole: String = std::iter::once(format!("{}\n", c.room))
        .chain(c.messages.iter().map(|m| format!("{} {}\n", m.from, m.text)))
        .collect();
    let last = c.messages.last().and_then(|m| m.date.as_deref()).and_then(Date::find_iso).unwrap_or(undated);
    for sentence in sentences(&c.summary) {
        faith.check(sentence, &whole, last);
    }
    let predicted: Vec<Predicted> =
        points.iter().map(|p| Predicted { text: &p.what, owner: p.who.as_deref(), due: p.due.as_deref() }).collect();
    let found: Vec<usize> = c.mentions.iter().map(|m| m.message).collect();
    let hits = found.iter().filter(|n| r.mentions.contains(n)).count();
    RoomScore {
        points: tally(&predicted, &r.points),
        mentions: Tally { predicted: found.len(), reference: r.mentions.len(), matched: hits, owner: hits, due: hits },
        faithfulness: faith,
    }
}

fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(['.', '!', '?']).map(str::trim).filter(|s| s.chars().count() > 3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(owner: Option<&str>, keywords: &[&str], due: Option<&str>) -> RefItem {
        RefItem {
            owner: owner.map(Into::into),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            due: due.map(Into::into),
        }
    }

    #[test]
    fn items_match_by_half_their_keywords_owner_by_last_name() {
        assert!(matches("Rédiger le plan de retour arrière", &["plan".into(), "retour arriere".into(), "x".into()]));
        assert!(!matches("Rédiger le plan", &["plan".into(), "retour arriere".into(), "x".into()]));
        let refs =
            [r(Some("Alice Martin"), &["plan", "retour arriere"], Some("2027-02-26")), r(None, &["budget"], None)];
        let pred = [
            Predicted { text: "Préparer le plan de retour arrière", owner: Some("Martin"), due: Some("2027-02-26") },
            Predicted { text: "Plan B du retour arrière", owner: Some("Bob"), due: None },
            Predicted { text: "Autre chose", owner: None, due: None },
        ];
        let t = tally(&pred, &refs);
        assert_eq!(t, Tally { predicted: 3, reference: 2, matched: 1, owner: 1, due: 1 }, "one item per reference");
        assert!((t.precision(t.matched) - 1.0 / 3.0).abs() < 1e-9 && (t.recall(t.matched) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn faithfulness_counts_items_whose_facts_are_in_their_source() {
        let at = Date::new(2026, 11, 20).unwrap();
        let mut f = Faithfulness::default();
        f.check(
            "Alice Martin envoie le plan le 26 février",
            "Alice Martin: je l'envoie au plus tard le 26 février",
            at,
        );
        f.check(
            "Alice Martin envoie le plan le 27 février",
            "Alice Martin: je l'envoie au plus tard le 26 février",
            at,
        );
        f.check("Le budget de 45 000 euros", "Le dépassement de 40 000 euros", at);
        assert_eq!(f, Faithfulness { checked: 3, supported: 1 });
    }

    #[test]
    fn room_points_are_scored_with_who_said_them_and_mentions_by_number() {
        use twake_core::assist::catchup::{Mention, RoomCatchUp, Topic};
        use twake_core::assist::thread::{Point, ThreadMessage};
        let msg = |n: usize, from: &str, text: &str| ThreadMessage {
            n,
            message_id: Some(format!("${n}")),
            from: from.into(),
            address: String::new(),
            date: Some("2026-12-02T08:00:00Z".into()),
            path: String::new(),
            text: text.into(),
        };
        let point = |who: &str, what: &str, message: usize| Point {
            who: Some(who.into()),
            what: what.into(),
            due: None,
            message,
        };
        let c = RoomCatchUp {
            room: "ops".into(),
            since: String::new(),
            since_from: "given",
            messages: vec![
                msg(1, "Tom Becker", "The disk array is racked."),
                msg(2, "Nadia Haddad", "The offer is 18,400 euros until December 11."),
                msg(3, "Paul Martin", "Nadia, send the lists."),
            ],
            mentions: vec![Mention { message: 3, from: "Paul Martin".into(), date: None, text: String::new() }],
            summary: "Tom racked the disk array. The offer is 19,000 euros.".into(),
            topics: vec![Topic {
                topic: "ops".into(),
                points: vec![
                    point("Tom Becker", "The disk array is racked", 1),
                    // Right text, cited to the wrong author.
                    point("Paul Martin", "The offer is 18,400 euros", 3),
                ],
            }],
            dropped: 0,
            truncated: false,
            parts: 1,
            model: "m".into(),
            audit_id: None,
            tokens: 0,
            price_per_million: 0.0,
            completion_tokens: 0,
        };
        let reference = RefRoom {
            path: String::new(),
            room: "ops".into(),
            user: "nadia.haddad@valmont.fr".into(),
            since: "2026-12-02".into(),
            points: vec![
                r(Some("Tom Becker"), &["disk array", "racked"], None),
                r(Some("Nadia Haddad"), &["offer", "18,400"], None),
                r(Some("Tom Becker"), &["printer"], None),
            ],
            mentions: vec![2, 3],
        };
        let s = score_room(&c, &reference);
        assert_eq!(s.points, Tally { predicted: 2, reference: 3, matched: 2, owner: 1, due: 2 });
        assert_eq!((s.mentions.predicted, s.mentions.reference, s.mentions.matched), (1, 2, 1));
        // The second point's figure is not in Paul's message; the summary's
        // 19,000 is nowhere.
        assert_eq!(s.faithfulness, Faithfulness { checked: 4, supported: 2 });
    }

    #[test]
    fn the_evaluation_set_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/eval/assistants/reference.toml");
        let r: Reference = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!((r.minutes.len(), r.threads.len(), r.rooms.len()), (4, 3, 2));
        let dir = std::path::Path::new(path).parent().unwrap();
        let paths = r.minutes.iter().map(|m| &m.path).chain(r.threads.iter().map(|t| &t.path));
        for p in paths.chain(r.rooms.iter().map(|x| &x.path)) {
            assert!(dir.join(p).is_file(), "{p}");
        }
    }
}
