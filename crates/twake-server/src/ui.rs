//! The web UI: a single page (HTML, one script, one style sheet, embedded
//! in the binary) that talks to the native API with the same routes as any
//! client, and the sign-in around it.
//!
//! Sign-in puts one credential in an `HttpOnly`, `SameSite=Strict` cookie,
//! `twake_session`: an API key (`key:…`, checked against the store on every
//! request, so revoking the key ends the session) or the ID token of the
//! identity provider (`oidc:…`, verified like a bearer JWT on every request,
//! with the web client as audience, until it expires). The server keeps no
//! session state. A cookie-authenticated request that changes anything must
//! also carry `X-Twake-UI: 1`, which a cross-site form cannot send.
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

/// The credential a session cookie holds.
pub enum Session<'a> {
    Key(&'a str),
    IdToken(&'a str),
}

/// The session cookie of a request, if any. Refuses (403) a changing
/// request that has the cookie but not the UI's header.
pub fn session(parts: &Parts) -> Result<Option<Session<'_>>, ApiError> {
    let Some(value) = cookie(&parts.headers, SESSION) else { return Ok(None) };
    if !matches!(parts.method, Method::GET | Method::HEAD) && !parts.headers.contains_key(UI_HEADER) {
        return Err(ApiError::forbidden(
            "A request signed in by the web UI's cookie must send `X-Twake-UI: 1` (cross-site requests are refused).",
        ));
    }
    Ok(if let Some(k) = value.strip_prefix("key:") {
        Some(Session::Key(k))
    } else {
        value.strip_prefix("oidc:").map(Session::IdToken)
    })
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

/// Whether the browser reached us over HTTPS (directly behind a proxy that
/// says so, or as the configured redirect URL says).
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
        || state.workspace.config.auth.oidc_redirect_url.as_deref().is_some_and(|u| u.starts_with("https://"))
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
    let (user, _) = crate::by_key(&state, key).await?;
    let mut r = Json(json!({ "user": user.as_str() })).into_response();
    let c = set_cookie(SESSION, &format!("key:{key}"), "/", "Strict", None, secure(&state, &headers));
    r.headers_mut().append(header::SET_COOKIE, c);
    Ok(r)
}

/// `POST /ui/logout`: forgets the session cookie; answers where to end
/// the identity provider's session too, if it has such an endpoint.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !headers.contains_key(UI_HEADER) {
        return ApiError::forbidden("Sign out from the web UI (it sends `X-Twake-UI: 1`).").into_response();
    }
    let was_oidc = cookie(&headers, SESSION).is_some_and(|v| v.starts_with("oidc:"));
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
    let bytes = twake_core::keys::random_bytes(32).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn redirect_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.workspace.config.auth.oidc_redirect_url {
        return u.clone();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = if secure(state, headers) { "https" } else { "http" };
    format!("{scheme}://{host}/ui/oidc/callback")
}

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
    let redirect = redirect_url(&state, &headers);
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
    let redirect = redirect_url(&state, &headers);
    match oidc.exchange(&code, &redirect, &verifier, &nonce).await {
        Ok((token, user)) => {
            tracing::info!(target: "api", user = user.as_str(), "signed in to the web UI");
            let secure = secure(&state, &headers);
            let mut r = Redirect::to("/").into_response();
            let h = r.headers_mut();
            h.append(header::SET_COOKIE, set_cookie(SESSION, &format!("oidc:{token}"), "/", "Strict", None, secure));
            h.append(header::SET_COOKIE, set_cookie(PENDING, "", "/ui/oidc", "Lax", Some(0), secure));
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
        assert!(matches!(session(&parts), Ok(Some(Session::Key("twk_abc")))));
    }
}
