//! Benchmarks (not tests): each figure is measured side by side with a
//! baseline in the same run, and reported as medians and ratios, since
//! these machines are shared and noisy.

use std::path::Path;
use std::time::Instant;

use twake_index::{ChunkAccess, FlatIndex, TantivyIndex, quantize};
use twake_types::{AccessPass, Principal};

use twake_core::ingest::IngestOptions;
use twake_core::{Config, Result, Workspace};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub sizes: Vec<usize>,
    pub queries: usize,
    pub messages: usize,
    pub pages: usize,
    pub ask_runs: usize,
    /// Provenance records appended and verified (0 skips it).
    pub audit_records: usize,
    /// Only these groups (`ingestion`, `search`, `audit`, `ask` — which
    /// also writes the `gateway` row); empty: all.
    pub only: Vec<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            sizes: vec![10_000, 100_000],
            queries: 200,
            messages: 100,
            pages: 40,
            ask_runs: 2,
            audit_records: 2_000,
            only: vec![],
        }
    }
}

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub group: &'static str,
    pub what: String,
    pub ours: String,
    pub baseline: String,
    pub ratio: String,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A tiny deterministic generator (xorshift) so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() % 20_000) as f32 / 10_000.0 - 1.0
    }
}

const WORDS: &[&str] = &[
    "migration",
    "datacenter",
    "Lyon",
    "budget",
    "réunion",
    "projet",
    "serveur",
    "réseau",
    "sauvegarde",
    "calendrier",
    "décision",
    "contrat",
    "livraison",
    "formation",
    "sécurité",
    "accès",
    "planning",
    "rapport",
    "équipe",
    "client",
    "delivery",
    "meeting",
    "network",
    "backup",
    "schedule",
    "security",
    "contract",
    "report",
    "team",
    "decision",
    "mars",
    "février",
    "janvier",
    "avril",
    "Grenoble",
    "Vénissieux",
    "facture",
    "licence",
    "stockage",
    "messagerie",
];

fn sentence(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| WORDS[(rng.next() % WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

fn unit(rng: &mut Rng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| rng.f32()).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// One synthetic message (`\n` line ends).
fn synthetic_message(rng: &mut Rng, i: usize) -> String {
    format!(
        "From: A <a@valmont.fr>\nTo: b@valmont.fr\nSubject: Point {i} {}\nMessage-ID: <bench-{i}@valmont.fr>\nDate: Mon, 2 Nov 2026 09:12:00 +0100\nContent-Type: text/plain; charset=UTF-8\n\n{}.\n{}.\n",
        sentence(rng, 3),
        sentence(rng, 40),
        sentence(rng, 40)
    )
}

/// A synthetic mbox of `n` messages.
pub fn synthetic_mbox(n: usize) -> String {
    let mut rng = Rng(7);
    (0..n)
        .map(|i| format!("From a@valmont.fr Mon Nov  2 09:12:00 2026\n{}\n", synthetic_message(&mut rng, i)))
        .collect()
}

/// A synthetic PDF of `pages` pages with a text layer.
pub fn synthetic_pdf(pages: usize) -> Vec<u8> {
    let mut rng = Rng(11);
    let mut objs: Vec<Vec<u8>> = vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()];
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objs.push(format!("<< /Type /Pages /Kids [{}] /Count {pages} >>", kids.join(" ")).into_bytes());
    objs.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    for i in 0..pages {
        let mut content = String::from("BT /F1 11 Tf 72 760 Td 14 TL\n");
        for _ in 0..20 {
            let line: String = sentence(&mut rng, 10).chars().filter(|c| c.is_ascii()).collect();
            content.push_str(&format!("({line}) Tj T*\n"));
        }
        content.push_str("ET");
        objs.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>", 5 + 2 * i).into_bytes());
        objs.push(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes());
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", n + 1).bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1).bytes());
    out
}

/// Runs every benchmark; `log` reports progress.
pub async fn run(config: &Config, sample: &Path, opts: &BenchOptions, log: &mut dyn FnMut(&str)) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let tmp = std::env::temp_dir().join(format!("twake-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
    let alice = Principal::parse("alice@valmont.fr").expect("valid");

    let ws = Workspace::open(&tmp.join("data"), config.clone()).await?;
    let ingest_opts = IngestOptions::readers(vec![alice.clone()]);
    let wants = |g: &str| opts.only.is_empty() || opts.only.iter().any(|o| o == g);
    if wants("ingestion") {
        // --- Ingestion: end to end (with embeddings) vs extraction alone. ---
        log("ingestion");
        let mbox = tmp.join("bench.mbox");
        std::fs::write(&mbox, synthetic_mbox(opts.messages))
            .map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
        let pdf = tmp.join("bench.pdf");
        std::fs::write(&pdf, synthetic_pdf(opts.pages)).map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
        for (path, unit, n, format) in [
            (&mbox, "messages", opts.messages, twake_extract::Format::Mbox),
            (&pdf, "pages", opts.pages, twake_extract::Format::Pdf),
        ] {
            let bytes = std::fs::read(path).map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
            let t = Instant::now();
            let ex = twake_extract::extract(format, "bench", &bytes)
                .map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
            let chunks: usize = ex.documents.iter().map(|d| twake_extract::chunk_document(d).len()).sum();
            let parse_s = t.elapsed().as_secs_f64();
            // Baseline: the embedding model alone on the same passages, in one
            // call: no parsing, no store, no index.
            let texts: Vec<String> = ex
                .documents
                .iter()
                .flat_map(|d| {
                    twake_extract::chunk_document(d)
                        .into_iter()
                        .map(|c| format!("passage: {}", twake_core::ingest::index_text(&d.title, &c.text)))
                        .collect::<Vec<_>>()
                })
                .collect();
            let t = Instant::now();
            ws.embedder().embed(texts).await?;
            let embed_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            ws.ingest(std::slice::from_ref(path), &ingest_opts, &mut |_| {}).await?;
            let full_s = t.elapsed().as_secs_f64();
            rows.push(Row {
            group: "ingestion",
            what: format!(
                "{} ({n} {unit}, {chunks} chunks): whole ingest vs embedding alone (parse + chunk alone: {:.0} {unit}/s)",
                format.name(),
                n as f64 / parse_s
            ),
            ours: format!("{:.1} {unit}/s", n as f64 / full_s),
            baseline: format!("{:.1} {unit}/s", n as f64 / embed_s),
            ratio: format!("{:.2}", embed_s / full_s),
        });
        }
    }

    if wants("search") {
        // --- Search latency at N chunks. ---
        let dim = ws.embedder().dim();
        let mut q_embed = Vec::new();
        for i in 0..10 {
            let t = Instant::now();
            ws.embedder().embed_query(&format!("date de la bascule {i}")).await?;
            q_embed.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        rows.push(Row {
            group: "search",
            what: "query embedding (e5-small, 1 query)".into(),
            ours: format!("p50 {:.1} ms", pct(&mut q_embed.clone(), 0.5)),
            baseline: "—".into(),
            ratio: "—".into(),
        });
        for &n in &opts.sizes {
            log(&format!("search at {n} chunks"));
            let mut rng = Rng(42 + n as u64);
            let readers: [Vec<String>; 3] = [
                vec!["alice@valmont.fr".into()],
                vec!["bob@valmont.fr".into()],
                vec!["alice@valmont.fr".into(), "bob@valmont.fr".into()],
            ];
            // Users who can read 100 %, 10 % and 1 % of the chunks, through a
            // group each (the chunks carry the groups, the passes expand them).
            let tenant = twake_types::Tenant::default();
            let mut dir = twake_types::Directory::default();
            let share = [
                ("group:all", "all@valmont.fr", 1),
                ("group:tenth", "tenth@valmont.fr", 10),
                ("group:hundredth", "hundredth@valmont.fr", 100),
            ];
            for (g, u, _) in share {
                dir.add_membership(&tenant, Principal::parse(g).expect("valid"), Principal::parse(u).expect("valid"));
            }
            let mut readable: [Vec<usize>; 3] = Default::default();
            let mut flat = FlatIndex::new(dim);
            let mut raw: Vec<f32> = Vec::with_capacity(n * dim);
            let lex_dir = tmp.join(format!("lex-{n}"));
            let mut lex = TantivyIndex::open(&lex_dir)?;
            for i in 0..n {
                let v = unit(&mut rng, dim);
                let (s, q) = quantize(&v);
                let mut r = readers[i % 3].clone();
                for (j, (g, _, every)) in share.iter().enumerate() {
                    if i % every == 0 {
                        r.push(g.to_string());
                        readable[j].push(i);
                    }
                }
                let at = ChunkAccess { chunk_id: i as i64, doc_id: i as i64, tenant: tenant.as_str(), readers: &r };
                flat.insert(at, s, &q)?;
                raw.extend_from_slice(&v);
                lex.add(at, &sentence(&mut rng, 60))?;
            }
            lex.commit()?;
            let pass = AccessPass::for_user(&dir, alice.clone());
            let (mut t_dense, mut t_f32, mut t_lex, mut t_hybrid) = (vec![], vec![], vec![], vec![]);
            for _ in 0..opts.queries {
                let q = unit(&mut rng, dim);
                let text = sentence(&mut rng, 4);
                let t = Instant::now();
                let d = flat.search(&q, &pass, 50)?;
                t_dense.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let mut best: Vec<(f32, usize)> = raw
                    .chunks_exact(dim)
                    .enumerate()
                    .filter(|(i, _)| i % 3 != 1)
                    .map(|(i, row)| (row.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), i))
                    .collect();
                let nth = 49.min(best.len() - 1);
                best.select_nth_unstable_by(nth, |a, b| b.0.total_cmp(&a.0));
                t_f32.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let l = lex.search(&text, &pass, 50)?;
                t_lex.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                let d2 = flat.search(&q, &pass, 50)?;
                let l2 = lex.search(&text, &pass, 50)?;
                let _ = twake_core::retrieve::search::fuse(
                    &d2,
                    &l2,
                    config.retrieval.fusion,
                    config.retrieval.lexical_weight,
                    config.retrieval.rrf_k,
                );
                t_hybrid.push(t.elapsed().as_secs_f64() * 1000.0);
                let _ = (d, l);
            }
            let (d50, d99, f50, f99) =
                (pct(&mut t_dense, 0.5), pct(&mut t_dense, 0.99), pct(&mut t_f32, 0.5), pct(&mut t_f32, 0.99));
            rows.push(Row {
                group: "search",
                what: format!("{n} chunks, dense top-50 filtered (int8 exact) vs f32 brute force"),
                ours: format!("p50 {d50:.2} ms, p99 {d99:.2} ms"),
                baseline: format!("p50 {f50:.2} ms, p99 {f99:.2} ms"),
                ratio: format!("{:.2}", f50 / d50),
            });
            rows.push(Row {
                group: "search",
                what: format!("{n} chunks, lexical BM25 top-50 filtered (tantivy)"),
                ours: format!("p50 {:.2} ms, p99 {:.2} ms", pct(&mut t_lex, 0.5), pct(&mut t_lex, 0.99)),
                baseline: "—".into(),
                ratio: "—".into(),
            });
            rows.push(Row {
                group: "search",
                what: format!("{n} chunks, hybrid (dense + lexical + fusion, without query embedding)"),
                ours: format!("p50 {:.2} ms, p99 {:.2} ms", pct(&mut t_hybrid, 0.5), pct(&mut t_hybrid, 0.99)),
                baseline: "—".into(),
                ratio: "—".into(),
            });
            // Filtered search at 100 %, 10 % and 1 % readable vs unfiltered,
            // and recall@10 of the filtered int8 search against exact f32
            // search over the readable subset alone.
            let system = AccessPass::system("benchmark baseline: unfiltered search");
            let queries: Vec<(Vec<f32>, String)> =
                (0..opts.queries).map(|_| (unit(&mut rng, dim), sentence(&mut rng, 4))).collect();
            let (mut u_dense, mut u_lex) = (vec![], vec![]);
            for (q, text) in &queries {
                let t = Instant::now();
                flat.search(q, &system, 10)?;
                u_dense.push(t.elapsed().as_secs_f64() * 1000.0);
                let t = Instant::now();
                lex.search(text, &system, 10)?;
                u_lex.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let (u_dense50, u_lex50) = (pct(&mut u_dense, 0.5), pct(&mut u_lex, 0.5));
            for (j, (_, user, every)) in share.iter().enumerate() {
                let pass = AccessPass::for_user(&dir, Principal::parse(user).expect("valid"));
                let (mut fd, mut fl, mut recall) = (vec![], vec![], vec![]);
                for (q, text) in &queries {
                    let t = Instant::now();
                    let got = flat.search(q, &pass, 10)?;
                    fd.push(t.elapsed().as_secs_f64() * 1000.0);
                    let t = Instant::now();
                    lex.search(text, &pass, 10)?;
                    fl.push(t.elapsed().as_secs_f64() * 1000.0);
                    let mut exact: Vec<(f32, usize)> = readable[j]
                        .iter()
                        .map(|&i| (raw[i * dim..(i + 1) * dim].iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i))
                        .collect();
                    exact.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let truth: Vec<i64> = exact.iter().take(10).map(|e| e.1 as i64).collect();
                    let hit = got.iter().filter(|g| truth.contains(&g.0)).count();
                    recall.push(hit as f64 / truth.len().max(1) as f64);
                }
                let (d50, l50) = (pct(&mut fd, 0.5), pct(&mut fl, 0.5));
                let share_pct = 100 / every;
                let mean_recall = recall.iter().sum::<f64>() / recall.len().max(1) as f64;
                rows.push(Row {
                group: "access",
                what: format!("{n} chunks, asker reads {share_pct} %: dense top-10 filtered vs unfiltered (recall@10 vs exact filtered f32: {mean_recall:.3})"),
                ours: format!("p50 {d50:.2} ms"),
                baseline: format!("p50 {u_dense50:.2} ms"),
                ratio: format!("{:.2}", u_dense50 / d50),
            });
                rows.push(Row {
                    group: "access",
                    what: format!("{n} chunks, asker reads {share_pct} %: lexical top-10 filtered vs unfiltered"),
                    ours: format!("p50 {l50:.2} ms"),
                    baseline: format!("p50 {u_lex50:.2} ms"),
                    ratio: format!("{:.2}", u_lex50 / l50),
                });
            }
            let _ = std::fs::remove_dir_all(&lex_dir);
        }
    }

    if wants("audit") {
        // --- Provenance log: append (hash + sign + insert) vs insert alone,
        // and verification speed. ---
        log("audit log");
        let n_audit = opts.audit_records;
        if n_audit > 0 {
            let record = |i: usize| twake_core::policy::audit::AuditRecord {
                seq: 0,
                at: 1_795_910_400 + i as i64,
                user: "alice@valmont.fr".into(),
                tenant: "default".into(),
                question_sha256: twake_core::policy::audit::sha256_hex(format!("q{i}").as_bytes()),
                passages: (0..4)
                    .map(|p| twake_core::policy::audit::AuditPassage {
                        chunk_id: p,
                        path: format!("docs/file-{p}.pdf"),
                        locator: format!("page {p}"),
                        sensitivity: "internal".into(),
                        content_sha256: twake_core::policy::audit::sha256_hex(format!("{i}-{p}").as_bytes()),
                    })
                    .collect(),
                model: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf".into(),
                endpoint: "embedded".into(),
                jurisdiction: "local".into(),
                decision: "allowed".into(),
                pseudonymisation: "none".into(),
                prompt_tokens: 900,
                completion_tokens: 80,
                answered: true,
                prev_hash: String::new(),
            };
            let t = Instant::now();
            for i in 0..n_audit {
                ws.audit_append(record(i)).await?;
            }
            let append_s = t.elapsed().as_secs_f64();
            // Baseline: the same rows inserted into another store, already
            // sealed (no hashing, no signing, no chain lookup).
            let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
            let sealed: Vec<_> = (0..n_audit)
                .map(|i| {
                    let mut r = record(i);
                    r.seq = i as i64 + 1;
                    twake_core::policy::audit::seal(&r, &key)
                })
                .collect();
            let other = twake_index::SqliteStore::open(&tmp.join("audit-baseline.db")).await?;
            let t = Instant::now();
            for row in &sealed {
                other.audit_append(row, "head").await?;
            }
            let insert_s = t.elapsed().as_secs_f64();
            rows.push(Row {
                group: "audit",
                what: format!(
                    "append {n_audit} provenance records (hash chain + Ed25519 + SQLite) vs SQLite insert alone"
                ),
                ours: format!("{:.0} records/s", n_audit as f64 / append_s),
                baseline: format!("{:.0} records/s", n_audit as f64 / insert_s),
                ratio: format!("{:.2}", insert_s / append_s),
            });
            let t = Instant::now();
            let v = ws.audit_verify(None).await?;
            let verify_s = t.elapsed().as_secs_f64();
            if !v.problems.is_empty() {
                return Err(twake_core::CoreError::Other(format!(
                    "benchmark log does not verify: {:?}",
                    v.problems[0]
                )));
            }
            rows.push(Row {
                group: "audit",
                what: format!("verify {} records (chain + every signature, offline)", v.records),
                ours: format!("{:.0} records/s", v.records as f64 / verify_s),
                baseline: "—".into(),
                ratio: "—".into(),
            });
        }
    }

    if wants("ask") {
        // --- ask: time to the sources, to the first token and to the whole
        // answer, against llama.cpp alone on the same prompts. ---
        if opts.ask_runs > 0 {
            log("ask on the sample workspace");
            let ws2 = Workspace::open(&tmp.join("sample"), config.clone()).await?;
            ws2.ingest(&[sample.to_path_buf()], &ingest_opts, &mut |_| {}).await?;
            let pass = ws2.pass_for(&alice).await?;
            let (mut sources, mut ttft, mut tps, mut total, mut prompts, mut threads) =
                (vec![], vec![], vec![], vec![], vec![], vec![]);
            let mut prompt_text = String::new();
            let mut tokens = vec![];
            // Different single-fact questions in turn, as users ask them: the
            // model keeps only the fixed instruction from one to the next.
            for round in 0..opts.ask_runs {
                for question in ASK_QUESTIONS {
                    let t = Instant::now();
                    let mut at_sources = None;
                    let a = ws2
                        .ask(question, &pass, &mut |ev| {
                            if let twake_core::retrieve::answer::AnswerEvent::Sources(_) = ev {
                                at_sources.get_or_insert(t.elapsed().as_secs_f64() * 1000.0);
                            }
                        })
                        .await?;
                    total.push(t.elapsed().as_secs_f64());
                    sources.extend(at_sources);
                    ttft.extend(a.first_token_ms);
                    if let Some(s) = &a.stats {
                        tps.push(s.tokens_per_second());
                        threads.push(s.threads);
                        tokens.push(s.prompt_tokens as f64);
                    }
                    if round == 0 && !a.prompt.is_empty() {
                        if prompt_text.is_empty() {
                            prompt_text = a.prompt.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n");
                        }
                        prompts.push(a.prompt);
                    }
                }
            }
            let model_path = twake_core::engine::models::resolve(&config.models.chat, &config.models.dir());
            // The baseline runs with the count the answers ran with.
            threads.sort_unstable();
            let used = threads.get(threads.len() / 2).copied().unwrap_or_else(|| config.models.threads());
            log("raw llama.cpp baseline on the same prompts");
            let raw =
                tokio::task::spawn_blocking(move || twake_llm::raw_chat_benchmark(&model_path, used, &prompts, 64))
                    .await
                    .map_err(|e| twake_core::CoreError::Other(e.to_string()))??;
            let mut raw_ttft: Vec<f64> = raw.iter().map(|r| r.first_token_ms).collect();
            let mut raw_tps: Vec<f64> = raw.iter().map(|r| r.tokens_per_second).collect();
            let raw_prompt_speed = raw.iter().map(|r| r.prompt_tokens as f64).sum::<f64>()
                / raw.iter().map(|r| r.first_token_ms / 1000.0).sum::<f64>();
            let ours = pct(&mut tps, 0.5);
            let raw_gen = pct(&mut raw_tps, 0.5);
            let n_asks = opts.ask_runs * ASK_QUESTIONS.len();
            rows.push(Row {
                group: "ask",
                what: format!(
                    "generation speed, {} ({used} thread(s)), median of {n_asks} asks vs raw llama.cpp decode",
                    config.models.chat
                ),
                ours: format!("{ours:.1} tokens/s"),
                baseline: format!("{raw_gen:.1} tokens/s"),
                ratio: format!("{:.2}", ours / raw_gen),
            });
            rows.push(Row {
                group: "ask",
                what: format!(
                    "sources shown (retrieval, passages chosen), {} single-fact questions",
                    ASK_QUESTIONS.len()
                ),
                ours: format!("p50 {:.2} s", pct(&mut sources, 0.5) / 1000.0),
                baseline: "—".into(),
                ratio: "—".into(),
            });
            let (ours_ttft, raw_first) = (pct(&mut ttft, 0.5), pct(&mut raw_ttft, 0.5));
            rows.push(Row {
            group: "ask",
            what: format!(
                "time to first token from the request (retrieval + prompt of ~{:.0} tokens) vs llama.cpp alone on the same prompts from a fresh context",
                pct(&mut tokens, 0.5)
            ),
            ours: format!("p50 {:.1} s", ours_ttft / 1000.0),
            baseline: format!("p50 {:.1} s ({raw_prompt_speed:.0} prompt tokens/s)", raw_first / 1000.0),
            ratio: format!("{:.2}", raw_first / ours_ttft),
        });
            let whole = pct(&mut total, 0.5);
            rows.push(Row {
                group: "ask",
                what: "whole ask (retrieval, generation, citation checks)".into(),
                ours: format!("p50 {whole:.1} s"),
                baseline: "—".into(),
                ratio: "—".into(),
            });
            // What pseudonymising a prompt for a model outside the perimeter
            // adds to a request, next to the model call it precedes.
            let mut ps = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let mut p = ws2.pseudonymiser(&pass).await?;
                let out = p.pseudonymise(&prompt_text);
                std::hint::black_box(p.restore(&out));
                ps.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let ps50 = pct(&mut ps, 0.5);
            rows.push(Row {
            group: "gateway",
            what: format!(
                "pseudonymise an ask's prompt ({} chars, tenant's people loaded from the store) and restore, per request, vs the whole ask",
                prompt_text.chars().count()
            ),
            ours: format!("p50 {ps50:.0} µs"),
            baseline: format!("p50 {whole:.1} s"),
            ratio: format!("{:.5} of the ask", ps50 / 1e6 / whole),
        });
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(rows)
}

/// Single-fact questions the `ask` rows ask, in turn.
const ASK_QUESTIONS: [&str; 5] = [
    "Quand a lieu la bascule du datacenter de Lyon ?",
    "When will the network switches be delivered?",
    "Combien de jours de télétravail par semaine sont autorisés ?",
    "Quel est le budget d'infrastructure 2027 ?",
    "Where do new employees get their laptop?",
];

/// The Markdown table written to `docs/BENCHMARKS.md`.
pub fn to_markdown(rows: &[Row], header: &str) -> String {
    let mut s = String::from(header);
    s.push_str("\n| group | what | TwakeAI | baseline | ratio (baseline time ÷ ours, or ours ÷ baseline speed) |\n|---|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.group, r.what, r.ours, r.baseline, r.ratio));
    }
    s
}

/// An IMAP test account the sources benchmark may fill with mail.
#[derive(Debug, Clone)]
pub struct ImapBench {
    pub spec: twake_core::connectors::imap::ImapSpec,
    pub secret: twake_core::engine::http::Secret,
    /// Messages appended, then backfilled.
    pub messages: usize,
    /// New messages whose delay to search is measured, each way.
    pub lag_runs: usize,
}

/// The connected-sources benchmark against a real IMAP server: backfill
/// throughput (with embeddings, against the same messages ingested from an
/// mbox file in the same run; and fetch + parse alone, without embeddings),
/// and the delay from a new INBOX message to its first search hit, with
/// IDLE as under `serve` against an incremental sync started at once.
pub async fn sources(config: &Config, b: &ImapBench, log: &mut dyn FnMut(&str)) -> Result<Vec<Row>> {
    use twake_core::connectors::{Credentials, SourceSpec, imap};
    let err = |e: std::io::Error| twake_core::CoreError::Other(e.to_string());
    let tmp = std::env::temp_dir().join(format!("twake-bench-sources-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(err)?;
    let owner = Principal::parse(&b.spec.owner).map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
    let mut rng = Rng(7);
    let mails: Vec<String> = (0..b.messages).map(|i| synthetic_message(&mut rng, i)).collect();
    log(&format!("sources: appending {} messages to the IMAP test mailbox", b.messages));
    let crlf: Vec<Vec<u8>> = mails.iter().map(|m| m.replace('\n', "\r\n").into_bytes()).collect();
    imap::append_all(&b.spec, &b.secret, "INBOX", &crlf).await?;

    log("sources: the same messages from an mbox file (baseline)");
    let mbox = tmp.join("same.mbox");
    let text: String = mails.iter().map(|m| format!("From a@valmont.fr Mon Nov  2 09:12:00 2026\n{m}\n")).collect();
    std::fs::write(&mbox, text).map_err(err)?;
    let file_ws = Workspace::open(&tmp.join("file"), config.clone()).await?;
    let t = Instant::now();
    file_ws.ingest(std::slice::from_ref(&mbox), &IngestOptions::readers(vec![owner.clone()]), &mut |_| {}).await?;
    let file_rate = b.messages as f64 / t.elapsed().as_secs_f64();
    drop(file_ws);

    log("sources: IMAP fetch and parse alone");
    let t = Instant::now();
    let read = imap::fetch_and_parse(&b.spec, &b.secret, "INBOX").await?;
    let fetch_rate = read as f64 / t.elapsed().as_secs_f64();

    log("sources: IMAP backfill");
    let ws = std::sync::Arc::new(Workspace::open(&tmp.join("imap"), config.clone()).await?);
    let tenant = twake_types::Tenant::default_tenant();
    let source = SourceSpec::Imap(b.spec.clone());
    ws.add_source("bench", &tenant, source, Credentials::Password(b.secret.clone())).await?;
    let t = Instant::now();
    let report = ws.sync_source("bench", &mut |_| {}).await?;
    let sync_rate = report.stored as f64 / t.elapsed().as_secs_f64();
    let mut rows = vec![
        Row {
            group: "sources",
            what: format!(
                "IMAP backfill of {} messages (Dovecot on loopback) vs the same messages ingested from an mbox file",
                report.stored
            ),
            ours: format!("{sync_rate:.1} messages/s"),
            baseline: format!("{file_rate:.1} messages/s"),
            ratio: format!("{:.2}", sync_rate / file_rate),
        },
        Row {
            group: "sources",
            what: format!("IMAP fetch + MIME parse of {read} messages alone (no embedding, no store)"),
            ours: format!("{fetch_rate:.0} messages/s"),
            baseline: "—".into(),
            ratio: "—".into(),
        },
    ];

    // Delay from delivery to the first search hit.
    let pass = ws.pass_for(&owner).await?;
    let until_found = async |code: &str, started: Instant| -> Result<f64> {
        loop {
            let hits = ws.search(code, &pass, 5).await?;
            if hits.iter().any(|h| h.chunk.title.contains(code)) {
                return Ok(started.elapsed().as_secs_f64());
            }
            if started.elapsed().as_secs() > 120 {
                return Err(twake_core::CoreError::Other(format!("{code} was not searchable after 120 s")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let lag_mail = |code: &str| {
        format!(
            "From: A <a@valmont.fr>\r\nTo: {}\r\nSubject: {code}\r\nDate: Mon, 30 Nov 2026 09:00:00 +0100\r\n\r\nLe code {code} est nouveau.\r\n",
            b.spec.owner
        )
        .into_bytes()
    };
    log("sources: new mail with IDLE");
    let watcher = tokio::spawn(twake_core::connectors::watch(ws.clone(), "bench".into()));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut idle = Vec::new();
    for i in 0..b.lag_runs {
        let code = format!("IDLECODE{i}N{}", std::process::id());
        imap::append_all(&b.spec, &b.secret, "INBOX", &[lag_mail(&code)]).await?;
        idle.push(until_found(&code, Instant::now()).await?);
        // Back in IDLE before the next one.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    watcher.abort();
    let _ = watcher.await;
    log("sources: new mail with a sync started at once");
    let mut at_once = Vec::new();
    for i in 0..b.lag_runs {
        let code = format!("SYNCCODE{i}N{}", std::process::id());
        imap::append_all(&b.spec, &b.secret, "INBOX", &[lag_mail(&code)]).await?;
        let started = Instant::now();
        ws.sync_source("bench", &mut |_| {}).await?;
        at_once.push(until_found(&code, started).await?);
    }
    let (idle50, idle_max) = (pct(&mut idle.clone(), 0.5), pct(&mut idle, 1.0));
    let once50 = pct(&mut at_once, 0.5);
    rows.push(Row {
        group: "sources",
        what: format!(
            "new INBOX mail to its first search hit ({} runs): IDLE as under `serve` vs an incremental sync started at once (a periodic sync adds its wait: half of --sync-every on average)",
            b.lag_runs
        ),
        ours: format!("p50 {idle50:.2} s, max {idle_max:.2} s"),
        baseline: format!("p50 {once50:.2} s"),
        ratio: format!("{:.2}", once50 / idle50),
    });
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(rows)
}

/// A Matrix homeserver the sources benchmark may post to: two accounts
/// with the same password, `@twake` (the source's) and `@poster`.
#[derive(Debug, Clone)]
pub struct MatrixBench {
    pub homeserver: String,
    pub password: twake_core::engine::http::Secret,
    /// Messages posted, then backfilled.
    pub messages: usize,
    /// New messages whose delay to search is measured.
    pub lag_runs: usize,
}

/// A bare Matrix client for the benchmark's poster (not the connector's).
struct Poster {
    http: reqwest::Client,
    base: String,
    token: String,
    txn: u64,
}

impl Poster {
    async fn login(base: &str, user: &str, password: &str) -> Result<Poster> {
        let http = reqwest::Client::new();
        let body = serde_json::json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password});
        let r = Poster { http, base: base.trim_end_matches('/').to_string(), token: String::new(), txn: 0 };
        let v = r.call(reqwest::Method::POST, "/login", body).await?;
        let token = v["access_token"].as_str().unwrap_or_default().to_string();
        Ok(Poster { token, ..r })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let mut req = self.http.request(method, format!("{}/_matrix/client/v3{path}", self.base)).json(&body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        let fail = |e: String| twake_core::CoreError::Other(format!("Matrix {path}: {e}"));
        let resp = req.send().await.map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("{status} {v}")));
        }
        Ok(v)
    }

    async fn say(&mut self, room: &str, text: &str) -> Result<()> {
        self.txn += 1;
        let path = format!("/rooms/{}/send/m.room.message/b{}-{}", enc_path(room), std::process::id(), self.txn);
        self.call(reqwest::Method::PUT, &path, serde_json::json!({"msgtype": "m.text", "body": text})).await?;
        Ok(())
    }

    /// Reads the room's whole history with `/messages`, as the connector's
    /// backfill does, without storing anything: the messages read.
    async fn read_history(&self, room: &str) -> Result<usize> {
        let mut from: Option<String> = None;
        let mut n = 0;
        loop {
            let mut path = format!("/rooms/{}/messages?dir=b&limit=100", enc_path(room));
            if let Some(f) = &from {
                path.push_str(&format!("&from={}", enc_path(f)));
            }
            let v = self.call(reqwest::Method::GET, &path, serde_json::Value::Null).await?;
            let chunk = v["chunk"].as_array().cloned().unwrap_or_default();
            n += chunk.iter().filter(|e| e["type"] == "m.room.message").count();
            match v["end"].as_str() {
                Some(end) if !chunk.is_empty() => from = Some(end.to_string()),
                _ => return Ok(n),
            }
        }
    }
}

fn enc_path(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The Matrix rows of the sources benchmark: backfill through the
/// connector (embedding and store) against reading the same history with
/// `/messages` alone, and the delay from a new message to its first search
/// hit with an incremental sync started at once.
pub async fn sources_matrix(config: &Config, b: &MatrixBench, log: &mut dyn FnMut(&str)) -> Result<Vec<Row>> {
    use twake_core::connectors::{Credentials, SourceSpec, matrix::MatrixSpec};
    let err = |e: std::io::Error| twake_core::CoreError::Other(e.to_string());
    let tmp = std::env::temp_dir().join(format!("twake-bench-matrix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(err)?;
    let mut poster = Poster::login(&b.homeserver, "poster", b.password.expose()).await?;
    let twake = Poster::login(&b.homeserver, "twake", b.password.expose()).await?;
    let room = poster
        .call(
            reqwest::Method::POST,
            "/createRoom",
            serde_json::json!({"name": "Bench", "preset": "private_chat", "invite": ["@twake:localhost"]}),
        )
        .await?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    twake.call(reqwest::Method::POST, &format!("/join/{}", enc_path(&room)), serde_json::json!({})).await?;
    log(&format!("sources: posting {} Matrix messages", b.messages));
    let mut rng = Rng(11);
    for i in 0..b.messages {
        poster.say(&room, &format!("Point {i} : {}.", sentence(&mut rng, 30))).await?;
    }

    log("sources: Matrix history read with /messages alone");
    let t = Instant::now();
    let read = twake.read_history(&room).await?;
    let read_rate = read as f64 / t.elapsed().as_secs_f64();

    log("sources: Matrix backfill through the connector");
    let ws = Workspace::open(&tmp.join("matrix"), config.clone()).await?;
    let tenant = twake_types::Tenant::default_tenant();
    let spec = MatrixSpec {
        homeserver: b.homeserver.clone(),
        user_id: "@twake:localhost".into(),
        user_domain: Some("valmont.fr".into()),
        users: Default::default(),
    };
    ws.add_source("bench", &tenant, SourceSpec::Matrix(spec), Credentials::Password(b.password.clone())).await?;
    let t = Instant::now();
    let report = ws.sync_source("bench", &mut |_| {}).await?;
    let sync_rate = report.stored as f64 / t.elapsed().as_secs_f64();
    let mut rows = vec![Row {
        group: "sources",
        what: format!(
            "Matrix backfill of {} messages (Synapse on loopback) through the connector (embedding, store) vs reading the same history with /messages alone",
            report.stored
        ),
        ours: format!("{sync_rate:.1} messages/s"),
        baseline: format!("{read_rate:.0} messages/s"),
        ratio: format!("{:.3}", sync_rate / read_rate),
    }];

    log("sources: new Matrix message with a sync started at once");
    let reader = Principal::parse("poster@valmont.fr").map_err(|e| twake_core::CoreError::Other(e.to_string()))?;
    let pass = ws.pass_for(&reader).await?;
    let mut lags = Vec::new();
    for i in 0..b.lag_runs {
        let code = format!("MXCODE{i}N{}", std::process::id());
        poster.say(&room, &format!("Le code {code} est nouveau.")).await?;
        let started = Instant::now();
        ws.sync_source("bench", &mut |_| {}).await?;
        loop {
            let hits = ws.search(&code, &pass, 5).await?;
            if hits.iter().any(|h| h.chunk.text.contains(&code)) {
                break;
            }
            if started.elapsed().as_secs() > 120 {
                return Err(twake_core::CoreError::Other(format!("{code} was not searchable after 120 s")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        lags.push(started.elapsed().as_secs_f64());
    }
    let (p50, max) = (pct(&mut lags.clone(), 0.5), pct(&mut lags, 1.0));
    rows.push(Row {
        group: "sources",
        what: format!(
            "new Matrix message to its first search hit ({} runs), an incremental /sync started at once (Matrix has no push to a client: under `serve` add the wait for the next round, half of --sync-every on average)",
            b.lag_runs
        ),
        ours: format!("p50 {p50:.2} s, max {max:.2} s"),
        baseline: "—".into(),
        ratio: "—".into(),
    });
    drop(ws);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(rows)
}
