//! WebDAV folders and CalDAV calendars (RFC 4918, RFC 4791), and local
//! folders.
//!
//! One connector for the three: a collection is listed with `PROPFIND Depth: 1`
//! (WebDAV: every sub-folder, walked; CalDAV: the calendars found at the
//! URL, under it, or through the account's `calendar-home-set`), each
//! resource's ETag is compared with the one indexed, and only new or
//! changed resources are downloaded (`GET`) and read by the same extractors
//! as `ingest` (CalDAV resources as iCalendar). A calendar whose `getctag`
//! did not change is not listed again. A resource no longer listed is
//! forgotten (deleted or moved; a moved file is found at its new path).
//! A local folder is walked like `ingest` walks it (hidden entries skipped,
//! Maildirs recognised), its files' modification time and size standing
//! for the ETag; under `serve` it is watched (polled every few seconds,
//! which also works on network mounts where inotify does not).
//!
//! Items: `webdav://NAME/PATH`, `caldav://NAME/CALENDAR/RESOURCE` and
//! `folder://NAME/PATH`, the path relative to the source's URL (decoded)
//! or folder. Readers: the principals of
//! the source's `readers` (a share's rights, from config), plus, for
//! calendar events, their organizer and attendees under `[access]
//! mail_participants`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use twake_index::SourceRow;
use twake_types::Principal;

use super::sync::{Credentials, SyncEvent, SyncReport};
use crate::engine::http::{self, HttpAuth, Login, Secret, cause, client as http_client};
use crate::ingest::items::{Stored, store_item};
use crate::{CoreError, Result, Workspace};

/// A WebDAV or CalDAV source's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DavSpec {
    /// The folder (WebDAV), or the calendar, calendar home or server
    /// (CalDAV) to follow.
    pub url: String,
    /// The login name on the server.
    pub username: String,
    /// Who may read what comes from it: users, `group:` or `share:`
    /// principals (the share's rights).
    pub readers: Vec<String>,
    #[serde(default)]
    pub auth: HttpAuth,
    /// Allows `http://` (passwords in clear): for tests only.
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of certificate authorities to trust besides the system's.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Files larger than this are skipped with a notice.
    #[serde(default = "default_max_file_mb")]
    pub max_file_mb: u32,
}

fn default_max_file_mb() -> u32 {
    50
}

impl DavSpec {
    pub(crate) fn location(&self) -> String {
        format!("{} as {}", self.url, self.username)
    }

    fn readers(&self) -> Result<Vec<Principal>> {
        if self.readers.is_empty() {
            return Err(CoreError::Other(
                "a WebDAV or CalDAV source needs its readers: give --owner USER or --readers user:…,group:…".into(),
            ));
        }
        self.readers
            .iter()
            .map(|r| {
                Principal::parse(r).map_err(|e| {
                    CoreError::Other(format!("invalid reader {r:?} ({e}): give a user's address or group:NAME"))
                })
            })
            .collect()
    }
}

/// A local folder source's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderSpec {
    /// The folder, absolute.
    pub path: String,
    /// Who may read what comes from it.
    pub readers: Vec<String>,
    /// Files larger than this are skipped with a notice.
    #[serde(default = "default_max_file_mb")]
    pub max_file_mb: u32,
}

/// Which kind of tree a source follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tree {
    WebDav,
    CalDav,
    Folder,
}

impl Tree {
    fn kind(self) -> &'static str {
        match self {
            Tree::WebDav => "webdav",
            Tree::CalDav => "caldav",
            Tree::Folder => "folder",
        }
    }
}

/// Where the resources are read from.
enum Remote {
    Http(Client),
    Local(PathBuf),
}

/// What one `PROPFIND` says of one href.
#[derive(Debug, Default, Clone, PartialEq)]
struct Entry {
    href: String,
    collection: bool,
    calendar: bool,
    etag: Option<String>,
    ctag: Option<String>,
    length: Option<u64>,
    /// `current-user-principal` and `calendar-home-set`, for discovery.
    principal: Option<String>,
    calendar_home: Option<String>,
}

/// The `<multistatus>` of a `PROPFIND`: properties of `propstat` blocks
/// whose status is not 200 are ignored (a server lists there what it does
/// not have).
fn multistatus(xml: &str) -> std::result::Result<Vec<Entry>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut entry = Entry::default();
    let mut stat = Entry::default();
    let mut stat_ok = true;
    loop {
        let ev = reader.read_event().map_err(|e| format!("not XML: {e}"))?;
        let is_start = matches!(ev, Event::Start(_));
        match ev {
            Event::Start(e) | Event::Empty(e) if path.last().is_some_and(|p| p == "resourcetype") => {
                match e.local_name().as_ref() {
                    b"collection" => stat.collection = true,
                    b"calendar" => stat.calendar = true,
                    _ => {}
                }
                if is_start {
                    path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                }
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "response" => entry = Entry::default(),
                    "propstat" => (stat, stat_ok) = (Entry::default(), true),
                    _ => {}
                }
                path.push(name);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| format!("bad XML text: {e}"))?.trim().to_string();
                let parent = path.iter().rev().nth(1).map(String::as_str);
                match (parent, path.last().map(String::as_str)) {
                    (Some("response"), Some("href")) => entry.href = text,
                    (Some("current-user-principal"), Some("href")) => stat.principal = Some(text),
                    (Some("calendar-home-set"), Some("href")) => stat.calendar_home = Some(text),
                    (_, Some("getetag")) => stat.etag = Some(text),
                    (_, Some("getctag")) => stat.ctag = Some(text),
                    (_, Some("getcontentlength")) => stat.length = text.parse().ok(),
                    (Some("propstat"), Some("status")) => stat_ok = text.split_whitespace().nth(1) == Some("200"),
                    _ => {}
                }
            }
            Event::End(e) => {
                path.pop();
                match e.local_name().as_ref() {
                    b"propstat" if stat_ok => {
                        let s = std::mem::take(&mut stat);
                        entry.collection |= s.collection;
                        entry.calendar |= s.calendar;
                        entry.etag = entry.etag.take().or(s.etag);
                        entry.ctag = entry.ctag.take().or(s.ctag);
                        entry.length = entry.length.or(s.length);
                        entry.principal = entry.principal.take().or(s.principal);
                        entry.calendar_home = entry.calendar_home.take().or(s.calendar_home);
                    }
                    b"response" if !entry.href.is_empty() => out.push(std::mem::take(&mut entry)),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !xml.contains("multistatus") {
        return Err("no <multistatus> in the answer".into());
    }
    Ok(out)
}

const PROPS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:resourcetype/><d:getetag/><d:getcontentlength/><cs:getctag/><d:current-user-principal/><c:calendar-home-set/></d:prop>
</d:propfind>"#;

/// Resources downloaded between two saves of the cursor.
const BATCH: usize = 20;

struct Client {
    http: reqwest::Client,
    base: Url,
    login: Login,
}

impl Client {
    fn new(spec: &DavSpec, secret: Secret) -> Result<Self> {
        let url = if spec.url.ends_with('/') { spec.url.clone() } else { format!("{}/", spec.url) };
        let (base, http) = http_client(&url, spec.insecure, spec.ca_file.as_deref())?;
        Ok(Client { http, base, login: Login { username: spec.username.clone(), secret, auth: spec.auth } })
    }

    /// One request (a `PROPFIND` with `depth`), retried as `http::send` does.
    async fn send(&self, method: Method, url: &Url, depth: Option<&str>) -> Result<reqwest::Response> {
        http::send(&self.login, &method, url, || {
            let req = self.http.request(method.clone(), url.clone());
            match depth {
                Some(d) => req.header("Depth", d).header("Content-Type", "application/xml; charset=utf-8").body(PROPS),
                None => req,
            }
        })
        .await
    }

    async fn propfind(&self, url: &Url, depth: &str) -> Result<Vec<Entry>> {
        let method = Method::from_bytes(b"PROPFIND").map_err(|e| CoreError::Other(e.to_string()))?;
        let resp = self.send(method, url, Some(depth)).await?;
        let status = resp.status();
        let text = crate::engine::http::answer_text(resp, &format!("PROPFIND {}", url.path())).await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(CoreError::Other(format!(
                "PROPFIND {} answered {status}, not 207 Multi-Status: is {} a WebDAV server?",
                url.path(),
                self.base
            )));
        }
        multistatus(&text)
            .map_err(|e| CoreError::Other(format!("PROPFIND {}: the answer is not a WebDAV listing ({e})", url.path())))
    }

    fn resolve(&self, href: &str) -> Result<Url> {
        self.base.join(href).map_err(|e| CoreError::Other(format!("the server listed an invalid href {href:?} ({e})")))
    }
}

/// A resource as listed: where it is, its version, and its format when
/// the place says it (a calendar, a Maildir).
#[derive(Debug, Clone)]
struct Resource {
    href: String,
    etag: String,
    length: Option<u64>,
    format: Option<twake_extract::Format>,
}

/// The cursor: the version of every resource indexed or skipped, and each
/// calendar's ctag.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// href → ETag of what is indexed (or was skipped at that version).
    #[serde(default)]
    etags: BTreeMap<String, String>,
    /// Calendar href → ctag when its resources were last listed.
    #[serde(default)]
    ctags: BTreeMap<String, String>,
    /// Resources of `etags` not indexed (unreadable, too large, a format
    /// TwakeAI does not read), not asked again at that version.
    #[serde(default)]
    skipped: BTreeSet<String>,
}

impl State {
    fn done(&mut self, r: &Resource, indexed: bool) {
        self.etags.insert(r.href.clone(), r.etag.clone());
        if indexed {
            self.skipped.remove(&r.href);
        } else {
            self.skipped.insert(r.href.clone());
        }
    }
}

/// Checks the account once: the URL answers PROPFIND with the credentials
/// (for CalDAV: and has a calendar).
pub(crate) async fn connect(dav: Tree, spec: &DavSpec, credentials: Credentials) -> Result<(DavSpec, Secret)> {
    let secret = match credentials {
        Credentials::Password(s) | Credentials::Token(s) => s,
    };
    spec.readers()?;
    let client = Client::new(spec, secret.clone())?;
    match dav {
        Tree::WebDav => {
            let here = client.propfind(&client.base, "0").await?;
            if !here.iter().any(|e| e.collection) {
                return Err(CoreError::Other(format!("{} is a file, not a folder: give the folder's URL", spec.url)));
            }
        }
        Tree::Folder => return Err(CoreError::Other("a local folder is not reached over HTTP".into())),
        Tree::CalDav => {
            if calendars(&client).await?.is_empty() {
                return Err(CoreError::Other(format!(
                    "no calendar at {} for {:?}: give a calendar's URL or the account's calendar home",
                    spec.url, spec.username
                )));
            }
        }
    }
    Ok((spec.clone(), secret))
}

/// The calendars at the URL: itself, its children, or the account's
/// calendar home found through `current-user-principal`.
async fn calendars(client: &Client) -> Result<Vec<Entry>> {
    let mut url = client.base.clone();
    for _ in 0..3 {
        let list = client.propfind(&url, "1").await?;
        let own = |e: &Entry| client.resolve(&e.href).is_ok_and(|u| u.path() == url.path());
        if let Some(me) = list.iter().find(|e| own(e) && e.calendar) {
            return Ok(vec![me.clone()]);
        }
        let cals: Vec<Entry> = list.iter().filter(|e| e.calendar && !own(e)).cloned().collect();
        if !cals.is_empty() {
            return Ok(cals);
        }
        let me = list.iter().find(|e| own(e));
        let next = match me.and_then(|m| m.calendar_home.clone().or(m.principal.clone())) {
            Some(next) => client.resolve(&next)?,
            None => {
                let here = client.propfind(&url, "0").await?;
                match here.into_iter().find_map(|e| e.calendar_home.or(e.principal)) {
                    Some(next) => client.resolve(&next)?,
                    None => break,
                }
            }
        };
        if next == url {
            break;
        }
        url = next;
    }
    Ok(vec![])
}

/// `%20` → space; invalid sequences kept as they are.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub(crate) async fn sync(
    ws: &Workspace,
    row: &SourceRow,
    dav: Tree,
    spec: &DavSpec,
    progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
) -> Result<SyncReport> {
    let readers = spec.readers()?;
    let client = Client::new(spec, Secret::new(row.secret.clone()))?;
    let mut run = Run {
        ws,
        row,
        dav,
        remote: Remote::Http(client),
        readers,
        max_bytes: u64::from(spec.max_file_mb) << 20,
        state: serde_json::from_str(&row.state).unwrap_or_default(),
        report: SyncReport::default(),
    };
    run.once(progress).await?;
    Ok(run.report)
}

fn folder_readers(spec: &FolderSpec) -> Result<Vec<Principal>> {
    if spec.readers.is_empty() {
        return Err(CoreError::Other("a folder source needs its readers: give --owner USER or --readers …".into()));
    }
    spec.readers
        .iter()
        .map(|r| Principal::parse(r).map_err(|e| CoreError::Other(format!("invalid reader {r:?} ({e})"))))
        .collect()
}

/// Checks a local folder once and makes its path absolute.
pub(crate) fn connect_folder(spec: &FolderSpec) -> Result<FolderSpec> {
    folder_readers(spec)?;
    let path = std::fs::canonicalize(&spec.path)
        .map_err(|e| CoreError::Other(format!("cannot open the folder {} ({e}): check the path", spec.path)))?;
    if !path.is_dir() {
        return Err(CoreError::Other(format!("{} is a file, not a folder: give the folder", spec.path)));
    }
    std::fs::read_dir(&path)
        .map_err(|e| CoreError::Other(format!("cannot list the folder {} ({e}): check its rights", path.display())))?;
    Ok(FolderSpec { path: path.display().to_string(), ..spec.clone() })
}

pub(crate) async fn sync_folder(
    ws: &Workspace,
    row: &SourceRow,
    spec: &FolderSpec,
    progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
) -> Result<SyncReport> {
    let mut run = Run {
        ws,
        row,
        dav: Tree::Folder,
        remote: Remote::Local(PathBuf::from(&spec.path)),
        readers: folder_readers(spec)?,
        max_bytes: u64::from(spec.max_file_mb) << 20,
        state: serde_json::from_str(&row.state).unwrap_or_default(),
        report: SyncReport::default(),
    };
    run.once_local(progress).await?;
    Ok(run.report)
}

/// The files of a folder as resources: hrefs relative to it with a leading
/// `/`, modification time and size as the version; the walk's errors.
fn list_folder(root: &Path) -> Result<(Vec<Resource>, Vec<String>)> {
    if !root.is_dir() {
        return Err(CoreError::Other(format!(
            "the folder {} is not there: mount it again, or remove the source",
            root.display()
        )));
    }
    let (inputs, errors) = crate::ingest::walk(&[root.to_path_buf()]);
    let mut out = Vec::new();
    for input in inputs {
        let Ok(rel) = input.path.strip_prefix(root) else { continue };
        let Ok(meta) = std::fs::metadata(&input.path) else { continue };
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let etag = format!("{}-{}", mtime.map_or(0, |d| d.as_nanos()), meta.len());
        let href =
            format!("/{}", rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        out.push(Resource { href, etag, length: Some(meta.len()), format: input.forced });
    }
    Ok((out, errors.into_iter().map(|(p, e)| format!("{p}: {e}")).collect()))
}

/// Polls a folder every few seconds until what it holds differs from what
/// the last sync saw (`true`) or `timeout` passes (`false`).
pub(crate) async fn wait_for_folder_change(spec: &FolderSpec, saved: &str, timeout: Duration) -> Result<bool> {
    let known: State = serde_json::from_str(saved).unwrap_or_default();
    let root = PathBuf::from(&spec.path);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let r = root.clone();
        let (now, _) = tokio::task::spawn_blocking(move || list_folder(&r))
            .await
            .map_err(|e| CoreError::Other(format!("watching {}: {e}", spec.path)))??;
        let now: BTreeMap<String, String> = now.into_iter().map(|r| (r.href, r.etag)).collect();
        if now != known.etags {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(FOLDER_POLL).await;
    }
}

/// How often a watched folder is looked at.
const FOLDER_POLL: Duration = Duration::from_secs(3);

struct Run<'a> {
    ws: &'a Workspace,
    row: &'a SourceRow,
    dav: Tree,
    remote: Remote,
    readers: Vec<Principal>,
    max_bytes: u64,
    state: State,
    report: SyncReport,
}

impl Run<'_> {
    fn client(&self) -> Result<&Client> {
        match &self.remote {
            Remote::Http(c) => Ok(c),
            Remote::Local(_) => Err(CoreError::Other("a local folder has no HTTP client".into())),
        }
    }

    /// A local folder: listed whole, then what changed is read.
    async fn once_local(&mut self, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) -> Result<()> {
        let Remote::Local(root) = &self.remote else { return Err(CoreError::Other("not a local folder".into())) };
        let root = root.clone();
        let shown = root.display().to_string();
        let (resources, errors) = tokio::task::spawn_blocking(move || list_folder(&root))
            .await
            .map_err(|e| CoreError::Other(format!("listing {shown}: {e}")))??;
        for e in errors {
            self.notice(e, progress);
        }
        progress(SyncEvent::Places { total: 1 });
        let mut seen = BTreeSet::new();
        let changed = self.changed(resources, &mut seen);
        self.read_all(changed, "/", progress).await?;
        self.forget_unseen(&seen).await?;
        self.report.places = 1;
        progress(SyncEvent::PlaceDone { name: "/", done: 1, total: 1, items: self.report.stored });
        self.save().await
    }

    /// The resources whose version is not the one indexed (or skipped); the
    /// others are counted unchanged. Every one is marked seen.
    fn changed(&mut self, resources: Vec<Resource>, seen: &mut BTreeSet<String>) -> Vec<Resource> {
        let mut changed = Vec::new();
        for r in resources {
            seen.insert(r.href.clone());
            if self.state.etags.get(&r.href) != Some(&r.etag) {
                changed.push(r);
            } else if !self.state.skipped.contains(&r.href) {
                self.report.unchanged += 1;
            }
        }
        changed
    }

    /// Reads and stores resources, the cursor saved every `BATCH`.
    async fn read_all(
        &mut self,
        changed: Vec<Resource>,
        place: &str,
        progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
    ) -> Result<()> {
        let total = changed.len();
        for (i, r) in changed.into_iter().enumerate() {
            self.fetch(&r, progress).await?;
            progress(SyncEvent::Items { place, done: i + 1, total });
            if (i + 1) % BATCH == 0 {
                self.save().await?;
            }
        }
        Ok(())
    }

    /// What is no longer listed was deleted or moved.
    async fn forget_unseen(&mut self, seen: &BTreeSet<String>) -> Result<()> {
        let gone: Vec<String> = self.state.etags.keys().filter(|h| !seen.contains(*h)).cloned().collect();
        for href in gone {
            if self.ws.forget_locked(&self.path_of(&href)).await? {
                self.report.removed += 1;
            }
            self.state.etags.remove(&href);
            self.state.skipped.remove(&href);
        }
        Ok(())
    }

    async fn once(&mut self, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) -> Result<()> {
        // Places: the folders (walked) or the calendars to read.
        let places: Vec<Entry> = match self.dav {
            Tree::WebDav | Tree::Folder => {
                vec![Entry { href: self.client()?.base.path().to_string(), collection: true, ..Default::default() }]
            }
            Tree::CalDav => calendars(self.client()?).await?,
        };
        progress(SyncEvent::Places { total: places.len() });
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<Entry> = places;
        let mut visited = BTreeSet::new();
        let mut done = 0;
        while let Some(place) = queue.pop() {
            let url = self.client()?.resolve(&place.href)?;
            if !visited.insert(url.path().to_string()) {
                continue;
            }
            let name = self.relative(&place.href);
            // An unchanged calendar: its resources are as indexed.
            if let (Some(ctag), Some(saved)) = (&place.ctag, self.state.ctags.get(url.path()))
                && ctag == saved
            {
                let prefix = url.path().to_string();
                let before = seen.len();
                seen.extend(self.state.etags.keys().filter(|h| h.starts_with(&prefix)).cloned());
                let skipped = self.state.skipped.iter().filter(|h| h.starts_with(&prefix)).count();
                self.report.unchanged += (seen.len() - before).saturating_sub(skipped);
                done += 1;
                self.report.places = done;
                progress(SyncEvent::PlaceDone {
                    name: &name,
                    done,
                    total: done + queue.len(),
                    items: self.report.stored,
                });
                continue;
            }
            let list = self.client()?.propfind(&url, "1").await?;
            let mut resources = Vec::new();
            for e in list {
                let Ok(u) = self.client()?.resolve(&e.href) else { continue };
                if u.path() == url.path() {
                    continue;
                }
                if e.collection {
                    if self.dav == Tree::WebDav {
                        queue.push(Entry { href: u.path().to_string(), ..e });
                        progress(SyncEvent::Places { total: done + queue.len() + 1 });
                    }
                    continue;
                }
                // A server without ETags: the length stands for the version.
                let etag = e.etag.clone().unwrap_or_else(|| format!("len:{}", e.length.unwrap_or(0)));
                let format = (self.dav == Tree::CalDav).then_some(twake_extract::Format::Ics);
                resources.push(Resource { href: u.path().to_string(), etag, length: e.length, format });
            }
            let changed = self.changed(resources, &mut seen);
            self.read_all(changed, &name, progress).await?;
            if let Some(ctag) = place.ctag {
                self.state.ctags.insert(url.path().to_string(), ctag);
            }
            self.save().await?;
            done += 1;
            self.report.places = done;
            progress(SyncEvent::PlaceDone { name: &name, done, total: done + queue.len(), items: self.report.stored });
        }
        self.forget_unseen(&seen).await?;
        self.state.ctags.retain(|c, _| visited.contains(c));
        self.save().await
    }

    /// Where hrefs start: the source's URL path, or `/` for a folder
    /// (whose hrefs are paths relative to it with a leading `/`).
    fn base_path(&self) -> &str {
        match &self.remote {
            Remote::Http(c) => c.base.path(),
            Remote::Local(_) => "/",
        }
    }

    /// A relative href as a readable path (URLs are percent-decoded).
    fn readable(&self, rel: &str) -> String {
        match &self.remote {
            Remote::Http(_) => decode(rel),
            Remote::Local(_) => rel.to_string(),
        }
    }

    /// The source's item path of a resource: relative to the source's URL
    /// (a calendar home found elsewhere keeps its whole path).
    fn path_of(&self, href: &str) -> String {
        let rel = href.strip_prefix(self.base_path()).unwrap_or(href.trim_start_matches('/'));
        format!("{}://{}/{}", self.dav.kind(), self.row.name, self.readable(rel))
    }

    fn relative(&self, href: &str) -> String {
        let rel = href.strip_prefix(self.base_path()).unwrap_or(href);
        let rel = self.readable(rel.trim_end_matches('/'));
        if rel.is_empty() { "/".into() } else { rel }
    }

    fn notice(&mut self, text: String, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) {
        progress(SyncEvent::Notice(&text));
        self.report.notices.push(text);
    }

    /// Downloads, reads and stores one resource; a resource that cannot be
    /// read is skipped with a notice and not asked again at that version.
    async fn fetch(&mut self, r: &Resource, progress: &mut (dyn FnMut(SyncEvent<'_>) + Send)) -> Result<()> {
        let path = self.path_of(&r.href);
        let shown = self.relative(&r.href);
        let too_big = |n: u64| n > self.max_bytes;
        if r.length.is_some_and(too_big) {
            let n = format!("{shown} is larger than the limit of {} MB: skipped", self.max_bytes >> 20);
            self.notice(n, progress);
            self.state.done(r, false);
            return Ok(());
        }
        let format = r.format.or_else(|| twake_extract::Format::detect(&shown, b""));
        // A name with an extension TwakeAI does not read (an image, an
        // archive…) is not downloaded; one without is sniffed.
        let file_name = shown.rsplit('/').next().unwrap_or(&shown);
        if format.is_none() && file_name.contains('.') {
            self.state.done(r, false);
            return Ok(());
        }
        let read = match &self.remote {
            Remote::Http(client) => {
                let url = client.resolve(&r.href)?;
                let resp = client.send(Method::GET, &url, None).await?;
                // The length the listing declared is the server's word:
                // the download stops at the limit too.
                let bytes = crate::engine::http::body_within(resp, self.max_bytes)
                    .await
                    .map_err(|e| CoreError::Other(format!("GET {}: {}", url.path(), cause(e))))?;
                let Some(bytes) = bytes else {
                    let n = format!("{shown} is larger than the limit of {} MB: skipped", self.max_bytes >> 20);
                    self.notice(n, progress);
                    self.state.done(r, false);
                    return Ok(());
                };
                Ok(bytes)
            }
            Remote::Local(root) => tokio::fs::read(root.join(r.href.trim_start_matches('/'))).await,
        };
        let bytes = match read {
            Ok(b) => b,
            // Gone since the listing: the next sync forgets it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.notice(format!("{shown} cannot be read ({e}): skipped"), progress);
                self.state.done(r, false);
                return Ok(());
            }
        };
        let format = format.or_else(|| twake_extract::Format::detect(&shown, &bytes[..bytes.len().min(4096)]));
        let Some(format) = format else {
            // Not something TwakeAI reads (an image, an archive…).
            self.state.done(r, false);
            return Ok(());
        };
        if too_big(bytes.len() as u64) {
            let n = format!("{shown} is larger than the limit of {} MB: skipped", self.max_bytes >> 20);
            self.notice(n, progress);
            self.state.done(r, false);
            return Ok(());
        }
        let name = shown.clone();
        let data = bytes.clone();
        let extracted = tokio::task::spawn_blocking(move || twake_extract::extract(format, &name, &data))
            .await
            .map_err(|e| CoreError::Other(format!("reading {shown}: {e}")))?;
        let documents = match extracted {
            Ok(x) => {
                for w in x.warnings {
                    self.notice(format!("{shown}: {w}"), progress);
                }
                x.documents
            }
            Err(e) => {
                self.notice(format!("{shown} cannot be read ({e}): skipped"), progress);
                // What an earlier version indexed is no longer what the server has.
                if self.ws.forget_locked(&path).await? {
                    self.report.removed += 1;
                }
                self.state.done(r, false);
                return Ok(());
            }
        };
        let tenant = self.row.tenant.clone();
        match store_item(self.ws, path, &bytes, self.readers.clone(), self.dav.kind(), &tenant, documents).await? {
            Stored::Unchanged => self.report.unchanged += 1,
            Stored::Replaced => {
                self.report.stored += 1;
                self.report.edited += 1;
            }
            Stored::New => self.report.stored += 1,
        }
        self.state.done(r, true);
        Ok(())
    }

    /// Saves the cursor with the number of items as the store counts them
    /// (a sync cut between two saves stored more than its cursor says).
    async fn save(&mut self) -> Result<()> {
        let saved = serde_json::to_string(&self.state).map_err(|e| CoreError::Other(e.to_string()))?;
        let prefix = crate::ingest::item_prefix(self.dav.kind(), &self.row.name);
        let items = self.ws.store.count_under(&prefix).await?;
        self.ws.store.source_save_state(&self.row.name, &saved, items).await?;
        self.ws.commit_lexical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_keep_only_the_properties_found() {
        let xml = r#"<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:response><D:href>/alice/</D:href>
  <D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>
   <D:current-user-principal><D:href>/alice/</D:href></D:current-user-principal>
   <C:calendar-home-set><D:href>/alice/</D:href></C:calendar-home-set></D:prop>
   <D:status>HTTP/1.1 200 OK</D:status></D:propstat>
  <D:propstat><D:prop><D:getetag/><CS:getctag/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
 </D:response>
 <D:response><D:href>/alice/travail/</D:href>
  <D:propstat><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype>
   <CS:getctag>"ctag-7"</CS:getctag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
 </D:response>
 <D:response><D:href>/alice/Budget%202027.ods</D:href>
  <D:propstat><D:prop><D:resourcetype/><D:getetag>"e1"</D:getetag>
   <D:getcontentlength>1234</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
 </D:response>
</D:multistatus>"#;
        let list = multistatus(xml).unwrap();
        assert_eq!(list.len(), 3);
        assert!(list[0].collection && !list[0].calendar && list[0].etag.is_none());
        assert_eq!(list[0].calendar_home.as_deref(), Some("/alice/"));
        assert_eq!(list[0].principal.as_deref(), Some("/alice/"));
        assert!(list[1].collection && list[1].calendar);
        assert_eq!(list[1].ctag.as_deref(), Some("\"ctag-7\""));
        assert!(!list[2].collection);
        assert_eq!((list[2].etag.as_deref(), list[2].length), (Some("\"e1\""), Some(1234)));
        assert_eq!(decode("/alice/Budget%202027.ods"), "/alice/Budget 2027.ods");
        assert!(multistatus("<html><body>Welcome</body></html>").is_err());
        assert!(multistatus("not <xml").is_err());
    }
}
