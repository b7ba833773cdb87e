//! The exact facts of a text — names, numbers, dates, addresses — and a
//! check that another text (its translation, a rewrite, a reply draft)
//! keeps them. Pure functions.
//!
//! Numbers compare by their digits ("12 500", "12,500" and "12.500" are the
//! same figure; "3,5" and "3.5" too); dates compare as dates ("5 mars 2027",
//! "March 5, 2027", "5. März 2027", "5 de marzo de 2027" and "05/03/2027"
//! are one day), so a translation may write them its own way. Names are
//! capitalised words that do not start a sentence, and e-mail or web
//! addresses; they must come back letter for letter.

use crate::engine::dates::{Date, resolve};

/// One fact of a text, as written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Name(String),
    Number { written: String, digits: String },
    Date { written: String, date: Date },
}

impl Fact {
    pub fn written(&self) -> &str {
        match self {
            Fact::Name(s) => s,
            Fact::Number { written, .. } | Fact::Date { written, .. } => written,
        }
    }
}

/// Words that are capitalised for grammar, not because they name someone:
/// greetings, days and months, pronouns and articles of the five languages.
const NOT_NAMES: &[&str] = &[
    "I",
    "Je",
    "Nous",
    "Vous",
    "Il",
    "Elle",
    "Le",
    "La",
    "Les",
    "Un",
    "Une",
    "The",
    "A",
    "An",
    "We",
    "You",
    "Ich",
    "Wir",
    "Sie",
    "Der",
    "Die",
    "Das",
    "El",
    "Los",
    "Las",
    "Il",
    "Lo",
    "Gli",
    "Monsieur",
    "Madame",
    "Mr",
    "Mrs",
    "Ms",
    "Dear",
    "Bonjour",
    "Hello",
    "Hi",
    "Cordialement",
    "Regards",
    "Merci",
    "Thanks",
    "Thank",
];

/// Every fact of `text`; relative dates ("vendredi prochain") are read
/// from `reference`.
pub fn facts(text: &str, reference: Date) -> Vec<Fact> {
    let mut out: Vec<Fact> = Vec::new();
    let mut push = |f: Fact| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for clause in clauses(text) {
        if let Some(date) = resolve(clause, reference) {
            push(Fact::Date { written: clause.trim().to_string(), date });
        }
    }
    for (written, digits) in numbers(text) {
        push(Fact::Number { written, digits });
    }
    for name in names(text) {
        push(Fact::Name(name));
    }
    out
}

/// The facts of `source` that `result` does not keep. A number written as
/// part of a date (the 03 of 05/03/2027) is kept when that date is. A date
/// written without its year ("avant le 1er décembre") is the same day as
/// one written with it ("1er décembre 2026"): the year one side guessed
/// from the reference day is not a fact of the text.
pub fn missing(source: &[Fact], result: &str, reference: Date) -> Vec<Fact> {
    let got = facts(result, reference);
    let dates: Vec<(Date, bool)> = got
        .iter()
        .filter_map(|f| if let Fact::Date { date, written } = f { Some((*date, has_year(written))) } else { None })
        .collect();
    let kept = |date: &Date, written: &str| {
        let year = has_year(written);
        dates.iter().any(|(d, y)| d == date || ((!year || !y) && d.month == date.month && d.day == date.day))
    };
    let kept_dates: Vec<Date> = source
        .iter()
        .filter_map(|f| match f {
            Fact::Date { date, written } if kept(date, written) => Some(*date),
            _ => None,
        })
        .collect();
    let result_lower = result.to_lowercase();
    source
        .iter()
        .filter(|f| match f {
            Fact::Name(n) => !result.contains(n.as_str()),
            Fact::Date { date, written } => !kept(date, written),
            Fact::Number { digits, .. } => {
                let in_date = kept_dates.iter().any(|d| {
                    [d.day, d.month, d.year].iter().any(|x| x.to_string() == *digits)
                        || digits == &d.year.to_string()[2..]
                });
                !in_date
                    && !got.iter().any(|g| matches!(g, Fact::Number { digits: d, .. } if d == digits))
                    && !spelled(digits, &result_lower)
            }
        })
        .cloned()
        .collect()
}

/// Whether a date's clause writes a year: four digits ("2026",
/// "05/03/2027", "2026-12-01") or a day/month/year of two-digit year.
fn has_year(written: &str) -> bool {
    written.split(|c: char| !c.is_ascii_digit()).any(|d| d.len() == 4)
        || written
            .split_whitespace()
            .any(|w| w.split('/').count() == 3 || w.split('.').filter(|p| !p.is_empty()).count() == 3)
}

/// A small number written as a word in the result ("deux" for 2).
fn spelled(digits: &str, lower: &str) -> bool {
    const WORDS: [&[&str]; 11] = [
        &["zéro", "zero", "null", "cero"],
        &["un", "une", "one", "eins", "ein", "uno", "una"],
        &["deux", "two", "zwei", "dos", "due"],
        &["trois", "three", "drei", "tres", "tre"],
        &["quatre", "four", "vier", "cuatro", "quattro"],
        &["cinq", "five", "fünf", "cinco", "cinque"],
        &["six", "sechs", "seis", "sei"],
        &["sept", "seven", "sieben", "siete", "sette"],
        &["huit", "eight", "acht", "ocho", "otto"],
        &["neuf", "nine", "neun", "nueve", "nove"],
        &["dix", "ten", "zehn", "diez", "dieci"],
    ];
    let Ok(n) = digits.parse::<usize>() else { return false };
    WORDS.get(n).is_some_and(|ws| lower.split(|c: char| !c.is_alphanumeric()).any(|w| ws.contains(&w)))
}

/// Clauses of `text`: split at `;`, `!`, `?`, line ends, brackets, and
/// full stops, except the stop of a German ordinal day or month ("5. März",
/// "13.11.").
fn clauses(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let ordinal = || {
            let digits = b[..i].iter().rev().take_while(|c| c.is_ascii_digit()).count();
            (1..=2).contains(&digits)
        };
        if matches!(c, ';' | '!' | '?' | '\n' | '(' | ')') || c == '.' && !ordinal() {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out.retain(|c| !c.trim().is_empty());
    out
}

/// Numbers as written and as digits: groups of three after a space join
/// ("12 500"), `,` and `.` between digits join ("3,5", "12.500").
fn numbers(text: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let glued_before = i > 0
            && (chars[i - 1].is_alphanumeric()
                || chars[i - 1] == '/'
                || chars[i - 1] == '-' && i > 1 && chars[i - 2].is_alphanumeric());
        if !chars[i].is_ascii_digit() || glued_before {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < chars.len() && chars[end].is_ascii_digit() {
            end += 1;
        }
        while let Some(&sep) = chars.get(end) {
            let run = chars[end + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let joins = match sep {
                ' ' | '\u{a0}' | '\u{202f}' => run == 3,
                ',' | '.' => run > 0,
                _ => false,
            };
            if !joins {
                break;
            }
            end += 1 + run;
        }
        // A number glued to letters or a slash (an identifier, a date) is
        // not a figure of its own.
        let glued = chars.get(end).is_some_and(|c| c.is_alphabetic() || *c == '/');
        if !glued {
            let written: String = chars[start..end].iter().collect();
            let digits: String = written.chars().filter(char::is_ascii_digit).collect();
            let digits = digits.trim_start_matches('0');
            out.push((written, if digits.is_empty() { "0".into() } else { digits.into() }));
        }
        i = end;
    }
    out
}

/// Capitalised words that do not start a sentence (joined when they follow
/// each other: "Alice Martin"), and e-mail or web addresses.
fn names(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut sentence_start = true;
    let flush = |current: &mut Vec<&str>, out: &mut Vec<String>| {
        if !current.is_empty() {
            let n = current.join(" ");
            if !out.contains(&n) {
                out.push(n);
            }
            current.clear();
        }
    };
    for raw in text.split_whitespace() {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '-' && c != '_');
        let is_address = word.contains('@') && word.contains('.') || raw.contains("://");
        if is_address {
            flush(&mut current, &mut out);
            let a = if raw.contains("://") { raw.trim_end_matches(['.', ',', ';', ')', '>']) } else { word };
            out.push(a.to_string());
        } else {
            let capital = word.chars().next().is_some_and(char::is_uppercase)
                && word.chars().count() > 1
                && word.chars().skip(1).any(char::is_lowercase)
                && !NOT_NAMES.contains(&word)
                && !crate::engine::dates::is_day_or_month(&word.to_lowercase());
            if capital && !sentence_start {
                current.push(word);
            } else {
                flush(&mut current, &mut out);
            }
        }
        let ends = raw.ends_with(['.', '!', '?', ':']) || raw.ends_with(".)");
        if ends || raw.ends_with(',') {
            flush(&mut current, &mut out);
        }
        sentence_start = ends;
    }
    flush(&mut current, &mut out);
    out
}

/// Clock times written one way for comparing facts: "10 pm", "10 p.m."
/// and "22 h" are the same hour; "noon" and "midi" are 12 h, "midnight"
/// and "minuit" 0 h. Only for comparison (punctuation may be lost).
pub fn clock_times(text: &str) -> String {
    use std::sync::LazyLock;
    static TWELVE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(\d{1,2})(?::(\d{2}))?\s?([ap])\.?\s?m\b\.?").expect("valid pattern")
    });
    static WORDS: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?i)\b(noon|midi|midnight|minuit)\b").expect("valid pattern"));
    static COLON: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\b([01]?\d|2[0-3]):([0-5]\d)\b").expect("valid pattern"));
    // "22:00" is "22 h", "8:30" is "8 h 30" (a 12-hour "8:30 pm" first).
    let text = WORDS.replace_all(text, |c: &regex::Captures| {
        if matches!(c[1].to_lowercase().as_str(), "noon" | "midi") { "12 h".to_string() } else { "0 h".to_string() }
    });
    let text = TWELVE
        .replace_all(&text, |c: &regex::Captures| {
            let h: u32 = c[1].parse().unwrap_or(0);
            if !(1..=12).contains(&h) {
                return c[0].to_string();
            }
            let pm = c[3].eq_ignore_ascii_case("p");
            let h24 = match (h, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, true) => h + 12,
                (h, false) => h,
            };
            match c.get(2) {
                Some(m) => format!("{h24} h {}", m.as_str()),
                None => format!("{h24} h"),
            }
        })
        .into_owned();
    COLON
        .replace_all(&text, |c: &regex::Captures| {
            let h: u32 = c[1].parse().unwrap_or(0);
            if &c[2] == "00" { format!("{h} h") } else { format!("{h} h {}", &c[2]) }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Date {
        Date::new(2026, 11, 6).unwrap()
    }

    fn missing_of(source: &str, result: &str) -> Vec<String> {
        missing(&facts(source, day()), result, day()).iter().map(|f| f.written().to_string()).collect()
    }

    #[test]
    fn figures_compare_by_their_digits() {
        let src = "Le budget de la DSI est de 12 500 € pour 3,5 postes.";
        assert!(missing_of(src, "The IT budget is €12,500 for 3.5 positions.").is_empty());
        assert_eq!(missing_of(src, "The IT budget is €12,000 for 3.5 positions."), ["12 500"]);
        assert!(missing_of("Il faut deux salles et 4 écrans.", "We need 2 rooms and four screens.").is_empty());
    }

    #[test]
    fn dates_compare_as_days_in_five_languages() {
        let src = "La livraison est prévue le 5 mars 2027. Réunion vendredi prochain.";
        for ok in [
            "Delivery is planned for March 5, 2027. Meeting next Friday.",
            "Die Lieferung ist für den 5. März 2027 geplant. Treffen am Freitag, 13.11.",
            "La entrega está prevista para el 5 de marzo de 2027. Reunión el viernes 13/11.",
            "La consegna è prevista per il 5 marzo 2027. Riunione venerdì 13/11/2026.",
        ] {
            assert!(missing_of(src, ok).is_empty(), "{ok}: {:?}", missing_of(src, ok));
        }
        assert_eq!(
            missing_of(src, "Delivery is planned for March 6, 2027. Meeting next Friday."),
            ["La livraison est prévue le 5 mars 2027", "5"]
        );
        assert!(missing_of("Rendez-vous le 05/03/2027.", "Meeting on 5 March 2027.").is_empty());
        // A year one side does not write is not a fact of it: the reference
        // day would read "1er décembre" as next December.
        let after = Date::new(2026, 12, 3).unwrap();
        let lost = |s: &str, r: &str| missing(&facts(s, after), r, after);
        assert!(lost("Avant le 1er décembre 2026, inscrivez-vous.", "Inscription avant le 1er décembre.").is_empty());
        assert!(lost("Inscription avant le 1er décembre.", "Before December 1, 2026.").is_empty());
        assert!(!lost("Avant le 1er décembre 2026.", "Before December 1, 2027.").is_empty());
        assert_eq!(lost("Avant le 1er décembre.", "Before December 2.").len(), 1);
    }

    #[test]
    fn names_and_addresses_come_back_letter_for_letter() {
        let src = "Bonjour, Alice Martin confirme avec Northwind. Écrivez à bob.leroy@valmont.fr ou voyez https://valmont.fr/lyon.";
        let f: Vec<String> = facts(src, day()).iter().map(|f| f.written().to_string()).collect();
        assert!(f.contains(&"Alice Martin".to_string()) && f.contains(&"Northwind".to_string()), "{f:?}");
        assert!(f.contains(&"bob.leroy@valmont.fr".to_string()) && f.contains(&"https://valmont.fr/lyon".to_string()));
        assert!(!f.iter().any(|x| x == "Bonjour" || x == "Écrivez"), "{f:?}");
        let ok = "Hello, Alice Martin confirms with Northwind. Write to bob.leroy@valmont.fr or see https://valmont.fr/lyon.";
        assert!(missing_of(src, ok).is_empty(), "{:?}", missing_of(src, ok));
        assert_eq!(
            missing_of(
                src,
                "Hello, Alice Martín confirms with Northwind. Write to bob.leroy@valmont.fr or see https://valmont.fr/lyon."
            ),
            ["Alice Martin"]
        );
    }

    #[test]
    fn identifiers_are_not_figures() {
        let f = facts("Le ticket INC-2041 et la salle B12 sont notés.", day());
        assert!(!f.iter().any(|x| matches!(x, Fact::Number { .. })), "{f:?}");
    }

    #[test]
    fn clock_times_are_written_one_way() {
        assert_eq!(clock_times("from 10 pm to 4 am, then"), "from 22 h to 4 h, then");
        assert_eq!(clock_times("between 8 a.m. and noon"), "between 8 h and 12 h");
        assert_eq!(clock_times("at 10:30pm, then midi"), "at 22 h 30, then 12 h");
        assert_eq!(clock_times("de 22 h à 4 h"), "de 22 h à 4 h");
        assert_eq!(clock_times("I am here at 12 am"), "I am here at 0 h");
        assert_eq!(clock_times("10 amps, 14 pm"), "10 amps, 14 pm");
        assert_eq!(clock_times("between 22:00 and 4:30"), "between 22 h and 4 h 30");
    }
}
