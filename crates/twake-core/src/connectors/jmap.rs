//! JMAP mail (RFC 8620, RFC 8621): Twake Mail's protocol.
//!
//! Session discovery (the URL given, else its `/.well-known/jmap`), then
//! the account's mail: `Mailbox/get` for the mailboxes' roles, the whole
//! `Email/query` the first time, `Email/changes` from the saved state
//! afterwards (a state the server can no longer compute from is read whole
//! again). Each message is downloaded as its blob (the RFC 5322 message,
//! attachments included) and read by the same MIME reader as `ingest`.
//! A message only in the Trash or Junk mailbox is not indexed (a mail
//! "deleted" in a JMAP client is moved to the Trash: it leaves the
//! index; moved back, it returns). Under `serve`, the account's event
//! source (push, when offered) triggers a sync as soon as mail changes.
//!
//! Items: `jmap://NAME/EMAILID` (a message in two mailboxes is one item).

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use twake_index::SourceRow;
use twake_types::Principal;

use super::sync::{SyncEvent, SyncReport};
use crate::engine::http::{
    self, HttpAuth, Login, Secret, cause, certificate_refused, client as http_client, is_certificate,
};
use crate::ingest::items::{Stored, parse_mail, store_item};
use crate::{CoreError, Result, Workspace};

const MAIL: &str = "urn:ietf:params:jmap:mail";
const USING: [&str; 2] = ["urn:ietf:params:jmap:core", MAIL];

/// A JMAP account's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JmapSpec {
    /// The session resource, or the server (its `/.well-known/jmap`).
    pub url: String,
    /// The login name on the server.
    pub username: String,
    /// The TwakeAI user whose mailbox this is: the reader of its mail.
    pub owner: String,
    #[serde(default)]
    pub auth: HttpAuth,
    /// Allows `http://` (passwords in clear): for tests only.
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Messages larger than this are skipped with a notice.
    #[serde(default = "default_max_mail_mb")]
    pub max_mail_mb: u32,
}

fn default_max_mail_mb() -> u32 {
    25
}

impl JmapSpec {
    pub(crate) fn location(&self) -> String {
        format!("{} as {}", self.url, self.username)
    }
}

/// Messages asked for per `Email/get`, and downloaded between two saves.
const BATCH: usize = 50;

/// A connected session: where to send method calls and download blobs.
struct Session {
    http: reqwest::Client,
    login: Login,
    api: Url,
    download: String,
    event_source: Option<String>,
    base: Url,
    account: String,
}

impl Session {
    async fn open(spec: &JmapSpec, secret: &Secret) -> Result<Session> {
        let (given, http) = http_client(&spec.url, spec.insecure, spec.ca_file.as_deref())?;
        let mut s = Session {
            http,
            login: Login { username: spec.username.clone(), secret: secret.clone(), auth: spec.auth },
            api: given.clone(),
            download: String::new(),
            event_source: None,
            base: given.clone(),
            account: String::new(),
        };
        // The server's URL: its well-known session; another URL: itself,
        // then the well-known one of its server.
        let mut tries = if given.path() == "/" { vec![] } else { vec![given.clone()] };
        tries.extend(given.join("/.well-known/jmap").ok());
        let mut last = String::new();
        for url in tries {
            let resp = match s.login.apply(s.http.get(url.clone())).send().await {
                Ok(r) => r,
                Err(e) if is_certificate(&e) => return Err(certificate_refused(e)),
                Err(e) => {
                    return Err(CoreError::Other(format!(
                        "cannot reach {} ({})",
                        url.host_str().unwrap_or("the server"),
                        cause(e)
                    )));
                }
            };
            match resp.status() {
                StatusCode::OK => {}
                StatusCode::UNAUTHORIZED => {
                    return Err(CoreError::Other(format!(
                        "the server refused the login of {:?} (401): check the user and the password",
                        spec.username
                    )));
                }
                other => {
                    last = format!("GET {} answered {other}", url.path());
                    continue;
                }
            }
            let base = resp.url().clone();
            let text = crate::engine::http::answer_text(resp, &format!("GET {}", url.path())).await?;
            let Ok(session) = serde_json::from_str::<Value>(&text) else {
                last = format!("GET {} did not answer with a JMAP session", url.path());
                continue;
            };
            let Some(api) = session["apiUrl"].as_str() else {
                last = format!("GET {} answered JSON without an apiUrl", url.path());
                continue;
            };
            let account = session["primaryAccounts"][MAIL].as_str().map(String::from).ok_or_else(|| {
                CoreError::Other(format!("the JMAP server offers no mail account ({MAIL}) to {:?}", spec.username))
            })?;
            s.api = same_origin(&base, "apiUrl", api)?;
            s.download = session["downloadUrl"].as_str().unwrap_or_default().to_string();
            s.event_source = session["eventSourceUrl"].as_str().map(String::from);
            if !s.download.is_empty() {
                same_origin(&base, "downloadUrl", &s.download)?;
            }
            if let Some(events) = &s.event_source {
                same_origin(&base, "eventSourceUrl", events)?;
            }
            s.base = base.clone();
            s.account = account;
            if s.download.is_empty() {
                return Err(CoreError::Other("the JMAP session has no downloadUrl: cannot read messages".into()));
            }
            return Ok(s);
        }
        Err(CoreError::Other(format!(
            "{} is not a JMAP server ({last}): give the session URL (…/.well-known/jmap) or the server's",
            spec.url
        )))
    }

    /// One request with an optional JSON body, retried as `http::send` does.
    async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<reqwest::Response> {
        http::send(&self.login, &method, url, || {
            let req = self.http.request(method.clone(), url.clone());
            match body {
                Some(b) => req.json(b),
                None => req,
            }
        })
        .await
    }

    /// One method call; a method error is `Err(type)` inside `Ok`.
    async fn call(&self, method: &str, mut args: Value) -> Result<std::result::Result<Value, String>> {
        args["accountId"] = json!(self.account);
        let body = json!({"using": USING, "methodCalls": [[method, args, "0"]]});
        let resp = self.send(Method::POST, &self.api, Some(&body)).await?;
        let text = crate::engine::http::answer_text(resp, method).await?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| CoreError::Other(format!("{method}: the JMAP server's answer is not JSON ({e})")))?;
        let r = &v["methodResponses"][0];
        match r[0].as_str() {
            Some("error") => Ok(Err(r[1]["type"].as_str().unwrap_or("unknown").to_string())),
            Some(name) if name == method => Ok(Ok(r[1].clone())),
            _ => Err(CoreError::Other(format!("{method}: unexpected JMAP answer {}", truncate(&v.to_string())))),
        }
    }

    async fn must(&self, method: &str, args: Value) -> Result<Value> {
        self.call(method, args).await?.map_err(|t| CoreError::Other(format!("{method} failed on the server: {t}")))
    }

    /// A blob's bytes, or `None` when it is longer than `max` bytes (read
    /// no further than that, whatever size the server declared).
    async fn download(&self, blob: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let url = self
            .download
            .replace("{accountId}", &enc(&self.account))
            .replace("{blobId}", &enc(blob))
            .replace("{name}", "message.eml")
            .replace("{type}", &enc("message/rfc822"));
        let url = self
            .base
            .join(&url)
            .map_err(|e| CoreError::Other(format!("the JMAP download URL {url:?} is invalid ({e})")))?;
        let resp = self.send(Method::GET, &url, None).await?;
        crate::engine::http::body_within(resp, max)
            .await
            .map_err(|e| CoreError::Other(format!("downloading message {blob}: {}", cause(e))))
    }
}

/// A URL of the session resolved against it, refused when it is on
/// another origin (scheme, host, port): the credentials go only to the
/// server whose session it is, never to a host the session names.
fn same_origin(base: &Url, what: &str, u: &str) -> Result<Url> {
    let url =
        base.join(u).map_err(|e| CoreError::Other(format!("the JMAP session has an invalid {what} {u:?} ({e})")))?;
    if url.origin() != base.origin() {
        return Err(CoreError::Other(format!(
            "the JMAP session's {what} {u:?} is on another server than the session ({}): refused, \
             TwakeAI sends the credentials only to the session's own origin",
            base.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Checks the account once: the session answers, with a mail account.
pub(crate) async fn connect(spec: &JmapSpec, secret: &Secret) -> Result<()> {
    Principal::parse(&spec.owner).map_err(|e| {
        CoreError::Other(format!("invalid mailbox owner {:?} ({e}): give the user's address", spec.owner))
    })?;
    let s = Session::open(spec, secret).await?;
    s.must("Mailbox/get", json!({"ids": null, "properties": ["id"]})).await?;
    Ok(())
}

/// The cursor.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The account's Email state when the last complete sync started:
    /// `Email/changes` continues from it.
    #[serde(default)]
    email_state: Option<String>,
    /// Messages indexed.
    #[serde(default)]
    indexed: BTreeSet<String>,
    /// Messages skipped (too large, not a mail), not asked again.
    #[serde(default)]
    skipped: BTreeSet<String>,
}

pub(crate) async fn sync(
    ws: &Workspace,
    row: &SourceRow,
    spec: &JmapSpec,
    progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
) -> Result<SyncReport> {
    let owner = Principal::parse(&spec.owner).map_err(|e| CoreError::Other(format!("invalid mailbox owner: {e}")))?;
    let session = Session::open(spec, &Secret::new(row.secret.clone())).await?;
    let mut run = Run {
        ws,
        row,
        session,
        owner,
        max_bytes: u64::from(spec.max_mail_mb) << 20,
        state: serde_json::from_str(&row.state).unwrap_or_default(),
        report: SyncReport::default(),
        hidden: BTreeSet::new(),
    };
    run.once(progress).await?;
    Ok(run.report)
}

struct Run<'a> {
    ws: &'a Workspace,
    row: &'a SourceRow,
    session: Session,
    owner: Principal,
    max_bytes: u64,
    state: State,
    report: SyncReport,
    /// Mailboxes whose messages are not indexed (Trash, Junk).
    hidden: BTreeSet<String>,
}

impl Run<'_> {
    async fn once(&mut self, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) -> Result<()> {
        let boxes =
            self.session.must("Mailbox/get", json!({"ids": null, "properties": ["id", "name", "role"]})).await?;
        self.hidden = boxes["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| matches!(m["role"].as_str(), Some("trash" | "junk")))
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        self.report.places = boxes["list"].as_array().map_or(0, Vec::len);
        progress(SyncEvent::Places { total: 1 });
        let ids = match self.state.email_state.clone() {
            Some(since) => self.changes(since).await?,
            None => None,
        };
        let (ids, new_state) = match ids {
            Some(found) => found,
            None => self.everything().await?,
        };
        let total = ids.len();
        for (i, chunk) in ids.chunks(BATCH).enumerate() {
            self.read(chunk, progress).await?;
            progress(SyncEvent::Items { place: "mail", done: (i * BATCH + chunk.len()).min(total), total });
            self.save().await?;
        }
        self.state.email_state = Some(new_state);
        self.save().await?;
        progress(SyncEvent::PlaceDone { name: "mail", done: 1, total: 1, items: self.report.stored });
        Ok(())
    }

    /// What changed since `since`: the messages to look at again (the
    /// destroyed ones are forgotten here) and the new state; `None` when
    /// the server cannot tell any more.
    async fn changes(&mut self, mut since: String) -> Result<Option<(Vec<String>, String)>> {
        let mut look = BTreeSet::new();
        loop {
            let r = match self.session.call("Email/changes", json!({"sinceState": since, "maxChanges": 1000})).await? {
                Ok(r) => r,
                Err(t) if t == "cannotCalculateChanges" => {
                    tracing::info!(source = %self.row.name, "the JMAP server cannot compute changes: reading the mailbox whole");
                    return Ok(None);
                }
                Err(t) => return Err(CoreError::Other(format!("Email/changes failed on the server: {t}"))),
            };
            for key in ["created", "updated"] {
                look.extend(r[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)));
            }
            for id in r["destroyed"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                look.remove(id);
                self.forget(id).await?;
            }
            since = r["newState"].as_str().unwrap_or_default().to_string();
            if r["hasMoreChanges"] != json!(true) || since.is_empty() {
                break;
            }
        }
        Ok(Some((look.into_iter().collect(), since)))
    }

    /// Every message of the account (the state taken first, so nothing
    /// that changes meanwhile is missed next time); what is indexed but no
    /// longer there is forgotten.
    async fn everything(&mut self) -> Result<(Vec<String>, String)> {
        let state = self.session.must("Email/get", json!({"ids": [], "properties": ["id"]})).await?;
        let state = state["state"].as_str().unwrap_or_default().to_string();
        let mut ids = Vec::new();
        loop {
            let r = self
                .session
                .must(
                    "Email/query",
                    json!({"sort": [{"property": "receivedAt", "isAscending": true}], "position": ids.len(), "limit": 1000}),
                )
                .await?;
            let page: Vec<String> =
                r["ids"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
            if page.is_empty() {
                break;
            }
            ids.extend(page);
            if r["total"].as_u64().is_some_and(|t| ids.len() as u64 >= t) {
                break;
            }
        }
        let listed: BTreeSet<&String> = ids.iter().collect();
        let gone: Vec<String> = self.state.indexed.iter().filter(|id| !listed.contains(id)).cloned().collect();
        for id in gone {
            self.forget(&id).await?;
        }
        self.state.skipped.retain(|id| listed.contains(id));
        Ok((ids, state))
    }

    fn path(&self, id: &str) -> String {
        format!("jmap://{}/{id}", self.row.name)
    }

    async fn forget(&mut self, id: &str) -> Result<()> {
        self.state.indexed.remove(id);
        self.state.skipped.remove(id);
        if self.ws.forget_locked(&self.path(id)).await? {
            self.report.removed += 1;
        }
        Ok(())
    }

    fn notice(&mut self, text: String, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) {
        progress(SyncEvent::Notice(&text));
        self.report.notices.push(text);
    }

    /// Looks at some messages again: indexes the new ones, forgets the ones
    /// gone or now only in the Trash or Junk.
    async fn read(&mut self, ids: &[String], progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) -> Result<()> {
        let r = self
            .session
            .must("Email/get", json!({"ids": ids, "properties": ["id", "blobId", "size", "mailboxIds", "subject"]}))
            .await?;
        for id in r["notFound"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            self.forget(id).await?;
        }
        for m in r["list"].as_array().into_iter().flatten() {
            let (Some(id), Some(blob)) = (m["id"].as_str(), m["blobId"].as_str()) else { continue };
            let boxes: Vec<&String> = m["mailboxIds"].as_object().map(|o| o.keys().collect()).unwrap_or_default();
            if !boxes.is_empty() && boxes.iter().all(|b| self.hidden.contains(*b)) {
                self.forget(id).await?;
                continue;
            }
            if self.state.indexed.contains(id) {
                self.report.unchanged += 1;
                continue;
            }
            if self.state.skipped.contains(id) {
                continue;
            }
            let subject = m["subject"].as_str().unwrap_or("").to_string();
            if m["size"].as_u64().is_some_and(|n| n > self.max_bytes) {
                let n = format!("message {subject:?} is larger than the limit of {} MB: skipped", self.max_bytes >> 20);
                self.notice(n, progress);
                self.state.skipped.insert(id.to_string());
                continue;
            }
            // The declared size is the server's word: the download itself
            // stops at the limit too.
            let Some(raw) = self.session.download(blob, self.max_bytes).await? else {
                let n = format!("message {subject:?} is larger than the limit of {} MB: skipped", self.max_bytes >> 20);
                self.notice(n, progress);
                self.state.skipped.insert(id.to_string());
                continue;
            };
            let path = self.path(id);
            let (raw, parsed) = parse_mail(&path, raw).await;
            let documents = match parsed {
                Ok(documents) => documents,
                Err(e) => {
                    self.notice(format!("message {subject:?} cannot be read as a mail ({e}): skipped"), progress);
                    self.state.skipped.insert(id.to_string());
                    continue;
                }
            };
            let tenant = self.row.tenant.clone();
            match store_item(self.ws, path, &raw, vec![self.owner.clone()], "jmap", &tenant, documents).await? {
                // Stored by a sync cut before its cursor was saved.
                Stored::Unchanged => self.report.unchanged += 1,
                Stored::New | Stored::Replaced => self.report.stored += 1,
            }
            self.state.indexed.insert(id.to_string());
        }
        Ok(())
    }

    async fn save(&mut self) -> Result<()> {
        let saved = serde_json::to_string(&self.state).map_err(|e| CoreError::Other(e.to_string()))?;
        self.ws.store.source_save_state(&self.row.name, &saved, self.state.indexed.len() as i64).await?;
        self.ws.commit_lexical()
    }
}

/// Waits until the account's event source announces that its mail is no
/// longer at the state of the last sync (`true`), or `timeout` passes
/// (`false`). An error when the server has no event source or cannot be
/// reached.
pub(crate) async fn wait_for_change(spec: &JmapSpec, secret: &Secret, saved: &str, timeout: Duration) -> Result<bool> {
    let synced = serde_json::from_str::<State>(saved).ok().and_then(|s| s.email_state);
    let s = Session::open(spec, secret).await?;
    let Some(template) = &s.event_source else {
        return Err(CoreError::Other("the JMAP server offers no event source (push)".into()));
    };
    let url = template.replace("{types}", "Email").replace("{closeafter}", "no").replace("{ping}", "60");
    let url = s.base.join(&url).map_err(|e| CoreError::Other(format!("invalid eventSourceUrl {url:?} ({e})")))?;
    let req = s.http.get(url).header("Accept", "text/event-stream").timeout(timeout + Duration::from_secs(5));
    let resp = s.login.apply(req).send().await.map_err(|e| CoreError::Other(format!("event source: {}", cause(e))))?;
    if resp.status() != StatusCode::OK {
        // Cyrus 3.6 advertises an event source and answers 204 No Content.
        return Err(CoreError::Other(format!("the event source answered {}, not a stream", resp.status())));
    }
    let mut resp = resp;
    let mut pending = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Ok(false),
            Ok(Ok(None)) => return Err(CoreError::Other("the event source closed the stream".into())),
            Ok(Err(e)) => return Err(CoreError::Other(format!("event source: {}", cause(e)))),
            Ok(Ok(Some(c))) => c,
        };
        pending.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        if pending.len() > MAX_EVENT_BYTES && !pending.contains("\n\n") {
            // One event never ends: a server (or what poses as one) that
            // would fill our memory.
            return Err(CoreError::Other(format!(
                "the event source sent an event of more than {} KB: stopped listening",
                MAX_EVENT_BYTES >> 10
            )));
        }
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(now) = email_state(&event, &s.account)
                && synced.as_deref() != Some(now.as_str())
            {
                return Ok(true);
            }
        }
    }
}

/// The longest server-sent event read from the event source.
const MAX_EVENT_BYTES: usize = 64 << 10;

/// The account's mail state announced by one server-sent `state` event.
fn email_state(event: &str, account: &str) -> Option<String> {
    let mut name = "message";
    let mut data = String::new();
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    if name != "state" {
        return None;
    }
    let v = serde_json::from_str::<Value>(&data).ok()?;
    v["changed"][account]["Email"].as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_events_of_the_account_mail_are_told_from_the_rest() {
        let ev = "event: state\ndata: {\"@type\":\"StateChange\",\"changed\":{\"alice\":{\"Email\":\"42\",\"Thread\":\"9\"}}}\n\n";
        assert_eq!(email_state(ev, "alice").as_deref(), Some("42"));
        assert_eq!(email_state(ev, "bob"), None);
        assert_eq!(email_state("event: ping\ndata: {\"interval\":60}\n\n", "alice"), None);
        let mailbox_only = "event: state\ndata: {\"changed\":{\"alice\":{\"Mailbox\":\"3\"}}}\n\n";
        assert_eq!(email_state(mailbox_only, "alice"), None);
    }

    #[test]
    fn credentials_go_only_to_the_sessions_own_origin() {
        let base = Url::parse("https://mail.valmont.fr/.well-known/jmap").unwrap();
        let ok = same_origin(&base, "apiUrl", "/jmap/").unwrap();
        assert_eq!(ok.as_str(), "https://mail.valmont.fr/jmap/");
        let template = "https://mail.valmont.fr/jmap/download/{accountId}/{blobId}/{name}?type={type}";
        assert!(same_origin(&base, "downloadUrl", template).is_ok());
        for other in [
            "https://evil.org/jmap/",
            "http://mail.valmont.fr/jmap/",
            "https://mail.valmont.fr:8443/jmap/",
            "//evil.org/download/{blobId}",
        ] {
            let e = same_origin(&base, "downloadUrl", other).unwrap_err().to_string();
            assert!(e.contains("another server"), "{other}: {e}");
        }
    }
}
