//! What keeps an assistant's items honest: each decision, action item or
//! point the model writes must be supported by a unit of the material (a
//! cue, a message), and a due date must be named by that unit's text.

use crate::engine::dates::{Date, resolve};
use crate::engine::text::terms;

/// The unit (a cue, a message: number and text) that supports `text` best:
/// the given one if it shares at least half as many terms with it as the
/// best one does, else the best; `None` when no unit shares any.
pub(crate) fn supporting(text: &str, given: Option<usize>, units: &[(usize, String)]) -> Option<usize> {
    let t = terms(text);
    let shared = |u: &str| {
        let ut = terms(u);
        t.iter().filter(|w| ut.contains(w)).count()
    };
    let scores: Vec<(usize, usize)> = units.iter().map(|(n, u)| (shared(u), *n)).collect();
    let &(best, n) = scores.iter().max_by_key(|(s, n)| (*s, std::cmp::Reverse(*n)))?;
    if best == 0 {
        return None;
    }
    match given.and_then(|g| scores.iter().find(|(_, n)| *n == g)) {
        Some(&(s, g)) if s * 2 >= best => Some(g),
        _ => Some(n),
    }
}

/// The dates a text names, clause by clause, read from `reference`.
pub(crate) fn dates_in(text: &str, reference: Date) -> Vec<Date> {
    text.split(['.', ';', '!', '?', ',', '\n']).filter_map(|clause| resolve(clause, reference)).collect()
}

/// A due date the model gave (in `said`, else in `what`), kept only when
/// the source's own text names that date: a model cannot add a deadline.
pub(crate) fn supported_due(said: &str, what: &str, source: &str, reference: Option<Date>) -> Option<String> {
    let reference = reference?;
    let due = resolve(if said.is_empty() { what } else { said }, reference)?;
    dates_in(source, reference).contains(&due).then(|| due.to_string())
}

/// "je", "I", "moi" or nothing as a person: the author instead.
pub(crate) fn person_or(who: String, author: Option<&str>) -> String {
    match author {
        Some(a) if ["", "je", "moi", "i", "me"].contains(&who.to_lowercase().as_str()) => a.to_string(),
        _ => who,
    }
}
