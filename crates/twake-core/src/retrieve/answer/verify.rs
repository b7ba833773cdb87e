//! Each sentence of an answer is checked as it streams, before anyone sees
//! it: a `[n]` survives only if passage n was given and supports the
//! sentence (shared content terms, or embedding similarity for paraphrases
//! and translations); a sentence without a valid citation is attributed to
//! the passage that supports it best. A sentence that no passage supports,
//! that names a figure, date or name found in no passage, that repeats an
//! earlier one, or that states nothing ("Sources and.") is not shown.
//! Small models rarely write `[n]` by themselves, so attribution is what
//! makes citations hold.

use crate::Result;
use crate::engine::dates::Date;
use crate::engine::text::{Lang, fold, same_term, terms};
use crate::engine::workspace::Embedder;
use crate::retrieve::facts::{Fact, clock_times, facts, missing};

use super::prompt::NO_ANSWER;

/// Citation markers (`[2]`, `[1, 3]`, `[1][2]`) removed from a sentence,
/// with the numbers they named.
pub fn strip_markers(sentence: &str) -> (String, Vec<usize>) {
    let mut out = String::new();
    let mut nums = Vec::new();
    let mut rest = sentence;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else { break };
        let inner = &rest[start + 1..start + len];
        let parsed: Option<Vec<usize>> =
            inner.split([',', ';']).map(|p| p.trim().trim_start_matches("Source ").trim().parse().ok()).collect();
        match parsed {
            Some(ns) if !ns.is_empty() => {
                out.push_str(&rest[..start]);
                nums.extend(ns);
            }
            _ => out.push_str(&rest[..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    // Tidy the spaces left by removed markers: "mars [1]." → "mars.".
    let mut tidy = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [" .", " ,", " !", " ?", " ;", " :"] {
        if p == " :" || p == " ;" || p == " !" || p == " ?" {
            continue; // French typography keeps a space before these.
        }
        tidy = tidy.replace(p, &p[1..]);
    }
    (tidy, nums)
}

/// Splits complete sentences off the front of a streamed buffer. A
/// sentence is complete when its end punctuation (or a line break) is
/// followed by text that is not a citation marker.
pub fn take_sentences(buf: &mut String, finished: bool) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let chars: Vec<(usize, char)> = buf.char_indices().collect();
        let mut cut = None;
        for (i, &(pos, c)) in chars.iter().enumerate() {
            let end_punct = matches!(c, '.' | '!' | '?' | '\n');
            if !end_punct {
                continue;
            }
            if c != '\n' && chars.get(i + 1).is_some_and(|(_, n)| !n.is_whitespace()) {
                continue; // "3.5", "e.g"
            }
            if c == '.' {
                // A list number ("2. ") does not end a sentence.
                let line_start = chars[..i].iter().rposition(|(_, x)| *x == '\n').map(|p| p + 1).unwrap_or(0);
                let token = &chars[line_start..i];
                if !token.is_empty() && token.iter().all(|(_, x)| x.is_ascii_digit() || x.is_whitespace()) {
                    continue;
                }
            }
            // Absorb following white space and markers like " [1][2]".
            let mut j = i + 1;
            let mut after = pos + c.len_utf8();
            let mut open_marker = false;
            loop {
                while j < chars.len() && chars[j].1.is_whitespace() && chars[j].1 != '\n' {
                    j += 1;
                }
                if j < chars.len() && chars[j].1 == '[' {
                    match chars[j..].iter().position(|(_, c)| *c == ']') {
                        Some(k) => {
                            j += k + 1;
                            after = chars.get(j).map(|x| x.0).unwrap_or(buf.len());
                            continue;
                        }
                        // "mars. [" — the marker's number has not come
                        // yet: wait for it.
                        None => open_marker = !finished,
                    }
                }
                break;
            }
            if open_marker {
                break;
            }
            if j < chars.len() {
                // Also take a trailing period after markers: "mars [1]."
                if matches!(chars[j].1, '.' | '!' | '?') {
                    j += 1;
                    after = chars.get(j).map(|x| x.0).unwrap_or(buf.len());
                }
                if j < chars.len() {
                    cut = Some(after);
                    break;
                }
            }
            if finished {
                cut = Some(after);
                break;
            }
        }
        match cut {
            Some(at) => {
                let s: String = buf[..at].to_string();
                buf.replace_range(..at, "");
                if !s.trim().is_empty() {
                    out.push(s);
                }
            }
            None => {
                if finished && !buf.trim().is_empty() {
                    out.push(std::mem::take(buf));
                }
                return out;
            }
        }
    }
}

/// How well a passage supports a sentence, in [0, 1]: the larger of the
/// share of the sentence's content terms found in the passage and the
/// rescaled embedding similarity (which carries paraphrases and
/// translations).
pub fn support(sentence_terms: &[String], passage_terms: &[String], cosine: f32) -> f32 {
    let lexical = if sentence_terms.is_empty() {
        0.0
    } else {
        sentence_terms.iter().filter(|t| passage_terms.contains(t)).count() as f32 / sentence_terms.len() as f32
    };
    let dense = ((cosine - 0.78) / 0.12).clamp(0.0, 1.0);
    lexical.max(dense)
}

/// Decides the citations of one sentence: keeps the given numbers that are
/// in range and supported, else attributes the best-supporting passage.
/// Returns 0-based passage indexes.
pub fn attribute(cited: &[usize], supports: &[f32], min_support: f32) -> Vec<usize> {
    let mut kept: Vec<usize> = cited
        .iter()
        .filter(|&&n| n >= 1 && n <= supports.len() && supports[n - 1] >= min_support)
        .map(|n| n - 1)
        .collect();
    kept.dedup();
    if kept.is_empty()
        && let Some((i, s)) = supports.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
        && *s >= min_support
    {
        kept.push(i);
    }
    kept
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The facts of `wanted` that `text` lacks: names compared without case
/// and accents, dates as days, figures by their digits.
pub fn absent(wanted: &[Fact], text: &str, today: Date) -> Vec<Fact> {
    let folded = fold(text);
    let others: Vec<Fact> = wanted.iter().filter(|f| !matches!(f, Fact::Name(_))).cloned().collect();
    let mut lost: Vec<Fact> =
        wanted.iter().filter(|f| matches!(f, Fact::Name(n) if !folded.contains(&fold(n)))).cloned().collect();
    lost.extend(missing(&others, text, today));
    lost
}

/// The passages a sentence must cite for its facts: those it cites
/// (`kept`), and for each fact none of them holds, the first other
/// passage that does; the fact that no passage holds is the error.
pub fn cite_facts(facts: &[Fact], mut kept: Vec<usize>, passages: &[&str], today: Date) -> Result<Vec<usize>, Fact> {
    let texts: Vec<String> = passages.iter().map(|p| clock_times(p)).collect();
    let holds = |i: usize, f: &Fact| absent(std::slice::from_ref(f), &texts[i], today).is_empty();
    let joined = kept.iter().map(|&i| texts[i].as_str()).collect::<Vec<_>>().join("\n");
    for f in absent(facts, &joined, today) {
        if kept.iter().any(|&i| holds(i, &f)) {
            continue; // in a passage cited for an earlier fact
        }
        match (0..texts.len()).find(|&i| !kept.contains(&i) && holds(i, &f)) {
            Some(i) => kept.push(i),
            None => return Err(f),
        }
    }
    Ok(kept)
}

/// A sentence that is only a name, a figure or a date ("Alice Martin",
/// "le 6 mars", "250"): four words at most, naming a fact.
fn only_facts(clean: &str, today: Date) -> bool {
    clean.split_whitespace().count() <= 4 && !facts(&clock_times(clean), today).is_empty()
}

/// Labels some models put before their text ("Réponse :").
const LABELS: &[&str] = &[
    "réponse :",
    "réponse:",
    "answer:",
    "answer :",
    "la réponse est dans les extraits.",
    "the answer is in the extracts.",
    "la réponse est dans les extraits :",
    "the answer is in the extracts:",
];

/// A sentence that says the same words over and over ("35 days 35 days
/// 35 days") said once.
pub fn said_once(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    let n = words.len();
    let norm = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    for period in 1..=n / 2 {
        let repeats = n / period;
        if repeats >= 2
            && n - repeats * period < period
            && (period..n).all(|i| norm(words[i]) == norm(words[i % period]))
        {
            let once = words[..period].join(" ");
            let once = once.trim_end_matches([',', ';', '.']);
            let end = s.trim_end().chars().last().filter(|c| matches!(c, '.' | '!'));
            return format!("{once}{}", end.map(String::from).unwrap_or_default());
        }
    }
    s.to_string()
}

/// A list number the model put before a sentence ("2) ", "1. ") — the
/// parts of a question: not part of the sentence.
pub fn without_list_number(s: &str) -> &str {
    let t = s.trim_start();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if (1..=2).contains(&digits) && t[digits..].starts_with([')', '.']) && t[digits + 1..].starts_with(' ') {
        t[digits + 1..].trim_start()
    } else {
        s
    }
}

/// Words that start a line of sources rather than an answer.
const SOURCE_LINES: &[&str] = &["source", "sources", "références", "references", "reference", "extrait", "extraits"];

/// A sentence that states nothing worth showing: no content word, a line
/// that lists sources ("Sources and.", "Source : [1]"), or a question (the
/// question asked again, or one copied from a passage).
pub fn is_junk(clean: &str, content: &[String]) -> bool {
    if clean.trim_end().ends_with('?') {
        return true;
    }
    let folded = fold(clean);
    let first = folded.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or_default();
    let yes_no = ["oui", "non", "yes", "no"].contains(&first);
    if content.is_empty() && !yes_no && !clean.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    SOURCE_LINES.iter().any(|s| fold(s) == first) && content.len() <= 3
}

/// A line that only introduces what follows ("Voici les actions :").
pub fn is_connective(clean: &str, facts: &[Fact]) -> bool {
    clean.trim_end().ends_with(':') && facts.is_empty() && clean.split_whitespace().count() <= 12
}

/// Whether a sentence with these content terms says again what an earlier
/// shown sentence said (four fifths of their terms in common).
pub fn repeats(content: &[String], shown: &[Vec<String>]) -> bool {
    if content.len() < 2 {
        return false;
    }
    let jaccard = |a: &[String], b: &[String]| {
        let inter = a.iter().filter(|t| b.contains(t)).count() as f32;
        let union = (a.len() + b.len()) as f32 - inter;
        if union == 0.0 { 0.0 } else { inter / union }
    };
    shown.iter().any(|s| jaccard(content, s) >= 0.8)
}

/// A given passage as the checks read it: its heading and text, content
/// terms, language and vector.
#[derive(Clone)]
pub(crate) struct Evidence {
    pub text: String,
    pub terms: Vec<String>,
    pub lang: Lang,
    pub vector: Vec<f32>,
    /// A chat message given because it answers a question asked just
    /// before it, or a part of the document a summary is asked of: it is
    /// about the question without its words.
    pub answers_asked: bool,
}

/// Whether a sentence speaks of the question's subject only in words the
/// passages use: a key term of the question that the sentence uses must
/// be in one of `passages` (those in the question's language: a
/// translation uses other words). "Le budget marketing 2027 est de 1,2
/// million" over passages on the infrastructure budget is not grounded.
pub fn grounded(sentence_terms: &[String], key_terms: &[String], passages: &[&[String]]) -> bool {
    sentence_terms
        .iter()
        .filter(|t| key_terms.contains(t))
        .all(|t| passages.iter().any(|p| p.iter().any(|w| same_term(t, w))))
}

/// Whether a sentence (six content terms or more) is copied from a
/// passage: nine tenths of its terms are the passage's.
pub fn copies(sentence_terms: &[String], passage_terms: &[String]) -> bool {
    sentence_terms.len() >= 6
        && sentence_terms.iter().filter(|t| passage_terms.contains(t)).count() * 10 >= sentence_terms.len() * 9
}

/// Whether passages speak of a question's subject: they hold its key
/// terms (one may be missing when there are four or more). A sentence
/// citing only passages in the other language is checked with the key
/// terms of the question's translation; a quote, with the question's.
pub fn covers(translated_key_terms: &[String], passages: &[&[String]]) -> bool {
    let lost =
        translated_key_terms.iter().filter(|t| !passages.iter().any(|p| p.iter().any(|w| same_term(t, w)))).count();
    lost <= usize::from(translated_key_terms.len() >= 4)
}

/// Why a sentence was not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    NoAnswer,
    Junk,
    Repeat,
    /// No given passage supports it.
    Unsupported,
    /// It names a figure, date or name that no given passage holds.
    Invented,
    /// It speaks of the question's subject in a word no passage uses (see
    /// `grounded`).
    Ungrounded,
    /// A passage's sentence copied out that shares no key term with the
    /// question.
    Unrelated,
}

/// What becomes of one sentence.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Shown with citations of these passages (0-based).
    Cited {
        text: String,
        passages: Vec<usize>,
    },
    /// Shown without citation: a yes or no, a line introducing a list.
    Plain(String),
    Dropped(Dropped),
}

/// Whether a sentence only repeats a passage's heading ("Réunion RH
/// télétravail, 3 décembre 2026 — 00:01–01:10") or a line of the prompt.
/// A sentence that adds a figure or a name to the line is an answer put
/// in the question's words ("3 jours de télétravail par semaine sont
/// autorisés", "Claire valide le plan de retour arrière").
pub fn copies_heading(clean: &str, heading: &str) -> bool {
    let (s, h) = (terms(clean), terms(heading));
    let named: Vec<String> =
        clean.split_whitespace().filter(|w| w.chars().next().is_some_and(char::is_uppercase)).flat_map(terms).collect();
    let adds = s.iter().any(|t| !h.contains(t) && (t.chars().all(|c| c.is_ascii_digit()) || named.contains(t)));
    !s.is_empty() && !adds && s.iter().filter(|t| h.contains(t)).count() * 5 >= s.len() * 4
}

/// The checks of one answer's sentences against its passages.
pub(crate) struct Verifier<'a> {
    pub embedder: &'a Embedder,
    pub passages: &'a [Evidence],
    /// What the prompt said besides the passages' text (their headings,
    /// the instructions): a sentence that repeats it states nothing.
    pub echoes: Vec<String>,
    /// The question's key terms and language.
    pub key_terms: Vec<String>,
    pub lang: Lang,
    /// The key terms of the question's translation, when there is one.
    pub translated_key_terms: Option<Vec<String>>,
    pub min_support: f32,
    pub today: Date,
    /// Content terms of the sentences shown so far.
    shown: Vec<Vec<String>>,
    /// Sentences must say what they answer in words (the answer to a
    /// question of several parts): a bare figure, date or name ("240
    /// [1]") is shown after the one part that wants its kind ("quand
    /// part-il : 6 mars"), and dropped when several parts or none do.
    pub needs_words: bool,
    /// The question's parts.
    parts: Vec<String>,
    /// The part of the question a follow-up answers: a bare figure or
    /// name is shown after it ("how many are in use: 240").
    pub label: Option<String>,
}

impl<'a> Verifier<'a> {
    pub fn new(
        embedder: &'a Embedder,
        passages: &'a [Evidence],
        echoes: Vec<String>,
        question: &super::question::Question,
        min_support: f32,
        today: Date,
    ) -> Self {
        Verifier {
            embedder,
            passages,
            echoes,
            key_terms: question.key_terms(),
            lang: question.lang,
            translated_key_terms: question
                .translation
                .as_deref()
                .map(|t| super::question::Question::read(t).key_terms()),
            min_support,
            today,
            shown: Vec::new(),
            needs_words: false,
            parts: question.parts.clone(),
            label: None,
        }
    }

    /// The one part of the question that wants what a bare answer is (a
    /// date, a figure, a name).
    fn part_for(&self, clean: &str) -> Option<String> {
        use super::question::{Wants, wants};
        let found = facts(&clock_times(clean), self.today);
        let kinds: &[Wants] = match found.first() {
            Some(Fact::Date { .. }) => &[Wants::Day, Wants::Hour],
            Some(Fact::Number { .. }) => &[Wants::Number, Wants::Hour],
            Some(Fact::Name(_)) => &[Wants::Person],
            None => return None,
        };
        let fitting: Vec<&String> = self.parts.iter().filter(|p| kinds.contains(&wants(p))).collect();
        match fitting.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    }

    pub async fn check(&mut self, sentence: &str) -> Result<Option<Verdict>> {
        let (clean, cited) = strip_markers(sentence.trim());
        let mut clean = said_once(without_list_number(clean.trim()));
        for l in LABELS {
            if clean.to_lowercase().starts_with(l) {
                clean = clean[l.len()..].trim_start_matches([':', ' ']).to_string();
                break;
            }
        }
        if self.echoes.iter().any(|h| copies_heading(&clean, h)) {
            return Ok(Some(Verdict::Dropped(Dropped::Junk)));
        }
        if clean.is_empty() {
            return Ok(None);
        }
        if clean.contains(NO_ANSWER) {
            return Ok(Some(Verdict::Dropped(Dropped::NoAnswer)));
        }
        if clean.contains('=') {
            // "250 - 240 = 10": the model's own arithmetic, which no
            // passage states.
            return Ok(Some(Verdict::Dropped(Dropped::Invented)));
        }
        // Clock times one way on both sides ("22:00" and "22 h").
        let content = terms(&clock_times(&clean));
        if is_junk(&clean, &content) {
            return Ok(Some(Verdict::Dropped(Dropped::Junk)));
        }
        let bare = content.iter().filter(|t| !t.chars().all(|c| c.is_ascii_digit())).count() < 2
            || self.needs_words && only_facts(&clean, self.today);
        let label = match (&self.label, bare && self.needs_words) {
            (Some(l), _) => Some(l.clone()),
            (None, true) => match self.part_for(&clean) {
                Some(part) => Some(part),
                None => return Ok(Some(Verdict::Dropped(Dropped::Junk))),
            },
            (None, false) => None,
        };
        if repeats(&content, &self.shown) {
            return Ok(Some(Verdict::Dropped(Dropped::Repeat)));
        }
        let copied: Vec<&Evidence> =
            self.passages.iter().filter(|p| p.lang == self.lang && copies(&content, &p.terms)).collect();
        if !copied.is_empty()
            && !copied.iter().any(|p| p.answers_asked)
            && !content.iter().any(|t| self.key_terms.iter().any(|k| same_term(k, t)))
        {
            // A passage's sentence copied out that says nothing of what
            // was asked ("Le schéma réseau est sur le partage" for the
            // cabling overrun).
            return Ok(Some(Verdict::Dropped(Dropped::Unrelated)));
        }
        let sentence_facts = facts(&clock_times(&clean), self.today);
        if content.len() < 2 && sentence_facts.is_empty() {
            // "Oui.", "Non." (a bare figure or name is checked like any
            // sentence).
            self.shown.push(content);
            return Ok(Some(Verdict::Plain(clean)));
        }
        let sv = self.embedder.embed_query(&clean).await?;
        let supports: Vec<f32> =
            self.passages.iter().map(|p| support(&content, &p.terms, cosine(&sv, &p.vector))).collect();
        tracing::debug!(target: "llm", sentence = %clean, ?cited, ?supports, "citation check");
        let mut kept = attribute(&cited, &supports, self.min_support);
        if kept.is_empty() {
            if is_connective(&clean, &sentence_facts) {
                return Ok(Some(Verdict::Plain(clean)));
            }
            return Ok(Some(Verdict::Dropped(Dropped::Unsupported)));
        }
        // Its names, figures and dates must be in what it cites: a fact
        // found in another given passage cites that one too; a fact found
        // in none was invented.
        let texts: Vec<&str> = self.passages.iter().map(|p| p.text.as_str()).collect();
        match cite_facts(&sentence_facts, kept, &texts, self.today) {
            Ok(all) => kept = all,
            Err(f) => {
                tracing::debug!(target: "llm", fact = ?f, "a fact in no given passage");
                return Ok(Some(Verdict::Dropped(Dropped::Invented)));
            }
        }
        if kept.iter().all(|&i| self.passages[i].lang == self.lang) {
            let same: Vec<&[String]> =
                self.passages.iter().filter(|p| p.lang == self.lang).map(|p| p.terms.as_slice()).collect();
            if !grounded(&content, &self.key_terms, &same) {
                return Ok(Some(Verdict::Dropped(Dropped::Ungrounded)));
            }
        } else if let Some(key) = &self.translated_key_terms
            && kept.iter().all(|&i| self.passages[i].lang != self.lang)
        {
            let cited: Vec<&[String]> = kept.iter().map(|&i| self.passages[i].terms.as_slice()).collect();
            if !covers(key, &cited) {
                return Ok(Some(Verdict::Dropped(Dropped::Ungrounded)));
            }
        }
        self.shown.push(content);
        if let Some(label) = label.as_deref().filter(|_| bare) {
            let sep = if self.lang == Lang::Fr { " : " } else { ": " };
            let label = label.trim_end_matches('?').trim();
            let mut first = label.chars();
            let label: String = first.next().map(|c| c.to_uppercase().chain(first).collect()).unwrap_or_default();
            clean = format!("{label}{sep}{}.", clean.trim_end_matches('.'));
        }
        Ok(Some(Verdict::Cited { text: clean, passages: kept }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_fact_is_told_from_a_sentence() {
        let today = Date { year: 2026, month: 11, day: 1 };
        assert!(only_facts("6 mars", today) && only_facts("250", today));
        assert!(!only_facts("Claire Dubois valide le plan de retour arrière avant le 5 mars.", today));
        assert!(!only_facts("Oui.", today));
    }

    #[test]
    fn markers_are_parsed_and_removed() {
        assert_eq!(
            strip_markers("La bascule a lieu le 14 mars [1]."),
            ("La bascule a lieu le 14 mars.".into(), vec![1])
        );
        assert_eq!(strip_markers("A [1, 3] et B [2][9]"), ("A et B".into(), vec![1, 3, 2, 9]));
        assert_eq!(strip_markers("tableau [x] ok"), ("tableau [x] ok".into(), vec![]));
    }

    #[test]
    fn a_marker_split_across_tokens_stays_with_its_sentence() {
        let mut buf = String::from("Between 22:00 and 4:00 on March 14. [");
        assert!(take_sentences(&mut buf, false).is_empty(), "the marker's number is still to come");
        buf.push_str("1] The");
        assert_eq!(take_sentences(&mut buf, false), ["Between 22:00 and 4:00 on March 14. [1]"]);
        assert_eq!(buf, " The");
    }

    #[test]
    fn sentences_complete_only_when_the_next_one_starts() {
        let mut b = "Le 14 mars [1]. Ensuite".to_string();
        assert_eq!(take_sentences(&mut b, false), ["Le 14 mars [1]."]);
        assert_eq!(b.trim(), "Ensuite");
        let mut b = "Prix : 3.5 k€. [2]".to_string();
        assert!(take_sentences(&mut b, false).is_empty());
        assert_eq!(take_sentences(&mut b, true), ["Prix : 3.5 k€. [2]"]);
        let mut b = "Actions :\n1. Alice rédige le plan [2].\n2. Bob".to_string();
        let got: Vec<String> = take_sentences(&mut b, false).iter().map(|s| s.trim().to_string()).collect();
        assert_eq!(got, ["Actions :", "1. Alice rédige le plan [2]."]);
        let mut b = "A. [1] B.".to_string();
        let got: Vec<String> = take_sentences(&mut b, true).iter().map(|s| s.trim().to_string()).collect();
        assert_eq!(got, ["A. [1]", "B."]);
    }

    #[test]
    fn attribution_keeps_supported_citations_and_fixes_wrong_ones() {
        // Cited [2] but only passage 1 supports the sentence.
        assert_eq!(attribute(&[2], &[0.9, 0.1], 0.5), [0]);
        // Out-of-range citation removed, nothing supports: no citation.
        assert_eq!(attribute(&[7], &[0.2, 0.1], 0.5), Vec::<usize>::new());
        // Supported citation kept as given.
        assert_eq!(attribute(&[2], &[0.9, 0.8], 0.5), [1]);
    }

    #[test]
    fn support_uses_terms_or_similarity() {
        let s = terms("La bascule aura lieu le 14 mars");
        let p = terms("Bascule du datacenter de Lyon : 14 mars à 22h");
        assert!(support(&s, &p, 0.0) >= 0.5);
        assert!(support(&s, &[], 0.90) >= 0.99);
        assert_eq!(support(&s, &[], 0.5), 0.0);
    }

    #[test]
    fn facts_are_absent_unless_the_text_holds_them() {
        let today = Date { year: 2026, month: 11, day: 1 };
        let f = facts("The switches arrive in Vénissieux on 20 February at 22 h.", today);
        assert!(absent(&f, "Les switchs arrivent à Venissieux le 20 février, 22 h.", today).is_empty());
        let lost = absent(&f, "Les switchs arrivent à Venissieux le 21 février, 22 h.", today);
        assert!(lost.iter().any(|f| matches!(f, Fact::Date { .. })), "{lost:?}");
        assert!(lost.iter().all(|f| !matches!(f, Fact::Name(_))), "{lost:?}");
    }

    #[test]
    fn each_fact_cites_a_passage_that_holds_it() {
        let today = Date { year: 2026, month: 12, day: 2 };
        let passages = [
            "Marc: ce sera fait avant le 4 décembre.",
            "Qui est d'astreinte les 13 et 14 mars ?",
            "La bascule de Lyon aura lieu le samedi 14 mars 2027, de 22 h à 4 h.",
        ];
        let f = facts("La bascule de Lyon aura lieu le samedi 14 mars à 22 h à 4 h.", today);
        // Cited [1] (wrong): the date is also in [2], the hours only in [3].
        let cited = cite_facts(&f, vec![0], &passages, today).unwrap();
        assert!(cited.contains(&2), "{cited:?}");
        let f = facts("La bascule aura lieu le 15 mars à 22 h.", today);
        assert!(cite_facts(&f, vec![2], &passages, today).is_err(), "the 15th is in no passage");
        let f = facts("Delivery between 8 am and noon.", today);
        assert!(cite_facts(&f, vec![0], &["Livraison entre 8 h et midi."], today).is_ok());
    }

    #[test]
    fn a_sentence_about_the_question_s_subject_needs_it_in_its_passage() {
        let key = |q: &str| super::super::question::Question::read(q).key_terms();
        let marketing = key("Quel est le budget marketing 2027 ?");
        let passage = terms("Le budget d'infrastructure 2027 est de 1,2 million d'euros.");
        assert!(!grounded(&terms("Le budget marketing 2027 est de 1,2 million d'euros."), &marketing, &[&passage]));
        assert!(grounded(
            &terms("Le budget d'infrastructure 2027 est de 1,2 million."),
            &key("Quel est le budget 2027 ?"),
            &[&passage]
        ));
        // Endings differ: "coupée" / "coupés"; a verb of the question is no subject.
        let cut = key("Combien de temps la messagerie sera-t-elle coupée ?");
        let mail = terms("Les services de messagerie seront coupés pendant environ deux heures.");
        assert!(grounded(&terms("La messagerie sera coupée pendant environ deux heures."), &cut, &[&mail]));
        assert!(same_term("switch", "switche") && same_term("coupee", "coupes") && !same_term("market", "mardi"));
    }

    #[test]
    fn a_copied_sentence_is_told_from_an_answer() {
        let passage = terms("Le schéma réseau mis à jour est sur le partage (version 3). J'y ai ajouté les 48 ports.");
        assert!(copies(&terms("Le schéma réseau mis à jour est sur le partage (version 3)."), &passage));
        assert!(!copies(&terms("Le schéma réseau est prêt."), &passage), "too short to tell");
        assert!(!copies(&terms("La bascule du datacenter de Lyon aura lieu le 14 mars à 22 h."), &passage));
    }

    #[test]
    fn passages_in_the_other_language_must_hold_the_translated_subject() {
        let key = |q: &str| super::super::question::Question::read(q).key_terms();
        let review = terms("Paul Martin: Agreed, the training budget is reduced to 60,000 euros.");
        assert!(covers(&key("By how much is the training budget reduced?"), &[&review]));
        assert!(!covers(
            &key("What is the 2027 marketing budget?"),
            &[&terms("The 2027 IT budget is 1.2 million euros.")]
        ));
    }

    #[test]
    fn stray_lines_repeats_and_connectives_are_told_apart() {
        assert!(is_junk("Sources and.", &terms("Sources and.")));
        assert!(is_junk("Source : [1]", &terms("Source :")));
        assert!(!is_junk("Oui.", &terms("Oui.")));
        assert!(is_junk("Alice, tu le rédiges ?", &terms("Alice, tu le rédiges ?")));
        assert!(!is_junk("La bascule a lieu le 14 mars.", &terms("La bascule a lieu le 14 mars.")));
        assert!(is_connective("Voici les actions décidées :", &[]));
        assert!(copies_heading(
            "Réunion RH télétravail, 3 décembre 2026 — 00:01–01:10",
            "Réunion RH télétravail, 3 décembre 2026 — 00:01–01:10"
        ));
        assert!(!copies_heading(
            "La réunion RH a décidé trois jours de télétravail.",
            "Réunion RH télétravail, 3 décembre 2026"
        ));
        let asked = "La question demande : Combien de jours de télétravail par semaine sont autorisés ; quel jour.";
        assert!(!copies_heading("3 jours de télétravail par semaine sont autorisés.", asked), "a figure added");
        assert!(!copies_heading(
            "Claire valide le plan de retour arrière.",
            "Question : Qui valide le plan de retour arrière ?"
        ));
        assert!(copies_heading("Combien de jours de télétravail par semaine sont autorisés.", asked));
        assert_eq!(without_list_number("2) Le 6 mars."), "Le 6 mars.");
        assert_eq!(said_once("35 days 35 days 35 days 35 days"), "35 days");
        assert_eq!(said_once("Le 14 mars, le 14 mars."), "Le 14 mars.");
        assert_eq!(said_once("Bob et Bob Leroy"), "Bob et Bob Leroy");
        assert_eq!(without_list_number("2027 est l'année."), "2027 est l'année.");
        assert!(!is_connective("La bascule a lieu le 14 mars.", &[]));
        let shown = vec![terms("La bascule a lieu le 14 mars à Lyon.")];
        assert!(repeats(&terms("La bascule aura lieu le 14 mars à Lyon."), &shown));
        assert!(!repeats(&terms("La messagerie sera coupée deux heures."), &shown));
    }
}
