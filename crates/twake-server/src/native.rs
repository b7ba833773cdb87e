//! The native API under `/api/v1`: the same JSON as the CLI's `--json`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use twake_core::answer::Answer;
use twake_core::search::SearchHit;

use crate::error::parse_json;
use crate::{ApiError, AppState, User, json_ok};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    query: String,
    #[serde(default = "default_k")]
    k: usize,
}

fn default_k() -> usize {
    5
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    question: String,
}

pub fn hit_json(h: &SearchHit) -> serde_json::Value {
    json!({"rank": h.rank, "score": h.score, "path": h.chunk.path, "message_id": h.chunk.message_id,
           "title": h.chunk.title, "locator": h.chunk.locator.display(), "snippet": h.snippet})
}

pub fn citations_json(a: &Answer) -> serde_json::Value {
    a.citations
        .iter()
        .map(|c| {
            json!({"n": c.n, "path": c.chunk.path, "message_id": c.chunk.message_id, "title": c.chunk.title,
                   "locator": c.chunk.locator.display(), "snippet": c.snippet})
        })
        .collect()
}

pub async fn search(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: SearchRequest = parse_json(&body)?;
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("`query` must not be empty.", Some("query")));
    }
    if !(1..=100).contains(&req.k) {
        return Err(ApiError::invalid("`k` must be between 1 and 100.", Some("k")));
    }
    let hits = state.workspace.search(&req.query, &user.pass(), req.k).await?;
    Ok(json_ok(json!({"results": hits.iter().map(hit_json).collect::<Vec<_>>()})))
}

pub async fn ask(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: AskRequest = parse_json(&body)?;
    if req.question.trim().is_empty() {
        return Err(ApiError::invalid("`question` must not be empty.", Some("question")));
    }
    let _slot = state.limits.acquire(user.0.as_str())?;
    let a = state.workspace.ask(&req.question, &user.pass(), &mut |_| {}).await?;
    if let Some(s) = &a.stats {
        state.metrics.tokens(s.prompt_tokens, s.completion_tokens);
    }
    Ok(json_ok(json!({"answer": a.text, "citations": citations_json(&a), "model": a.model})))
}

pub async fn me(user: User) -> Response {
    json_ok(json!({"user": user.0.as_str()}))
}
