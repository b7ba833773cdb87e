//! `twake-ai bench`: runs the benchmarks of `twake_core::bench` and writes
//! their table.

use std::path::PathBuf;

use anyhow::{Context, Result};
use twake_core::Config;
use twake_core::bench::{BenchOptions, run as run_bench, to_markdown};

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
    /// Number of `ask` runs (0 skips the model benchmark).
    #[arg(long, default_value_t = 3)]
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
}

pub async fn run(args: BenchArgs, config: Config) -> Result<()> {
    let opts = BenchOptions {
        sizes: args.sizes,
        queries: args.queries,
        messages: args.messages,
        pages: args.pages,
        ask_runs: args.ask_runs,
        audit_records: args.audit_records,
    };
    let mut log = |m: &str| eprintln!("bench: {m}");
    let mut rows = run_bench(&config, &args.sample, &opts, &mut log).await?;
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
        "# Benchmarks\n\nWritten by `twake-ai bench` (`make bench`). Machine: {cpu}, {cores} cores (shared with other work: compare ratios, not absolute numbers). Medians (p50) and p99 over repeated runs; each TwakeAI figure is measured in the same run as its baseline.\n\nNotes: ingestion is bound by the embedding model (the whole pipeline runs at the embedder's own speed). The dense index is exact (int8 query × int8 vectors); its baseline is an f32 brute-force scan of the same vectors. The `http` rows send requests from this process to a `twake-ai serve` child process; the in-process baseline runs the same calls in this process. The server has its own model threads, so on 2 cores shared with the load generator a ratio above 1 can happen: read them as \"HTTP costs little\", not as exact overheads. The `access` rows search as users who can read 100 %, 10 % and 1 % of the chunks (through a group, as in production) against the same index searched unfiltered (a system pass); the filter is applied inside the scan (vectors) and as a zero-score clause of the query (BM25), so the filtered top-10 is exact: recall@10 is measured against an exact f32 search over the readable chunks alone (below 1 only by int8 rounding).\n"
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
