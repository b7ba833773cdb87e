//! The HTTP API of TwakeAI: a library with `router(state)`; the binary's
//! `serve` command only binds and runs it.
//!
//! Boundary: API types live in `openai` and `native`, converted from the
//! engine's types at the edge; every error goes through [`error::ApiError`].
//! Invariants: every `/v1` and `/api/v1` request is authenticated and runs
//! as its user (the `AccessPass` the policy builds for the key's owner), so search,
//! answers and citations obey the same access rules as the CLI. Handlers
//! hold no state of their own (the workspace is shared), and never block:
//! models run on their own threads behind bounded queues, and a full queue
//! answers 503 at once.

pub mod admin;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod native;
pub mod oidc;
mod openai;
pub mod progress;
pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use twake_core::{AccessPass, Principal, Workspace};

pub use error::ApiError;
pub use metrics::Metrics;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub workspace: Arc<Workspace>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<limits::Limits>,
    pub jobs: Arc<native::Jobs>,
    /// The assistants running now, per user (`GET /api/v1/progress`).
    pub progress: Arc<progress::Progress>,
    /// Set when an OIDC issuer is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// The address `serve` listens on (`None` under `oneshot` tests): the
    /// session cookie is `Secure` unless it is a loopback one, and the OIDC
    /// callback is derived from it only then.
    pub listen: Option<std::net::SocketAddr>,
}

impl AppState {
    pub fn new(workspace: Arc<Workspace>) -> Self {
        let cfg = &workspace.config.server;
        let limits =
            Arc::new(limits::Limits::new(cfg.requests_per_minute, cfg.concurrent_per_user, cfg.max_generations));
        AppState {
            workspace,
            metrics: Arc::new(Metrics::default()),
            limits,
            jobs: Arc::default(),
            progress: Arc::default(),
            oidc: None,
            listen: None,
        }
    }

    /// Also accepts the bearer JWTs of the configured OIDC issuer.
    pub fn with_oidc(mut self, oidc: Option<oidc::Oidc>) -> Self {
        self.oidc = oidc.map(Arc::new);
        self
    }
}

/// The authenticated caller and their access pass, computed by the
/// policy from the directory as it is now (a membership change applies to
/// the next request).
pub struct User(pub Principal, AccessPass, Option<(i64, Option<u64>)>);

impl User {
    pub fn pass(&self) -> AccessPass {
        self.1.clone()
    }

    /// The API key used (its id and daily token limit), if any.
    pub fn key(&self) -> Option<(i64, Option<u64>)> {
        self.2
    }

    /// Refuses the request with 429 `quota_exceeded` when one of the
    /// caller's budgets (user, group, key) is spent. Called before any
    /// generation.
    pub async fn check_quota(&self, state: &AppState) -> Result<(), ApiError> {
        let who = twake_core::policy::quota::Requester { pass: &self.1, key: self.2 };
        Ok(state.workspace.quota_check(&who).await?)
    }

    /// Whether `auth.admins` names the user or one of the containers they
    /// act as (groups, nested ones included).
    pub fn is_admin(&self, state: &AppState) -> bool {
        self.named_in(&state.workspace.config.auth.admins)
    }

    fn named_in(&self, names: &[String]) -> bool {
        names.iter().any(|a| a == self.0.as_str())
            || self.1.principals().is_some_and(|ps| ps.iter().any(|p| names.iter().any(|a| a == p.as_str())))
    }

    /// What the user administers: the installation (`auth.admins`), their
    /// own tenant (`auth.tenant_admins`, under their tenant's name), or
    /// nothing.
    pub fn admin_scope(&self, state: &AppState) -> Option<admin::Scope> {
        if self.is_admin(state) {
            return Some(admin::Scope::Installation);
        }
        let tenant = self.1.tenant()?;
        let names = state.workspace.config.auth.tenant_admins.get(tenant.as_str())?;
        self.named_in(names).then(|| admin::Scope::Tenant(tenant.clone()))
    }

    /// What `charge` needs, owned (for generation tasks).
    pub fn payer(&self) -> Payer {
        Payer { pass: self.1.clone(), key: self.2 }
    }
}

/// Who pays for a generation.
#[derive(Clone)]
pub struct Payer {
    pass: AccessPass,
    key: Option<(i64, Option<u64>)>,
}

impl Payer {
    /// Records a generation's tokens, at the answering model's price per
    /// million, against the caller's budgets; a failure to record is
    /// logged, never shown to the caller.
    pub async fn charge(&self, state: &AppState, stats: Option<&twake_llm::GenStats>, price_per_million: f64) {
        let Some(s) = stats else { return };
        self.charge_tokens(state, (s.prompt_tokens + s.completion_tokens) as u64, price_per_million).await;
    }

    /// [`Payer::charge`] for a known token count.
    pub async fn charge_tokens(&self, state: &AppState, tokens: u64, price_per_million: f64) {
        let who = twake_core::policy::quota::Requester { pass: &self.pass, key: self.key };
        if let Err(e) = state.workspace.quota_charge(&who, tokens, price_per_million).await {
            tracing::warn!(target: "api", error = %e, "could not record usage");
        }
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let bearer = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
        let (user, key) = match bearer {
            // A JWT has three dot-separated parts; API keys have none.
            Some(token) => match &state.oidc {
                Some(oidc) if token.split('.').count() == 3 => (oidc.verify(token).await?, None),
                _ => by_key(state, token).await?,
            },
            // Else the web UI's session cookie: a session the server
            // keeps (sign-out and revoking its key end it).
            None => match ui::session(parts)? {
                Some(id) => state.workspace.session_user(id).await?.ok_or_else(|| {
                    ApiError::unauthorized(
                        "Your session has ended (signed out, expired or its key revoked): sign in again.",
                    )
                })?,
                None => {
                    return Err(ApiError::unauthorized(
                        "You didn't provide an API key. Send `Authorization: Bearer <key>`; `twake-ai keys create --user EMAIL` makes one.",
                    ));
                }
            },
        };
        state.limits.check_rate(user.as_str())?;
        let pass = state.workspace.pass_for(&user).await?;
        Ok(User(user, pass, key))
    }
}

/// The owner of an API key, the key's id and daily limit; 401 if unknown.
pub(crate) async fn by_key(state: &AppState, token: &str) -> Result<(Principal, Option<(i64, Option<u64>)>), ApiError> {
    let (user, id, limit) = state
        .workspace
        .authenticate_key(token)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Incorrect or revoked API key provided."))?;
    Ok((user, Some((id, limit))))
}

async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics.record(&route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}

/// The keep-alive of every event stream: a comment each second while an
/// answer is being checked sentence by sentence, so that a client who
/// left is noticed at once (the write fails) and its generation dropped.
pub(crate) fn keep_alive() -> axum::response::sse::KeepAlive {
    axum::response::sse::KeepAlive::new().interval(std::time::Duration::from_secs(1))
}

/// A body over its limit is refused by the extractor with a plain-text
/// 413; every route answers in the API's error shape, naming the limit.
async fn too_large(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let upload = req.uri().path() == "/api/v1/files";
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || json {
        return resp;
    }
    let cfg = &state.workspace.config.server;
    if upload {
        ApiError::too_large(cfg.max_upload_bytes, "max_upload_bytes").into_response()
    } else {
        ApiError::too_large(cfg.max_request_bytes, "max_request_bytes").into_response()
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.workspace.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    let (generation, lexical, vectors) = state.workspace.index_state();
    text.push_str(&format!(
        "# HELP twake_index_generation The store generation this process's indexes reflect.\n# TYPE twake_index_generation gauge\ntwake_index_generation {generation}\n\
         # HELP twake_index_chunks Chunks in this process's indexes.\n# TYPE twake_index_chunks gauge\n\
         twake_index_chunks{{index=\"lexical\"}} {lexical}\ntwake_index_chunks{{index=\"vectors\"}} {vectors}\n"
    ));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some("not_found"),
        param: None,
        message:
            "No such route. The OpenAI-compatible API is under /v1, the native API under /api/v1, the web UI at /."
                .into(),
        retry_after: None,
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let limits = &state.workspace.config.server;
    let (body_max, upload_max) = (limits.max_request_bytes as usize, limits.max_upload_bytes as usize);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/api/v1/search", post(native::search))
        .route("/api/v1/ask", post(native::ask))
        .route("/api/v1/feedback", post(native::feedback))
        .route("/api/v1/threads", get(native::threads))
        .route("/api/v1/progress", get(native::progress))
        .route("/api/v1/rooms", get(native::rooms))
        .route("/api/v1/minutes", post(native::minutes))
        .route("/api/v1/summarize/thread", post(native::summarize_thread))
        .route("/api/v1/summarize/room", post(native::summarize_room))
        .route("/api/v1/brief", post(native::brief))
        .route("/api/v1/draft-reply", post(native::draft_reply))
        .route("/api/v1/rewrite", post(native::rewrite))
        .route("/api/v1/triage", post(native::triage))
        .route("/api/v1/me", get(native::me))
        .route("/api/v1/documents/{id}", get(native::document))
        .route("/api/v1/conversations", get(native::conversations).post(native::create_conversation))
        .route(
            "/api/v1/conversations/{id}",
            get(native::conversation)
                .put(native::save_conversation)
                .patch(native::rename_conversation)
                .delete(native::delete_conversation),
        )
        .route("/api/v1/admin/users", get(admin::users))
        .route("/api/v1/admin/memberships", post(admin::add_member).delete(admin::remove_member))
        .route("/api/v1/admin/keys", get(admin::keys).post(admin::create_key))
        .route("/api/v1/admin/keys/{id}", axum::routing::delete(admin::revoke_key))
        .route("/api/v1/admin/models", get(admin::models))
        .route("/api/v1/admin/access", get(admin::access_report))
        .route("/api/v1/admin/audit", get(admin::audit))
        .route("/api/v1/admin/usage", get(admin::usage))
        .route("/api/v1/admin/feedback", get(admin::feedback))
        .route("/api/v1/usage", get(native::usage))
        .route("/api/v1/sources", get(native::sources))
        .route(
            "/api/v1/files",
            get(native::files)
                .post(native::upload)
                .layer(DefaultBodyLimit::max(upload_max))
                .delete(native::delete_file),
        )
        .route("/api/v1/jobs/{id}", get(native::job))
        .route("/api/v1/openapi.json", get(native::openapi))
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/ui/icon.svg", get(ui::icon))
        .route("/ui/config", get(ui::config))
        .route("/ui/session", post(ui::sign_in))
        .route("/ui/logout", post(ui::sign_out))
        .route("/ui/oidc/login", get(ui::oidc_login))
        .route("/ui/oidc/callback", get(ui::oidc_callback))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_max))
        .layer(axum::middleware::from_fn_with_state(state.clone(), too_large))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
/// Meanwhile, what other processes change in the data directory (a CLI
/// ingest, a sync) is seen within a second.
pub async fn serve(listener: tokio::net::TcpListener, mut state: AppState) -> std::io::Result<()> {
    state.listen = Some(listener.local_addr()?);
    let fresh = tokio::spawn(keep_fresh(state.workspace.clone()));
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown()).await;
    fresh.abort();
    served
}

async fn keep_fresh(ws: Arc<Workspace>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = ws.refresh().await {
            tracing::warn!(target: "api", error = %e, "cannot reload the indexes from the store");
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!(target: "api", "shutting down");
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub(crate) fn json_ok<T: serde::Serialize>(v: T) -> Response {
    Json(v).into_response()
}
