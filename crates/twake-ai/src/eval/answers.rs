//! `twake-ai eval answers`: grounded answers to the questions of
//! `examples/eval/answers/questions.toml`, scored by
//! `crate::eval::score::answers`. Not a test: it measures the configured
//! model (an answer takes seconds to tens of seconds on 2 cores).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::eval::score::answers::{
    AnswerScore, AnswerSet, AnswerTotals, Given, GivenCitation, QuestionKind, score_answer,
};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use twake_core::Workspace;
use twake_core::engine::config::Config;
use twake_core::ingest::IngestOptions;
use twake_core::retrieve::answer::AnswerEvent;
use twake_types::{Principal, Sensitivity};

#[derive(clap::Args)]
pub struct AnswersArgs {
    /// The evaluation set: a folder with questions.toml.
    #[arg(long, default_value = "examples/eval/answers")]
    set: PathBuf,
    /// Only the questions of this kind (fact, cross, multi, sources,
    /// summary, actions, refuse), or whose text contains this.
    #[arg(long)]
    only: Option<String>,
    /// Keep the ingested set in this folder and reuse it next time (files
    /// unchanged since are not read again); default: a temporary folder.
    #[arg(long)]
    keep_data: Option<PathBuf>,
    /// Print each question's answer under the table.
    #[arg(long)]
    show: bool,
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    n: usize,
    kind: QuestionKind,
    question: String,
    answer: String,
    found: bool,
    extractive: bool,
    score: AnswerScore,
    /// From the request to the passages (the first streamed event).
    sources_ms: Option<f64>,
    /// From the request to the model's first token.
    first_token_ms: Option<f64>,
    /// From the request to the first verified text shown.
    first_text_ms: Option<f64>,
    seconds: f64,
    prompt_tokens: usize,
    completion_tokens: usize,
    /// The best passage's similarity to the question (none when no
    /// passage passed the relevance gate).
    best_similarity: Option<f32>,
    error: Option<String>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

fn secs(ms: Option<f64>) -> String {
    ms.map(|m| format!("{:.1}", m / 1000.0)).unwrap_or_else(|| "–".into())
}

fn canonical(dir: &Path, p: &str) -> Result<String> {
    let path = dir.join(p);
    Ok(std::fs::canonicalize(&path).with_context(|| format!("{} is missing", path.display()))?.display().to_string())
}

pub async fn run(args: AnswersArgs, config: Config) -> Result<ExitCode> {
    let file = args.set.join("questions.toml");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}: give --set, a folder with questions.toml", file.display()))?;
    let set: AnswerSet = toml::from_str(&text).with_context(|| format!("{} is not valid", file.display()))?;
    let (data, temporary) = match &args.keep_data {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("twake-ai-eval-answers-{}", std::process::id())), true),
    };
    let out = evaluate(&set, &args, &data, config).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data);
    }
    let (model, rows) = out?;
    let mut total = AnswerTotals::default();
    for r in &rows {
        total.add(r.kind, &r.score);
    }
    let timed = |f: &dyn Fn(&Row) -> Option<f64>, single: bool| {
        median(
            rows.iter()
                .filter(|r| r.error.is_none() && r.found)
                .filter(|r| {
                    !single || (matches!(r.kind, QuestionKind::Fact | QuestionKind::Cross) && r.score.facts == 1)
                })
                .filter_map(f)
                .collect(),
        )
    };
    let sources_p50 = timed(&|r| r.sources_ms, false);
    let first_single_p50 = timed(&|r| r.first_token_ms, true);
    let first_p50 = timed(&|r| r.first_token_ms, false);
    let text_p50 = timed(&|r| r.first_text_ms, false);
    let whole_p50 = timed(&|r| Some(r.seconds * 1000.0), false);
    if args.json {
        let v = serde_json::json!({
            "model": model, "questions": rows, "total": total,
            "rates": {
                "facts_held": total.facts_held_rate(), "fact_recall": total.fact_recall(),
                "false_not_found": total.false_not_found_rate(), "refused": total.refusal_rate(),
                "unsupported_sentences": total.unsupported_rate(), "only_unsupported": total.only_unsupported,
                "citation_precision": total.citation_precision(), "in_language": total.language_rate(),
            },
            "p50_ms": {"sources": sources_p50, "first_token_single_fact": first_single_p50, "first_token": first_p50,
                       "first_text": text_p50, "answer": whole_p50},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("model: {model}\n");
    println!(
        "| # | kind | question | facts held | answer | unsupported / sentences | right / citations | first token s | whole s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let s = &r.score;
        let answer = match (&r.error, r.found, r.extractive) {
            (Some(e), _, _) => format!("error: {e}"),
            (None, false, _) => "nothing found".into(),
            (None, true, true) => "quoted".into(),
            (None, true, false) => "written".into(),
        };
        let held = if r.kind == QuestionKind::Refuse {
            if s.refused { "refused".into() } else { "answered".into() }
        } else {
            format!("{} / {}", s.held, s.facts)
        };
        println!(
            "| {} | {} | {} | {held} | {answer} | {} / {} | {} / {} | {} | {:.1} |",
            r.n,
            r.kind.as_str(),
            r.question.replace('|', "/"),
            s.unsupported,
            s.sentences,
            s.citations_right,
            s.citations,
            secs(r.first_token_ms),
            r.seconds
        );
    }
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| answers holding every fact | {:.2} ({}/{}) |",
        total.facts_held_rate(),
        total.all_held,
        total.answerable
    );
    println!("| facts held | {:.2} ({}/{}) |", total.fact_recall(), total.held, total.facts);
    println!(
        "| false \"nothing found\" | {} ({}/{}) |",
        pct(total.false_not_found_rate()),
        total.false_not_found,
        total.answerable
    );
    println!("| must-refuse refused | {}/{} (leaks: {}) |", total.refused, total.must_refuse, total.leaked);
    println!(
        "| unsupported sentences | {} ({}/{}) |",
        pct(total.unsupported_rate()),
        total.unsupported,
        total.sentences
    );
    println!("| answers made only of unsupported text | {} |", total.only_unsupported);
    println!(
        "| citation precision | {:.2} ({}/{}) |",
        total.citation_precision(),
        total.citations_right,
        total.citations
    );
    println!(
        "| sentences in the question's language | {} ({}/{}) |",
        pct(total.language_rate()),
        total.in_language,
        total.language_checked
    );
    println!("| sources shown, p50 | {} s |", secs(sources_p50));
    println!("| first token, single-fact questions, p50 | {} s |", secs(first_single_p50));
    println!("| first token, all answers, p50 | {} s |", secs(first_p50));
    println!("| first verified text, p50 | {} s |", secs(text_p50));
    println!("| whole answer, p50 | {} s |", secs(whole_p50));
    if args.show {
        for r in &rows {
            println!("\n{}. {}\n{}", r.n, r.question, r.answer);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn evaluate(set: &AnswerSet, args: &AnswersArgs, data: &Path, config: Config) -> Result<(String, Vec<Row>)> {
    let dir = std::fs::canonicalize(&args.set).with_context(|| format!("{} is missing", args.set.display()))?;
    let ws = Workspace::open(data, config).await?;
    for c in &set.corpus {
        let readers = c
            .readers
            .iter()
            .map(|r| Principal::parse(r).with_context(|| format!("corpus {}: invalid reader {r:?}", c.path)))
            .collect::<Result<Vec<_>>>()?;
        let sensitivity = match &c.sensitivity {
            Some(s) => {
                Some(Sensitivity::parse(s).with_context(|| format!("corpus {}: unknown sensitivity {s:?}", c.path))?)
            }
            None => None,
        };
        let path = PathBuf::from(canonical(&dir, &c.path)?);
        let report = ws
            .ingest(
                std::slice::from_ref(&path),
                &IngestOptions { sensitivity, ..IngestOptions::readers(readers) },
                &mut |_| {},
            )
            .await?;
        if !report.failed.is_empty() {
            bail!("the evaluation set did not ingest: {:?}", report.failed);
        }
    }
    let asker = Principal::parse(&set.asker).with_context(|| format!("invalid asker {:?}", set.asker))?;
    let pass = ws.pass_for(&asker).await?;
    let only = args.only.as_deref().map(str::to_lowercase);
    let chosen: Vec<(usize, &crate::eval::score::answers::RefQuestion)> = set
        .q
        .iter()
        .enumerate()
        .filter(|(_, q)| only.as_deref().is_none_or(|o| q.kind.as_str() == o || q.question.to_lowercase().contains(o)))
        .map(|(i, q)| (i + 1, q))
        .collect();
    let bar = ProgressBar::new(chosen.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}").expect("valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut rows = Vec::new();
    for (n, q) in chosen {
        bar.set_message(q.question.clone());
        let sources: Vec<String> = q.sources.iter().map(|s| canonical(&dir, s)).collect::<Result<_>>()?;
        let started = Instant::now();
        let (mut sources_ms, mut first_text_ms) = (None, None);
        let answer = ws
            .ask(&q.question, &pass, &mut |ev| {
                let at = Some(started.elapsed().as_secs_f64() * 1000.0);
                match ev {
                    AnswerEvent::Sources(_) => sources_ms = sources_ms.or(at),
                    AnswerEvent::Text(_) => first_text_ms = first_text_ms.or(at),
                }
            })
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let mut row = Row {
            n,
            kind: q.kind,
            question: q.question.clone(),
            answer: String::new(),
            found: false,
            extractive: false,
            score: AnswerScore::default(),
            sources_ms,
            first_token_ms: None,
            first_text_ms,
            seconds,
            prompt_tokens: 0,
            completion_tokens: 0,
            best_similarity: None,
            error: None,
        };
        match answer {
            Ok(a) => {
                // A citation is read as the model read its passage: with
                // its heading (a mail's subject, sender and day) and a chat
                // message's author.
                let cited: Vec<String> =
                    a.citations.iter().map(|c| twake_core::retrieve::answer::as_given(&c.chunk)).collect();
                let given = Given {
                    text: &a.text,
                    found: a.found,
                    citations: a
                        .citations
                        .iter()
                        .zip(&cited)
                        .map(|(c, text)| GivenCitation { n: c.n, path: &c.chunk.path, text })
                        .collect(),
                };
                row.score = score_answer(q, &given, &sources);
                row.found = a.found;
                row.best_similarity = a.passages.iter().map(|p| p.dense).reduce(f32::max);
                row.extractive = a.extractive;
                row.first_token_ms = a.first_token_ms;
                if let Some(s) = &a.stats {
                    (row.prompt_tokens, row.completion_tokens) = (s.prompt_tokens, s.completion_tokens);
                }
                row.answer = a.text;
            }
            Err(e) => {
                row.error = Some(format!("{e:#}"));
                let none = Given { text: "", found: false, citations: vec![] };
                row.score = score_answer(q, &none, &sources);
            }
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((ws.chat_model_name(), rows))
}
