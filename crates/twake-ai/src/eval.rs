//! `twake-ai eval assistants`: the assistants against the evaluation set
//! written for the project (`examples/eval/assistants/reference.toml`),
//! scored by `twake_core::quality`. Not a test: it measures the configured
//! model (minutes and summaries take minutes each on 2 cores).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use twake_core::Workspace;
use twake_core::config::Config;
use twake_core::ingest::IngestOptions;
use twake_core::quality::{Faithfulness, Reference, Tally, score_minutes, score_thread};
use twake_types::Principal;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Meeting minutes and thread summaries against hand-written references:
    /// action items (task, owner, due date) and decisions precision and
    /// recall, thread points, faithfulness by exact facts.
    Assistants {
        /// The evaluation set: a folder with reference.toml.
        #[arg(long, default_value = "examples/eval/assistants")]
        set: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Serialize)]
struct Row {
    item: String,
    model: String,
    seconds: f64,
    actions: Tally,
    decisions: Tally,
    faithfulness: Faithfulness,
    error: Option<String>,
}

fn pr(t: &Tally, hits: usize) -> String {
    if t.reference == 0 && t.predicted == 0 {
        return "–".into();
    }
    format!("{:.2} / {:.2}", t.precision(hits), t.recall(hits))
}

pub async fn run(command: EvalCommand, config: Config) -> Result<ExitCode> {
    let EvalCommand::Assistants { set, json } = command;
    let file = set.join("reference.toml");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}: give --set, a folder with reference.toml", file.display()))?;
    let reference: Reference = toml::from_str(&text).with_context(|| format!("{} is not valid", file.display()))?;
    let abs = |p: &str| -> Result<String> {
        let path = set.join(p);
        Ok(std::fs::canonicalize(&path)
            .with_context(|| format!("{} is missing", path.display()))?
            .display()
            .to_string())
    };
    let data = std::env::temp_dir().join(format!("twake-ai-eval-{}", std::process::id()));
    let out = evaluate(&reference, &abs, &data, config).await;
    let _ = std::fs::remove_dir_all(&data);
    let rows = out?;
    let mut total = Row {
        item: "all".into(),
        model: rows.first().map(|r| r.model.clone()).unwrap_or_default(),
        seconds: 0.0,
        actions: Tally::default(),
        decisions: Tally::default(),
        faithfulness: Faithfulness::default(),
        error: None,
    };
    for r in &rows {
        total.seconds += r.seconds;
        total.actions.add(r.actions);
        total.decisions.add(r.decisions);
        total.faithfulness.add(r.faithfulness);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"items": rows, "total": total}))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("model: {}\n", total.model);
    println!(
        "| item | action items P / R | owner P / R | due P / R | decisions (or points) P / R | faithfulness | seconds |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows.iter().chain([&total]) {
        if let Some(e) = &r.error {
            println!("| {} | error: {e} | | | | | |", r.item);
            continue;
        }
        let a = &r.actions;
        let f = &r.faithfulness;
        println!(
            "| {} | {} | {} | {} | {} | {:.2} ({}/{}) | {:.0} |",
            r.item,
            pr(a, a.matched),
            pr(a, a.owner),
            pr(a, a.due),
            pr(&r.decisions, r.decisions.matched),
            f.share(),
            f.supported,
            f.checked,
            r.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn evaluate(
    reference: &Reference,
    abs: &dyn Fn(&str) -> Result<String>,
    data: &Path,
    config: Config,
) -> Result<Vec<Row>> {
    let ws = Workspace::open(data, config).await?;
    let user = Principal::parse("eval@twake.invalid").expect("a valid principal");
    let mut files = Vec::new();
    for p in reference.minutes.iter().map(|m| &m.path).chain(reference.threads.iter().map(|t| &t.path)) {
        files.push(PathBuf::from(abs(p)?));
    }
    ws.ingest(&files, &IngestOptions::readers(vec![user.clone()]), &mut |_| {}).await?;
    let pass = ws.pass_for(&user).await?;
    let bar = ProgressBar::new((reference.minutes.len() + reference.threads.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}").expect("valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut rows = Vec::new();
    let empty = |item: &str| Row {
        item: item.to_string(),
        model: String::new(),
        seconds: 0.0,
        actions: Tally::default(),
        decisions: Tally::default(),
        faithfulness: Faithfulness::default(),
        error: None,
    };
    for m in &reference.minutes {
        let name = Path::new(&m.path).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        bar.set_message(format!("minutes of {name}"));
        let started = Instant::now();
        let mut row = empty(&name);
        match ws.minutes(&abs(&m.path)?, &pass, None, &mut |_| {}).await {
            Ok(out) => {
                let s = score_minutes(&out, m, &out.cues);
                (row.model, row.actions, row.decisions, row.faithfulness) =
                    (out.model, s.actions, s.decisions, s.faithfulness);
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        row.seconds = started.elapsed().as_secs_f64();
        rows.push(row);
        bar.inc(1);
    }
    for t in &reference.threads {
        let name = Path::new(&t.path).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        bar.set_message(format!("summary of {name}"));
        let started = Instant::now();
        let mut row = empty(&format!("{name} (thread)"));
        match ws.summarize_thread(&t.message_id, &pass, &mut |_| {}).await {
            Ok(out) => {
                let s = score_thread(&out, t, &out.messages);
                // Thread points: asked (with who) as "action items", decided
                // and open as "decisions".
                let mut points = s.decided;
                points.add(s.open);
                (row.model, row.actions, row.decisions, row.faithfulness) =
                    (out.model, s.asked, points, s.faithfulness);
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        row.seconds = started.elapsed().as_secs_f64();
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}
