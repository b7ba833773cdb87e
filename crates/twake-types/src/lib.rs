//! Domain types of TwakeAI.
//!
//! This crate is the bottom of the crate graph: it does no I/O, knows no JSON
//! and depends on nothing but `thiserror`. Everything above it speaks these
//! types: a [`Document`] is one readable unit (a mail message, a file, a
//! transcript), a [`Chunk`] is the passage that is indexed and cited, and an
//! [`AccessPass`] is the only key that opens an index read.

mod access;
pub mod civil;
mod sensitivity;

pub use access::{AccessPass, Directory, Principal, PrincipalError, PrincipalKind, Tenant};
pub use sensitivity::Sensitivity;

use std::fmt;

/// Stable identifier of a document: a hex digest derived from where it came
/// from (the file path and, for mail, the Message-ID or position).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(pub String);

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of source a document was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Mail,
    Document,
    Transcript,
    /// A chat message (a Matrix room event).
    Chat,
    /// A calendar event (an iCalendar `VEVENT`).
    Event,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Mail => "mail",
            SourceKind::Document => "document",
            SourceKind::Transcript => "transcript",
            SourceKind::Chat => "chat",
            SourceKind::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mail" => Some(SourceKind::Mail),
            "document" => Some(SourceKind::Document),
            "transcript" => Some(SourceKind::Transcript),
            "chat" => Some(SourceKind::Chat),
            "event" => Some(SourceKind::Event),
            _ => None,
        }
    }
}

/// Where inside its document a passage sits, so a citation can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A whole mail message (the citation points at its Message-ID).
    Message,
    /// A 1-based PDF page.
    Page(u32),
    /// A 1-based presentation slide.
    Slide(u32),
    /// A heading path such as `Planning > Dates`; empty for text before the
    /// first heading.
    Section(String),
    /// A window of transcript cues, in milliseconds from the start.
    Cue { start_ms: u64, end_ms: u64 },
}

impl Locator {
    /// Human-readable form used in citations and in the JSON contract.
    pub fn display(&self) -> String {
        match self {
            Locator::Message => String::new(),
            Locator::Page(n) => format!("page {n}"),
            Locator::Slide(n) => format!("slide {n}"),
            Locator::Section(s) => s.clone(),
            Locator::Cue { start_ms, end_ms } => {
                format!("{}–{}", format_ms(*start_ms), format_ms(*end_ms))
            }
        }
    }

    /// Compact, lossless encoding for storage (`page:3`, `cue:1000-5000`...).
    pub fn encode(&self) -> String {
        match self {
            Locator::Message => "message".into(),
            Locator::Page(n) => format!("page:{n}"),
            Locator::Slide(n) => format!("slide:{n}"),
            Locator::Section(s) => format!("section:{s}"),
            Locator::Cue { start_ms, end_ms } => format!("cue:{start_ms}-{end_ms}"),
        }
    }

    /// Inverse of [`Locator::encode`]; `None` for text it did not produce.
    pub fn decode(s: &str) -> Option<Self> {
        if s == "message" {
            return Some(Locator::Message);
        }
        let (kind, rest) = s.split_once(':')?;
        match kind {
            "page" => rest.parse().ok().map(Locator::Page),
            "slide" => rest.parse().ok().map(Locator::Slide),
            "section" => Some(Locator::Section(rest.to_string())),
            "cue" => {
                let (a, b) = rest.split_once('-')?;
                Some(Locator::Cue { start_ms: a.parse().ok()?, end_ms: b.parse().ok()? })
            }
            _ => None,
        }
    }
}

/// `HH:MM:SS` (hours omitted when zero).
pub fn format_ms(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 { format!("{h:02}:{m:02}:{s:02}") } else { format!("{m:02}:{s:02}") }
}

/// One readable unit extracted from a source file, before chunking.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: SourceKind,
    /// Stable key of this document inside its file (Message-ID, or `""` for
    /// a file that yields a single document).
    pub key: String,
    pub title: String,
    pub message_id: Option<String>,
    /// Root Message-ID of the thread the message belongs to.
    pub thread_id: Option<String>,
    pub author: Option<String>,
    /// RFC 3339 date when the source has one.
    pub date: Option<String>,
    /// The full readable text, quotes and signatures included.
    pub body: String,
    /// Who sent and received a mail (lowercased addresses); empty for
    /// other documents. Participants can read the message they exchanged.
    pub participants: Vec<Participant>,
    /// An explicit classification found in the source (a mail's
    /// `Sensitivity:` or `X-Classification:` header, a document's
    /// `Classification` property), as written there.
    pub marking: Option<String>,
    /// The passages to index, in order.
    pub sections: Vec<Section>,
}

impl Document {
    /// A document with no sections, participants or mail fields yet.
    pub fn new(kind: SourceKind, title: impl Into<String>, body: impl Into<String>) -> Self {
        Document {
            kind,
            key: String::new(),
            title: title.into(),
            message_id: None,
            thread_id: None,
            author: None,
            date: None,
            body: body.into(),
            participants: vec![],
            marking: None,
            sections: vec![],
        }
    }
}

/// A role in a mail exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    From,
    To,
    Cc,
    Bcc,
    /// A member of a chat room when the message was sent.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::From => "from",
            Role::To => "to",
            Role::Cc => "cc",
            Role::Bcc => "bcc",
            Role::Member => "member",
        }
    }
}

/// An address that took part in a mail exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub role: Role,
    pub address: String,
}

/// A structural piece of a document (a message without its quotes, a page,
/// a heading section, a cue), the input of the chunker.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub locator: Locator,
    pub text: String,
}

/// The passage that is indexed, retrieved and cited.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub ordinal: u32,
    pub locator: Locator,
    pub text: String,
}
