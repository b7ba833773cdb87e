//! Chunking that follows structure.
//!
//! A section (a message without quotes, a heading section, a page, a slide)
//! is one chunk unless it is long, in which case it is cut on paragraph,
//! then sentence, then word boundaries. Transcript cues are grouped into
//! windows of consecutive cues.

use twake_types::{Chunk, Document, Locator, SourceKind};

/// Target and hard maximum chunk sizes in characters (≈ 4 characters per
/// token: the hard maximum stays well under the embedding model's 512
/// tokens).
pub const TARGET_CHARS: usize = 1000;
pub const MAX_CHARS: usize = 1500;

pub fn chunk_document(doc: &Document) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut push = |locator: Locator, text: String| {
        chunks.push(Chunk { ordinal: 0, locator, text });
    };
    if doc.kind == SourceKind::Transcript {
        let mut window: Option<(u64, u64, String)> = None;
        for s in &doc.sections {
            let Locator::Cue { start_ms, end_ms } = s.locator else { continue };
            match &mut window {
                Some((_, end, text)) if text.len() + s.text.len() < TARGET_CHARS => {
                    *end = end_ms;
                    text.push('\n');
                    text.push_str(&s.text);
                }
                _ => {
                    if let Some((a, b, t)) = window.take() {
                        push(Locator::Cue { start_ms: a, end_ms: b }, t);
                    }
                    window = Some((start_ms, end_ms, s.text.clone()));
                }
            }
        }
        if let Some((a, b, t)) = window {
            push(Locator::Cue { start_ms: a, end_ms: b }, t);
        }
    } else {
        for s in &doc.sections {
            for piece in split_long(&s.text, TARGET_CHARS, MAX_CHARS) {
                push(s.locator.clone(), piece);
            }
        }
    }
    for (i, c) in chunks.iter_mut().enumerate() {
        c.ordinal = i as u32;
    }
    chunks
}

/// Cuts `text` into pieces of at most `max` characters, preferring to fill
/// up to `target` and to cut between paragraphs, then sentences, then words.
pub fn split_long(text: &str, target: usize, max: usize) -> Vec<String> {
    let text = text.trim();
    if text.chars().count() <= max {
        return if text.is_empty() { vec![] } else { vec![text.to_string()] };
    }
    let units = units(text, max);
    let mut out = Vec::new();
    let mut cur = String::new();
    for u in units {
        let sep = if cur.is_empty() { "" } else { " " };
        if !cur.is_empty() && cur.chars().count() + sep.len() + u.chars().count() > target {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(sep);
        }
        cur.push_str(&u);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Paragraphs, or sentences of paragraphs longer than `max`, or words of
/// sentences longer than `max`: every unit is at most `max` characters.
fn units(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if para.chars().count() <= max {
            out.push(para.to_string());
            continue;
        }
        for sentence in sentences(para) {
            if sentence.chars().count() <= max {
                out.push(sentence);
                continue;
            }
            let mut cur = String::new();
            for w in sentence.split_whitespace() {
                if cur.chars().count() + w.chars().count() + 1 > max && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if !cur.is_empty() {
                    cur.push(' ');
                }
                // A single "word" longer than max (a URL, base64) is cut.
                let w: String = w.chars().take(max).collect();
                cur.push_str(&w);
            }
            if !cur.is_empty() {
                out.push(cur);
            }
        }
    }
    out
}

/// Splits after `.`, `!`, `?` or a line break followed by white space.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        cur.push(c);
        let next_space = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if c == '\n' || (matches!(c, '.' | '!' | '?' | '…') && next_space) {
            let t = cur.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
            cur.clear();
        }
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use twake_types::Section;

    fn doc(kind: SourceKind, sections: Vec<Section>) -> Document {
        Document { sections, ..Document::new(kind, "t", "") }
    }

    #[test]
    fn short_sections_are_one_chunk_each() {
        let d = doc(
            SourceKind::Document,
            vec![
                Section { locator: Locator::Page(1), text: "a".into() },
                Section { locator: Locator::Page(2), text: "b".into() },
            ],
        );
        let c = chunk_document(&d);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].locator, Locator::Page(2));
        assert_eq!(c[1].ordinal, 1);
    }

    #[test]
    fn long_sections_split_under_max_without_losing_words() {
        let para = "Phrase numéro un du paragraphe. ".repeat(40);
        let text = format!("{para}\n\n{}", "mot ".repeat(600));
        let pieces = split_long(&text, TARGET_CHARS, MAX_CHARS);
        assert!(pieces.len() > 2);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_CHARS));
        let words_in: usize = text.split_whitespace().count();
        let words_out: usize = pieces.iter().map(|p| p.split_whitespace().count()).sum();
        assert_eq!(words_in, words_out);
    }

    #[test]
    fn transcript_windows_group_consecutive_cues() {
        let cues = (0..30)
            .map(|i| Section {
                locator: Locator::Cue { start_ms: i * 1000, end_ms: i * 1000 + 900 },
                text: format!("Alice: point numéro {i} de la réunion, avec quelques mots de plus"),
            })
            .collect();
        let c = chunk_document(&doc(SourceKind::Transcript, cues));
        assert!(c.len() >= 2);
        assert_eq!(
            c[0].locator,
            match c[0].locator {
                Locator::Cue { end_ms, .. } => Locator::Cue { start_ms: 0, end_ms },
                _ => unreachable!(),
            }
        );
        let Locator::Cue { end_ms, .. } = c.last().unwrap().locator else { panic!() };
        assert_eq!(end_ms, 29_900);
    }

    #[test]
    fn sentence_split() {
        assert_eq!(sentences("Un. Deux ! Trois? 3.5 km"), ["Un.", "Deux !", "Trois?", "3.5 km"]);
    }
}
