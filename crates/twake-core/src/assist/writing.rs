//! Writing assistants, run as tasks on the gateway like the others: reply
//! drafts to a mail thread ([`Workspace::draft_reply`]) and rewrites in
//! another tone or language ([`Workspace::rewrite`]). TwakeAI never sends
//! what it drafts.
//!
//! Names, numbers and dates are *facts* ([`crate::retrieve::facts`]). A rewrite or a
//! translation keeps every fact of its text: a part that loses one is
//! written once more with the lost facts named, and what is still lost is
//! reported (`missing`). A reply draft may only state facts found in the
//! thread or in the user's points; any other is reported (`unsupported`)
//! for the user to check before sending.

use serde::Serialize;
use twake_index::ChunkView;
use twake_llm::{ChatMessage, GenParams, Role};
use twake_types::{AccessPass, Locator, Sensitivity, SourceKind};

use crate::assist::task::{InParts, parts};
use crate::assist::thread::{ThreadMessage, numbered_thread};
use crate::engine::text::{Lang, detect};
use crate::retrieve::facts::{Fact, facts, missing};
use crate::{CoreError, Result, Workspace};

/// A language the writing assistants write in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Fr,
    En,
    De,
    Es,
    It,
}

impl Language {
    pub const ALL: [Language; 5] = [Language::Fr, Language::En, Language::De, Language::Es, Language::It];

    pub fn code(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
            Language::De => "de",
            Language::Es => "es",
            Language::It => "it",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Fr => "French",
            Language::En => "English",
            Language::De => "German",
            Language::Es => "Spanish",
            Language::It => "Italian",
        }
    }

    /// A language from its code (`fr`, `en`, `de`, `es`, `it`).
    pub fn parse(code: &str) -> std::result::Result<Language, String> {
        let c = code.trim().to_lowercase();
        Language::ALL.into_iter().find(|l| l.code() == c).ok_or_else(|| {
            let codes: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
            format!("unknown language {code:?}: use one of {}", codes.join(", "))
        })
    }

    fn of(lang: Lang) -> Language {
        match lang {
            Lang::Fr => Language::Fr,
            Lang::En => Language::En,
        }
    }
}

/// The tone of a draft or a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    Formal,
    Neutral,
    Friendly,
}

impl Tone {
    pub fn parse(s: &str) -> std::result::Result<Tone, String> {
        match s.trim().to_lowercase().as_str() {
            "formal" => Ok(Tone::Formal),
            "neutral" => Ok(Tone::Neutral),
            "friendly" => Ok(Tone::Friendly),
            _ => Err(format!("unknown tone {s:?}: use formal, neutral or friendly")),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Tone::Formal => "formal and courteous (in French, \"vous\")",
            Tone::Neutral => "neutral, clear and direct",
            Tone::Friendly => "warm and friendly, still professional",
        }
    }
}

/// A rewritten or translated text.
#[derive(Debug, Clone, Serialize)]
pub struct Rewrite {
    pub text: String,
    pub lang: Language,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// How many parts the text was cut into (each fits the model's context).
    pub parts: usize,
    /// How many facts (names, numbers, dates) the text holds.
    pub facts: usize,
    /// Facts of the text the result does not keep, as written in the text.
    pub missing: Vec<String>,
    /// Facts of the result that are not in the text (a name or figure the
    /// model added), as written in the result.
    pub added: Vec<String>,
    /// The level the text was given (configured default, raised by the
    /// detectors and by the caller's `at_least`).
    #[serde(serialize_with = "level_name")]
    pub sensitivity: Sensitivity,
    pub model: String,
    pub audit_ids: Vec<i64>,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

fn level_name<S: serde::Serializer>(level: &Sensitivity, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(level.as_str())
}

/// A reply draft to a message of a thread.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub subject: String,
    /// The address the reply goes to (the author of the message answered).
    pub to: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub lang: Language,
    pub tone: Tone,
    pub body: String,
    /// The thread up to the message answered, oldest first.
    pub messages: Vec<ThreadMessage>,
    /// Names, numbers and dates of the draft found neither in the thread
    /// nor in the points given: check them before sending.
    pub unsupported: Vec<String>,
    pub model: String,
    pub audit_id: i64,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

/// The repetition penalty of prose tasks (see [`GenParams::repeat_penalty`]).
const PROSE_PENALTY: f32 = 1.1;

/// `text` up to the first sentence that repeats an earlier one (a greedy
/// small model looping), and whether it was cut there.
pub fn cut_loop(text: &str) -> (String, bool) {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for sentence in text.split_inclusive(['.', '!', '?', '\n']) {
        let key: String = sentence.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if key.chars().count() >= 12 {
            if seen.contains(&key) {
                return (out.trim_end().to_string(), true);
            }
            seen.push(key);
        }
        out.push_str(sentence);
    }
    (out.trim_end().to_string(), false)
}

impl crate::assist::task::Charged for Rewrite {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

impl crate::assist::task::Charged for Draft {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

/// `result` without the short closing paragraphs ("Best regards,",
/// "[Your Name]") a small model appends when `source` has no such ending:
/// trailing closings beyond the source's paragraph count.
pub fn without_added_ending(source: &str, result: &str) -> String {
    let count = |t: &str| t.split("\n\n").filter(|p| !p.trim().is_empty()).count();
    let mut paras: Vec<&str> = result.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let mut extra = paras.len().saturating_sub(count(source));
    // A closing is short and is no sentence: "Best regards,", "[Your Name]", "Alice".
    let closing = |p: &str| {
        let p = p.trim();
        p.chars().count() <= 40 && (p.ends_with(',') || p.starts_with('[') || !p.ends_with(['.', '!', '?', ':']))
    };
    while extra > 0 && paras.len() > 1 && paras.last().is_some_and(|p| closing(p)) {
        paras.pop();
        extra -= 1;
    }
    paras.join("\n\n")
}

fn listed(facts: &[Fact]) -> String {
    let kept: Vec<&str> = facts.iter().filter(|f| !matches!(f, Fact::Date { .. })).map(Fact::written).collect();
    kept.join(" · ")
}

fn rewrite_messages(part: &str, lang: Language, tone: Option<Tone>, facts: &[Fact], lost: &[Fact]) -> Vec<ChatMessage> {
    let task = match tone {
        Some(t) => {
            format!("Rewrite the user's text in {} in a {} tone, keeping its meaning.", lang.name(), t.describe())
        }
        None => format!("Translate the user's text into {}.", lang.name()),
    };
    let mut system = format!(
        "You are a careful professional writer. {task} Keep every name, e-mail address and number exactly as written; \
         keep every date (you may write it the usual way in {}). Add nothing the text does not say: no greeting, \
         signature or note it does not have. Reply with the new text only, without quotes.",
        lang.name()
    );
    let keep = listed(facts);
    if !keep.is_empty() {
        system.push_str(&format!(" Write these exactly as they are: {keep}."));
    }
    if !lost.is_empty() {
        let lost: Vec<&str> = lost.iter().map(Fact::written).collect();
        system.push_str(&format!(" A first attempt lost these; they must appear: {}.", lost.join(" · ")));
    }
    vec![
        ChatMessage { role: Role::System, content: system },
        ChatMessage { role: Role::User, content: part.to_string() },
    ]
}

/// The name to sign a draft with: the user's name as an author of the
/// thread, else made from the address ("alice.martin@…" → "Alice Martin").
fn signer(user: &str, messages: &[ThreadMessage]) -> String {
    if let Some(m) = messages.iter().find(|m| m.address.eq_ignore_ascii_case(user) && !m.from.contains('@')) {
        return m.from.clone();
    }
    let local = user.split('@').next().unwrap_or(user);
    local
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn draft_messages(
    subject: &str,
    thread: &[ThreadMessage],
    target: &ThreadMessage,
    me: &str,
    lang: Language,
    tone: Tone,
    points: &[String],
) -> Vec<ChatMessage> {
    let system = format!(
        "You write e-mail replies in {lang} for {me}. You write only the body of the reply: a greeting, the answer, \
         and a sign-off with the name {me}. Use only facts from the thread and from the points given; \
         when something is not known yet, say it will be confirmed. Never invent a figure, a date or a name.",
        lang = lang.name()
    );
    let mut user = format!(
        "E-mail thread \"{subject}\" (numbered messages, oldest first):\n\n{}\
         Write {me}'s reply to message [{}] from {}, in {}, in a {} tone. \
         Answer the questions and requests of the thread that are still open for {me}.",
        numbered_thread(thread),
        target.n,
        target.from,
        lang.name(),
        tone.describe()
    );
    if !points.is_empty() {
        user.push_str(" The reply must say:");
        for p in points {
            user.push_str(&format!("\n- {p}"));
        }
    }
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

impl Workspace {
    /// The passage a text given by the user is: its level is the configured
    /// default, raised by the detectors (IBAN, NIR…) and by `at_least`.
    fn given_text(&self, text: &str, at_least: Option<Sensitivity>) -> ChunkView {
        let s = &self.config.sensitivity;
        let default = Sensitivity::parse_or_secret(&s.default);
        let mut label = crate::policy::sensitivity::Label::new(default, format!("default {default}"));
        if let Some(l) = at_least {
            label.raise(l, format!("given as {l}"));
        }
        let label = s.label_chunk(&label, text);
        ChunkView {
            chunk_id: 0,
            doc_id: 0,
            path: "(text given)".into(),
            kind: SourceKind::Document,
            title: String::new(),
            message_id: None,
            author: None,
            date: None,
            locator: Locator::Section(String::new()),
            text: text.to_string(),
            sensitivity: label.level,
        }
    }

    /// Rewrites `text` in `tone` (same language unless `to` is given), or
    /// translates it into `to`. Long texts are written part by part.
    pub async fn rewrite(
        &self,
        text: &str,
        to: Option<Language>,
        tone: Option<Tone>,
        at_least: Option<Sensitivity>,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Rewrite> {
        if text.trim().is_empty() {
            return Err(CoreError::Other("there is no text to rewrite: give some text".into()));
        }
        let lang = to.unwrap_or_else(|| Language::of(detect(text)));
        let today = self.today();
        let request = match tone {
            Some(t) => format!("rewrite ({}, {})", lang.code(), t.describe()),
            None => format!("translate into {}", lang.code()),
        };
        let mut written = Vec::new();
        let (mut all_facts, mut lost_all, mut added_all) = (0, Vec::new(), Vec::new());
        let mut used = InParts::default();
        let mut level = None;
        let parts = parts(text);
        for part in &parts {
            let material = [self.given_text(part, at_least)];
            level = level.max(Some(material[0].sensitivity));
            let source = facts(part, today);
            all_facts += source.len();
            let mut lost: Vec<Fact> = Vec::new();
            let mut best: Option<(String, Vec<Fact>)> = None;
            // A second attempt only when the first lost a fact.
            for _ in 0..2 {
                let messages = rewrite_messages(part, lang, tone, &source, &lost);
                let max_tokens = (part.chars().count() / 2 + 96) as u32;
                let params = GenParams { max_tokens, repeat_penalty: PROSE_PENALTY, ..GenParams::default() };
                let so_far = used.generated;
                let mut count = |n: usize| on_tokens(so_far + n);
                let out = self.run_task(&request, &material, messages, params, pass, &mut count).await?;
                used.add(&out);
                let result = without_added_ending(part, &cut_loop(out.text.trim().trim_matches('"').trim()).0);
                let m = missing(&source, &result, today);
                if best.as_ref().is_none_or(|(_, b)| m.len() < b.len()) {
                    best = Some((result, m.clone()));
                }
                if m.is_empty() {
                    break;
                }
                lost = m;
            }
            let (result, m) = best.expect("one attempt at least");
            added_all.extend(missing(&facts(&result, today), part, today).iter().map(|f| f.written().to_string()));
            written.push(result);
            lost_all.extend(m.iter().map(|f| f.written().to_string()));
        }
        Ok(Rewrite {
            text: written.join("\n\n"),
            lang,
            tone,
            parts: parts.len(),
            facts: all_facts,
            missing: lost_all,
            added: added_all,
            sensitivity: level.unwrap_or(Sensitivity::Public),
            price_per_million: used.price_per_million(),
            completion_tokens: used.generated as u64,
            model: used.model,
            audit_ids: used.audit_ids,
            tokens: used.tokens,
        })
    }

    /// A reply draft to the message `message_id`, written for the user of
    /// `pass` from the thread up to that message. `lang` defaults to the
    /// thread's language.
    pub async fn draft_reply(
        &self,
        message_id: &str,
        lang: Option<Language>,
        tone: Tone,
        points: &[String],
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Draft> {
        let (subject, mut messages, material) = self.thread_of(message_id, pass).await?;
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let k = messages.iter().position(|m| m.message_id.as_deref() == Some(id)).unwrap_or(messages.len() - 1);
        messages.truncate(k + 1);
        let material: Vec<ChunkView> = material
            .into_iter()
            .filter(|c| messages.iter().any(|m| m.path == c.path && m.message_id == c.message_id))
            .collect();
        let target = messages[k].clone();
        let user = pass.user().map(|u| u.as_str().to_string()).unwrap_or_default();
        let me = signer(&user, &messages);
        let lang = lang.unwrap_or_else(|| {
            Language::of(detect(&messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" ")))
        });
        let prompt = draft_messages(&subject, &messages, &target, &me, lang, tone, points);
        let params = GenParams { max_tokens: 400, repeat_penalty: PROSE_PENALTY, ..GenParams::default() };
        let request = format!("reply draft to <{id}>");
        let out = self.run_task(&request, &material, prompt, params, pass, on_tokens).await?;
        let (body, _) = cut_loop(out.text.trim());
        // Facts of the draft must come from the thread, the points or the
        // signature; relative dates are read from the day of the reply.
        let today = self.today();
        let known: String = messages
            .iter()
            .map(|m| format!("{}\n{}\n{}\n", m.from, m.address, m.text))
            .chain(points.iter().cloned())
            .chain([me.clone(), user.clone(), subject.clone()])
            .collect::<Vec<_>>()
            .join("\n");
        let unsupported =
            missing(&facts(&body, today), &known, today).iter().map(|f| f.written().to_string()).collect();
        let subject = if subject.to_lowercase().starts_with("re:") { subject } else { format!("Re: {subject}") };
        Ok(Draft {
            subject,
            to: target.address.clone(),
            in_reply_to: target.message_id.clone(),
            references: messages.iter().filter_map(|m| m.message_id.clone()).collect(),
            lang,
            tone,
            body,
            messages,
            unsupported,
            tokens: out.tokens(),
            price_per_million: out.route.price_per_million,
            completion_tokens: out.stats.as_ref().map(|s| s.completion_tokens as u64).unwrap_or(0),
            model: out.model,
            audit_id: out.audit_id,
        })
    }
}

/// `text` as an RFC 2047 encoded word when it is not plain ASCII.
fn header_value(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    let mut q = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => q.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'!' | b'*' | b'+' | b'/' => q.push(b as char),
            _ => q.push_str(&format!("={b:02X}")),
        }
    }
    q.push_str("?=");
    q
}

impl Draft {
    /// The draft as a message file (RFC 5322) to open in a mail client:
    /// addressed and threaded (`In-Reply-To`, `References`), never sent.
    pub fn to_eml(&self, from: &str) -> String {
        let mut s = String::new();
        if from.contains('@') {
            s.push_str(&format!("From: {from}\r\n"));
        }
        s.push_str(&format!("To: {}\r\nSubject: {}\r\n", self.to, header_value(&self.subject)));
        if let Some(id) = &self.in_reply_to {
            s.push_str(&format!("In-Reply-To: <{id}>\r\n"));
        }
        if !self.references.is_empty() {
            let refs: Vec<String> = self.references.iter().map(|r| format!("<{r}>")).collect();
            s.push_str(&format!("References: {}\r\n", refs.join(" ")));
        }
        s.push_str(&format!(
            "X-Twake-AI-Draft: provenance record {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n",
            self.audit_id
        ));
        s.push_str(&self.body.replace("\r\n", "\n").replace('\n', "\r\n"));
        s.push_str("\r\n");
        s
    }

    pub fn to_text(&self) -> String {
        let mut s = format!("To: {}\nSubject: {}\n\n{}\n", self.to, self.subject, self.body);
        if !self.unsupported.is_empty() {
            s.push_str(&format!(
                "\n! Not found in the thread or your points, check before sending: {}\n",
                self.unsupported.join(" · ")
            ));
        }
        s.push_str(&format!("\n_draft, not sent · {} · provenance record {}_\n", self.model, self.audit_id));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assist::task::PART_CHARS;

    #[test]
    fn long_texts_are_cut_at_paragraphs_then_sentences() {
        let para = "Une phrase de test assez longue pour compter. ".repeat(20); // ~940 chars
        let text = format!("{para}\n\n{para}\n\n{}", "Court.");
        let p = parts(&text);
        assert_eq!(p.len(), 2, "two long paragraphs do not fit one part; the short one joins the last");
        assert!(p.iter().all(|x| x.chars().count() <= PART_CHARS));
        let long = "Phrase. ".repeat(500);
        let p = parts(&long);
        assert!(p.len() >= 3 && p.iter().all(|x| x.chars().count() <= PART_CHARS), "{}", p.len());
        assert_eq!(p.concat().replace(' ', "").len(), long.replace(' ', "").len(), "nothing is lost");
    }

    #[test]
    fn a_looping_text_is_cut_at_the_first_repeated_sentence() {
        let looped = "Bonjour Bob.\n\nJe prépare le plan de tests. Je vérifie les baies. Je prépare le plan de tests. Je prépare";
        assert_eq!(
            cut_loop(looped),
            ("Bonjour Bob.\n\nJe prépare le plan de tests. Je vérifie les baies.".to_string(), true)
        );
        let fine = "Merci.\nMerci.\nÀ bientôt, Alice";
        assert_eq!(cut_loop(fine), (fine.to_string(), false), "short sentences may repeat");
    }

    #[test]
    fn closings_the_text_does_not_have_are_removed() {
        let src = "Bonjour Claire, le budget est validé.";
        let out = "Hello Claire,\n\nThe budget is approved.\n\nBest regards,\n\n[Your Name]";
        assert_eq!(without_added_ending(src, out), "Hello Claire,\n\nThe budget is approved.");
        let src2 = "Le budget est validé.\n\nCordialement,\n\nAlice";
        let out2 = "The budget is approved.\n\nBest regards,\n\nAlice";
        assert_eq!(without_added_ending(src2, out2), out2, "an ending the text has stays");
    }

    #[test]
    fn languages_tones_and_signers() {
        assert_eq!(Language::parse("DE"), Ok(Language::De));
        assert!(Language::parse("xx").unwrap_err().contains("fr, en, de, es, it"));
        assert!(Tone::parse("rude").unwrap_err().contains("formal, neutral or friendly"));
        assert_eq!(signer("alice.martin@valmont.fr", &[]), "Alice Martin");
        assert_eq!(header_value("Re: Migration — calendrier"), "=?UTF-8?Q?Re=3A_Migration_=E2=80=94_calendrier?=");
        assert_eq!(header_value("Re: plain"), "Re: plain");
    }
}
