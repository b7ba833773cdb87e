//! Sensitivity levels: what a passage may be shown to (a model's clearance
//! must cover it). Ordered; anything that cannot be read as a level counts
//! as the highest one, so a typo never opens a door.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Sensitivity {
    Public,
    #[default]
    Internal,
    Confidential,
    Secret,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 4] =
        [Sensitivity::Public, Sensitivity::Internal, Sensitivity::Confidential, Sensitivity::Secret];

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Secret => "secret",
        }
    }

    /// A level as configured (English or French, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "public" => Some(Sensitivity::Public),
            "internal" | "interne" | "internal use" | "usage interne" => Some(Sensitivity::Internal),
            "confidential" | "confidentiel" | "confidentielle" => Some(Sensitivity::Confidential),
            "secret" | "très secret" | "tres secret" | "top secret" => Some(Sensitivity::Secret),
            _ => None,
        }
    }

    /// A level read from a stored or configured value: unknown counts as
    /// secret (fail closed).
    pub fn parse_or_secret(s: &str) -> Self {
        Self::parse(s).unwrap_or(Sensitivity::Secret)
    }

    /// The level of a marking found in a source: RFC 2156 `Sensitivity:`
    /// values (`Personal`, `Private`, `Company-Confidential`), French
    /// administrative markings (`Diffusion restreinte`, `Confidentiel
    /// personnel`) and the level names. `None` for markings that classify
    /// nothing (`Normal`, `None`); any other unrecognised marking counts as
    /// confidential: someone marked it for a reason.
    pub fn from_marking(marking: &str) -> Option<Self> {
        let m = marking.trim().to_lowercase();
        if let Some(level) = Self::parse(&m) {
            return Some(level);
        }
        let has = |w: &str| m.contains(w);
        if m.is_empty() || ["normal", "none", "aucune", "non classifié", "non classifie"].contains(&m.as_str()) {
            None
        } else if has("secret") {
            Some(Sensitivity::Secret)
        } else if has("public") {
            Some(Sensitivity::Public)
        } else if has("internal") || has("interne") {
            Some(Sensitivity::Internal)
        } else {
            // personal, private, company-confidential, diffusion restreinte, …
            Some(Sensitivity::Confidential)
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_unknown_is_secret() {
        assert!(Sensitivity::Public < Sensitivity::Internal && Sensitivity::Confidential < Sensitivity::Secret);
        assert_eq!(Sensitivity::parse("Confidentiel"), Some(Sensitivity::Confidential));
        assert_eq!(Sensitivity::parse("restricted"), None);
        assert_eq!(Sensitivity::parse_or_secret("restricted"), Sensitivity::Secret);
        assert_eq!(Sensitivity::from_marking("Company-Confidential"), Some(Sensitivity::Confidential));
        assert_eq!(Sensitivity::from_marking("Personal"), Some(Sensitivity::Confidential));
        assert_eq!(Sensitivity::from_marking("Diffusion Restreinte"), Some(Sensitivity::Confidential));
        assert_eq!(Sensitivity::from_marking("Normal"), None);
        assert_eq!(Sensitivity::from_marking("SECRET DEFENSE"), Some(Sensitivity::Secret));
    }
}
