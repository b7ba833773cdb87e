//! Meeting minutes ([`Workspace::minutes`]): the transcript's cues are
//! numbered, the model writes a summary, decisions and action items as JSON
//! under a grammar built from [`minutes_schema`] (so the embedded model can
//! only write that shape); a cut output is closed by
//! [`close_json`](super::task::close_json), so the result always parses.
//! Every decision and action item points to a cue that supports it (the
//! model's cue when it does, else the best supporting cue, else the item is
//! dropped), and due dates are resolved against the meeting's date
//! ([`crate::engine::dates`]).

use serde::Serialize;
use twake_index::ChunkView;
use twake_llm::{ChatMessage, Role};
use twake_types::{AccessPass, SourceKind, format_ms};

use super::support::{person_or, supported_due, supporting};
use super::task::Charged;
use crate::engine::dates::Date;
use crate::engine::text::{Lang, detect};
use crate::{CoreError, Result, Workspace};

impl Charged for Minutes {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

/// One cue of a transcript, numbered from 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    pub n: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: Option<String>,
    pub text: String,
}

/// The cues of a stored transcript body (`[00:02–00:09] Speaker: text` lines).
pub fn parse_cues(body: &str) -> Vec<Cue> {
    let time = |s: &str| -> Option<u64> {
        let parts: Vec<u64> = s.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let secs = parts.iter().fold(0, |acc, p| acc * 60 + p);
        Some(secs * 1000)
    };
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (times, text) = rest.split_once("] ")?;
            let (a, b) = times.split_once('–')?;
            let (speaker, text) = match text.split_once(": ") {
                Some((s, t)) if s.chars().count() <= 40 && !s.contains(['.', '?', '!']) => {
                    (Some(s.to_string()), t.to_string())
                }
                _ => (None, text.to_string()),
            };
            Some((time(a)?, time(b)?, speaker, text))
        })
        .enumerate()
        .map(|(i, (start_ms, end_ms, speaker, text))| Cue { n: i + 1, start_ms, end_ms, speaker, text })
        .collect()
}

/// Where an item comes from: a cue number and its start time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CueSource {
    pub cue: usize,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: String,
    pub source: CueSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionItem {
    pub owner: String,
    pub task: String,
    /// The due date, resolved (`YYYY-MM-DD`), when one was said and the
    /// meeting's date is known.
    pub due: Option<String>,
    /// The due date as the model wrote it (`"le 26 février"`); empty when
    /// it wrote none (the date is then looked for in the task's words).
    pub due_text: String,
    pub source: CueSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    pub path: String,
    pub title: String,
    /// The meeting's date (from `--date`, the document or its title).
    pub date: Option<String>,
    pub summary: String,
    pub decisions: Vec<Decision>,
    pub action_items: Vec<ActionItem>,
    /// Items the model wrote that no cue supports (dropped).
    pub dropped: usize,
    /// The model's output was cut by its token budget (and closed).
    pub truncated: bool,
    /// How many parts the transcript was read in (more than one when it
    /// does not fit the model's context; their summaries are summarised).
    pub parts: usize,
    pub model: String,
    /// The provenance record of the last generation (each part has its own).
    pub audit_id: i64,
    /// Prompt and completion tokens (for budgets).
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
    /// The transcript's cues, as numbered for the model.
    #[serde(skip)]
    pub cues: Vec<Cue>,
}

/// The JSON shape the model must write (the grammar is built from it).
pub fn minutes_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "decisions": {"type": "array", "maxItems": 8, "items": {
                "type": "object",
                "properties": {"decision": {"type": "string"}, "cue": {"type": "integer"}}
            }},
            "action_items": {"type": "array", "maxItems": 12, "items": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string"},
                    "task": {"type": "string"},
                    "due": {"type": "string"},
                    "cue": {"type": "integer"}
                }
            }}
        }
    })
}

fn minutes_messages(title: &str, cues: &[Cue], lang: Lang) -> Vec<ChatMessage> {
    let mut transcript = String::new();
    for c in cues {
        let who = c.speaker.as_deref().map(|s| format!("{s}: ")).unwrap_or_default();
        transcript.push_str(&format!(
            "[{}] ({}) {who}{}\n",
            c.n,
            format_ms(c.start_ms),
            crate::policy::injection::defuse(&c.text)
        ));
    }
    let system = format!(
        "You write the minutes of meetings from their transcripts, in {lang}. You reply with JSON only. \
         Use only what the transcript says; never invent a person, a task or a date.",
        lang = lang.name()
    );
    let user = format!(
        "Transcript of \"{title}\" (numbered cues):\n\n{transcript}\n\
         Write the minutes in {lang} as JSON: \"summary\": two or three sentences; \
         \"decisions\": each decision taken, with \"cue\", the number of the cue where it was taken; \
         \"action_items\": each task someone must do, with \"owner\" (the person's name), \"task\", \
         \"due\" (the deadline in the transcript's own words, or \"\" if none was said) and \"cue\".",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// Turns the model's JSON into checked minutes (see the module's doc).
pub fn check_minutes(
    raw: &serde_json::Value,
    cues: &[Cue],
    date: Option<Date>,
) -> (String, Vec<Decision>, Vec<ActionItem>, usize) {
    let source = |n: usize| {
        let c = &cues[n - 1];
        CueSource { cue: n, time: format_ms(c.start_ms) }
    };
    let str_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").trim().to_string();
    let cue_of = |v: &serde_json::Value| v["cue"].as_u64().map(|n| n as usize);
    let units: Vec<(usize, String)> =
        cues.iter().map(|c| (c.n, format!("{} {}", c.speaker.as_deref().unwrap_or(""), c.text))).collect();
    let mut dropped = 0;
    let mut decisions = Vec::new();
    for d in raw["decisions"].as_array().into_iter().flatten() {
        let text = str_of(d, "decision");
        if text.is_empty() {
            continue;
        }
        match supporting(&text, cue_of(d), &units) {
            Some(n) if !decisions.iter().any(|x: &Decision| x.decision == text) => {
                decisions.push(Decision { decision: text, source: source(n) })
            }
            Some(_) => {}
            None => dropped += 1,
        }
    }
    let mut items = Vec::new();
    for a in raw["action_items"].as_array().into_iter().flatten() {
        let (owner, task, due_text) = (str_of(a, "owner"), str_of(a, "task"), str_of(a, "due"));
        if task.is_empty() {
            continue;
        }
        let Some(n) = supporting(&format!("{owner} {task}"), cue_of(a), &units) else {
            dropped += 1;
            continue;
        };
        let owner = person_or(owner, cues[n - 1].speaker.as_deref());
        // Small models often leave "due" empty and write the date in the
        // task; either way the cue must name that date.
        let due = supported_due(&due_text, &task, &cues[n - 1].text, date);
        if !items.iter().any(|x: &ActionItem| x.task == task && x.owner == owner) {
            items.push(ActionItem { owner, task, due, due_text, source: source(n) });
        }
    }
    (str_of(raw, "summary"), decisions, items, dropped)
}

impl Workspace {
    /// Minutes of an ingested transcript that `pass` may read. `date` is
    /// the meeting's date (else the document's, else a `YYYY-MM-DD` in its
    /// title or path); without one, due dates stay as said.
    pub async fn minutes(
        &self,
        path: &str,
        pass: &AccessPass,
        date: Option<Date>,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Minutes> {
        let docs = self.store.readable_file_documents(path, pass).await?;
        let Some(doc) = docs.into_iter().find(|d| d.kind == SourceKind::Transcript) else {
            return Err(CoreError::NotFound(format!(
                "no transcript you may read at {path}: give the path of an ingested .vtt or .srt file as `twake-ai search` shows it"
            )));
        };
        let cues = parse_cues(&doc.body);
        let material = self.store.doc_chunks(doc.doc_id, pass).await?;
        let date = date
            .or_else(|| doc.date.as_deref().and_then(Date::find_iso))
            .or_else(|| Date::find_iso(&doc.title))
            .or_else(|| Date::find_iso(path));
        let lang = detect(&doc.body);
        let request = format!("minutes of {path}");
        let title = doc.title.clone();
        let costs: Vec<usize> = cues
            .iter()
            .map(|c| (c.text.chars().count() + c.speaker.as_deref().map_or(0, str::len) + 16).div_ceil(3))
            .collect();
        let prompt_for = |r: std::ops::Range<usize>| minutes_messages(&title, &cues[r], lang);
        // A part's passages: the transcript windows that overlap its cues.
        let material_for = |r: std::ops::Range<usize>| {
            let (from, to) = (cues[r.start].start_ms, cues[r.end - 1].end_ms);
            let mine: Vec<ChunkView> = material
                .iter()
                .filter(|c| matches!(c.locator, twake_types::Locator::Cue { start_ms, end_ms } if start_ms <= to && end_ms >= from))
                .cloned()
                .collect();
            if mine.is_empty() { material.clone() } else { mine }
        };
        let what = format!("the meeting \"{title}\"");
        let parts = self
            .json_in_parts(
                &request,
                Some((&what, lang)),
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &minutes_schema(),
                900,
                pass,
                on_tokens,
            )
            .await?;
        let raw = parts.merged(&["decisions", "action_items"]);
        let (summary, decisions, action_items, dropped) = check_minutes(&raw, &cues, date);
        Ok(Minutes {
            cues,
            path: path.to_string(),
            title: doc.title,
            date: date.map(|d| d.to_string()),
            summary,
            decisions,
            action_items,
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

impl Minutes {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {}", self.title);
        if let Some(d) = &self.date {
            s.push_str(&format!(" ({d})"));
        }
        s.push_str(&format!("\n\n{}\n", self.summary));
        if !self.decisions.is_empty() {
            s.push_str("\n## Decisions\n\n");
            for d in &self.decisions {
                s.push_str(&format!("- {} (cue {}, {})\n", d.decision, d.source.cue, d.source.time));
            }
        }
        if !self.action_items.is_empty() {
            s.push_str("\n## Action items\n\n| Owner | Task | Due | Source |\n|---|---|---|---|\n");
            for a in &self.action_items {
                let due = match (&a.due, a.due_text.is_empty()) {
                    (Some(d), true) => d.clone(),
                    (Some(d), false) => format!("{d} ({})", a.due_text),
                    (None, false) => a.due_text.clone(),
                    (None, true) => String::new(),
                };
                let cell = |t: &str| t.replace('|', "\\|");
                s.push_str(&format!(
                    "| {} | {} | {} | cue {}, {} |\n",
                    cell(&a.owner),
                    cell(&a.task),
                    cell(&due),
                    a.source.cue,
                    a.source.time
                ));
            }
        }
        s.push_str(&format!("\n_{} · provenance record {}_\n", self.model, self.audit_id));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_are_parsed_from_the_stored_body() {
        let body =
            "[00:02–00:09] Claire Dubois: Bonjour à tous. Premier point.\n[01:00:38–01:00:47] Oui, je rédige le plan.";
        let cues = parse_cues(body);
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].n, cues[0].start_ms, cues[0].speaker.as_deref()), (1, 2000, Some("Claire Dubois")));
        assert_eq!((cues[1].start_ms, cues[1].speaker.as_deref()), (3_638_000, None));
    }
    #[test]
    fn items_point_to_supporting_cues_and_dates_resolve() {
        let cues = parse_cues(
            "[00:27–00:38] Claire Dubois: Décision : Claire valide le plan de retour arrière avant le 5 mars.\n\
             [00:38–00:47] Alice Martin: Oui, je rédige le plan de retour arrière et je l'envoie au plus tard le 26 février.\n\
             [00:47–00:58] Claire Dubois: Le dépassement de 40 000 euros sur le câblage est accepté.",
        );
        let raw = serde_json::json!({
            "summary": "Point d'étape.",
            "decisions": [
                {"decision": "Dépassement de 40 000 euros sur le câblage accepté", "cue": 1},
                {"decision": "Le siège déménage à Paris", "cue": 2}
            ],
            "action_items": [
                {"owner": "je", "task": "Rédiger le plan de retour arrière", "due": "au plus tard le 26 février", "cue": 2},
                {"owner": "Claire Dubois", "task": "Valider le plan de retour arrière", "due": "avant le 5 mars", "cue": 99},
                {"owner": "Bob", "task": "Commander des pizzas", "due": "", "cue": 1}
            ]
        });
        let (summary, decisions, items, dropped) = check_minutes(&raw, &cues, Date::new(2026, 11, 20));
        assert_eq!(summary, "Point d'étape.");
        assert_eq!(decisions.len(), 1, "the unsupported decision is dropped: {decisions:?}");
        assert_eq!(
            decisions[0].source,
            CueSource { cue: 3, time: "00:47".into() },
            "moved to the cue that supports it"
        );
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].owner.as_str(), items[0].due.as_deref()), ("Alice Martin", Some("2027-02-26")));
        assert_eq!((items[1].source.cue, items[1].due.as_deref()), (1, Some("2027-03-05")), "cue 99 does not exist");
        assert_eq!(dropped, 2);
        let (_, _, items, _) = check_minutes(&raw, &cues, None);
        assert_eq!(items[0].due, None, "no meeting date: the due date stays as said");
        let raw = serde_json::json!({"action_items": [{"owner": "Alice", "task": "Envoyer le plan de retour arrière le 26 février", "due": "", "cue": 2}]});
        let (_, _, items, _) = check_minutes(&raw, &cues, Date::new(2026, 11, 20));
        assert_eq!(items[0].due.as_deref(), Some("2027-02-26"), "a date written in the task is found");
    }
    #[test]
    fn markdown_has_the_action_item_table() {
        let m = Minutes {
            path: "m.vtt".into(),
            title: "Comité".into(),
            date: Some("2026-11-20".into()),
            summary: "Résumé.".into(),
            decisions: vec![Decision {
                decision: "Date confirmée".into(),
                source: CueSource { cue: 2, time: "00:09".into() },
            }],
            action_items: vec![ActionItem {
                owner: "Alice Martin".into(),
                task: "Plan | retour".into(),
                due: Some("2027-02-26".into()),
                due_text: "le 26 février".into(),
                source: CueSource { cue: 5, time: "00:38".into() },
            }],
            dropped: 0,
            parts: 1,
            truncated: false,
            model: "m".into(),
            audit_id: 7,
            tokens: 0,
            price_per_million: 0.0,
            completion_tokens: 0,
            cues: vec![],
        };
        let md = m.to_markdown();
        assert!(md.starts_with("# Comité (2026-11-20)\n\nRésumé.\n"), "{md}");
        assert!(md.contains("- Date confirmée (cue 2, 00:09)"), "{md}");
        assert!(md.contains("| Alice Martin | Plan \\| retour | 2027-02-26 (le 26 février) | cue 5, 00:38 |"), "{md}");
    }
}
