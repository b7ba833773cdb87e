//! Due dates written in French or English, resolved against the date of the
//! message or meeting they were written in: "vendredi prochain" in a mail of
//! Friday 6 November 2026 is 13 November 2026, "by the 5th of March" in a
//! meeting of 20 November 2026 is 5 March 2027.
//!
//! Conventions (a due date lies ahead): a weekday is its next occurrence
//! after the reference day; a day and month without a year is the first
//! such date on or after the reference; "next week" / "la semaine
//! prochaine" is the Friday of next week; "end of the month" / "fin du
//! mois" its last day. Explicit dates win over relative words. Text with no
//! date in it resolves to `None`, never to a guess.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where time comes from: the system, or a value tests move by hand.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Fixed(Arc<AtomicI64>),
}

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
            Clock::Fixed(t) => t.load(Ordering::Relaxed),
        }
    }
}

pub use twake_types::civil::{civil_from_days, days_from_civil};

/// The first and last day numbers of the month containing `day`.
pub fn month_of(day: i64) -> (i64, i64) {
    let (y, m, _) = civil_from_days(day);
    let first = days_from_civil(y, m, 1);
    let next = if m == 12 { days_from_civil(y + 1, 1, 1) } else { days_from_civil(y, m + 1, 1) };
    (first, next - 1)
}

/// A civil date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    pub month: i64,
    pub day: i64,
}

impl Date {
    /// A valid date, or `None` (30 February, month 13…).
    pub fn new(year: i64, month: i64, day: i64) -> Option<Date> {
        let d = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && Date::from_days(d.days()) == d).then_some(d)
    }

    pub fn days(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    pub fn from_days(days: i64) -> Date {
        let (year, month, day) = civil_from_days(days);
        Date { year, month, day }
    }

    /// 0 for Monday … 6 for Sunday.
    pub fn weekday(self) -> i64 {
        (self.days() + 3).rem_euclid(7) // 1970-01-01 was a Thursday
    }

    fn plus(self, days: i64) -> Date {
        Date::from_days(self.days() + days)
    }

    /// `YYYY-MM-DD` at the start of `s`, or anywhere in it.
    pub fn find_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        (0..b.len().saturating_sub(9)).find_map(|i| {
            let w = s.get(i..i + 10)?;
            let ok = w.bytes().enumerate().all(|(k, c)| if k == 4 || k == 7 { c == b'-' } else { c.is_ascii_digit() });
            let boundary = i == 0 || !b[i - 1].is_ascii_digit();
            if !ok || !boundary {
                return None;
            }
            Date::new(w[..4].parse().ok()?, w[5..7].parse().ok()?, w[8..].parse().ok()?)
        })
    }

    /// The first date from `year` on or after `reference` for this day and
    /// month.
    fn next_on_or_after(month: i64, day: i64, reference: Date) -> Option<Date> {
        let this = Date::new(reference.year, month, day);
        match this {
            Some(d) if d >= reference => Some(d),
            _ => Date::new(reference.year + 1, month, day),
        }
    }
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(secs: i64) -> String {
    let d = Date::from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{d}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

const MONTHS: [&[&str]; 12] = [
    &["janvier", "january", "janv", "jan", "januar", "enero", "gennaio"],
    &["février", "fevrier", "february", "févr", "fevr", "feb", "februar", "febrero", "febbraio"],
    &["mars", "march", "mar", "märz", "maerz", "marzo"],
    &["avril", "april", "avr", "apr", "abril", "aprile"],
    &["mai", "may", "mayo", "maggio"],
    &["juin", "june", "jun", "juni", "junio", "giugno"],
    &["juillet", "july", "juil", "jul", "juli", "julio", "luglio"],
    &["août", "aout", "august", "aug", "agosto"],
    &["septembre", "september", "sept", "sep", "septiembre", "setiembre", "settembre"],
    &["octobre", "october", "oct", "oktober", "octubre", "ottobre"],
    &["novembre", "november", "nov", "noviembre"],
    &["décembre", "decembre", "december", "déc", "dec", "dezember", "diciembre", "dicembre"],
];

const WEEKDAYS: [&[&str]; 7] = [
    &["lundi", "monday", "montag", "lunes", "lunedì", "lunedi"],
    &["mardi", "tuesday", "dienstag", "martes", "martedì", "martedi"],
    &["mercredi", "wednesday", "mittwoch", "miércoles", "miercoles", "mercoledì", "mercoledi"],
    &["jeudi", "thursday", "donnerstag", "jueves", "giovedì", "giovedi"],
    &["vendredi", "friday", "freitag", "viernes", "venerdì", "venerdi"],
    &["samedi", "saturday", "samstag", "sábado", "sabado", "sabato"],
    &["dimanche", "sunday", "sonntag", "domingo", "domenica"],
];

/// Whether `word` (lower case) is the name of a month or a day of the week
/// in French, English, German, Spanish or Italian (short forms that are
/// also words, such as "mar" or "may", excepted).
pub fn is_day_or_month(word: &str) -> bool {
    let ambiguous = ["mar", "may", "sept", "jan", "jun", "jul", "dec", "oct", "nov", "sep", "apr", "aug"];
    (MONTHS.iter().any(|m| m.contains(&word)) && !ambiguous.contains(&word))
        || WEEKDAYS.iter().any(|d| d.contains(&word))
}

fn month_named(word: &str) -> Option<i64> {
    let w = word.trim_end_matches('.');
    MONTHS.iter().position(|names| names.contains(&w)).map(|i| i as i64 + 1)
}

fn number(word: &str) -> Option<i64> {
    if let Ok(n) = word.parse() {
        return Some(n);
    }
    for suffix in ["st", "nd", "rd", "th", "er", "ème", "e"] {
        if let Some(n) = word.strip_suffix(suffix).and_then(|d| d.parse().ok()) {
            return Some(n);
        }
    }
    let words = [
        ("un", 1),
        ("une", 1),
        ("one", 1),
        ("deux", 2),
        ("two", 2),
        ("trois", 3),
        ("three", 3),
        ("quatre", 4),
        ("four", 4),
        ("cinq", 5),
        ("five", 5),
        ("six", 6),
        ("sept", 7),
        ("seven", 7),
        ("huit", 8),
        ("eight", 8),
        ("dix", 10),
        ("ten", 10),
        ("quinze", 15),
        ("fifteen", 15),
        ("premier", 1),
        ("first", 1),
    ];
    words.iter().find(|(s, _)| *s == word).map(|(_, n)| *n)
}

/// Words of `text`, lower case, with `'` and `-` splitting words and
/// punctuation other than `/` and `.` removed.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['’', '\'', '-', ','], " ")
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '.').to_string())
        .map(|w| w.trim_end_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The date `text` names, read from the point of view of `reference` (the
/// day it was written).
pub fn resolve(text: &str, reference: Date) -> Option<Date> {
    if let Some(d) = Date::find_iso(text) {
        return Some(d);
    }
    let w = words(text);
    let has = |s: &str| w.iter().any(|x| x == s);
    let phrase = |p: &str| {
        let p: Vec<&str> = p.split(' ').collect();
        w.windows(p.len()).any(|win| win.iter().zip(&p).all(|(a, b)| a == b))
    };
    // dd/mm[/yyyy]
    for x in &w {
        let parts: Vec<&str> = x.split('/').collect();
        if (2..=3).contains(&parts.len()) {
            let (Ok(d), Ok(m)) = (parts[0].parse::<i64>(), parts[1].parse::<i64>()) else { continue };
            let found = match parts.get(2).and_then(|y| y.parse::<i64>().ok()) {
                Some(y) => Date::new(if y < 100 { 2000 + y } else { y }, m, d),
                None => Date::next_on_or_after(m, d, reference),
            };
            if found.is_some() {
                return found;
            }
        }
    }
    // "5 mars [2027]", "March 5[th][, 2027]", "the 5th of March"
    for (i, x) in w.iter().enumerate() {
        let Some(m) = month_named(x) else { continue };
        if x == "mar" || x == "may" || x == "mai" || x == "sept" {
            // Short forms that are also words need a day beside them.
            let near = |j: Option<usize>| j.and_then(|j| w.get(j)).and_then(|s| number(s)).is_some();
            if !near(i.checked_sub(1)) && !near(i.checked_sub(2)) && !near(Some(i + 1)) {
                continue;
            }
        }
        let before = i.checked_sub(1).and_then(|j| number(&w[j]));
        // "the 5th of March", "5 de marzo"
        let before2 = matches!(w.get(i.wrapping_sub(1)).map(String::as_str), Some("of" | "de"))
            .then(|| i.checked_sub(2).and_then(|j| number(&w[j])))
            .flatten();
        let after = w.get(i + 1).and_then(|s| number(s)).filter(|n| (1..=31).contains(n));
        let day = before.filter(|n| (1..=31).contains(n)).or(before2).or(after);
        let Some(day) = day else { continue };
        let mut year_at = if after.is_some() && before.is_none() && before2.is_none() { i + 2 } else { i + 1 };
        if w.get(year_at).map(String::as_str) == Some("de") {
            year_at += 1; // "5 de marzo de 2027"
        }
        let year = w.get(year_at).and_then(|s| s.parse::<i64>().ok()).filter(|y| (1900..=2200).contains(y));
        let found = match year {
            Some(y) => Date::new(y, m, day),
            None => Date::next_on_or_after(m, day, reference),
        };
        if found.is_some() {
            return found;
        }
    }
    if has("après") && has("demain") || phrase("day after tomorrow") {
        return Some(reference.plus(2));
    }
    if has("demain") || has("tomorrow") {
        return Some(reference.plus(1));
    }
    if has("aujourd") || has("aujourdhui") || has("today") || phrase("ce soir") || has("tonight") || has("eod") {
        return Some(reference);
    }
    // "dans 3 jours", "in two weeks", "sous huit jours", "within 10 days"
    for (i, x) in w.iter().enumerate() {
        let unit = if x.starts_with("jour") || x.starts_with("day") {
            1
        } else if x.starts_with("semaine") || x.starts_with("week") {
            7
        } else {
            continue;
        };
        let n = i.checked_sub(1).and_then(|j| if w[j] == "a" { Some(1) } else { number(&w[j]) });
        if let Some(n) = n
            && i >= 2
            && ["dans", "in", "sous", "within", "d'ici", "ici"].contains(&w[i - 2].as_str())
        {
            return Some(reference.plus(n * unit));
        }
    }
    let friday_of = |week_offset: i64| {
        let monday = reference.plus(-reference.weekday());
        monday.plus(7 * week_offset + 4)
    };
    if phrase("semaine prochaine") || phrase("next week") {
        return Some(friday_of(1));
    }
    if phrase("fin de semaine") || phrase("fin de la semaine") || phrase("end of the week") || phrase("end of week") {
        let f = friday_of(0);
        return Some(if f < reference { friday_of(1) } else { f });
    }
    if phrase("fin du mois") || phrase("end of the month") || phrase("end of month") {
        let (_, last) = month_of(reference.days());
        return Some(Date::from_days(last));
    }
    if phrase("mois prochain") || phrase("next month") {
        let first_next = Date::from_days(month_of(reference.days()).1 + 1);
        let (_, last) = month_of(first_next.days());
        return Some(Date::from_days(last));
    }
    for (k, names) in WEEKDAYS.iter().enumerate() {
        if w.iter().any(|x| names.contains(&x.as_str())) {
            let ahead = (k as i64 - reference.weekday()).rem_euclid(7);
            let ahead = if ahead == 0 { 7 } else { ahead };
            // "vendredi en huit": a week after the coming Friday.
            let extra = if phrase("en huit") { 7 } else { 0 };
            return Some(reference.plus(ahead + extra));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i64, m: i64, day: i64) -> Date {
        Date::new(y, m, day).unwrap()
    }

    #[test]
    fn weekdays_and_validity() {
        assert_eq!(d(2026, 11, 6).weekday(), 4, "6 Nov 2026 is a Friday");
        assert_eq!(d(2026, 11, 29).weekday(), 6, "29 Nov 2026 is a Sunday");
        assert_eq!(Date::new(2027, 2, 29), None);
        assert_eq!(Date::new(2028, 2, 29), Some(d(2028, 2, 29)));
        assert_eq!(d(2027, 3, 5).to_string(), "2027-03-05");
    }

    #[test]
    fn french_and_english_expressions() {
        let friday = d(2026, 11, 6);
        let meeting = d(2026, 11, 20); // a Friday too
        let wednesday = d(2026, 11, 25);
        let cases: &[(&str, Date, Option<Date>)] = &[
            ("vendredi prochain", friday, Some(d(2026, 11, 13))),
            ("avant vendredi", wednesday, Some(d(2026, 11, 27))),
            ("next Friday", friday, Some(d(2026, 11, 13))),
            ("by Monday", wednesday, Some(d(2026, 11, 30))),
            ("demain", wednesday, Some(d(2026, 11, 26))),
            ("tomorrow", d(2026, 12, 31), Some(d(2027, 1, 1))),
            ("après-demain", wednesday, Some(d(2026, 11, 27))),
            ("avant le 5 mars", meeting, Some(d(2027, 3, 5))),
            ("au plus tard le 26 février", meeting, Some(d(2027, 2, 26))),
            ("le 6 mars", meeting, Some(d(2027, 3, 6))),
            ("le 1er décembre", meeting, Some(d(2026, 12, 1))),
            ("14 mars 2027", meeting, Some(d(2027, 3, 14))),
            ("by March 5th", meeting, Some(d(2027, 3, 5))),
            ("the 5th of March", meeting, Some(d(2027, 3, 5))),
            ("December 3, 2026", meeting, Some(d(2026, 12, 3))),
            ("le 30 novembre", meeting, Some(d(2026, 11, 30))),
            ("15/12", meeting, Some(d(2026, 12, 15))),
            ("15/01/2027", meeting, Some(d(2027, 1, 15))),
            ("2027-01-15", meeting, Some(d(2027, 1, 15))),
            ("dans 3 jours", wednesday, Some(d(2026, 11, 28))),
            ("in two weeks", wednesday, Some(d(2026, 12, 9))),
            ("sous huit jours", wednesday, Some(d(2026, 12, 3))),
            ("in a week", wednesday, Some(d(2026, 12, 2))),
            ("vendredi en huit", wednesday, Some(d(2026, 12, 4))),
            ("la semaine prochaine", wednesday, Some(d(2026, 12, 4))),
            ("next week", friday, Some(d(2026, 11, 13))),
            ("d'ici la fin de la semaine", wednesday, Some(d(2026, 11, 27))),
            ("end of the week", d(2026, 11, 28), Some(d(2026, 12, 4))),
            ("fin du mois", wednesday, Some(d(2026, 11, 30))),
            ("end of month", d(2027, 2, 3), Some(d(2027, 2, 28))),
            ("aujourd'hui", wednesday, Some(wednesday)),
            ("", wednesday, None),
            ("dès que possible", wednesday, None),
            ("ASAP", wednesday, None),
            ("mars", meeting, None),
            ("en mai fais ce qu'il te plait", meeting, None),
        ];
        for (text, reference, want) in cases {
            assert_eq!(resolve(text, *reference), *want, "{text:?} from {reference}");
        }
    }
}
