//! The model gateway: which model may read a request, decided per passage
//! sensitivity, failing closed; and OpenAI-compatible remote models.
//!
//! A request's level is the highest level among the passages it would
//! send. It goes to the first model of `gateway.prefer` whose clearance
//! covers that level; else to the first one whose clearance *after
//! pseudonymisation* covers it (the prompt is pseudonymised, the answer
//! restored); else it is refused, naming the passage that blocked it.

use std::time::{Duration, Instant};

use serde::Deserialize;
use twake_llm::{ChatMessage, GenEvent, GenStats, LlmError};
use twake_types::Sensitivity;

use crate::{CoreError, Result};

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Models tried in this order; `embedded` is the local GGUF model.
    pub prefer: Vec<String>,
    /// The clearance of the embedded model (it runs on this installation).
    pub embedded_clearance: String,
    pub models: Vec<RemoteModel>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { prefer: vec!["embedded".into()], embedded_clearance: "secret".into(), models: vec![] }
    }
}

/// An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, a
/// sovereign cloud).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteModel {
    pub name: String,
    /// Base URL, e.g. `https://llm.example.eu/v1`.
    pub url: String,
    /// The model name sent in requests.
    pub model: String,
    /// The environment variable holding the API key, if any.
    pub api_key_env: Option<String>,
    /// The highest level it may read as is.
    pub clearance: String,
    /// The highest level it may read once pseudonymised (none: never).
    pub pseudonymised_clearance: Option<String>,
    pub jurisdiction: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// The model's context in tokens: passages that would not fit (with
    /// the answer's tokens) are left out of its prompt.
    #[serde(default = "default_context")]
    pub context: u32,
    #[serde(default)]
    pub price_per_million_tokens: f64,
}

fn default_timeout() -> u64 {
    120
}

fn default_context() -> u32 {
    4096
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Embedded,
    /// Index into `gateway.models`.
    Remote(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub target: Target,
    pub pseudonymise: bool,
    pub level: Sensitivity,
    /// The decision in words, for the provenance log.
    pub decision: String,
}

/// A candidate model as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub target: Target,
    pub name: String,
    pub clearance: Sensitivity,
    pub pseudonymised: Option<Sensitivity>,
}

/// Decides where a request whose passages have these `(description,
/// level)` goes. Pure; `Err` is the refusal, in words.
pub fn route(passages: &[(String, Sensitivity)], candidates: &[Candidate]) -> std::result::Result<Route, String> {
    routes(passages, candidates).map(|mut r| r.remove(0))
}

/// Every allowed route, best first (the fallbacks when a model fails):
/// the models cleared for the request's level in preference order, then
/// those allowed to read it pseudonymised. Never empty when `Ok`.
pub fn routes(passages: &[(String, Sensitivity)], candidates: &[Candidate]) -> std::result::Result<Vec<Route>, String> {
    let level = passages.iter().map(|p| p.1).max().unwrap_or(Sensitivity::Public);
    let mut out: Vec<Route> = candidates
        .iter()
        .filter(|c| c.clearance >= level)
        .map(|c| Route {
            target: c.target.clone(),
            pseudonymise: false,
            level,
            decision: format!("request level {level}: sent to {} (cleared for {})", c.name, c.clearance),
        })
        .collect();
    out.extend(candidates.iter().filter(|c| c.clearance < level && c.pseudonymised.is_some_and(|p| p >= level)).map(
        |c| Route {
            target: c.target.clone(),
            pseudonymise: true,
            level,
            decision: format!(
                "request level {level}: above {}'s clearance ({}), sent pseudonymised (allowed up to {})",
                c.name,
                c.clearance,
                c.pseudonymised.map(|p| p.to_string()).unwrap_or_default()
            ),
        },
    ));
    if !out.is_empty() {
        return Ok(out);
    }
    let blocking = passages.iter().filter(|p| p.1 == level).map(|p| p.0.as_str()).collect::<Vec<_>>().join(", ");
    let allowed = candidates
        .iter()
        .map(|c| match c.pseudonymised {
            Some(p) => format!("{} up to {} ({} pseudonymised)", c.name, c.clearance, p),
            None => format!("{} up to {}", c.name, c.clearance),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!(
        "No model may read this request: {blocking} is {level}, above every allowed model ({}). Ask an administrator to allow a model cleared for {level}.",
        if allowed.is_empty() { "none configured".to_string() } else { allowed }
    ))
}

impl GatewayConfig {
    /// The candidates in preference order; a misspelt model name or level
    /// is a configuration error (never a silent fallback).
    pub fn candidates(&self) -> std::result::Result<Vec<Candidate>, String> {
        let level = |what: &str, s: &str| {
            Sensitivity::parse(s)
                .ok_or_else(|| format!("{what}: unknown level {s:?} (public, internal, confidential or secret)"))
        };
        let mut out = Vec::new();
        for name in &self.prefer {
            if name == "embedded" {
                out.push(Candidate {
                    target: Target::Embedded,
                    name: "embedded".into(),
                    clearance: level("gateway.embedded_clearance", &self.embedded_clearance)?,
                    pseudonymised: None,
                });
                continue;
            }
            let (i, m) = self
                .models
                .iter()
                .enumerate()
                .find(|(_, m)| &m.name == name)
                .ok_or_else(|| format!("gateway.prefer names {name:?}, which no [[gateway.models]] defines"))?;
            out.push(Candidate {
                target: Target::Remote(i),
                name: m.name.clone(),
                clearance: level(&format!("gateway.models {}: clearance", m.name), &m.clearance)?,
                pseudonymised: m
                    .pseudonymised_clearance
                    .as_deref()
                    .map(|p| level(&format!("gateway.models {}: pseudonymised_clearance", m.name), p))
                    .transpose()?,
            });
        }
        Ok(out)
    }
}

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
                let text = crate::sources::http::body_within(r, 64 << 10).await.ok().flatten().unwrap_or_default();
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
        let text = crate::sources::http::answer_text(resp, &m.name)
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
        if read > crate::sources::http::MAX_ANSWER_BYTES || (buf.len() > MAX_EVENT_BYTES && !buf.contains('\n')) {
            return Err(CoreError::Model(format!(
                "{}: the event stream is longer than the server may send (an event past {} KB, or {} MB in all): stopped",
                m.name,
                MAX_EVENT_BYTES >> 10,
                crate::sources::http::MAX_ANSWER_BYTES >> 20
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

#[cfg(test)]
mod tests {
    use super::*;
    use Sensitivity::*;
    use proptest::prelude::*;

    fn cand(name: &str, clearance: Sensitivity, pseudonymised: Option<Sensitivity>, i: usize) -> Candidate {
        Candidate { target: Target::Remote(i), name: name.into(), clearance, pseudonymised }
    }

    #[test]
    fn routes_in_preference_order_then_pseudonymised_then_refuses() {
        let cs = vec![cand("cloud", Internal, Some(Confidential), 0), cand("eu", Public, None, 1)];
        let p = |l| vec![("a.md".to_string(), l)];
        let r = route(&p(Internal), &cs).unwrap();
        assert_eq!((r.target, r.pseudonymise), (Target::Remote(0), false));
        let r = route(&p(Confidential), &cs).unwrap();
        assert_eq!((r.target, r.pseudonymise), (Target::Remote(0), true));
        let e = route(&[("rh/bob.md".into(), Secret), ("a.md".into(), Internal)], &cs).unwrap_err();
        assert!(e.contains("rh/bob.md is secret") && !e.contains("a.md is"), "{e}");
        assert!(route(&p(Public), &[]).is_err(), "no model configured: refused");
    }

    #[test]
    fn unknown_levels_and_model_names_are_configuration_errors() {
        let mut g = GatewayConfig { prefer: vec!["cloud".into()], ..Default::default() };
        assert!(g.candidates().unwrap_err().contains("no [[gateway.models]]"));
        g.embedded_clearance = "top".into();
        g.prefer = vec!["embedded".into()];
        assert!(g.candidates().is_err());
    }

    fn level() -> impl Strategy<Value = Sensitivity> {
        prop::sample::select(Sensitivity::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
        /// Whatever the models and passages, a passage never goes to a model
        /// whose (pseudonymised, when used) clearance is below it, and a
        /// refusal happens only when no model could take it.
        #[test]
        fn no_passage_above_a_models_clearance_is_routed_to_it(
            passages in prop::collection::vec(level(), 0..6),
            models in prop::collection::vec((level(), prop::option::of(level())), 0..4),
        ) {
            let cs: Vec<Candidate> = models.iter().enumerate().map(|(i, (c, p))| cand(&format!("m{i}"), *c, *p, i)).collect();
            let ps: Vec<(String, Sensitivity)> = passages.iter().enumerate().map(|(i, l)| (format!("p{i}"), *l)).collect();
            let top = passages.iter().copied().max().unwrap_or(Public);
            match route(&ps, &cs) {
                Ok(r) => {
                    let Target::Remote(i) = r.target else { unreachable!() };
                    let c = &cs[i];
                    let allowed = if r.pseudonymise { c.pseudonymised.unwrap_or(Public) } else { c.clearance };
                    prop_assert!(passages.iter().all(|l| *l <= allowed));
                    if r.pseudonymise {
                        prop_assert!(cs.iter().all(|c| c.clearance < top), "pseudonymised although a model was cleared");
                    }
                }
                Err(_) => prop_assert!(cs.iter().all(|c| c.clearance < top && c.pseudonymised.is_none_or(|p| p < top))),
            }
        }
    }
}
