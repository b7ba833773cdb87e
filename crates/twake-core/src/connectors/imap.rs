//! The IMAP connector (RFC 3501/9051, through `async-imap`): every folder
//! of one mailbox, followed by UIDVALIDITY and UID.
//!
//! Each message is an item `imap://NAME/FOLDER/UIDVALIDITY/UID` (the folder
//! as the server names it, `/` and `%` escaped), read by the mailbox's owner
//! (and by its participants when `[access] mail_participants` is on, as for
//! ingested mail). A sync:
//! - lists the folders; a folder gone (deleted or renamed) takes its items
//!   with it, a new one (or the new name) is read whole;
//! - selects each folder; when its UIDVALIDITY changed, the items of the old
//!   validity go and the folder is read again; when UIDNEXT, the message
//!   count and (with CONDSTORE) HIGHESTMODSEQ are what the last sync saw,
//!   nothing changed and nothing more is asked;
//! - else compares the server's UIDs with the stored ones: a UID gone is a
//!   deleted (or moved) mail, forgotten; a UID not stored is fetched, in
//!   batches, each batch stored then saved in the cursor.
//!
//! A message larger than `max_mail_mb`, or that cannot be read as a mail,
//! is skipped with a notice (and not asked again); the rest goes on. A
//! dropped connection or a timeout is retried with exponential backoff from
//! the saved cursor; a refused login, a refused certificate or a server
//! that does not speak IMAP fails at once with what to do.
//!
//! Under `serve`, [`wait_for_change`] keeps an IDLE on INBOX so that new
//! mail there is indexed within seconds; other folders follow at the
//! periodic sync.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{Response, Status};
use async_imap::types::NameAttribute;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use twake_index::{FileRecord, SourceRow};
use twake_types::Principal;

use super::sync::{SyncEvent, SyncReport};
use crate::engine::http::Secret;
use crate::ingest::item_prefix;
use crate::ingest::items::parse_mail;
use crate::{CoreError, Result, Workspace};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No encryption: only with `insecure` (a test server on loopback).
    Plain,
}

/// How TwakeAI authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// SASL PLAIN with a password.
    Plain,
    /// The IMAP LOGIN command with a password.
    Login,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth 2 access token.
    Oauthbearer,
}

/// An IMAP source's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImapSpec {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Allows `security = plain` (passwords in clear): for tests only.
    #[serde(default)]
    pub insecure: bool,
    /// A PEM file of certificate authorities to trust besides the system's
    /// (an organisation's own PKI).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The login name on the server.
    pub username: String,
    /// The TwakeAI user whose mailbox this is: the reader of its mail.
    pub owner: String,
    pub auth: Auth,
    /// Messages larger than this are skipped with a notice.
    #[serde(default = "default_max_mail_mb")]
    pub max_mail_mb: u32,
}

fn default_max_mail_mb() -> u32 {
    25
}

impl ImapSpec {
    pub fn default_port(security: Security) -> u16 {
        if security == Security::Tls { 993 } else { 143 }
    }

    /// The host and port of `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or
    /// a bare IPv6 address (which cannot carry a port); the default port
    /// of `security` when none is given.
    pub fn host_port(server: &str, security: Security) -> Result<(String, u16), String> {
        let server = server.trim();
        let bad_port = || format!("invalid port in --server {server:?}: give HOST, HOST:PORT or [IPV6]:PORT");
        if let Some(rest) = server.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| format!("unclosed [ in --server {server:?}"))?;
            return match after {
                "" => Ok((host.to_string(), Self::default_port(security))),
                _ => Ok((host.to_string(), after.strip_prefix(':').and_then(|p| p.parse().ok()).ok_or_else(bad_port)?)),
            };
        }
        match server.split_once(':') {
            // Two colons or more: a bare IPv6 address.
            Some((_, rest)) if rest.contains(':') => Ok((server.to_string(), Self::default_port(security))),
            Some((host, port)) => Ok((host.to_string(), port.parse().map_err(|_| bad_port())?)),
            None => Ok((server.to_string(), Self::default_port(security))),
        }
    }

    pub(crate) fn location(&self) -> String {
        format!(
            "imap{}://{}@{}:{}",
            if self.security == Security::Tls { "s" } else { "" },
            self.username,
            self.host,
            self.port
        )
    }
}

/// The cursor: what each folder was at the last sync.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    folders: BTreeMap<String, Folder>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Folder {
    uidvalidity: u32,
    uid_next: Option<u32>,
    exists: u32,
    modseq: Option<u64>,
    /// Messages skipped (too large, unreadable): not asked again.
    #[serde(default)]
    skipped: BTreeSet<u32>,
}

/// The item path of a message, and the prefix of a folder's items.
fn folder_prefix(source: &str, folder: &str) -> String {
    format!("{}{}/", item_prefix("imap", source), folder.replace('%', "%25").replace('/', "%2F"))
}

/// A folder's name for people: IMAP's modified UTF-7 decoded
/// (`Envoy&AOk-s` is `Envoyés`); the raw name when it is not valid.
pub fn folder_display(raw: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::IMAP_MUTF7,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start + 1..].find('-') else { return raw.to_string() };
        let coded = &rest[start + 1..start + 1 + len];
        if coded.is_empty() {
            out.push('&');
        } else {
            let Ok(bytes) = engine.decode(coded) else { return raw.to_string() };
            let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            let Ok(s) = String::from_utf16(&units) else { return raw.to_string() };
            out.push_str(&s);
        }
        rest = &rest[start + 2 + len..];
    }
    out.push_str(rest);
    out
}

/// Why a sync attempt stopped: worth another attempt or not.
enum Fail {
    Retry(String),
    Stop(CoreError),
}

impl From<CoreError> for Fail {
    fn from(e: CoreError) -> Self {
        Fail::Stop(e)
    }
}

impl From<twake_index::IndexError> for Fail {
    fn from(e: twake_index::IndexError) -> Self {
        Fail::Stop(e.into())
    }
}

impl Fail {
    fn into_error(self) -> CoreError {
        match self {
            Fail::Stop(e) => e,
            Fail::Retry(m) => CoreError::Other(m),
        }
    }
}

fn stop(msg: impl Into<String>) -> Fail {
    Fail::Stop(CoreError::Other(msg.into()))
}

/// A network step with a deadline; a dropped connection, a timeout or an
/// I/O error is worth retrying.
async fn net<T>(
    what: &str,
    secs: u64,
    fut: impl Future<Output = std::result::Result<T, async_imap::error::Error>>,
) -> std::result::Result<T, Fail> {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Err(_) => Err(Fail::Retry(format!("{what}: no answer from the IMAP server within {secs} s"))),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Fail::Retry(format!("{what}: {e}"))),
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type Conn = Box<dyn Io>;
type Session = async_imap::Session<Conn>;

/// What the server may still send on a connection before it is cut: the
/// sizes a server declares (`RFC822.SIZE`) are its word, and `async-imap`
/// holds a whole answer in memory, so a server that declared 1 KB and
/// sends 4 GB must be stopped by the reader itself. Set before each
/// message download to the sizes declared (and a margin), else
/// [`ANSWER_BYTES`].
#[derive(Debug, Clone)]
struct Allowance(Arc<AtomicU64>);

/// What any other answer (a listing, a search, an IDLE) may hold.
const ANSWER_BYTES: u64 = 64 << 20;

impl Allowance {
    fn new() -> Self {
        Allowance(Arc::new(AtomicU64::new(ANSWER_BYTES)))
    }
    fn set(&self, bytes: u64) {
        self.0.store(bytes, Ordering::Relaxed);
    }
    /// For a download of messages declared to weigh `declared` bytes: the
    /// protocol's own lines and TLS records on top (1 %, 1 KB a message
    /// and 64 KB).
    fn for_messages(&self, declared: u64, messages: usize) {
        self.set(declared + declared / 100 + 1024 * messages as u64 + (64 << 10));
    }
}

/// A connection that fails a read past its [`Allowance`].
#[derive(Debug)]
struct Capped<T> {
    inner: T,
    left: Allowance,
}

impl<T: AsyncRead + Unpin> AsyncRead for Capped<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = polled {
            let read = (buf.filled().len() - before) as u64;
            let left = self.left.0.load(Ordering::Relaxed);
            if read > left {
                self.left.set(0);
                return std::task::Poll::Ready(Err(std::io::Error::other(
                    "the server sent more than the sizes it declared allow: stopped reading \
                     (a broken or hostile server)",
                )));
            }
            self.left.set(left - read);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Capped<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Attempts per sync before it fails (backoff 0.5 s, 1 s, 2 s, 4 s).
const ATTEMPTS: u32 = 5;
/// Messages and bytes fetched per batch (the cursor is saved after each).
const BATCH: usize = 50;
const BATCH_BYTES: u64 = 32 << 20;

fn tls_config(spec: &ImapSpec) -> std::result::Result<Arc<rustls::ClientConfig>, Fail> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // The system's authorities (where an organisation installs its own).
    if let Ok(pem) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
        roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).flatten());
    }
    if let Some(path) = &spec.ca_file {
        let pem = std::fs::read(path).map_err(|e| stop(format!("cannot read the CA file {path}: {e}")))?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).flatten().collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(stop(format!("the CA file {path} holds no PEM certificate")));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| stop(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls(spec: &ImapSpec, stream: Conn) -> std::result::Result<Conn, Fail> {
    let name = rustls::pki_types::ServerName::try_from(spec.host.clone())
        .map_err(|_| stop(format!("{:?} is not a valid host name for TLS", spec.host)))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(spec)?);
    match tokio::time::timeout(Duration::from_secs(30), connector.connect(name, stream)).await {
        Err(_) => Err(Fail::Retry(format!("TLS handshake with {}:{}: no answer within 30 s", spec.host, spec.port))),
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Err(stop(format!(
            "TLS with {}:{} failed: {e}. If the server's certificate comes from your organisation's own \
             authority, give it with --ca-file; check the host name matches the certificate",
            spec.host, spec.port
        ))),
        Ok(Err(e)) => Err(Fail::Retry(format!("TLS handshake with {}:{}: {e}", spec.host, spec.port))),
    }
}

/// Reads the server's greeting: an IMAP server says `* OK` first.
async fn greeting(spec: &ImapSpec, client: &mut async_imap::Client<Conn>) -> std::result::Result<(), Fail> {
    let not_imap = |what: String| {
        stop(format!(
            "{}:{} does not answer like an IMAP server ({what}): check the host, the port and --security",
            spec.host, spec.port
        ))
    };
    match tokio::time::timeout(Duration::from_secs(20), client.read_response()).await {
        Err(_) => Err(not_imap("no greeting within 20 s".into())),
        Ok(Ok(None)) => Err(Fail::Retry(format!("{}:{} closed the connection at once", spec.host, spec.port))),
        Ok(Err(e)) => Err(not_imap(e.to_string())),
        Ok(Ok(Some(r))) => match r.parsed() {
            Response::Data { status: Status::Ok | Status::PreAuth, .. } => Ok(()),
            Response::Data { status: Status::Bye, information, .. } => Err(Fail::Retry(format!(
                "{}:{} refused the connection: {}",
                spec.host,
                spec.port,
                information.as_deref().unwrap_or("BYE")
            ))),
            other => Err(not_imap(format!("its first line was {:.120?}", other))),
        },
    }
}

struct SaslPlain<'a>(&'a str, &'a str);
impl async_imap::Authenticator for SaslPlain<'_> {
    type Response = String;
    fn process(&mut self, _: &[u8]) -> String {
        format!("\0{}\0{}", self.0, self.1)
    }
}

struct OAuthBearer<'a>(&'a str, &'a str);
impl async_imap::Authenticator for OAuthBearer<'_> {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        // A second challenge is the server's error report: answer with the
        // empty response RFC 7628 asks for, to get the final NO.
        if challenge.is_empty() { format!("n,a={},\x01auth=Bearer {}\x01\x01", self.0, self.1) } else { "\x01".into() }
    }
}

/// Connects, protects and logs in.
/// A logged-in session, and the allowance of its connection.
async fn open(spec: &ImapSpec, secret: &Secret) -> std::result::Result<(Session, Allowance), Fail> {
    if spec.security == Security::Plain && !spec.insecure {
        return Err(stop(format!(
            "refusing to send credentials in clear to {}: use --security tls or starttls (--insecure is for test servers only)",
            spec.host
        )));
    }
    let addr = format!("{}:{}", spec.host, spec.port);
    let tcp = match tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(&addr)).await {
        Err(_) => return Err(Fail::Retry(format!("cannot reach the IMAP server at {addr}: no answer within 15 s"))),
        Ok(Err(e)) => return Err(Fail::Retry(format!("cannot reach the IMAP server at {addr}: {e}"))),
        Ok(Ok(s)) => s,
    };
    let allowance = Allowance::new();
    let tcp = Capped { inner: tcp, left: allowance.clone() };
    let mut client = match spec.security {
        Security::Tls => async_imap::Client::new(tls(spec, Box::new(tcp)).await?),
        Security::Plain | Security::Starttls => async_imap::Client::new(Box::new(tcp) as Conn),
    };
    greeting(spec, &mut client).await?;
    if spec.security == Security::Starttls {
        match tokio::time::timeout(Duration::from_secs(20), client.run_command_and_check_ok("STARTTLS", None)).await {
            Err(_) => return Err(Fail::Retry(format!("STARTTLS with {addr}: no answer within 20 s"))),
            Ok(Err(e)) => {
                return Err(stop(format!(
                    "{addr} refused STARTTLS ({e}): use --security tls with its TLS port (993), or ask its administrator"
                )));
            }
            Ok(Ok(())) => {}
        }
        // No greeting after STARTTLS.
        client = async_imap::Client::new(tls(spec, client.into_inner()).await?);
    }
    let user = spec.username.as_str();
    let pass = secret.expose();
    let login = async {
        match spec.auth {
            Auth::Login => client.login(user, pass).await,
            Auth::Plain => client.authenticate("PLAIN", SaslPlain(user, pass)).await,
            Auth::Oauthbearer => client.authenticate("OAUTHBEARER", OAuthBearer(user, pass)).await,
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), login).await {
        Err(_) => Err(Fail::Retry(format!("login at {addr}: no answer within 30 s"))),
        Ok(Ok(s)) => Ok((s, allowance)),
        Ok(Err((async_imap::error::Error::No(msg) | async_imap::error::Error::Bad(msg), _))) => Err(stop(format!(
            "the IMAP server at {addr} refused the login of {user:?} ({}): check the user name, the password \
             or token, and --auth (plain, login or oauthbearer)",
            msg.trim()
        ))),
        Ok(Err((e, _))) => Err(Fail::Retry(format!("login at {addr}: {e}"))),
    }
}

/// Checks the credentials once; the password (or token) is what is kept:
/// IMAP has no token of its own to exchange it for.
pub(crate) async fn connect(spec: &ImapSpec, secret: &Secret) -> Result<()> {
    Principal::parse(&spec.owner).map_err(|e| {
        CoreError::Other(format!("invalid mailbox owner {:?} ({e}): give the user's address", spec.owner))
    })?;
    let mut s = match open(spec, secret).await {
        Ok((s, _)) => s,
        Err(Fail::Stop(e)) => return Err(e),
        Err(Fail::Retry(e)) => return Err(CoreError::Other(e)),
    };
    let _ = s.logout().await;
    Ok(())
}

/// Waits, with IMAP IDLE on INBOX, until the server announces a change or
/// `max` passes: true when it announced one. True at once when INBOX is not
/// what the last sync saw (mail that came while nobody was listening).
pub(crate) async fn wait_for_change(spec: &ImapSpec, secret: &Secret, state: &str, max: Duration) -> Result<bool> {
    let fail = Fail::into_error;
    let (mut s, _) = open(spec, secret).await.map_err(fail)?;
    let caps = net("CAPABILITY", 30, s.capabilities()).await.map_err(fail)?;
    if !caps.has_str("IDLE") {
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        return Err(CoreError::Other(format!("{} does not offer IDLE", spec.location())));
    }
    let mb = net("SELECT INBOX", 60, s.select("INBOX")).await.map_err(fail)?;
    let known = serde_json::from_str::<State>(state).unwrap_or_default().folders.remove("INBOX").unwrap_or_default();
    if known.uid_next != mb.uid_next || known.exists != mb.exists {
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        return Ok(true);
    }
    let mut idle = s.idle();
    net("IDLE", 30, idle.init()).await.map_err(fail)?;
    let changed = {
        // The stop source must live while waiting: dropping it ends the wait.
        let (wait, _stop) = idle.wait_with_timeout(max);
        match wait.await.map_err(|e| CoreError::Other(format!("IDLE on {}: {e}", spec.location())))? {
            IdleResponse::NewData(_) => true,
            IdleResponse::Timeout | IdleResponse::ManualInterrupt => false,
        }
    };
    if let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(10), idle.done()).await {
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
    }
    Ok(changed)
}

/// Appends messages to a folder, in one session (the benchmark fills a test
/// mailbox with them).
pub async fn append_all(spec: &ImapSpec, secret: &Secret, folder: &str, messages: &[Vec<u8>]) -> Result<()> {
    let (mut s, _) = open(spec, secret).await.map_err(Fail::into_error)?;
    for m in messages {
        net("APPEND", 60, s.append(folder, None, None, m)).await.map_err(Fail::into_error)?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
    Ok(())
}

/// Fetches every message of a folder, in the sync's batches, and reads each
/// as a mail, storing nothing: the connector's own cost, without embedding
/// (the benchmark). Returns the messages read.
pub async fn fetch_and_parse(spec: &ImapSpec, secret: &Secret, folder: &str) -> Result<usize> {
    let (mut s, allowance) = open(spec, secret).await.map_err(Fail::into_error)?;
    net("SELECT", 60, s.select(folder)).await.map_err(Fail::into_error)?;
    let uids: BTreeSet<u32> =
        net("UID SEARCH", 120, s.uid_search("ALL")).await.map_err(Fail::into_error)?.into_iter().collect();
    let uids: Vec<u32> = uids.into_iter().collect();
    let mut read = 0;
    for batch in uids.chunks(BATCH) {
        allowance.set(ANSWER_BYTES);
        let messages = net("UID FETCH", 600, async {
            s.uid_fetch(uid_set(batch), "(UID BODY.PEEK[])").await?.try_collect::<Vec<_>>().await
        })
        .await
        .map_err(Fail::into_error)?;
        read += messages
            .iter()
            .filter(|m| m.body().is_some_and(|raw| twake_extract::extract(twake_extract::Format::Eml, "", raw).is_ok()))
            .count();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
    Ok(read)
}

/// Brings the index up to date with the mailbox, retrying a dropped
/// connection from the saved cursor.
pub(crate) async fn sync(
    ws: &Workspace,
    row: &SourceRow,
    spec: &ImapSpec,
    progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
) -> Result<SyncReport> {
    let owner = Principal::parse(&spec.owner).map_err(|e| CoreError::Other(format!("invalid mailbox owner: {e}")))?;
    let secret = Secret::new(row.secret.clone());
    let mut run = Run {
        ws,
        row,
        spec,
        owner,
        state: serde_json::from_str(&row.state).unwrap_or_default(),
        report: SyncReport::default(),
        allowance: Allowance::new(),
    };
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
        }
        match run.once(&secret, progress).await {
            Ok(()) => return Ok(run.report),
            Err(Fail::Stop(e)) => return Err(e),
            Err(Fail::Retry(e)) => {
                tracing::info!(source = %row.name, attempt, "IMAP sync interrupted: {e}");
                last = e;
            }
        }
    }
    Err(CoreError::Other(format!("{last} (after {ATTEMPTS} attempts)")))
}

struct Run<'a> {
    ws: &'a Workspace,
    row: &'a SourceRow,
    spec: &'a ImapSpec,
    owner: Principal,
    state: State,
    report: SyncReport,
    /// Of the connection in use.
    allowance: Allowance,
}

impl Run<'_> {
    async fn save(&mut self) -> std::result::Result<(), Fail> {
        let saved = serde_json::to_string(&self.state).map_err(|e| CoreError::Other(e.to_string()))?;
        // Counted by the store: a sync killed between storing a batch and
        // saving its cursor leaves no count behind.
        let items = self.ws.store.count_under(&item_prefix("imap", &self.row.name)).await?;
        self.ws.store.source_save_state(&self.row.name, &saved, items).await?;
        self.ws.commit_lexical()?;
        Ok(())
    }

    async fn forget(&mut self, path: &str) -> std::result::Result<(), Fail> {
        if self.ws.forget_locked(path).await? {
            self.report.removed += 1;
        }
        Ok(())
    }

    async fn once(
        &mut self,
        secret: &Secret,
        progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
    ) -> std::result::Result<(), Fail> {
        let (mut s, allowance) = open(self.spec, secret).await?;
        self.allowance = allowance;
        let caps = net("CAPABILITY", 30, s.capabilities()).await?;
        let condstore = caps.has_str("CONDSTORE") || caps.has_str("QRESYNC");
        let names = net("LIST", 60, async { s.list(Some(""), Some("*")).await?.try_collect::<Vec<_>>().await }).await?;
        let folders: Vec<String> = names
            .iter()
            .filter(|n| {
                !n.attributes().iter().any(|a| {
                    matches!(a, NameAttribute::NoSelect)
                        || matches!(a, NameAttribute::Extension(x) if x.eq_ignore_ascii_case("\\NonExistent"))
                })
            })
            .map(|n| n.name().to_string())
            .collect();
        // A folder deleted or renamed: its items go (a renamed folder is
        // read again under its new name).
        let gone: Vec<String> = self.state.folders.keys().filter(|f| !folders.contains(f)).cloned().collect();
        for f in gone {
            for path in self.ws.store.files_under(&folder_prefix(&self.row.name, &f)).await? {
                self.forget(&path).await?;
            }
            self.state.folders.remove(&f);
            self.save().await?;
        }
        progress(SyncEvent::Places { total: folders.len() });
        for (done, f) in folders.iter().enumerate() {
            self.folder(&mut s, f, condstore, progress).await?;
            let name = folder_display(f);
            progress(SyncEvent::PlaceDone {
                name: &name,
                done: done + 1,
                total: folders.len(),
                items: self.report.stored,
            });
        }
        self.report.places = folders.len();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        Ok(())
    }

    async fn folder(
        &mut self,
        s: &mut Session,
        f: &str,
        condstore: bool,
        progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
    ) -> std::result::Result<(), Fail> {
        self.allowance.set(ANSWER_BYTES);
        let selected = if condstore {
            tokio::time::timeout(Duration::from_secs(60), s.select_condstore(f)).await
        } else {
            tokio::time::timeout(Duration::from_secs(60), s.select(f)).await
        };
        let mb = match selected {
            Err(_) => return Err(Fail::Retry(format!("SELECT {f}: no answer within 60 s"))),
            Ok(Err(async_imap::error::Error::No(msg))) => {
                let n = format!("folder {} cannot be opened ({}): skipped", folder_display(f), msg.trim());
                progress(SyncEvent::Notice(&n));
                self.report.notices.push(n);
                return Ok(());
            }
            Ok(Err(e)) => return Err(Fail::Retry(format!("SELECT {f}: {e}"))),
            Ok(Ok(mb)) => mb,
        };
        let uidvalidity = mb.uid_validity.unwrap_or(0);
        let prefix = folder_prefix(&self.row.name, f);
        let known = self.state.folders.get(f).cloned().unwrap_or_default();
        if known.uidvalidity == uidvalidity
            && known.uid_next.is_some()
            && known.uid_next == mb.uid_next
            && known.exists == mb.exists
            && known.modseq == mb.highest_modseq
        {
            return Ok(());
        }
        // What is stored of this folder, by UID of the current validity;
        // items of another validity (the server renumbered the folder) go.
        let mut stored = BTreeSet::new();
        for path in self.ws.store.files_under(&prefix).await? {
            let rest = &path[prefix.len()..];
            match rest.split_once('/').map(|(v, u)| (v.parse::<u32>(), u.parse::<u32>())) {
                Some((Ok(v), Ok(uid))) if v == uidvalidity => {
                    stored.insert(uid);
                }
                _ => self.forget(&path).await?,
            }
        }
        let mut folder = if known.uidvalidity == uidvalidity { known } else { Folder::default() };
        let on_server: BTreeSet<u32> =
            net(&format!("UID SEARCH in {f}"), 120, s.uid_search("ALL")).await?.into_iter().collect();
        for uid in stored.difference(&on_server) {
            self.forget(&format!("{prefix}{uidvalidity}/{uid}")).await?;
        }
        folder.skipped.retain(|u| on_server.contains(u));
        let new: Vec<u32> =
            on_server.iter().filter(|u| !stored.contains(u) && !folder.skipped.contains(u)).copied().collect();
        // Messages the server listed but did not send (expunged meanwhile,
        // or a server's error): the next sync compares the UID lists again
        // instead of trusting the fast path.
        let mut missed = 0;
        if !new.is_empty() {
            let sizes: BTreeMap<u32, u64> = net(&format!("UID FETCH sizes in {f}"), 300, async {
                s.uid_fetch(uid_set(&new), "(UID RFC822.SIZE)").await?.try_collect::<Vec<_>>().await
            })
            .await?
            .into_iter()
            .filter_map(|m| Some((m.uid?, u64::from(m.size?))))
            .collect();
            let place = folder_display(f);
            progress(SyncEvent::Items { place: &place, done: 0, total: new.len() });
            let max = u64::from(self.spec.max_mail_mb) << 20;
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut done = 0;
            for &uid in &new {
                let Some(&size) = sizes.get(&uid) else {
                    missed += 1;
                    continue;
                };
                if size > max {
                    let n = format!(
                        "message UID {uid} in {} is {} MB, above the limit of {} MB (--max-mail-mb): skipped",
                        folder_display(f),
                        size >> 20,
                        self.spec.max_mail_mb
                    );
                    progress(SyncEvent::Notice(&n));
                    self.report.notices.push(n);
                    folder.skipped.insert(uid);
                    continue;
                }
                if !batch.is_empty() && (batch.len() >= BATCH || bytes + size > BATCH_BYTES) {
                    done += batch.len();
                    missed += self
                        .fetch(s, f, uidvalidity, &mut folder, (std::mem::take(&mut batch), bytes), progress)
                        .await?;
                    self.state.folders.insert(f.to_string(), folder.clone());
                    self.save().await?;
                    progress(SyncEvent::Items { place: &place, done, total: new.len() });
                    bytes = 0;
                }
                batch.push(uid);
                bytes += size;
            }
            if !batch.is_empty() {
                missed += self.fetch(s, f, uidvalidity, &mut folder, (batch, bytes), progress).await?;
            }
            progress(SyncEvent::Items { place: &place, done: new.len(), total: new.len() });
        }
        folder.uidvalidity = uidvalidity;
        folder.uid_next = if missed == 0 { mb.uid_next } else { None };
        folder.exists = mb.exists;
        folder.modseq = mb.highest_modseq;
        self.state.folders.insert(f.to_string(), folder);
        self.save().await
    }

    /// Fetches and stores one batch of messages (their UIDs and the bytes
    /// the server declared for them); returns how many of `uids` the server
    /// did not send.
    async fn fetch(
        &mut self,
        s: &mut Session,
        f: &str,
        uidvalidity: u32,
        folder: &mut Folder,
        (uids, declared): (Vec<u32>, u64),
        progress: &mut (dyn FnMut(SyncEvent<'_>) + Send),
    ) -> std::result::Result<usize, Fail> {
        // No more than the sizes the server declared for them.
        self.allowance.for_messages(declared, uids.len());
        let messages = net(&format!("UID FETCH in {f}"), 600, async {
            s.uid_fetch(uid_set(&uids), "(UID BODY.PEEK[])").await?.try_collect::<Vec<_>>().await
        })
        .await;
        self.allowance.set(ANSWER_BYTES);
        let messages = messages?;
        let prefix = folder_prefix(&self.row.name, f);
        let mut handled = BTreeSet::new();
        for m in &messages {
            let (Some(uid), Some(raw)) = (m.uid, m.body()) else { continue };
            if !uids.contains(&uid) || !handled.insert(uid) {
                continue;
            }
            let path = format!("{prefix}{uidvalidity}/{uid}");
            let documents = match parse_mail(&path, raw.to_vec()).await.1 {
                Ok(documents) => documents,
                Err(e) => {
                    let n =
                        format!("message UID {uid} in {} cannot be read as a mail ({e}): skipped", folder_display(f));
                    progress(SyncEvent::Notice(&n));
                    self.report.notices.push(n);
                    folder.skipped.insert(uid);
                    continue;
                }
            };
            let mut h = Sha256::new();
            h.update(raw);
            h.update([0]);
            h.update(self.owner.as_str().as_bytes());
            let record = FileRecord {
                path,
                content_hash: hex::encode(h.finalize()),
                readers: vec![self.owner.clone()],
                format: "imap".into(),
                tenant: self.row.tenant.clone(),
                sensitivity: None,
            };
            self.ws.store_documents(&record, documents, true).await.map_err(CoreError::Other)?;
            self.report.stored += 1;
        }
        Ok(uids.len() - handled.len())
    }
}

/// An IMAP sequence set of UIDs, consecutive ones as ranges (`1:5,9`).
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader itself (a unit test of its logic; the sync through it
    /// runs against Dovecot in crates/twake-ai/tests/imap.rs).
    #[tokio::test]
    async fn a_connection_is_cut_past_its_allowance_and_not_before() {
        use tokio::io::AsyncReadExt;
        let sent = vec![b'x'; 300_000];
        let allowance = Allowance::new();
        allowance.for_messages(1_000, 1);
        let mut lying = Capped { inner: &sent[..], left: allowance.clone() };
        let err = lying.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("more than the sizes it declared"), "{err}");
        allowance.for_messages(300_000, 1);
        let mut honest = Capped { inner: &sent[..], left: allowance.clone() };
        let mut got = Vec::new();
        honest.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 300_000);
    }

    #[test]
    fn servers_read_as_host_and_port() {
        let hp = |s: &str| ImapSpec::host_port(s, Security::Tls);
        assert_eq!(hp("imap.valmont.fr"), Ok(("imap.valmont.fr".into(), 993)));
        assert_eq!(hp("imap.valmont.fr:143"), Ok(("imap.valmont.fr".into(), 143)));
        assert_eq!(hp("[::1]:10993"), Ok(("::1".into(), 10993)));
        assert_eq!(hp("[::1]"), Ok(("::1".into(), 993)));
        assert_eq!(hp("::1"), Ok(("::1".into(), 993)), "a bare IPv6 address");
        assert_eq!(hp("fe80::1:2"), Ok(("fe80::1:2".into(), 993)));
        assert_eq!(ImapSpec::host_port("127.0.0.1", Security::Starttls), Ok(("127.0.0.1".into(), 143)));
        for bad in ["imap.valmont.fr:imaps", "[::1]:x", "[::1", "[::1]993", "host:70000"] {
            assert!(hp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uid_sets_use_ranges() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 10, 12]), "1:3,5,9:10,12");
        assert_eq!(uid_set(&[7]), "7");
    }

    #[test]
    fn folder_names_are_decoded_and_escaped() {
        assert_eq!(folder_display("Envoy&AOk-s"), "Envoyés");
        assert_eq!(folder_display("INBOX"), "INBOX");
        assert_eq!(folder_display("R&AOk-sum&AOk-s &- notes"), "Résumés & notes");
        assert_eq!(folder_display("broken&AOk"), "broken&AOk");
        // A folder's prefix is never the prefix of another folder's items.
        assert_eq!(folder_prefix("m", "A/B"), "imap://m/A%2FB/");
        assert!(!folder_prefix("m", "A/B").starts_with(&folder_prefix("m", "A")));
        assert_eq!(folder_prefix("m", "100%"), "imap://m/100%25/");
    }

    #[test]
    fn oauthbearer_sends_the_token_then_an_empty_answer_to_an_error() {
        let mut a = OAuthBearer("alice", "tok");
        assert_eq!(async_imap::Authenticator::process(&mut a, b""), "n,a=alice,\x01auth=Bearer tok\x01\x01");
        assert_eq!(async_imap::Authenticator::process(&mut a, b"{\"status\":\"invalid_token\"}"), "\x01");
    }
}
