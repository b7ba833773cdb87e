//! Pure parsers and chunkers.
//!
//! Boundary: bytes in, [`Document`]s and [`Chunk`]s out. No file system walk,
//! no network, no async: the caller reads the bytes and says what the file is
//! called. Architecture invariant: a malformed input yields an
//! [`ExtractError`] or a warning, never a panic that escapes this crate (the
//! third-party PDF parser is run under `catch_unwind`).

mod calendar;
pub mod chat;
pub mod chunk;
mod docs;
mod mail;
mod text;
mod transcript;

pub use chunk::chunk_document;
pub use mail::strip_quotes_and_signature;
pub use text::normalize_whitespace;

use twake_types::Document;

/// A file format this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Eml,
    Mbox,
    Markdown,
    Text,
    Html,
    Pdf,
    Docx,
    Odt,
    Pptx,
    WebVtt,
    Srt,
    Ics,
    /// A Matrix room exported as JSON (Element's "Export chat").
    MatrixExport,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::Eml,
        Format::Mbox,
        Format::Markdown,
        Format::Text,
        Format::Html,
        Format::Pdf,
        Format::Docx,
        Format::Odt,
        Format::Pptx,
        Format::WebVtt,
        Format::Srt,
        Format::Ics,
        Format::MatrixExport,
    ];

    /// The format whose [`Format::name`] this is.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Eml => "e-mail (EML)",
            Format::Mbox => "mbox",
            Format::Markdown => "Markdown",
            Format::Text => "plain text",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
            Format::Docx => "DOCX",
            Format::Odt => "ODT",
            Format::Pptx => "PPTX",
            Format::WebVtt => "WebVTT",
            Format::Srt => "SRT",
            Format::Ics => "iCalendar",
            Format::MatrixExport => "Matrix room export (JSON)",
        }
    }

    /// Guesses the format from the file name, then from the first bytes.
    /// `None` means the file is not something TwakeAI reads.
    pub fn detect(file_name: &str, head: &[u8]) -> Option<Format> {
        let lower = file_name.to_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let by_ext = match ext {
            "eml" => Some(Format::Eml),
            "mbox" | "mbx" => Some(Format::Mbox),
            "md" | "markdown" => Some(Format::Markdown),
            "txt" | "text" => Some(Format::Text),
            "html" | "htm" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            "docx" => Some(Format::Docx),
            "odt" => Some(Format::Odt),
            "pptx" => Some(Format::Pptx),
            "vtt" => Some(Format::WebVtt),
            "srt" => Some(Format::Srt),
            "ics" | "ical" | "ifb" => Some(Format::Ics),
            // Only a room export among JSON files.
            "json" => return looks_like_room_export(head).then_some(Format::MatrixExport),
            _ => None,
        };
        if by_ext.is_some() {
            return by_ext;
        }
        // No known extension: sniff.
        if head.starts_with(b"From ") {
            return Some(Format::Mbox);
        }
        if head.starts_with(b"%PDF-") {
            return Some(Format::Pdf);
        }
        if head.starts_with(b"WEBVTT") {
            return Some(Format::WebVtt);
        }
        if head.starts_with(b"BEGIN:VCALENDAR") {
            return Some(Format::Ics);
        }
        if looks_like_mail_headers(head) {
            return Some(Format::Eml);
        }
        None
    }
}

fn looks_like_room_export(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{') && (text.contains("\"room_name\"") || text.contains("\"messages\""))
}

fn looks_like_mail_headers(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]);
    let mut names = 0;
    for line in text.lines().take(30) {
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if ["from:", "to:", "subject:", "message-id:", "date:", "received:"].iter().any(|h| lower.starts_with(h)) {
            names += 1;
        }
    }
    names >= 2
}

/// What went wrong reading one file. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{format} file is corrupt or unreadable: {reason}")]
    Corrupt { format: &'static str, reason: String },
    #[error("{format} file has no text to index{hint}")]
    NoText { format: &'static str, hint: &'static str },
    #[error("this {format} file contains binary data: is it really {format}? Rename it or remove it from the folder")]
    Binary { format: &'static str },
}

pub type Result<T, E = ExtractError> = std::result::Result<T, E>;

/// The documents read from one file, and the parts of it that could not be
/// read (a broken message inside an mbox does not lose the others).
#[derive(Debug, Default)]
pub struct Extracted {
    pub documents: Vec<Document>,
    pub warnings: Vec<String>,
}

/// Reads one file's bytes. `file_name` is used for titles and for the
/// format of mail attachments.
pub fn extract(format: Format, file_name: &str, bytes: &[u8]) -> Result<Extracted> {
    let stem = file_stem(file_name);
    let single = |d: Document| Extracted { documents: vec![d], warnings: vec![] };
    let text = |format: Format| text::decode_text(bytes).ok_or(ExtractError::Binary { format: format.name() });
    match format {
        Format::Eml => mail::parse_message(bytes).map(single),
        Format::Mbox => mail::parse_mbox(bytes),
        Format::Markdown => docs::markdown(&stem, &text(format)?).map(single),
        Format::Text => docs::plain(&stem, &text(format)?).map(single),
        Format::Html => docs::html(&stem, &text(format)?).map(single),
        Format::Pdf => docs::pdf(&stem, bytes).map(single),
        Format::Docx => docs::docx(&stem, bytes).map(single),
        Format::Odt => docs::odt(&stem, bytes).map(single),
        Format::Pptx => docs::pptx(&stem, bytes).map(single),
        Format::WebVtt => transcript::webvtt(&stem, &text(format)?).map(single),
        Format::Srt => transcript::srt(&stem, &text(format)?).map(single),
        Format::Ics => calendar::ics(&stem, &text(format)?),
        Format::MatrixExport => chat::room_export(&stem, bytes),
    }
}

fn file_stem(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_extension_then_content() {
        assert_eq!(Format::detect("a/b/Notes.MD", b""), Some(Format::Markdown));
        assert_eq!(Format::detect("inbox", b"From alice@x Mon Jan 1\n"), Some(Format::Mbox));
        assert_eq!(Format::detect("1700000.M1P2.host:2,S", b"From: a@x\nSubject: hi\n\nbody"), Some(Format::Eml));
        assert_eq!(Format::detect("x.bin", b"\x00\x01"), None);
        assert_eq!(Format::detect("noext", b"%PDF-1.4"), Some(Format::Pdf));
        assert_eq!(Format::detect("room.json", b"{\n  \"room_name\": \"Lyon\""), Some(Format::MatrixExport));
        assert_eq!(Format::detect("package.json", b"{\"name\": \"x\"}"), None, "other JSON is not read");
    }

    #[test]
    fn stems() {
        assert_eq!(file_stem("dir/Compte-rendu.v2.docx"), "Compte-rendu.v2");
        assert_eq!(file_stem(".hidden"), ".hidden");
    }
}
