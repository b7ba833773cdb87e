//! `twake-ai eval assistants`: the assistants against the evaluation set
//! written for the project (`examples/eval/assistants/reference.toml`),
//! scored by `twake_core::quality`. Not a test: it measures the configured
//! model (minutes and summaries take minutes each on 2 cores).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::eval::score::{Faithfulness, Reference, Tally, score_minutes, score_room, score_thread};
use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use twake_core::Workspace;
use twake_core::assist::catchup::parse_since;
use twake_core::engine::config::Config;
use twake_core::ingest::IngestOptions;
use twake_types::Principal;

mod answers;
pub mod score;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Meeting minutes, thread summaries and room catch-ups against
    /// hand-written references: action items (task, owner, due date) and
    /// decisions precision and recall, thread and room points, mentions,
    /// faithfulness by exact facts.
    Assistants {
        /// The evaluation set: a folder with reference.toml.
        #[arg(long, default_value = "examples/eval/assistants")]
        set: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Grounded answers against questions with the facts they must hold:
    /// facts-held rate, false "nothing found" rate, unsupported sentences,
    /// citation precision, language, and the time to sources, to the
    /// first token and to the whole answer.
    Answers(answers::AnswersArgs),
}

#[derive(serde::Serialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Minutes,
    Thread,
    Room,
}

#[derive(serde::Serialize)]
struct Row {
    item: String,
    /// `None` for a total.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    model: String,
    seconds: f64,
    /// Action items; a thread's questions (with who asked); a room's points
    /// (with who said them).
    actions: Tally,
    /// Decisions; a thread's decided and open points.
    decisions: Tally,
    /// Rooms only: the messages naming the user.
    mentions: Tally,
    faithfulness: Faithfulness,
    error: Option<String>,
}

impl Row {
    fn new(item: &str, kind: Option<Kind>) -> Row {
        Row {
            item: item.to_string(),
            kind,
            model: String::new(),
            seconds: 0.0,
            actions: Tally::default(),
            decisions: Tally::default(),
            mentions: Tally::default(),
            faithfulness: Faithfulness::default(),
            error: None,
        }
    }

    /// The sum of `rows`, named "all".
    fn total<'a>(rows: impl Iterator<Item = &'a Row>) -> Row {
        let mut total = Row::new("all", None);
        for r in rows {
            if total.model.is_empty() {
                total.model = r.model.clone();
            }
            total.seconds += r.seconds;
            total.actions.add(r.actions);
            total.decisions.add(r.decisions);
            total.mentions.add(r.mentions);
            total.faithfulness.add(r.faithfulness);
        }
        total
    }
}

fn pr(t: &Tally, hits: usize) -> String {
    if t.reference == 0 && t.predicted == 0 {
        return "–".into();
    }
    format!("{:.2} / {:.2}", t.precision(hits), t.recall(hits))
}

pub async fn run(command: EvalCommand, config: Config) -> Result<ExitCode> {
    let (set, json) = match command {
        EvalCommand::Assistants { set, json } => (set, json),
        EvalCommand::Answers(args) => return answers::run(args, config).await,
    };
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
    let total = Row::total(rows.iter());
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"items": rows, "total": total}))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("model: {}", total.model);
    let texts: Vec<&Row> = rows.iter().filter(|r| r.kind != Some(Kind::Room)).collect();
    if !texts.is_empty() {
        println!(
            "\n| item | action items P / R | owner P / R | due P / R | decisions (or points) P / R | faithfulness | seconds |"
        );
        println!("|---|---|---|---|---|---|---|");
        let all = Row::total(texts.iter().copied());
        for r in texts.into_iter().chain([&all]) {
            let a = &r.actions;
            let cells = [pr(a, a.matched), pr(a, a.owner), pr(a, a.due), pr(&r.decisions, r.decisions.matched)];
            print_row(r, &cells);
        }
    }
    let rooms: Vec<&Row> = rows.iter().filter(|r| r.kind == Some(Kind::Room)).collect();
    if !rooms.is_empty() {
        println!("\n| room | points P / R | with who said it P / R | mentions P / R | faithfulness | seconds |");
        println!("|---|---|---|---|---|---|");
        let all = Row::total(rooms.iter().copied());
        for r in rooms.into_iter().chain([&all]) {
            let a = &r.actions;
            print_row(r, &[pr(a, a.matched), pr(a, a.owner), pr(&r.mentions, r.mentions.matched)]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_row(r: &Row, cells: &[String]) {
    if let Some(e) = &r.error {
        println!("| {} | error: {e} |{}", r.item, " |".repeat(cells.len() + 1));
        return;
    }
    let f = &r.faithfulness;
    println!(
        "| {} | {} | {:.2} ({}/{}) | {:.0} |",
        r.item,
        cells.join(" | "),
        f.share(),
        f.supported,
        f.checked,
        r.seconds
    );
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
    let paths = reference.minutes.iter().map(|m| &m.path).chain(reference.threads.iter().map(|t| &t.path));
    for p in paths.chain(reference.rooms.iter().map(|r| &r.path)) {
        files.push(PathBuf::from(abs(p)?));
    }
    // Each room's catch-up is that user's (their mentions); they read it.
    let mut readers = vec![user.clone()];
    for r in &reference.rooms {
        readers.push(Principal::parse(&r.user).with_context(|| format!("room {}: invalid user", r.room))?);
    }
    ws.ingest(&files, &IngestOptions::readers(readers), &mut |_| {}).await?;
    let pass = ws.pass_for(&user).await?;
    let items = reference.minutes.len() + reference.threads.len() + reference.rooms.len();
    let bar = ProgressBar::new(items as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}").expect("valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut rows = Vec::new();
    for m in &reference.minutes {
        let name = Path::new(&m.path).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        bar.set_message(format!("minutes of {name}"));
        let started = Instant::now();
        let mut row = Row::new(&name, Some(Kind::Minutes));
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
        let mut row = Row::new(&format!("{name} (thread)"), Some(Kind::Thread));
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
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64)?;
    for r in &reference.rooms {
        let name = Path::new(&r.path).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        bar.set_message(format!("catch-up of {}", r.room));
        let started = Instant::now();
        let mut row = Row::new(&format!("{name} (room)"), Some(Kind::Room));
        let since =
            parse_since(&r.since, now).with_context(|| format!("room {}: invalid since {:?}", r.room, r.since))?;
        let user = Principal::parse(&r.user)?;
        let room_pass = ws.pass_for(&user).await?;
        match ws.catch_up_room(&r.room, since, &room_pass, &mut |_| {}).await {
            Ok(out) => {
                let s = score_room(&out, r);
                // Room points (with who said them) as "action items".
                (row.model, row.actions, row.mentions, row.faithfulness) =
                    (out.model, s.points, s.mentions, s.faithfulness);
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
