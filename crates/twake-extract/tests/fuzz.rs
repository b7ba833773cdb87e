//! Every parser survives random input. The seeds are real files of each
//! format (the fixtures, broken ones included, and the sample workspace),
//! mutated at random with a fixed seed: bytes flipped, cut, spliced,
//! deleted, multi-byte characters, NULs and long runs of one byte
//! inserted. A parser may answer an error; it may not panic. An input that
//! made one panic is written to `tests/fuzz-crashes/` (`FORMAT-HASH.bin`)
//! and replayed by every later run, so a fixed crash stays fixed.
//!
//! `make test` runs a bounded number of rounds; `make fuzz` many more
//! (`TWAKE_AI_FUZZ_ROUNDS`, `TWAKE_AI_FUZZ_SEED`). A stack overflow
//! aborts the process instead of panicking: with `TWAKE_AI_FUZZ_LAST=FILE`
//! each input is written there before it is parsed (`make fuzz` does).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use twake_extract::{Format, extract};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use twake_testkit::Rng;

const INSERTS: &[&[u8]] = &[
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
    b"\0",
    b"\xff\xfe",
    b"\r\n\r\n",
    b"-->",
    b"<",
    b"=?utf-8?B?",
    b"BEGIN:VEVENT\r\n",
    b"DTSTART:2026",
    b"RRULE:FREQ=WEEKLY;BYDAY=\xc3\xa9;UNTIL=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    b"00:00:01.\xc3\xa9\xc3\xa9 --> 00:00:02.000",
    b"Content-Type: multipart/mixed; boundary=",
    b"{\"messages\":[",
    b"PK\x03\x04",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(b.len() + 1);
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next_u64() as u8;
            }
            1 => b.truncate(at),
            2 => {
                let s = INSERTS[rng.below(INSERTS.len())];
                b.splice(at..at, s.iter().copied());
            }
            3 => {
                // Splice a slice of the file elsewhere.
                let (from, len) = (rng.below(b.len()), rng.below(512));
                let piece: Vec<u8> = b.iter().skip(from).take(len).copied().collect();
                b.splice(at..at, piece);
            }
            4 => {
                let end = (at + rng.below(256)).min(b.len());
                b.drain(at..end);
            }
            5 => {
                const RUNS: &[u8] = b"<{[\n(:-0";
                let run = vec![RUNS[rng.below(RUNS.len())]; 1 + rng.below(4096)];
                b.splice(at..at, run);
            }
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next_u64() as u8).collect();
                b.splice(at..at, junk);
            }
        }
    }
    b
}

/// The seed files: every fixture and sample file whose format is known,
/// and a calendar (no calendar file ships with the fixtures).
fn seeds() -> Vec<(Format, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root().join("tests/fixtures"), root().join("examples/workspace/shared")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            if let Some(f) = Format::detect(&name, &bytes[..bytes.len().min(4096)]) {
                out.push((f, name, bytes));
            }
        }
    }
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\n\
               DTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
               END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:a@valmont.fr\r\nSUMMARY:Comité de pilotage\r\n\
               DTSTART;TZID=Europe/Paris:20261120T100000\r\nDTEND;TZID=Europe/Paris:20261120T110000\r\n\
               RRULE:FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20270301T000000Z\r\nORGANIZER:mailto:alice@valmont.fr\r\n\
               ATTENDEE;CN=Bob:mailto:bob@valmont.fr\r\nDESCRIPTION:Ordre du jour\\, suite\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    out.push((Format::Ics, "agenda.ics".into(), ics.as_bytes().to_vec()));
    let text = "Compte rendu\n\nLa bascule a lieu le 14 mars 2027. Contact : alice@valmont.fr\n";
    out.push((Format::Text, "notes.txt".into(), text.as_bytes().to_vec()));
    let formats: std::collections::BTreeSet<&str> = out.iter().map(|(f, ..)| f.name()).collect();
    assert_eq!(formats.len(), Format::ALL.len(), "a seed for every format: {formats:?}");
    out
}

fn panics(format: Format, name: &str, input: &[u8]) -> Option<String> {
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = extract(format, name, input);
    }));
    r.err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn crash_dir() -> PathBuf {
    root().join("tests/fuzz-crashes")
}

/// One test, so that no other test runs while the panic hook is quiet.
#[test]
fn every_parser_survives_mutated_real_files() {
    replay_kept_inputs();
    let rounds: usize = std::env::var("TWAKE_AI_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let seed: u64 = std::env::var("TWAKE_AI_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x7a4b_e0a1);
    let mut rng = Rng(seed | 1);
    let seeds = seeds();
    let last = std::env::var_os("TWAKE_AI_FUZZ_LAST").map(PathBuf::from);
    let mut crashes = Vec::new();
    let mut runs = 0;
    for (format, name, bytes) in &seeds {
        for _ in 0..rounds {
            let input = mutate(&mut rng, bytes);
            runs += 1;
            if let Some(last) = &last {
                // A stack overflow aborts the process: what it read is here.
                std::fs::write(last, &input).unwrap();
                std::fs::write(last.with_extension("format"), format!("{format:?} {name}")).unwrap();
            }
            // Quiet the default hook while a parser runs: a caught panic
            // is reported below.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let panicked = panics(*format, name, &input);
            std::panic::set_hook(hook);
            if let Some(why) = panicked {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                input.hash(&mut h);
                std::fs::create_dir_all(crash_dir()).unwrap();
                let kept = crash_dir().join(format!("{format:?}-{:016x}.bin", h.finish()));
                std::fs::write(&kept, &input).unwrap();
                crashes.push(format!("{name} ({}): {why} → {}", format.name(), kept.display()));
            }
        }
    }
    eprintln!("fuzz: {runs} inputs over {} seeds, {} panics", seeds.len(), crashes.len());
    assert!(
        crashes.is_empty(),
        "parsers panicked on {} inputs (kept as fixtures):\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}

/// The inputs that once made a parser panic, replayed.
fn replay_kept_inputs() {
    let mut replayed = 0;
    for e in std::fs::read_dir(crash_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(format) = Format::ALL.iter().copied().find(|f| name.starts_with(&format!("{f:?}-"))) else {
            continue;
        };
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(panics(format, &name, &bytes), None, "{name} panics again");
        replayed += 1;
    }
    eprintln!("fuzz: {replayed} kept inputs replayed");
}
