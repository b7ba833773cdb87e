//! `twake-ai load`: many concurrent clients against a `twake-ai serve`
//! child process for a bounded time — a third on `/api/v1/search`, a third
//! on `/api/v1/ask`, a third on the OpenAI `/v1/chat/completions` — as
//! several users, with the server's own limits. It holds when every answer
//! is a 200 or a *fast* refusal (429 or 503 with `Retry-After`), nothing
//! else (no 5xx, no dropped connection, no request left hanging), and the
//! server's memory does not grow over the second half of the run.
//! Prints a Markdown table; exit code 1 when it does not hold.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use twake_core::ingest::IngestOptions;
use twake_core::{Config, Principal, Workspace};

use crate::http_bench::{KillOnDrop, QUERIES, Reply, post};

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 256])]
    clients: Vec<usize>,
    /// How long each run sends requests.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Distinct users the clients are spread over (each has its key).
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// The files the users search and ask about.
    #[arg(long, default_value = "examples/workspace/shared")]
    sample: PathBuf,
    /// A refusal slower than this many milliseconds (p99) fails the run.
    #[arg(long, default_value_t = 1000)]
    refusal_p99_ms: u64,
}

const ROUTES: [&str; 3] = ["/api/v1/search", "/api/v1/ask", "/v1/chat/completions"];
/// A request not answered within this is counted as an error (hung).
const TIMEOUT: Duration = Duration::from_secs(300);

fn body(route: usize, i: usize) -> String {
    let q = QUERIES[i % QUERIES.len()];
    match route {
        0 => serde_json::json!({ "query": q, "k": 5 }),
        1 => serde_json::json!({ "question": format!("{q} ?") }),
        _ => serde_json::json!({ "model": "twake-ai", "messages": [{ "role": "user", "content": format!("{q} ?") }] }),
    }
    .to_string()
}

#[derive(Default)]
struct Tally {
    ok: Vec<f64>,
    refused_429: usize,
    refused_503: usize,
    refusals: Vec<f64>,
    errors: Vec<String>,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

/// One client: requests on one kept-alive connection until `until`.
async fn client(port: u16, key: String, route: usize, seed: usize, until: Instant, tally: Arc<Mutex<[Tally; 3]>>) {
    let mut conn: Option<BufStream<TcpStream>> = None;
    let mut i = seed;
    while Instant::now() < until {
        i += 1;
        let t = Instant::now();
        let reply: Result<Reply> = async {
            if conn.is_none() {
                conn = Some(BufStream::new(TcpStream::connect(("127.0.0.1", port)).await?));
            }
            let c = conn.as_mut().expect("just set");
            match tokio::time::timeout(TIMEOUT, post(c, ROUTES[route], &key, &body(route, i))).await {
                Ok(r) => r,
                Err(_) => bail!("no answer within {} s", TIMEOUT.as_secs()),
            }
        }
        .await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut pause = Duration::ZERO;
        {
            let mut all = tally.lock().unwrap_or_else(|e| e.into_inner());
            let tl = &mut all[route];
            match reply {
                Ok(Reply { status: 200, .. }) => tl.ok.push(ms),
                Ok(Reply { status: s @ (429 | 503), retry_after: Some(_) }) => {
                    if s == 429 {
                        tl.refused_429 += 1;
                    } else {
                        tl.refused_503 += 1;
                    }
                    tl.refusals.push(ms);
                    // A client that was told to wait does not spin.
                    pause = Duration::from_millis(200);
                }
                Ok(Reply { status, retry_after }) => {
                    tl.errors.push(format!("{} answered {status} (Retry-After {retry_after:?})", ROUTES[route]));
                    conn = None;
                }
                Err(e) => {
                    tl.errors.push(format!("{}: {e:#}", ROUTES[route]));
                    conn = None;
                }
            }
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

pub async fn run(args: LoadArgs, config: Config) -> Result<bool> {
    let dir = std::env::temp_dir().join(format!("twake-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let users: Vec<Principal> = (0..args.users.max(1))
        .map(|u| Principal::parse(&format!("user{u:02}@valmont.fr")))
        .collect::<Result<_, _>>()?;
    let mut keys = Vec::new();
    {
        let ws = Workspace::open(&data, config).await?;
        let report =
            ws.ingest(std::slice::from_ref(&args.sample), &IngestOptions::readers(users.clone()), &mut |_| {}).await?;
        if report.documents == 0 {
            bail!("nothing ingested from {}: give --sample a folder of documents", args.sample.display());
        }
        for u in &users {
            keys.push(ws.create_key(u, "load").await?.1);
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    eprintln!("starting twake-ai serve on 127.0.0.1:{port} (the server's own limits apply)");
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--sync-every", "0", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut server = KillOnDrop(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if started.elapsed() > Duration::from_secs(180) || server.0.try_wait()?.is_some() {
            bail!("the server did not start");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Warm up: one of each, as one user.
    let mut warm = BufStream::new(TcpStream::connect(("127.0.0.1", port)).await?);
    for (i, route) in ROUTES.iter().enumerate() {
        let r = post(&mut warm, route, &keys[0], &body(i, 0)).await?;
        if r.status != 200 {
            bail!("warm-up: {route} answered {}", r.status);
        }
    }
    drop(warm);

    println!("| clients | route | answered (200) | p50 / p99 of answers | 429 | 503 | p99 of refusals | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut held = true;
    let mut rss: Vec<f64> = Vec::new();
    let mut problems = Vec::new();
    for &clients in &args.clients {
        let tally = Arc::new(Mutex::new([Tally::default(), Tally::default(), Tally::default()]));
        let until = Instant::now() + Duration::from_secs(args.seconds);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let key = keys[c % keys.len()].clone();
            tasks.push(tokio::spawn(client(port, key, c % 3, c * 7, until, tally.clone())));
        }
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let sampler = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(mb) = rss_mb(pid) {
                seen.push(mb);
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            seen
        });
        for t in tasks {
            t.await.context("a client task failed")?;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        rss.extend(sampler.await.unwrap_or_default());
        let mut all = tally.lock().unwrap_or_else(|e| e.into_inner());
        for (route, tl) in all.iter_mut().enumerate() {
            let refusal_p99 = pct(&mut tl.refusals, 0.99);
            println!(
                "| {clients} | `{}` | {} | {:.0} / {:.0} ms | {} | {} | {} | {} |",
                ROUTES[route],
                tl.ok.len(),
                pct(&mut tl.ok, 0.5),
                pct(&mut tl.ok, 0.99),
                tl.refused_429,
                tl.refused_503,
                if refusal_p99.is_nan() { "—".to_string() } else { format!("{refusal_p99:.0} ms") },
                tl.errors.len()
            );
            if !tl.errors.is_empty() {
                held = false;
                problems.push(format!("{} clients: {}", clients, tl.errors[0]));
            }
            if refusal_p99 > args.refusal_p99_ms as f64 {
                held = false;
                problems.push(format!("{clients} clients, {}: refusals p99 {refusal_p99:.0} ms", ROUTES[route]));
            }
        }
        // Searches are never held back by the model; generations share it,
        // so under saturation one of the two generation routes may get
        // nothing but refusals in a short run — not both.
        if all[0].ok.is_empty() || all[1].ok.len() + all[2].ok.len() == 0 {
            held = false;
            problems.push(format!("{clients} clients: no search, or no generation at all, was answered"));
        }
    }
    // Memory: the second half of the whole run against its middle.
    let mid = rss.get(rss.len() / 2).copied().unwrap_or(f64::NAN);
    let end = rss.last().copied().unwrap_or(f64::NAN);
    let max = rss.iter().copied().fold(0.0, f64::max);
    let first = rss.first().copied().unwrap_or(f64::NAN);
    println!();
    println!(
        "server memory (RSS): {first:.0} MB at the start, {mid:.0} MB half-way, {end:.0} MB at the end, {max:.0} MB at most"
    );
    if end > mid * 1.10 + 32.0 {
        held = false;
        problems.push(format!("memory grew over the second half: {mid:.0} MB → {end:.0} MB"));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    for p in &problems {
        eprintln!("did not hold: {p}");
    }
    println!("{}", if held { "held" } else { "DID NOT HOLD" });
    Ok(held)
}
