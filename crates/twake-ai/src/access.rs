//! `twake-ai access …`: groups, tenants, readers, the oversharing report,
//! explanations and the canary check.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use twake_core::retrieve::canary::Canary;
use twake_core::{Principal, Tenant, Workspace};

#[derive(Subcommand)]
pub enum AccessCommand {
    /// What a user can reach, grouped by source: run it before switching the assistant on.
    Report {
        #[arg(long = "as")]
        as_user: String,
        #[arg(long)]
        json: bool,
    },
    /// Why a user can (or cannot) read the documents of an ingested file.
    Explain {
        #[arg(long = "as")]
        as_user: String,
        /// The file's path as it was ingested.
        path: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the readers of an ingested file; takes effect at once, nothing is re-embedded.
    Readers {
        /// The file's path as it was ingested.
        path: String,
        /// Comma-separated principals (users, group:NAME, room:ID, share:NAME).
        #[arg(long)]
        set: String,
    },
    /// Groups, rooms and shares and their members (nesting allowed).
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Tenants: which mail domains belong to which isolated tenant.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Plant a secret in one user's private scope, check that no other user can
    /// retrieve it (search, answers, HTTP API), remove it. Exit code 4 on a leak.
    Canary {
        /// The user whose private scope receives the secret (default: the first known user).
        #[arg(long)]
        owner: Option<String>,
        /// Skip the checks through answers (faster; search and HTTP remain).
        #[arg(long)]
        no_ask: bool,
        /// Skip the checks through the HTTP API.
        #[arg(long)]
        no_http: bool,
    },
}

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// Add members (users or other containers) to a group, room or share.
    Add {
        container: String,
        #[arg(required = true)]
        members: Vec<String>,
        #[arg(long, default_value = Tenant::DEFAULT)]
        tenant: String,
    },
    /// Remove members; effective on their next request.
    Remove {
        container: String,
        #[arg(required = true)]
        members: Vec<String>,
        #[arg(long, default_value = Tenant::DEFAULT)]
        tenant: String,
    },
    List,
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Users of these mail domains belong to the tenant.
    Set {
        tenant: String,
        #[arg(long, required = true, value_delimiter = ',')]
        domains: Vec<String>,
    },
    List,
}

fn user(s: &str) -> Result<Principal> {
    Principal::parse(s).with_context(|| format!("invalid user {s:?}"))
}

pub async fn run(command: AccessCommand, ws: Arc<Workspace>) -> Result<ExitCode> {
    match command {
        AccessCommand::Report { as_user, json } => {
            let r = ws.access_report(&user(&as_user)?).await?;
            if json {
                let groups: Vec<_> = r
                    .groups
                    .iter()
                    .map(|g| {
                        json!({"source": g.source, "kind": g.kind, "sensitivity": g.sensitivity.as_str(), "files": g.files,
                               "documents": g.documents, "granted_by": g.granted_by})
                    })
                    .collect();
                let member_of: serde_json::Map<String, serde_json::Value> = r
                    .member_of
                    .iter()
                    .map(|(c, chain)| (c.to_string(), json!(chain.iter().map(|p| p.to_string()).collect::<Vec<_>>())))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"user": r.user.to_string(), "tenant": r.tenant.to_string(),
                        "member_of": member_of, "documents": r.documents, "sources": groups}))?
                );
            } else {
                println!("{} (tenant {}) can read {} documents", r.user, r.tenant, r.documents);
                if !r.member_of.is_empty() {
                    println!("member of:");
                    for chain in r.member_of.values() {
                        println!("  {}", chain.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ∈ "));
                    }
                }
                for g in &r.groups {
                    println!(
                        "{} [{}, {}]: {} documents in {} files",
                        g.source, g.kind, g.sensitivity, g.documents, g.files
                    );
                    for (by, n) in &g.granted_by {
                        println!("    {n:>5} through {by}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Explain { as_user, path, json } => {
            let u = user(&as_user)?;
            let Some(e) = ws.explain(&u, &path).await? else {
                bail!("{path} was not ingested (`twake-ai access report --as USER` lists readable files)");
            };
            if json {
                let docs: Vec<_> = e
                    .documents
                    .iter()
                    .map(|d| {
                        json!({"title": d.title, "tenant": d.tenant, "readable": d.readable,
                           "sensitivity": d.sensitivity.as_str(), "sensitivity_reasons": d.sensitivity_reasons,
                           "because": d.because.iter().map(|(g, chain)| json!({"principal": g.principal.to_string(), "reason": g.reason,
                               "chain": chain.iter().map(|p| p.to_string()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                           "grants": d.grants.iter().map(|g| json!({"principal": g.principal.to_string(), "reason": g.reason})).collect::<Vec<_>>()})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"user": u.to_string(), "tenant": e.tenant.to_string(), "path": path, "documents": docs})
                    )?
                );
            } else {
                for d in &e.documents {
                    println!("{} — {} ({})", d.title, d.sensitivity, d.sensitivity_reasons.join("; "));
                    if d.readable {
                        println!("{}: readable by {}", d.title, u);
                        for (g, chain) in &d.because {
                            let via = chain.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ∈ ");
                            println!("  granted to {} ({}), {}", g.principal, reason_text(&g.reason), via);
                        }
                    } else {
                        let readers = d.grants.iter().map(|g| g.principal.to_string()).collect::<Vec<_>>().join(", ");
                        if d.tenant != e.tenant.as_str() {
                            println!(
                                "{}: NOT readable by {u}: it belongs to tenant {}, {u} to tenant {}",
                                d.title, d.tenant, e.tenant
                            );
                        } else {
                            println!("{}: NOT readable by {u}: its readers are {readers}", d.title);
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Readers { path, set } => {
            let readers = Principal::parse_list(&set).context("invalid --set")?;
            if readers.is_empty() {
                bail!("--set needs at least one reader (a document nobody can read would be lost from every answer)");
            }
            let (found, labels_kept) = ws.set_readers(&path, &readers).await?;
            if !found {
                bail!("{path} was not ingested; give the path exactly as it was ingested");
            }
            println!(
                "{path}: readers are now {} (effective now; mail participants keep their access)",
                readers.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            );
            if let Some(why) = labels_kept {
                eprintln!("warning: {path}: sensitivity labels not recomputed: {why}");
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Groups { command } => {
            match command {
                GroupsCommand::Add { container, members, tenant } => {
                    let (t, c) = (Tenant::parse(&tenant)?, Principal::parse(&container)?);
                    for m in &members {
                        let m = Principal::parse(m)?;
                        let added = ws.add_member(&t, &c, &m).await?;
                        if added {
                            ws.audit_admin(&crate::cli_actor(), t.as_str(), &format!("membership added: {m} in {c}"))
                                .await?;
                        }
                        println!("{m} {} {c} (tenant {t})", if added { "added to" } else { "was already in" });
                    }
                }
                GroupsCommand::Remove { container, members, tenant } => {
                    let (t, c) = (Tenant::parse(&tenant)?, Principal::parse(&container)?);
                    for m in &members {
                        let m = Principal::parse(m)?;
                        if !ws.remove_member(&t, &c, &m).await? {
                            bail!("{m} is not a member of {c} in tenant {t} (`twake-ai access groups list`)");
                        }
                        ws.audit_admin(&crate::cli_actor(), t.as_str(), &format!("membership removed: {m} from {c}"))
                            .await?;
                        println!("{m} removed from {c} (tenant {t}); effective on their next request");
                    }
                }
                GroupsCommand::List => {
                    for m in ws.memberships().await? {
                        println!("{:<12} {:<32} {}", m.tenant, m.container, m.member);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Tenants { command } => {
            match command {
                TenantsCommand::Set { tenant, domains } => {
                    let t = Tenant::parse(&tenant)?;
                    for d in &domains {
                        ws.set_tenant_domain(d, &t).await?;
                        println!("users of {d} belong to tenant {t}");
                    }
                }
                TenantsCommand::List => {
                    for (domain, tenant) in ws.tenant_domains().await? {
                        println!("{tenant:<16} {domain}");
                    }
                    println!("(any other domain: tenant {})", Tenant::DEFAULT);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccessCommand::Canary { owner, no_ask, no_http } => canary(ws, owner, !no_ask, !no_http).await,
    }
}

fn reason_text(reason: &str) -> &str {
    match reason {
        "readers" => "reader of the file",
        "from" => "sender of the mail",
        "to" => "recipient (To) of the mail",
        "cc" => "recipient (Cc) of the mail",
        "bcc" => "recipient (Bcc) of the mail",
        other => other,
    }
}

async fn canary(ws: Arc<Workspace>, owner: Option<String>, ask: bool, http: bool) -> Result<ExitCode> {
    let known = ws.known_users().await?;
    let owner = match owner {
        Some(o) => user(&o)?,
        None => known.first().cloned().context("no user is known yet: ingest documents or give --owner")?,
    };
    let mut others: Vec<Principal> = known.into_iter().filter(|u| u != &owner).collect();
    // Someone nobody has heard of, in the owner's domain, must see nothing either.
    let probe = format!("canary-probe@{}", owner.domain().unwrap_or("example.invalid"));
    others.push(user(&probe)?);
    let canary = ws.plant_canary(&owner).await?;
    eprintln!("planted {} in {}'s private scope; checking {} other users", canary.secret, owner, others.len());
    let result = check_canary(&ws, &canary, &others, ask, http).await;
    ws.remove_canary(&canary).await?;
    let leaks = result?;
    if leaks.is_empty() {
        println!(
            "canary: no leak — {} users checked through search{}{}; the canary was removed",
            others.len(),
            if ask { ", answers" } else { "" },
            if http { " and the HTTP API" } else { "" }
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for l in &leaks {
            println!("LEAK: {l}");
        }
        println!("canary: {} leak(s); the canary was removed", leaks.len());
        Ok(ExitCode::from(4))
    }
}

async fn check_canary(
    ws: &Arc<Workspace>,
    canary: &Canary,
    others: &[Principal],
    ask: bool,
    http: bool,
) -> Result<Vec<String>> {
    // The owner must find it, or the check proves nothing.
    let owner_pass = ws.pass_for(&canary.owner).await?;
    let own = ws.search(&canary.questions[0], &owner_pass, 5).await?;
    if !own.iter().any(|h| h.chunk.path == canary.path) {
        bail!("the owner cannot find the canary either: the check is inconclusive (is the index healthy?)");
    }
    let mut leaks = Vec::new();
    for u in others {
        for l in ws.canary_leaks(canary, u, ask).await? {
            leaks.push(format!("{u}: {l}"));
        }
    }
    if http {
        leaks.extend(check_http(ws, canary, others, ask).await?);
    }
    Ok(leaks)
}

/// The same checks through the HTTP API of an in-process server on a
/// loopback port, each user with a temporary API key (revoked afterwards).
async fn check_http(ws: &Arc<Workspace>, canary: &Canary, others: &[Principal], ask: bool) -> Result<Vec<String>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut state = twake_server::AppState::new(ws.clone());
    state.limits = Arc::new(twake_server::limits::Limits::new(0, 0, 0));
    let server = tokio::spawn(twake_server::serve(listener, state));
    let client = reqwest::Client::new();
    let mut keys = Vec::new();
    let mut leaks = Vec::new();
    let outcome: Result<()> = async {
        // Positive control through HTTP too.
        let (id, key) = ws.create_key(&canary.owner, "canary check").await?;
        keys.push(id);
        let body = search(&client, &base, &key, &canary.questions[0]).await?;
        if !body.contains(&canary.secret) {
            bail!("the owner cannot find the canary over HTTP: the check is inconclusive");
        }
        for u in others {
            let (id, key) = ws.create_key(u, "canary check").await?;
            keys.push(id);
            for q in &canary.questions {
                if search(&client, &base, &key, q).await?.contains(&canary.secret) {
                    leaks.push(format!("{u}: HTTP /api/v1/search {q:?} returned the secret"));
                }
            }
            let files = get(&client, &base, &key, "/api/v1/files").await?;
            if files.contains(&canary.path) {
                leaks.push(format!("{u}: HTTP /api/v1/files lists the canary file"));
            }
            if ask {
                let body = json!({"model": "twake-ai", "messages": [{"role": "user", "content": canary.questions[1]}]});
                let r = client.post(format!("{base}/v1/chat/completions")).bearer_auth(&key).json(&body).send().await?;
                let text = r.text().await?;
                if text.contains(&canary.secret) || text.contains(&canary.path) {
                    leaks.push(format!("{u}: HTTP /v1/chat/completions revealed the canary"));
                }
            }
        }
        Ok(())
    }
    .await;
    for id in keys {
        ws.revoke_key(id).await?;
    }
    server.abort();
    outcome?;
    Ok(leaks)
}

async fn search(client: &reqwest::Client, base: &str, key: &str, q: &str) -> Result<String> {
    let r = client
        .post(format!("{base}/api/v1/search"))
        .bearer_auth(key)
        .json(&json!({"query": q, "k": 20}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("/api/v1/search answered {}", r.status());
    }
    Ok(r.text().await?)
}

async fn get(client: &reqwest::Client, base: &str, key: &str, path: &str) -> Result<String> {
    let r = client.get(format!("{base}{path}")).bearer_auth(key).send().await?;
    if !r.status().is_success() {
        bail!("{path} answered {}", r.status());
    }
    Ok(r.text().await?)
}
