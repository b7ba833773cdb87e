//! What every HTTP read from outside shares (the WebDAV, CalDAV and JMAP
//! connectors, the gateway's remote models): the client with the
//! organisation's authorities, the scheme check, how the secret is sent,
//! bodies read within a cap, and errors without URLs.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::{CoreError, Result};

/// A password or an access token: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the source's own requests only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the secret is sent: HTTP Basic (a password) or a Bearer token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpAuth {
    #[default]
    Basic,
    Bearer,
}

/// The parsed URL and a client trusting the system's authorities and
/// `ca_file`; `http://` only when `insecure` (a test server).
pub(crate) fn client(url: &str, insecure: bool, ca_file: Option<&str>) -> Result<(Url, reqwest::Client)> {
    let base = Url::parse(url).map_err(|e| {
        CoreError::Other(format!("invalid URL {url:?} ({e}): give e.g. https://dav.example.org/files/"))
    })?;
    match base.scheme() {
        "https" => {}
        "http" if insecure => {}
        "http" => {
            return Err(CoreError::Other(format!(
                "{url} is not encrypted (http://): use https://, or add --insecure for a test server"
            )));
        }
        other => return Err(CoreError::Other(format!("invalid URL {url:?}: {other}:// is not http(s)"))),
    }
    let mut http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(5));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| CoreError::Other(format!("cannot read the CA file {path} ({e}): give a PEM file")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| CoreError::Other(format!("the CA file {path} is not PEM certificates ({e})")))?;
        for c in certs {
            http = http.add_root_certificate(c);
        }
    }
    let http = http.build().map_err(|e| CoreError::Other(format!("HTTP client: {e}")))?;
    Ok((base, http))
}

/// Whether a request failed on the server's certificate.
pub(crate) fn is_certificate(e: &reqwest::Error) -> bool {
    let text = cause_text(e).to_lowercase();
    text.contains("certificate") || text.contains("unknownissuer") || text.contains("invalid peer")
}

fn cause_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s = format!("{s}: {c}");
        src = c.source();
    }
    s
}

/// The error and its causes, without the URL (which may carry a query).
pub(crate) fn cause(e: reqwest::Error) -> String {
    cause_text(&e.without_url())
}

/// What to say about a request that failed on the certificate.
pub(crate) fn certificate_refused(e: reqwest::Error) -> CoreError {
    CoreError::Other(format!(
        "the server's TLS certificate was refused ({}): if it is signed by your organisation's own authority, give that authority with --ca-file",
        cause(e)
    ))
}

/// Who an HTTP source logs in as.
#[derive(Clone)]
pub(crate) struct Login {
    pub(crate) username: String,
    pub(crate) secret: Secret,
    pub(crate) auth: HttpAuth,
}

impl Login {
    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.auth {
            HttpAuth::Basic => req.basic_auth(&self.username, Some(self.secret.expose())),
            HttpAuth::Bearer => req.bearer_auth(self.secret.expose()),
        }
    }
}

/// Attempts per request before a sync fails (backoff 0.5 s, 1 s, 2 s, 4 s).
pub(crate) const ATTEMPTS: u32 = 5;

/// One request (`build` makes it anew for each attempt, `login` is
/// added), retried on connection failures, 429 and 5xx answers; a refused
/// login or certificate, a missing resource or a refused method stop at
/// once with what to check.
pub(crate) async fn send(
    login: &Login,
    method: &Method,
    url: &Url,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    // A path made of what a server sent is cut for messages.
    let what = format!("{method} {}", url.path().chars().take(200).collect::<String>());
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
        }
        let resp = match login.apply(build()).send().await {
            Ok(r) => r,
            Err(e) if is_certificate(&e) => return Err(certificate_refused(e)),
            // It would fail the same way every time (a name the server sent
            // that no URL can carry).
            Err(e) if e.is_builder() => {
                return Err(CoreError::Other(format!("{what}: cannot make the request ({})", cause(e))));
            }
            Err(e) => {
                last = format!("cannot reach {} ({})", url.host_str().unwrap_or("the server"), cause(e));
                continue;
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            last = format!("{what}: server answered {status}");
            continue;
        }
        return Err(CoreError::Other(match status {
            StatusCode::UNAUTHORIZED => format!(
                "the server refused the login of {:?} ({status}): check the user and the password",
                login.username
            ),
            StatusCode::FORBIDDEN => format!("{what}: the account may not read this ({status})"),
            StatusCode::NOT_FOUND => format!("{what}: nothing there ({status}): check the URL"),
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => {
                format!("{what}: the server does not take {method} there ({status}): check the URL")
            }
            _ => format!("{what}: server answered {status}"),
        }));
    }
    Err(CoreError::Other(format!("{last} (after {ATTEMPTS} attempts with backoff)")))
}

/// The longest answer read from a server's API (a JSON document, a
/// listing): past it the server is broken or hostile.
pub const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// The body of `resp`, read no further than `max` bytes whatever length
/// the server declared: `Ok(None)` when it is longer.
pub async fn body_within(
    mut resp: reqwest::Response,
    max: u64,
) -> std::result::Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if (bytes.len() + chunk.len()) as u64 > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// An API answer of at most [`MAX_ANSWER_BYTES`], as text; the error says
/// what was read and why it stopped.
pub(crate) async fn answer_text(resp: reqwest::Response, what: &str) -> Result<String> {
    match body_within(resp, MAX_ANSWER_BYTES).await {
        Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => Err(CoreError::Other(format!(
            "{what}: the server's answer is larger than {} MB: refused (a broken or hostile server)",
            MAX_ANSWER_BYTES >> 20
        ))),
        Err(e) => Err(CoreError::Other(format!("{what}: {}", cause(e)))),
    }
}
