//! `twake-ai sources …`: connected sources (Matrix today), kept in sync
//! incrementally, with their health.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use twake_core::sources::{Credentials, Secret, SourceInfo, SourceSpec, SyncEvent, matrix::MatrixSpec};
use twake_core::{Principal, Tenant, Workspace};

#[derive(Subcommand)]
pub enum SourcesCommand {
    /// Connect a source. The secret is read from the environment variable
    /// named by --secret-env, else from the first line of standard input;
    /// a password is exchanged once for an access token, which is what is
    /// kept (never printed).
    Add {
        /// A name for the source (lowercase letters, digits, '-', '_', '.').
        name: String,
        /// The connector (matrix; IMAP, JMAP, WebDAV and CalDAV come next).
        #[arg(long, value_parser = ["matrix"])]
        kind: String,
        /// The homeserver's URL, e.g. https://matrix.example.org.
        #[arg(long)]
        homeserver: String,
        /// The account TwakeAI reads with, e.g. @twake:example.org
        /// (needed with a password; a token names its own account).
        #[arg(long)]
        user: Option<String>,
        /// password (exchanged for a token) or token (an access token).
        #[arg(long, value_parser = ["password", "token"], default_value = "password")]
        auth: String,
        /// The environment variable holding the password or token.
        #[arg(long)]
        secret_env: Option<String>,
        /// The mail domain of TwakeAI users: @alice:server is alice@DOMAIN
        /// (default: the Matrix server name).
        #[arg(long)]
        user_domain: Option<String>,
        /// A Matrix ID that is another user: @id:server=name@domain (repeat).
        #[arg(long = "map")]
        maps: Vec<String>,
        /// The tenant its items belong to (default: the default tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The sources, where they are and their health.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Health of each source: last success, lag, errors, items.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Forget a source and the items it brought.
    Remove {
        name: String,
        /// Keep its items in the index.
        #[arg(long)]
        keep_items: bool,
    },
    /// Bring sources up to date from their saved cursor (all by default).
    Sync {
        /// Sync only this source.
        name: Option<String>,
        /// Keep syncing, once every this many seconds (Ctrl-C stops).
        #[arg(long)]
        every: Option<u64>,
    },
}

fn secret(env: Option<&str>) -> Result<Secret> {
    let s = match env {
        Some(var) => std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the secret from standard input")?;
            line
        }
    };
    let s = s.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        bail!("empty secret: give it in the variable named by --secret-env, or on standard input");
    }
    Ok(Secret::new(s))
}

fn ago(seconds: Option<i64>) -> String {
    match seconds {
        None => "never".into(),
        Some(s) if s < 120 => format!("{s} s ago"),
        Some(s) if s < 7200 => format!("{} min ago", s / 60),
        Some(s) => format!("{} h ago", s / 3600),
    }
}

fn print_status(list: &[SourceInfo], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!(
            "no sources: add one with `twake-ai sources add NAME --kind matrix --homeserver URL --user @id:server`"
        );
    }
    for s in list {
        println!(
            "{}  {}  {}  items {}  last success {}  {}",
            s.name,
            s.kind,
            s.status,
            s.items,
            ago(s.lag_seconds),
            match &s.last_error {
                Some(e) => format!("errors in a row {}: {e}", s.errors),
                None => String::new(),
            }
        );
    }
    Ok(())
}

pub async fn run(command: SourcesCommand, ws: &Workspace) -> Result<ExitCode> {
    match command {
        SourcesCommand::Add { name, kind: _, homeserver, user, auth, secret_env, user_domain, maps, tenant } => {
            let mut users = BTreeMap::new();
            for m in &maps {
                let (id, mail) =
                    m.split_once('=').with_context(|| format!("invalid --map {m:?}: give @id:server=name@domain"))?;
                Principal::parse(mail).with_context(|| format!("invalid user in --map {m:?}"))?;
                users.insert(id.trim().to_string(), mail.trim().to_string());
            }
            let tenant = match tenant {
                Some(t) => Tenant::parse(&t)?,
                None => Tenant::default_tenant(),
            };
            let secret = secret(secret_env.as_deref())?;
            let credentials = if auth == "token" { Credentials::Token(secret) } else { Credentials::Password(secret) };
            let spec =
                SourceSpec::Matrix(MatrixSpec { homeserver, user_id: user.unwrap_or_default(), user_domain, users });
            let s = ws.add_source(&name, &tenant, spec, credentials).await?;
            println!(
                "added {} ({}, {}): run `twake-ai sources sync {}` to index it",
                s.name, s.kind, s.location, s.name
            );
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::List { json } => {
            let list = ws.sources().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for s in &list {
                    println!("{}  {}  {}  tenant {}", s.name, s.kind, s.location, s.tenant);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Status { json } => {
            let list = ws.sources().await?;
            print_status(&list, json)?;
            Ok(if list.iter().any(|s| s.errors > 0) { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        SourcesCommand::Remove { name, keep_items } => {
            let n = ws.remove_source(&name, keep_items).await?;
            println!("removed {name}; {n} items forgotten");
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Sync { name, every } => loop {
            let names: Vec<String> = match &name {
                Some(n) => vec![n.clone()],
                None => ws.sources().await?.into_iter().map(|s| s.name).collect(),
            };
            let mut failed = false;
            for n in &names {
                failed |= !sync_one(ws, n).await;
            }
            match every {
                Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
                None => return Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }),
            }
        },
    }
}

/// Syncs one source with a progress bar; false when it failed (the error
/// is printed and recorded in its health).
async fn sync_one(ws: &Workspace, name: &str) -> bool {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} rooms {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let result = ws
        .sync_source(name, &mut |ev| match ev {
            SyncEvent::Places { total } => {
                bar.set_length(total as u64);
                bar.set_position(0);
            }
            SyncEvent::PlaceDone { name, done, items, .. } => {
                bar.set_position(done as u64);
                bar.set_message(format!("{name} — {items} messages stored"));
            }
            SyncEvent::Notice(n) => bar.suspend(|| eprintln!("notice: {n}")),
        })
        .await;
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            println!(
                "synced {name} in {:.1}s: {} stored, {} edited, {} removed, {} unchanged, {} rooms",
                started.elapsed().as_secs_f64(),
                r.stored,
                r.edited,
                r.removed,
                r.unchanged,
                r.places
            );
            true
        }
        Err(e) => {
            eprintln!("error: sync of {name} failed: {e} (what was stored is kept; the next sync resumes)");
            false
        }
    }
}
