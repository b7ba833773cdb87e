//! `twake-ai bench`: runs the benchmarks of [`measure`] and writes their
//! table.

pub mod measure;

use std::path::PathBuf;

use crate::bench::measure::{BenchOptions, ImapBench, MatrixBench, Row, run as run_bench, to_markdown};
use anyhow::{Context, Result, bail};
use twake_core::Config;
use twake_core::connectors::imap::{Auth, ImapSpec, Security};
use twake_core::engine::http::Secret;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Where to write the Markdown table (default: print it).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Index sizes for the search benchmark.
    #[arg(long, value_delimiter = ',', default_values_t = vec![10_000usize, 100_000])]
    sizes: Vec<usize>,
    /// Queries per size.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Messages in the synthetic mbox.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Pages in the synthetic PDF.
    #[arg(long, default_value_t = 40)]
    pages: usize,
    /// Provenance records appended and verified (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    audit_records: usize,
    /// Rounds of the `ask` benchmark's five single-fact questions (0
    /// skips the model benchmark).
    #[arg(long, default_value_t = 2)]
    ask_runs: usize,
    /// The sample workspace used by the `ask` and HTTP benchmarks.
    #[arg(long, default_value = "examples/workspace/shared")]
    sample: PathBuf,
    /// Concurrent clients of the HTTP benchmark (empty: skip it).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 8, 64])]
    http_clients: Vec<usize>,
    /// Requests per HTTP benchmark run.
    #[arg(long, default_value_t = 256)]
    http_requests: usize,
    /// Run only these groups (`ingestion`, `search` — with `access` —,
    /// `audit`, `ask` — with `gateway` —, `http`, `sources`); with
    /// --output, the rows of the other groups already in the file are kept.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The sources benchmark: an IMAP test account it may fill with mail
    /// (HOST:PORT; `make bench-sources` starts a Dovecot for it).
    #[arg(long)]
    imap_server: Option<String>,
    /// The TwakeAI user owning that mailbox (also the login name).
    #[arg(long, default_value = "alice@valmont.fr")]
    imap_owner: String,
    /// The environment variable holding its password.
    #[arg(long, default_value = "IMAP_PASSWORD")]
    imap_secret_env: String,
    /// Connect in clear (a test server on loopback); else TLS.
    #[arg(long)]
    imap_insecure: bool,
    /// Messages appended then backfilled.
    #[arg(long, default_value_t = 200)]
    imap_messages: usize,
    /// New messages timed from delivery to search, each way.
    #[arg(long, default_value_t = 5)]
    lag_runs: usize,
    /// The sources benchmark: a Matrix homeserver with accounts @twake and
    /// @poster it may post to (`make bench-sources` starts a Synapse).
    #[arg(long)]
    matrix_homeserver: Option<String>,
    /// The environment variable holding both accounts' password.
    #[arg(long, default_value = "MATRIX_PASSWORD")]
    matrix_secret_env: String,
    /// Matrix messages posted then backfilled.
    #[arg(long, default_value_t = 200)]
    matrix_messages: usize,
}

/// The sources rows of the servers given (IMAP, Matrix).
async fn sources_rows(args: &BenchArgs, config: &Config, log: &mut dyn FnMut(&str)) -> Result<Vec<Row>> {
    let mut rows = imap_rows(args, config, log).await?;
    if let Some(homeserver) = &args.matrix_homeserver {
        let password = std::env::var(&args.matrix_secret_env)
            .with_context(|| format!("the environment variable {} is not set", args.matrix_secret_env))?;
        let bench = MatrixBench {
            homeserver: homeserver.clone(),
            password: Secret::new(password),
            messages: args.matrix_messages,
            lag_runs: args.lag_runs,
        };
        rows.extend(crate::bench::measure::sources_matrix(config, &bench, log).await?);
    }
    Ok(rows)
}

async fn imap_rows(args: &BenchArgs, config: &Config, log: &mut dyn FnMut(&str)) -> Result<Vec<Row>> {
    let Some(server) = &args.imap_server else { return Ok(vec![]) };
    let (host, port) = server.rsplit_once(':').with_context(|| format!("--imap-server {server:?}: give HOST:PORT"))?;
    let security = if args.imap_insecure { Security::Plain } else { Security::Tls };
    let secret = std::env::var(&args.imap_secret_env)
        .with_context(|| format!("the environment variable {} is not set", args.imap_secret_env))?;
    let bench = ImapBench {
        spec: ImapSpec {
            host: host.to_string(),
            port: port.parse().with_context(|| format!("invalid port in --imap-server {server:?}"))?,
            security,
            insecure: args.imap_insecure,
            ca_file: None,
            username: args.imap_owner.clone(),
            owner: args.imap_owner.clone(),
            auth: Auth::Plain,
            max_mail_mb: 25,
        },
        secret: Secret::new(secret),
        messages: args.imap_messages,
        lag_runs: args.lag_runs,
    };
    Ok(crate::bench::measure::sources(config, &bench, log).await?)
}

/// The table of `existing` with the rows of `groups` replaced by `rows`,
/// where the first of them was (at the end when there was none).
fn merge(existing: &str, groups: &[String], rows: &[Row]) -> String {
    let replaced = |l: &str| {
        let group = l.strip_prefix("| ").and_then(|r| r.split(" |").next()).unwrap_or("");
        groups.iter().any(|g| g == group)
    };
    let mut out: Vec<String> = Vec::new();
    let mut at = None;
    for l in existing.lines() {
        if replaced(l) {
            at.get_or_insert(out.len());
        } else {
            out.push(l.to_string());
        }
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let new = rows.iter().map(|r| format!("| {} | {} | {} | {} | {} |", r.group, r.what, r.ours, r.baseline, r.ratio));
    let at = at.unwrap_or(out.len()).min(out.len());
    out.splice(at..at, new);
    out.join("\n") + "\n"
}

pub async fn run(args: BenchArgs, config: Config) -> Result<()> {
    let opts = BenchOptions {
        sizes: args.sizes.clone(),
        queries: args.queries,
        messages: args.messages,
        pages: args.pages,
        ask_runs: args.ask_runs,
        audit_records: args.audit_records,
        only: vec![],
    };
    let mut log = |m: &str| eprintln!("bench: {m}");
    if !args.only.is_empty() {
        const GROUPS: [&str; 6] = ["ingestion", "search", "audit", "ask", "http", "sources"];
        if let Some(g) = args.only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
            bail!("--only: unknown group {g:?} (one of {})", GROUPS.join(", "));
        }
        let wants = |g: &str| args.only.iter().any(|o| o == g);
        if wants("sources") && args.imap_server.is_none() && args.matrix_homeserver.is_none() {
            bail!(
                "the sources benchmark needs --imap-server or --matrix-homeserver (`make bench-sources` starts a Dovecot and a Synapse)"
            );
        }
        let core: Vec<String> =
            args.only.iter().filter(|g| !["http", "sources"].contains(&g.as_str())).cloned().collect();
        let mut rows = Vec::new();
        if !core.is_empty() {
            rows.extend(run_bench(&config, &args.sample, &BenchOptions { only: core, ..opts }, &mut log).await?);
        }
        if wants("sources") {
            rows.extend(sources_rows(&args, &config, &mut log).await?);
        }
        if wants("http") {
            rows.extend(
                crate::http_bench::run(&config, &args.sample, &args.http_clients, args.http_requests, &mut log).await?,
            );
        }
        // The rows a group writes: `search` also the `access` rows, `ask`
        // the `gateway` row.
        let mut groups = args.only.clone();
        for (g, with) in [("search", "access"), ("ask", "gateway")] {
            if wants(g) {
                groups.push(with.to_string());
            }
        }
        let md = match &args.output {
            Some(p) if p.exists() => merge(
                &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
                &groups,
                &rows,
            ),
            _ => to_markdown(&rows, "# Benchmarks\n"),
        };
        if let Some(p) = &args.output {
            std::fs::write(p, &md).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("bench: table written to {}", p.display());
        }
        print!("{md}");
        return Ok(());
    }
    let mut rows = run_bench(&config, &args.sample, &opts, &mut log).await?;
    rows.extend(sources_rows(&args, &config, &mut log).await?);
    if !args.http_clients.is_empty() && args.http_clients != [0] {
        rows.extend(
            crate::http_bench::run(&config, &args.sample, &args.http_clients, args.http_requests, &mut log).await?,
        );
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let header = format!(
        "# Benchmarks\n\nWritten by `twake-ai bench` (`make bench`). Machine: {cpu}, {cores} cores (shared with other work: compare ratios, not absolute numbers). Medians (p50) and p99 over repeated runs; each TwakeAI figure is measured in the same run as its baseline.\n\nNotes: ingestion is bound by the embedding model (the whole pipeline runs at the embedder's own speed). The dense index is exact (int8 query × int8 vectors); its baseline is an f32 brute-force scan of the same vectors. The `http` rows send requests from this process to a `twake-ai serve` child process; the in-process baseline runs the same calls in this process. The server has its own model threads, so on 2 cores shared with the load generator a ratio above 1 can happen: read them as \"HTTP costs little\", not as exact overheads. The `access` rows search as users who can read 100 %, 10 % and 1 % of the chunks (through a group, as in production) against the same index searched unfiltered (a system pass); the filter is applied inside the scan (vectors) and as a zero-score clause of the query (BM25), so the filtered top-10 is exact: recall@10 is measured against an exact f32 search over the readable chunks alone (below 1 only by int8 rounding). The `sources` rows (`make bench-sources`, which starts a Dovecot on loopback) append synthetic mails to an empty test mailbox and backfill them through the IMAP connector, against the same mails ingested from an mbox file in the same run (both embed every message: the ratio is the connector's cost); the fetch + parse row is the connector without embedding or store; the delay rows time a new INBOX mail until it is found by search, with IDLE as under `serve`, against an incremental sync started at once. The `ask` rows ask five single-fact questions of the sample workspace in turn (as users do: the model keeps only the fixed instruction from one to the next), and compare the time from the request to the first token with llama.cpp alone on the very prompts the answers sent, each from a fresh context, on the thread count the answers ran with (`bench --only ask` re-measures them).\n"
    );
    let md = to_markdown(&rows, &header);
    match args.output {
        Some(p) => {
            std::fs::write(&p, &md).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("bench: table written to {}", p.display());
            print!("{md}");
        }
        None => print!("{md}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_rows_replace_their_group_where_it_was() {
        let existing = "# B\n\n| group | what | ours | baseline | ratio |\n|---|---|---|---|---|\n| search | s | 1 | 2 | 3 |\n| ask | old | 1 | 2 | 3 |\n| gateway | old | 1 | 2 | 3 |\n| sources | x | 1 | 2 | 3 |\n";
        let row = |group: &'static str, what: &str| Row {
            group,
            what: what.into(),
            ours: "o".into(),
            baseline: "b".into(),
            ratio: "r".into(),
        };
        let out = merge(existing, &["ask".into(), "gateway".into()], &[row("ask", "new"), row("gateway", "new")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[4..],
            [
                "| search | s | 1 | 2 | 3 |",
                "| ask | new | o | b | r |",
                "| gateway | new | o | b | r |",
                "| sources | x | 1 | 2 | 3 |"
            ]
        );
        let out = merge(existing, &["http".into()], &[row("http", "h")]);
        assert!(out.ends_with("| sources | x | 1 | 2 | 3 |\n| http | h | o | b | r |\n"), "{out}");
    }
}
