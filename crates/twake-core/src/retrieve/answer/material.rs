//! What the model reads of each passage (pure): a heading that says where
//! it comes from and who wrote it, and its text cut to the sentences the
//! question needs, so that the prompt stays as small as the question.

use twake_index::ChunkView;
use twake_types::SourceKind;

use crate::retrieve::search::SearchHit;

/// Passages shorter than this are given whole.
pub const WHOLE_UP_TO: usize = 600;
/// What a cut passage keeps at most (characters, its heading apart).
pub const CUT_TO: usize = 450;

/// One passage as the prompt shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    pub head: String,
    pub text: String,
}

/// Where a passage comes from, as its prompt heading: the title, the
/// locator, and for a mail who wrote it (the text does not say) with the
/// day; for a chat message the day (its author starts its text, see
/// `spoken`).
pub fn heading(c: &ChunkView) -> String {
    let mut head = c.title.clone();
    let loc = c.locator.display();
    if !loc.is_empty() && loc != c.title {
        head.push_str(&format!(" — {loc}"));
    }
    let day = c.date.as_deref().filter(|d| d.len() >= 10).map(|d| &d[..10]);
    match (c.kind, c.author.as_deref()) {
        (SourceKind::Mail, Some(a)) => {
            head.push_str(&format!(" ({}", crate::engine::text::display_name(a)));
            if let Some(day) = day {
                head.push_str(&format!(", {day}"));
            }
            head.push(')');
        }
        (SourceKind::Chat, Some(_)) => {
            if let Some(day) = day {
                head.push_str(&format!(" ({day})"));
            }
        }
        _ => {}
    }
    head
}

/// A passage's text as the model reads it: a chat message after its
/// author's name, as a transcript's lines are ("Marc Petit: Je m'en
/// charge…": who "je" is stays with what was said); other text as it is.
pub fn spoken(c: &ChunkView, text: &str) -> String {
    match (c.kind, c.author.as_deref()) {
        (SourceKind::Chat, Some(a)) => format!("{}: {}", crate::engine::text::person_name(a), text.trim()),
        _ => text.to_string(),
    }
}

/// A passage as it is given to the model whole: its heading, then its
/// text (what its citation stands for).
pub fn as_given(c: &ChunkView) -> String {
    format!("{}\n{}", heading(c), spoken(c, &c.text))
}

/// A line that starts an item of a list.
fn list_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t.starts_with("* ") || t.starts_with("• ") || {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && matches!(t[digits..].chars().next(), Some('.' | ')'))
    }
}

/// The units a passage is cut into, and the header it starts with (a
/// mail's subject and sender, which the heading already says). A
/// transcript's line is a cue with its speaker; elsewhere a paragraph's
/// wrapped lines are joined, list items kept apart, and a long paragraph
/// cut into its sentences.
pub fn units(text: &str, kind: SourceKind) -> (String, Vec<String>) {
    let (head, body) = match text.split_once("\n\n") {
        Some((head, rest))
            if head.lines().count() == 2 && head.lines().nth(1).is_some_and(|l| l.starts_with("From: ")) =>
        {
            (head.to_string(), rest)
        }
        _ => (String::new(), text),
    };
    let mut out = Vec::new();
    for para in body.split("\n\n") {
        let mut lines: Vec<String> = Vec::new();
        for line in para.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match lines.last_mut() {
                Some(last) if kind != SourceKind::Transcript && !list_item(line) => {
                    last.push(' ');
                    last.push_str(line);
                }
                _ => lines.push(line.to_string()),
            }
        }
        for line in lines {
            if line.chars().count() <= 200 {
                out.push(line);
            } else {
                out.extend(twake_extract::chunk::sentences(&line).into_iter().map(|s| s.trim().to_string()));
            }
        }
    }
    out.retain(|u| !u.is_empty());
    (head, out)
}

/// The units to keep, given each one's relevance to the question: the best
/// unit, and the next best while they are close to it and fit in `budget`
/// characters; in their original order.
pub fn keep(units: &[String], scores: &[f32], budget: usize, close: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let Some(&best) = order.first() else { return vec![] };
    let mut kept = vec![best];
    let mut used = units[best].chars().count();
    for &i in &order[1..] {
        let len = units[i].chars().count();
        if scores[i] < scores[best] - close || used + len > budget {
            continue;
        }
        kept.push(i);
        used += len;
    }
    kept.sort_unstable();
    kept
}

/// The kept units as text: a gap between two kept units is shown as "…".
pub fn join_kept(units: &[String], kept: &[usize]) -> String {
    let mut out = String::new();
    let mut last: Option<usize> = None;
    for &i in kept {
        if last.is_some_and(|l| i > l + 1) || (last.is_none() && i > 0) {
            out.push_str("…\n");
        }
        out.push_str(&units[i]);
        out.push('\n');
        last = Some(i);
    }
    if last.is_some_and(|l| l + 1 < units.len()) {
        out.push_str("…\n");
    }
    out.trim_end().to_string()
}

/// Passages whose text is all in another kept passage (a quoted message,
/// the same paragraph twice) are dropped: the indexes to keep, in order.
pub fn distinct(passages: &[SearchHit]) -> Vec<usize> {
    let norm = |s: &str| crate::engine::text::fold(s).split_whitespace().collect::<Vec<_>>().join(" ");
    let texts: Vec<String> = passages.iter().map(|p| norm(&p.chunk.text)).collect();
    let mut kept: Vec<usize> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if t.is_empty() || kept.iter().any(|&k| texts[k].contains(t.as_str())) {
            continue;
        }
        kept.push(i);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_message_is_read_after_its_author_s_name() {
        let c = ChunkView {
            chunk_id: 1,
            doc_id: 1,
            path: "/x/infra-lyon.json".into(),
            kind: SourceKind::Chat,
            title: "Infra Lyon".into(),
            message_id: None,
            author: Some("marc.petit@valmont.fr".into()),
            date: Some("2026-11-24T10:00:00Z".into()),
            locator: twake_types::Locator::Message,
            text: "Je m'en charge, ce sera fait avant le 4 décembre.".into(),
            sensitivity: twake_types::Sensitivity::Internal,
        };
        assert_eq!(heading(&c), "Infra Lyon (2026-11-24)");
        assert_eq!(
            as_given(&c),
            "Infra Lyon (2026-11-24)\nMarc Petit: Je m'en charge, ce sera fait avant le 4 décembre."
        );
        let mail = ChunkView { kind: SourceKind::Mail, author: Some("Claire Dubois <c@v.fr>".into()), ..c };
        assert_eq!(heading(&mail), "Infra Lyon (Claire Dubois, 2026-11-24)");
        assert_eq!(spoken(&mail, "Bonjour"), "Bonjour");
    }

    #[test]
    fn a_mail_s_header_is_apart_and_its_wrapped_lines_joined() {
        let (head, u) = units(
            "Migration\nFrom: Claire <c@v.fr>\n\nBonjour,\n\nLa bascule aura lieu\nle 14 mars.\n\n- Alice : le plan\n- Bob : les tests\n",
            SourceKind::Mail,
        );
        assert_eq!(head, "Migration\nFrom: Claire <c@v.fr>");
        assert_eq!(u, ["Bonjour,", "La bascule aura lieu le 14 mars.", "- Alice : le plan", "- Bob : les tests"]);
        let (head, u) = units("Claire: Bonjour.\nBob: Le 28 février est maintenu.", SourceKind::Transcript);
        assert!(head.is_empty());
        assert_eq!(u, ["Claire: Bonjour.", "Bob: Le 28 février est maintenu."]);
    }

    #[test]
    fn the_best_units_are_kept_in_order_within_budget() {
        let u: Vec<String> = ["a intro", "b fact", "c other", "d close fact"].iter().map(|s| s.to_string()).collect();
        let kept = keep(&u, &[0.70, 0.90, 0.60, 0.88], 100, 0.05);
        assert_eq!(kept, [1, 3]);
        assert_eq!(join_kept(&u, &kept), "…\nb fact\n…\nd close fact");
        // A tight budget keeps the best unit only.
        assert_eq!(keep(&u, &[0.70, 0.90, 0.60, 0.88], 8, 0.05), [1]);
        assert_eq!(join_kept(&u, &[0, 1, 2, 3]), "a intro\nb fact\nc other\nd close fact");
    }
}
