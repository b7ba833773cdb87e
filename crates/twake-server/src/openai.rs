//! The OpenAI-compatible API under `/v1`, following the official reference:
//! `models`, `chat/completions` (with SSE streaming) and `embeddings`.
//!
//! Two kinds of chat model: `twake-ai`, the assistant, answers the last user
//! message from the caller's workspace with verified citations (`[n]` in
//! the text and a `citations` field, an extension of the response); the
//! configured GGUF answers the conversation as given.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use twake_core::retrieve::answer::AnswerEvent;
use twake_llm::{ChatMessage, GenEvent, GenParams, GenStats, Role};

use crate::error::parse_json;
use crate::native::citations_json;
use crate::{ApiError, AppState, User, json_ok, unix_now};

/// The assistant's model id.
pub const ASSISTANT: &str = "twake-ai";

fn model_id(file_name: &str) -> String {
    file_name.strip_suffix(".gguf").unwrap_or(file_name).to_string()
}

pub async fn models(State(state): State<AppState>, _user: User) -> Response {
    let ws = &state.workspace;
    let created = 0;
    let data = vec![
        json!({"id": ASSISTANT, "object": "model", "created": created, "owned_by": "twake-ai"}),
        json!({"id": model_id(&ws.chat_model_name()), "object": "model", "created": created, "owned_by": "twake-ai"}),
        json!({"id": model_id(ws.embedder().name()), "object": "model", "created": created, "owned_by": "twake-ai"}),
    ];
    json_ok(json!({"object": "list", "data": data}))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    json_schema: Option<JsonSchemaFormat>,
}

#[derive(Deserialize)]
struct JsonSchemaFormat {
    schema: Option<Value>,
}

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    stop: Option<Stop>,
    seed: Option<i64>,
    #[allow(dead_code)]
    user: Option<String>,
    response_format: Option<ResponseFormat>,
    n: Option<u32>,
}

fn text_of(i: usize, m: &InMessage) -> Result<String, ApiError> {
    match &m.content {
        Some(Content::Text(t)) => Ok(t.clone()),
        Some(Content::Parts(parts)) => {
            let mut out = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(ApiError::invalid(
                        format!("Only text content parts are supported, got `{}`.", p.kind),
                        Some(&format!("messages[{i}].content")),
                    ));
                }
                out.push_str(p.text.as_deref().unwrap_or(""));
            }
            Ok(out)
        }
        None => Ok(String::new()),
    }
}

struct Checked {
    messages: Vec<ChatMessage>,
    params: GenParams,
    assistant: bool,
    model: String,
    stream: bool,
    include_usage: bool,
}

fn check(req: ChatRequest, raw_model: &str) -> Result<Checked, ApiError> {
    let assistant = req.model == ASSISTANT;
    if !assistant && req.model != raw_model && format!("{}.gguf", req.model) != raw_model {
        return Err(ApiError::model_not_found(&req.model));
    }
    if req.messages.is_empty() {
        return Err(ApiError::invalid("`messages` must contain at least one message.", Some("messages")));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("Only `n` = 1 is supported.", Some("n")));
    }
    let grammar = match &req.response_format {
        None => None,
        Some(f) if f.kind == "text" => None,
        Some(_) if assistant => {
            return Err(ApiError::invalid(
                "The `twake-ai` model answers in text with citations; use `response_format` with the raw model.",
                Some("response_format"),
            ));
        }
        Some(f) if f.kind == "json_object" => Some(twake_llm::grammar::json_object()),
        Some(f) if f.kind == "json_schema" => {
            let schema = f.json_schema.as_ref().and_then(|j| j.schema.as_ref()).ok_or_else(|| {
                ApiError::invalid(
                    "`response_format.json_schema.schema` is required.",
                    Some("response_format.json_schema.schema"),
                )
            })?;
            Some(twake_llm::grammar::json_schema(schema).map_err(|e| {
                ApiError::invalid(format!("Unsupported JSON schema: {e}."), Some("response_format.json_schema.schema"))
            })?)
        }
        Some(f) => {
            return Err(ApiError::invalid(
                format!("`response_format.type` must be `text`, `json_object` or `json_schema`, not `{}`.", f.kind),
                Some("response_format"),
            ));
        }
    };
    if let Some(t) = req.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(ApiError::invalid("`temperature` must be between 0 and 2.", Some("temperature")));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens).unwrap_or(512);
    if max_tokens == 0 {
        return Err(ApiError::invalid("`max_tokens` must be at least 1.", Some("max_tokens")));
    }
    let stop = match req.stop {
        None => vec![],
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) if v.len() <= 4 => v,
        Some(Stop::Many(_)) => return Err(ApiError::invalid("`stop` takes at most 4 sequences.", Some("stop"))),
    };
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let role = match m.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ApiError::invalid(
                    format!("Unsupported role `{other}`: use system, developer, user or assistant."),
                    Some(&format!("messages[{i}].role")),
                ));
            }
        };
        messages.push(ChatMessage { role, content: text_of(i, m)? });
    }
    if assistant && !messages.iter().any(|m| m.role == Role::User && !m.content.trim().is_empty()) {
        return Err(ApiError::invalid(
            "The `twake-ai` model answers the last user message: send one.",
            Some("messages"),
        ));
    }
    let params = GenParams {
        max_tokens,
        temperature: req.temperature.unwrap_or(0.0),
        seed: req.seed.map(|s| s as u32).unwrap_or(42),
        stop,
        grammar,
        repeat_penalty: 1.0,
    };
    Ok(Checked {
        messages,
        params,
        assistant,
        model: req.model,
        stream: req.stream,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    })
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn completion_id() -> String {
    format!("chatcmpl-{:x}{:06x}", unix_now(), NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

fn usage(stats: Option<&GenStats>) -> Value {
    let (p, c) = stats.map(|s| (s.prompt_tokens, s.completion_tokens)).unwrap_or((0, 0));
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

fn finish_reason(stats: Option<&GenStats>) -> &'static str {
    if stats.is_some_and(|s| s.hit_limit) { "length" } else { "stop" }
}

/// What a generation sends to the response, streamed or not.
enum Msg {
    Text(String),
    /// The passages of a `twake-ai` answer, before any model runs.
    Sources(Value),
    /// `citations` and `audit_id` are set for the `twake-ai` model; `tool`
    /// when it ran an assistant (name, arguments, structured result).
    Done {
        stats: Option<GenStats>,
        citations: Option<Value>,
        audit_id: Option<i64>,
        tool: Option<Value>,
    },
    Error(ApiError),
}

pub async fn chat_completions(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_json(&body)?;
    let raw_model = state.workspace.chat_model_name();
    let c = check(req, &raw_model)?;
    user.check_quota(&state).await?;
    // Held by whatever produces the answer, so a stream keeps its slot.
    let slot = state.limits.acquire(user.0.as_str())?;
    let payer = user.payer();
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    if c.assistant {
        let question =
            c.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.clone()).unwrap_or_default();
        let ws = state.workspace.clone();
        let pass = user.pass();
        let state2 = state.clone();
        // A request naming an assistant runs it (see `twake_core::assist::tools`).
        if let Some(call) = ws.route(&question, &pass).await? {
            tokio::spawn(async move {
                let _slot = slot;
                // The client gone, the assistant's run is dropped.
                let mut quiet = |_: usize| {};
                let ran = tokio::select! {
                    r = ws.run_tool(call, &pass, &mut quiet) => r,
                    () = tx.closed() => return,
                };
                match ran {
                    Ok(t) => {
                        payer.charge_tokens(&state2, t.tokens, t.price_per_million).await;
                        let _ = tx.send(Msg::Text(t.text.clone()));
                        let stats = GenStats {
                            prompt_tokens: t.tokens.saturating_sub(t.completion_tokens) as usize,
                            completion_tokens: t.completion_tokens as usize,
                            ..GenStats::default()
                        };
                        let tool = json!({"name": t.name, "arguments": t.arguments, "result": t.result});
                        let _ = tx.send(Msg::Done {
                            stats: Some(stats),
                            citations: None,
                            audit_id: t.audit_id,
                            tool: Some(tool),
                        });
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::Error(e.into()));
                    }
                }
            });
            let (id, created) = (completion_id(), unix_now());
            return Ok(if c.stream {
                stream_response(state, rx, id, created, c.model, c.include_usage)
            } else {
                collect_response(state, rx, id, created, c.model).await?
            });
        }
        tokio::spawn(async move {
            let _slot = slot;
            let tx2 = tx.clone();
            let mut on_text = |ev: AnswerEvent<'_>| {
                let _ = tx2.send(match ev {
                    AnswerEvent::Sources(p) => Msg::Sources(crate::native::sources_json(p)["sources"].take()),
                    AnswerEvent::Text(t) => Msg::Text(t.to_string()),
                });
            };
            // The client gone (stream or response dropped), the answer is
            // dropped with its generation, and the slot is freed.
            let answered = tokio::select! {
                a = ws.ask(&question, &pass, &mut on_text) => a,
                () = tx.closed() => return,
            };
            match answered {
                Ok(a) => {
                    payer.charge(&state2, a.stats.as_ref(), a.route.price_per_million).await;
                    let _ = tx.send(Msg::Done {
                        stats: a.stats.clone(),
                        citations: Some(citations_json(&a)),
                        audit_id: a.audit_id,
                        tool: None,
                    });
                }
                Err(e) => {
                    let _ = tx.send(Msg::Error(e.into()));
                }
            }
        });
    } else {
        let chat = state.workspace.chat().await?;
        let generation = chat.generate(c.messages.clone(), c.params.clone())?;
        let generating = crate::metrics::Generating::start(&state.metrics);
        let (handle, state2) = (tokio::runtime::Handle::current(), state.clone());
        let price = state.workspace.config.models.price_per_million_tokens;
        // A dropped receiver (client gone) makes `send` fail, which drops
        // the generation and so cancels it on the model thread.
        tokio::task::spawn_blocking(move || {
            let (_slot, _generating) = (slot, generating);
            for ev in generation {
                let msg = match ev {
                    GenEvent::Text(t) => Msg::Text(t),
                    GenEvent::Done(s) => {
                        handle.block_on(payer.charge(&state2, Some(&s), price));
                        Msg::Done { stats: Some(s), citations: None, audit_id: None, tool: None }
                    }
                    GenEvent::Error(e) => Msg::Error(e.into()),
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
    }
    let id = completion_id();
    let created = unix_now();
    if c.stream {
        Ok(stream_response(state, rx, id, created, c.model, c.include_usage))
    } else {
        collect_response(state, rx, id, created, c.model).await
    }
}

async fn collect_response(
    state: AppState,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    id: String,
    created: u64,
    model: String,
) -> Result<Response, ApiError> {
    let mut text = String::new();
    while let Some(m) = rx.recv().await {
        match m {
            Msg::Text(t) => text.push_str(&t),
            Msg::Sources(_) => {}
            Msg::Error(e) => return Err(e),
            Msg::Done { stats, citations, audit_id, tool } => {
                if let Some(s) = &stats {
                    state.metrics.tokens(s.prompt_tokens, s.completion_tokens);
                }
                let mut body = json!({
                    "id": id, "object": "chat.completion", "created": created, "model": model,
                    "system_fingerprint": null,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text.trim(), "refusal": null},
                                 "logprobs": null, "finish_reason": finish_reason(stats.as_ref())}],
                    "usage": usage(stats.as_ref()),
                });
                if let Some(c) = citations {
                    body["citations"] = c;
                }
                if let Some(a) = audit_id {
                    body["audit_id"] = json!(a);
                }
                if let Some(t) = tool {
                    body["tool"] = t;
                }
                return Ok(json_ok(body));
            }
        }
    }
    Err(ApiError::internal("the generation ended without a result"))
}

fn stream_response(
    state: AppState,
    rx: mpsc::UnboundedReceiver<Msg>,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
) -> Response {
    let chunk = move |delta: Value, finish: Option<&str>, extra: Option<(&str, Value)>| {
        let mut v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                           "system_fingerprint": null,
                           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            v["usage"] = Value::Null;
        }
        if let Some((k, x)) = extra {
            v[k] = x;
        }
        v
    };
    // A task turns messages into SSE events. When the client goes away the
    // event channel closes, the task ends and drops `rx`, which stops the
    // generation.
    let (etx, erx) = mpsc::unbounded_channel::<Event>();
    let _ = etx.send(Event::default().data(chunk(json!({"role": "assistant", "content": ""}), None, None).to_string()));
    tokio::spawn(async move {
        let mut rx = rx;
        while let Some(m) = rx.recv().await {
            let out: Vec<Event> = match m {
                Msg::Text(t) => vec![Event::default().data(chunk(json!({"content": t}), None, None).to_string())],
                // The passages first, before any model runs (a TwakeAI
                // field beside the chunk's, like `citations` at the end).
                Msg::Sources(p) => {
                    vec![Event::default().data(chunk(json!({}), None, Some(("sources", p))).to_string())]
                }
                Msg::Error(e) => vec![Event::default().data(e.body().to_string()), Event::default().data("[DONE]")],
                Msg::Done { stats, citations, audit_id, tool } => {
                    if let Some(s) = &stats {
                        state.metrics.tokens(s.prompt_tokens, s.completion_tokens);
                    }
                    let mut last =
                        chunk(json!({}), Some(finish_reason(stats.as_ref())), citations.map(|c| ("citations", c)));
                    if let Some(a) = audit_id {
                        last["audit_id"] = json!(a);
                    }
                    if let Some(t) = tool {
                        last["tool"] = t;
                    }
                    let mut v = vec![Event::default().data(last.to_string())];
                    if include_usage {
                        last["choices"] = json!([]);
                        last["usage"] = usage(stats.as_ref());
                        if let Some(o) = last.as_object_mut() {
                            o.remove("citations");
                            o.remove("audit_id");
                            o.remove("tool");
                        }
                        v.push(Event::default().data(last.to_string()));
                    }
                    v.push(Event::default().data("[DONE]"));
                    v
                }
            };
            for e in out {
                if etx.send(e).is_err() {
                    return;
                }
            }
        }
    });
    let stream = UnboundedReceiverStream::new(erx).map(Ok::<_, Infallible>);
    Sse::new(stream).keep_alive(crate::keep_alive()).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    /// Token arrays or anything else: parsed only to answer with a precise error.
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: Input,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
    #[allow(dead_code)]
    user: Option<String>,
}

/// Standard base64 of the little-endian f32 bytes, as OpenAI's
/// `encoding_format: "base64"`.
fn base64_f32(v: &[f32]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

pub async fn embeddings(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: EmbeddingsRequest = parse_json(&body)?;
    let ws = &state.workspace;
    let id = model_id(ws.embedder().name());
    if req.model != id && req.model != ws.embedder().name() {
        return Err(ApiError::model_not_found(&req.model));
    }
    let texts = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
        Input::Other(_) => {
            return Err(ApiError::invalid(
                "`input` must be a string or an array of strings (token arrays are not supported).",
                Some("input"),
            ));
        }
    };
    if texts.is_empty() || texts.iter().any(|t| t.is_empty()) {
        return Err(ApiError::invalid(
            "`input` must be a non-empty string or array of non-empty strings.",
            Some("input"),
        ));
    }
    if texts.len() > 2048 {
        return Err(ApiError::invalid("`input` takes at most 2048 strings.", Some("input")));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("`encoding_format` must be `float` or `base64`, not `{other}`."),
                Some("encoding_format"),
            ));
        }
    };
    if let Some(d) = req.dimensions
        && d != ws.embedder().dim()
    {
        return Err(ApiError::invalid(
            format!("This model has {} dimensions and cannot shorten them.", ws.embedder().dim()),
            Some("dimensions"),
        ));
    }
    // Embeddings use the model threads like a generation: they count
    // against the caller's budgets and concurrent slots too.
    user.check_quota(&state).await?;
    let _slot = state.limits.acquire_user(user.0.as_str())?;
    let out = ws.embedder().embed_counted(texts).await?;
    let tokens: usize = out.iter().map(|(_, n)| n).sum();
    user.payer().charge_tokens(&state, tokens as u64, ws.config.models.price_per_million_tokens).await;
    let data: Vec<Value> = out
        .iter()
        .enumerate()
        .map(|(i, (v, _))| {
            let embedding = if base64 { json!(base64_f32(v)) } else { json!(v) };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(json_ok(
        json!({"object": "list", "data": data, "model": id, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        // 1.0f32 = 00 00 80 3f
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[]), "");
    }

    #[test]
    fn request_checks_name_the_field() {
        let req: ChatRequest = serde_json::from_str(r#"{"model":"twake-ai","messages":[]}"#).unwrap();
        assert_eq!(check(req, "m.gguf").err().unwrap().param.as_deref(), Some("messages"));
        let req: ChatRequest =
            serde_json::from_str(r#"{"model":"x","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(check(req, "m.gguf").err().unwrap().code, Some("model_not_found"));
        let req: ChatRequest =
            serde_json::from_str(r#"{"model":"m","messages":[{"role":"tool","content":"hi"}],"temperature":0.5}"#)
                .unwrap();
        assert_eq!(check(req, "m.gguf").err().unwrap().param.as_deref(), Some("messages[0].role"));
        let req: ChatRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":7,"stop":"x"}"#,
        )
        .unwrap();
        let c = check(req, "m.gguf").unwrap();
        assert_eq!(c.messages[0].content, "ab");
        assert_eq!(c.params.max_tokens, 7);
        assert_eq!(c.params.stop, ["x"]);
        let e = parse_json::<ChatRequest>(br#"{"model":"m"}"#).err().unwrap();
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
