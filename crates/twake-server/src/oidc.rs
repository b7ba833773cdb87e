//! OpenID Connect bearer tokens: JWTs validated against the issuer's
//! discovery document and JWKS (signature, `iss`, `aud`, `exp`, `nbf`), the
//! user taken from a configured claim (`email` by default) or `sub`.
//! An unknown key id triggers one JWKS refresh (key rotation), at most every
//! 30 seconds, so a flood of bad tokens cannot hammer the issuer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;
use twake_core::config::AuthConfig;
use twake_types::Principal;

use crate::ApiError;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Keys {
    fetched: Instant,
    by_kid: HashMap<String, DecodingKey>,
    /// Keys without a `kid`, tried in order.
    anonymous: Vec<DecodingKey>,
}

pub struct Oidc {
    issuer: String,
    audience: String,
    user_claim: String,
    leeway: u64,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot read the OIDC discovery document of {issuer}: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("the discovery document of {configured} names the issuer {found}: configure the exact issuer URL")]
    IssuerMismatch { configured: String, found: String },
    #[error("cannot read the JWKS at {uri}: {reason}")]
    Jwks { uri: String, reason: String },
}

impl Oidc {
    /// Reads the discovery document and the keys; fails if the issuer is
    /// unreachable or inconsistent, so a misconfiguration shows at start.
    pub async fn discover(cfg: &AuthConfig) -> Result<Option<Self>, OidcError> {
        let Some(issuer) = cfg.oidc_issuer.clone() else { return Ok(None) };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Discovery { issuer: issuer.clone(), reason: e.to_string() })?;
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let err = |e: reqwest::Error| OidcError::Discovery { issuer: issuer.clone(), reason: e.to_string() };
        let d: Discovery =
            http.get(&url).send().await.and_then(|r| r.error_for_status()).map_err(err)?.json().await.map_err(err)?;
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch { configured: issuer, found: d.issuer });
        }
        let keys = fetch_keys(&http, &d.jwks_uri).await?;
        Ok(Some(Oidc {
            issuer: d.issuer,
            audience: cfg.oidc_audience.clone(),
            user_claim: cfg.oidc_user_claim.clone(),
            leeway: cfg.oidc_leeway_seconds,
            jwks_uri: d.jwks_uri,
            http,
            keys: RwLock::new(keys),
        }))
    }

    /// The user a token names, or 401 with the reason.
    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let bad = |why: String| ApiError::unauthorized(format!("Invalid bearer token: {why}."));
        let header = decode_header(token).map_err(|e| bad(e.to_string()))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(bad(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;

        let mut refreshed = false;
        loop {
            let outcome = {
                let keys = self.keys.read().await;
                let candidates: Vec<&DecodingKey> = match &header.kid {
                    Some(kid) => keys.by_kid.get(kid).into_iter().collect(),
                    None => keys.anonymous.iter().chain(keys.by_kid.values()).collect(),
                };
                if candidates.is_empty() {
                    None
                } else {
                    let mut last = None;
                    let mut ok = None;
                    for k in candidates {
                        match decode::<serde_json::Value>(token, k, &validation) {
                            Ok(data) => {
                                ok = Some(data.claims);
                                break;
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                    Some(ok.ok_or_else(|| bad(last.map(|e| e.to_string()).unwrap_or_default())))
                }
            };
            match outcome {
                Some(result) => {
                    let claims = result?;
                    let user = claims
                        .get(&self.user_claim)
                        .or_else(|| claims.get("sub"))
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| bad(format!("no `{}` or `sub` claim", self.user_claim)))?;
                    return Principal::parse(user).map_err(|e| bad(e.to_string()));
                }
                None if !refreshed => {
                    refreshed = true;
                    self.refresh().await;
                }
                None => return Err(bad("signed by an unknown key".into())),
            }
        }
    }

    /// Re-reads the JWKS (key rotation), at most every 30 seconds.
    async fn refresh(&self) {
        let mut keys = self.keys.write().await;
        if keys.fetched.elapsed() < Duration::from_secs(30) {
            return;
        }
        match fetch_keys(&self.http, &self.jwks_uri).await {
            Ok(k) => *keys = k,
            Err(e) => {
                tracing::warn!(target: "api", error = %e, "JWKS refresh failed");
                keys.fetched = Instant::now();
            }
        }
    }
}

async fn fetch_keys(http: &reqwest::Client, uri: &str) -> Result<Keys, OidcError> {
    let err = |e: reqwest::Error| OidcError::Jwks { uri: uri.to_string(), reason: e.to_string() };
    let set: JwkSet =
        http.get(uri).send().await.and_then(|r| r.error_for_status()).map_err(err)?.json().await.map_err(err)?;
    let mut keys = Keys { fetched: Instant::now(), by_kid: HashMap::new(), anonymous: Vec::new() };
    for jwk in &set.keys {
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        match &jwk.common.key_id {
            Some(kid) => {
                keys.by_kid.insert(kid.clone(), key);
            }
            None => keys.anonymous.push(key),
        }
    }
    Ok(keys)
}
