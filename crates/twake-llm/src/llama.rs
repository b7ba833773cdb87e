//! llama.cpp runtime: one backend per process, one thread per loaded model.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::{LlmError, Result};

static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend> {
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            if std::env::var_os("TWAKE_AI_LLAMA_LOG").is_none() {
                b.void_logs();
            }
            Ok(b)
        })
        .as_ref()
        .map_err(|e| LlmError::Runtime(e.clone()))
}

fn cores() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// One thread on two cores or fewer (two busy threads collapse on a
/// shared 2-core machine), `cores - 1` above.
pub fn default_threads() -> u32 {
    let cores = cores();
    if cores <= 2 { 1 } else { cores - 1 }
}

/// How many threads a generation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Always this many (reproducible: output depends on the count).
    Fixed(u32),
    /// `default_threads()`, or every core when the machine is idle at the
    /// start of a generation (no other generation in this process, and
    /// less than half a core busy elsewhere).
    FollowLoad,
}

#[derive(Debug, Clone)]
pub struct ModelOptions {
    pub path: PathBuf,
    pub threads: Threads,
    pub context: u32,
    /// Requests that may wait for the model thread before `Busy`.
    pub queue: usize,
}

/// Generations running in this process, all models together.
static GENERATING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// CPU time counters of the whole machine: (busy, total), in ticks.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Cores busy on this machine over a short window (`None` where the
/// kernel does not say).
fn busy_cores(window: std::time::Duration) -> Option<f64> {
    let (b0, t0) = cpu_ticks()?;
    std::thread::sleep(window);
    let (b1, t1) = cpu_ticks()?;
    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
    Some(cores() as f64 * b1.saturating_sub(b0) as f64 / total as f64)
}

impl Threads {
    /// The count for a generation starting now.
    fn now(self) -> u32 {
        match self {
            Threads::Fixed(n) => n.max(1),
            Threads::FollowLoad => {
                let (base, all) = (default_threads(), cores());
                if all <= base || GENERATING.load(Ordering::Relaxed) > 0 {
                    return base;
                }
                match busy_cores(std::time::Duration::from_millis(100)) {
                    Some(busy) if busy < 0.5 => all,
                    _ => base,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct GenParams {
    pub max_tokens: u32,
    /// 0 means greedy (reproducible).
    pub temperature: f32,
    pub seed: u32,
    pub stop: Vec<String>,
    /// A GBNF grammar (root rule `root`) the output must follow.
    pub grammar: Option<String>,
    /// Penalty on tokens among the last 64 generated (1.0: none). Prose
    /// tasks on small models use about 1.1 so greedy decoding does not
    /// loop on a sentence; JSON and answers keep 1.0.
    pub repeat_penalty: f32,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams { max_tokens: 512, temperature: 0.0, seed: 42, stop: vec![], grammar: None, repeat_penalty: 1.0 }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenStats {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Time from the request to the first generated token.
    pub first_token_ms: f64,
    /// Decoding time after the first token.
    pub generation_ms: f64,
    /// Generation stopped at `max_tokens` (or the context's end), not at an
    /// end-of-turn token or a stop string.
    pub hit_limit: bool,
    /// Prompt tokens whose state was already computed (the prefix shared
    /// with the previous request on this model), not evaluated again.
    pub cached_tokens: usize,
    /// Threads the generation ran on.
    pub threads: u32,
}

impl GenStats {
    pub fn tokens_per_second(&self) -> f64 {
        if self.completion_tokens <= 1 || self.generation_ms <= 0.0 {
            return 0.0;
        }
        (self.completion_tokens - 1) as f64 * 1000.0 / self.generation_ms
    }
}

#[derive(Debug)]
pub enum GenEvent {
    Text(String),
    Done(GenStats),
    Error(LlmError),
}

struct ChatJob {
    messages: Vec<ChatMessage>,
    params: GenParams,
    reply: Sender<GenEvent>,
    cancel: Arc<AtomicBool>,
}

/// A chat model in GGUF format, running on its own thread.
pub struct GgufChat {
    tx: SyncSender<ChatJob>,
    pub name: String,
}

/// A running generation: an iterator of text pieces; dropping it cancels.
pub struct Generation {
    rx: Receiver<GenEvent>,
    cancel: Arc<AtomicBool>,
}

impl Iterator for Generation {
    type Item = GenEvent;
    fn next(&mut self) -> Option<GenEvent> {
        self.rx.recv().ok()
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

fn check_file(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(LlmError::ModelMissing { path: path.display().to_string() });
    }
    Ok(())
}

fn load_model(path: &Path) -> Result<LlamaModel> {
    check_file(path)?;
    LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default())
        .map_err(|e| LlmError::Load { path: path.display().to_string(), reason: e.to_string() })
}

/// Spawns a model thread that loads the GGUF and hands it to `serve`
/// with the job queue; returns the queue's sender and what `serve` reports
/// through `ready` once it can take jobs (or the error that stopped it).
fn spawn_model<J: Send + 'static, T: Send + 'static>(
    thread: &str,
    path: PathBuf,
    queue: usize,
    serve: impl FnOnce(&LlamaModel, Sender<Result<T>>, Receiver<J>) + Send + 'static,
) -> Result<(SyncSender<J>, T)> {
    let (tx, rx) = mpsc::sync_channel::<J>(queue.max(1));
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || match load_model(&path) {
            Ok(model) => serve(&model, ready_tx, rx),
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|e| LlmError::Runtime(e.to_string()))?;
    let ready = ready_rx.recv().map_err(|_| LlmError::WorkerGone)??;
    Ok((tx, ready))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl GgufChat {
    /// Loads the model on a new thread; returns once it is ready.
    pub fn load(opts: ModelOptions) -> Result<Self> {
        let name = file_name(&opts.path);
        let (tx, ()) = spawn_model("llm-chat", opts.path.clone(), opts.queue, move |model, ready, rx| {
            let _ = ready.send(Ok(()));
            chat_loop(model, &opts, rx);
        })?;
        Ok(GgufChat { tx, name })
    }

    /// Queues a generation; fails fast with `Busy` when the queue is full.
    pub fn generate(&self, messages: Vec<ChatMessage>, params: GenParams) -> Result<Generation> {
        let (reply, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job = ChatJob { messages, params, reply, cancel: cancel.clone() };
        match self.tx.try_send(job) {
            Ok(()) => Ok(Generation { rx, cancel }),
            Err(TrySendError::Full(_)) => Err(LlmError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(LlmError::WorkerGone),
        }
    }
}

fn context_params(threads: u32, n_ctx: u32) -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx.min(512))
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32)
}

/// A context and the tokens whose state it holds (positions 0..n), so a
/// request that starts like the previous one (the fixed instruction of an
/// assistant, the earlier turns of a conversation) only evaluates what
/// differs.
struct Slot<'m> {
    ctx: llama_cpp_2::context::LlamaContext<'m>,
    cached: Vec<LlamaToken>,
}

fn chat_loop(model: &LlamaModel, opts: &ModelOptions, rx: Receiver<ChatJob>) {
    let Ok(backend) = backend() else { return };
    // One context per thread count in use (llama.cpp fixes it per context;
    // two at most: the base count and all cores), made on first need.
    let mut slots: Vec<(u32, Slot<'_>)> = Vec::new();
    for job in rx.iter() {
        let started = Instant::now();
        let threads = opts.threads.now();
        if !slots.iter().any(|(n, _)| *n == threads) {
            match model.new_context(backend, context_params(threads, opts.context)) {
                Ok(ctx) => slots.push((threads, Slot { ctx, cached: Vec::new() })),
                Err(e) => {
                    let _ = job.reply.send(GenEvent::Error(LlmError::Runtime(e.to_string())));
                    continue;
                }
            }
        }
        let slot = &mut slots.iter_mut().find(|(n, _)| *n == threads).expect("made above").1;
        GENERATING.fetch_add(1, Ordering::Relaxed);
        let out = run_chat(model, slot, &job, started);
        GENERATING.fetch_sub(1, Ordering::Relaxed);
        match out {
            Ok(stats) => {
                let _ = job.reply.send(GenEvent::Done(GenStats { threads, ..stats }));
            }
            Err(e) => {
                // The context's state is unknown after a failure.
                slot.ctx.clear_kv_cache();
                slot.cached.clear();
                let _ = job.reply.send(GenEvent::Error(e));
            }
        }
    }
}

/// Renders the conversation with the chat template stored in the GGUF.
fn render_prompt(model: &LlamaModel, messages: &[ChatMessage]) -> Result<String> {
    let tmpl =
        model.chat_template(None).map_err(|e| LlmError::Runtime(format!("no chat template in the GGUF: {e}")))?;
    let msgs = messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            LlamaChatMessage::new(role.into(), m.content.clone()).map_err(|e| LlmError::Runtime(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    model.apply_chat_template(&tmpl, &msgs, true).map_err(|e| LlmError::Runtime(e.to_string()))
}

/// Decodes `tokens` starting at position `start`, in batches.
fn feed(
    ctx: &mut llama_cpp_2::context::LlamaContext<'_>,
    tokens: &[LlamaToken],
    start: i32,
    seq_logits_last: bool,
) -> Result<()> {
    let n_batch = ctx.n_batch() as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    for (ci, chunk) in tokens.chunks(n_batch).enumerate() {
        batch.clear();
        let base = start + (ci * n_batch) as i32;
        let last_chunk = (ci + 1) * n_batch >= tokens.len();
        for (i, t) in chunk.iter().enumerate() {
            let last = seq_logits_last && last_chunk && i == chunk.len() - 1;
            batch.add(*t, base + i as i32, &[0], last).map_err(|e| LlmError::Runtime(e.to_string()))?;
        }
        ctx.decode(&mut batch).map_err(|e| LlmError::Runtime(e.to_string()))?;
    }
    Ok(())
}

/// Keeps the state of the longest prefix `tokens` shares with what `slot`
/// holds (never the whole prompt: its last token is evaluated again for
/// its logits) and drops the rest; returns how many tokens were kept.
fn reuse_prefix(slot: &mut Slot<'_>, tokens: &[LlamaToken]) -> usize {
    let common = slot.cached.iter().zip(tokens).take_while(|(a, b)| a == b).count();
    let keep = common.min(tokens.len().saturating_sub(1));
    let trimmed = keep > 0 && slot.ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None).unwrap_or(false);
    if !trimmed {
        slot.ctx.clear_kv_cache();
        slot.cached.clear();
        return 0;
    }
    slot.cached.truncate(keep);
    keep
}

fn run_chat(model: &LlamaModel, slot: &mut Slot<'_>, job: &ChatJob, started: Instant) -> Result<GenStats> {
    let prompt = render_prompt(model, &job.messages)?;
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), false, true);
    let n_ctx = slot.ctx.n_ctx();
    if tokens.len() + 8 > n_ctx as usize {
        return Err(LlmError::PromptTooLong { tokens: tokens.len(), ctx: n_ctx });
    }
    let kept = reuse_prefix(slot, &tokens);
    feed(&mut slot.ctx, &tokens[kept..], kept as i32, true)?;
    slot.cached.extend_from_slice(&tokens[kept..]);
    let mut chain = Vec::new();
    if let Some(g) = &job.params.grammar {
        // The grammar masks every token that would break it, before choosing.
        chain.push(LlamaSampler::grammar(model, g, "root").map_err(|e| LlmError::Grammar(e.to_string()))?);
    }
    if job.params.repeat_penalty != 1.0 {
        chain.push(LlamaSampler::penalties(model.n_vocab(), 64, job.params.repeat_penalty, 0.0, 0.0));
    }
    if job.params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.extend([
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(0.95, 1),
            LlamaSampler::temp(job.params.temperature),
            LlamaSampler::dist(job.params.seed),
        ]);
    }
    let mut sampler = LlamaSampler::chain_simple(chain);
    let mut stats = GenStats { prompt_tokens: tokens.len(), cached_tokens: kept, ..GenStats::default() };
    let mut pending: Vec<u8> = Vec::new();
    let mut text = String::new();
    let mut first_at = None;
    let budget = (job.params.max_tokens as usize).min(n_ctx as usize - tokens.len());
    stats.hit_limit = true; // cleared below on any other reason to stop
    let mut batch = LlamaBatch::new(1, 1);
    let mut logits_index = -1i32; // the last row of the prompt batch
    for pos in (tokens.len() as i32..).take(budget) {
        if job.cancel.load(Ordering::Relaxed) {
            stats.hit_limit = false;
            break;
        }
        let token = sampler.sample(&slot.ctx, logits_index);
        if vocab.is_eog(token) {
            stats.hit_limit = false;
            break;
        }
        stats.completion_tokens += 1;
        if first_at.is_none() {
            first_at = Some(Instant::now());
            stats.first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        pending.extend(vocab.token_to_piece(token, false, None));
        let piece = take_utf8(&mut pending);
        if !piece.is_empty() {
            text.push_str(&piece);
            let stop_hit = job.params.stop.iter().find(|s| !s.is_empty() && text.ends_with(s.as_str()));
            if let Some(stop) = stop_hit {
                let keep = piece.len().saturating_sub(stop.len());
                if keep > 0 {
                    let _ = job.reply.send(GenEvent::Text(piece[..keep].to_string()));
                }
                stats.hit_limit = false;
                break;
            }
            if job.reply.send(GenEvent::Text(piece)).is_err() {
                stats.hit_limit = false;
                break; // the caller went away
            }
        }
        batch.clear();
        batch.add(token, pos, &[0], true).map_err(|e| LlmError::Runtime(e.to_string()))?;
        slot.ctx.decode(&mut batch).map_err(|e| LlmError::Runtime(e.to_string()))?;
        slot.cached.push(token);
        logits_index = 0;
    }
    if let Some(t) = first_at {
        stats.generation_ms = t.elapsed().as_secs_f64() * 1000.0;
    }
    Ok(stats)
}

/// Takes the longest valid UTF-8 prefix out of `buf` (a token may end in the
/// middle of a multi-byte character).
fn take_utf8(buf: &mut Vec<u8>) -> String {
    match std::str::from_utf8(buf) {
        Ok(s) => {
            let s = s.to_string();
            buf.clear();
            s
        }
        Err(e) if e.error_len().is_none() => {
            let valid = e.valid_up_to();
            let s = String::from_utf8_lossy(&buf[..valid]).into_owned();
            buf.drain(..valid);
            s
        }
        Err(_) => {
            let s = String::from_utf8_lossy(buf).into_owned();
            buf.clear();
            s
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    pub path: PathBuf,
    pub threads: u32,
    pub queue: usize,
}

/// A unit vector and the number of tokens its text took.
pub type Counted = (Vec<f32>, usize);

struct EmbedJob {
    texts: Vec<String>,
    reply: Sender<Result<Vec<Counted>>>,
}

/// An embedding model in GGUF format (mean-pooled, L2-normalised output),
/// running on its own thread.
pub struct GgufEmbedder {
    tx: SyncSender<EmbedJob>,
    pub dim: usize,
    pub name: String,
}

impl GgufEmbedder {
    pub fn load(opts: EmbedderOptions) -> Result<Self> {
        let name = file_name(&opts.path);
        let threads = opts.threads;
        let (tx, dim) =
            spawn_model("llm-embed", opts.path.clone(), opts.queue, move |model, ready, rx: Receiver<EmbedJob>| {
                let n_ctx = model.n_ctx_train().clamp(64, 512);
                let params = context_params(threads, n_ctx)
                    .with_n_ubatch(n_ctx)
                    .with_embeddings(true)
                    .with_pooling_type(LlamaPoolingType::Mean);
                let ctx =
                    backend().and_then(|b| model.new_context(b, params).map_err(|e| LlmError::Runtime(e.to_string())));
                let mut ctx = match ctx {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(model.n_embd() as usize));
                for job in rx.iter() {
                    let out = job.texts.iter().map(|t| embed_one(model, &mut ctx, t, n_ctx as usize)).collect();
                    let _ = job.reply.send(out);
                }
            })?;
        Ok(GgufEmbedder { tx, dim, name })
    }

    /// Embeds texts (blocking); each vector has unit length.
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        Ok(self.embed_counted(texts)?.into_iter().map(|(v, _)| v).collect())
    }

    /// Embeds texts and says how many tokens each one took (after
    /// truncation to the model's context).
    pub fn embed_counted(&self, texts: Vec<String>) -> Result<Vec<Counted>> {
        let (reply, rx) = mpsc::channel();
        self.tx.send(EmbedJob { texts, reply }).map_err(|_| LlmError::WorkerGone)?;
        rx.recv().map_err(|_| LlmError::WorkerGone)?
    }
}

fn embed_one(
    model: &LlamaModel,
    ctx: &mut llama_cpp_2::context::LlamaContext<'_>,
    text: &str,
    n_ctx: usize,
) -> Result<(Vec<f32>, usize)> {
    let mut tokens = model.vocab().tokenize(text.as_bytes(), true, false);
    if tokens.len() > n_ctx {
        // Keep the start of the passage and the closing special token.
        let last = *tokens.last().expect("non-empty");
        tokens.truncate(n_ctx - 1);
        tokens.push(last);
    }
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    for (i, t) in tokens.iter().enumerate() {
        batch.add(*t, i as i32, &[0], true).map_err(|e| LlmError::Runtime(e.to_string()))?;
    }
    ctx.decode(&mut batch).map_err(|e| LlmError::Runtime(e.to_string()))?;
    let v = ctx.embeddings_seq_ith(0).map_err(|e| LlmError::Runtime(e.to_string()))?;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    Ok((v.iter().map(|x| x / norm).collect(), tokens.len()))
}

/// One prompt run by llama.cpp alone (the benchmark's baseline).
#[derive(Debug, Clone, Copy)]
pub struct RawRun {
    pub prompt_tokens: usize,
    /// From the first prompt token fed to the first generated token.
    pub first_token_ms: f64,
    /// Generated tokens per second after the first.
    pub tokens_per_second: f64,
}

/// The baseline of the benchmark: llama.cpp's own decode loop on each
/// conversation (rendered with the GGUF's chat template, from a fresh
/// context), with none of TwakeAI's code around it (no channel, no
/// streaming, no checks, no state kept between prompts).
pub fn raw_chat_benchmark(
    path: &Path,
    threads: u32,
    prompts: &[Vec<ChatMessage>],
    n_gen: usize,
) -> Result<Vec<RawRun>> {
    let model = load_model(path)?;
    let mut ctx =
        model.new_context(backend()?, context_params(threads, 4096)).map_err(|e| LlmError::Runtime(e.to_string()))?;
    let mut out = Vec::new();
    for messages in prompts {
        let prompt = render_prompt(&model, messages)?;
        let tokens = model.vocab().tokenize(prompt.as_bytes(), false, true);
        ctx.clear_kv_cache();
        let t0 = Instant::now();
        feed(&mut ctx, &tokens, 0, true)?;
        let mut sampler = LlamaSampler::greedy();
        let mut batch = LlamaBatch::new(1, 1);
        let mut idx = -1;
        let mut first_token_ms = 0.0;
        let mut t1 = Instant::now();
        let mut n = 0;
        for pos in (tokens.len() as i32..).take(n_gen) {
            let t = sampler.sample(&ctx, idx);
            if n == 0 {
                first_token_ms = t0.elapsed().as_secs_f64() * 1000.0;
                t1 = Instant::now();
            }
            batch.clear();
            batch.add(t, pos, &[0], true).map_err(|e| LlmError::Runtime(e.to_string()))?;
            ctx.decode(&mut batch).map_err(|e| LlmError::Runtime(e.to_string()))?;
            idx = 0;
            n += 1;
        }
        let gen_s = t1.elapsed().as_secs_f64();
        let tokens_per_second = if n > 1 && gen_s > 0.0 { (n - 1) as f64 / gen_s } else { 0.0 };
        out.push(RawRun { prompt_tokens: tokens.len(), first_token_ms, tokens_per_second });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_pieces_are_joined_across_tokens() {
        let mut buf = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut buf), "");
        buf.push("é".as_bytes()[1]);
        buf.extend_from_slice(b"t");
        assert_eq!(take_utf8(&mut buf), "ét");
        assert!(buf.is_empty());
    }

    #[test]
    fn missing_model_file_says_what_to_do() {
        let err = GgufEmbedder::load(EmbedderOptions { path: "/nonexistent.gguf".into(), threads: 1, queue: 1 })
            .err()
            .unwrap();
        assert!(err.to_string().contains("models pull"), "{err}");
    }
}
