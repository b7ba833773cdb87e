//! Sensitivity labels: every document and chunk gets a level from its
//! source's default, the configured rules, the source's own marking and
//! detectors (IBAN, French NIR, payment card numbers, health terms). Each
//! of these can only raise the level, never lower it.

use twake_types::{Document, Principal, Sensitivity};

use crate::engine::config::SensitivityConfig;

/// A level and the reasons for it (the highest reason wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub level: Sensitivity,
    pub reasons: Vec<String>,
}

impl Label {
    pub fn new(level: Sensitivity, reason: String) -> Self {
        Label { level, reasons: vec![reason] }
    }

    /// Raises the level (never lowers it) and records why.
    pub fn raise(&mut self, level: Sensitivity, reason: String) {
        if level > self.level {
            self.level = level;
        }
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }
}

/// What the labeller knows of a document's source.
pub struct Source<'a> {
    pub path: &'a str,
    pub readers: &'a [Principal],
    /// The source's default (`ingest --sensitivity`), else the configured one.
    pub default: Option<Sensitivity>,
}

impl SensitivityConfig {
    /// Checks the levels named in the configuration; unknown names are an
    /// error here (and would count as `secret` if one slipped through).
    pub fn validate(&self) -> Result<(), String> {
        let check = |what: &str, s: &str| {
            Sensitivity::parse(s)
                .map(|_| ())
                .ok_or_else(|| format!("{what}: unknown level {s:?} (public, internal, confidential or secret)"))
        };
        check("sensitivity.default", &self.default)?;
        for (i, r) in self.rules.iter().enumerate() {
            check(&format!("sensitivity.rules[{i}].level"), &r.level)?;
        }
        let d = &self.detectors;
        for (what, s) in [("iban", &d.iban), ("nir", &d.nir), ("card", &d.card), ("health", &d.health)] {
            check(&format!("sensitivity.detectors.{what}"), s)?;
        }
        Ok(())
    }

    /// The document-level label (before detectors): default, rules, marking.
    pub fn label_document(&self, doc: &Document, src: &Source<'_>) -> Label {
        let default = src.default.unwrap_or_else(|| Sensitivity::parse_or_secret(&self.default));
        let mut label = Label::new(default, format!("default {default}"));
        let title = doc.title.to_lowercase();
        let sender = doc.participants.iter().find(|p| p.role == twake_types::Role::From).map(|p| p.address.as_str());
        for (i, r) in self.rules.iter().enumerate() {
            let path_ok = r.path_contains.as_deref().is_none_or(|p| src.path.contains(p));
            let reader_ok =
                r.reader.as_deref().is_none_or(|w| src.readers.iter().any(|p| p.as_str() == w.to_lowercase()));
            let sender_ok = r.sender_domain.as_deref().is_none_or(|d| {
                sender.is_some_and(|s| s.rsplit_once('@').is_some_and(|(_, dom)| dom == d.to_lowercase()))
            });
            let kw_ok =
                r.title_keywords.is_empty() || r.title_keywords.iter().any(|k| title.contains(&k.to_lowercase()));
            if path_ok && reader_ok && sender_ok && kw_ok {
                let level = Sensitivity::parse_or_secret(&r.level);
                label.raise(level, format!("rule {} ({level})", i + 1));
            }
        }
        if let Some(m) = &doc.marking
            && let Some(level) = Sensitivity::from_marking(m)
        {
            label.raise(level, format!("marked {m:?}"));
        }
        label
    }

    /// A chunk's label: its document's, raised by what the detectors find.
    pub fn label_chunk(&self, doc_label: &Label, text: &str) -> Label {
        let mut label = doc_label.clone();
        let d = &self.detectors;
        for (found, what, level) in [
            (has_iban(text), "IBAN", &d.iban),
            (has_nir(text), "French NIR (social security number)", &d.nir),
            (has_card(text), "payment card number", &d.card),
            (has_health_terms(text), "health information", &d.health),
        ] {
            if found {
                let level = Sensitivity::parse_or_secret(level);
                label.raise(level, format!("{what} detected ({level})"));
            }
        }
        label
    }
}

/// Digits and letters of `text` from `start`, skipping single spaces or
/// dashes between groups, with the byte index after each kept character.
fn compact(text: &[u8], start: usize, max: usize, allow_letters: bool) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut i = start;
    while i < text.len() && out.len() < max {
        let c = text[i];
        if c.is_ascii_digit() || (allow_letters && c.is_ascii_alphabetic()) {
            out.push((c.to_ascii_uppercase(), i + 1));
            i += 1;
        } else if (c == b' ' || c == b'-' || c == b'.')
            && i + 1 < text.len()
            && (text[i + 1].is_ascii_digit() || (allow_letters && text[i + 1].is_ascii_alphabetic()))
            && !out.is_empty()
        {
            i += 1;
        } else {
            break;
        }
    }
    out
}

fn boundary_before(text: &[u8], i: usize) -> bool {
    i == 0 || !text[i - 1].is_ascii_alphanumeric()
}

/// An IBAN (ISO 13616): country code, check digits, 11 to 30 characters,
/// valid mod 97.
pub fn has_iban(text: &str) -> bool {
    !find_ibans(text).is_empty()
}

/// The byte ranges of the IBANs in `text` (grouped with spaces or not).
pub fn find_ibans(text: &str) -> Vec<(usize, usize)> {
    let t = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= t.len() {
        if boundary_before(t, i)
            && t[i].is_ascii_uppercase()
            && t[i + 1].is_ascii_uppercase()
            && t[i + 2].is_ascii_digit()
            && t[i + 3].is_ascii_digit()
        {
            let run = compact(t, i, 34, true);
            let chars: Vec<u8> = run.iter().map(|(c, _)| *c).collect();
            if let Some(len) = (15..=chars.len()).rev().find(|&len| iban_valid(&chars[..len])) {
                let end = run[len - 1].1;
                out.push((i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn iban_valid(s: &[u8]) -> bool {
    let rotated = s[4..].iter().chain(&s[..4]);
    let mut rem: u32 = 0;
    for &c in rotated {
        let v = if c.is_ascii_digit() { (c - b'0') as u32 } else { (c - b'A') as u32 + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// A French NIR: sex digit, year, month, department (2A/2B for Corsica),
/// commune, order and the 2-digit key `97 − (number mod 97)`.
pub fn has_nir(text: &str) -> bool {
    let t = text.as_bytes();
    for i in 0..t.len() {
        if !(boundary_before(t, i) && matches!(t[i], b'1' | b'2' | b'3' | b'7' | b'8')) {
            continue;
        }
        let chars: Vec<u8> = compact(t, i, 15, true).into_iter().map(|(c, _)| c).collect();
        if chars.len() != 15 {
            continue;
        }
        let (num, key) = chars.split_at(13);
        // Corsica: 2A → 19, 2B → 18 in the department position (5–6).
        let dept = &num[5..7];
        let offset: u64 = match dept {
            [b'2', b'A'] => 1_000_000,
            [b'2', b'B'] => 2_000_000,
            _ => 0,
        };
        let digits: String =
            num.iter().enumerate().map(|(j, &c)| if j == 6 && offset > 0 { '0' } else { c as char }).collect();
        let (Ok(n), Ok(k)) = (digits.parse::<u64>(), std::str::from_utf8(key).unwrap_or("x").parse::<u64>()) else {
            continue;
        };
        let n = n - offset;
        let month = (num[3] - b'0') * 10 + (num[4] - b'0');
        let month_ok = (1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month);
        if month_ok && k == 97 - (n % 97) {
            return true;
        }
    }
    false
}

/// A payment card number: 13 to 19 digits (grouped or not), Luhn-valid.
pub fn has_card(text: &str) -> bool {
    let t = text.as_bytes();
    for i in 0..t.len() {
        if !(boundary_before(t, i) && t[i].is_ascii_digit() && matches!(t[i], b'2'..=b'6')) {
            continue;
        }
        let run = compact(t, i, 19, false);
        // The number must end there (not be part of a longer one).
        let end = run.last().map(|r| r.1).unwrap_or(i);
        if end < t.len() && t[end].is_ascii_alphanumeric() {
            continue;
        }
        let digits: Vec<u8> = run.iter().map(|r| r.0 - b'0').collect();
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            return true;
        }
    }
    false
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = x as u32;
            if i % 2 == 1 { if x * 2 > 9 { x * 2 - 9 } else { x * 2 } } else { x }
        })
        .sum();
    sum.is_multiple_of(10)
}

const HEALTH_TERMS: &[&str] = &[
    "arrêt maladie",
    "arret maladie",
    "congé maladie",
    "sick leave",
    "diagnostic médical",
    "diagnosis",
    "diagnostiqué",
    "diagnosed",
    "pathologie",
    "maladie chronique",
    "chronic illness",
    "dossier médical",
    "medical record",
    "medical condition",
    "traitement médical",
    "medical treatment",
    "hospitalisation",
    "hospitalisé",
    "hospitalized",
    "hospitalised",
    "chimiothérapie",
    "chemotherapy",
    "médecin du travail",
    "occupational physician",
    "reconnaissance de travailleur handicapé",
    "rqth",
    "invalidité",
    "disability",
    "dépression",
    "burn-out",
    "séropositif",
    "grossesse",
    "pregnancy",
];

/// Health information (GDPR special category): medical vocabulary in
/// French or English.
pub fn has_health_terms(text: &str) -> bool {
    let t = text.to_lowercase();
    HEALTH_TERMS.iter().any(|w| {
        t.match_indices(w).any(|(i, _)| {
            let before = t[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = t[i + w.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            before && after
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{DetectorLevels, Rule};

    #[test]
    fn iban_needs_a_valid_checksum() {
        assert!(has_iban("Virement sur FR76 3000 6000 0112 3456 7890 189 avant vendredi."));
        assert!(has_iban("IBAN: DE89370400440532013000"));
        assert!(!has_iban("FR76 3000 6000 0112 3456 7890 188"), "one digit off");
        assert!(!has_iban("Réunion en salle FR12 à 14 h"));
    }

    #[test]
    fn nir_needs_a_valid_key() {
        assert!(has_nir("Numéro de sécurité sociale : 1 84 12 76 451 089 46"));
        assert!(has_nir("NIR 184127645108946."));
        assert!(!has_nir("1 84 12 76 451 089 47"));
        assert!(!has_nir("Commande 123456789012345 livrée"));
    }

    #[test]
    fn card_numbers_need_luhn() {
        assert!(has_card("Carte 4970 1012 3456 7893 expirant 12/28"));
        assert!(has_card("5555555555554444"));
        assert!(!has_card("4970 1012 3456 7898"));
        assert!(!has_card("Téléphone 06 12 34 56 78"));
    }

    #[test]
    fn health_terms_match_whole_words() {
        assert!(has_health_terms("Claire est en arrêt maladie jusqu'au 3 décembre."));
        assert!(has_health_terms("He was diagnosed last week."));
        assert!(!has_health_terms("Le diagnostics réseau du datacenter"));
    }

    #[test]
    fn rules_markings_and_detectors_only_raise() {
        let cfg = SensitivityConfig {
            default: "internal".into(),
            rules: vec![
                Rule {
                    level: "confidential".into(),
                    path_contains: Some("rh/".into()),
                    reader: None,
                    sender_domain: None,
                    title_keywords: vec![],
                },
                Rule {
                    level: "public".into(),
                    path_contains: None,
                    reader: None,
                    sender_domain: None,
                    title_keywords: vec!["newsletter".into()],
                },
            ],
            detectors: DetectorLevels::default(),
        };
        let mut doc = Document::new(twake_types::SourceKind::Document, "Newsletter RH", "");
        let src = Source { path: "partage/rh/note.md", readers: &[], default: None };
        let l = cfg.label_document(&doc, &src);
        assert_eq!(l.level, Sensitivity::Confidential, "a public rule never lowers: {l:?}");
        doc.marking = Some("Secret".into());
        let l = cfg.label_document(&doc, &src);
        assert_eq!(l.level, Sensitivity::Secret);
        let other = Source { path: "x.md", readers: &[], default: Some(Sensitivity::Public) };
        doc.marking = None;
        let l = cfg.label_document(&doc, &other);
        assert_eq!(l.level, Sensitivity::Public);
        let c = cfg.label_chunk(&l, "IBAN FR76 3000 6000 0112 3456 7890 189");
        assert_eq!(c.level, Sensitivity::Confidential);
        assert!(c.reasons.iter().any(|r| r.starts_with("IBAN")), "{c:?}");
        assert!(SensitivityConfig { default: "topsecret".into(), ..cfg }.validate().is_err());
    }
}
