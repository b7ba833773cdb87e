//! The Matrix connector (client-server API v3): an account TwakeAI reads
//! with, `/sync` from a saved `next_batch`, `/messages` to backfill a
//! room's history or a gap, edits (`m.replace`: the latest content is
//! indexed), redactions (the item disappears), threads, and room membership
//! over time.
//!
//! Access follows Matrix's history visibility: a message is readable by the
//! users who were joined when it was sent (explicit grants, kept after they
//! leave, as in Matrix), and, when the room's history is `shared` (or
//! `world_readable`), by the room's *current* members through the
//! `room:<room id>` container, whose members are rewritten from
//! `joined_members` at each sync — a user who joins later reads the shared
//! history, one who leaves loses what they could only read as a member.
//! Encrypted rooms are listed and skipped with a notice (TwakeAI holds no
//! keys).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twake_extract::chat::{latest_content, message_text, replaces, rfc3339_ms, thread_of};
use twake_index::{FileRecord, SourceRow};
use twake_types::{Document, Locator, Principal, Section, SourceKind};

use super::sync::{Credentials, SyncEvent, SyncReport};
use crate::engine::http::Secret;
use crate::ingest::item_prefix;
use crate::{CoreError, Result, Workspace};

/// A Matrix source's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSpec {
    /// The homeserver's base URL, e.g. `https://matrix.valmont.fr`.
    pub homeserver: String,
    /// The account TwakeAI reads with (filled in at connection).
    #[serde(default)]
    pub user_id: String,
    /// The mail domain of TwakeAI users: `@alice:server` on the
    /// homeserver's own server name is `alice@<user_domain>`; default:
    /// that server name. Users of other servers map only through `users`.
    #[serde(default)]
    pub user_domain: Option<String>,
    /// Explicit mappings, Matrix ID → the user's e-mail address.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

impl MatrixSpec {
    /// The TwakeAI user a Matrix ID stands for (`None`: not a user ID).
    /// Only IDs of the homeserver's own server name (that of `user_id`)
    /// become `local@<user_domain>`: `@alice.martin:evil.org`, from a
    /// federated server, is not Alice. Another server's user is mapped by
    /// `users`, or else is an outside user whose principal is the Matrix
    /// ID itself (it reads the rooms it was in, and nothing of ours; no
    /// e-mail address or sign-in can be taken for it).
    pub fn principal(&self, mxid: &str) -> Option<Principal> {
        if let Some(mail) = self.users.get(mxid) {
            return Principal::parse(mail).ok();
        }
        let (local, server) = mxid.strip_prefix('@')?.split_once(':')?;
        if local.is_empty() || server.is_empty() {
            return None;
        }
        if Some(server) != self.server_name() {
            return Principal::parse(mxid).ok();
        }
        let domain = self.user_domain.as_deref().unwrap_or(server);
        Principal::parse(&format!("{local}@{domain}")).ok()
    }

    /// The homeserver's own server name: that of the account TwakeAI
    /// reads with.
    fn server_name(&self) -> Option<&str> {
        self.user_id.split_once(':').map(|(_, s)| s).filter(|s| !s.is_empty())
    }
}

/// The cursor: the last `next_batch` fully stored and what is known of
/// each room.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    next_batch: Option<String>,
    #[serde(default)]
    rooms: BTreeMap<String, Room>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Room {
    name: Option<String>,
    /// Matrix IDs joined at the last event seen.
    joined: BTreeSet<String>,
    visibility: String,
    encrypted: bool,
    /// Each member's latest public read receipt (`m.read`): Unix ms.
    #[serde(default)]
    read: BTreeMap<String, i64>,
}

impl Default for Room {
    fn default() -> Self {
        // `shared` is the default history visibility of the spec.
        Room {
            name: None,
            joined: BTreeSet::new(),
            visibility: "shared".into(),
            encrypted: false,
            read: BTreeMap::new(),
        }
    }
}

/// The `room:` container of a Matrix room.
fn room_principal(room_id: &str) -> Option<Principal> {
    Principal::parse(&format!("room:{room_id}")).ok()
}

fn item_path(source: &str, room_id: &str, event_id: &str) -> String {
    format!("{}{room_id}/{event_id}", item_prefix("matrix", source))
}

/// An HTTP client for one account, with retries and exponential backoff.
struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

/// Attempts per request before the sync fails (backoff 0.5 s, 1 s, 2 s, 4 s).
const ATTEMPTS: u32 = 5;

impl Client {
    fn new(homeserver: &str, token: Option<Secret>) -> Result<Self> {
        let base = Url::parse(homeserver.trim_end_matches('/')).map_err(|e| {
            CoreError::Other(format!(
                "invalid homeserver URL {homeserver:?} ({e}): give e.g. https://matrix.example.org"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(CoreError::Other(format!("invalid homeserver URL {homeserver:?}: use http:// or https://")));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CoreError::Other(format!("HTTP client: {e}")))?;
        Ok(Client { http, base, token })
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// One request, retried on connection failures, 429 and 5xx answers.
    async fn call(&self, method: reqwest::Method, url: Url, body: Option<&Value>) -> Result<Value> {
        let what = format!("{method} {}", url.path().chars().take(200).collect::<String>());
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
            }
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.expose());
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                // A request that cannot be made (an ID or a token the
                // homeserver sent that no URL can carry) fails the same way
                // every time.
                Err(e) if e.is_builder() => {
                    return Err(CoreError::Other(format!("{what}: cannot make the request ({})", without_url(e))));
                }
                Err(e) => {
                    last = format!("cannot reach the homeserver ({})", without_url(e));
                    continue;
                }
            };
            let status = resp.status();
            let text = match crate::engine::http::body_within(resp, crate::engine::http::MAX_ANSWER_BYTES).await {
                Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(None) => {
                    return Err(CoreError::Other(format!(
                        "{what}: the homeserver's answer is larger than {} MB: refused",
                        crate::engine::http::MAX_ANSWER_BYTES >> 20
                    )));
                }
                Err(e) => {
                    last = format!("the homeserver's answer broke off ({})", without_url(e));
                    continue;
                }
            };
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            if status.is_success() {
                return parsed.ok_or_else(|| {
                    CoreError::Other(format!(
                        "{what}: the homeserver answered something that is not JSON ({} bytes): is {} a Matrix homeserver?",
                        text.len(),
                        self.base
                    ))
                });
            }
            let errcode = parsed.as_ref().and_then(|v| v["errcode"].as_str()).unwrap_or("").to_string();
            let message = parsed.as_ref().and_then(|v| v["error"].as_str()).unwrap_or("").to_string();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = parsed.as_ref().and_then(|v| v["retry_after_ms"].as_u64()).unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(wait.min(30_000))).await;
                last = format!("rate limited ({errcode})");
                continue;
            }
            if status.is_server_error() {
                last = format!("server error {status} {errcode} {message}");
                continue;
            }
            return Err(match (status, errcode.as_str()) {
                (_, "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN") => CoreError::Other(format!(
                    "the homeserver refused the access token ({errcode}: {message}): add the source again with a new password or token"
                )),
                (_, "M_FORBIDDEN") if url.path().ends_with("/login") => CoreError::Other(format!(
                    "the homeserver refused the login ({message}): check the user and the password"
                )),
                _ => CoreError::Other(format!("{what}: {status} {errcode} {message}")),
            });
        }
        Err(CoreError::Other(format!("{what}: {last} (after {ATTEMPTS} attempts with backoff)")))
    }

    async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value> {
        self.call(reqwest::Method::GET, self.url(segments, query), None).await
    }
}

/// reqwest errors name the URL, which may carry a query; keep the cause.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(cause) = src {
        s = format!("{s}: {cause}");
        src = cause.source();
    }
    s
}

const V3: [&str; 3] = ["_matrix", "client", "v3"];

fn v3<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    V3.iter().copied().chain(rest.iter().copied()).collect()
}

/// Checks the credentials once: a password is exchanged for an access
/// token (the token is what the source keeps); a token is checked with
/// `whoami`. Fills in the account's user ID.
pub(crate) async fn connect(mut spec: MatrixSpec, credentials: Credentials) -> Result<(MatrixSpec, Secret)> {
    let token = match credentials {
        Credentials::Token(t) => t,
        Credentials::Password(p) => {
            if spec.user_id.is_empty() {
                return Err(CoreError::Other("a password needs the account: give --user @name:server".into()));
            }
            let client = Client::new(&spec.homeserver, None)?;
            let body = json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": spec.user_id},
                "password": p.expose(),
                "initial_device_display_name": "TwakeAI",
            });
            let r = client.call(reqwest::Method::POST, client.url(&v3(&["login"]), &[]), Some(&body)).await?;
            let token = r["access_token"]
                .as_str()
                .ok_or_else(|| CoreError::Other("the homeserver's login answer has no access token".into()))?;
            Secret::new(token)
        }
    };
    let client = Client::new(&spec.homeserver, Some(token.clone()))?;
    let who = client.get(&v3(&["account", "whoami"]), &[]).await?;
    let user_id = who["user_id"].as_str().ok_or_else(|| CoreError::Other("whoami answered no user_id".into()))?;
    if !spec.user_id.is_empty() && spec.user_id != user_id {
        return Err(CoreError::Other(format!("the token belongs to {user_id}, not to {}", spec.user_id)));
    }
    spec.user_id = user_id.to_string();
    Ok((spec, token))
}

/// Events per room in one `/sync` and per `/messages` page.
const PAGE: usize = 100;

pub(crate) async fn sync(
    ws: &Workspace,
    row: &SourceRow,
    spec: &MatrixSpec,
    progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
) -> Result<SyncReport> {
    let client = Client::new(&spec.homeserver, Some(Secret::new(row.secret.clone())))?;
    let mut state: State = serde_json::from_str(&row.state).unwrap_or_default();
    let filter = json!({
        "room": {"timeline": {"limit": PAGE}, "state": {"lazy_load_members": false}},
        "presence": {"types": []},
        "account_data": {"types": []},
    })
    .to_string();
    let mut report = SyncReport::default();
    let mut noticed = BTreeSet::new();
    // Bounded: a busy room cannot keep one sync going forever.
    for _ in 0..1000 {
        let since = state.next_batch.clone();
        let mut query = vec![("filter", filter.as_str()), ("timeout", "0")];
        if let Some(s) = &since {
            query.push(("since", s));
        }
        let resp = client.get(&v3(&["sync"]), &query).await?;
        // The cursor saved for every later sync: a token no request can
        // carry would stop the source for good.
        let next = token(&resp["next_batch"])
            .ok_or_else(|| CoreError::Other("the homeserver's /sync answer has no valid next_batch".into()))?
            .to_string();
        let joined = resp["rooms"]["join"].as_object().cloned().unwrap_or_default();
        progress(SyncEvent::Places { total: joined.len() });
        let mut seen_events = 0;
        for (done, (room_id, room)) in joined.iter().enumerate() {
            let mut events: Vec<Value> = room["timeline"]["events"].as_array().cloned().unwrap_or_default();
            let known = state.rooms.contains_key(room_id);
            if room["timeline"]["limited"].as_bool().unwrap_or(false)
                && let Some(from) = token(&room["timeline"]["prev_batch"])
            {
                // A room new to the source: its whole history; a gap in a
                // known room: back to the previous sync.
                let to = if known { since.as_deref() } else { None };
                let (mut older, cut) = backfill(&client, room_id, from, to).await?;
                if cut {
                    let n = format!(
                        "room {room_id}: history older than its last {BACKFILL_MAX} messages not read (the homeserver \
                         kept paging)"
                    );
                    progress(SyncEvent::Notice(&n));
                    report.notices.push(n);
                }
                older.reverse();
                older.append(&mut events);
                events = older;
            }
            let r = state.rooms.entry(room_id.clone()).or_default();
            if !known {
                // The room's name, visibility and encryption as of the
                // timeline's start, before the replay. Not its members:
                // they are the members of a later time than the first
                // backfilled messages, which must not be granted to them;
                // membership comes from the replayed events only (when the
                // history is cut, earlier members get no grant: fewer
                // readers, never more).
                for e in room["state"]["events"].as_array().into_iter().flatten() {
                    if e["type"].as_str() != Some("m.room.member") {
                        apply_state(r, e);
                    }
                }
            }
            for e in room["ephemeral"]["events"].as_array().into_iter().flatten() {
                apply_receipts(r, e);
            }
            seen_events += events.len();
            for e in &events {
                handle(ws, &client, spec, row, room_id, r, e, &mut report).await?;
            }
            if r.encrypted && noticed.insert(room_id.clone()) {
                let n = format!(
                    "room {} is encrypted: skipped (TwakeAI holds no keys; its messages are not indexed)",
                    r.name.as_deref().unwrap_or(room_id)
                );
                progress(SyncEvent::Notice(&n));
                report.notices.push(n);
            }
            if !events.is_empty() || !known {
                set_room_members(ws, &client, spec, row, room_id).await?;
            }
            let name = r.name.clone().unwrap_or_else(|| room_id.clone());
            progress(SyncEvent::PlaceDone { name: &name, done: done + 1, total: joined.len(), items: report.stored });
        }
        report.places = report.places.max(state.rooms.len());
        // Everything up to `next` is stored: the cursor moves.
        state.next_batch = Some(next.clone());
        let saved = serde_json::to_string(&state).map_err(|e| CoreError::Other(e.to_string()))?;
        // Counted by the store: a sync killed between storing and saving
        // its cursor leaves no count behind.
        let items = ws.store.count_under(&crate::ingest::item_prefix("matrix", &row.name)).await?;
        ws.store.source_save_state(&row.name, &saved, items).await?;
        ws.commit_lexical()?;
        if seen_events == 0 || since.as_deref() == Some(next.as_str()) {
            break;
        }
    }
    Ok(report)
}

/// A pagination token as the homeserver gave it, when a request can carry
/// it back: at most 1 KB of visible ASCII (Synapse's are ~50 characters).
fn token(v: &Value) -> Option<&str> {
    v.as_str().filter(|t| !t.is_empty() && t.len() <= 1024 && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// The most messages one backfill reads from a room: a homeserver that
/// keeps paging cannot hold a sync (and its memory) forever.
const BACKFILL_MAX: usize = 50_000;

/// Pages `/messages` backwards from `from` (down to `to`, or the room's
/// creation, or [`BACKFILL_MAX`] messages: then `true`); events newest
/// first.
async fn backfill(client: &Client, room_id: &str, from: &str, to: Option<&str>) -> Result<(Vec<Value>, bool)> {
    let mut out = Vec::new();
    let mut from = from.to_string();
    let limit = PAGE.to_string();
    loop {
        let mut query = vec![("dir", "b"), ("from", from.as_str()), ("limit", limit.as_str())];
        if let Some(t) = to {
            query.push(("to", t));
        }
        let page = client.get(&v3(&["rooms", room_id, "messages"]), &query).await?;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        let end = token(&page["end"]).map(str::to_string);
        if chunk.is_empty() {
            break;
        }
        out.extend(chunk);
        if out.len() >= BACKFILL_MAX {
            out.truncate(BACKFILL_MAX);
            return Ok((out, true));
        }
        match end {
            Some(e) if e != from => from = e,
            _ => break,
        }
    }
    Ok((out, false))
}

fn apply_state(r: &mut Room, e: &Value) {
    let content = &e["content"];
    match e["type"].as_str().unwrap_or("") {
        "m.room.member" => {
            let Some(who) = e["state_key"].as_str() else { return };
            match content["membership"].as_str() {
                Some("join") => {
                    r.joined.insert(who.to_string());
                }
                Some("leave" | "ban") => {
                    r.joined.remove(who);
                }
                _ => {}
            }
        }
        "m.room.name" => r.name = content["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string),
        "m.room.history_visibility" => {
            if let Some(v) = content["history_visibility"].as_str() {
                r.visibility = v.to_string();
            }
        }
        "m.room.encryption" => r.encrypted = true,
        _ => {}
    }
}

/// Records the public read receipts of an `m.receipt` event.
fn apply_receipts(r: &mut Room, e: &Value) {
    if e["type"].as_str() != Some("m.receipt") {
        return;
    }
    for receipts in e["content"].as_object().into_iter().flat_map(|m| m.values()) {
        for (who, at) in receipts["m.read"].as_object().into_iter().flatten() {
            if let Some(ts) = at["ts"].as_i64() {
                let slot = r.read.entry(who.clone()).or_insert(ts);
                *slot = (*slot).max(ts);
            }
        }
    }
}

/// When `user` last read the room (named by its name or its ID) according
/// to their Matrix read receipt, in Unix ms, from a source's saved state.
pub(crate) fn last_read(spec: &MatrixSpec, state: &str, user: &Principal, room: &str) -> Option<i64> {
    let state: State = serde_json::from_str(state).ok()?;
    let wanted = room.to_lowercase();
    state
        .rooms
        .iter()
        .filter(|(id, r)| id.to_lowercase() == wanted || r.name.as_deref().is_some_and(|n| n.to_lowercase() == wanted))
        .flat_map(|(_, r)| r.read.iter())
        .filter(|(who, _)| spec.principal(who).as_ref() == Some(user))
        .map(|(_, ts)| *ts)
        .max()
}

/// Who may read a message sent now: the joined members, and the room's
/// current members when its history is shared.
fn readers_now(spec: &MatrixSpec, room_id: &str, r: &Room) -> Vec<Principal> {
    let mut set: BTreeSet<Principal> = r.joined.iter().filter_map(|m| spec.principal(m)).collect();
    if matches!(r.visibility.as_str(), "shared" | "world_readable")
        && let Some(p) = room_principal(room_id)
    {
        set.insert(p);
    }
    set.into_iter().collect()
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    ws: &Workspace,
    client: &Client,
    spec: &MatrixSpec,
    row: &SourceRow,
    room_id: &str,
    r: &mut Room,
    e: &Value,
    report: &mut SyncReport,
) -> Result<()> {
    let source = row.name.as_str();
    if e.get("state_key").is_some() {
        apply_state(r, e);
        return Ok(());
    }
    match e["type"].as_str().unwrap_or("") {
        "m.room.redaction" => {
            let target = e["redacts"].as_str().or_else(|| e["content"]["redacts"].as_str());
            if let Some(t) = target
                && ws.forget_locked(&item_path(source, room_id, t)).await?
            {
                report.removed += 1;
            }
        }
        // An encrypted room's messages are ciphertext to TwakeAI (and a
        // client that sent clear text there did not mean it to be read).
        "m.room.message" | "m.room.encrypted" if r.encrypted => {}
        "m.room.message" => {
            if let Some(target) = replaces(e) {
                let path = item_path(source, room_id, target);
                let Some(record) = ws.store.file(&path).await? else { return Ok(()) };
                // The original's sender, time and thread; the edit's text.
                let original = client.get(&v3(&["rooms", room_id, "event", target]), &[]).await?;
                // Only its sender may edit a message (clients ignore others').
                if original["sender"] != e["sender"] {
                    return Ok(());
                }
                let Some(doc) = document(spec, room_id, r, &original, Some(&e["content"]["m.new_content"])) else {
                    return Ok(());
                };
                if store(ws, &path, record.readers, &record.tenant, doc).await? != Stored::Unchanged {
                    report.edited += 1;
                }
                return Ok(());
            }
            let Some(event_id) = e["event_id"].as_str() else { return Ok(()) };
            let Some(doc) = document(spec, room_id, r, e, None) else { return Ok(()) };
            let path = item_path(source, room_id, event_id);
            match store(ws, &path, readers_now(spec, room_id, r), &row.tenant, doc).await? {
                Stored::New => {
                    report.stored += 1;
                }
                Stored::Changed => report.stored += 1,
                Stored::Unchanged => report.unchanged += 1,
            }
        }
        _ => {}
    }
    Ok(())
}

/// The document of a message event (`content`: an edit's new content).
fn document(spec: &MatrixSpec, room_id: &str, r: &Room, e: &Value, content: Option<&Value>) -> Option<Document> {
    let sender = e["sender"].as_str()?;
    let author = spec.principal(sender).map(|p| p.to_string()).unwrap_or_else(|| sender.to_string());
    let text = message_text(&author, content.unwrap_or_else(|| latest_content(e)))?;
    let event_id = e["event_id"].as_str()?;
    let thread = thread_of(e);
    let title = r.name.clone().unwrap_or_else(|| room_id.to_string());
    Some(Document {
        key: event_id.to_string(),
        message_id: Some(event_id.to_string()),
        thread_id: thread,
        author: Some(author),
        date: e["origin_server_ts"].as_i64().map(rfc3339_ms),
        sections: vec![Section { locator: Locator::Message, text: text.clone() }],
        ..Document::new(SourceKind::Chat, title, text)
    })
}

/// What storing an item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    New,
    Changed,
    /// Already stored as is: nothing written.
    Unchanged,
}

/// Stores one message as an item.
async fn store(
    ws: &Workspace,
    path: &str,
    readers: Vec<Principal>,
    tenant: &twake_types::Tenant,
    doc: Document,
) -> Result<Stored> {
    let mut h = Sha256::new();
    for part in [doc.title.as_str(), doc.body.as_str(), doc.thread_id.as_deref().unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in &readers {
        h.update(p.as_str().as_bytes());
        h.update([0]);
    }
    let hash = hex::encode(h.finalize());
    let stored = match ws.store.file(path).await? {
        Some(f) if f.content_hash == hash => return Ok(Stored::Unchanged),
        Some(_) => Stored::Changed,
        None => Stored::New,
    };
    let record = FileRecord {
        path: path.to_string(),
        content_hash: hash,
        readers,
        format: "matrix".into(),
        tenant: tenant.clone(),
        sensitivity: None,
    };
    ws.store_documents(&record, vec![doc], true).await.map_err(CoreError::Other)?;
    Ok(stored)
}

/// Rewrites the members of the room's `room:` container from the
/// homeserver's current list of joined members.
async fn set_room_members(
    ws: &Workspace,
    client: &Client,
    spec: &MatrixSpec,
    row: &SourceRow,
    room_id: &str,
) -> Result<()> {
    let Some(container) = room_principal(room_id) else { return Ok(()) };
    let list = client.get(&v3(&["rooms", room_id, "joined_members"]), &[]).await?;
    let now: BTreeSet<Principal> =
        list["joined"].as_object().map(|m| m.keys().filter_map(|k| spec.principal(k)).collect()).unwrap_or_default();
    let before: BTreeSet<Principal> =
        ws.store.members_of(&row.tenant, &container).await?.iter().filter_map(|m| Principal::parse(m).ok()).collect();
    for gone in before.difference(&now) {
        ws.remove_member(&row.tenant, &container, gone).await?;
    }
    for new in now.difference(&before) {
        ws.add_member(&row.tenant, &container, new).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MatrixSpec {
        MatrixSpec {
            homeserver: "http://127.0.0.1:8008".into(),
            user_id: "@twake:localhost".into(),
            user_domain: Some("valmont.fr".into()),
            users: [("@boss:localhost".to_string(), "claire.dubois@valmont.fr".to_string())].into(),
        }
    }

    #[test]
    fn matrix_ids_map_to_users() {
        let s = spec();
        assert_eq!(s.principal("@alice:localhost").unwrap().as_str(), "alice@valmont.fr");
        assert_eq!(s.principal("@boss:localhost").unwrap().as_str(), "claire.dubois@valmont.fr");
        assert_eq!(s.principal("!room:localhost"), None);
        let plain = MatrixSpec { user_domain: None, user_id: "@twake:example.org".into(), ..s.clone() };
        assert_eq!(plain.principal("@bob:example.org").unwrap().as_str(), "bob@example.org");
        // Another server's user is not ours, whatever its local part.
        let stranger = s.principal("@alice.martin:evil.org").unwrap();
        assert_eq!(stranger.as_str(), "@alice.martin:evil.org");
        assert_ne!(stranger.as_str(), "alice.martin@valmont.fr");
        assert_eq!(stranger.kind(), twake_types::PrincipalKind::User);
        // Not even one named like our mail domain.
        assert_eq!(s.principal("@alice:valmont.fr").unwrap().as_str(), "@alice:valmont.fr");
        assert_eq!(plain.principal("@bob:localhost").unwrap().as_str(), "@bob:localhost");
        // Unless the source maps it explicitly.
        let mapped = MatrixSpec {
            users: [("@alice:partner.eu".to_string(), "alice.martin@valmont.fr".to_string())].into(),
            ..s.clone()
        };
        assert_eq!(mapped.principal("@alice:partner.eu").unwrap().as_str(), "alice.martin@valmont.fr");
        assert_eq!(s.principal("@:localhost"), None);
    }

    #[test]
    fn membership_over_time_and_shared_history_make_readers() {
        let s = spec();
        let mut r = Room::default();
        let member =
            |who: &str, m: &str| json!({"type": "m.room.member", "state_key": who, "content": {"membership": m}});
        apply_state(&mut r, &member("@alice:localhost", "join"));
        apply_state(&mut r, &member("@bob:localhost", "join"));
        let names = |v: Vec<Principal>| v.into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(readers_now(&s, "!R:localhost", &r)),
            ["alice@valmont.fr", "bob@valmont.fr", "room:!r:localhost"]
        );
        apply_state(&mut r, &member("@bob:localhost", "leave"));
        apply_state(
            &mut r,
            &json!({"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}),
        );
        assert_eq!(names(readers_now(&s, "!R:localhost", &r)), ["alice@valmont.fr"]);
    }

    #[test]
    fn read_receipts_give_each_users_last_read() {
        let s = spec();
        let mut r = Room { name: Some("Projet Lyon".into()), ..Room::default() };
        apply_receipts(
            &mut r,
            &json!({"type": "m.receipt", "content": {
                "$a": {"m.read": {"@alice:localhost": {"ts": 1000}}},
                "$b": {"m.read": {"@alice:localhost": {"ts": 3000}, "@bob:localhost": {"ts": 2000}}, "m.read.private": {"@carol:localhost": {"ts": 9}}}
            }}),
        );
        let state = State { next_batch: None, rooms: [("!R:localhost".to_string(), r)].into() };
        let state = serde_json::to_string(&state).unwrap();
        let alice = Principal::parse("alice@valmont.fr").unwrap();
        assert_eq!(last_read(&s, &state, &alice, "projet lyon"), Some(3000));
        assert_eq!(last_read(&s, &state, &alice, "!R:localhost"), Some(3000));
        assert_eq!(last_read(&s, &state, &Principal::parse("carol@valmont.fr").unwrap(), "Projet Lyon"), None);
        assert_eq!(last_read(&s, &state, &alice, "Autre salle"), None);
    }

    #[test]
    fn message_documents_take_the_latest_edit_and_skip_redacted_events() {
        let s = spec();
        let r = Room { name: Some("Projet Lyon".into()), ..Room::default() };
        let e = json!({
            "type": "m.room.message", "event_id": "$1", "sender": "@alice:localhost",
            "origin_server_ts": 1_795_910_400_000i64,
            "content": {"msgtype": "m.text", "body": "Bascule le 12"},
            "unsigned": {"m.relations": {"m.replace": {"content": {"m.new_content": {"msgtype": "m.text", "body": "Bascule le 14"}}}}}
        });
        let d = document(&s, "!r:localhost", &r, &e, None).unwrap();
        assert_eq!(d.body, "Bascule le 14");
        assert_eq!(d.title, "Projet Lyon");
        assert_eq!(d.author.as_deref(), Some("alice@valmont.fr"));
        assert_eq!(d.date.as_deref(), Some("2026-11-29T00:00:00Z"));
        assert_eq!(d.kind, SourceKind::Chat);
        let redacted = json!({"type": "m.room.message", "event_id": "$2", "sender": "@bob:localhost", "content": {}});
        assert!(document(&s, "!r:localhost", &r, &redacted, None).is_none());
        let threaded = json!({
            "type": "m.room.message", "event_id": "$3", "sender": "@bob:localhost",
            "content": {"body": "ok", "m.relates_to": {"rel_type": "m.thread", "event_id": "$1"}}
        });
        assert_eq!(document(&s, "!r:localhost", &r, &threaded, None).unwrap().thread_id.as_deref(), Some("$1"));
    }
}
