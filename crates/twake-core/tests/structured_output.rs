//! Meeting minutes are structured output: whatever the transcript, the real
//! embedded model, decoding under the JSON-schema grammar, gives minutes
//! that parse, whose every decision and action item points at a cue of that
//! transcript (with that cue's time), and whose due dates are real days
//! said in the cited cue, on or after the meeting. A property test over
//! transcripts generated in French and English, WebVTT and SRT, with the
//! characters that break hand-made JSON (quotes, backslashes, braces,
//! emoji, tags, tabs). Run when `TWAKE_AI_TEST_MODELS=1` (`make test`).
//!
//! Each case costs a model call (tens of seconds on 2 cores): the number
//! of cases is small for a property test, and a failure is reported with
//! its transcript rather than shrunk (shrinking would call the model again
//! and again).

mod common;

use std::cell::Cell;

use common::{ALICE, ingest, pass};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use twake_core::engine::dates::Date;
use twake_core::{Config, Workspace};

const SPEAKERS: [&str; 6] =
    ["Zoë O'Brien", "José \"Pepe\" García", "Anaïs Dupré-Lefèvre", "Tom Becker", "Nadia Haddad", "Marc Petit"];

const TASKS_FR: [&str; 6] = [
    "le plan de retour arrière",
    "la commande de 48 commutateurs",
    "l'audit « sécurité » du site de Lyon",
    "la note C:\\partage\\budget-2027.xlsx",
    "le message aux utilisateurs",
    "la mise à jour du schéma {réseau}",
];
const TASKS_EN: [&str; 6] = [
    "the rollback plan",
    "the order of 48 switches",
    "the \"security\" audit of the Lyon site",
    "the note at C:\\share\\budget-2027.xlsx",
    "the message to users",
    "the update of the {network} diagram",
];
const WHEN_FR: [&str; 6] =
    ["d'ici vendredi", "avant le 15 janvier", "pour le 3 décembre", "lundi prochain", "", "au plus tard le 20 février"];
const WHEN_EN: [&str; 6] =
    ["by Friday", "before January 15", "by December 3", "next Monday", "", "by February 20 at the latest"];
const NOISE: [&str; 7] =
    ["", "{\"json\": [1, 2]}", "C:\\temp\\new", "😀 ✔ ✅", "<b>gras</b> & <i>italique</i>", "tab\there", "\\u0000 \\n"];

/// One cue: speaker (or none), sentence shape, task, when, noise.
type CueSpec = (usize, usize, usize, usize, usize);

fn sentence(fr: bool, (_, shape, task, when, noise): CueSpec) -> String {
    let (t, w) = if fr { (TASKS_FR[task], WHEN_FR[when]) } else { (TASKS_EN[task], WHEN_EN[when]) };
    let n = NOISE[noise];
    let s = match (fr, shape % 5) {
        (true, 0) => format!("Je m'occupe de {t} {w}."),
        (true, 1) => format!("Décision : on valide {t}. {n}"),
        (true, 2) => format!("Qui peut se charger de {t} ? {n}"),
        (true, 3) => format!("Je propose de reporter {t} {w}."),
        (true, _) => format!("{n} D'accord, Marc prendra {t} {w}."),
        (false, 0) => format!("I will take care of {t} {w}."),
        (false, 1) => format!("Decision: we approve {t}. {n}"),
        (false, 2) => format!("Who can handle {t}? {n}"),
        (false, 3) => format!("I suggest we postpone {t} {w}."),
        (false, _) => format!("{n} Fine, Nadia will do {t} {w}."),
    };
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn stamp(ms: u64, sep: char) -> String {
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// The transcript's text and its number of cues.
fn transcript(fr: bool, srt: bool, cues: &[CueSpec]) -> String {
    let mut out = if srt { String::new() } else { "WEBVTT\n\n".to_string() };
    for (i, c) in cues.iter().enumerate() {
        let (start, end) = (1000 + i as u64 * 7000, 6000 + i as u64 * 7000);
        let text = sentence(fr, *c);
        let speaker = SPEAKERS.get(c.0).copied();
        if srt {
            let line = speaker.map(|s| format!("{s}: {text}")).unwrap_or(text);
            out.push_str(&format!("{}\n{} --> {}\n{line}\n\n", i + 1, stamp(start, ','), stamp(end, ',')));
        } else {
            let line = speaker.map(|s| format!("<v {s}>{text}")).unwrap_or(text);
            out.push_str(&format!("{} --> {}\n{line}\n\n", stamp(start, '.'), stamp(end, '.')));
        }
    }
    out
}

#[test]
fn minutes_of_any_transcript_parse_and_point_at_its_cues() {
    if !twake_testkit::models() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = rt.block_on(Workspace::open(&dir.path().join("data"), Config::default())).unwrap();
    let files = dir.path().join("meetings");
    std::fs::create_dir(&files).unwrap();
    let pass = rt.block_on(pass(&ws, ALICE));

    let cues = (0usize..7, 0usize..5, 0usize..6, 0usize..6, 0usize..NOISE.len());
    let strategy = (any::<bool>(), any::<bool>(), 1i64..=28, proptest::collection::vec(cues, 2..=6));
    let config = RunnerConfig { cases: 8, max_shrink_iters: 0, failure_persistence: None, ..RunnerConfig::default() };
    let mut runner = TestRunner::new(config);
    let (case, truncated) = (Cell::new(0), Cell::new(0));
    let result = runner.run(&strategy, |(fr, srt, day, specs)| {
        case.set(case.get() + 1);
        let case = case.get();
        let text = transcript(fr, srt, &specs);
        let meeting = Date::new(2026, 11, day).unwrap();
        let path = files.join(format!("case-{case}-{meeting}.{}", if srt { "srt" } else { "vtt" }));
        std::fs::write(&path, &text).unwrap();
        let fail = |why: String| TestCaseError::fail(format!("{why}\n--- transcript {}:\n{text}", path.display()));
        let minutes = rt.block_on(async {
            let r = ingest(&ws, std::slice::from_ref(&path), &[ALICE]).await;
            prop_assert!(r.failed.is_empty(), "{:?}", r.failed);
            ws.minutes(&path.display().to_string(), &pass, None, &mut |_| {})
                .await
                .map_err(|e| TestCaseError::fail(format!("no minutes: {e}")))
        })?;
        truncated.set(truncated.get() + minutes.truncated as usize);
        // What the CLI and the API print parses back to the same shape.
        let json = serde_json::to_string(&minutes).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).map_err(|e| fail(format!("{e}: {json}")))?;
        for key in ["summary", "decisions", "action_items"] {
            prop_assert!(back.get(key).is_some(), "missing {} in {}", key, json);
        }
        if minutes.cues.len() != specs.len() {
            return Err(fail(format!("{} cues read of {}", minutes.cues.len(), specs.len())));
        }
        prop_assert_eq!(minutes.date.clone(), Some(meeting.to_string()));
        let time_of = |n: usize| minutes.cues.get(n.wrapping_sub(1)).map(|c| twake_types::format_ms(c.start_ms));
        for d in &minutes.decisions {
            if d.decision.trim().is_empty() || time_of(d.source.cue) != Some(d.source.time.clone()) {
                return Err(fail(format!("decision not pointing at a cue: {d:?}")));
            }
        }
        for a in &minutes.action_items {
            if a.task.trim().is_empty() || a.owner.trim().is_empty() {
                return Err(fail(format!("action item without task or owner: {a:?}")));
            }
            if time_of(a.source.cue) != Some(a.source.time.clone()) {
                return Err(fail(format!("action item not pointing at a cue: {a:?}")));
            }
            if let Some(due) = &a.due {
                let day = Date::find_iso(due).filter(|d| d.to_string() == *due);
                if day.is_none_or(|d| d < meeting) {
                    return Err(fail(format!("due date not a day on or after the meeting: {a:?}")));
                }
            }
        }
        eprintln!(
            "case {case}: {} {} cues → {} decisions, {} action items{}",
            if fr { "fr" } else { "en" },
            specs.len(),
            minutes.decisions.len(),
            minutes.action_items.len(),
            if minutes.truncated { " (cut at the token limit, closed)" } else { "" }
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{} transcripts, {} cut at the token limit", case.get(), truncated.get());
}
