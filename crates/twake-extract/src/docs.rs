//! Documents: Markdown, plain text, HTML, PDF (text layer), DOCX, ODT, PPTX.
//!
//! Each yields one [`Document`] whose sections carry the locator a citation
//! points at: the heading path, the PDF page or the slide.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use twake_types::{Document, Locator, Section, SourceKind};

use crate::text::normalize_whitespace;
use crate::{ExtractError, Result};

fn doc(title: String, body: String, sections: Vec<Section>) -> Document {
    Document { sections, ..Document::new(SourceKind::Document, title, body) }
}

fn non_empty(format: &'static str, d: Document, hint: &'static str) -> Result<Document> {
    if d.sections.iter().all(|s| s.text.trim().is_empty()) {
        return Err(ExtractError::NoText { format, hint });
    }
    Ok(d)
}

/// Splits text on heading lines (`#`, `##`...) into sections named by their
/// heading path. Returns the sections and the first level-1 heading.
fn split_headings(text: &str) -> (Vec<Section>, Option<String>) {
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut first_h1 = None;
    let mut in_fence = false;
    let flush = |path: &Vec<(usize, String)>, current: &mut String, sections: &mut Vec<Section>| {
        let text = normalize_whitespace(current);
        if !text.is_empty() {
            let name = path.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>().join(" > ");
            sections.push(Section { locator: Locator::Section(name), text });
        }
        current.clear();
    };
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
        }
        let level = t.chars().take_while(|&c| c == '#').count();
        let is_heading =
            !in_fence && (1..=6).contains(&level) && t[level..].starts_with(' ') && !t[level..].trim().is_empty();
        if is_heading {
            flush(&path, &mut current, &mut sections);
            let title = t[level..].trim().trim_end_matches('#').trim().to_string();
            if level == 1 && first_h1.is_none() {
                first_h1 = Some(title.clone());
            }
            path.retain(|(l, _)| *l < level);
            path.push((level, title.clone()));
            // The heading stays in the passage: it often carries the topic.
            current.push_str(&title);
            current.push('\n');
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&path, &mut current, &mut sections);
    // A section that is only its heading adds nothing on its own.
    sections.retain(|s| match &s.locator {
        Locator::Section(name) if !name.is_empty() => s.text.lines().count() > 1,
        _ => true,
    });
    (sections, first_h1)
}

pub fn markdown(stem: &str, text: &str) -> Result<Document> {
    let (sections, h1) = split_headings(text);
    non_empty("Markdown", doc(h1.unwrap_or_else(|| stem.to_string()), text.to_string(), sections), "")
}

pub fn plain(stem: &str, text: &str) -> Result<Document> {
    let body = normalize_whitespace(text);
    let sections = vec![Section { locator: Locator::Section(String::new()), text: body.clone() }];
    non_empty("plain text", doc(stem.to_string(), body, sections), "")
}

/// HTML to text with headings kept as `#` lines, so that sections follow
/// the page's structure.
pub fn html(stem: &str, html: &str) -> Result<Document> {
    let title = find_between_ci(html, "<title", "</title>")
        .and_then(|t| t.split_once('>').map(|(_, t)| t.trim().to_string()))
        .filter(|t| !t.is_empty());
    let text = html_to_text(html);
    let (sections, h1) = split_headings(&text);
    let title = title.or(h1).unwrap_or_else(|| stem.to_string());
    non_empty("HTML", doc(title, normalize_whitespace(&text), sections), "")
}

/// HTML to text, block elements on their own lines, headings as `#` lines.
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(&mark_html_blocks(html))
}

fn find_between_ci<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let lower = s.to_ascii_lowercase();
    let a = lower.find(start)?;
    let b = lower[a..].find(end)? + a;
    s.get(a + start.len()..b)
}

/// Inserts line breaks around block elements and `#` markers inside
/// headings, which the tag-stripping converter then keeps as text.
fn mark_html_blocks(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let end = match html[i..].find('>') {
                Some(e) => i + e,
                None => {
                    out.push_str(&html[i..]);
                    break;
                }
            };
            let tag = &html[i + 1..end];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            out.push_str(&html[i..=end]);
            let heading = name.len() == 2 && name.starts_with('h') && name.as_bytes()[1].is_ascii_digit();
            if heading && !closing {
                let level = (name.as_bytes()[1] - b'0') as usize;
                out.push_str("<br>");
                out.push_str(&"#".repeat(level.clamp(1, 6)));
                out.push(' ');
            } else if heading
                || (closing
                    && matches!(
                        name.as_str(),
                        "li" | "div" | "tr" | "table" | "ul" | "ol" | "section" | "article" | "blockquote" | "pre"
                    ))
            {
                out.push_str("<br>");
            }
            i = end + 1;
        } else {
            let next = html[i..].find('<').map(|n| i + n).unwrap_or(bytes.len());
            out.push_str(&html[i..next]);
            i = next;
        }
    }
    out
}

/// The deepest nesting of arrays (`[`) and dictionaries (`<<`) read from a
/// PDF: the parser descends them by recursion, and a file of nested
/// brackets would overflow its stack (an abort, which no `catch_unwind`
/// contains). Counted over the raw bytes, streams included: random bytes
/// wander far below this in any file under the ingestion limit.
const MAX_PDF_NESTING: usize = 1000;
/// The stack of the thread the PDF parser runs on: room for that nesting.
const PDF_STACK_BYTES: usize = 64 << 20;

/// How deep `[`/`<<` nest in `bytes`, counted without parsing.
fn pdf_nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0);
    while i < bytes.len() {
        let pair = bytes.get(i + 1) == Some(&bytes[i]);
        match bytes[i] {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'<' if pair => {
                depth += 1;
                i += 1;
            }
            b'>' if pair => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => {}
        }
        deepest = deepest.max(depth);
        i += 1;
    }
    deepest
}

pub fn pdf(stem: &str, bytes: &[u8]) -> Result<Document> {
    if pdf_nesting(bytes) > MAX_PDF_NESTING {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: format!("arrays or dictionaries nested more than {MAX_PDF_NESTING} deep: refused"),
        });
    }
    let owned = bytes.to_vec();
    // The PDF parser panics on some malformed files: contain it, on a
    // thread of its own with a stack for deep (but capped) nesting.
    let parsed = std::thread::Builder::new()
        .name("pdf".into())
        .stack_size(PDF_STACK_BYTES)
        .spawn(move || std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem_by_pages(&owned)).ok())
        .map_err(|e| ExtractError::Corrupt { format: "PDF", reason: format!("cannot start the PDF parser: {e}") })?
        .join()
        .ok()
        .flatten();
    let pages = parsed
        .ok_or_else(|| ExtractError::Corrupt { format: "PDF", reason: "the PDF parser gave up on this file".into() })?
        .map_err(|e| ExtractError::Corrupt { format: "PDF", reason: e.to_string() })?;
    let mut sections = Vec::new();
    let mut body = String::new();
    for (i, page) in pages.iter().enumerate() {
        let text = normalize_whitespace(page);
        if !text.is_empty() {
            body.push_str(&text);
            body.push_str("\n\n");
            sections.push(Section { locator: Locator::Page(i as u32 + 1), text });
        }
    }
    let title = sections
        .first()
        .and_then(|s| s.text.lines().next())
        .filter(|l| l.chars().count() <= 120)
        .map(str::to_string)
        .unwrap_or_else(|| stem.to_string());
    non_empty("PDF", doc(title, body, sections), " (no text layer: is it a scan? OCR it first)")
}

/// What one office file (a zip archive) may expand to: an entry, the
/// whole archive, and how many entries it may list. A small file that
/// would expand past these (a zip bomb) is refused, not read.
pub(crate) const MAX_ENTRY_BYTES: u64 = 64 << 20;
pub(crate) const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
const MAX_ENTRIES: usize = 10_000;

/// An office file's archive, read within the caps above.
struct Zip<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    format: &'static str,
    /// Uncompressed bytes read so far.
    read: u64,
}

impl Zip<'_> {
    /// An entry's bytes (`None`: absent or unreadable); an error when it
    /// expands past its cap.
    fn entry(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let Ok(f) = self.archive.by_name(name) else { return Ok(None) };
        let cap = MAX_ENTRY_BYTES.min(MAX_ARCHIVE_BYTES.saturating_sub(self.read));
        let mut buf = Vec::new();
        // Never trust the declared size: read one byte past the cap at most.
        if f.take(cap + 1).read_to_end(&mut buf).is_err() {
            return Ok(None);
        }
        if buf.len() as u64 > cap {
            return Err(ExtractError::Corrupt {
                format: self.format,
                reason: format!(
                    "{name} expands to more than {} MB ({} MB at most per entry, {} MB per file): refused as a zip bomb",
                    cap >> 20,
                    MAX_ENTRY_BYTES >> 20,
                    MAX_ARCHIVE_BYTES >> 20
                ),
            });
        }
        self.read += buf.len() as u64;
        Ok(Some(buf))
    }
}

fn open_zip<'a>(format: &'static str, bytes: &'a [u8]) -> Result<Zip<'a>> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ExtractError::Corrupt { format, reason: format!("not a valid zip container: {e}") })?;
    if archive.len() > MAX_ENTRIES {
        return Err(ExtractError::Corrupt {
            format,
            reason: format!("{} entries in its archive, more than {MAX_ENTRIES}: refused", archive.len()),
        });
    }
    Ok(Zip { archive, format, read: 0 })
}

fn xml_error(format: &'static str, e: impl std::fmt::Display) -> ExtractError {
    ExtractError::Corrupt { format, reason: format!("malformed XML: {e}") }
}

/// A classification property (`Classification`, `Sensitivity`,
/// `Confidentiality`) from an OOXML `docProps/custom.xml` or the
/// user-defined fields of an ODF `meta.xml`.
fn classification(xml: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => {
                if let Some(name) = attr(&e, b"name")
                    && ["classification", "sensitivity", "confidentiality"].contains(&name.to_lowercase().as_str())
                {
                    inside = true;
                }
            }
            Event::Text(t) if inside => {
                let t = t.unescape().ok()?.trim().to_string();
                if !t.is_empty() {
                    return Some(t);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// `dc:title` from an OOXML `docProps/core.xml` or an ODF `meta.xml`.
fn dc_title(xml: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_title = false;
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::Text(t) if in_title => {
                let t = t.unescape().ok()?.trim().to_string();
                return (!t.is_empty()).then_some(t);
            }
            Event::End(_) => in_title = false,
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| a.unescape_value().ok().map(|v| v.to_string()))
}

/// Heading level of a Word paragraph style id (`Heading2`, `Titre2`);
/// `None` for body styles and for `Title`, which names the document rather
/// than a section.
fn word_heading_level(style: &str) -> Option<usize> {
    let s = style.to_lowercase();
    for prefix in ["heading", "titre", "berschrift", "kop"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return rest.trim().parse::<usize>().ok().filter(|l| (1..=9).contains(l));
        }
    }
    None
}

/// Builds Markdown-like text (headings as `#` lines) from (level, text)
/// paragraphs, so that one sectioner serves every format.
fn paragraphs_to_sections(paras: &[(Option<usize>, String)]) -> (Vec<Section>, Option<String>) {
    let mut md = String::new();
    for (level, text) in paras {
        if text.trim().is_empty() {
            continue;
        }
        if let Some(l) = level {
            md.push_str(&"#".repeat((*l).clamp(1, 6)));
            md.push(' ');
            md.push_str(&text.replace('\n', " "));
        } else {
            md.push_str(text);
        }
        md.push_str("\n\n");
    }
    split_headings(&md)
}

/// A document from (heading level, text) paragraphs: the title from the
/// file's metadata, else its first level-1 heading, else the file name.
fn from_paragraphs(
    format: &'static str,
    stem: &str,
    title: Option<String>,
    paras: &[(Option<usize>, String)],
) -> Result<Document> {
    let body = normalize_whitespace(&paras.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n"));
    let (sections, h1) = paragraphs_to_sections(paras);
    non_empty(format, doc(title.or(h1).unwrap_or_else(|| stem.to_string()), body, sections), "")
}

pub fn docx(stem: &str, bytes: &[u8]) -> Result<Document> {
    const F: &str = "DOCX";
    let mut zip = open_zip(F, bytes)?;
    let xml = zip
        .entry("word/document.xml")?
        .ok_or_else(|| ExtractError::Corrupt { format: F, reason: "word/document.xml is missing".into() })?;
    let title = zip.entry("docProps/core.xml")?.and_then(|x| dc_title(&x));
    let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    let mut paras: Vec<(Option<usize>, String)> = Vec::new();
    let (mut cur, mut level, mut in_text) = (String::new(), None, false);
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_error(F, e))? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"p" => {
                    cur.clear();
                    level = None;
                }
                b"pStyle" => level = attr(&e, b"val").as_deref().and_then(word_heading_level),
                b"t" => in_text = true,
                b"tab" => cur.push('\t'),
                b"br" | b"cr" => cur.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => cur.push_str(&t.unescape().map_err(|e| xml_error(F, e))?),
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => paras.push((level, std::mem::take(&mut cur))),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut d = from_paragraphs(F, stem, title, &paras)?;
    d.marking = zip.entry("docProps/custom.xml")?.and_then(|x| classification(&x));
    Ok(d)
}

pub fn odt(stem: &str, bytes: &[u8]) -> Result<Document> {
    const F: &str = "ODT";
    let mut zip = open_zip(F, bytes)?;
    let xml = zip
        .entry("content.xml")?
        .ok_or_else(|| ExtractError::Corrupt { format: F, reason: "content.xml is missing".into() })?;
    let title = zip.entry("meta.xml")?.and_then(|x| dc_title(&x));
    let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    let mut paras: Vec<(Option<usize>, String)> = Vec::new();
    // Paragraphs nest (notes, frames): keep a stack.
    let mut stack: Vec<(Option<usize>, String)> = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| xml_error(F, e))? {
            Event::Start(e) => match e.local_name().as_ref() {
                b"h" => {
                    let l = attr(&e, b"outline-level").and_then(|v| v.parse().ok()).unwrap_or(1);
                    stack.push((Some(l), String::new()));
                }
                b"p" => stack.push((None, String::new())),
                _ => {}
            },
            Event::Empty(e) => {
                if let Some((_, cur)) = stack.last_mut() {
                    match e.local_name().as_ref() {
                        b"s" => {
                            let n = attr(&e, b"c").and_then(|v| v.parse().ok()).unwrap_or(1usize);
                            cur.push_str(&" ".repeat(n.min(16)));
                        }
                        b"tab" => cur.push('\t'),
                        b"line-break" => cur.push('\n'),
                        _ => {}
                    }
                }
            }
            Event::Text(t) => {
                if let Some((_, cur)) = stack.last_mut() {
                    cur.push_str(&t.unescape().map_err(|e| xml_error(F, e))?);
                }
            }
            Event::End(e) if matches!(e.local_name().as_ref(), b"h" | b"p") => {
                if let Some(p) = stack.pop() {
                    paras.push(p);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut d = from_paragraphs(F, stem, title, &paras)?;
    d.marking = zip.entry("meta.xml")?.and_then(|x| classification(&x));
    Ok(d)
}

pub fn pptx(stem: &str, bytes: &[u8]) -> Result<Document> {
    const F: &str = "PPTX";
    let mut zip = open_zip(F, bytes)?;
    let mut slides: Vec<(u32, String)> = zip
        .archive
        .file_names()
        .filter_map(|n| {
            let num = n.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?.parse().ok()?;
            Some((num, n.to_string()))
        })
        .collect();
    if slides.is_empty() {
        return Err(ExtractError::Corrupt { format: F, reason: "no slide found under ppt/slides/".into() });
    }
    slides.sort();
    let title = zip.entry("docProps/core.xml")?.and_then(|x| dc_title(&x));
    let mut sections = Vec::new();
    let mut body = String::new();
    for (num, name) in slides {
        let xml = zip.entry(&name)?.unwrap_or_default();
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        let mut buf = Vec::new();
        let (mut text, mut in_t) = (String::new(), false);
        loop {
            match reader.read_event_into(&mut buf).map_err(|e| xml_error(F, e))? {
                Event::Start(e) if e.local_name().as_ref() == b"t" => in_t = true,
                Event::Text(t) if in_t => text.push_str(&t.unescape().map_err(|e| xml_error(F, e))?),
                Event::End(e) => match e.local_name().as_ref() {
                    b"t" => in_t = false,
                    b"p" => text.push('\n'),
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        let text = normalize_whitespace(&text);
        if !text.is_empty() {
            body.push_str(&text);
            body.push_str("\n\n");
            sections.push(Section { locator: Locator::Slide(num), text });
        }
    }
    let title = title
        .or_else(|| sections.first().and_then(|s| s.text.lines().next()).map(str::to_string))
        .unwrap_or_else(|| stem.to_string());
    let mut d = non_empty(F, doc(title, body, sections), "")?;
    d.marking = zip.entry("docProps/custom.xml")?.and_then(|x| classification(&x));
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DOCX whose document expands from a few hundred KB to `size` bytes.
    fn docx_of(size: usize) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("word/document.xml", o).unwrap();
        w.write_all(b"<w:document><w:body><w:p><w:r><w:t>Bombe</w:t></w:r></w:p>").unwrap();
        let pad = vec![b' '; 1 << 20];
        for _ in 0..size >> 20 {
            w.write_all(&pad).unwrap();
        }
        w.write_all(b"</w:body></w:document>").unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_expands() {
        let bomb = docx_of((MAX_ENTRY_BYTES as usize) + (2 << 20));
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        let e = docx("bombe", &bomb).unwrap_err().to_string();
        assert!(e.contains("zip bomb") && e.contains("word/document.xml"), "{e}");
        // Under the cap, the same file is read.
        assert_eq!(docx("petit", &docx_of(1 << 20)).unwrap().body.trim(), "Bombe");
    }

    /// Depth costs no stack: the XML of office files is read by a
    /// streaming reader and the HTML tree is walked without recursion
    /// (200,000 levels: an error or a document, never a crash).
    #[test]
    fn deeply_nested_xml_and_html_are_read_without_recursion() {
        use std::io::Write;
        let depth = 200_000;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("word/document.xml", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(b"<w:document><w:body>").unwrap();
        w.write_all(&b"<w:p>".repeat(depth)).unwrap();
        w.write_all(b"<w:r><w:t>Profond</w:t></w:r>").unwrap();
        w.write_all(&b"</w:p>".repeat(depth)).unwrap();
        w.write_all(b"</w:body></w:document>").unwrap();
        let deep = w.finish().unwrap().into_inner();
        let _ = docx("profond", &deep);
        let page = format!("<html><body>{}Profond{}</body></html>", "<div>".repeat(depth), "</div>".repeat(depth));
        let _ = html("profond", &page);
    }

    #[test]
    fn markdown_sections_follow_heading_path() {
        let d = markdown("x", "# Projet\nIntro.\n## Dates\nLe 12 mars.\n### Détail\nÀ 8h.\n## Budget\n120 k€\n```\n# not a heading\n```\n").unwrap();
        assert_eq!(d.title, "Projet");
        let names: Vec<String> = d.sections.iter().map(|s| s.locator.display()).collect();
        assert_eq!(names, ["Projet", "Projet > Dates", "Projet > Dates > Détail", "Projet > Budget"]);
        assert!(d.sections[3].text.contains("# not a heading"));
    }

    #[test]
    fn html_keeps_headings_and_title() {
        let d = html("x", "<html><head><title>Guide</title><style>p{}</style></head><body><h1>Accès</h1><p>Badge&nbsp;requis.</p><h2>VPN</h2><ul><li>un</li><li>deux</li></ul></body></html>").unwrap();
        assert_eq!(d.title, "Guide");
        assert_eq!(d.sections[0].locator.display(), "Accès");
        assert!(d.sections[0].text.contains("Badge requis."), "{:?}", d.sections);
        assert_eq!(d.sections[1].locator.display(), "Accès > VPN");
        assert!(!d.body.contains("p{}"));
    }

    #[test]
    fn word_styles() {
        assert_eq!(word_heading_level("Heading2"), Some(2));
        assert_eq!(word_heading_level("Titre1"), Some(1));
        assert_eq!(word_heading_level("Title"), None);
        assert_eq!(word_heading_level("Titre"), None);
        assert_eq!(word_heading_level("Normal"), None);
    }

    #[test]
    fn corrupt_containers_are_errors() {
        assert!(matches!(docx("x", b"not a zip"), Err(ExtractError::Corrupt { .. })));
        assert!(matches!(pdf("x", b"%PDF-1.4 garbage"), Err(ExtractError::Corrupt { .. })));
        assert!(matches!(plain("x", "  \n "), Err(ExtractError::NoText { .. })));
    }
}
