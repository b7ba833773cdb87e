//! OpenAI-compatible remote chat models (vLLM, llama.cpp server, a
//! sovereign cloud): a streamed completion read into the same events as the
//! embedded model, within the caps of [`super::http`]. Which model may read
//! a request is decided before, by `crate::policy::gateway`.

use std::time::{Duration, Instant};

use twake_llm::{ChatMessage, GenEvent, GenStats, LlmError};

use crate::engine::config::RemoteModel;
use crate::{CoreError, Result};

/// Streams a chat completion from an OpenAI-compatible endpoint into the
/// same events as the embedded model. Connection failures and 5xx answers
/// before the first token are retried twice (0.5 s, then 1 s).
pub async fn remote_generate(
    m: &RemoteModel,
    messages: &[ChatMessage],
    max_tokens: u32,
    tx: tokio::sync::mpsc::UnboundedSender<GenEvent>,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(m.timeout_seconds))
        .build()
        .map_err(|e| CoreError::Model(format!("{}: {e}", m.name)))?;
    let body = serde_json::json!({
        "model": m.model,
        "messages": messages.iter().map(|c| serde_json::json!({"role": role(c.role), "content": c.content})).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": max_tokens,
        "temperature": 0,
    });
    let url = format!("{}/chat/completions", m.url.trim_end_matches('/'));
    let key = m.api_key_env.as_deref().and_then(|v| std::env::var(v).ok());
    let started = Instant::now();
    let mut attempt = 0;
    let mut resp = loop {
        let mut req = client.post(&url).json(&body);
        if let Some(k) = &key {
            req = req.bearer_auth(k);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => break r,
            Ok(r) if r.status().is_server_error() && attempt < 2 => {}
            Ok(r) => {
                let status = r.status();
                let text = crate::engine::http::body_within(r, 64 << 10).await.ok().flatten().unwrap_or_default();
                let text = String::from_utf8_lossy(&text);
                return Err(CoreError::Model(format!(
                    "{} answered {status}: {}",
                    m.name,
                    text.chars().take(300).collect::<String>()
                )));
            }
            Err(e) if attempt < 2 && (e.is_connect() || e.is_timeout()) => {}
            Err(e) => return Err(CoreError::Model(format!("{} ({url}): {e}", m.name))),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
    };
    let mut stats = GenStats::default();
    let is_stream = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !is_stream {
        // Some servers ignore `stream: true` and answer one completion.
        let text = crate::engine::http::answer_text(resp, &m.name)
            .await
            .map_err(|e| CoreError::Model(format!("{}: {e}", m.name)))?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let Some(content) = v["choices"][0]["message"]["content"].as_str() else {
            return Err(CoreError::Model(format!(
                "{} answered 200 with a body that is neither an event stream nor a chat completion: {:?}",
                m.name,
                text.chars().take(200).collect::<String>()
            )));
        };
        stats.first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
        read_usage(&v, &mut stats);
        stats.hit_limit = v["choices"][0]["finish_reason"] == "length";
        if !content.is_empty() {
            let _ = tx.send(GenEvent::Text(content.to_string()));
        }
        let _ = tx.send(GenEvent::Done(stats));
        return Ok(());
    }
    let mut buf = String::new();
    let mut first: Option<Instant> = None;
    let mut events = 0;
    let mut done = false;
    let mut read = 0u64;
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| CoreError::Model(format!("{}: stream broken: {e}", m.name)))?
    {
        read += chunk.len() as u64;
        if read > crate::engine::http::MAX_ANSWER_BYTES || (buf.len() > MAX_EVENT_BYTES && !buf.contains('\n')) {
            return Err(CoreError::Model(format!(
                "{}: the event stream is longer than the server may send (an event past {} KB, or {} MB in all): stopped",
                m.name,
                MAX_EVENT_BYTES >> 10,
                crate::engine::http::MAX_ANSWER_BYTES >> 20
            )));
        }
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find('\n') {
            let line = buf[..i].trim().to_string();
            buf.drain(..=i);
            let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
                return Err(CoreError::Model(format!(
                    "{} sent a stream event that is not JSON: {:?}",
                    m.name,
                    data.chars().take(200).collect::<String>()
                )));
            };
            if let Some(message) = v["error"]["message"].as_str() {
                return Err(CoreError::Model(format!("{} failed mid-stream: {message}", m.name)));
            }
            events += 1;
            read_usage(&v, &mut stats);
            if let Some(choice) = v["choices"].get(0) {
                if choice["finish_reason"] == "length" {
                    stats.hit_limit = true;
                }
                if let Some(t) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
                    if first.is_none() {
                        first = Some(Instant::now());
                        stats.first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
                    }
                    if tx.send(GenEvent::Text(t.to_string())).is_err() {
                        return Ok(()); // the caller went away
                    }
                }
            }
        }
    }
    if events == 0 && !done {
        return Err(CoreError::Model(format!("{}: the event stream ended without any completion event", m.name)));
    }
    stats.generation_ms = first.map(|f| f.elapsed().as_secs_f64() * 1000.0).unwrap_or(0.0);
    let _ = tx.send(GenEvent::Done(stats));
    Ok(())
}

/// The longest event line read from an inference server's stream.
const MAX_EVENT_BYTES: usize = 1 << 20;

fn read_usage(v: &serde_json::Value, stats: &mut GenStats) {
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        stats.prompt_tokens = u["prompt_tokens"].as_u64().unwrap_or(0) as usize;
        stats.completion_tokens = u["completion_tokens"].as_u64().unwrap_or(0) as usize;
    }
}

fn role(r: twake_llm::Role) -> &'static str {
    match r {
        twake_llm::Role::System => "system",
        twake_llm::Role::User => "user",
        twake_llm::Role::Assistant => "assistant",
    }
}

/// An error event for a failed remote call (the answer loop reports it).
pub fn error_event(e: CoreError) -> GenEvent {
    let message = match e {
        CoreError::Model(m) => m,
        other => other.to_string(),
    };
    GenEvent::Error(LlmError::Remote(message))
}
