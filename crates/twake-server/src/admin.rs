//! Administration routes under `/api/v1/admin`, for the users and groups
//! `auth.admins` names (the installation's administrators) and
//! `auth.tenant_admins` names (one tenant's; 403 for anyone else): users
//! and groups, API keys, models and their clearances, a user's access
//! report, the provenance log with its verification, and usage per day.
//! A tenant's administrator sees and changes only that tenant: the users
//! of other tenants, their keys, memberships, records and usage are not
//! listed, and naming them is refused (403) or not found (404, for a key).
//! The web UI's admin pages read these; they are plain JSON for any other
//! client too.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use twake_core::policy::audit::AuditFilter;
use twake_core::{Principal, Tenant};

use crate::error::parse_json;
use crate::native::ErrorBody;
use crate::{ApiError, AppState, User, json_ok};

/// What an administrator administers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Installation,
    Tenant(Tenant),
}

impl Scope {
    pub fn covers(&self, tenant: &Tenant) -> bool {
        match self {
            Scope::Installation => true,
            Scope::Tenant(t) => t == tenant,
        }
    }

    fn check(&self, user: &User, tenant: &Tenant) -> Result<(), ApiError> {
        if self.covers(tenant) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!("{} administers tenant {} only, not {tenant}.", user.0.as_str(), self)))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Installation => f.write_str("(all)"),
            Scope::Tenant(t) => f.write_str(t.as_str()),
        }
    }
}

/// What the caller administers; 403 when nothing.
fn admin(state: &AppState, user: &User) -> Result<Scope, ApiError> {
    user.admin_scope(state).ok_or_else(|| {
        ApiError::forbidden(format!(
            "{} is not an administrator (auth.admins and auth.tenant_admins name who is).",
            user.0.as_str()
        ))
    })
}

/// Whether a user (a principal of a user kind) is of a tenant the scope
/// covers; containers and other principals count only for the installation.
async fn covers_user(state: &AppState, scope: &Scope, who: &str) -> Result<bool, ApiError> {
    if *scope == Scope::Installation {
        return Ok(true);
    }
    match Principal::parse(who) {
        Ok(p) if p.kind() == twake_types::PrincipalKind::User => {
            Ok(scope.covers(&state.workspace.tenant_of(&p).await?))
        }
        _ => Ok(false),
    }
}

/// Users the store knows (readers, authors, key owners) and every
/// membership edge (groups, rooms, shares, nested).
#[utoipa::path(get, path = "/api/v1/admin/users", security(("bearer" = [])),
    responses((status = 200, description = "`{users: [..], memberships: [{tenant, container, member}]}`"), (status = 403, body = ErrorBody)))]
pub async fn users(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let mut users = Vec::new();
    for u in state.workspace.known_users().await? {
        if covers_user(&state, &scope, u.as_str()).await? {
            users.push(u);
        }
    }
    let memberships: Vec<_> = state
        .workspace
        .memberships()
        .await?
        .into_iter()
        .filter(|m| Tenant::parse(&m.tenant).is_ok_and(|t| scope.covers(&t)))
        .collect();
    Ok(json_ok(json!({
        "users": users.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "memberships": memberships.iter().map(|m| json!({"tenant": m.tenant, "container": m.container, "member": m.member})).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MembershipQuery {
    /// `group:NAME`, `room:ID`, `share:NAME` or a list address.
    container: String,
    /// A user or another container (nesting is allowed).
    member: String,
    /// The tenant (default: the administrator's own).
    tenant: Option<String>,
}

fn membership_parts(
    state_tenant: Option<&Tenant>,
    q: &MembershipQuery,
) -> Result<(Tenant, Principal, Principal), ApiError> {
    let container =
        Principal::parse(q.container.trim()).map_err(|e| ApiError::invalid(e.to_string(), Some("container")))?;
    let member = Principal::parse(q.member.trim()).map_err(|e| ApiError::invalid(e.to_string(), Some("member")))?;
    let tenant = match &q.tenant {
        Some(t) => Tenant::parse(t.trim()).map_err(|e| ApiError::invalid(e.to_string(), Some("tenant")))?,
        None => state_tenant.cloned().unwrap_or_else(Tenant::default_tenant),
    };
    Ok((tenant, container, member))
}

/// Adds a member to a group, room or share; effective on the member's
/// next request.
#[utoipa::path(post, path = "/api/v1/admin/memberships", security(("bearer" = [])), params(MembershipQuery),
    responses((status = 201, description = "added"), (status = 200, description = "already a member"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<MembershipQuery>,
) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let (tenant, container, member) = membership_parts(user.pass().tenant(), &q)?;
    scope.check(&user, &tenant)?;
    match state.workspace.add_member(&tenant, &container, &member).await {
        Ok(true) => {
            let what = format!("membership added: {member} in {container}");
            state.workspace.audit_admin(user.0.as_str(), tenant.as_str(), &what).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        Ok(false) => Ok(StatusCode::OK.into_response()),
        Err(twake_core::CoreError::Config(why)) => Err(ApiError::invalid(why, Some("container"))),
        Err(e) => Err(e.into()),
    }
}

/// Removes a member from a group, room or share.
#[utoipa::path(delete, path = "/api/v1/admin/memberships", security(("bearer" = [])), params(MembershipQuery),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<MembershipQuery>,
) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let (tenant, container, member) = membership_parts(user.pass().tenant(), &q)?;
    scope.check(&user, &tenant)?;
    if state.workspace.remove_member(&tenant, &container, &member).await? {
        let what = format!("membership removed: {member} from {container}");
        state.workspace.audit_admin(user.0.as_str(), tenant.as_str(), &what).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(
            "membership_not_found",
            "member",
            format!("{member} is not a member of {container} in tenant {tenant}."),
        ))
    }
}

/// Every API key (never its secret).
#[utoipa::path(get, path = "/api/v1/admin/keys", security(("bearer" = [])),
    responses((status = 200, description = "`{keys: [{id, user, label, created_at, revoked}]}`"), (status = 403, body = ErrorBody)))]
pub async fn keys(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let mut keys = Vec::new();
    for k in state.workspace.keys().await? {
        if covers_user(&state, &scope, &k.principal).await? {
            keys.push(k);
        }
    }
    Ok(json_ok(json!({
        "keys": keys.iter().map(|k| json!({"id": k.id, "user": k.principal, "label": k.label, "created_at": k.created_at, "revoked": k.revoked, "last_used_at": k.last_used_at})).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    user: String,
    #[serde(default)]
    label: String,
}

/// Creates an API key for a user; the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/admin/keys", security(("bearer" = [])),
    responses((status = 201, description = "`{id, key}`"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_key(State(state): State<AppState>, user: User, body: Bytes) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let req: NewKey = parse_json(&body)?;
    let owner = Principal::parse(req.user.trim()).map_err(|e| ApiError::invalid(e.to_string(), Some("user")))?;
    if owner.kind() != twake_types::PrincipalKind::User {
        return Err(ApiError::invalid(
            format!("{owner} is not a user: an API key signs in one person; give it to a user."),
            Some("user"),
        ));
    }
    if !is_mail_address(owner.as_str()) {
        return Err(ApiError::invalid(
            format!(
                "{owner} is not an e-mail address: a key is made for a person, named by their address, e.g. alice@example.org."
            ),
            Some("user"),
        ));
    }
    let label = if req.label.trim().is_empty() { "web" } else { req.label.trim() };
    let tenant = state.workspace.tenant_of(&owner).await?;
    scope.check(&user, &tenant)?;
    let (id, key) = state.workspace.create_key(&owner, label).await?;
    let what = format!("API key {id} created for {owner} ({label})");
    state.workspace.audit_admin(user.0.as_str(), tenant.as_str(), &what).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id, "key": key}))).into_response())
}

/// `local@domain.tld`: the form a person's name takes in TwakeAI (mail
/// headers, the identity provider's `email` claim).
fn is_mail_address(s: &str) -> bool {
    s.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !local.contains('@')
            && domain.split('.').count() >= 2
            && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
    })
}

/// Revokes an API key at once (its sessions end with it).
#[utoipa::path(delete, path = "/api/v1/admin/keys/{id}", security(("bearer" = [])), params(("id" = i64, Path, description = "key id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(State(state): State<AppState>, user: User, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    // A key of another tenant is, to a tenant's administrator, no key.
    let owner = state.workspace.keys().await?.into_iter().find(|k| k.id == id && !k.revoked).map(|k| k.principal);
    let covered = match &owner {
        Some(o) => covers_user(&state, &scope, o).await?,
        None => false,
    };
    if covered && state.workspace.revoke_key(id).await? {
        let owner = owner.unwrap_or_default();
        let tenant = match Principal::parse(&owner) {
            Ok(p) => state.workspace.tenant_of(&p).await?.to_string(),
            Err(_) => String::new(),
        };
        state.workspace.audit_admin(user.0.as_str(), &tenant, &format!("API key {id} of {owner} revoked")).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("key_not_found", "id", format!("No active key {id}.")))
    }
}

/// The models answers may go to, in preference order, with the highest
/// level each may read (as is, and pseudonymised).
#[utoipa::path(get, path = "/api/v1/admin/models", security(("bearer" = [])),
    responses((status = 200, description = "`{chat, embedding, models: [{name, where, jurisdiction, clearance, pseudonymised_clearance}]}`"), (status = 403, body = ErrorBody)))]
pub async fn models(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    admin(&state, &user)?;
    let cfg = &state.workspace.config;
    let candidates = cfg.gateway.candidates().map_err(ApiError::internal)?;
    let models: Vec<_> = candidates
        .iter()
        .map(|c| {
            let remote = cfg.gateway.models.iter().find(|m| m.name == c.name);
            json!({
                "name": c.name,
                "where": remote.map(|m| m.url.as_str()).unwrap_or("embedded (this server)"),
                "jurisdiction": remote.map(|m| m.jurisdiction.as_str()).unwrap_or("local"),
                "clearance": c.clearance.as_str(),
                "pseudonymised_clearance": c.pseudonymised.map(|s| s.as_str()),
            })
        })
        .collect();
    Ok(json_ok(json!({
        "chat": state.workspace.chat_model_name(),
        "embedding": state.workspace.embedder().name(),
        "models": models,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// The user whose reach to report.
    user: String,
}

/// What a user can read, grouped by source, kind and level, and through
/// which membership.
#[utoipa::path(get, path = "/api/v1/admin/access", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, description = "`{user, tenant, documents, member_of, sources: [..]}`"), (status = 403, body = ErrorBody)))]
pub async fn access_report(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let who = Principal::parse(q.user.trim()).map_err(|e| ApiError::invalid(e.to_string(), Some("user")))?;
    scope.check(&user, &state.workspace.tenant_of(&who).await?)?;
    let r = state.workspace.access_report(&who).await?;
    Ok(json_ok(json!({
        "user": r.user.as_str(),
        "tenant": r.tenant.as_str(),
        "documents": r.documents,
        "member_of": r.member_of.values().map(|chain| chain.iter().map(|p| p.as_str()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "sources": r.groups.iter().map(|g| json!({
            "source": g.source, "kind": g.kind, "sensitivity": g.sensitivity.as_str(),
            "files": g.files, "documents": g.documents, "granted_by": g.granted_by,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only this user's records.
    user: Option<String>,
    /// How many of the latest records (default 50, at most 500).
    limit: Option<usize>,
}

/// The latest provenance records and the verification of the whole log
/// (chain, signatures, head).
#[utoipa::path(get, path = "/api/v1/admin/audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "`{verified, records_checked, problems: [{seq, what}], records: [..]}`"), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let check = state.workspace.audit_verify(None).await?;
    let filter = AuditFilter { user: q.user.filter(|u| !u.trim().is_empty()), ..AuditFilter::default() };
    let mut records = state.workspace.audit_show(&filter).await?;
    records.retain(|r| Tenant::parse(&r.tenant).is_ok_and(|t| scope.covers(&t)));
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let skip = records.len().saturating_sub(limit);
    let records: Vec<_> = records.drain(skip..).rev().collect();
    Ok(json_ok(json!({
        "verified": check.problems.is_empty(),
        "records_checked": check.records,
        "problems": check.problems.iter().map(|p| json!({"seq": p.seq, "what": p.what})).collect::<Vec<_>>(),
        "records": records,
    })))
}

/// What people thought of the answers in the caller's scope: counts of
/// thumbs up and down, and the latest 50 ratings with their comments.
#[utoipa::path(get, path = "/api/v1/admin/feedback", security(("bearer" = [])),
    responses((status = 200, description = "`{up, down, recent: [{user, tenant, audit_id, rating, comment, at}]}`"), (status = 403, body = ErrorBody)))]
pub async fn feedback(State(state): State<AppState>, user: User) -> Result<Response, ApiError> {
    let tenant = match admin(&state, &user)? {
        Scope::Installation => None,
        Scope::Tenant(t) => Some(t),
    };
    let report = state.workspace.feedback_report(tenant.as_ref().map(|t| t.as_str()), 50).await?;
    Ok(json_ok(report))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct UsageQuery {
    /// How many days back, today included (default 14, at most 90).
    days: Option<i64>,
}

/// Tokens, cost and requests per UTC day and principal, and the quotas.
#[utoipa::path(get, path = "/api/v1/admin/usage", security(("bearer" = [])), params(UsageQuery),
    responses((status = 200, description = "`{days: [{day, principals: {NAME: {tokens, cost, requests}}}], quotas}`"), (status = 403, body = ErrorBody)))]
pub async fn usage(
    State(state): State<AppState>,
    user: User,
    Query(q): Query<UsageQuery>,
) -> Result<Response, ApiError> {
    let scope = admin(&state, &user)?;
    let n = q.days.unwrap_or(14).clamp(1, 90);
    let today = state.workspace.now().div_euclid(86_400);
    let from = today - n + 1;
    let mut by_day: Vec<serde_json::Map<String, serde_json::Value>> = vec![serde_json::Map::new(); n as usize];
    for (day, p, u) in state.workspace.usage_by_day(from, today).await? {
        if !covers_user(&state, &scope, &p).await? {
            continue;
        }
        if let Some(principals) = by_day.get_mut((day - from) as usize) {
            principals.insert(p, json!({"tokens": u.tokens, "cost": u.cost, "requests": u.requests}));
        }
    }
    let days: Vec<_> = by_day
        .into_iter()
        .enumerate()
        .map(|(i, principals)| {
            let (y, m, d) = twake_types::civil::civil_from_days(from + i as i64);
            json!({"day": format!("{y:04}-{m:02}-{d:02}"), "principals": principals})
        })
        .collect();
    let q = &state.workspace.config.quotas;
    let quotas = json!({
        "tokens_per_day": q.tokens_per_day,
        "cost_per_month": q.cost_per_month,
        "groups": q.groups.iter().map(|g| json!({"group": g.group, "tokens_per_day": g.tokens_per_day, "cost_per_month": g.cost_per_month})).collect::<Vec<_>>(),
    });
    Ok(json_ok(json!({ "days": days, "quotas": quotas })))
}

#[cfg(test)]
mod tests {
    use super::is_mail_address;

    #[test]
    fn a_key_is_for_a_mail_address() {
        for ok in ["alice@example.org", "a.b-c@mail.valmont.fr", "élodie@exemple.fr"] {
            assert!(is_mail_address(ok), "{ok}");
        }
        for bad in [
            "not-an-email",
            "@example.org",
            "alice@",
            "alice@localhost",
            "a@b@c.org",
            "alice@example..org",
            "alice@ex_ample.org",
        ] {
            assert!(!is_mail_address(bad), "{bad}");
        }
    }
}
