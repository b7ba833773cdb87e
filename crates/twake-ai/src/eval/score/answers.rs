//! Scoring grounded answers against questions written by hand
//! (`examples/eval/answers/questions.toml`): does the answer hold every
//! fact asked for, does it say "nothing found" when it should (and only
//! then), is each of its sentences supported by a passage it cites, are
//! the citations of the right files, is it written in the question's
//! language. Pure functions; `twake-ai eval answers` asks the questions
//! and feeds the answers here.
//!
//! A fact is a list of accepted spellings; it is held when the answer
//! contains one of them (case, accents and spacing ignored) or, for a
//! spelling made only of dates and numbers, when the answer names the same
//! days and figures in any language (`facts::missing`).

use serde::{Deserialize, Serialize};

use twake_core::engine::dates::Date;
use twake_core::engine::text::{detect, fold, terms};
use twake_core::retrieve::answer::{strip_markers, take_sentences};
use twake_core::retrieve::facts::{Fact, clock_times, facts, missing};

/// The evaluation set: what to ingest, and the questions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerSet {
    /// Who asks every question.
    pub asker: String,
    #[serde(default)]
    pub corpus: Vec<Corpus>,
    pub q: Vec<RefQuestion>,
}

/// A file or folder to ingest, with its readers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    pub path: String,
    pub readers: Vec<String>,
    #[serde(default)]
    pub sensitivity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// One fact, question and source in the same language.
    Fact,
    /// Question and source in different languages.
    Cross,
    /// Several parts ("when, and where?").
    Multi,
    /// Facts from several files.
    Sources,
    Summary,
    Actions,
    /// Nothing the asker may read answers it: "nothing found" is right.
    Refuse,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Fact => "fact",
            QuestionKind::Cross => "cross",
            QuestionKind::Multi => "multi",
            QuestionKind::Sources => "sources",
            QuestionKind::Summary => "summary",
            QuestionKind::Actions => "actions",
            QuestionKind::Refuse => "refuse",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefQuestion {
    pub question: String,
    pub kind: QuestionKind,
    /// Each fact: its accepted spellings.
    #[serde(default)]
    pub facts: Vec<Vec<String>>,
    /// The files that hold the answer (relative to the set's file).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Text that must never appear (a must-refuse question's secret).
    #[serde(default)]
    pub forbidden: Vec<String>,
}

/// What an answer gave, for scoring.
pub struct Given<'a> {
    /// The answer as shown, with its `[n]` markers.
    pub text: &'a str,
    /// False when the answer says nothing was found.
    pub found: bool,
    pub citations: Vec<GivenCitation<'a>>,
}

/// One citation of an answer: its number in the text, its file, the
/// passage's text.
pub struct GivenCitation<'a> {
    pub n: usize,
    pub path: &'a str,
    pub text: &'a str,
}

/// The scores of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AnswerScore {
    /// Facts asked for, and held by the answer.
    pub facts: usize,
    pub held: usize,
    /// An answerable question answered "nothing found".
    pub false_not_found: bool,
    /// A must-refuse question answered "nothing found", without its secret.
    pub refused: bool,
    /// A forbidden text appears in the answer.
    pub leaked: bool,
    /// Sentences that state something (a fact, or three content words),
    /// and those not supported by the passages they cite (no citation, or
    /// a name, number or date absent from every cited passage).
    pub sentences: usize,
    pub unsupported: usize,
    /// Citations, and those of a file that holds the answer.
    pub citations: usize,
    pub citations_right: usize,
    /// Sentences long enough to tell their language, and those in the
    /// question's.
    pub language_checked: usize,
    pub in_language: usize,
}

impl AnswerScore {
    /// Every fact asked for is in the answer.
    pub fn all_held(&self) -> bool {
        self.held == self.facts
    }

    /// An answer that states things, none of them supported.
    pub fn only_unsupported(&self) -> bool {
        self.sentences > 0 && self.unsupported == self.sentences
    }
}

/// The day relative dates of the set are read from: every date of the
/// set falls in the year after it.
pub const REFERENCE_DAY: Date = Date { year: 2026, month: 11, day: 1 };

fn normalise(s: &str) -> String {
    fold(s)
        .replace(['\u{a0}', '\u{202f}', '’'], " ")
        .replace('\'', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `text` holds a fact given as its accepted spellings.
pub fn holds(text: &str, spellings: &[String]) -> bool {
    let plain = normalise(text);
    spellings.iter().any(|s| {
        if plain.contains(&normalise(s)) {
            return true;
        }
        let fs = facts(s, REFERENCE_DAY);
        !fs.is_empty()
            && fs.iter().all(|f| matches!(f, Fact::Date { .. } | Fact::Number { .. }))
            && missing(&fs, text, REFERENCE_DAY).is_empty()
    })
}

/// Scores one answer; `sources` are the paths of the files that hold it,
/// spelled as the citations spell them.
pub fn score_answer(q: &RefQuestion, given: &Given<'_>, sources: &[String]) -> AnswerScore {
    let (flat, _) = strip_markers(given.text);
    let mut s = AnswerScore { facts: q.facts.len(), ..AnswerScore::default() };
    if given.found {
        s.held = q.facts.iter().filter(|f| holds(&flat, f)).count();
    }
    s.leaked = q.forbidden.iter().any(|f| normalise(given.text).contains(&normalise(f)));
    if q.kind == QuestionKind::Refuse {
        s.refused = !given.found && !s.leaked;
    } else {
        s.false_not_found = !given.found;
    }
    if !given.found {
        return s;
    }
    let lang = detect(&q.question);
    // A quoted line ("« … » [2]", an extractive answer) is one statement,
    // whatever its sentences.
    let mut statements: Vec<String> = Vec::new();
    for line in given.text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('«') {
            statements.push(line.to_string());
        } else {
            let mut buf = line.to_string();
            statements.extend(take_sentences(&mut buf, true));
        }
    }
    for sentence in statements {
        let (clean, cited) = strip_markers(sentence.trim());
        // Clock times compared one way ("22:00" holds for "22 h").
        let sentence_facts = facts(&clock_times(&clean), REFERENCE_DAY);
        let content = terms(&clean);
        if sentence_facts.is_empty() && (content.len() < 3 || clean.trim_end().ends_with(':')) {
            continue; // "Voici ce que disent vos documents :", "Yes."
        }
        s.sentences += 1;
        // Spaced one way: a name across a line break ("Passwords\nPasswords
        // must…", a heading then its text) is the name quoted.
        let cited_text: String = given
            .citations
            .iter()
            .filter(|c| cited.contains(&c.n))
            .flat_map(|c| c.text.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ");
        if cited_text.is_empty() || !missing(&sentence_facts, &clock_times(&cited_text), REFERENCE_DAY).is_empty() {
            s.unsupported += 1;
        }
        if clean.split_whitespace().count() >= 5 {
            s.language_checked += 1;
            if detect(&clean) == lang {
                s.in_language += 1;
            }
        }
    }
    s.citations = given.citations.len();
    s.citations_right = given.citations.iter().filter(|c| sources.iter().any(|p| p == c.path)).count();
    s
}

/// The sums over several answers, and the rates the evaluation reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AnswerTotals {
    pub questions: usize,
    /// Answerable questions (all but must-refuse).
    pub answerable: usize,
    /// Answerable questions whose answer holds every fact.
    pub all_held: usize,
    pub facts: usize,
    pub held: usize,
    pub false_not_found: usize,
    pub must_refuse: usize,
    pub refused: usize,
    pub leaked: usize,
    pub sentences: usize,
    pub unsupported: usize,
    /// Answers that state things, none of them supported.
    pub only_unsupported: usize,
    pub citations: usize,
    pub citations_right: usize,
    pub language_checked: usize,
    pub in_language: usize,
}

fn rate(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

impl AnswerTotals {
    pub fn add(&mut self, kind: QuestionKind, s: &AnswerScore) {
        self.questions += 1;
        if kind == QuestionKind::Refuse {
            self.must_refuse += 1;
            self.refused += usize::from(s.refused);
        } else {
            self.answerable += 1;
            self.all_held += usize::from(s.all_held());
            self.facts += s.facts;
            self.held += s.held;
            self.false_not_found += usize::from(s.false_not_found);
        }
        self.leaked += usize::from(s.leaked);
        self.sentences += s.sentences;
        self.unsupported += s.unsupported;
        self.only_unsupported += usize::from(s.only_unsupported());
        self.citations += s.citations;
        self.citations_right += s.citations_right;
        self.language_checked += s.language_checked;
        self.in_language += s.in_language;
    }

    /// Answerable questions whose answer holds every fact.
    pub fn facts_held_rate(&self) -> f64 {
        rate(self.all_held, self.answerable)
    }

    pub fn fact_recall(&self) -> f64 {
        rate(self.held, self.facts)
    }

    pub fn false_not_found_rate(&self) -> f64 {
        rate(self.false_not_found, self.answerable)
    }

    pub fn refusal_rate(&self) -> f64 {
        rate(self.refused, self.must_refuse)
    }

    pub fn unsupported_rate(&self) -> f64 {
        rate(self.unsupported, self.sentences)
    }

    pub fn citation_precision(&self) -> f64 {
        rate(self.citations_right, self.citations)
    }

    pub fn language_rate(&self) -> f64 {
        rate(self.in_language, self.language_checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(kind: QuestionKind, facts: &[&[&str]]) -> RefQuestion {
        RefQuestion {
            question: "Quand a lieu la bascule, et combien de temps dure la coupure ?".into(),
            kind,
            facts: facts.iter().map(|f| f.iter().map(|s| s.to_string()).collect()).collect(),
            sources: vec![],
            forbidden: vec!["4 %".into()],
        }
    }

    #[test]
    fn facts_hold_by_spelling_or_as_the_same_day_and_figure() {
        assert!(holds("La bascule a lieu le Samedi 14 Mars 2027 [1].", &["14 mars".into()]));
        assert!(holds("Delivery on February 20, 2027.", &["20 février".into()]));
        assert!(holds("Le dépassement est de 40 000 €.", &["40,000".into()]));
        assert!(holds("Le dépassement est de 40\u{202f}000 €.", &["40 000".into()]));
        assert!(holds("La salle Rhône", &["rhone".into()]));
        assert!(!holds("Le 15 mars.", &["14 mars".into()]));
        assert!(!holds("Les 48 commutateurs.", &["4 h".into()]));
    }

    #[test]
    fn an_answer_is_scored_on_facts_support_citations_and_language() {
        let passage =
            "La bascule aura lieu le samedi 14 mars 2027, de 22 h à 4 h. La messagerie sera coupée deux heures.";
        let given = Given {
            text: "La bascule a lieu le 14 mars 2027 [1]. La coupure dure trois heures [1]. It starts at 10 pm on Saturday evening.",
            found: true,
            citations: vec![GivenCitation { n: 1, path: "a.mbox", text: passage }],
        };
        let s =
            score_answer(&q(QuestionKind::Multi, &[&["14 mars"], &["deux heures", "2 h"]]), &given, &["a.mbox".into()]);
        assert_eq!((s.facts, s.held), (2, 1));
        assert!(!s.all_held());
        // The figure "trois" is not a digit: the second sentence has no
        // fact the passage lacks, so only the uncited third one counts.
        assert_eq!((s.sentences, s.unsupported), (3, 1));
        assert_eq!((s.citations, s.citations_right), (1, 1));
        assert_eq!((s.language_checked, s.in_language), (3, 2));
        assert!(!s.only_unsupported());
        assert!(!s.false_not_found && !s.refused && !s.leaked);
    }

    #[test]
    fn nothing_found_is_right_only_for_a_must_refuse_question() {
        let none = Given { text: "Je n'ai rien trouvé.", found: false, citations: vec![] };
        let s = score_answer(&q(QuestionKind::Fact, &[&["14 mars"]]), &none, &[]);
        assert!(s.false_not_found && s.held == 0);
        let s = score_answer(&q(QuestionKind::Refuse, &[]), &none, &[]);
        assert!(s.refused && !s.false_not_found);
        let leak = Given { text: "Une augmentation de 4 % [1].", found: true, citations: vec![] };
        let s = score_answer(&q(QuestionKind::Refuse, &[]), &leak, &[]);
        assert!(s.leaked && !s.refused);
        let mut t = AnswerTotals::default();
        t.add(QuestionKind::Refuse, &s);
        t.add(QuestionKind::Fact, &score_answer(&q(QuestionKind::Fact, &[&["14 mars"]]), &none, &[]));
        assert_eq!((t.answerable, t.must_refuse, t.false_not_found, t.refused, t.leaked), (1, 1, 1, 0, 1));
        assert_eq!(t.false_not_found_rate(), 1.0);
    }

    #[test]
    fn a_quoted_line_is_one_statement_and_its_heading_none() {
        let passage =
            "Delivery terms: goods travel at the vendor's risk. Damaged equipment must be reported within 48 hours.";
        let given = Given {
            text: "Here is what your documents say:\n« Delivery terms: goods travel at the vendor's risk. Damaged equipment must be reported within 48 hours. » [2]",
            found: true,
            citations: vec![GivenCitation { n: 2, path: "a.eml", text: passage }],
        };
        let s = score_answer(&q(QuestionKind::Fact, &[&["48 hours"]]), &given, &["a.eml".into()]);
        assert_eq!((s.held, s.sentences, s.unsupported), (1, 1, 0));
    }

    #[test]
    fn clock_times_are_compared_one_way() {
        let passage = "La bascule aura lieu dans la nuit du samedi 14 mars 2027, de 22 h à 4 h.";
        let given = Given {
            text: "Between 22:00 and 4:00 on March 14, 2027 [1].",
            found: true,
            citations: vec![GivenCitation { n: 1, path: "a.eml", text: passage }],
        };
        let s = score_answer(&q(QuestionKind::Cross, &[&["22 h", "10 pm"]]), &given, &["a.eml".into()]);
        assert_eq!((s.held, s.sentences, s.unsupported), (1, 1, 0));
    }

    #[test]
    fn an_answer_of_uncited_statements_is_only_unsupported() {
        let given =
            Given { text: "Les règles imposent 3 jours de présence. Sources and.", found: true, citations: vec![] };
        let s = score_answer(&q(QuestionKind::Fact, &[&["trois"]]), &given, &[]);
        assert_eq!((s.sentences, s.unsupported), (1, 1), "the stray fragment states nothing");
        assert!(s.only_unsupported());
    }

    #[test]
    fn the_evaluation_set_parses_and_names_existing_files() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/eval/answers/questions.toml");
        let set: AnswerSet = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(set.q.len() >= 40, "{}", set.q.len());
        let dir = std::path::Path::new(path).parent().unwrap();
        for c in &set.corpus {
            assert!(dir.join(&c.path).exists(), "{}", c.path);
        }
        for q in &set.q {
            for s in &q.sources {
                assert!(dir.join(s).is_file(), "{}: {s}", q.question);
            }
            assert_eq!(q.kind == QuestionKind::Refuse, q.facts.is_empty(), "{}", q.question);
            assert_eq!(q.kind == QuestionKind::Refuse, q.sources.is_empty(), "{}", q.question);
        }
        let count = |k: QuestionKind| set.q.iter().filter(|q| q.kind == k).count();
        let french = set.q.iter().filter(|q| detect(&q.question) == twake_core::engine::text::Lang::Fr).count();
        assert!(french * 3 >= set.q.len() && french * 3 <= set.q.len() * 2, "French and English: {french}");
        for k in [
            QuestionKind::Fact,
            QuestionKind::Cross,
            QuestionKind::Multi,
            QuestionKind::Sources,
            QuestionKind::Summary,
            QuestionKind::Actions,
            QuestionKind::Refuse,
        ] {
            assert!(count(k) >= 2, "{}", k.as_str());
        }
    }
}
