//! Meeting transcripts: WebVTT (with `<v Speaker>` voices) and SRT.
//! Every cue becomes a section located by its time range; the chunker then
//! groups consecutive cues into windows.

use twake_types::{Document, Locator, Section, SourceKind};

use crate::{ExtractError, Result};

/// `HH:MM:SS.mmm`, `MM:SS.mmm` or SRT's `HH:MM:SS,mmm` → milliseconds.
fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim().replace(',', ".");
    let (hms, ms) = s.split_once('.').unwrap_or((&s, "0"));
    let ms: u64 = format!("{ms:0<3}").get(..3)?.parse().ok()?;
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let secs = match parts.as_slice() {
        [h, m, s] => h * 3600 + m * 60 + s,
        [m, s] => m * 60 + s,
        _ => return None,
    };
    Some(secs * 1000 + ms)
}

fn parse_timing(line: &str) -> Option<(u64, u64)> {
    let (a, rest) = line.split_once("-->")?;
    let b = rest.split_whitespace().next()?;
    Some((parse_time(a)?, parse_time(b)?))
}

/// Removes `<c>`, `<i>`... tags; returns the text and the speaker of a
/// `<v Name>` voice span if any.
fn clean_cue_text(text: &str) -> (String, Option<String>) {
    let mut out = String::new();
    let mut speaker = None;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + end];
        if let Some(v) =
            tag.strip_prefix("v ").or_else(|| tag.strip_prefix("v.").and_then(|t| t.split_once(' ').map(|x| x.1)))
        {
            speaker.get_or_insert_with(|| v.trim().to_string());
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let out = out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ");
    (out.split_whitespace().collect::<Vec<_>>().join(" "), speaker)
}

fn cue_section(start: u64, end: u64, text_lines: &[&str]) -> Option<Section> {
    let (text, speaker) = clean_cue_text(&text_lines.join(" "));
    if text.is_empty() {
        return None;
    }
    let text = match speaker {
        Some(s) => format!("{s}: {text}"),
        None => text,
    };
    Some(Section { locator: Locator::Cue { start_ms: start, end_ms: end }, text })
}

fn transcript(stem: &str, sections: Vec<Section>, format: &'static str) -> Result<Document> {
    if sections.is_empty() {
        return Err(ExtractError::NoText { format, hint: " (no cue with text)" });
    }
    let body = sections.iter().map(|s| format!("[{}] {}", s.locator.display(), s.text)).collect::<Vec<_>>().join("\n");
    Ok(Document {
        kind: SourceKind::Transcript,
        key: String::new(),
        title: stem.to_string(),
        message_id: None,
        thread_id: None,
        author: None,
        date: None,
        body,
        participants: vec![],
        marking: None,
        sections,
    })
}

/// Splits into blocks separated by blank lines.
fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(line.trim_end());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn webvtt(stem: &str, text: &str) -> Result<Document> {
    if !text.trim_start().starts_with("WEBVTT") {
        return Err(ExtractError::Corrupt { format: "WebVTT", reason: "missing the WEBVTT header line".into() });
    }
    let mut sections = Vec::new();
    let mut title = stem.to_string();
    for (i, block) in blocks(text).into_iter().enumerate() {
        if i == 0 {
            // Header block: "WEBVTT - Title" and metadata.
            let header = block[0].strip_prefix("WEBVTT").map(|t| t.trim_start_matches([' ', '-', '\t']).trim());
            if let Some(t) = header.filter(|t| !t.is_empty()) {
                title = t.to_string();
            }
            continue;
        }
        if block[0].starts_with("NOTE") || block[0].starts_with("STYLE") || block[0].starts_with("REGION") {
            continue;
        }
        let timing_at = block.iter().position(|l| l.contains("-->"));
        let Some(t) = timing_at else { continue };
        let Some((start, end)) = parse_timing(block[t]) else { continue };
        sections.extend(cue_section(start, end, &block[t + 1..]));
    }
    transcript(&title, sections, "WebVTT")
}

pub fn srt(stem: &str, text: &str) -> Result<Document> {
    let mut sections = Vec::new();
    for block in blocks(text) {
        let Some(t) = block.iter().position(|l| l.contains("-->")) else { continue };
        let Some((start, end)) = parse_timing(block[t]) else { continue };
        sections.extend(cue_section(start, end, &block[t + 1..]));
    }
    transcript(stem, sections, "SRT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("01:02:03.5"), Some(3_723_500));
        assert_eq!(parse_time("00:10,250"), Some(10_250));
        assert_eq!(parse_time("x"), None);
    }

    #[test]
    fn vtt_with_voices_and_notes() {
        let d = webvtt("m", "WEBVTT - Comité\n\nNOTE ignored\n\n1\n00:00:01.000 --> 00:00:04.000 align:start\n<v Alice Martin>Bonjour à <b>tous</b>.</v>\n\n00:04.000 --> 00:06.000\n<v.loud Bob>Hello\n").unwrap();
        assert_eq!(d.title, "Comité");
        assert_eq!(d.sections.len(), 2);
        assert_eq!(d.sections[0].text, "Alice Martin: Bonjour à tous.");
        assert_eq!(d.sections[0].locator, Locator::Cue { start_ms: 1000, end_ms: 4000 });
        assert_eq!(d.sections[1].text, "Bob: Hello");
    }

    #[test]
    fn srt_and_errors() {
        let d = srt("m", "1\n00:00:01,000 --> 00:00:02,000\nHi there\n\n2\n00:00:03,000 --> 00:00:04,000\n- Yes\n")
            .unwrap();
        assert_eq!(d.sections.len(), 2);
        assert!(webvtt("m", "not vtt").is_err());
        assert!(srt("m", "garbage").is_err());
    }
}
