//! OpenID Connect bearer tokens: JWTs validated against the issuer's
//! discovery document and JWKS (signature, `iss`, `aud`, `exp`, `nbf`), the
//! user taken from a configured claim (`email` by default, only when
//! `email_verified` is true) or else the issuer's `sub` (see [`user_of`]).
//! An unknown key id triggers one JWKS refresh (key rotation), at most every
//! 30 seconds, so a flood of bad tokens cannot hammer the issuer.
//!
//! With `auth.oidc_client_id`, the web UI signs people in with the
//! authorization code flow and PKCE (RFC 7636): [`Oidc::authorize_url`],
//! then [`Oidc::exchange`] of the code for an ID token, whose audience is
//! the client and whose `nonce` must be the one sent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::RwLock;
use twake_core::engine::config::{AuthConfig, UnverifiedEmail};
use twake_types::{Principal, PrincipalKind};

use crate::ApiError;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
}

/// The web UI's client at the issuer.
pub struct WebClient {
    pub client_id: String,
    secret: Option<String>,
    authorization_endpoint: String,
    token_endpoint: String,
    pub end_session_endpoint: Option<String>,
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
    unverified: UnverifiedEmail,
    leeway: u64,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Set when `auth.oidc_client_id` is.
    pub web: Option<WebClient>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot read the OIDC discovery document of {issuer}: {reason}")]
    Discovery { issuer: String, reason: String },
    #[error("the discovery document of {configured} names the issuer {found}: configure the exact issuer URL")]
    IssuerMismatch { configured: String, found: String },
    #[error("cannot read the JWKS at {uri}: {reason}")]
    Jwks { uri: String, reason: String },
    #[error("the discovery document of {issuer} has no {what}: the web UI's sign-in needs the authorization code flow")]
    NoCodeFlow { issuer: String, what: &'static str },
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
        let resp = http.get(&url).send().await.and_then(|r| r.error_for_status()).map_err(err)?;
        let d: Discovery =
            json_within(resp).await.map_err(|reason| OidcError::Discovery { issuer: issuer.clone(), reason })?;
        if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch { configured: issuer, found: d.issuer });
        }
        let keys = fetch_keys(&http, &d.jwks_uri).await?;
        let web = match &cfg.oidc_client_id {
            None => None,
            Some(id) => {
                let need = |v: &Option<String>, what| {
                    v.clone().ok_or_else(|| OidcError::NoCodeFlow { issuer: issuer.clone(), what })
                };
                Some(WebClient {
                    client_id: id.clone(),
                    secret: cfg.oidc_client_secret.clone(),
                    authorization_endpoint: need(&d.authorization_endpoint, "authorization_endpoint")?,
                    token_endpoint: need(&d.token_endpoint, "token_endpoint")?,
                    end_session_endpoint: d.end_session_endpoint.clone(),
                })
            }
        };
        Ok(Some(Oidc {
            web,
            issuer: d.issuer,
            audience: cfg.oidc_audience.clone(),
            user_claim: cfg.oidc_user_claim.clone(),
            unverified: cfg.oidc_unverified_email,
            leeway: cfg.oidc_leeway_seconds,
            jwks_uri: d.jwks_uri,
            http,
            keys: RwLock::new(keys),
        }))
    }

    /// The user a bearer token (audience `auth.oidc_audience`) names, or
    /// 401 with the reason.
    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let claims = self.claims(token, &self.audience).await?;
        self.user_of(&claims)
    }

    fn user_of(&self, claims: &serde_json::Value) -> Result<Principal, ApiError> {
        user_of(claims, &self.user_claim, &self.issuer, self.unverified)
            .map_err(|why| ApiError::unauthorized(format!("Invalid bearer token: {why}.")))
    }

    /// The claims of a token signed by the issuer for `audience`.
    async fn claims(&self, token: &str, audience: &str) -> Result<serde_json::Value, ApiError> {
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
        validation.set_audience(&[audience]);
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
                Some(result) => return result,
                None if !refreshed => {
                    refreshed = true;
                    self.refresh().await;
                }
                None => return Err(bad("signed by an unknown key".into())),
            }
        }
    }

    /// Where to send the browser to sign in: the authorization endpoint
    /// with the PKCE challenge (S256 of `verifier`), `state` and `nonce`.
    pub fn authorize_url(&self, redirect: &str, state: &str, verifier: &str, nonce: &str) -> Option<String> {
        let web = self.web.as_ref()?;
        use base64::Engine;
        use sha2::Digest;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
        let mut url = reqwest::Url::parse(&web.authorization_endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &web.client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid email profile")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Some(url.into())
    }

    /// Trades an authorization code for the ID token, checks it (issuer,
    /// audience, expiry, signature, `nonce`) and returns its expiry (Unix
    /// seconds) and its user.
    pub async fn exchange(
        &self,
        code: &str,
        redirect: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<(i64, Principal), ApiError> {
        let Some(web) = &self.web else {
            return Err(ApiError::unauthorized("Sign-in with the identity provider is not configured."));
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ];
        form.push(("client_id", &web.client_id));
        if let Some(secret) = &web.secret {
            form.push(("client_secret", secret));
        }
        let failed = |why: String| ApiError::unauthorized(format!("The identity provider refused the sign-in: {why}"));
        let resp = self.http.post(&web.token_endpoint).form(&form).send().await.map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = json_within(resp).await.map_err(failed)?;
        if !status.is_success() {
            let why = body.get("error_description").or_else(|| body.get("error")).and_then(|v| v.as_str());
            return Err(failed(format!("{status}: {}", why.unwrap_or("no reason given"))));
        }
        let id_token = body
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| failed("no ID token in its answer (is `openid` an allowed scope?)".into()))?;
        let claims = self.claims(id_token, &web.client_id).await?;
        if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
            return Err(failed("the ID token's nonce is not the one sent".into()));
        }
        let user = self.user_of(&claims)?;
        // The session lasts no longer than the ID token it comes from.
        let exp = claims.get("exp").and_then(|v| v.as_i64()).unwrap_or(0);
        Ok((exp, user))
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

/// The longest answer read from the identity provider.
const MAX_IDP_BYTES: u64 = 1 << 20;

/// A JSON answer of the identity provider, read no further than
/// [`MAX_IDP_BYTES`].
async fn json_within<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, String> {
    match twake_core::engine::http::body_within(resp, MAX_IDP_BYTES).await {
        Ok(Some(bytes)) => {
            serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not the JSON expected ({e})"))
        }
        Ok(None) => Err(format!("the answer is larger than {} KB", MAX_IDP_BYTES >> 10)),
        Err(e) => Err(e.to_string()),
    }
}

async fn fetch_keys(http: &reqwest::Client, uri: &str) -> Result<Keys, OidcError> {
    let err = |e: reqwest::Error| OidcError::Jwks { uri: uri.to_string(), reason: e.to_string() };
    let resp = http.get(uri).send().await.and_then(|r| r.error_for_status()).map_err(err)?;
    let set: JwkSet = json_within(resp).await.map_err(|reason| OidcError::Jwks { uri: uri.to_string(), reason })?;
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

/// The user a verified token's claims name. The configured claim counts
/// when it is not `email`, or is an `email` the issuer says it verified
/// (`email_verified`: true): an unverified address is anybody's to type.
/// Otherwise, and when the claim is absent, the user is the issuer's
/// `sub`, qualified as `oidc:<issuer host>:<sub>` (`@` written `%40`), so
/// that it is never an e-mail address of ours nor a group — unless the
/// configuration says to refuse unverified addresses. Every identity is a
/// user: a claim naming `group:…`, `room:…` or `share:…` is refused.
pub fn user_of(
    claims: &serde_json::Value,
    user_claim: &str,
    issuer: &str,
    unverified: UnverifiedEmail,
) -> Result<Principal, String> {
    let named = claims.get(user_claim).and_then(|v| v.as_str()).filter(|s| !s.trim().is_empty());
    let verified = user_claim != "email"
        || matches!(claims.get("email_verified"), Some(serde_json::Value::Bool(true)))
        || claims.get("email_verified").and_then(|v| v.as_str()) == Some("true");
    let user = match named {
        Some(name) if verified => Principal::parse(name).map_err(|e| e.to_string())?,
        Some(_) if unverified == UnverifiedEmail::Refuse => {
            return Err("its `email` claim is not verified (`email_verified` is not true), and \
                        `auth.oidc_unverified_email` is \"refuse\""
                .into());
        }
        _ => {
            let sub = claims
                .get("sub")
                .and_then(|v| v.as_str())
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("no verified `{user_claim}` and no `sub` claim"))?;
            let host = issuer.split("://").nth(1).unwrap_or(issuer).split(['/', ':']).next().unwrap_or("");
            let sub: String = sub.chars().map(|c| if c == '@' { "%40".to_string() } else { c.to_string() }).collect();
            Principal::parse(&format!("oidc:{host}:{sub}")).map_err(|e| e.to_string())?
        }
    };
    if user.kind() != PrincipalKind::User {
        return Err(format!("it names {user}, which is not a user"));
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(claims: serde_json::Value, unverified: UnverifiedEmail) -> Result<String, String> {
        user_of(&claims, "email", "https://auth.valmont.fr/realms/v", unverified).map(|p| p.to_string())
    }

    #[test]
    fn an_email_names_the_user_only_when_verified() {
        let verified = json!({"sub": "42", "email": "alice.martin@valmont.fr", "email_verified": true});
        assert_eq!(user(verified, UnverifiedEmail::Sub).unwrap(), "alice.martin@valmont.fr");
        let typed = json!({"sub": "666", "email": "alice.martin@valmont.fr"});
        assert_eq!(user(typed.clone(), UnverifiedEmail::Sub).unwrap(), "oidc:auth.valmont.fr:666");
        assert!(user(typed, UnverifiedEmail::Refuse).unwrap_err().contains("not verified"));
        let unverified =
            json!({"sub": "alice.martin@valmont.fr", "email": "alice.martin@valmont.fr", "email_verified": false});
        let u = user(unverified, UnverifiedEmail::Sub).unwrap();
        assert_eq!(u, "oidc:auth.valmont.fr:alice.martin%40valmont.fr");
        assert_eq!(Principal::parse(&u).unwrap().domain(), None, "no mail domain, so no tenant by domain");
        // Another claim is taken as configured.
        let c = json!({"sub": "7", "preferred_username": "bob"});
        assert_eq!(user_of(&c, "preferred_username", "https://idp", UnverifiedEmail::Refuse).unwrap().as_str(), "bob");
    }

    #[test]
    fn every_identity_is_a_user() {
        let group = json!({"sub": "1", "email": "group:it", "email_verified": true});
        assert!(user(group, UnverifiedEmail::Sub).unwrap_err().contains("not a user"));
        let c = json!({"sub": "room:!x", "preferred_username": "share:drive"});
        assert!(user_of(&c, "preferred_username", "https://idp", UnverifiedEmail::Sub).is_err());
        // A `sub` is qualified by the issuer: "group:it" there is a user.
        assert_eq!(user(json!({"sub": "group:it"}), UnverifiedEmail::Sub).unwrap(), "oidc:auth.valmont.fr:group:it");
        assert!(user(json!({}), UnverifiedEmail::Sub).is_err());
    }
}
