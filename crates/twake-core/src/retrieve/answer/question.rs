//! What a question asks, read by rules (pure): its language, whether it
//! wants one fact or a summary, and its parts ("when, and where?"), so
//! that each part is searched for and answered.

use crate::engine::dates::Date;
use crate::engine::text::same_term;
use crate::engine::text::{Lang, detect, fold, terms};
use crate::retrieve::facts::clock_times;
use crate::retrieve::facts::{Fact, facts};

/// The kind of answer a question wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Facts: a short answer from the passages' relevant sentences.
    Facts,
    /// A summary, decisions or action items: several sentences from whole
    /// passages and the document around the best one.
    Summary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub text: String,
    pub lang: Lang,
    pub intent: Intent,
    /// The parts of a question that asks several things, in order; one
    /// part (the question) otherwise.
    pub parts: Vec<String>,
    /// The question in the other language, when a second attempt made it.
    pub translation: Option<String>,
    /// The one part a follow-up asks about (an answer that left it out).
    pub only: Option<String>,
}

/// What a part of a question wants for an answer, read from its asking
/// words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    /// "between which hours?": a clock time.
    Hour,
    /// "when?", "which day?": a date, a weekday or a month.
    Day,
    /// "how many?", "combien ?": a figure.
    Number,
    /// "who?": a name.
    Person,
    /// Anything else: only its subject tells an answer.
    Other,
}

/// Words (folded) that ask for a summary, decisions or action items.
const SUMMARY: &[&str] = &[
    "resume",
    "resumer",
    "resumez",
    "synthese",
    "compte rendu",
    "quelles actions",
    "actions decidees",
    "quelles decisions",
    "qu a t on decide",
    "qu est ce qui a ete decide",
    "summarize",
    "summarise",
    "summary",
    "recap",
    "overview",
    "action items",
    "what actions",
    "which actions",
    "what decisions",
    "what was decided",
    "what did we decide",
];

/// Words that open a question, after which a new part starts when they
/// follow "and", "et" or a comma.
const ASKING: &[&str] = &[
    "quand",
    "qui",
    "ou",
    "combien",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "comment",
    "pourquoi",
    "que",
    "quoi",
    "lequel",
    "laquelle",
    "lesquels",
    "lesquelles",
    "est ce",
    "when",
    "who",
    "whom",
    "whose",
    "where",
    "how",
    "what",
    "which",
    "why",
    "is",
    "are",
    "does",
    "do",
    "did",
    "can",
    "will",
];

/// Verbs, prepositions and words of asking that say nothing of the
/// subject (the key terms leave them out).
const QUESTION_VERBS: &[&str] = &[
    "during", "before", "after", "about", "between", "within", "without", "into", "onto", "upon", "over", "under",
    "their", "there", "these", "those", "them", "they", "then", "than", "what", "whose", "also", "only", "other",
    "pendant", "avant", "apres", "entre", "depuis", "selon", "chez", "sans", "sous", "vers", "dont", "tout", "tous",
    "toute", "toutes", "quoi", "leurs", "elles", "ils", "nos", "notre", "votre", "vos", "mes", "mon", "faire",
    "happen", "happens", "happened", "passe", "arrive", "lieu", "done", "faut", "doit", "doivent", "peut", "peuvent",
    "combien", "quoi", "sera", "seront", "serait", "etait", "etaient", "ont", "aura", "auront", "avait", "fait",
    "many", "much", "long", "does", "did", "can", "could", "would", "should", "tell", "there", "been", "have", "has",
    "get", "gets",
];

/// Prepositions that may come before the asking word ("à quelle date",
/// "by when", "between which hours").
const BEFORE_ASKING: &[&str] = &[
    "a", "avant", "apres", "dans", "de", "jusqu", "jusqu a", "pour", "par", "en", "sur", "depuis", "entre", "by",
    "until", "till", "at", "between", "in", "on", "for", "from", "to", "of", "since", "before", "after",
];

impl Question {
    pub fn read(text: &str) -> Question {
        let text = text.trim().to_string();
        let lang = detect(&text);
        let f = words(&text).join(" ");
        let intent = if SUMMARY.iter().any(|w| contains_words(&f, w)) { Intent::Summary } else { Intent::Facts };
        let parts = parts_of(&text);
        Question { text, lang, intent, parts, translation: None, only: None }
    }

    /// The content terms of the question that name what it is about (the
    /// asking words left out): what an answer's sentence that uses them
    /// must find in the passage it cites.
    pub fn key_terms(&self) -> Vec<String> {
        let asking: Vec<String> = ASKING.iter().chain(QUESTION_VERBS).flat_map(|w| terms(w)).collect();
        let mut out: Vec<String> = terms(&self.text).into_iter().filter(|t| !asking.contains(t)).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The parts (indexes) that `text`, an answer, leaves out: a part is
    /// answered when the text holds what it wants (a time, a day, a
    /// figure, a name) and half of the words only it uses ("and which
    /// share goes to the Lyon migration?" needs "migration" or "Lyon").
    /// A rule, so it errs: a part taken for unanswered costs a short
    /// follow-up, never a wrong answer.
    pub fn unanswered_parts(&self, text: &str, today: Date) -> Vec<usize> {
        if self.parts.len() < 2 {
            return vec![];
        }
        // The words that say what kind of answer is wanted ("between which
        // hours") are not the part's subject.
        let kind_words = ["heure", "heures", "hour", "hours", "time", "date", "jour", "jours", "day", "days"];
        let asking: Vec<String> =
            ASKING.iter().chain(QUESTION_VERBS).chain(&kind_words).flat_map(|w| terms(w)).collect();
        let own: Vec<Vec<String>> =
            self.parts.iter().map(|p| terms(p).into_iter().filter(|t| !asking.contains(t)).collect()).collect();
        let said = terms(text);
        let found = facts(text, today);
        let question_names: Vec<Fact> = facts(&self.text, today);
        let folded = words(&clock_times(text));
        (0..self.parts.len())
            .filter(|&i| {
                let holds = match wants(&self.parts[i]) {
                    Wants::Hour => folded.windows(2).any(|w| w[1] == "h" && w[0].parse::<u32>().is_ok_and(|h| h < 25)),
                    Wants::Day => {
                        found.iter().any(|f| matches!(f, Fact::Date { .. }))
                            || folded.iter().any(|w| DAYS_AND_MONTHS.contains(&w.as_str()))
                    }
                    Wants::Number => {
                        found.iter().any(|f| matches!(f, Fact::Number { .. }))
                            || folded.iter().any(|w| SMALL_NUMBERS.contains(&w.as_str()))
                    }
                    Wants::Person => found.iter().any(|f| matches!(f, Fact::Name(_)) && !question_names.contains(f)),
                    Wants::Other => true,
                };
                let others: Vec<&String> =
                    own.iter().enumerate().filter(|&(j, _)| j != i).flat_map(|(_, t)| t).collect();
                let only: Vec<&String> = own[i].iter().filter(|t| !others.contains(t)).collect();
                let used = only.iter().filter(|t| said.iter().any(|s| same_term(s, t))).count();
                !(holds && used >= only.len().div_ceil(2))
            })
            .collect()
    }

    /// The parts worth a search of their own: several parts, each with
    /// at least two content words ("and when?" alone finds nothing).
    pub fn searchable_parts(&self) -> Vec<&str> {
        if self.parts.len() < 2 {
            return vec![];
        }
        self.parts.iter().map(String::as_str).filter(|p| terms(p).len() >= 2).collect()
    }
}

/// What a part wants, from its first asking word: "combien", "how
/// many" a figure, "qui" a name, "quand" a day (an hour when it names
/// hours), "quel/which" + hour or day.
pub fn wants(part: &str) -> Wants {
    let w = words(part);
    let names = |set: &[&str]| w.iter().any(|x| set.contains(&x.as_str()));
    let hours = names(&["heure", "heures", "hour", "hours", "time"]);
    for (i, x) in w.iter().enumerate().take(4) {
        let next = w.get(i + 1).map(String::as_str).unwrap_or("");
        match x.as_str() {
            "combien" => return Wants::Number,
            "how" if matches!(next, "many" | "much" | "long") => return Wants::Number,
            "qui" | "who" | "whom" => return Wants::Person,
            "quand" | "when" => return if hours { Wants::Hour } else { Wants::Day },
            "quel" | "quelle" | "quels" | "quelles" | "which" | "what" => {
                return match next {
                    "heure" | "heures" | "hour" | "hours" | "time" => Wants::Hour,
                    "date" | "jour" | "day" | "dates" | "jours" | "days" => Wants::Day,
                    _ => Wants::Other,
                };
            }
            _ => {}
        }
    }
    Wants::Other
}

/// Weekdays and months (folded), French and English: a day given in
/// words.
const DAYS_AND_MONTHS: &[&str] = &[
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Figures written in words ("un"/"one" left out: mostly articles).
const SMALL_NUMBERS: &[&str] = &[
    "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "douze", "quinze", "vingt", "trente",
    "cent", "mille", "two", "three", "four", "five", "seven", "eight", "nine", "ten", "twelve", "fifteen", "twenty",
    "thirty", "hundred", "thousand",
];

/// Folded words, apostrophes and hyphens splitting ("qu'est-ce" → qu est ce).
fn words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    format!(" {haystack} ").contains(&format!(" {needle} "))
}

/// Asking words strong enough to start a part after a bare comma ("how
/// many X, how many Y").
const ASKING_AFTER_COMMA: &[&str] = &[
    "quand", "qui", "combien", "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "when", "who", "where",
    "how", "what", "which", "why",
];

/// Whether `rest` (what follows a conjunction) starts a new question: an
/// asking word, perhaps after one or two prepositions.
fn starts_asking(rest: &str, asking: &[&str]) -> bool {
    let w = words(rest);
    let asks_at = |i: usize| {
        let head = w[i..].iter().take(2).cloned().collect::<Vec<_>>().join(" ");
        asking.iter().any(|a| head == *a || head.starts_with(&format!("{a} ")))
    };
    (0..w.len().min(3)).any(|i| asks_at(i) && w[..i].iter().all(|p| BEFORE_ASKING.contains(&p.as_str())))
}

/// The parts of a question: sentences ending in "?", then clauses after
/// "and"/"et" or a comma that start with an asking word.
pub fn parts_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sentence in text.split_inclusive('?') {
        let sentence = sentence.trim().trim_end_matches('?').trim();
        if sentence.is_empty() {
            continue;
        }
        let mut start = 0;
        let mut cuts = Vec::new();
        for (i, _) in sentence.char_indices() {
            let rest = &sentence[i..];
            let conj = [", et ", ", and ", " et ", " and ", ", "].iter().find(|c| rest.starts_with(**c));
            let asking = |c: &str| if c == ", " { ASKING_AFTER_COMMA } else { ASKING };
            if let Some(c) = conj
                && starts_asking(&rest[c.len()..], asking(c))
                && i > start
            {
                cuts.push((i, i + c.len()));
                start = i + c.len();
            }
        }
        let mut from = 0;
        for (end, next) in cuts {
            out.push(sentence[from..end].trim().to_string());
            from = next;
        }
        out.push(sentence[from..].trim().to_string());
    }
    out.retain(|p| !p.is_empty());
    if out.is_empty() {
        out.push(text.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_where_a_new_question_starts() {
        assert_eq!(
            parts_of("Quand a lieu la bascule de Lyon, et combien de temps la messagerie sera-t-elle coupée ?"),
            ["Quand a lieu la bascule de Lyon", "combien de temps la messagerie sera-t-elle coupée"]
        );
        assert_eq!(
            parts_of("Qui valide le plan de retour arrière et avant quelle date ?"),
            ["Qui valide le plan de retour arrière", "avant quelle date"]
        );
        assert_eq!(
            parts_of("How many VPN licences do we have, how many are in use, and how many more will be requested?"),
            ["How many VPN licences do we have", "how many are in use", "how many more will be requested"]
        );
        assert_eq!(
            parts_of("When will the switches be delivered, and between which hours?"),
            ["When will the switches be delivered", "between which hours"]
        );
        assert_eq!(
            parts_of("Who labels the cables of rack B4, and by when?"),
            ["Who labels the cables of rack B4", "by when"]
        );
        assert_eq!(parts_of("Quand a lieu la formation RGPD, et où ?"), ["Quand a lieu la formation RGPD", "où"]);
        assert_eq!(
            parts_of("Quand a lieu la bascule ? Et qui la pilote ?"),
            ["Quand a lieu la bascule", "Et qui la pilote"]
        );
    }

    #[test]
    fn a_single_question_is_one_part() {
        for q in [
            "Quand a lieu la bascule du datacenter de Lyon ?",
            "What links connect the Lyon site to the Grenoble headquarters?",
            "Combien de jours de télétravail et de congés ?",
            "Which of Tom, Nadia and Sarah is on call?",
            "Résume le fil",
        ] {
            assert_eq!(parts_of(q).len(), 1, "{q}: {:?}", parts_of(q));
        }
    }

    #[test]
    fn summaries_and_action_items_are_told_from_facts() {
        assert_eq!(Question::read("Résume la réunion RH sur le télétravail.").intent, Intent::Summary);
        assert_eq!(Question::read("Summarize the Northwind renewal thread.").intent, Intent::Summary);
        assert_eq!(Question::read("Quelles actions ont été décidées au comité ?").intent, Intent::Summary);
        assert_eq!(Question::read("What are the action items from the stand-up?").intent, Intent::Summary);
        assert_eq!(Question::read("Qui valide le plan de retour arrière ?").intent, Intent::Facts);
        assert_eq!(Question::read("When will the switches be delivered?").intent, Intent::Facts);
    }

    #[test]
    fn key_terms_leave_the_asking_words_out() {
        assert_eq!(Question::read("Quel est le budget marketing 2027 ?").key_terms(), ["2027", "budget", "market"]);
        assert_eq!(Question::read("How many switches are covered?").key_terms(), ["covere", "switch"]);
    }

    #[test]
    fn each_part_wants_a_kind_of_answer() {
        assert_eq!(wants("When is the Lyon datacenter cutover"), Wants::Day);
        assert_eq!(wants("between which hours"), Wants::Hour);
        assert_eq!(wants("Combien de jours de télétravail par semaine sont autorisés"), Wants::Number);
        assert_eq!(wants("quel jour la présence sur site est-elle obligatoire"), Wants::Day);
        assert_eq!(wants("Qui valide le plan de retour arrière"), Wants::Person);
        assert_eq!(wants("quelle part va à la migration de Lyon"), Wants::Other);
        assert_eq!(wants("how many more will be requested"), Wants::Number);
    }

    #[test]
    fn a_part_is_unanswered_without_what_it_wants_or_its_own_words() {
        let today = Date { year: 2026, month: 11, day: 1 };
        let q = Question::read("When is the Lyon datacenter cutover, and between which hours?");
        assert_eq!(q.unanswered_parts("The cutover of the Lyon datacenter is on March 14 [1].", today), [1]);
        assert_eq!(q.unanswered_parts("The Lyon cutover is on March 14, from 10 pm to 6 am [1].", today), [0usize; 0]);
        let q = Question::read(
            "Combien de jours de télétravail par semaine sont autorisés, et quel jour la présence sur site est-elle \
             obligatoire ?",
        );
        assert_eq!(q.unanswered_parts("Le mardi est un jour de présence obligatoire sur site [1].", today), [0]);
        assert!(
            q.unanswered_parts(
                "Trois jours de télétravail par semaine sont autorisés ; le mardi, la présence sur site est \
                 obligatoire [1].",
                today
            )
            .is_empty()
        );
        let q = Question::read("Quel est le budget d'infrastructure 2027, et quelle part va à la migration de Lyon ?");
        assert_eq!(q.unanswered_parts("Le budget d'infrastructure 2027 est de 1,2 million d'euros [1].", today), [1]);
        let q =
            Question::read("How many switches are covered by the new Northwind contract, and which ones are missing?");
        assert_eq!(q.unanswered_parts("The 2 switches of the Lyon lab are missing [1].", today), [0]);
        let q = Question::read("Qui valide le plan de retour arrière et avant quelle date ?");
        assert!(
            q.unanswered_parts("Claire Dubois valide le plan de retour arrière avant le 5 mars [1].", today).is_empty()
        );
        assert!(Question::read("Quand a lieu la bascule ?").unanswered_parts("", today).is_empty(), "one part");
    }

    #[test]
    fn only_parts_with_content_are_searched_alone() {
        let q = Question::read("Who labels the cables of rack B4, and by when?");
        assert_eq!(q.searchable_parts(), ["Who labels the cables of rack B4"]);
        assert!(Question::read("Quand a lieu la bascule ?").searchable_parts().is_empty());
    }
}
