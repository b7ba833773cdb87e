//! Reversible pseudonymisation: before text leaves the perimeter, people's
//! names, e-mail addresses, phone numbers, IBANs and postal addresses
//! become stable placeholders (`[PERSONNE_1]`, `[EMAIL_1]`, `[TEL_1]`,
//! `[IBAN_1]`, `[ADRESSE_1]`); the answer is restored before the user sees
//! it. The mapping lives in one `Pseudonymiser`, for one request, and is
//! dropped with it: it is never stored or sent.

use std::collections::HashMap;

use crate::policy::sensitivity::find_ibans;

/// The kinds of values replaced, in the order their placeholders are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Person,
    Email,
    Phone,
    Iban,
    Address,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Person => "PERSONNE",
            Kind::Email => "EMAIL",
            Kind::Phone => "TEL",
            Kind::Iban => "IBAN",
            Kind::Address => "ADRESSE",
        }
    }
}

/// One request's mapping between values and placeholders.
#[derive(Debug, Default)]
pub struct Pseudonymiser {
    /// People's names to look for (longest first).
    names: Vec<String>,
    by_value: HashMap<(Kind, String), String>,
    by_placeholder: HashMap<String, String>,
    counters: HashMap<Kind, usize>,
}

impl Pseudonymiser {
    /// `names`: the people of the organisation (directory and documents):
    /// full names and last names are replaced wherever they appear.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut all: Vec<String> = Vec::new();
        for n in names {
            let n = n.trim().to_string();
            if n.chars().count() < 3 {
                continue;
            }
            // "Bob Leroy" also hides "Leroy" alone.
            if let Some((_, last)) = n.rsplit_once(' ')
                && last.chars().count() >= 3
                && last.chars().next().is_some_and(char::is_uppercase)
            {
                all.push(last.to_string());
            }
            all.push(n);
        }
        all.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        all.dedup();
        Pseudonymiser { names: all, ..Default::default() }
    }

    /// The placeholder of a value, the same for the same value all along
    /// the request.
    fn placeholder(&mut self, kind: Kind, value: &str) -> String {
        if let Some(p) = self.by_value.get(&(kind, value.to_string())) {
            return p.clone();
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("[{}_{}]", kind.tag(), n);
        self.by_value.insert((kind, value.to_string()), p.clone());
        self.by_placeholder.insert(p.clone(), value.to_string());
        p
    }

    /// The placeholders and their values, sorted (for display on this
    /// machine only).
    pub fn mapping(&self) -> Vec<(String, String)> {
        let mut m: Vec<(String, String)> = self.by_placeholder.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        m.sort();
        m
    }

    /// How many distinct values were replaced.
    pub fn len(&self) -> usize {
        self.by_placeholder.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_placeholder.is_empty()
    }

    /// Replaces every identifying value of `text`.
    pub fn pseudonymise(&mut self, text: &str) -> String {
        let mut spans: Vec<(usize, usize, Kind)> = Vec::new();
        spans.extend(find_emails(text).into_iter().map(|(a, b)| (a, b, Kind::Email)));
        spans.extend(find_ibans(text).into_iter().map(|(a, b)| (a, b, Kind::Iban)));
        spans.extend(find_phones(text).into_iter().map(|(a, b)| (a, b, Kind::Phone)));
        spans.extend(find_addresses(text).into_iter().map(|(a, b)| (a, b, Kind::Address)));
        for name in &self.names {
            spans.extend(find_word(text, name).into_iter().map(|(a, b)| (a, b, Kind::Person)));
        }
        // Earliest first, longest first; overlapping spans are dropped.
        spans.sort_by(|a, b| a.0.cmp(&b.0).then((b.1 - b.0).cmp(&(a.1 - a.0))));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, kind) in spans {
            if start < at {
                continue;
            }
            out.push_str(&text[at..start]);
            let p = self.placeholder(kind, &text[start..end]);
            out.push_str(&p);
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Puts the values back. A placeholder this request did not make is
    /// left as it is: restoration never invents a value.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('[') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match tail.find(']').map(|j| &tail[..=j]) {
                Some(p) if self.by_placeholder.contains_key(p) => {
                    out.push_str(&self.by_placeholder[p]);
                    rest = &tail[p.len()..];
                }
                _ => {
                    out.push('[');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// A person's name from an address such as `alice.martin@…` (`Alice
/// Martin`); `None` when the local part is not `first.last`.
pub fn name_from_address(address: &str) -> Option<String> {
    let local = address.split('@').next()?;
    let parts: Vec<&str> = local.split(['.', '_']).filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 || parts.iter().any(|p| !p.chars().all(char::is_alphabetic)) {
        return None;
    }
    let cap = |p: &str| {
        let mut c = p.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    };
    Some(parts.iter().map(|p| cap(p)).collect::<Vec<_>>().join(" "))
}

impl crate::Workspace {
    /// A pseudonymiser for one request of this pass: it knows the people of
    /// the pass's tenant (authors of documents, and users named
    /// `first.last@…`).
    pub async fn pseudonymiser(&self, pass: &twake_types::AccessPass) -> crate::Result<Pseudonymiser> {
        let tenant = pass.tenant().map(|t| t.to_string()).unwrap_or_else(|| twake_types::Tenant::DEFAULT.into());
        let (authors, users) = self.store.people(&tenant).await?;
        let mut names: Vec<String> = authors
            .iter()
            .filter_map(|a| {
                let name = a.split('<').next()?.trim().trim_matches('"').trim();
                (!name.is_empty() && !name.contains('@')).then(|| name.to_string())
            })
            .collect();
        names.extend(users.iter().filter_map(|u| name_from_address(u)));
        Ok(Pseudonymiser::new(names))
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Whole-word, case-sensitive occurrences of `word`.
fn find_word(text: &str, word: &str) -> Vec<(usize, usize)> {
    let t = text.as_bytes();
    text.match_indices(word)
        .filter(|(i, _)| {
            let end = i + word.len();
            (*i == 0 || !is_word_byte(t[i - 1])) && (end == t.len() || !is_word_byte(t[end]))
        })
        .map(|(i, w)| (i, i + w.len()))
        .collect()
}

/// `local@domain.tld`.
pub fn find_emails(text: &str) -> Vec<(usize, usize)> {
    let t = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut a = at;
        while a > 0 && local(t[a - 1]) {
            a -= 1;
        }
        let mut b = at + 1;
        while b < t.len() && domain(t[b]) {
            b += 1;
        }
        while b > at + 1 && t[b - 1] == b'.' {
            b -= 1; // a sentence's full stop
        }
        if a < at && text[at + 1..b].contains('.') && out.last().is_none_or(|&(_, e)| e <= a) {
            out.push((a, b));
        }
    }
    out
}

/// French numbers (`06 12 34 56 78`, `+33 6 12 34 56 78`) and
/// international ones (`+49 30 1234567`).
pub fn find_phones(text: &str) -> Vec<(usize, usize)> {
    let t = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let starts = (t[i] == b'+' || t[i] == b'0') && (i == 0 || !is_word_byte(t[i - 1]) && t[i - 1] != b'+');
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + usize::from(t[i] == b'+');
        let mut digits = String::new();
        let mut end = j;
        while j < t.len() {
            if t[j].is_ascii_digit() {
                digits.push(t[j] as char);
                j += 1;
                end = j;
            } else if matches!(t[j], b' ' | b'.' | b'-') && j + 1 < t.len() && t[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let french = t[i] == b'0' && digits.len() == 10 && digits.as_bytes()[1] != b'0';
        let international = t[i] == b'+' && (8..=15).contains(&digits.len());
        if (french || international) && (end == t.len() || !is_word_byte(t[end])) {
            out.push((i, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

const STREET_FR: &[&str] =
    &["rue", "avenue", "boulevard", "bd", "place", "chemin", "allée", "impasse", "quai", "route", "cours", "square"];
const STREET_EN: &[&str] = &["street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "drive"];

/// Postal addresses: `12 rue de la République[, 69002 Lyon]` and
/// `221 Baker Street`.
pub fn find_addresses(text: &str) -> Vec<(usize, usize)> {
    // Words with their byte ranges.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let w = c.is_alphanumeric() || c == '\'' || c == '’' || c == '-';
        match (w, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    let word = |k: usize| &text[words[k].0..words[k].1];
    let is_number = |s: &str| {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        !digits.is_empty() && digits.len() <= 5 && ["", "bis", "ter"].contains(&&s[digits.len()..].to_lowercase()[..])
    };
    let mut out = Vec::new();
    let mut k = 0;
    while k < words.len() {
        if !is_number(word(k)) {
            k += 1;
            continue;
        }
        // French: number, street type, up to six words of name, then an
        // optional 5-digit postcode and city.
        if k + 2 < words.len() && STREET_FR.contains(&word(k + 1).to_lowercase().as_str()) {
            let mut last = (k + 2).min(words.len() - 1);
            let mut m = k + 2;
            while m < words.len() && m <= k + 7 {
                let w = word(m);
                let gap = &text[words[m - 1].1..words[m].0];
                if gap.contains([',', '.', '\n', ';', ':', '(', ')']) || w.chars().all(|c| c.is_ascii_digit()) {
                    break;
                }
                last = m;
                m += 1;
            }
            if m + 1 < words.len()
                && word(m).len() == 5
                && word(m).chars().all(|c| c.is_ascii_digit())
                && word(m + 1).chars().next().is_some_and(char::is_uppercase)
            {
                last = m + 1;
            }
            out.push((words[k].0, words[last].1));
            k = last + 1;
            continue;
        }
        // English: number, one to four capitalised words, a street type.
        let mut m = k + 1;
        while m < words.len() && m <= k + 5 {
            let w = word(m);
            if STREET_EN.contains(&w.to_lowercase().as_str()) && m > k + 1 {
                out.push((words[k].0, words[m].1));
                break;
            }
            if !w.chars().next().is_some_and(char::is_uppercase) {
                break;
            }
            m += 1;
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["Bob Leroy".into(), "Alice Martin".into(), "Claire Dubois".into()]
    }

    #[test]
    fn french_round_trip_with_stable_placeholders() {
        let mut p = Pseudonymiser::new(names());
        let text = "Bob Leroy (bob.leroy@valmont.fr, 06 12 34 56 78) habite 12 rue de la République, 69002 Lyon. \
                    Virement sur FR76 3000 6000 0112 3456 7890 189. Leroy confirme ; écrire à bob.leroy@valmont.fr.";
        let out = p.pseudonymise(text);
        for secret in ["Bob", "Leroy", "bob.leroy", "06 12", "République", "69002", "FR76"] {
            assert!(!out.contains(secret), "{secret} left in: {out}");
        }
        assert_eq!(
            out,
            "[PERSONNE_1] ([EMAIL_1], [TEL_1]) habite [ADRESSE_1]. Virement sur [IBAN_1]. [PERSONNE_2] confirme ; écrire à [EMAIL_1]."
        );
        assert_eq!(p.restore(&out), text);
        // The same values in a second text of the request keep their placeholders.
        assert_eq!(p.pseudonymise("Contact : bob.leroy@valmont.fr"), "Contact : [EMAIL_1]");
    }

    #[test]
    fn english_round_trip() {
        let mut p = Pseudonymiser::new(names());
        let text = "Alice Martin lives at 221 Baker Street; call +44 20 7946 0958 or mail alice@valmont.fr.";
        let out = p.pseudonymise(text);
        assert_eq!(out, "[PERSONNE_1] lives at [ADRESSE_1]; call [TEL_1] or mail [EMAIL_1].");
        assert_eq!(p.restore(&out), text);
    }

    #[test]
    fn restoration_never_invents_values() {
        let mut p = Pseudonymiser::new(names());
        let out = p.pseudonymise("Claire Dubois valide.");
        assert_eq!(out, "[PERSONNE_1] valide.");
        // The model answers with a placeholder it made up and brackets of its own.
        let answer = "[PERSONNE_1] et [PERSONNE_2] valident [1] le [IBAN_1].";
        assert_eq!(p.restore(answer), "Claire Dubois et [PERSONNE_2] valident [1] le [IBAN_1].");
        // Another request's mapping knows nothing of this one.
        assert_eq!(Pseudonymiser::new(names()).restore("[PERSONNE_1]"), "[PERSONNE_1]");
    }

    #[test]
    fn names_from_addresses() {
        assert_eq!(name_from_address("alice.martin@valmont.fr").as_deref(), Some("Alice Martin"));
        assert_eq!(name_from_address("jean_pierre.dupont@x.fr").as_deref(), Some("Jean Pierre Dupont"));
        assert_eq!(name_from_address("rh@valmont.fr"), None);
        assert_eq!(name_from_address("user42.x@valmont.fr"), None);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let mut p = Pseudonymiser::new(names());
        let text =
            "Le budget 2027 est de 1 200 000 euros ; réunion le 14 mars à 10 h, salle 3. Version 2.0.1 du 05/12.";
        assert_eq!(p.pseudonymise(text), text);
        assert!(p.is_empty());
        assert_eq!(find_phones("Commande n° 0123456789012"), vec![], "too many digits");
    }
}
