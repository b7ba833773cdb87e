//! `twake-ai sources …`: connected sources (Matrix, IMAP, JMAP, WebDAV, CalDAV,
//! local folders), kept in sync
//! incrementally, with their health.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use twake_core::connectors::dav::{DavSpec, FolderSpec};
use twake_core::connectors::imap::{Auth, ImapSpec, Security};
use twake_core::connectors::jmap::JmapSpec;
use twake_core::connectors::{Credentials, SourceInfo, SourceSpec, SyncEvent, matrix::MatrixSpec};
use twake_core::engine::http::HttpAuth;
use twake_core::engine::http::Secret;
use twake_core::{Principal, Tenant, Workspace};

// Parsed once per run: the size of the `add` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum SourcesCommand {
    /// Connect a source. The secret is read from the environment variable
    /// named by --secret-env, else from the first line of standard input;
    /// a password is exchanged once for an access token, which is what is
    /// kept (never printed).
    Add {
        /// A name for the source (lowercase letters, digits, '-', '_', '.').
        name: String,
        /// The connector: matrix, imap, jmap, webdav, caldav or folder (a
        /// local or mounted folder, watched under `serve`).
        #[arg(long, value_parser = ["matrix", "imap", "jmap", "webdav", "caldav", "folder"])]
        kind: String,
        /// Matrix: the homeserver's URL, e.g. https://matrix.example.org.
        #[arg(long, required_if_eq("kind", "matrix"))]
        homeserver: Option<String>,
        /// IMAP: the server, HOST or HOST:PORT (default port 993 with tls,
        /// 143 otherwise).
        #[arg(long, required_if_eq("kind", "imap"))]
        server: Option<String>,
        /// JMAP: the session URL or the server's (its /.well-known/jmap).
        /// WebDAV: the folder's URL. CalDAV: a calendar's URL, the
        /// account's calendar home, or the server's (discovered).
        #[arg(long, required_if_eq_any([("kind", "jmap"), ("kind", "webdav"), ("kind", "caldav")]))]
        url: Option<String>,
        /// Folder: the folder to follow.
        #[arg(long, required_if_eq("kind", "folder"))]
        path: Option<String>,
        /// WebDAV, CalDAV, folder: who may read what comes from it, as principals
        /// (alice@example.org, group:finance, share:direction), comma
        /// separated or repeated; --owner is one of them.
        #[arg(long, value_delimiter = ',')]
        readers: Vec<String>,
        /// IMAP: tls (from the first byte), starttls, or plain (only with
        /// --insecure, for a test server).
        #[arg(long, value_parser = ["tls", "starttls", "plain"], default_value = "tls")]
        security: String,
        /// IMAP: allow --security plain; JMAP, WebDAV, CalDAV: allow http://
        /// (credentials in clear). Tests only.
        #[arg(long)]
        insecure: bool,
        /// IMAP, JMAP, WebDAV, CalDAV: a PEM file of certificate authorities to
        /// trust besides the system's (an organisation's own PKI).
        #[arg(long)]
        ca_file: Option<String>,
        /// IMAP, JMAP: the TwakeAI user whose mailbox it is (who reads its
        /// mail). WebDAV, CalDAV: the user whose folder or calendar it is.
        #[arg(long, required_if_eq_any([("kind", "imap"), ("kind", "jmap")]))]
        owner: Option<String>,
        /// IMAP, JMAP: messages larger than this many MB are skipped with a
        /// notice.
        #[arg(long, default_value_t = 25)]
        max_mail_mb: u32,
        /// WebDAV, CalDAV, folder: files larger than this many MB are
        /// skipped with a notice.
        #[arg(long, default_value_t = 50)]
        max_file_mb: u32,
        /// The account TwakeAI reads with: a Matrix ID (@twake:example.org,
        /// needed with a password), or the IMAP, JMAP, WebDAV or CalDAV login
        /// name (default: --owner).
        #[arg(long)]
        user: Option<String>,
        /// Matrix: password (exchanged for a token) or token. IMAP: plain
        /// (SASL PLAIN, the default), login (LOGIN), oauthbearer (an OAuth
        /// 2 access token). JMAP, WebDAV, CalDAV: basic (a password, the
        /// default) or bearer (a token).
        #[arg(long)]
        auth: Option<String>,
        /// The environment variable holding the password or token.
        #[arg(long)]
        secret_env: Option<String>,
        /// Matrix: the mail domain of TwakeAI users: @alice:server, on
        /// the homeserver's own server name, is alice@DOMAIN (default: the
        /// server name); other servers' users map only through --map.
        #[arg(long)]
        user_domain: Option<String>,
        /// Matrix: a Matrix ID that is another user: @id:server=name@domain
        /// (repeat).
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
            "no sources: add one with `twake-ai sources add NAME --kind matrix|imap|jmap|webdav|caldav|folder …` (see `twake-ai sources add --help`)"
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
        SourcesCommand::Add {
            name,
            kind,
            homeserver,
            server,
            url,
            path,
            readers,
            security,
            insecure,
            ca_file,
            owner,
            max_mail_mb,
            max_file_mb,
            user,
            auth,
            secret_env,
            user_domain,
            maps,
            tenant,
        } => {
            let tenant = tenant_of(tenant)?;
            if kind == "matrix" {
                return add_matrix(ws, &name, &tenant, homeserver, user, auth, secret_env, user_domain, maps).await;
            }
            let http_auth = |auth: Option<&str>| match auth.unwrap_or("basic") {
                "basic" => Ok(HttpAuth::Basic),
                "bearer" => Ok(HttpAuth::Bearer),
                other => bail!("invalid --auth {other:?} for {kind}: give basic or bearer"),
            };
            if kind == "jmap" {
                let owner = owner.unwrap_or_default();
                Principal::parse(&owner)
                    .with_context(|| format!("invalid --owner {owner:?}: give the user's address"))?;
                let spec = JmapSpec {
                    url: url.unwrap_or_default(),
                    username: user.unwrap_or_else(|| owner.clone()),
                    owner,
                    auth: http_auth(auth.as_deref())?,
                    insecure,
                    ca_file,
                    max_mail_mb,
                };
                let secret = secret(secret_env.as_deref())?;
                return added(
                    ws.add_source(&name, &tenant, SourceSpec::Jmap(spec), Credentials::Password(secret)).await?,
                );
            }
            let mut readers = readers;
            if matches!(kind.as_str(), "webdav" | "caldav" | "folder") {
                readers.extend(owner.clone());
                readers.retain(|r| !r.trim().is_empty());
                readers.sort();
                readers.dedup();
                for r in &readers {
                    Principal::parse(r)
                        .with_context(|| format!("invalid reader {r:?}: give an address or group:NAME"))?;
                }
            }
            if kind == "folder" {
                // Nothing to log in to: no secret is asked for.
                let spec = FolderSpec { path: path.unwrap_or_default(), readers, max_file_mb };
                let credentials = Credentials::Password(Secret::new(""));
                return added(ws.add_source(&name, &tenant, SourceSpec::Folder(spec), credentials).await?);
            }
            if kind == "webdav" || kind == "caldav" {
                let Some(username) = user.or(owner) else {
                    bail!("give the login name with --user (or --owner, whose address is the login)")
                };
                let auth = http_auth(auth.as_deref())?;
                let spec =
                    DavSpec { url: url.unwrap_or_default(), username, readers, auth, insecure, ca_file, max_file_mb };
                let spec = if kind == "webdav" { SourceSpec::Webdav(spec) } else { SourceSpec::Caldav(spec) };
                let secret = secret(secret_env.as_deref())?;
                return added(ws.add_source(&name, &tenant, spec, Credentials::Password(secret)).await?);
            }
            let security = match security.as_str() {
                "starttls" => Security::Starttls,
                "plain" => Security::Plain,
                _ => Security::Tls,
            };
            let server = server.unwrap_or_default();
            let (host, port) = ImapSpec::host_port(&server, security).map_err(anyhow::Error::msg)?;
            let auth = match auth.as_deref().unwrap_or("plain") {
                "plain" => Auth::Plain,
                "login" => Auth::Login,
                "oauthbearer" => Auth::Oauthbearer,
                other => bail!("invalid --auth {other:?} for IMAP: give plain, login or oauthbearer"),
            };
            let owner = owner.unwrap_or_default();
            Principal::parse(&owner).with_context(|| format!("invalid --owner {owner:?}: give the user's address"))?;
            let spec = ImapSpec {
                host,
                port,
                security,
                insecure,
                ca_file,
                username: user.unwrap_or_else(|| owner.clone()),
                owner,
                auth,
                max_mail_mb,
            };
            let secret = secret(secret_env.as_deref())?;
            added(ws.add_source(&name, &tenant, SourceSpec::Imap(spec), Credentials::Password(secret)).await?)
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
#[allow(clippy::too_many_arguments)]
async fn add_matrix(
    ws: &Workspace,
    name: &str,
    tenant: &Tenant,
    homeserver: Option<String>,
    user: Option<String>,
    auth: Option<String>,
    secret_env: Option<String>,
    user_domain: Option<String>,
    maps: Vec<String>,
) -> Result<ExitCode> {
    let mut users = BTreeMap::new();
    for m in &maps {
        let (id, mail) =
            m.split_once('=').with_context(|| format!("invalid --map {m:?}: give @id:server=name@domain"))?;
        Principal::parse(mail).with_context(|| format!("invalid user in --map {m:?}"))?;
        users.insert(id.trim().to_string(), mail.trim().to_string());
    }
    let secret = secret(secret_env.as_deref())?;
    let credentials = match auth.as_deref().unwrap_or("password") {
        "password" => Credentials::Password(secret),
        "token" => Credentials::Token(secret),
        other => bail!("invalid --auth {other:?} for Matrix: give password or token"),
    };
    let spec = SourceSpec::Matrix(MatrixSpec {
        homeserver: homeserver.unwrap_or_default(),
        user_id: user.unwrap_or_default(),
        user_domain,
        users,
    });
    added(ws.add_source(name, tenant, spec, credentials).await?)
}

fn tenant_of(tenant: Option<String>) -> Result<Tenant> {
    Ok(match tenant {
        Some(t) => Tenant::parse(&t)?,
        None => Tenant::default_tenant(),
    })
}

fn added(s: SourceInfo) -> Result<ExitCode> {
    println!("added {} ({}, {}): run `twake-ai sources sync {}` to index it", s.name, s.kind, s.location, s.name);
    Ok(ExitCode::SUCCESS)
}

async fn sync_one(ws: &Workspace, name: &str) -> bool {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} rooms, folders or calendars {wide_msg}",
        )
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
                bar.set_message(format!("{name} — {items} items stored"));
            }
            SyncEvent::Items { place, done, total } => {
                bar.set_message(format!("{place} — {done}/{total} new or changed items"))
            }
            SyncEvent::Notice(n) => bar.suspend(|| eprintln!("notice: {n}")),
        })
        .await;
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            println!(
                "synced {name} in {:.1}s: {} stored, {} edited, {} removed, {} unchanged, {} rooms, folders or calendars",
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
