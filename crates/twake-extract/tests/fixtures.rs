//! Parser tests on the fixture files of every supported format, broken
//! ones included (`tests/fixtures/` and the sample workspace).

use std::path::{Path, PathBuf};

use twake_extract::{ExtractError, Format, chunk_document, extract};
use twake_types::{Locator, SourceKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> (String, Vec<u8>) {
    let p = root().join(rel);
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    (name, std::fs::read(&p).unwrap_or_else(|e| panic!("{rel}: {e}")))
}

fn run(rel: &str) -> Result<twake_extract::Extracted, ExtractError> {
    let (name, bytes) = read(rel);
    let format = Format::detect(&name, &bytes).unwrap_or_else(|| panic!("{rel}: format not detected"));
    extract(format, &name, &bytes)
}

#[test]
fn mbox_threads_quotes_signatures_html_and_rfc2047() {
    let ex = run("examples/workspace/shared/mail/projet-lyon.mbox").unwrap();
    assert_eq!(ex.documents.len(), 3);
    let first = &ex.documents[0];
    assert_eq!(first.kind, SourceKind::Mail);
    assert_eq!(first.title, "Migration du datacenter de Lyon — calendrier");
    assert_eq!(first.message_id.as_deref(), Some("lyon-001@valmont.fr"));
    assert!(first.sections[0].text.contains("14 mars 2027"));
    assert!(!first.sections[0].text.contains("Directrice"), "signature must not be indexed");
    assert!(first.body.contains("Directrice"), "signature stays readable in the stored body");
    // Replies belong to the first message's thread.
    assert!(ex.documents.iter().all(|d| d.thread_id.as_deref() == Some("lyon-001@valmont.fr")));
    let reply = &ex.documents[1];
    assert!(!reply.sections[0].text.contains("> Bonjour"), "quoted text must not be indexed");
    assert!(reply.body.contains("a écrit"));
    // HTML-only message turned into text.
    let html = &ex.documents[2];
    assert!(html.sections[0].text.contains("répétition générale"));
    assert!(!html.sections[0].text.contains("<b>"));
    assert!(!html.sections[0].text.contains("la date nous convient"), "HTML blockquote must not be indexed");
    assert!(html.body.contains("la date nous convient"), "but stays readable");
}

#[test]
fn eml_with_text_attachment() {
    let ex = run("examples/workspace/shared/mail/vendor-northwind.eml").unwrap();
    let d = &ex.documents[0];
    assert!(d.sections[0].text.contains("February 20, 2027"));
    assert!(!d.sections[0].text.contains("Could you confirm"));
    let att = d
        .sections
        .iter()
        .find(|s| s.locator == Locator::Section("attachment delivery-terms.txt".into()))
        .expect("attachment");
    assert!(att.text.contains("48 hours"));
}

#[test]
fn base64_html_and_latin1_quoted_printable() {
    let d = &run("tests/fixtures/mail/html-only.eml").unwrap().documents[0];
    assert_eq!(d.title, "Réunion budgétaire");
    assert_eq!(d.author.as_deref(), Some("Élodie Garnier <elodie@valmont.fr>"));
    assert!(d.sections[0].text.contains("jeudi 12 novembre"), "{:?}", d.sections);
    let d = &run("tests/fixtures/mail/latin1-quoted.eml").unwrap().documents[0];
    assert_eq!(d.title, "Congés d'été");
    assert_eq!(d.thread_id.as_deref(), Some("root@valmont.fr"));
    assert!(d.sections[0].text.contains("congés d'été sont à déposer avant le 31 mars"));
    assert!(!d.sections[0].text.contains("Quelle est la date limite"));
}

#[test]
fn maildir_message_is_detected_as_mail() {
    let rel = "examples/workspace/shared/mail/maildir/cur/1731400000.M1P1.valmont:2,S";
    let (name, bytes) = read(rel);
    assert_eq!(Format::detect(&name, &bytes), Some(Format::Eml));
    let d = &run(rel).unwrap().documents[0];
    assert_eq!(d.title, "Formation RGPD obligatoire à Grenoble");
    assert!(d.sections[0].text.contains("9 décembre 2026"));
}

#[test]
fn broken_mail_is_an_error_and_a_broken_message_does_not_lose_the_mbox() {
    let (name, bytes) = read("tests/fixtures/mail/broken.eml");
    assert!(extract(Format::Eml, &name, &bytes).is_err());
    let ex = run("tests/fixtures/mail/mixed.mbox").unwrap();
    assert_eq!(ex.documents.len(), 2, "{:?}", ex.warnings);
    assert_eq!(ex.warnings.len(), 1);
    assert!(ex.warnings[0].starts_with("message #2"));
}

#[test]
fn markdown_and_html_sections() {
    let d = &run("examples/workspace/shared/docs/guide-teletravail.md").unwrap().documents[0];
    assert_eq!(d.title, "Guide du télétravail");
    let s = d.sections.iter().find(|s| s.text.contains("trois jours")).unwrap();
    assert_eq!(s.locator.display(), "Guide du télétravail > Règles générales");
    let d = &run("examples/workspace/shared/docs/security-policy.html").unwrap().documents[0];
    assert_eq!(d.title, "Information Security Policy");
    let s = d.sections.iter().find(|s| s.text.contains("14 characters")).unwrap();
    assert_eq!(s.locator.display(), "Information Security Policy > Passwords");
    assert!(!d.body.contains("font-family"));
}

#[test]
fn pdf_pages_are_locators() {
    let d = &run("tests/fixtures/files/two-pages.pdf").unwrap().documents[0];
    assert_eq!(d.sections.len(), 2);
    assert_eq!(d.sections[1].locator, Locator::Page(2));
    assert!(d.sections[1].text.contains("Venissieux"));
    let d = &run("examples/workspace/shared/docs/budget-infrastructure-2027.pdf").unwrap().documents[0];
    let s = d.sections.iter().find(|s| s.text.contains("1,2 million")).expect("budget sentence");
    assert_eq!(s.locator, Locator::Page(2));
}

#[test]
fn office_formats_keep_heading_paths_and_slides() {
    let d = &run("tests/fixtures/files/headings.docx").unwrap().documents[0];
    assert_eq!(d.title, "Headings test");
    assert_eq!(d.sections[0].locator.display(), "Contexte");
    assert!(d.sections[0].text.contains("Premier paragraphe & symboles <ok>."));
    assert_eq!(d.sections[1].locator.display(), "Contexte > Détails");
    let d = &run("tests/fixtures/files/headings.odt").unwrap().documents[0];
    assert_eq!(d.title, "ODT test");
    assert_eq!(d.sections[1].locator.display(), "Intro > Part");
    let d = &run("tests/fixtures/files/slides.pptx").unwrap().documents[0];
    assert_eq!(d.sections[1].locator, Locator::Slide(2));
    assert_eq!(d.sections[1].text, "Second slide text");
    let d = &run("examples/workspace/shared/docs/architecture-lyon.docx").unwrap().documents[0];
    assert!(d.sections.iter().any(|s| s.text.contains("12 serveurs") && s.locator.display() == "Infrastructure"));
}

#[test]
fn corrupt_office_and_pdf_files_are_clear_errors() {
    for rel in ["tests/fixtures/files/corrupt.pdf", "tests/fixtures/files/corrupt.docx"] {
        let err = run(rel).unwrap_err();
        assert!(matches!(err, ExtractError::Corrupt { .. }), "{rel}: {err}");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}

#[test]
fn transcripts_have_speakers_and_cue_times() {
    let d = &run("tests/fixtures/vtt/meeting.vtt").unwrap().documents[0];
    assert_eq!(d.kind, SourceKind::Transcript);
    assert_eq!(d.sections[0].text, "Claire: Bonjour, on commence.");
    assert_eq!(d.sections[1].text, "Bob: Hello everyone & welcome.");
    assert_eq!(d.sections[1].locator, Locator::Cue { start_ms: 6000, end_ms: 9000 });
    let d = &run("tests/fixtures/vtt/meeting.srt").unwrap().documents[0];
    assert_eq!(d.sections[1].text, "Bob: Second point, on two lines.");
    assert_eq!(d.sections[1].locator, Locator::Cue { start_ms: 4500, end_ms: 8250 });
    assert!(run("tests/fixtures/vtt/broken.vtt").is_err());
    // A meeting becomes windows of consecutive cues located by time.
    let d = &run("examples/workspace/shared/meetings/comite-pilotage-2026-11-20.vtt").unwrap().documents[0];
    let chunks = chunk_document(d);
    assert!(
        chunks.iter().any(|c| c.text.contains("Claire Dubois: Décision") && matches!(c.locator, Locator::Cue { .. }))
    );
    assert_eq!(d.title, "Comité de pilotage migration Lyon, 20 novembre 2026");
}

#[test]
fn unknown_formats_are_not_detected() {
    assert_eq!(Format::detect("photo.jpg", b"\xff\xd8\xff"), None);
}
