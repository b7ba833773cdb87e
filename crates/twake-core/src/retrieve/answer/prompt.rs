//! The prompt of an answer (pure): written in the question's language
//! (small models answer in the language they are spoken to), a fixed
//! instruction first (so the model's state for it is kept from one request
//! to the next), the passages, then the question with its parts and what
//! to write.

use twake_llm::{ChatMessage, Role};

use super::material::Material;
use super::question::{Intent, Question};
use crate::engine::text::{Lang, detect};
use crate::policy::injection::defuse;

/// What the model writes when the passages do not answer.
pub const NO_ANSWER: &str = "NO_ANSWER";

/// Whether the model may say the passages do not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    MayDecline,
    /// Asked again after a "no answer" against strong evidence: the
    /// passages do hold an answer; sentences are still checked.
    MustAnswer,
}

pub fn not_found_text(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "Je n'ai trouvé dans vos documents aucun passage qui réponde à cette question.",
        Lang::En => "I found nothing in your documents that answers this question.",
    }
}

/// The line before an answer made of quotes of the passages.
pub fn quoting_text(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "Voici ce que disent vos documents :",
        Lang::En => "Here is what your documents say:",
    }
}

fn system(lang: Lang) -> String {
    match lang {
        Lang::Fr => "Tu es TwakeAI, l'assistant qui répond aux questions sur les mails, documents, réunions et \
                     discussions de l'utilisateur. Tu réponds en français, uniquement avec ce que disent les extraits \
                     numérotés, sans rien inventer. Chaque phrase se termine par le numéro de l'extrait qui la \
                     justifie, par exemple [2]."
            .into(),
        Lang::En => "You are TwakeAI, the assistant that answers questions about the user's mail, documents, \
                     meetings and chats. You answer in English, only with what the numbered extracts say, inventing \
                     nothing. Each sentence ends with the number of the extract that supports it, for example [2]."
            .into(),
    }
}

/// The messages for `question` over `material` (numbered from 1 in order).
pub fn build_messages(question: &Question, material: &[Material], mode: Mode) -> Vec<ChatMessage> {
    let fr = question.lang == Lang::Fr;
    let mut user = String::from(if fr { "Extraits :\n\n" } else { "Extracts:\n\n" });
    for (i, m) in material.iter().enumerate() {
        user.push_str(&format!("[{}] {}\n{}\n\n", i + 1, m.head, defuse(m.text.trim())));
    }
    user.push_str(&format!("{} {}\n", if fr { "Question :" } else { "Question:" }, question.text));
    if let Some(t) = &question.translation {
        user.push_str(&if fr {
            format!("La même question en anglais : {t}\n")
        } else {
            format!("The same question in French: {t}\n")
        });
    }
    if let Some(part) = &question.only {
        // A follow-up on the part an answer left out.
        let part = part.trim_end_matches('?').trim();
        user.push_str(&if fr {
            format!("Réponds seulement à ce point de la question : {part} ?\n")
        } else {
            format!("Answer only this point of the question: {part}?\n")
        });
    } else if question.parts.len() > 1 && question.intent == Intent::Facts {
        let parts: Vec<&str> = question.parts.iter().map(|p| p.trim_end_matches('?').trim()).collect();
        user.push_str(&if fr {
            format!("La question demande : {}. Réponds à chacun de ces points.\n", parts.join(" ; "))
        } else {
            format!("The question asks: {}. Answer each of these points.\n", parts.join("; "))
        });
    }
    // Small models decline when the answer is written in the other
    // language: say that it may be.
    if material.iter().any(|m| detect(&m.text) != question.lang) {
        user.push_str(if fr {
            "Certains extraits sont en anglais : utilise-les aussi, et réponds en français.\n"
        } else {
            "Some extracts are in French: use them too, and answer in English.\n"
        });
    }
    let how = match (question.intent, fr) {
        _ if question.only.is_some() && fr => "Réponds en une phrase courte, en français, suivie de son numéro [n].",
        _ if question.only.is_some() => "Answer in one short sentence, in English, followed by its number [n].",
        (Intent::Facts, true) => {
            "Réponds en une à trois phrases courtes, en français, chacune suivie de son numéro [n]."
        }
        (Intent::Facts, false) => {
            "Answer in one to three short sentences, in English, each followed by its number [n]."
        }
        (Intent::Summary, true) => {
            "Réponds en trois à six phrases courtes ou une courte liste, en français, chaque point suivi de son numéro \
             [n] ; donne les décisions, et les actions avec leur responsable et leur échéance quand les extraits les \
             donnent. Résume avec tes mots : ne recopie pas les extraits ligne par ligne."
        }
        (Intent::Summary, false) => {
            "Answer in three to six short sentences or a short list, in English, each point followed by its number \
             [n]; give the decisions, and the actions with their owner and due date when the extracts give them. \
             Summarise in your own words: do not copy the extracts line by line."
        }
    };
    user.push_str(how);
    if mode == Mode::MayDecline {
        user.push_str(if fr {
            "\nSi les extraits ne répondent pas à la question, écris seulement NO_ANSWER."
        } else {
            "\nIf the extracts do not answer the question, write only NO_ANSWER."
        });
    } else {
        user.push_str(if fr { "\nLa réponse est dans les extraits." } else { "\nThe answer is in the extracts." });
    }
    vec![
        ChatMessage { role: Role::System, content: system(question.lang) },
        ChatMessage { role: Role::User, content: user },
    ]
}

/// The messages that ask the model for the question in the other language
/// (a second attempt searches and reads with both).
pub fn translation_messages(question: &Question) -> Vec<ChatMessage> {
    let to = match question.lang {
        Lang::Fr => "English",
        Lang::En => "French",
    };
    vec![
        ChatMessage {
            role: Role::System,
            content:
                "You translate questions between French and English. Reply with the translation only, on one line."
                    .into(),
        },
        ChatMessage { role: Role::User, content: format!("Translate into {to}: {}", question.text) },
    ]
}

/// The translation in what the model wrote: its first line, without a
/// label or quotes; `None` when it is empty or the question itself.
pub fn read_translation(raw: &str, question: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .strip_prefix("Translation:")
        .or_else(|| line.strip_prefix("Traduction :"))
        .or_else(|| line.strip_prefix("Traduction:"))
        .unwrap_or(line)
        .trim()
        .trim_matches(|c| matches!(c, '"' | '«' | '»' | '“' | '”'))
        .trim();
    (!line.is_empty() && line != question.trim() && line.chars().count() < 400).then(|| line.to_string())
}

/// A rough token count for a prompt whose tokenizer is not at hand (a
/// remote model's): three characters a token, which overestimates for
/// French and English text, plus a few tokens a message for the template.
pub fn estimate_tokens(messages: &[ChatMessage]) -> usize {
    messages.iter().map(|m| m.content.chars().count().div_ceil(3) + 8).sum()
}

/// How many of the passages (the best first) a model with `context` tokens
/// can be given along with room for the answer, and the answer's token
/// budget: fewer passages first, then a shorter answer (at least 64
/// tokens); a prompt that still does not fit is an error.
pub fn fit_prompt(
    question: &Question,
    material: &[Material],
    context: u32,
    max_tokens: u32,
) -> std::result::Result<(usize, u32), twake_llm::LlmError> {
    let context = context as usize;
    let mut k = material.len();
    loop {
        let tokens = estimate_tokens(&build_messages(question, &material[..k], Mode::MayDecline));
        if tokens + max_tokens as usize <= context {
            return Ok((k, max_tokens));
        }
        if k <= 1 {
            return if tokens + 64 <= context {
                Ok((k, (context - tokens) as u32))
            } else {
                Err(twake_llm::LlmError::PromptTooLong { tokens, ctx: context as u32 })
            };
        }
        k -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(n: usize) -> Vec<Material> {
        (0..n)
            .map(|i| Material { head: format!("Doc {i}"), text: "La bascule a lieu le 14 mars. ".repeat(20) })
            .collect()
    }

    #[test]
    fn the_prompt_speaks_the_question_s_language_and_lists_its_parts() {
        let q = Question::read("Quand a lieu la bascule, et combien de temps dure la coupure ?");
        let m = build_messages(&q, &material(2), Mode::MayDecline);
        assert!(m[0].content.contains("en français"));
        assert!(m[1].content.starts_with("Extraits :\n\n[1] Doc 0\n"));
        assert!(m[1].content.contains("[2] Doc 1\n"));
        assert!(
            m[1].content.contains("La question demande : Quand a lieu la bascule ; combien de temps dure la coupure.")
        );
        assert!(m[1].content.ends_with("écris seulement NO_ANSWER."));
        let again = build_messages(&q, &material(2), Mode::MustAnswer);
        assert!(!again[1].content.contains(NO_ANSWER));
        // The instruction is the same for every question of a language, so
        // the model's state for it is reused.
        let other = build_messages(&Question::read("Qui valide le plan ?"), &material(1), Mode::MayDecline);
        assert_eq!(m[0].content, other[0].content);
        let en = build_messages(&Question::read("When is the cutover?"), &material(1), Mode::MayDecline);
        assert!(en[0].content.contains("in English") && en[1].content.contains("Question: When is the cutover?"));
        // French extracts for an English question: the model is told so.
        assert!(en[1].content.contains("Some extracts are in French"));
        assert!(!m[1].content.contains("Certains extraits sont en anglais"));
    }

    #[test]
    fn a_follow_up_asks_one_part_after_the_same_passages_and_question() {
        let q = Question::read("Quand a lieu la bascule, et combien de temps dure la coupure ?");
        let first = build_messages(&q, &material(2), Mode::MayDecline);
        let part = Question { only: Some(q.parts[1].clone()), ..q.clone() };
        let follow = build_messages(&part, &material(2), Mode::MayDecline);
        let shared = "Question : Quand a lieu la bascule, et combien de temps dure la coupure ?\n";
        let at = first[1].content.find(shared).expect("the question") + shared.len();
        assert_eq!(first[1].content[..at], follow[1].content[..at], "the same prefix: its state is reused");
        assert!(follow[1].content[at..].starts_with("Réponds seulement à ce point de la question : combien de temps"));
        assert!(!follow[1].content.contains("La question demande"));
        // A summary is not cut into points to answer one by one.
        let s = Question::read("Quelles actions ont été décidées au comité, et qui s'en charge ?");
        assert!(!build_messages(&s, &material(1), Mode::MayDecline)[1].content.contains("La question demande"));
    }

    #[test]
    fn a_translation_is_read_from_the_first_line_and_shown_beside_the_question() {
        assert_eq!(
            read_translation("\"Why did the backups fail?\"\nMore.", "Pourquoi ?").as_deref(),
            Some("Why did the backups fail?")
        );
        assert_eq!(read_translation("Translation: When?", "Quand ?").as_deref(), Some("When?"));
        assert_eq!(read_translation("  \n", "Quand ?"), None);
        assert_eq!(read_translation("Quand ?", "Quand ?"), None);
        let mut q = Question::read("Pourquoi les sauvegardes ont-elles échoué ?");
        assert!(translation_messages(&q)[1].content.starts_with("Translate into English: Pourquoi"));
        q.translation = Some("Why did the backups fail?".into());
        let m = build_messages(&q, &material(1), Mode::MayDecline);
        assert!(m[1].content.contains("Question : Pourquoi les sauvegardes ont-elles échoué ?\nLa même question en anglais : Why did the backups fail?\n"));
    }

    #[test]
    fn a_small_context_takes_fewer_passages_then_a_shorter_answer() {
        let q = Question::read("Quand a lieu la bascule ?");
        let m = material(4);
        assert_eq!(fit_prompt(&q, &m, 4096, 320).unwrap(), (4, 320));
        let (k, _) = fit_prompt(&q, &m, 900, 320).unwrap();
        assert!((1..4).contains(&k), "{k}");
        assert!(fit_prompt(&q, &m, 100, 320).is_err());
    }
}
