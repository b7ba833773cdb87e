//! Language detection and word normalisation used by snippets, the prompt
//! and citation checks (pure functions).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Fr => "French",
            Lang::En => "English",
        }
    }
}

const FR: &[&str] = &[
    "le", "la", "les", "de", "des", "du", "un", "une", "et", "est", "que", "qui", "quand", "quel", "quelle", "quels",
    "pour", "dans", "sur", "avec", "pas", "nous", "vous", "il", "elle", "au", "aux", "ce", "cette", "où", "qu", "a",
    "à", "sont", "lieu", "combien", "comment", "pourquoi", "été", "doit",
];
const EN: &[&str] = &[
    "the", "a", "an", "and", "is", "are", "of", "to", "in", "on", "for", "with", "what", "when", "who", "which", "how",
    "why", "does", "do", "did", "was", "were", "will", "it", "this", "that", "we", "you", "be", "by", "at", "should",
];

/// French or English, by counting function words and accents; English
/// when in doubt.
pub fn detect(text: &str) -> Lang {
    let lower = text.to_lowercase();
    let words = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
    let (mut fr, mut en) = (0i32, 0i32);
    for w in words {
        if FR.contains(&w) {
            fr += 2;
        }
        if EN.contains(&w) {
            en += 2;
        }
        if w.chars().any(|c| "éèêàçùûôîœ".contains(c)) {
            fr += 1;
        }
    }
    if fr > en { Lang::Fr } else { Lang::En }
}

/// Lowercase, accents folded.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(|c| c.to_lowercase())
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            c => c,
        })
        .collect()
}

const STOP: &[&str] = &[
    "le", "la", "les", "de", "des", "du", "un", "une", "et", "est", "que", "qui", "pour", "dans", "sur", "avec", "pas",
    "nous", "vous", "il", "elle", "au", "aux", "ce", "cette", "ces", "son", "sa", "ses", "leur", "par", "plus", "sont",
    "the", "and", "is", "are", "of", "to", "in", "on", "for", "with", "was", "were", "will", "it", "this", "that",
    "we", "you", "be", "by", "at", "an", "as", "or", "from", "has", "have", "had", "not", "but", "its", "their", "our",
    "ete", "a", "ou", "en", "se", "ne", "y", "l", "d", "s", "n", "qu", "c", "j", "m", "t",
];

/// Content terms of a text: folded words that are not function words,
/// truncated to 6 characters (a crude stem that also matches across
/// inflections: "migration"/"migrations", "prévue"/"prévu").
pub fn terms(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP.contains(w))
        .filter(|w| w.chars().count() > 2 || w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| w.chars().take(6).collect())
        .collect()
}

/// A display name from `Name <address>`.
pub fn display_name(author: &str) -> String {
    match author.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
        Some((_, addr)) => addr.trim_end_matches('>').to_string(),
        None => author.trim().to_string(),
    }
}

/// A person's name from a chat author's address: `alice.martin@valmont.fr`
/// is "Alice Martin" (the address stays in `ThreadMessage::address`).
pub fn person_name(author: &str) -> String {
    let local = author.split('@').next().unwrap_or(author);
    local
        .split(['.', '-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Two content terms are the same word, give or take its ending
/// ("coupée" and "coupés", "switch" and "switches").
pub fn same_term(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    a == b || common >= 5 || common >= 4 && common == a.chars().count().min(b.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_french_and_english() {
        assert_eq!(detect("Quand a lieu la bascule du datacenter de Lyon ?"), Lang::Fr);
        assert_eq!(detect("When is the Lyon datacenter cutover?"), Lang::En);
        assert_eq!(detect("Qui doit préparer le budget"), Lang::Fr);
    }

    #[test]
    fn terms_fold_and_stem() {
        assert_eq!(terms("La bascule est prévue le 14 mars"), ["bascul", "prevue", "14", "mars"]);
    }
}
