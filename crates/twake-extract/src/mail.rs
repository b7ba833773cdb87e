//! Mail: EML and mbox (Maildir files are EML), decoded by `mail-parser`.
//!
//! What is indexed is the message without quoted replies and signature; the
//! full body stays readable in [`Document::body`].

use std::io::Cursor;

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use twake_types::{Document, Locator, Participant, Role, Section, SourceKind};

use crate::text::normalize_whitespace;
use crate::{ExtractError, Extracted, Format, Result, docs};

pub fn parse_message(bytes: &[u8]) -> Result<Document> {
    let msg = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| ExtractError::Corrupt { format: "e-mail", reason: "no MIME headers could be parsed".into() })?;
    if msg.headers().is_empty() {
        return Err(ExtractError::Corrupt { format: "e-mail", reason: "no headers found".into() });
    }
    message_to_document(&msg)
}

pub fn parse_mbox(bytes: &[u8]) -> Result<Extracted> {
    let mut out = Extracted::default();
    let mut count = 0usize;
    for (i, item) in mail_parser::mailbox::mbox::MessageIterator::new(Cursor::new(bytes)).enumerate() {
        count += 1;
        let parsed = item
            .map_err(|e| ExtractError::Corrupt { format: "mbox", reason: e.to_string() })
            .and_then(|m| parse_message(m.contents()));
        match parsed {
            Ok(doc) => out.documents.push(doc),
            Err(e) => out.warnings.push(format!("message #{}: {e}", i + 1)),
        }
    }
    if count == 0 {
        return Err(ExtractError::Corrupt {
            format: "mbox",
            reason: "no message found (an mbox starts each message with a \"From \" line)".into(),
        });
    }
    Ok(out)
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    v.as_text_list().map(|l| l.iter().map(|s| s.to_string()).collect()).unwrap_or_default()
}

fn message_to_document(msg: &Message<'_>) -> Result<Document> {
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let from = msg.from().and_then(|a| a.first()).map(|a| match (a.name(), a.address()) {
        (Some(n), Some(ad)) => format!("{n} <{ad}>"),
        (None, Some(ad)) => ad.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    });
    let message_id = msg.message_id().map(|s| s.to_string());
    let references = ids(msg.references());
    let in_reply_to = ids(msg.in_reply_to());
    // The thread root is the first reference, else the parent, else itself.
    let thread_id = references.first().or(in_reply_to.first()).cloned().or(message_id.clone());

    // An HTML-only message: drop quoted blocks before turning it into text
    // (a quote in HTML has no "> " prefix to recognise afterwards).
    let html_only = msg.text_bodies().next().is_some_and(|p| p.is_text_html());
    let (body, own) = match (html_only, msg.body_html(0)) {
        (true, Some(html)) => (docs::html_to_text(&html), docs::html_to_text(&remove_html_quotes(&html))),
        _ => {
            let text = msg.body_text(0).map(|b| b.to_string()).unwrap_or_default();
            (text.clone(), text)
        }
    };
    // The stored body keeps everything; the indexed text is the sender's own.
    let body = normalize_whitespace(&body.replace("\r\n", "\n"));
    let own_text = strip_quotes_and_signature(&normalize_whitespace(&own.replace("\r\n", "\n")));

    let mut sections = Vec::new();
    let header = match &from {
        Some(f) if !f.is_empty() => format!("{subject}\nFrom: {f}"),
        _ => subject.clone(),
    };
    if !own_text.trim().is_empty() {
        sections.push(Section { locator: Locator::Message, text: format!("{header}\n\n{own_text}") });
    }
    for att in msg.attachments() {
        let name = att.attachment_name().unwrap_or("attachment").to_string();
        let label = format!("attachment {name}");
        if att.is_message() {
            continue;
        }
        if att.is_text() {
            let text = if att.is_text_html() {
                mail_parser::decoders::html::html_to_text(att.text_contents().unwrap_or(""))
            } else {
                att.text_contents().unwrap_or("").to_string()
            };
            let text = normalize_whitespace(&text);
            if !text.is_empty() {
                sections.push(Section { locator: Locator::Section(label), text });
            }
            continue;
        }
        let Some(format) = Format::detect(&name, att.contents()) else { continue };
        let inner = match format {
            Format::Pdf => docs::pdf(&name, att.contents()),
            Format::Docx => docs::docx(&name, att.contents()),
            Format::Odt => docs::odt(&name, att.contents()),
            Format::Pptx => docs::pptx(&name, att.contents()),
            _ => continue,
        };
        // An unreadable attachment does not make the message unreadable.
        if let Ok(doc) = inner {
            for s in doc.sections {
                let where_ = s.locator.display();
                let locator = if where_.is_empty() {
                    Locator::Section(label.clone())
                } else {
                    Locator::Section(format!("{label}, {where_}"))
                };
                sections.push(Section { locator, text: s.text });
            }
        }
    }
    if sections.is_empty() && subject.is_empty() {
        return Err(ExtractError::NoText { format: "e-mail", hint: " (no subject, body or text attachment)" });
    }
    if sections.is_empty() {
        sections.push(Section { locator: Locator::Message, text: header });
    }
    Ok(Document {
        kind: SourceKind::Mail,
        key: message_id.clone().unwrap_or_default(),
        title: if subject.is_empty() { "(no subject)".into() } else { subject },
        message_id,
        thread_id,
        author: from,
        date: msg.date().map(|d| d.to_rfc3339()),
        body,
        participants: participants(msg),
        marking: ["Sensitivity", "X-Classification", "Classification"].iter().find_map(|h| {
            msg.header(*h).and_then(|v| v.as_text()).map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
        }),
        sections,
    })
}

/// Every address in From, To, Cc and Bcc (groups flattened), lowercased.
fn participants(msg: &Message<'_>) -> Vec<Participant> {
    let mut out = Vec::new();
    for (role, addrs) in [(Role::From, msg.from()), (Role::To, msg.to()), (Role::Cc, msg.cc()), (Role::Bcc, msg.bcc())]
    {
        for a in addrs.into_iter().flat_map(|a| a.iter()) {
            if let Some(ad) = a.address().map(|s| s.trim().to_lowercase()).filter(|s| s.contains('@')) {
                out.push(Participant { role, address: ad });
            }
        }
    }
    out
}

/// Removes quoted replies and the signature from a message body.
///
/// Cuts at the first reply header ("Le … a écrit :", "On … wrote:",
/// "-----Original Message-----", an Outlook "De : / From:" block), drops
/// `>` lines, and cuts at the signature delimiter `-- `.
pub fn strip_quotes_and_signature(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if line == "-- " || trimmed == "--" || trimmed == "__" {
            break;
        }
        if is_reply_header(trimmed) {
            break;
        }
        // A reply header wrapped on two lines: "Le lun. 3 mars 2025 à 10:00,
        // Alice <a@x>" + "a écrit :".
        if i + 1 < lines.len() {
            let joined = format!("{} {}", trimmed, lines[i + 1].trim());
            if (trimmed.starts_with("Le ") || trimmed.starts_with("On ")) && is_reply_header(&joined) {
                break;
            }
        }
        if trimmed.starts_with('>') {
            i += 1;
            continue;
        }
        kept.push(line);
        i += 1;
    }
    normalize_whitespace(&kept.join("\n"))
}

/// Removes `<blockquote>` elements (nested ones included) and Gmail's
/// `gmail_quote` containers' blockquotes.
fn remove_html_quotes(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut depth = 0usize;
    let mut i = 0;
    while i < html.len() {
        if lower[i..].starts_with("<blockquote") {
            depth += 1;
        } else if lower[i..].starts_with("</blockquote") {
            depth = depth.saturating_sub(1);
            i += lower[i..].find('>').map(|e| e + 1).unwrap_or(html.len() - i);
            continue;
        }
        let ch = html[i..].chars().next().expect("in bounds");
        if depth == 0 {
            out.push(ch);
        }
        i += ch.len_utf8();
    }
    out
}

fn is_reply_header(line: &str) -> bool {
    let l = line.to_lowercase();
    (l.starts_with("le ") && (l.contains(" a écrit :") || l.contains(" a écrit:")))
        || (l.starts_with("on ") && l.contains(" wrote:"))
        || l.starts_with("-----original message-----")
        || l.starts_with("-----message d'origine-----")
        || l.starts_with("----- mail original -----")
        || l.starts_with("-------- message transféré --------")
        || (l.starts_with("de :") && l.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_french_and_english_quotes_and_signature() {
        let fr = "Bonjour,\nD'accord pour mardi.\n\n-- \nAlice Martin\nDSI\n\nLe lun. 3 mars 2025 à 10:00, Bob <b@x.fr> a écrit :\n> Tu confirmes ?";
        assert_eq!(strip_quotes_and_signature(fr), "Bonjour,\nD'accord pour mardi.");
        let en = "Sounds good.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Bob <b@x.com>\nwrote:\n> Shall we?";
        assert_eq!(strip_quotes_and_signature(en), "Sounds good.");
        let inline = "> question\nanswer\n> other\nsecond answer";
        assert_eq!(strip_quotes_and_signature(inline), "answer\nsecond answer");
    }

    #[test]
    fn html_quotes_are_removed() {
        let html =
            "<p>Oui.</p><BLOCKQUOTE>Le lun., A a écrit : <blockquote>old</blockquote> question</blockquote><p>Fin</p>";
        assert_eq!(remove_html_quotes(html), "<p>Oui.</p><p>Fin</p>");
        assert_eq!(strip_quotes_and_signature("Oui.\nLe lun. 2 nov. 2026, Alice a écrit : Pour nous, ok."), "Oui.");
    }

    #[test]
    fn broken_mime_is_an_error_not_a_panic() {
        assert!(parse_message(b"").is_err());
        assert!(parse_mbox(b"").is_err());
    }
}

#[cfg(test)]
mod participant_tests {
    use super::*;

    #[test]
    fn participants_are_every_address_lowercased_with_its_role() {
        let raw = b"From: Alice <Alice@Valmont.fr>\r\nTo: bob@valmont.fr, Equipe: carol@valmont.fr, dan@valmont.fr;\r\nCc: \"RH\" <rh@valmont.fr>\r\nBcc: eve@valmont.fr\r\nSubject: x\r\n\r\nbody\r\n";
        let d = parse_message(raw).unwrap();
        let got: Vec<(&str, &str)> = d.participants.iter().map(|p| (p.role.as_str(), p.address.as_str())).collect();
        assert_eq!(
            got,
            [
                ("from", "alice@valmont.fr"),
                ("to", "bob@valmont.fr"),
                ("to", "carol@valmont.fr"),
                ("to", "dan@valmont.fr"),
                ("cc", "rh@valmont.fr"),
                ("bcc", "eve@valmont.fr")
            ]
        );
    }
}
