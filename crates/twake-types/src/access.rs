//! Principals and the access pass.
//!
//! Architecture invariant: an index read takes an [`AccessPass`], and this
//! module is the only place that can build one. A pass names every principal
//! the asker acts as; indexes filter by it *inside* the query, so the top-k
//! are always the asker's best k.

use std::collections::BTreeSet;
use std::fmt;

/// Someone or something documents can be shared with: a user's e-mail
/// address, lowercased (later issues add groups and rooms).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrincipalError {
    #[error("empty principal: give a user as an e-mail address, e.g. alice@example.org")]
    Empty,
    #[error("invalid principal {0:?}: principals may not contain spaces, commas, slashes or control characters")]
    Invalid(String),
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
        Ok(Principal(s.to_lowercase()))
    }

    /// Parses a comma-separated list, ignoring empty items.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, PrincipalError> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(Principal::parse).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an index read is allowed to see. Either a set of principals, or the
/// whole index with a stated reason (maintenance, rebuilds).
#[derive(Debug, Clone)]
pub struct AccessPass {
    scope: Scope,
}

#[derive(Debug, Clone)]
enum Scope {
    Principals(BTreeSet<Principal>),
    System { reason: &'static str },
}

impl AccessPass {
    /// The pass of a user asking for themselves.
    pub fn for_user(user: Principal) -> Self {
        AccessPass { scope: Scope::Principals(BTreeSet::from([user])) }
    }

    /// System-wide access; the reason is spelled out so that every use of it
    /// can be found and audited.
    pub fn system(reason: &'static str) -> Self {
        AccessPass { scope: Scope::System { reason } }
    }

    /// The principals the pass acts as, or `None` for a system pass.
    pub fn principals(&self) -> Option<&BTreeSet<Principal>> {
        match &self.scope {
            Scope::Principals(p) => Some(p),
            Scope::System { .. } => None,
        }
    }

    pub fn system_reason(&self) -> Option<&'static str> {
        match &self.scope {
            Scope::System { reason } => Some(reason),
            Scope::Principals(_) => None,
        }
    }

    /// Whether a document with these readers is visible through this pass.
    pub fn allows<'a>(&self, mut readers: impl Iterator<Item = &'a str>) -> bool {
        match &self.scope {
            Scope::System { .. } => true,
            Scope::Principals(p) => readers.any(|r| p.iter().any(|q| q.as_str() == r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_normalised_and_checked() {
        assert_eq!(Principal::parse(" Alice@Valmont.FR ").unwrap().as_str(), "alice@valmont.fr");
        assert_eq!(Principal::parse(""), Err(PrincipalError::Empty));
        assert!(Principal::parse("a b").is_err());
        for bad in ["../x", "a/b", "a\\b", "..", ".hidden", "a\nb"] {
            assert!(Principal::parse(bad).is_err(), "{bad:?}");
        }
        let l = Principal::parse_list("a@x.fr, b@x.fr,,").unwrap();
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn pass_allows_only_its_principals() {
        let pass = AccessPass::for_user(Principal::parse("alice@x.fr").unwrap());
        assert!(pass.allows(["bob@x.fr", "alice@x.fr"].into_iter()));
        assert!(!pass.allows(["bob@x.fr"].into_iter()));
        assert!(!pass.allows(std::iter::empty()));
        assert!(AccessPass::system("test").allows(std::iter::empty()));
    }
}
