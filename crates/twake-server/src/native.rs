//! The native API under `/api/v1`, described by the OpenAPI 3.1 document at
//! `/api/v1/openapi.json` (generated from these types and handlers).
//! Search and ask return the same JSON as the CLI's `--json`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use twake_core::assist::writing::{Language, Tone};
use twake_core::ingest::{FileOutcome, IngestEvent, IngestOptions};
use twake_core::retrieve::answer::{Answer, AnswerEvent};
use twake_core::retrieve::search::SearchHit;
use twake_types::Principal;
use utoipa::{OpenApi, ToSchema};

use crate::error::parse_json;
use crate::{ApiError, AppState, User, json_ok};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for, in any language.
    query: String,
    /// How many results (1–100, default 5).
    #[serde(default = "default_k")]
    k: usize,
    /// Only these kinds of source: `mail`, `chat`, `document`,
    /// `transcript`, `event` (default: all).
    #[serde(default)]
    kinds: Vec<String>,
    /// Only passages whose author's name or address contains this
    /// (case-insensitive).
    #[serde(default)]
    person: Option<String>,
    /// Only passages dated on or after this day (`YYYY-MM-DD`).
    #[serde(default)]
    since: Option<String>,
    /// Only passages dated on or before this day (`YYYY-MM-DD`).
    #[serde(default)]
    until: Option<String>,
}

impl SearchRequest {
    fn filter(&self) -> Result<twake_core::retrieve::search::SearchFilter, ApiError> {
        let mut kinds = Vec::new();
        for k in &self.kinds {
            kinds.push(twake_types::SourceKind::parse(k).ok_or_else(|| {
                ApiError::invalid(
                    format!("Unknown kind {k:?}: use mail, chat, document, transcript or event."),
                    Some("kinds"),
                )
            })?);
        }
        let day = |v: &Option<String>, name: &'static str| -> Result<Option<String>, ApiError> {
            let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
            let ok = v.len() == 10
                && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
            if !ok {
                return Err(ApiError::invalid(format!("`{name}` must be a day as YYYY-MM-DD, not {v:?}."), Some(name)));
            }
            Ok(Some(v.to_string()))
        };
        let person = self.person.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
        Ok(twake_core::retrieve::search::SearchFilter {
            kinds,
            person,
            since: day(&self.since, "since")?,
            until: day(&self.until, "until")?,
        })
    }
}

fn default_k() -> usize {
    5
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    rank: usize,
    score: f32,
    /// The document and passage (`GET /api/v1/documents/{doc_id}`).
    doc_id: i64,
    chunk_id: i64,
    /// The file as it was ingested.
    path: String,
    /// Set for mail.
    message_id: Option<String>,
    title: String,
    /// Page, slide, heading path or cue time range; empty for a message.
    locator: String,
    snippet: String,
    /// `public`, `internal`, `confidential` or `secret`.
    sensitivity: &'static str,
    /// `mail`, `chat`, `document`, `transcript` or `event`.
    kind: &'static str,
    /// The sender of a mail or chat message, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    /// The item's date as stored (RFC 3339 or `YYYY-MM-DD`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResponse {
    results: Vec<SearchResult>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    question: String,
    /// Stream the answer as server-sent events: a `sources` event first
    /// (`SourcesEvent`: the passages, numbered as the answer's `[n]`, before
    /// any model runs), `text` events with verified sentences as they come,
    /// then one `done` event with the whole `AskResponse` (or an `error`
    /// event with the error body).
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
pub struct FileQuery {
    /// The path of the file, as `GET /api/v1/files` lists it.
    path: String,
}

#[derive(Serialize, ToSchema)]
pub struct Citation {
    /// The number used as `[n]` in the answer.
    n: usize,
    /// The cited document and passage: `GET /api/v1/documents/{doc_id}`
    /// opens it, the passage is its chunk `chunk_id`.
    doc_id: i64,
    chunk_id: i64,
    path: String,
    message_id: Option<String>,
    title: String,
    locator: String,
    snippet: String,
    sensitivity: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct AskResponse {
    /// The verified answer, with `[n]` citations.
    answer: String,
    citations: Vec<Citation>,
    model: String,
    /// The policy's decision in words: the passages' level and the model
    /// it allowed (or why none was called).
    decision: String,
    /// The answer's record in the signed provenance log (`twake-ai audit show`).
    audit_id: Option<i64>,
    /// False when nothing found answers the question.
    found: bool,
    /// The answer quotes the passages' best sentences (what the model
    /// wrote did not hold).
    extractive: bool,
}

impl AskResponse {
    fn of(a: Answer) -> Self {
        let citations = citations(&a);
        AskResponse {
            answer: a.text,
            citations,
            model: a.model,
            decision: a.route.decision,
            audit_id: a.audit_id,
            found: a.found,
            extractive: a.extractive,
        }
    }
}

/// The first event of a streamed answer: the passages it draws on,
/// numbered as its `[n]` will be.
#[derive(Serialize, ToSchema)]
pub struct SourcesEvent {
    sources: Vec<SearchResult>,
}

/// The passages of a `sources` event, as JSON.
pub fn sources_json(passages: &[SearchHit]) -> serde_json::Value {
    serde_json::to_value(SourcesEvent { sources: passages.iter().map(hit).collect() }).unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    user: String,
    /// May open the administration routes (`auth.admins`, or
    /// `auth.tenant_admins` for their tenant).
    admin: bool,
    /// The one tenant they administer (absent: all, or none).
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_tenant: Option<String>,
}

/// A document as its reader opens it from a citation.
#[derive(Serialize, ToSchema)]
pub struct DocumentResponse {
    doc_id: i64,
    path: String,
    /// `mail`, `document`, `transcript`, `chat` or `event`.
    kind: String,
    title: String,
    message_id: Option<String>,
    author: Option<String>,
    date: Option<String>,
    /// A mail's To and Cc.
    recipients: Vec<String>,
    /// The whole text as read from the source.
    body: String,
    /// The indexed passages in order, each with its locator (page, section,
    /// cue); citations name one by `chunk_id`.
    passages: Vec<Passage>,
    /// For a chat message: the messages around it in its room.
    context: Vec<ContextMessage>,
}

#[derive(Serialize, ToSchema)]
pub struct Passage {
    chunk_id: i64,
    locator: String,
    text: String,
    sensitivity: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ContextMessage {
    doc_id: i64,
    author: Option<String>,
    date: Option<String>,
    text: String,
}

#[derive(Serialize, ToSchema)]
pub struct UsageResponse {
    budgets: Vec<BudgetView>,
}

/// One budget: 0 means no limit.
#[derive(Serialize, ToSchema)]
pub struct BudgetView {
    /// The user, a `group:…` or `key:ID`.
    principal: String,
    tokens_per_day: u64,
    used_tokens_today: u64,
    cost_per_month: f64,
    used_cost_this_month: f64,
}

#[derive(Serialize, ToSchema)]
pub struct FileInfo {
    path: String,
    format: String,
    /// Documents of the file the caller can read (messages of an mbox, or one).
    documents: i64,
    title: String,
    /// Unix time of the last ingestion.
    ingested_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    files: Vec<FileInfo>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

#[derive(Serialize, Clone, ToSchema)]
pub struct FailedFile {
    path: String,
    reason: String,
}

/// An ingestion job: its progress while it runs, its report when done.
#[derive(Serialize, Clone, ToSchema)]
pub struct Job {
    id: u64,
    state: JobState,
    files_total: usize,
    files_done: usize,
    new: usize,
    updated: usize,
    unchanged: usize,
    failed: Vec<FailedFile>,
    /// Set when the whole job failed.
    error: Option<String>,
    #[serde(skip)]
    owner: String,
}

/// The ingestion jobs of this server process.
#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Job>>,
}

impl Jobs {
    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Some(j) = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
            f(j);
        }
    }
}

/// The error body, for the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    message: String,
    #[serde(rename = "type")]
    kind: String,
    param: Option<String>,
    code: Option<String>,
}

fn hit(h: &SearchHit) -> SearchResult {
    SearchResult {
        rank: h.rank,
        score: h.score,
        doc_id: h.chunk.doc_id,
        chunk_id: h.chunk.chunk_id,
        path: h.chunk.path.clone(),
        message_id: h.chunk.message_id.clone(),
        title: h.chunk.title.clone(),
        locator: h.chunk.locator.display(),
        snippet: h.snippet.clone(),
        sensitivity: h.chunk.sensitivity.as_str(),
        kind: h.chunk.kind.as_str(),
        author: h.chunk.author.clone(),
        date: h.chunk.date.clone(),
    }
}

fn citations(a: &Answer) -> Vec<Citation> {
    a.citations
        .iter()
        .map(|c| Citation {
            n: c.n,
            doc_id: c.chunk.doc_id,
            chunk_id: c.chunk.chunk_id,
            path: c.chunk.path.clone(),
            message_id: c.chunk.message_id.clone(),
            title: c.chunk.title.clone(),
            locator: c.chunk.locator.display(),
            snippet: c.snippet.clone(),
            sensitivity: c.chunk.sensitivity.as_str(),
        })
        .collect()
}

/// The citations as JSON, for the OpenAI-compatible routes.
pub fn citations_json(a: &Answer) -> serde_json::Value {
    serde_json::to_value(citations(a)).unwrap_or_default()
}

/// Hybrid search over what the caller may read.
#[utoipa::path(post, path = "/api/v1/search", request_body = SearchRequest, security(("bearer" = [])),
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn search(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: SearchRequest = parse_json(&body)?;
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("`query` must not be empty.", Some("query")));
    }
    if !(1..=100).contains(&req.k) {
        return Err(ApiError::invalid("`k` must be between 1 and 100.", Some("k")));
    }
    let filter = req.filter()?;
    let hits = state.workspace.search_filtered(&req.query, &user.pass(), req.k, &filter).await?;
    Ok(json_ok(SearchResponse { results: hits.iter().map(hit).collect() }))
}

/// The caller's assistants running now (on this server), each with the
/// tokens its model has written so far: what the web UI shows while a tool
/// works.
#[utoipa::path(get, path = "/api/v1/progress", security(("bearer" = [])),
    responses((status = 200, description = "`{running: [{task, tokens, seconds}]}`"), (status = 401, body = ErrorBody)))]
pub async fn progress(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    Ok(json_ok(serde_json::json!({ "running": state.progress.of(user.0.as_str()) })))
}

/// The latest mail threads the caller may read (newest first, at most
/// 50), each named by its latest readable message: what the thread summary
/// and the reply draft take, picked rather than typed.
#[utoipa::path(get, path = "/api/v1/threads", security(("bearer" = [])),
    responses((status = 200, description = "`{threads: [{message_id, subject, from, date, messages}]}`"), (status = 401, body = ErrorBody)))]
pub async fn threads(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let threads = state.workspace.recent_threads(&user.pass(), 50).await?;
    Ok(json_ok(serde_json::json!({ "threads": threads })))
}

/// The chat rooms the caller may read, by name (what room catch-up takes).
#[utoipa::path(get, path = "/api/v1/rooms", security(("bearer" = [])),
    responses((status = 200, description = "`{rooms: [name]}`"), (status = 401, body = ErrorBody)))]
pub async fn rooms(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let rooms = state.workspace.readable_rooms(&user.pass()).await?;
    Ok(json_ok(serde_json::json!({ "rooms": rooms })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The answer's provenance record (`audit_id` of `/api/v1/ask` and of
    /// the assistants).
    audit_id: i64,
    /// `up` or `down`.
    rating: String,
    /// Optional, at most 2,000 characters kept.
    #[serde(default)]
    comment: String,
}

/// Rates an answer given to the caller (again: replaces the rating).
#[utoipa::path(post, path = "/api/v1/feedback", request_body = FeedbackRequest, security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn feedback(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: FeedbackRequest = parse_json(&body)?;
    let up = match req.rating.as_str() {
        "up" => true,
        "down" => false,
        other => return Err(ApiError::invalid(format!("`rating` must be up or down, not {other:?}."), Some("rating"))),
    };
    if state.workspace.rate_answer(&user.0, req.audit_id, up, &req.comment).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(
            "answer_not_found",
            "audit_id",
            format!("No answer of yours has the provenance record {}.", req.audit_id),
        ))
    }
}

/// A grounded answer with verified citations, from what the caller may read.
#[utoipa::path(post, path = "/api/v1/ask", request_body = AskRequest, security(("bearer" = [])),
    responses((status = 200, body = AskResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn ask(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: AskRequest = parse_json(&body)?;
    if req.question.trim().is_empty() {
        return Err(ApiError::invalid("`question` must not be empty.", Some("question")));
    }
    user.check_quota(&state).await?;
    let slot = state.limits.acquire(user.0.as_str())?;
    if req.stream {
        return Ok(ask_stream(state, user, req.question, slot));
    }
    let generating = crate::metrics::Generating::start(&state.metrics);
    let a = state.workspace.ask(&req.question, &user.pass(), &mut |_| {}).await?;
    drop((slot, generating));
    if let Some(s) = &a.stats {
        state.metrics.tokens(s.prompt_tokens, s.completion_tokens);
    }
    user.payer().charge(&state, a.stats.as_ref(), a.route.price_per_million).await;
    Ok(json_ok(AskResponse::of(a)))
}

fn ask_stream(state: AppState, user: User, question: String, slot: crate::limits::Slot) -> Response {
    use axum::response::sse::{Event, Sse};
    use tokio_stream::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    tokio::spawn(async move {
        let _slot = slot;
        let _generating = crate::metrics::Generating::start(&state.metrics);
        let text_tx = tx.clone();
        let mut on_text = |ev: AnswerEvent<'_>| {
            let event = match ev {
                AnswerEvent::Sources(p) => Event::default().event("sources").data(sources_json(p).to_string()),
                AnswerEvent::Text(t) => {
                    Event::default().event("text").data(serde_json::json!({ "text": t }).to_string())
                }
            };
            let _ = text_tx.send(event);
        };
        // The client gone (the stream dropped), the answer is dropped with
        // its generation, and the slot is freed.
        let pass = user.pass();
        let answered = tokio::select! {
            a = state.workspace.ask(&question, &pass, &mut on_text) => a,
            () = tx.closed() => return,
        };
        let event = match answered {
            Ok(a) => {
                if let Some(s) = &a.stats {
                    state.metrics.tokens(s.prompt_tokens, s.completion_tokens);
                }
                user.payer().charge(&state, a.stats.as_ref(), a.route.price_per_million).await;
                let done = AskResponse::of(a);
                Event::default().event("done").data(serde_json::to_string(&done).unwrap_or_default())
            }
            Err(e) => Event::default().event("error").data(ApiError::from(e).body().to_string()),
        };
        let _ = tx.send(event);
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    Sse::new(stream).keep_alive(crate::keep_alive()).into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MinutesRequest {
    /// The transcript's path, as ingested.
    pub path: String,
    /// The meeting's date (`YYYY-MM-DD`), to resolve due dates.
    #[serde(default)]
    pub date: Option<String>,
}

/// Meeting minutes of an ingested transcript the caller may read: summary,
/// decisions and action items with their source cues (the shape of
/// `twake-ai minutes --format json`).
#[utoipa::path(post, path = "/api/v1/minutes", request_body = MinutesRequest, security(("bearer" = [])),
    responses((status = 200, description = "the minutes", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn minutes(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: MinutesRequest = parse_json(&body)?;
    let date = match req.date.as_deref() {
        Some(d) => Some(
            twake_core::engine::dates::Date::find_iso(d)
                .ok_or_else(|| ApiError::invalid("`date` must be a date as YYYY-MM-DD.", Some("date")))?,
        ),
        None => None,
    };
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "minutes");
    assisted(&state, &user, state.workspace.minutes(&req.path, &pass, date, &mut |n| run.tokens(n))).await
}

/// Runs an assistant for `user`: quota checked first, one generation slot
/// held while it runs, the tokens charged to the caller's budgets after.
async fn assisted<T>(
    state: &AppState,
    user: &User,
    run: impl std::future::Future<Output = twake_core::Result<T>>,
) -> Result<Response, ApiError>
where
    T: twake_core::assist::task::Charged + Serialize,
{
    user.check_quota(state).await?;
    let slot = state.limits.acquire(user.0.as_str())?;
    let out = run.await?;
    drop(slot);
    let (tokens, price) = out.charge();
    user.payer().charge_tokens(state, tokens, price).await;
    Ok(json_ok(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadRequest {
    /// The Message-ID of any message of the thread (with or without `<>`).
    pub message_id: String,
}

/// Summary of a mail thread from its messages the caller may read: asked,
/// decided and open points citing the messages (the shape of `twake-ai
/// summarize thread --format json`).
#[utoipa::path(post, path = "/api/v1/summarize/thread", request_body = ThreadRequest, security(("bearer" = [])),
    responses((status = 200, description = "the summary", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn summarize_thread(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: ThreadRequest = parse_json(&body)?;
    if req.message_id.trim().is_empty() {
        return Err(ApiError::invalid("`message_id` must not be empty.", Some("message_id")));
    }
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "thread");
    assisted(&state, &user, state.workspace.summarize_thread(&req.message_id, &pass, &mut |n| run.tokens(n))).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// The chat room's name or ID.
    pub room: String,
    /// `last-read` (default: the caller's read receipt), `YYYY-MM-DD`,
    /// `YYYY-MM-DDTHH:MMZ`, or a duration back such as `24h` or `7d`.
    #[serde(default)]
    pub since: Option<String>,
}

/// Catch-up on a chat room from the messages the caller may read since a
/// time or since their last read receipt: mentions of the caller first,
/// then topics whose points cite the messages (the shape of `twake-ai
/// summarize room --format json`).
#[utoipa::path(post, path = "/api/v1/summarize/room", request_body = RoomRequest, security(("bearer" = [])),
    responses((status = 200, description = "the catch-up", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn summarize_room(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: RoomRequest = parse_json(&body)?;
    if req.room.trim().is_empty() {
        return Err(ApiError::invalid("`room` must not be empty.", Some("room")));
    }
    let since = req.since.as_deref().unwrap_or("last-read");
    let Some(since) = twake_core::assist::catchup::parse_since(since, state.workspace.now()) else {
        return Err(ApiError::invalid(
            "`since` must be last-read, a day as YYYY-MM-DD, a time as YYYY-MM-DDTHH:MMZ, or a duration such as 24h or 7d.",
            Some("since"),
        ));
    };
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "room");
    assisted(&state, &user, state.workspace.catch_up_room(&req.room, since, &pass, &mut |n| run.tokens(n))).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BriefRequest {
    /// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MMZ`, or a duration back such as `24h`
    /// (default: yesterday, 00:00 UTC).
    #[serde(default)]
    pub since: Option<String>,
}

/// The caller's daily brief: mail (triaged), rooms (new messages, mentions)
/// and meetings (passages naming the caller) since a time, each with its
/// source (the shape of `twake-ai brief --json`).
#[utoipa::path(post, path = "/api/v1/brief", request_body = BriefRequest, security(("bearer" = [])),
    responses((status = 200, description = "the brief", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn brief(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: BriefRequest = if body.is_empty() { BriefRequest { since: None } } else { parse_json(&body)? };
    let ws = &state.workspace;
    let Some(since) = twake_core::assist::brief::brief_since(req.since.as_deref(), ws.today(), ws.now()) else {
        return Err(ApiError::invalid(
            "`since` must be a day as YYYY-MM-DD, a time as YYYY-MM-DDTHH:MMZ, or a duration such as 24h or 7d.",
            Some("since"),
        ));
    };
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "brief");
    assisted(&state, &user, ws.brief(since, &pass, &mut |n| run.tokens(n))).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    /// The Message-ID of the mail to answer (with or without `<>`).
    pub message_id: String,
    /// `fr`, `en`, `de`, `es` or `it` (default: the thread's language).
    #[serde(default)]
    pub lang: Option<String>,
    /// `formal`, `neutral` (default) or `friendly`.
    #[serde(default)]
    pub tone: Option<String>,
    /// Points the reply must make.
    #[serde(default)]
    pub points: Vec<String>,
}

/// A reply draft to a mail the caller may read, written from its thread
/// (never sent): addressee, subject, threading headers, body, and the
/// draft's names, numbers and dates found neither in the thread nor in the
/// points (`unsupported`). The shape of `twake-ai draft-reply --format json`.
#[utoipa::path(post, path = "/api/v1/draft-reply", request_body = DraftRequest, security(("bearer" = [])),
    responses((status = 200, description = "the draft", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn draft_reply(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: DraftRequest = parse_json(&body)?;
    if req.message_id.trim().is_empty() {
        return Err(ApiError::invalid("`message_id` must not be empty.", Some("message_id")));
    }
    let lang = language(req.lang.as_deref(), "lang")?;
    let tone = Tone::parse(req.tone.as_deref().unwrap_or("neutral")).map_err(|e| ApiError::invalid(e, Some("tone")))?;
    let pass = user.pass();
    let tracked = state.progress.start(user.0.as_str(), "draft");
    let mut progress = |n| tracked.tokens(n);
    let run = state.workspace.draft_reply(&req.message_id, lang, tone, &req.points, &pass, &mut progress);
    assisted(&state, &user, run).await
}

fn language(code: Option<&str>, field: &str) -> Result<Option<Language>, ApiError> {
    code.map(|c| Language::parse(c).map_err(|e| ApiError::invalid(e, Some(field)))).transpose()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageRequest {
    /// From this day (`YYYY-MM-DD`); default: 7 days ago.
    #[serde(default)]
    pub since: Option<String>,
}

/// Inbox triage of the caller's mail since a day: for each thread with new
/// messages, a gist, whether it needs a reply from the caller (never for a
/// thread whose last message is theirs or not addressed to them), urgency,
/// and the deadlines its messages name (the shape of `twake-ai triage
/// --json`).
#[utoipa::path(post, path = "/api/v1/triage", request_body = TriageRequest, security(("bearer" = [])),
    responses((status = 200, description = "the triaged threads", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn triage(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: TriageRequest = if body.is_empty() { TriageRequest { since: None } } else { parse_json(&body)? };
    let today = state.workspace.today();
    let since = match req.since.as_deref() {
        Some(d) => twake_core::engine::dates::Date::find_iso(d)
            .filter(|_| d.len() == 10)
            .ok_or_else(|| ApiError::invalid("`since` must be a day as YYYY-MM-DD.", Some("since")))?,
        None => twake_core::engine::dates::Date::from_days(today.days() - 7),
    };
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "triage");
    assisted(&state, &user, state.workspace.triage(since, &pass, &mut |n| run.tokens(n))).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteRequest {
    /// The text.
    pub text: String,
    /// `formal`, `neutral` or `friendly` (rewrite); absent to translate.
    #[serde(default)]
    pub tone: Option<String>,
    /// The language to write in: `fr`, `en`, `de`, `es` or `it` (required
    /// to translate; default for a rewrite: the text's).
    #[serde(default)]
    pub to: Option<String>,
    /// The text's level if above the configured default.
    #[serde(default)]
    pub sensitivity: Option<String>,
}

/// Rewrites a text in another tone, or translates it (`to` without `tone`),
/// keeping its names, numbers and dates; `missing` lists any the result
/// lost. The text is routed by its level: the configured default, raised by
/// the detectors and by `sensitivity`.
#[utoipa::path(post, path = "/api/v1/rewrite", request_body = RewriteRequest, security(("bearer" = [])),
    responses((status = 200, description = "the text written again", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn rewrite(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req: RewriteRequest = parse_json(&body)?;
    if req.text.trim().is_empty() {
        return Err(ApiError::invalid("`text` must not be empty.", Some("text")));
    }
    let to = language(req.to.as_deref(), "to")?;
    let tone = req.tone.as_deref().map(Tone::parse).transpose().map_err(|e| ApiError::invalid(e, Some("tone")))?;
    if tone.is_none() && to.is_none() {
        return Err(ApiError::invalid("Give `tone` to rewrite, or `to` to translate.", Some("to")));
    }
    let at_least = match req.sensitivity.as_deref() {
        Some(l) => Some(twake_types::Sensitivity::parse(l).ok_or_else(|| {
            ApiError::invalid("`sensitivity` must be public, internal, confidential or secret.", Some("sensitivity"))
        })?),
        None => None,
    };
    let pass = user.pass();
    let run = state.progress.start(user.0.as_str(), "translate");
    assisted(&state, &user, state.workspace.rewrite(&req.text, to, tone, at_least, &pass, &mut |n| run.tokens(n))).await
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])), responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, user: User) -> Response {
    let scope = user.admin_scope(&state);
    let admin_tenant = match &scope {
        Some(crate::admin::Scope::Tenant(t)) => Some(t.to_string()),
        _ => None,
    };
    json_ok(MeResponse { user: user.0.as_str().to_string(), admin: scope.is_some(), admin_tenant })
}

/// A document the caller may read, with its passages (a citation's
/// `doc_id`); any other id is "not found", whether or not it exists.
#[utoipa::path(get, path = "/api/v1/documents/{id}", security(("bearer" = [])), params(("id" = i64, Path, description = "document id")),
    responses((status = 200, body = DocumentResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn document(State(state): State<AppState>, user: User, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let Some(o) = state.workspace.open_document(id, &user.pass()).await? else {
        return Err(ApiError::not_found(
            "document_not_found",
            "id",
            format!("No document {id} among what you can read."),
        ));
    };
    let d = o.doc;
    Ok(json_ok(DocumentResponse {
        doc_id: d.doc_id,
        path: d.path,
        kind: d.kind.as_str().to_string(),
        title: d.title,
        message_id: d.message_id,
        author: d.author,
        date: d.date,
        recipients: d.recipients.unwrap_or_default(),
        body: d.body,
        passages: o
            .chunks
            .into_iter()
            .map(|c| Passage {
                chunk_id: c.chunk_id,
                locator: c.locator.display(),
                text: c.text,
                sensitivity: c.sensitivity.as_str(),
            })
            .collect(),
        context: o
            .context
            .into_iter()
            .map(|m| ContextMessage { doc_id: m.doc_id, author: m.author, date: m.date, text: m.body })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationBody {
    /// Every turn of the conversation, oldest first: `{"question", "answer",
    /// "citations": [{"n", "doc_id", "chunk_id"}], "model", "decision",
    /// "audit_id"}` (at most 100 turns).
    #[schema(value_type = Vec<Object>)]
    turns: Vec<twake_core::history::conversations::Turn>,
}

fn conversation_body(body: &Bytes) -> Result<ConversationBody, ApiError> {
    let req: ConversationBody = parse_json(body)?;
    twake_core::history::conversations::validate(&req.turns).map_err(|e| ApiError::invalid(e, Some("turns")))?;
    Ok(req)
}

fn no_conversation(id: i64) -> ApiError {
    ApiError::not_found("conversation_not_found", "id", format!("No conversation {id} of yours."))
}

/// The caller's conversations, latest first (titles only).
#[utoipa::path(get, path = "/api/v1/conversations", security(("bearer" = [])),
    responses((status = 200, description = "`{conversations: [{id, title, updated_at}]}`"), (status = 401, body = ErrorBody)))]
pub async fn conversations(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let list = state.workspace.conversations(&user.0).await?;
    Ok(json_ok(serde_json::json!({ "conversations": list })))
}

/// Stores a new conversation of the caller.
#[utoipa::path(post, path = "/api/v1/conversations", request_body = ConversationBody, security(("bearer" = [])),
    responses((status = 201, description = "`{id}`"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_conversation(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let req = conversation_body(&body)?;
    let id = state.workspace.save_conversation(&user.0, None, &req.turns).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id })).into_response()).into_response())
}

/// Replaces the turns of a conversation of the caller.
#[utoipa::path(put, path = "/api/v1/conversations/{id}", request_body = ConversationBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "conversation id")),
    responses((status = 200, description = "`{id}`"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn save_conversation(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = conversation_body(&body)?;
    match state.workspace.save_conversation(&user.0, Some(id), &req.turns).await? {
        Some(id) => Ok(json_ok(serde_json::json!({ "id": id }))),
        None => Err(no_conversation(id)),
    }
}

/// A conversation of the caller. Each answer is shown only while the
/// caller may still read every passage it cited (else `withheld`), with
/// its citations read again from the store.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", security(("bearer" = [])),
    params(("id" = i64, Path, description = "conversation id")),
    responses((status = 200, description = "`{id, title, updated_at, turns: [{question, answer, withheld, citations, model, decision, audit_id}]}`"), (status = 404, body = ErrorBody)))]
pub async fn conversation(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    match state.workspace.open_conversation(id, &user.pass()).await? {
        Some(c) => Ok(json_ok(c)),
        None => Err(no_conversation(id)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    /// The new title (at most 200 characters; empty: back to the first
    /// question's).
    title: String,
}

/// Renames a conversation of the caller.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", request_body = RenameBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "conversation id")), responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rename_conversation(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RenameBody = parse_json(&body)?;
    if state.workspace.rename_conversation(&user.0, id, &req.title).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(no_conversation(id))
    }
}

/// Deletes a conversation of the caller.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}", security(("bearer" = [])),
    params(("id" = i64, Path, description = "conversation id")), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_conversation(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if state.workspace.delete_conversation(&user.0, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(no_conversation(id))
    }
}

/// The caller's budgets (user, budgeted groups, the key used) and what is
/// used of them today and this month.
#[utoipa::path(get, path = "/api/v1/usage", security(("bearer" = [])), responses((status = 200, body = UsageResponse), (status = 401, body = ErrorBody)))]
pub async fn usage(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let pass = user.pass();
    let who = twake_core::policy::quota::Requester { pass: &pass, key: user.key() };
    let budgets = state.workspace.budgets(&who).await?;
    Ok(json_ok(UsageResponse {
        budgets: budgets
            .into_iter()
            .map(|b| BudgetView {
                principal: b.principal,
                tokens_per_day: b.tokens_per_day,
                used_tokens_today: b.used_tokens_today,
                cost_per_month: b.cost_per_month,
                used_cost_this_month: b.used_cost_this_month,
            })
            .collect(),
    }))
}

/// A connected source and its health (never its secret).
#[derive(Serialize, ToSchema)]
pub struct SourceView {
    name: String,
    /// `matrix` or `imap` (JMAP, WebDAV and CalDAV come next).
    kind: String,
    /// The server and account it reads with.
    location: String,
    /// Items (messages) indexed from it.
    items: i64,
    /// `ok`, `never synced` or `failing`.
    status: String,
    /// Unix seconds of the last sync attempt and of the last success.
    last_attempt: Option<i64>,
    last_success: Option<i64>,
    /// Seconds since the last success.
    lag_seconds: Option<i64>,
    last_error: Option<String>,
    /// Failed syncs in a row.
    errors: i64,
    /// The sync running now in this server, if any.
    syncing: Option<SyncingView>,
}

/// How far a running sync is.
#[derive(Serialize, ToSchema)]
pub struct SyncingView {
    /// Places (rooms, folders) read, of how many.
    places_done: usize,
    places_total: usize,
    /// The place being fetched, and how many of its new items are.
    place: Option<String>,
    items_done: usize,
    items_total: usize,
    /// Items stored so far by this sync.
    stored: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SourceList {
    sources: Vec<SourceView>,
}

/// The connected sources of the caller's tenant and their health.
#[utoipa::path(get, path = "/api/v1/sources", security(("bearer" = [])), responses((status = 200, body = SourceList), (status = 401, body = ErrorBody)))]
pub async fn sources(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let tenant = state.workspace.tenant_of(&user.0).await?;
    let list = state.workspace.sources().await?;
    Ok(json_ok(SourceList {
        sources: list
            .into_iter()
            .filter(|s| s.tenant == tenant.as_str())
            .map(|s| SourceView {
                name: s.name,
                kind: s.kind.to_string(),
                location: s.location,
                items: s.items,
                status: s.status.to_string(),
                last_attempt: s.last_attempt,
                last_success: s.last_success,
                lag_seconds: s.lag_seconds,
                last_error: s.last_error,
                errors: s.errors,
                syncing: s.syncing.map(|p| SyncingView {
                    places_done: p.places_done,
                    places_total: p.places_total,
                    place: p.place,
                    items_done: p.items_done,
                    items_total: p.items_total,
                    stored: p.stored,
                }),
            })
            .collect(),
    }))
}

/// The files the caller can read something of.
#[utoipa::path(get, path = "/api/v1/files", security(("bearer" = [])), responses((status = 200, body = FileList), (status = 401, body = ErrorBody)))]
pub async fn files(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let files = state.workspace.readable_files(&user.pass()).await?;
    Ok(json_ok(FileList {
        files: files
            .into_iter()
            .map(|f| FileInfo {
                path: f.path,
                format: f.format,
                documents: f.documents,
                title: f.title,
                ingested_at: f.ingested_at,
            })
            .collect(),
    }))
}

/// A file name safe to store: its last path component, without leading dots.
fn safe_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?.trim().trim_start_matches('.');
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    (!clean.is_empty() && clean.len() <= 200).then_some(clean)
}

/// Uploads files (multipart `file` fields, and an optional `readers` field:
/// comma-separated principals the uploader's own pass holds — themselves
/// and their groups; the uploader always reads their files) and ingests
/// them in the background. Answers 202 with the job to poll. Nobody pushes
/// content into the search of people they do not share a group with, and
/// an uploaded mail's participants become readers only when an admin
/// uploads it.
#[utoipa::path(post, path = "/api/v1/files", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "`file` fields (one or more) and an optional `readers` field"),
    responses((status = 202, body = Job), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn upload(State(state): State<AppState>, user: User, mut multipart: Multipart) -> Result<Response, ApiError> {
    let dir = state.workspace.data_dir.join("uploads").join(user.0.as_str());
    let mut saved: Vec<PathBuf> = Vec::new();
    let mut readers = vec![user.0.clone()];
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.workspace.config.server.max_upload_bytes, "max_upload_bytes")
        } else {
            ApiError::invalid(format!("Malformed multipart body: {e}"), None)
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("file") => {
                let name = field
                    .file_name()
                    .and_then(safe_name)
                    .ok_or_else(|| ApiError::invalid("Each `file` field needs a file name.", Some("file")))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
                let path = dir.join(&name);
                // Written as it arrives (never the whole file in memory);
                // a part over the limit leaves no partial file behind.
                let store = |e: std::io::Error| ApiError::internal(format!("cannot store the upload: {e}"));
                let mut out = std::fs::File::create(&path).map_err(store)?;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => std::io::Write::write_all(&mut out, &chunk).map_err(store)?,
                        Ok(None) => break,
                        Err(e) => {
                            drop(out);
                            let _ = std::fs::remove_file(&path);
                            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                                let max = state.workspace.config.server.max_upload_bytes;
                                return Err(ApiError::too_large(max, "max_upload_bytes"));
                            }
                            return Err(ApiError::invalid(format!("Upload interrupted: {e}"), Some("file")));
                        }
                    }
                }
                saved.push(path);
            }
            Some("readers") => {
                let text = field.text().await.map_err(|e| ApiError::invalid(e.to_string(), Some("readers")))?;
                let more =
                    Principal::parse_list(&text).map_err(|e| ApiError::invalid(e.to_string(), Some("readers")))?;
                let pass = user.pass();
                let held = |p: &Principal| pass.principals().is_some_and(|ps| ps.contains(p));
                if let Some(stranger) = more.iter().find(|p| !held(p))
                    && !user.is_admin(&state)
                {
                    return Err(ApiError::invalid(
                        format!(
                            "You may share an upload only with yourself and the groups you belong to, \
                             not with {stranger}: ask an administrator, or share it through a group."
                        ),
                        Some("readers"),
                    ));
                }
                readers.extend(more);
            }
            other => {
                return Err(ApiError::invalid(
                    format!("Unexpected multipart field {other:?}: send `file` and `readers`."),
                    None,
                ));
            }
        }
    }
    if saved.is_empty() {
        return Err(ApiError::invalid("Send at least one `file` field.", Some("file")));
    }
    let id = state.jobs.next.fetch_add(1, Ordering::Relaxed) + 1;
    let job = Job {
        id,
        state: JobState::Running,
        files_total: saved.len(),
        files_done: 0,
        new: 0,
        updated: 0,
        unchanged: 0,
        failed: vec![],
        error: None,
        owner: user.0.as_str().to_string(),
    };
    state.jobs.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, job.clone());
    // Uploads belong to the uploader's tenant.
    let tenant = user.pass().tenant().cloned().unwrap_or_default();
    let jobs: Arc<Jobs> = state.jobs.clone();
    let ws = state.workspace.clone();
    let admin = user.is_admin(&state);
    tokio::spawn(async move {
        let opts = IngestOptions { readers, tenant, sensitivity: None, prune: false, participants: admin };
        let progress_jobs = jobs.clone();
        let mut progress = move |ev: IngestEvent<'_>| {
            if let IngestEvent::FileDone { path, outcome } = ev {
                progress_jobs.update(id, |j| {
                    j.files_done += 1;
                    match outcome {
                        FileOutcome::New { .. } => j.new += 1,
                        FileOutcome::Updated { .. } => j.updated += 1,
                        FileOutcome::Unchanged | FileOutcome::ReadersChanged | FileOutcome::Relabelled => {
                            j.unchanged += 1
                        }
                        FileOutcome::Failed(reason) => {
                            j.failed.push(FailedFile { path: path.to_string(), reason: reason.clone() })
                        }
                    }
                });
            }
        };
        let result = ws.ingest(&saved, &opts, &mut progress).await;
        jobs.update(id, |j| match result {
            Ok(_) => j.state = JobState::Done,
            Err(e) => {
                j.state = JobState::Failed;
                j.error = Some(e.to_string());
            }
        });
    });
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// Deletes a file the caller uploaded: its documents, chunks and vectors
/// leave the index and the stored upload is removed. Any other path is
/// "not found", whether or not it exists.
#[utoipa::path(delete, path = "/api/v1/files", security(("bearer" = [])), params(FileQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_file(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let dir = state.workspace.data_dir.join("uploads").join(user.0.as_str());
    let path = std::path::Path::new(&q.path);
    let own =
        path.parent() == Some(dir.as_path()) && path.file_name().and_then(|n| n.to_str()).and_then(safe_name).is_some();
    if !own || !state.workspace.forget_file(&q.path).await? {
        return Err(ApiError::not_found("file_not_found", "path", "No such file among your uploads."));
    }
    let _ = std::fs::remove_file(path);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An ingestion job of the caller (others' jobs are "not found").
#[utoipa::path(get, path = "/api/v1/jobs/{id}", security(("bearer" = [])), params(("id" = u64, Path, description = "job id")),
    responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn job(State(state): State<AppState>, user: User, Path(id): Path<u64>) -> Result<Response, ApiError> {
    let jobs = state.jobs.jobs.lock().unwrap_or_else(|e| e.into_inner());
    match jobs.get(&id) {
        Some(j) if j.owner == user.0.as_str() => Ok(json_ok(j.clone())),
        _ => Err(ApiError::not_found("job_not_found", "id", format!("No job {id}."))),
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TwakeAI native API", description = "Search, grounded answers and ingestion over the caller's own workspace. Every route needs `Authorization: Bearer <API key>`; errors use the body `{\"error\": {message, type, param, code}}`."),
    paths(search, ask, feedback, progress, threads, rooms, minutes, summarize_thread, summarize_room, brief, draft_reply, rewrite, triage, me, document,
        conversations, create_conversation, conversation, save_conversation, rename_conversation, delete_conversation, usage, sources, files, upload, delete_file, job,
        crate::admin::users, crate::admin::add_member, crate::admin::remove_member, crate::admin::keys, crate::admin::models, crate::admin::access_report, crate::admin::audit, crate::admin::usage, crate::admin::feedback),
    components(schemas(SourcesEvent)),
    modifiers(&BearerAuth)
)]
pub struct NativeApi;

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    json_ok(NativeApi::openapi())
}
