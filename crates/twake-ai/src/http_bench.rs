//! `twake-ai bench --http`: requests/s and latency of `/api/v1/search` and
//! `/v1/embeddings` under 1, 8 and 64 concurrent clients, sent from this
//! process to a `twake-ai serve` child process, side by side with the same
//! calls made in-process, so the HTTP overhead is a ratio.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::measure::Row;
use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use twake_core::ingest::IngestOptions;
use twake_core::{Config, Principal, Workspace};

pub(crate) const QUERIES: &[&str] = &[
    "date de bascule Lyon",
    "network switches delivery",
    "jours de télétravail",
    "password length",
    "budget infrastructure 2027",
    "plan de retour arrière",
    "laptop first day",
    "formation RGPD",
];

/// What a request got back: its status and its `Retry-After` (seconds).
pub(crate) struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
}

/// One HTTP/1.1 request on a kept-alive connection.
pub(crate) async fn post(conn: &mut BufStream<TcpStream>, path: &str, key: &str, body: &str) -> Result<Reply> {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await?;
    conn.flush().await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
    let (mut len, mut retry_after) = (0usize, None);
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse()?;
        } else if let Some(v) = lower.strip_prefix("retry-after:") {
            retry_after = v.trim().parse().ok();
        }
    }
    let mut buf = vec![0u8; len];
    conn.read_exact(&mut buf).await?;
    Ok(Reply { status, retry_after })
}

struct Measure {
    rps: f64,
    p50: f64,
    p99: f64,
}

/// Waits for every client's latencies and summarises them.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Result<Vec<f64>>>>, started: Instant) -> Result<Measure> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(summarize(all, started.elapsed().as_secs_f64()))
}

fn summarize(mut lat: Vec<f64>, wall: f64) -> Measure {
    lat.sort_by(f64::total_cmp);
    let at = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Measure { rps: lat.len() as f64 / wall, p50: at(0.5), p99: at(0.99) }
}

type Body = Arc<dyn Fn(usize) -> String + Send + Sync>;

async fn http_load(
    port: u16,
    key: &str,
    path: &'static str,
    body: &Body,
    clients: usize,
    total: usize,
) -> Result<Measure> {
    let started = Instant::now();
    let per = total.div_ceil(clients);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let key = key.to_string();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = BufStream::new(TcpStream::connect(("127.0.0.1", port)).await?);
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                let status = post(&mut conn, path, &key, &body(c * per + i)).await?.status;
                if status != 200 {
                    bail!("{path} answered {status}");
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    gather(tasks, started).await
}

async fn inprocess_load(ws: Arc<Workspace>, embed: bool, clients: usize, total: usize) -> Result<Measure> {
    let started = Instant::now();
    let per = total.div_ceil(clients);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let ws = ws.clone();
        tasks.push(tokio::spawn(async move {
            let pass = ws.pass_for(&Principal::parse("alice@valmont.fr").expect("valid")).await?;
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let q = QUERIES[(c * per + i) % QUERIES.len()];
                let t = Instant::now();
                if embed {
                    ws.embedder().embed_counted(vec![q.to_string()]).await?;
                } else {
                    ws.search(q, &pass, 5).await?;
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    gather(tasks, started).await
}

pub(crate) struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(
    config: &Config,
    sample: &Path,
    clients: &[usize],
    total: usize,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Row>> {
    let dir = std::env::temp_dir().join(format!("twake-http-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let ws = Arc::new(Workspace::open(&data, config.clone()).await?);
    let alice = Principal::parse("alice@valmont.fr")?;
    ws.ingest(&[sample.to_path_buf()], &IngestOptions::readers(vec![alice.clone()]), &mut |_| {}).await?;
    let (_, key) = ws.create_key(&alice, "bench").await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    log(&format!("starting twake-ai serve on 127.0.0.1:{port}"));
    let child = Command::new(std::env::current_exe()?)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("TWAKE_AI__SERVER__REQUESTS_PER_MINUTE", "0")
        .stderr(Stdio::null())
        .spawn()?;
    let _server = KillOnDrop(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the server did not start");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let embed_model = ws.embedder().name().trim_end_matches(".gguf").to_string();
    let embed_body: Body =
        Arc::new(move |i| format!(r#"{{"model":"{embed_model}","input":"{}"}}"#, QUERIES[i % QUERIES.len()]));
    let search_body: Body = Arc::new(|i| format!(r#"{{"query":"{}","k":5}}"#, QUERIES[i % QUERIES.len()]));

    let mut rows = Vec::new();
    for (route, body, embed) in [("/api/v1/search", search_body, false), ("/v1/embeddings", embed_body, true)] {
        let body: Body = body;
        for &c in clients {
            log(&format!("{route} with {c} client(s)"));
            // Warm up both paths.
            http_load(port, &key, route, &body, 1, 4).await?;
            inprocess_load(ws.clone(), embed, 1, 4).await?;
            let h = http_load(port, &key, route, &body, c, total.max(c)).await?;
            let p = inprocess_load(ws.clone(), embed, c, total.max(c)).await?;
            rows.push(Row {
                group: "http",
                what: format!(
                    "POST {route}, {c} concurrent client(s), {} requests: over HTTP vs in-process",
                    total.max(c)
                ),
                ours: format!("{:.0} req/s, p50 {:.1} ms, p99 {:.1} ms", h.rps, h.p50, h.p99),
                baseline: format!("{:.0} req/s, p50 {:.1} ms, p99 {:.1} ms", p.rps, p.p50, p.p99),
                ratio: format!("{:.2}", h.rps / p.rps),
            });
        }
    }
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
