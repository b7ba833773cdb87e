//! `twake-ai`: the command line. A thin layer over `twake-core`: parse
//! flags, layer the configuration, render progress, text and JSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use twake_core::engine::models::{self, PullOutcome};
use twake_core::ingest::{FileOutcome, IngestEvent, IngestOptions};
use twake_core::retrieve::answer::AnswerEvent;
use twake_core::{Config, Principal, Sensitivity, Tenant, Workspace};

mod access;
mod audit;
mod bench;
mod eval;
mod http_bench;
mod load;
mod sources;
mod writing;

#[derive(Parser)]
#[command(
    name = "twake-ai",
    version,
    about = "Sovereign AI assistant for mail, documents and meetings — offline by default"
)]
struct Cli {
    /// Where the index lives.
    #[arg(long, global = true, env = "TWAKE_AI_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Configuration file (TOML); `TWAKE_AI__SECTION__KEY` variables override it.
    #[arg(long, global = true, env = "TWAKE_AI_CONFIG")]
    config: Option<PathBuf>,
    /// Chat model: a registry name or a path to any GGUF file.
    #[arg(long, global = true)]
    model: Option<String>,
    /// llama.cpp threads (default: 1 on ≤ 2 cores, cores − 1 above).
    #[arg(long, global = true)]
    threads: Option<u32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and folders (mail, documents, transcripts).
    Ingest {
        /// Files or folders (recursive). Maildir folders are recognised.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Who may read these documents (comma-separated e-mail addresses).
        #[arg(long)]
        readers: Option<String>,
        /// Owner, the default reader (default: the local user).
        #[arg(long)]
        owner: Option<String>,
        /// Remove documents whose files are gone.
        #[arg(long)]
        prune: bool,
        /// The tenant these documents belong to (default: the owner's, from
        /// `access tenants`).
        #[arg(long)]
        tenant: Option<String>,
        /// The sensitivity of this source (public, internal, confidential,
        /// secret) when nothing says more; rules, markings and detectors raise it.
        #[arg(long)]
        sensitivity: Option<String>,
    },
    /// Hybrid search, filtered by what the user may read.
    Search {
        query: String,
        /// The user searching (default: the local user).
        #[arg(long = "as")]
        as_user: Option<String>,
        #[arg(short, long, default_value_t = 5)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// Answer a question from the user's documents, with verified citations.
    Ask {
        question: String,
        #[arg(long = "as")]
        as_user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Manage models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Serve the OpenAI-compatible API (/v1) and the native API (/api/v1).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "TWAKE_AI_LISTEN")]
        listen: String,
        /// Sync the connected sources once every this many seconds while
        /// serving (0: never; `twake-ai sources sync` then does it).
        #[arg(long, default_value_t = 60, env = "TWAKE_AI_SYNC_EVERY")]
        sync_every: u64,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Verify the store against the lexical and vector indexes, chunk by
    /// chunk (exit code 3 when they disagree); `--repair` rebuilds them.
    Check {
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
    /// Many concurrent clients on search, ask and the OpenAI API against a
    /// `serve` child for a bounded time (exit code 1 unless every answer is
    /// a 200 or a fast 429/503 with Retry-After, and memory holds).
    Load(load::LoadArgs),
    /// Measure ingestion, search and generation speed; writes a Markdown table.
    Bench(bench::BenchArgs),
    /// Who may read what: groups, tenants, readers, reports and the canary check.
    Access {
        #[command(subcommand)]
        command: access::AccessCommand,
    },
    /// Tokens, cost and requests per user, group and key (a day or a month).
    Usage {
        /// A month, YYYY-MM (default: the current month).
        #[arg(long, conflicts_with = "day")]
        month: Option<String>,
        /// One day, YYYY-MM-DD.
        #[arg(long)]
        day: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show what text would look like once pseudonymised for a model outside
    /// the perimeter (names, e-mails, phones, IBANs, addresses replaced).
    Pseudonymise {
        /// The text (default: standard input).
        text: Option<String>,
        /// The user whose tenant's people are known.
        #[arg(long = "as")]
        as_user: Option<String>,
        /// Also print the mapping (it never leaves this machine).
        #[arg(long)]
        show_mapping: bool,
    },
    /// Summaries of conversations.
    Summarize {
        #[command(subcommand)]
        command: SummarizeCommand,
    },
    /// Meeting minutes from an ingested transcript (.vtt, .srt): summary,
    /// decisions and action items (owner, task, due date, source cue).
    Minutes {
        /// The transcript's path, as ingested.
        path: String,
        #[arg(long = "as")]
        as_user: Option<String>,
        /// The meeting's date (YYYY-MM-DD), against which "vendredi prochain"
        /// is resolved (default: the document's date, or one in its title).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = MinutesFormat::Markdown)]
        format: MinutesFormat,
    },
    /// A reply draft to a mail (never sent): answers the thread's open
    /// questions, in the thread's language unless --lang is given.
    DraftReply {
        /// The Message-ID of the mail to answer (with or without <>).
        message_id: String,
        #[arg(long = "as")]
        as_user: Option<String>,
        /// fr, en, de, es or it (default: the thread's language).
        #[arg(long)]
        lang: Option<String>,
        /// formal, neutral or friendly.
        #[arg(long, default_value = "neutral")]
        tone: String,
        /// A point the reply must make (repeat for several).
        #[arg(long = "points", alias = "point")]
        points: Vec<String>,
        #[arg(long, value_enum, default_value_t = writing::DraftFormat::Text)]
        format: writing::DraftFormat,
    },
    /// Rewrite a text in another tone, keeping names, numbers and dates.
    Rewrite {
        /// The text (default or "-": standard input).
        text: Option<String>,
        #[arg(long = "as")]
        as_user: Option<String>,
        /// formal, neutral or friendly.
        #[arg(long)]
        tone: String,
        /// Write it in this language (fr, en, de, es, it; default: the text's).
        #[arg(long)]
        lang: Option<String>,
        /// The text's level if above the configured default (it decides
        /// which models may read it; detectors may raise it further).
        #[arg(long)]
        sensitivity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Translate a text (fr, en, de, es, it), keeping names, numbers and
    /// dates exact.
    Translate {
        /// The text (default or "-": standard input).
        text: Option<String>,
        #[arg(long = "as")]
        as_user: Option<String>,
        /// fr, en, de, es or it.
        #[arg(long)]
        to: String,
        /// The text's level if above the configured default.
        #[arg(long)]
        sensitivity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Label every indexed file again with the current sensitivity rules,
    /// markings and detectors (nothing is re-embedded).
    Relabel {
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Inbox triage: for each thread with new mail, a gist, whether it
    /// needs a reply from you, urgency, and the deadlines it names.
    Triage {
        #[arg(long = "as")]
        as_user: Option<String>,
        /// From this day (YYYY-MM-DD), or this many days back (7d); default 7d.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// The daily brief: what happened across mail, rooms and meetings that
    /// concerns you, since yesterday (00:00 UTC) unless --since says.
    Brief {
        #[arg(long = "as")]
        as_user: Option<String>,
        /// YYYY-MM-DD, YYYY-MM-DDTHH:MMZ, or a duration back: 24h, 7d.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Measure quality against an evaluation set (not a test).
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// The signed provenance log of answers: verify, show, key.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Connected sources kept in sync (Matrix): add, list, status, sync, remove.
    Sources {
        #[command(subcommand)]
        command: sources::SourcesCommand,
    },
}

#[derive(Subcommand)]
enum SummarizeCommand {
    /// A mail thread: who asked what, what was decided, what is still open,
    /// citing its messages.
    Thread {
        /// The Message-ID of any message of the thread (with or without <>).
        message_id: String,
        #[arg(long = "as")]
        as_user: Option<String>,
        #[arg(long, value_enum, default_value_t = MinutesFormat::Markdown)]
        format: MinutesFormat,
    },
    /// A chat room: what happened since a time or since you last read it,
    /// by topic, the messages that mention you first.
    Room {
        /// The room's name or ID.
        room: String,
        #[arg(long = "as")]
        as_user: Option<String>,
        /// last-read (your Matrix read receipt), YYYY-MM-DD, or a duration back: 24h, 7d.
        #[arg(long, default_value = "last-read")]
        since: String,
        #[arg(long, value_enum, default_value_t = MinutesFormat::Markdown)]
        format: MinutesFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum MinutesFormat {
    Markdown,
    Json,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for a user; the key is printed once and stored hashed.
    Create {
        #[arg(long)]
        user: String,
        /// A label to recognise the key by.
        #[arg(long, default_value = "")]
        label: String,
        /// A daily token quota for this key (besides the user's and groups').
        #[arg(long)]
        tokens_per_day: Option<u64>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id; effective at once.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch models once (default: the configured chat and embedding models), check their sha256.
    Pull {
        /// Registry names (`twake-ai models list`).
        names: Vec<String>,
        /// Fetch a GGUF from an https:// (or file://) URL instead.
        #[arg(long, conflicts_with = "file")]
        url: Option<String>,
        /// Copy a local GGUF into the models folder instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Name of the model fetched with --url or --file (file name without .gguf).
        #[arg(long)]
        name: Option<String>,
        /// Expected sha256 of the file fetched with --url or --file.
        #[arg(long)]
        sha256: Option<String>,
    },
    /// List known models and whether they are present.
    List,
}

/// A passage as the CLI names it: title, path, locator, message id.
fn source_line(hit: &twake_core::retrieve::search::SearchHit) -> String {
    let c = &hit.chunk;
    let loc = c.locator.display();
    let id = c.message_id.as_deref().map(|m| format!(" <{m}>")).unwrap_or_default();
    format!("{} — {}{}{}{}", c.title, c.path, if loc.is_empty() { "" } else { ", " }, loc, id)
}

fn local_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "local".into())
}

fn principal(s: Option<&str>) -> Result<Principal> {
    let s = s.map(str::to_string).unwrap_or_else(local_user);
    Principal::parse(&s).with_context(|| format!("invalid user {s:?}"))
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut c = Config::load(cli.config.as_deref(), std::env::vars())?;
    if let Some(m) = &cli.model {
        c.models.chat = m.clone();
    }
    if let Some(t) = cli.threads {
        c.models.threads = t;
    }
    Ok(c)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TWAKE_AI_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Models { command: ModelsCommand::List } => {
            let dir = config.models.dir();
            for m in models::registry() {
                let present = dir.join(&m.file_name).is_file();
                println!(
                    "{:<32} {:<10} {:<8} {}",
                    m.name,
                    format!("{:?}", m.kind).to_lowercase(),
                    if present { "present" } else { "missing" },
                    m.note
                );
            }
            println!("models folder: {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { command: ModelsCommand::Pull { url, file, name, sha256, .. } }
            if url.is_some() || file.is_some() =>
        {
            let dir = config.models.dir();
            let source = match (url, file) {
                (Some(u), _) => models::ModelSource::Url(u),
                (None, Some(f)) => models::ModelSource::File(f),
                (None, None) => unreachable!("guarded"),
            };
            let entry = models::custom_entry(name.as_deref(), source, sha256)?;
            if entry.sha256.is_none() {
                eprintln!(
                    "warning: no --sha256 given: the file is recorded with the checksum it has, not checked against one"
                );
            }
            let mut log = |m: &str| eprintln!("  {m}");
            let path = match models::pull(&entry, &dir, &mut log)? {
                PullOutcome::AlreadyPresent(p) | PullOutcome::Pulled(p) => p,
            };
            println!(
                "{}: ready ({}); use it with --model {} or `chat = \"{}\"` in the config",
                entry.name,
                path.display(),
                path.display(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { command: ModelsCommand::Pull { names, .. } } => {
            let dir = config.models.dir();
            let names = if names.is_empty() {
                vec![config.models.chat.clone(), config.models.embedding.clone()]
            } else {
                names
            };
            for name in names {
                let Some(entry) = models::find(&name) else {
                    if PathBuf::from(&name).is_file() {
                        println!("{name}: a local file, nothing to pull");
                        continue;
                    }
                    bail!(
                        "unknown model {name:?}: `twake-ai models list` shows the known ones, or give a path to a GGUF file"
                    );
                };
                let mut log = |m: &str| eprintln!("  {m}");
                eprintln!("{}:", entry.name);
                match models::pull(&entry, &dir, &mut log)? {
                    PullOutcome::AlreadyPresent(p) => println!("{}: present ({})", entry.name, p.display()),
                    PullOutcome::Pulled(p) => println!("{}: pulled and verified ({})", entry.name, p.display()),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { paths, readers, owner, prune, tenant, sensitivity } => {
            let sensitivity = match sensitivity {
                Some(s) => Some(Sensitivity::parse(&s).with_context(|| {
                    format!("unknown --sensitivity {s:?}: use public, internal, confidential or secret")
                })?),
                None => None,
            };
            let owner = principal(owner.as_deref())?;
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let tenant = match tenant {
                Some(t) => Tenant::parse(&t)?,
                None => ws.tenant_of(&owner).await?,
            };
            let readers = match readers {
                Some(r) => Principal::parse_list(&r).context("invalid --readers")?,
                None => vec![owner],
            };
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files ({per_sec}) {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            let started = std::time::Instant::now();
            let report = ws
                .ingest(&paths, &IngestOptions { readers, tenant, sensitivity, prune, participants: true }, &mut |ev| {
                    match ev {
                        IngestEvent::Started { files } => bar.set_length(files as u64),
                        IngestEvent::FileDone { path, outcome } => {
                            bar.inc(1);
                            bar.set_message(path.to_string());
                            if let FileOutcome::Failed(reason) = outcome {
                                bar.suspend(|| eprintln!("failed: {path}: {reason}"));
                            }
                        }
                    }
                })
                .await?;
            bar.finish_and_clear();
            let (files, docs, chunks) = ws.counts().await?;
            println!(
                "ingested in {:.1}s: {} new, {} updated, {} unchanged, {} failed{}{}{} — {} documents, {} chunks added; index: {files} files, {docs} documents, {chunks} chunks",
                started.elapsed().as_secs_f64(),
                report.new,
                report.updated,
                report.unchanged,
                report.failed.len(),
                match (report.readers_changed, report.relabelled) {
                    (0, 0) => String::new(),
                    (r, 0) => format!(", {r} with new readers (not re-embedded)"),
                    (0, l) => format!(", {l} with a new sensitivity (not re-embedded)"),
                    (r, l) => format!(", {r} with new readers and {l} with a new sensitivity (not re-embedded)"),
                },
                if report.skipped > 0 {
                    format!(", {} skipped (not a supported format)", report.skipped)
                } else {
                    String::new()
                },
                if report.pruned > 0 { format!(", {} pruned", report.pruned) } else { String::new() },
                report.documents,
                report.chunks,
            );
            for (path, w) in &report.warnings {
                eprintln!("warning: {path}: {w}");
            }
            for (path, reason) in &report.failed {
                eprintln!("failed: {path}: {reason}");
            }
            Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::Search { query, as_user, k, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let hits = ws.search(&query, &pass, k).await?;
            if json {
                let results: Vec<_> = hits
                    .iter()
                    .map(|h| {
                        json!({"rank": h.rank, "score": h.score, "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id,
                               "path": h.chunk.path, "message_id": h.chunk.message_id,
                               "title": h.chunk.title, "locator": h.chunk.locator.display(), "snippet": h.snippet,
                               "sensitivity": h.chunk.sensitivity.as_str()})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({ "results": results }))?);
            } else if hits.is_empty() {
                println!("no result");
            } else {
                for h in &hits {
                    let loc = h.chunk.locator.display();
                    println!(
                        "{}. {}  ({}{}{})  score {:.3}",
                        h.rank,
                        h.chunk.title,
                        h.chunk.path,
                        if loc.is_empty() { "" } else { ", " },
                        loc,
                        h.score
                    );
                    println!("   {}", h.snippet);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask { question, as_user, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let who = twake_core::policy::quota::Requester { pass: &pass, key: None };
            ws.quota_check(&who).await?;
            let mut stdout = std::io::stdout();
            // The passages first (well under a second), then a spinner on
            // stderr until the first verified sentence arrives (hidden when
            // stderr is not a terminal).
            let spinner = ProgressBar::new_spinner().with_message("reading your documents…");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            // A second attempt may add passages, numbered after the others.
            let mut listed = 0;
            let answer = ws
                .ask(&question, &pass, &mut |ev| match ev {
                    AnswerEvent::Sources(passages) if !json => {
                        let from = std::mem::replace(&mut listed, passages.len()).min(passages.len());
                        spinner.suspend(|| {
                            for (i, p) in passages.iter().enumerate().skip(from) {
                                let _ = writeln!(stdout, "[{}] {}", i + 1, source_line(p));
                            }
                            let _ = writeln!(stdout);
                            let _ = stdout.flush();
                        });
                        spinner.set_message("writing the answer…");
                    }
                    AnswerEvent::Sources(_) => {}
                    AnswerEvent::Text(t) => {
                        spinner.finish_and_clear();
                        if !json {
                            let _ = write!(stdout, "{t}");
                            let _ = stdout.flush();
                        }
                    }
                })
                .await;
            spinner.finish_and_clear();
            let answer = answer?;
            if let Some(s) = &answer.stats {
                let tokens = (s.prompt_tokens + s.completion_tokens) as u64;
                ws.quota_charge(&who, tokens, answer.route.price_per_million).await?;
            }
            if json {
                let citations: Vec<_> = answer
                    .citations
                    .iter()
                    .map(|c| {
                        json!({"n": c.n, "doc_id": c.chunk.doc_id, "chunk_id": c.chunk.chunk_id, "path": c.chunk.path,
                               "message_id": c.chunk.message_id, "title": c.chunk.title,
                               "locator": c.chunk.locator.display(), "snippet": c.snippet,
                               "sensitivity": c.chunk.sensitivity.as_str()})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"answer": answer.text, "citations": citations, "model": answer.model,
                                "decision": answer.route.decision, "audit_id": answer.audit_id,
                                "found": answer.found, "extractive": answer.extractive})
                    )?
                );
            } else {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen, sync_every } => {
            let oidc = twake_server::oidc::Oidc::discover(&config.auth).await?;
            let ws = std::sync::Arc::new(Workspace::open(&cli.data_dir, config).await?);
            if ws.keys().await?.iter().all(|k| k.revoked) && ws.config.auth.oidc_issuer.is_none() {
                eprintln!(
                    "note: no API key yet: create one with `twake-ai --data-dir {} keys create --user EMAIL`",
                    cli.data_dir.display()
                );
            }
            // Load the chat model before accepting requests.
            ws.chat().await?;
            let listener =
                tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!(
                "twake-ai serving on http://{} (web UI at /, OpenAI-compatible API under /v1, native API under /api/v1)",
                listener.local_addr()?
            );
            if oidc.is_some() {
                eprintln!("accepting OIDC bearer tokens besides API keys");
            }
            if sync_every > 0 {
                tokio::spawn(twake_core::connectors::keep_in_sync(
                    ws.clone(),
                    std::time::Duration::from_secs(sync_every),
                ));
            }
            twake_server::serve(listener, twake_server::AppState::new(ws).with_oidc(oidc)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            match command {
                KeysCommand::Create { user, label, tokens_per_day } => {
                    let user = Principal::parse(&user).with_context(|| format!("invalid user {user:?}"))?;
                    let (id, secret) = ws.create_key_with_limit(&user, &label, tokens_per_day).await?;
                    let tenant = ws.tenant_of(&user).await?;
                    ws.audit_admin(
                        &cli_actor(),
                        tenant.as_str(),
                        &format!("API key {id} created for {user} ({label})"),
                    )
                    .await?;
                    eprintln!("key {id} created for {user}; it is shown only now:");
                    println!("{secret}");
                }
                KeysCommand::List => {
                    for k in ws.keys().await? {
                        let used = match k.last_used_at {
                            Some(at) => format!("last used {}", twake_core::engine::dates::rfc3339(at)),
                            None => "never used".to_string(),
                        };
                        println!(
                            "{:>4}  {:<32} {:<20} {:<8} {used}",
                            k.id,
                            k.principal,
                            k.label,
                            if k.revoked { "revoked" } else { "active" }
                        );
                    }
                }
                KeysCommand::Revoke { id } => {
                    if !ws.revoke_key(id).await? {
                        bail!("no active key with id {id} (`twake-ai keys list` shows them)");
                    }
                    ws.audit_admin(&cli_actor(), "", &format!("API key {id} revoked")).await?;
                    println!("key {id} revoked");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Load(args) => Ok(if load::run(args, config).await? { ExitCode::SUCCESS } else { ExitCode::from(1) }),
        Command::Bench(args) => {
            bench::run(args, config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sources { command } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            sources::run(command, &ws).await
        }
        Command::Access { command } => {
            let ws = std::sync::Arc::new(Workspace::open(&cli.data_dir, config).await?);
            access::run(command, ws).await
        }
        Command::Check { repair, json } => {
            let ws = Workspace::open_as_is(&cli.data_dir, config).await?;
            let found = ws.check(repair).await?;
            let after = if found.repaired.is_empty() { None } else { Some(ws.check(false).await?) };
            let last = after.as_ref().unwrap_or(&found);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "found": found, "after_repair": after, "consistent": last.consistent() })
                );
            } else {
                print_check(&found);
                for r in &found.repaired {
                    println!("repaired: {r}");
                }
                if let Some(a) = &after {
                    println!("after the repair:");
                    print_check(a);
                }
                if !last.consistent() && !repair {
                    eprintln!("the indexes disagree with the store: `twake-ai check --repair` rebuilds them from it");
                }
            }
            Ok(if last.consistent() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::Usage { month, day, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let (from, to) = match (month, day) {
                (_, Some(d)) => {
                    let d = audit::parse_day(&d)? / 86_400;
                    (d, d)
                }
                (Some(m), None) => twake_core::engine::dates::month_of(audit::parse_day(&format!("{m}-01"))? / 86_400),
                (None, None) => twake_core::engine::dates::month_of(ws.now().div_euclid(86_400)),
            };
            let rows = ws.usage_report(from, to).await?;
            let (fy, fm, fd) = twake_core::engine::dates::civil_from_days(from);
            let (ty, tm, td) = twake_core::engine::dates::civil_from_days(to);
            let period = format!("{fy:04}-{fm:02}-{fd:02} to {ty:04}-{tm:02}-{td:02}");
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(p, u)| json!({"principal": p, "tokens": u.tokens, "cost": u.cost, "requests": u.requests}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({"period": period, "usage": v}))?);
            } else {
                println!("usage from {period}:");
                for (p, u) in &rows {
                    println!("  {p:<36} {:>10} tokens {:>10.2} cost {:>6} requests", u.tokens, u.cost, u.requests);
                }
                if rows.is_empty() {
                    println!("  nothing used");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Summarize { command: SummarizeCommand::Thread { message_id, as_user, format } } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let (ws, p) = (&ws, &pass);
            let summary = writing::budgeted(ws, p, "summarising the thread", |mut on| async move {
                ws.summarize_thread(&message_id, p, &mut *on).await
            })
            .await?;
            match format {
                MinutesFormat::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
                MinutesFormat::Markdown => print!("{}", summary.to_markdown()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Summarize { command: SummarizeCommand::Room { room, as_user, since, format } } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let since = twake_core::assist::catchup::parse_since(&since, ws.now()).with_context(|| {
                format!(
                    "invalid --since {since:?}: give last-read, a day as YYYY-MM-DD, or a duration such as 24h or 7d"
                )
            })?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let (ws, p) = (&ws, &pass);
            let out = writing::budgeted(ws, p, "catching up on the room", |mut on| async move {
                ws.catch_up_room(&room, since, p, &mut *on).await
            })
            .await?;
            match format {
                MinutesFormat::Json => println!("{}", serde_json::to_string_pretty(&out)?),
                MinutesFormat::Markdown => print!("{}", out.to_markdown()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Brief { as_user, since, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let since = twake_core::assist::brief::brief_since(since.as_deref(), ws.today(), ws.now()).with_context(|| {
                format!(
                    "invalid --since {:?}: give a day as YYYY-MM-DD, a time as YYYY-MM-DDTHH:MMZ, or a duration such as 24h or 7d",
                    since.as_deref().unwrap_or_default()
                )
            })?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let (ws, p) = (&ws, &pass);
            let out =
                writing::budgeted(
                    ws,
                    p,
                    "writing the brief",
                    |mut on| async move { ws.brief(since, p, &mut *on).await },
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", out.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Minutes { path, as_user, date, format } => {
            let date = match date {
                Some(d) => Some(
                    twake_core::engine::dates::Date::find_iso(&d)
                        .with_context(|| format!("invalid --date {d:?}: give it as YYYY-MM-DD"))?,
                ),
                None => None,
            };
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let (ws, p) = (&ws, &pass);
            let minutes = writing::budgeted(ws, p, "writing the minutes", |mut on| async move {
                ws.minutes(&path, p, date, &mut *on).await
            })
            .await?;
            match format {
                MinutesFormat::Json => println!("{}", serde_json::to_string_pretty(&minutes)?),
                MinutesFormat::Markdown => print!("{}", minutes.to_markdown()),
            }
            if minutes.date.is_none() {
                eprintln!("note: the meeting's date is unknown; pass --date YYYY-MM-DD to resolve due dates");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::DraftReply { message_id, as_user, lang, tone, points, format } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let user = principal(as_user.as_deref())?;
            writing::draft_reply(&ws, &user, &message_id, lang.as_deref(), &tone, &points, format).await
        }
        Command::Rewrite { text, as_user, tone, lang, sensitivity, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let user = principal(as_user.as_deref())?;
            writing::rewrite(&ws, &user, text, lang.as_deref(), Some(&tone), sensitivity.as_deref(), json).await
        }
        Command::Translate { text, as_user, to, sensitivity, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let user = principal(as_user.as_deref())?;
            writing::rewrite(&ws, &user, text, Some(&to), None, sensitivity.as_deref(), json).await
        }
        Command::Eval { command } => eval::run(command, config).await,
        Command::Triage { as_user, since, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let user = principal(as_user.as_deref())?;
            writing::triage(&ws, &user, &since, json).await
        }
        Command::Relabel { dry_run, json } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            let report = ws
                .relabel(dry_run, &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                })
                .await?;
            bar.finish_and_clear();
            if json {
                let changed: Vec<_> = report
                    .changed
                    .iter()
                    .map(|c| {
                        serde_json::json!({"path": c.path, "title": c.title, "from": c.from.as_str(),
                                           "to": c.to.as_str(), "reasons": c.reasons})
                    })
                    .collect();
                let skipped: Vec<_> =
                    report.skipped.iter().map(|(p, why)| serde_json::json!({"path": p, "reason": why})).collect();
                let out = serde_json::json!({"dry_run": dry_run, "files": report.files, "changed": changed, "skipped": skipped});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for c in &report.changed {
                    println!("{} — {}: {} → {} ({})", c.path, c.title, c.from, c.to, c.reasons.join("; "));
                }
                for (path, why) in &report.skipped {
                    eprintln!("kept: {path}: {why}");
                }
                println!(
                    "{} {} documents relabelled out of {} files, {} files kept as they were",
                    if dry_run { "dry run: would have" } else { "done:" },
                    report.changed.len(),
                    report.files,
                    report.skipped.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Pseudonymise { text, as_user, show_mapping } => {
            let text = match text {
                Some(t) => t,
                None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?,
            };
            let ws = Workspace::open(&cli.data_dir, config).await?;
            let pass = ws.pass_for(&principal(as_user.as_deref())?).await?;
            let mut p = ws.pseudonymiser(&pass).await?;
            let out = p.pseudonymise(&text);
            println!("{out}");
            if show_mapping {
                for (placeholder, value) in p.mapping() {
                    eprintln!("{placeholder} = {value}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => {
            let ws = Workspace::open(&cli.data_dir, config).await?;
            audit::run(command, &ws).await
        }
    }
}

/// Who acts through the command line, as the provenance log names them:
/// the operating system's user (the CLI has no other identity).
pub(crate) fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into()))
}

fn print_check(r: &twake_core::engine::consistency::CheckReport) {
    println!("store: {} files, {} documents, {} chunks, generation {}", r.files, r.documents, r.chunks, r.generation);
    for p in &r.store_problems {
        println!("  store problem: {p}");
    }
    for (chunk, path) in &r.bad_vectors {
        println!("  damaged vector: chunk {chunk} of {path}");
    }
    let generation = r.lexical_generation.map_or("none recorded".to_string(), |g| g.to_string());
    println!(
        "lexical index: {} missing, {} extra, last commit at generation {generation}{}",
        r.lexical_missing_count,
        r.lexical_extra_count,
        if r.lexical_in_step() { "" } else { " (behind the store)" }
    );
    if !r.lexical_missing.is_empty() {
        println!("  missing chunks: {:?}", r.lexical_missing);
    }
    if !r.lexical_extra.is_empty() {
        println!("  chunks no longer stored: {:?}", r.lexical_extra);
    }
    println!("vector index: {} of {} chunks", r.vectors, r.vectors_expected);
    println!("{}", if r.consistent() { "consistent" } else { "INCONSISTENT" });
}
