//! The web UI: a single page (HTML, one script, one style sheet, embedded
//! in the binary) that talks to the native API with the same routes as any
//! client, and the sign-in around it.
//!
//! Sign-in (with an API key, or by the identity provider) opens a session
//! the server keeps (`Workspace::open_session`): the `HttpOnly`,
//! `SameSite=Strict` cookie `twake_session` holds only its random id —
//! never the key or a token — and the store its hash. Signing out deletes
//! it; a session opened with a key ends when the key is revoked; one
//! opened by the identity provider lasts no longer than its ID token, and
//! none longer than `auth.session_hours`. The cookie is `Secure` unless
//! `serve` listens on a loopback address (or a proxy says HTTPS). The OIDC
//! callback URL is `auth.oidc_redirect_url`, derived from the listening
//! address only on loopback, never from a request's `Host`. A
//! cookie-authenticated request that changes anything must also carry
//! `X-Twake-UI: 1`, which a cross-site form cannot send.
//!
//! Invariant: the page loads nothing from any other host (the
//! `Content-Security-Policy` says `default-src 'self'`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::error::parse_json;
use crate::{ApiError, AppState};

const SESSION: &str = "twake_session";
const PENDING: &str = "twake_oidc";
/// The header a cookie session's changing requests must carry.
pub const UI_HEADER: &str = "x-twake-ui";

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");
const ICON: &str = include_str!("../ui/icon.svg");

/// The session id of a request's cookie, if any. Refuses (403) a changing
/// request that has the cookie but not the UI's header.
pub fn session(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = cookie(&parts.headers, SESSION) else { return Ok(None) };
    if !matches!(parts.method, Method::GET | Method::HEAD) && !parts.headers.contains_key(UI_HEADER) {
        return Err(ApiError::forbidden(
            "A request signed in by the web UI's cookie must send `X-Twake-UI: 1` (cross-site requests are refused).",
        ));
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether cookies are `Secure`: always, unless `serve` listens on a
/// loopback address (a browser on the same machine, over plain HTTP) and
/// neither a proxy nor the configured redirect URL says HTTPS.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    !state.listen.is_some_and(|a| a.ip().is_loopback())
        || headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
        || state.workspace.config.auth.oidc_redirect_url.as_deref().is_some_and(|u| u.starts_with("https://"))
}

/// Opens a session and the cookie that holds its id.
async fn open_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &twake_core::Principal,
    key: Option<i64>,
    until: Option<i64>,
) -> Result<HeaderValue, ApiError> {
    let seconds = i64::from(state.workspace.config.auth.session_hours) * 3600;
    let Some(id) = state.workspace.open_session(user, key, seconds, until).await? else {
        return Err(ApiError::unauthorized("The identity provider's token has already expired: sign in again."));
    };
    Ok(set_cookie(SESSION, &id, "/", "Strict", None, secure(state, headers)))
}

fn set_cookie(name: &str, value: &str, path: &str, same_site: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /` (and any `/ui/…` page): the application's page.
pub async fn index() -> Response {
    let mut r = Html(INDEX).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// `GET /ui/config`: what the sign-in page offers (no secret).
pub async fn config(State(state): State<AppState>) -> Response {
    let oidc = state.oidc.as_ref().is_some_and(|o| o.web.is_some());
    Json(json!({ "oidc": oidc })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySignIn {
    key: String,
}

/// `POST /ui/session {"key"}`: signs in with an API key.
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    if !headers.contains_key(UI_HEADER) {
        return Err(ApiError::forbidden("Sign in from the web UI (it sends `X-Twake-UI: 1`)."));
    }
    let req: KeySignIn = parse_json(&body)?;
    let key = req.key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
        return Err(ApiError::unauthorized("Incorrect or revoked API key provided."));
    }
    let (user, key) = crate::by_key(&state, key).await?;
    let c = open_session(&state, &headers, &user, key.map(|(id, _)| id), None).await?;
    let mut r = Json(json!({ "user": user.as_str() })).into_response();
    r.headers_mut().append(header::SET_COOKIE, c);
    Ok(r)
}

/// `POST /ui/logout`: ends the session (the server forgets it, so a copy
/// of the cookie is worth nothing) and clears the cookie; answers where to
/// end the identity provider's session too, if it has such an endpoint.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !headers.contains_key(UI_HEADER) {
        return ApiError::forbidden("Sign out from the web UI (it sends `X-Twake-UI: 1`).").into_response();
    }
    let mut was_oidc = false;
    if let Some(id) = cookie(&headers, SESSION) {
        was_oidc = matches!(state.workspace.session_user(id).await, Ok(Some((_, None))));
        if let Err(e) = state.workspace.close_session(id).await {
            return ApiError::from(e).into_response();
        }
    }
    let end = state
        .oidc
        .as_ref()
        .and_then(|o| o.web.as_ref())
        .and_then(|w| w.end_session_endpoint.clone())
        .filter(|_| was_oidc);
    let mut r = Json(json!({ "end_session": end })).into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION, "", "/", "Strict", Some(0), secure(&state, &headers)));
    r
}

fn random_token() -> Result<String, ApiError> {
    let bytes = twake_core::policy::keys::random_bytes(32).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The OIDC callback URL: the configured one; on a loopback address, the
/// listening address's. Never a request's `Host`, which the client writes.
fn redirect_url(state: &AppState) -> Option<String> {
    if let Some(u) = &state.workspace.config.auth.oidc_redirect_url {
        return Some(u.clone());
    }
    state.listen.filter(|a| a.ip().is_loopback()).map(|a| format!("http://{a}/ui/oidc/callback"))
}

const NO_REDIRECT: &str = "auth.oidc_redirect_url is not configured: the server listens on a public address, \
                           so it cannot know its own URL (set it to https://<your host>/ui/oidc/callback).";

/// A page for a sign-in that went wrong: what happened and a way back.
fn sign_in_failed(status: StatusCode, why: &str) -> Response {
    let escaped = why.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>TwakeAI</title><link rel=stylesheet href=/ui/app.css>\
         <main class=narrow><h1>Sign-in failed / Échec de la connexion</h1><p role=alert>{escaped}</p>\
         <p><a href=/>Back / Retour</a></p></main>"
    );
    (status, Html(page)).into_response()
}

/// `GET /ui/oidc/login`: to the identity provider with a PKCE challenge.
/// The verifier, state and nonce wait in a short-lived cookie scoped to
/// the callback (`SameSite=Lax`: it must come back with the provider's
/// redirect).
pub async fn oidc_login(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(oidc) = state.oidc.as_ref().filter(|o| o.web.is_some()) else {
        return sign_in_failed(
            StatusCode::NOT_FOUND,
            "Sign-in with the identity provider is not configured: set auth.oidc_issuer and auth.oidc_client_id.",
        );
    };
    let (Ok(st), Ok(verifier), Ok(nonce)) = (random_token(), random_token(), random_token()) else {
        return sign_in_failed(StatusCode::INTERNAL_SERVER_ERROR, "No randomness available on the server.");
    };
    let Some(redirect) = redirect_url(&state) else {
        return sign_in_failed(StatusCode::INTERNAL_SERVER_ERROR, NO_REDIRECT);
    };
    let Some(url) = oidc.authorize_url(&redirect, &st, &verifier, &nonce) else {
        return sign_in_failed(StatusCode::BAD_GATEWAY, "The identity provider's authorization endpoint is not a URL.");
    };
    let pending = format!("{st}.{verifier}.{nonce}");
    let mut r = Redirect::to(&url).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PENDING, &pending, "/ui/oidc", "Lax", Some(600), secure(&state, &headers)),
    );
    r
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /ui/oidc/callback`: checks the state, trades the code for an ID
/// token and makes it the session.
pub async fn oidc_callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let Some(oidc) = state.oidc.as_ref() else {
        return sign_in_failed(StatusCode::NOT_FOUND, "Sign-in with the identity provider is not configured.");
    };
    if let Some(e) = q.error {
        let why = q.error_description.unwrap_or_default();
        return sign_in_failed(StatusCode::UNAUTHORIZED, &format!("The identity provider answered {e}. {why}"));
    }
    let pending = cookie(&headers, PENDING).and_then(|p| {
        let mut it = p.splitn(3, '.');
        Some((it.next()?.to_string(), it.next()?.to_string(), it.next()?.to_string()))
    });
    let Some((expected, verifier, nonce)) = pending else {
        return sign_in_failed(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here or took more than 10 minutes: start again.",
        );
    };
    if q.state.as_deref() != Some(expected.as_str()) {
        return sign_in_failed(StatusCode::BAD_REQUEST, "The sign-in's state does not match: start again.");
    }
    let Some(code) = q.code else {
        return sign_in_failed(StatusCode::BAD_REQUEST, "The identity provider sent no authorization code.");
    };
    let Some(redirect) = redirect_url(&state) else {
        return sign_in_failed(StatusCode::INTERNAL_SERVER_ERROR, NO_REDIRECT);
    };
    let opened = match oidc.exchange(&code, &redirect, &verifier, &nonce).await {
        Ok((exp, user)) => open_session(&state, &headers, &user, None, Some(exp)).await.map(|c| (c, user)),
        Err(e) => Err(e),
    };
    match opened {
        Ok((session, user)) => {
            tracing::info!(target: "api", user = user.as_str(), "signed in to the web UI");
            let mut r = Redirect::to("/").into_response();
            let h = r.headers_mut();
            h.append(header::SET_COOKIE, session);
            h.append(header::SET_COOKIE, set_cookie(PENDING, "", "/ui/oidc", "Lax", Some(0), secure(&state, &headers)));
            r
        }
        Err(e) => sign_in_failed(e.status, &e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; twake_session=key:twk_abc; b=2"));
        assert_eq!(cookie(&h, SESSION), Some("key:twk_abc"));
        assert_eq!(cookie(&h, "twake"), None);
    }

    #[test]
    fn a_changing_cookie_request_needs_the_ui_header() {
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .header(header::COOKIE, "twake_session=key:twk_abc")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(session(&parts).err().map(|e| e.status), Some(StatusCode::FORBIDDEN));
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .header(header::COOKIE, "twake_session=key:twk_abc")
            .header(UI_HEADER, "1")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert!(matches!(session(&parts), Ok(Some("key:twk_abc"))));
    }
}
