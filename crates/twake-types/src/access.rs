//! Principals, tenants, the directory and the access pass.
//!
//! Architecture invariant: an index read takes an [`AccessPass`], and this
//! module is the only place that can build one. A user's pass is computed
//! from a [`Directory`] snapshot (their tenant, and every group, room or
//! share they belong to, nesting followed), so a membership change takes
//! effect on the next pass without touching any index. Indexes filter by
//! the pass *inside* the query, so the top-k are always the asker's best k.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// Someone or something documents can be shared with: a user's e-mail
/// address, or a container of principals — `group:NAME`, `room:ID`,
/// `share:NAME`, or a mailing-list address given members. Lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrincipalError {
    #[error("empty principal: give a user as an e-mail address, e.g. alice@example.org, or a group as group:NAME")]
    Empty,
    #[error("invalid principal {0:?}: principals may not contain spaces, commas, slashes or control characters")]
    Invalid(String),
    #[error("invalid principal {0:?}: give a name after the colon, e.g. group:it")]
    NoName(String),
    #[error("invalid tenant {0:?}: a tenant name is letters, digits, '-', '_' or '.', e.g. valmont")]
    Tenant(String),
}

/// What a principal names, read from its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    User,
    Group,
    Room,
    Share,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Group => "group",
            PrincipalKind::Room => "room",
            PrincipalKind::Share => "share",
        }
    }
}

impl Principal {
    pub fn parse(s: &str) -> Result<Self, PrincipalError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PrincipalError::Empty);
        }
        // Principals also name folders (uploads): no path syntax.
        if s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '/' | '\\')) || s.starts_with('.')
        {
            return Err(PrincipalError::Invalid(s.to_string()));
        }
        let p = Principal(s.to_lowercase());
        if p.kind() != PrincipalKind::User && p.0.split_once(':').is_some_and(|(_, name)| name.is_empty()) {
            return Err(PrincipalError::NoName(s.to_string()));
        }
        Ok(p)
    }

    /// Parses a comma-separated list, ignoring empty items.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, PrincipalError> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(Principal::parse).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> PrincipalKind {
        match self.0.split_once(':').map(|(k, _)| k) {
            Some("group") => PrincipalKind::Group,
            Some("room") => PrincipalKind::Room,
            Some("share") => PrincipalKind::Share,
            _ => PrincipalKind::User,
        }
    }

    /// The domain of a user's e-mail address.
    pub fn domain(&self) -> Option<&str> {
        match self.kind() {
            PrincipalKind::User => self.0.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty()),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An isolated organisation inside one installation. Documents, groups and
/// users each belong to exactly one tenant; no read ever crosses tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// The tenant of installations that never declare one.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(s: &str) -> Result<Self, PrincipalError> {
        let s = s.trim();
        if s.is_empty()
            || s.starts_with('.')
            || !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(PrincipalError::Tenant(s.to_string()));
        }
        Ok(Tenant(s.to_lowercase()))
    }

    pub fn default_tenant() -> Self {
        Tenant(Self::DEFAULT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant::default_tenant()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the policy knows about a user: which tenant their domain belongs
/// to, and the membership edges (`member ∈ container`) reachable from them.
/// A snapshot read from the store for one request; plain data.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    tenant_domains: BTreeMap<String, Tenant>,
    /// (tenant, member) → containers the member belongs to.
    edges: BTreeMap<(Tenant, Principal), BTreeSet<Principal>>,
}

impl Directory {
    /// Users of `domain` belong to `tenant`.
    pub fn add_domain(&mut self, domain: &str, tenant: Tenant) {
        self.tenant_domains.insert(domain.to_lowercase(), tenant);
    }

    /// `member` belongs to `container` inside `tenant`.
    pub fn add_membership(&mut self, tenant: &Tenant, container: Principal, member: Principal) {
        self.edges.entry((tenant.clone(), member)).or_default().insert(container);
    }

    /// The tenant of a user: the one their e-mail domain is declared in,
    /// else the default tenant.
    pub fn tenant_of(&self, user: &Principal) -> Tenant {
        user.domain().and_then(|d| self.tenant_domains.get(d)).cloned().unwrap_or_default()
    }

    /// Every container a user belongs to, directly or through nesting,
    /// with the chain that grants it (`user ∈ c1 ∈ c2 …`, the container
    /// last). Cycles are harmless.
    pub fn memberships(&self, tenant: &Tenant, user: &Principal) -> BTreeMap<Principal, Vec<Principal>> {
        let mut chains: BTreeMap<Principal, Vec<Principal>> = BTreeMap::new();
        let mut queue = VecDeque::from([(user.clone(), vec![user.clone()])]);
        while let Some((p, chain)) = queue.pop_front() {
            let Some(containers) = self.edges.get(&(tenant.clone(), p)) else { continue };
            for c in containers {
                if c == user || chains.contains_key(c) {
                    continue;
                }
                let mut next = chain.clone();
                next.push(c.clone());
                chains.insert(c.clone(), next.clone());
                queue.push_back((c.clone(), next));
            }
        }
        chains
    }
}

/// What an index read is allowed to see: a tenant and a set of
/// principals, or the whole installation with a stated reason
/// (maintenance, rebuilds).
#[derive(Debug, Clone)]
pub struct AccessPass {
    scope: Scope,
}

#[derive(Debug, Clone)]
enum Scope {
    Principals { user: Principal, tenant: Tenant, principals: BTreeSet<Principal> },
    System { reason: &'static str },
}

impl AccessPass {
    /// The pass of a user asking for themselves: their tenant, themselves
    /// and every container they belong to in the directory.
    pub fn for_user(directory: &Directory, user: Principal) -> Self {
        let tenant = directory.tenant_of(&user);
        let mut principals: BTreeSet<Principal> = directory.memberships(&tenant, &user).into_keys().collect();
        principals.insert(user.clone());
        AccessPass { scope: Scope::Principals { user, tenant, principals } }
    }

    /// System-wide access; the reason is spelled out so that every use of it
    /// can be found and audited.
    pub fn system(reason: &'static str) -> Self {
        AccessPass { scope: Scope::System { reason } }
    }

    /// The principals the pass acts as, or `None` for a system pass.
    pub fn principals(&self) -> Option<&BTreeSet<Principal>> {
        match &self.scope {
            Scope::Principals { principals, .. } => Some(principals),
            Scope::System { .. } => None,
        }
    }

    /// The user the pass was built for, or `None` for a system pass.
    pub fn user(&self) -> Option<&Principal> {
        match &self.scope {
            Scope::Principals { user, .. } => Some(user),
            Scope::System { .. } => None,
        }
    }

    /// The tenant the pass is confined to, or `None` for a system pass.
    pub fn tenant(&self) -> Option<&Tenant> {
        match &self.scope {
            Scope::Principals { tenant, .. } => Some(tenant),
            Scope::System { .. } => None,
        }
    }

    pub fn system_reason(&self) -> Option<&'static str> {
        match &self.scope {
            Scope::System { reason } => Some(reason),
            Scope::Principals { .. } => None,
        }
    }

    /// Whether a document of this tenant with these readers is visible
    /// through this pass.
    pub fn allows<'a>(&self, tenant: &str, mut readers: impl Iterator<Item = &'a str>) -> bool {
        match &self.scope {
            Scope::System { .. } => true,
            Scope::Principals { tenant: t, principals, .. } => {
                t.as_str() == tenant && readers.any(|r| principals.iter().any(|q| q.as_str() == r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Principal {
        Principal::parse(s).unwrap()
    }

    #[test]
    fn principals_are_normalised_and_checked() {
        assert_eq!(p(" Alice@Valmont.FR ").as_str(), "alice@valmont.fr");
        assert_eq!(Principal::parse(""), Err(PrincipalError::Empty));
        assert!(Principal::parse("a b").is_err());
        for bad in ["../x", "a/b", "a\\b", "..", ".hidden", "a\nb", "group:"] {
            assert!(Principal::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Principal::parse("group:").unwrap_err().to_string().contains("give a name after the colon"));
        let l = Principal::parse_list("a@x.fr, b@x.fr,,").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(p("group:RH").kind(), PrincipalKind::Group);
        assert_eq!(p("room:!abc:matrix.valmont.fr").kind(), PrincipalKind::Room);
        assert_eq!(p("alice@x.fr").domain(), Some("x.fr"));
        assert_eq!(p("group:a@x.fr").domain(), None);
        assert!(Tenant::parse("valmont").is_ok());
        assert!(Tenant::parse("a/b").is_err());
        assert!(Tenant::parse("").is_err());
    }

    #[test]
    fn pass_allows_only_its_principals_in_its_tenant() {
        let dir = Directory::default();
        let pass = AccessPass::for_user(&dir, p("alice@x.fr"));
        assert!(pass.allows("default", ["bob@x.fr", "alice@x.fr"].into_iter()));
        assert!(!pass.allows("default", ["bob@x.fr"].into_iter()));
        assert!(!pass.allows("default", std::iter::empty()));
        assert!(!pass.allows("other", ["alice@x.fr"].into_iter()));
        assert!(AccessPass::system("test").allows("other", std::iter::empty()));
    }

    #[test]
    fn nested_groups_and_cycles_expand_with_their_chain() {
        let t = Tenant::default();
        let mut dir = Directory::default();
        dir.add_membership(&t, p("group:finance"), p("alice@x.fr"));
        dir.add_membership(&t, p("group:direction"), p("group:finance"));
        dir.add_membership(&t, p("group:finance"), p("group:direction"));
        dir.add_membership(&t, p("room:!r:x.fr"), p("bob@x.fr"));
        let other = Tenant::parse("other").unwrap();
        dir.add_membership(&other, p("group:everyone"), p("alice@x.fr"));
        let m = dir.memberships(&t, &p("alice@x.fr"));
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["group:direction", "group:finance"]);
        assert_eq!(m[&p("group:direction")], [p("alice@x.fr"), p("group:finance"), p("group:direction")]);
        let pass = AccessPass::for_user(&dir, p("alice@x.fr"));
        assert!(pass.allows("default", ["group:direction"].into_iter()));
        assert!(!pass.allows("default", ["room:!r:x.fr", "group:everyone"].into_iter()));
    }

    #[test]
    fn users_belong_to_their_domain_tenant() {
        let mut dir = Directory::default();
        dir.add_domain("Valmont.fr", Tenant::parse("valmont").unwrap());
        assert_eq!(dir.tenant_of(&p("alice@valmont.fr")).as_str(), "valmont");
        assert_eq!(dir.tenant_of(&p("eve@other.org")).as_str(), "default");
        let pass = AccessPass::for_user(&dir, p("alice@valmont.fr"));
        assert_eq!(pass.tenant().unwrap().as_str(), "valmont");
        assert!(!pass.allows("default", ["alice@valmont.fr"].into_iter()));
    }
}
