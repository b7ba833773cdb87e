//! Configuration: built-in defaults → config file → `TWAKE_AI__SECTION__KEY`
//! environment → command-line flags (applied by the binary). Unknown keys
//! are errors, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::CoreError;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub models: ModelsConfig,
    pub retrieval: RetrievalConfig,
    pub answer: AnswerConfig,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub access: AccessConfig,
    pub sensitivity: SensitivityConfig,
    pub quotas: QuotaConfig,
    pub gateway: GatewayConfig,
    pub ingest: IngestConfig,
}

/// What ingestion accepts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// The largest file read, in MB: a larger one fails with a clear
    /// error (and nothing already indexed is lost).
    pub max_file_mb: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { max_file_mb: 256 }
    }
}

/// How readers are derived from sources.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// The sender and every recipient (To, Cc, Bcc) of a mail may read it,
    /// besides the file's readers: they hold it in their own mailboxes.
    /// Likewise a calendar event's organizer and attendees, and an exported
    /// chat message's sender and the room's members at its time.
    pub mail_participants: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig { mail_participants: true }
    }
}

/// What an OIDC token whose `email` claim is not verified signs in as.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnverifiedEmail {
    /// Its `sub`, qualified by the issuer.
    Sub,
    /// Nobody: 401.
    Refuse,
}

/// OpenID Connect: bearer JWTs from this issuer are accepted besides API
/// keys (LemonLDAP::NG, Keycloak and any provider with a discovery
/// document and a JWKS).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read at
    /// start); unset: API keys only.
    pub oidc_issuer: Option<String>,
    /// The audience tokens must be issued for.
    pub oidc_audience: String,
    /// The claim that names the user (falls back to `sub`). The `email`
    /// claim counts only when `email_verified` is true.
    pub oidc_user_claim: String,
    /// A token whose `email` is not verified: `"sub"` names its user by
    /// the issuer and `sub` (`oidc:<issuer host>:<sub>`, never an e-mail
    /// address of ours); `"refuse"` answers 401.
    pub oidc_unverified_email: UnverifiedEmail,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub oidc_leeway_seconds: u64,
    /// The web UI's client at the issuer (authorization code + PKCE); its
    /// ID tokens must name it as their audience. Unset: the web UI offers
    /// API-key sign-in only.
    pub oidc_client_id: Option<String>,
    /// For a confidential client; a public client (PKCE alone) has none.
    pub oidc_client_secret: Option<String>,
    /// Where the issuer sends the browser back (`…/ui/oidc/callback`);
    /// unset: built from the request's `Host`.
    pub oidc_redirect_url: Option<String>,
    /// How long a web UI session lasts, in hours (one opened with the
    /// identity provider no longer than its ID token). Signing out, or
    /// revoking the key it was opened with, ends it before.
    pub session_hours: u32,
    /// Who may open the administration pages and routes: users, or
    /// `group:NAME` (any member, nested groups included). A list, or one
    /// comma-separated string (`TWAKE_AI__AUTH__ADMINS=a@x.fr,group:it`).
    #[serde(deserialize_with = "list_or_commas")]
    pub admins: Vec<String>,
    /// Administrators of one tenant each: `acme = ["bob@acme.fr",
    /// "group:it"]` lets those users of tenant `acme` (and only of it) see
    /// and change its users, memberships, keys, reports, usage and
    /// provenance records — nothing of another tenant.
    pub tenant_admins: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            oidc_issuer: None,
            oidc_audience: "twake-ai".into(),
            oidc_user_claim: "email".into(),
            oidc_unverified_email: UnverifiedEmail::Sub,
            oidc_leeway_seconds: 30,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_url: None,
            session_hours: 12,
            admins: vec![],
            tenant_admins: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Requests per user per minute on `/v1` and `/api/v1` (0: no limit).
    pub requests_per_minute: u32,
    /// Generations (answers, completions) a user may have running or queued
    /// at once (0: no limit).
    pub concurrent_per_user: u32,
    /// Generations running or waiting for the model across all users at
    /// once; beyond, a 503 with `Retry-After` at once rather than a wait
    /// that grows with the queue (0: no limit). The model answers one
    /// generation at a time: this bounds how long an admitted one waits.
    pub max_generations: u32,
    /// The largest request body of a JSON route, in bytes (413 above).
    pub max_request_bytes: u64,
    /// The largest upload (`POST /api/v1/files`, all its files), in bytes.
    pub max_upload_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            requests_per_minute: 120,
            concurrent_per_user: 2,
            max_generations: 3,
            max_request_bytes: 4 << 20,
            max_upload_bytes: 100 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Where `models pull` stores models. Default: `$XDG_DATA_HOME/twake-ai/models`.
    pub dir: Option<PathBuf>,
    /// A registry name (`qwen2.5-coder-1.5b-instruct`) or a path to any GGUF.
    pub chat: String,
    /// A registry name or a path to a GGUF embedding model.
    pub embedding: String,
    /// Threads for llama.cpp; 0 = one on ≤ 2 cores, cores − 1 above, and
    /// for the chat model every core while nothing else runs.
    pub threads: u32,
    /// Context size of the chat model, in tokens.
    pub context: u32,
    /// Where the embedded models run (this installation), as recorded in
    /// the provenance log, e.g. `FR`.
    pub jurisdiction: String,
    /// What a million tokens of the chat model cost (for budgets); 0 for
    /// the embedded model unless you account for your hardware.
    pub price_per_million_tokens: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalConfig {
    /// Candidates taken from each of the lexical and the dense index.
    pub candidates: usize,
    /// How lexical and dense rankings are combined.
    pub fusion: FusionMethod,
    /// Weight of the normalised BM25 score in weighted fusion.
    pub lexical_weight: f32,
    /// Reciprocal rank fusion constant.
    pub rrf_k: f32,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Dense cosine plus a weighted, max-normalised BM25 score.
    Weighted,
    /// Reciprocal rank fusion of both rankings.
    Rrf,
    /// Dense retrieval alone.
    Dense,
    /// Lexical retrieval alone.
    Lexical,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerConfig {
    /// Passages given to the model.
    pub passages: usize,
    /// Passages whose dense similarity is more than `margin` below the best
    /// one are not given to the model.
    pub margin: f32,
    /// Below this dense similarity of the best passage, nothing is relevant.
    pub min_similarity: f32,
    /// From this dense similarity of the best passage on, a model that says
    /// the passages do not answer is asked once more (its sentences are
    /// checked as always), and when nothing it writes holds, the answer
    /// quotes the passages' sentences that are about the question.
    pub confident_similarity: f32,
    pub max_tokens: u32,
    /// Minimum support for a sentence to keep a citation.
    pub min_support: f32,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: None,
            chat: crate::engine::models::DEFAULT_CHAT.into(),
            embedding: crate::engine::models::DEFAULT_EMBEDDING.into(),
            threads: 0,
            context: 4096,
            jurisdiction: "local".into(),
            price_per_million_tokens: 0.0,
        }
    }
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig { candidates: 50, fusion: FusionMethod::Weighted, lexical_weight: 0.02, rrf_k: 60.0 }
    }
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig {
            passages: 4,
            margin: 0.06,
            min_similarity: 0.80,
            confident_similarity: 0.83,
            max_tokens: 320,
            min_support: 0.55,
        }
    }
}

impl ModelsConfig {
    pub fn dir(&self) -> PathBuf {
        if let Some(d) = &self.dir {
            return d.clone();
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("twake-ai/models")
    }

    /// Threads of the embedding model (and of benchmark baselines).
    pub fn threads(&self) -> u32 {
        if self.threads == 0 { twake_llm::default_threads() } else { self.threads }
    }

    /// Threads of the chat model: `threads`, or when 0 every core while
    /// the machine is otherwise idle and `default_threads()` while not.
    pub fn chat_threads(&self) -> twake_llm::Threads {
        if self.threads == 0 { twake_llm::Threads::FollowLoad } else { twake_llm::Threads::Fixed(self.threads) }
    }
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>, env: impl Iterator<Item = (String, String)>) -> Result<Config, CoreError> {
        let mut table = toml::Table::new();
        if let Some(f) = file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CoreError::Config(format!("cannot read {}: {e}", f.display())))?;
            table = text.parse::<toml::Table>().map_err(|e| CoreError::Config(format!("{}: {e}", f.display())))?;
        }
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("TWAKE_AI__") else { continue };
            let parts: Vec<String> = rest.split("__").map(|p| p.to_lowercase()).collect();
            let value = parse_env_value(&v);
            let mut t = &mut table;
            for p in &parts[..parts.len() - 1] {
                let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                t = entry.as_table_mut().ok_or_else(|| CoreError::Config(format!("{k}: {p} is not a section")))?;
            }
            t.insert(parts[parts.len() - 1].clone(), value);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| CoreError::Config(format!("invalid configuration: {}", e.message())))
    }
}

/// A list of strings, or one string of comma-separated items (as an
/// environment variable gives it).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Items::deserialize(d)? {
        Items::List(v) => v,
        Items::Commas(s) => s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect(),
    })
}

fn parse_env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = v.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_string()),
    }
}

// The policy's settings: their behaviour is in `crate::policy`.

/// A configured rule: when every given condition holds, the document is at
/// least `level`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub level: String,
    /// The file's path contains this text (a folder: `rh/`).
    pub path_contains: Option<String>,
    /// One of the file's readers is this principal (a mailbox owner, a room).
    pub reader: Option<String>,
    /// The mail's sender is in this domain.
    pub sender_domain: Option<String>,
    /// The subject or title contains one of these words (any case).
    #[serde(default)]
    pub title_keywords: Vec<String>,
}

/// The levels detectors raise a passage to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorLevels {
    pub iban: String,
    pub nir: String,
    pub card: String,
    pub health: String,
}

impl Default for DetectorLevels {
    fn default() -> Self {
        DetectorLevels {
            iban: "confidential".into(),
            nir: "secret".into(),
            card: "secret".into(),
            health: "confidential".into(),
        }
    }
}

/// `[sensitivity]` in the configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SensitivityConfig {
    /// The level of documents no rule, marking or detector says more about.
    pub default: String,
    pub rules: Vec<Rule>,
    pub detectors: DetectorLevels,
}

impl Default for SensitivityConfig {
    fn default() -> Self {
        SensitivityConfig { default: "internal".into(), rules: vec![], detectors: DetectorLevels::default() }
    }
}

/// `[quotas]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Tokens (prompt + completion) per user per UTC day; 0: no limit.
    pub tokens_per_day: u64,
    /// Cost per user per calendar month (in the currency of
    /// `models.price_per_million_tokens`); 0: no limit.
    pub cost_per_month: f64,
    pub groups: Vec<GroupQuota>,
}

/// A budget shared by the members of a group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupQuota {
    pub group: String,
    #[serde(default)]
    pub tokens_per_day: u64,
    #[serde(default)]
    pub cost_per_month: f64,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Models tried in this order; `embedded` is the local GGUF model.
    pub prefer: Vec<String>,
    /// The clearance of the embedded model (it runs on this installation).
    pub embedded_clearance: String,
    pub models: Vec<RemoteModel>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { prefer: vec!["embedded".into()], embedded_clearance: "secret".into(), models: vec![] }
    }
}

/// An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, a
/// sovereign cloud).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteModel {
    pub name: String,
    /// Base URL, e.g. `https://llm.example.eu/v1`.
    pub url: String,
    /// The model name sent in requests.
    pub model: String,
    /// The environment variable holding the API key, if any.
    pub api_key_env: Option<String>,
    /// The highest level it may read as is.
    pub clearance: String,
    /// The highest level it may read once pseudonymised (none: never).
    pub pseudonymised_clearance: Option<String>,
    pub jurisdiction: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// The model's context in tokens: passages that would not fit (with
    /// the answer's tokens) are left out of its prompt.
    #[serde(default = "default_context")]
    pub context: u32,
    #[serde(default)]
    pub price_per_million_tokens: f64,
}

fn default_timeout() -> u64 {
    120
}

fn default_context() -> u32 {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_file_then_env_and_rejects_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("twake-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, "[models]\nthreads = 3\nchat = \"/m/x.gguf\"\n").unwrap();
        let env = vec![
            ("TWAKE_AI__MODELS__THREADS".to_string(), "2".to_string()),
            ("TWAKE_AI__RETRIEVAL__FUSION".into(), "rrf".into()),
            ("TWAKE_AI__AUTH__ADMINS".into(), "a@x.fr, group:it".into()),
        ];
        let c = Config::load(Some(&f), env.into_iter()).unwrap();
        assert_eq!(c.models.threads, 2);
        assert_eq!(c.models.chat, "/m/x.gguf");
        assert_eq!(c.retrieval.fusion, FusionMethod::Rrf);
        assert_eq!(c.auth.admins, ["a@x.fr", "group:it"]);
        std::fs::write(&f, "[models]\nthreds = 3\n").unwrap();
        let e = Config::load(Some(&f), std::iter::empty()).unwrap_err().to_string();
        assert!(e.contains("threds"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_example_file_states_the_defaults() {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/twake-ai.toml");
        let c = Config::load(Some(&f), std::iter::empty()).unwrap();
        assert_eq!(c, Config::default());
    }
}
