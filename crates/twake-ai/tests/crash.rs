//! Crash safety of ingestion, end to end on the real models: `twake-ai
//! ingest` killed with SIGKILL at random points, again and again, then run
//! to its end, must leave exactly what one uninterrupted run leaves —
//! nothing lost, nothing twice — and a store that `twake-ai check` finds in
//! step with the lexical and vector indexes. `TWAKE_AI_CRASH_KILLS` sets
//! the number of kills (3 here; `make crash` runs 25) and
//! `TWAKE_AI_CRASH_SEED` the random points.
//!
//! Also: a damaged lexical index is found by `check` and repaired by
//! `check --repair`; a running `serve` sees what a CLI ingest adds to its
//! data directory without a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::twake;

fn check(dir: &Path) -> (serde_json::Value, Option<i32>) {
    let out = twake(dir, &["check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code())
}

const READERS: &str = "alice.martin@valmont.fr,bob.leroy@valmont.fr";

/// The sample workspace and, beside it, 120 notes and a mailbox of 60
/// messages: enough for an ingestion to take a while on two cores.
fn corpus(dir: &Path) -> String {
    let copy = Command::new("cp").arg("-r").arg(common::root().join("examples/workspace")).arg(dir).status().unwrap();
    assert!(copy.success());
    let notes = dir.join("workspace/notes");
    std::fs::create_dir_all(&notes).unwrap();
    let sites = ["Lyon", "Nantes", "Lille", "Rennes", "Brest", "Metz"];
    for i in 0..120 {
        let site = sites[i % sites.len()];
        std::fs::write(
            notes.join(format!("note-{i:03}.md")),
            format!(
                "# Note {i} sur le site de {site}\n\nLe lot {i} du chantier de {site} compte {} baies et {} serveurs ; \
                 la revue est fixée au {} mars avec l'équipe réseau.\n",
                i * 3 + 7,
                i * 11 % 97,
                i % 28 + 1
            ),
        )
        .unwrap();
    }
    let mut mbox = String::new();
    for i in 0..60 {
        mbox.push_str(&format!(
            "From alice@valmont.fr Mon Mar  2 10:{:02}:00 2026\nFrom: Alice <alice.martin@valmont.fr>\nTo: bob.leroy@valmont.fr\n\
             Subject: Point {i} inventaire\nMessage-ID: <inv-{i}@valmont.fr>\nDate: Mon, 2 Mar 2026 10:{:02}:00 +0100\n\n\
             Bob, l'inventaire {i} signale {} disques à remplacer avant vendredi.\n\n",
            i % 60,
            i % 60,
            i * 5 % 41 + 2
        ));
    }
    std::fs::write(notes.join("inventaire.mbox"), mbox).unwrap();
    dir.join("workspace").to_str().unwrap().to_string()
}

/// A small deterministic generator (xorshift): the kill points.
struct Points(u64);

impl Points {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

#[test]
fn ingestion_killed_at_random_points_loses_nothing_and_duplicates_nothing() {
    if !twake_testkit::models() {
        return;
    }
    let kills: u64 = std::env::var("TWAKE_AI_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("TWAKE_AI_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash: {kills} kills, TWAKE_AI_CRASH_SEED={seed}");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let corpus = corpus.as_str();

    // A new data directory is consistent (nothing written, nothing to
    // commit), not "behind".
    let (empty, code) = check(&tmp.path().join("new"));
    assert_eq!(code, Some(0), "{empty}");

    // How long one uninterrupted run takes: the kills land within it.
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    let out = twake(&reference, &["ingest", "--readers", READERS, corpus]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let whole = started.elapsed();
    let (first, code) = check(&reference);
    assert_eq!(code, Some(0), "{first}");
    assert!(first["found"]["files"].as_i64().unwrap() > 130, "{first}");
    eprintln!("an uninterrupted ingestion: {whole:?}, {first}");

    let data = tmp.path().join("killed");
    let mut points = Points(seed);
    let mut killed_mid_way = 0;
    for i in 0..kills {
        // Every round changes 40 notes, so that each run has work to be
        // killed in: new files, and files replaced (old chunks out, new in).
        for _ in 0..40 {
            let n = points.next(120);
            let note = Path::new(corpus).join(format!("notes/note-{n:03}.md"));
            let text = std::fs::read_to_string(&note).unwrap();
            std::fs::write(&note, format!("{text}Révision {i} : lot {n} vérifié.\n")).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
            .current_dir(common::root())
            .arg("--data-dir")
            .arg(&data)
            .args(["ingest", "--readers", READERS, corpus])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere from loading the models to the end of a whole run (the
        // first round) or of a run over the changed notes (the others).
        let window = if i == 0 { whole } else { whole / 2 };
        let at = Duration::from_millis(points.next(window.as_millis() as u64 + 1));
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed_mid_way += u32::from(!finished);
        // What a kill leaves: a sound store, never a damaged vector; a
        // lexical index that may be behind, but then says so (its last
        // commit is of an older generation, and the next open rebuilds it).
        let (found, _) = check(&data);
        let f = &found["found"];
        assert_eq!(f["store_problems"], serde_json::json!([]), "kill {i} at {at:?}: {found}");
        assert_eq!(f["bad_vectors"], serde_json::json!([]), "kill {i} at {at:?}: {found}");
        let agrees = f["lexical_missing_count"] == 0 && f["lexical_extra_count"] == 0;
        assert!(
            agrees || f["lexical_generation"] != f["generation"],
            "kill {i} at {at:?}: the lexical index differs from the store yet claims its generation: {found}"
        );
        eprintln!(
            "kill {i} after {at:?}: {} files, {} chunks stored, lexical index {} missing and {} extra (generation {} of {})",
            f["files"],
            f["chunks"],
            f["lexical_missing_count"],
            f["lexical_extra_count"],
            f["lexical_generation"],
            f["generation"]
        );
    }
    eprintln!("{killed_mid_way} of {kills} kills landed during an ingestion");
    assert!(kills == 0 || killed_mid_way > 0, "no kill landed during an ingestion");

    // What an uninterrupted run on the final files leaves.
    let reference = tmp.path().join("reference-final");
    let out = twake(&reference, &["ingest", "--readers", READERS, corpus]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (expected, code) = check(&reference);
    assert_eq!(code, Some(0), "{expected}");

    // Run to the end: the same files, documents and chunks as the reference.
    let out = twake(&data, &["ingest", "--readers", READERS, corpus]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (after, code) = check(&data);
    assert_eq!(code, Some(0), "{after}");
    for k in ["files", "documents", "chunks"] {
        assert_eq!(
            after["found"][k], expected["found"][k],
            "{k} differ from an uninterrupted run: {after} vs {expected}"
        );
    }
    let out = twake(&data, &["ingest", "--readers", READERS, corpus]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 new, 0 updated, "), "{stdout}");
    let search = |dir: &Path| {
        let out = twake(dir, &["search", "--as", "alice.martin@valmont.fr", "--json", "bascule datacenter Lyon"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let results = v["results"].as_array().unwrap().clone();
        assert!(!results.is_empty(), "{v}");
        results.iter().map(|r| (r["path"].clone(), r["snippet"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(search(&data), search(&reference), "the same passages, in the same order");

    // A damaged lexical index: found, then repaired.
    std::fs::remove_dir_all(data.join("lexical/default")).unwrap();
    let (found, code) = check(&data);
    assert_eq!(code, Some(3), "{found}");
    assert_eq!(found["found"]["lexical_missing_count"], expected["found"]["chunks"], "{found}");
    let out = twake(&data, &["check", "--repair"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("repaired: rebuilt the lexical and vector indexes"), "{stdout}");
    let (after, code) = check(&data);
    assert_eq!(code, Some(0), "{after}");
    assert_eq!(search(&data), search(&reference));
}

fn search_api(url: &str, key: &str, query: &str) -> serde_json::Value {
    let body = serde_json::json!({ "query": query, "k": 3 }).to_string();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-H", &format!("Authorization: Bearer {key}")])
        .args(["-H", "Content-Type: application/json", "--data", &body, url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_running_server_sees_what_another_process_ingests() {
    if !twake_testkit::models() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = twake(&data, &["ingest", "--readers", READERS, "examples/workspace/shared"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = twake(&data, &["keys", "create", "--user", "alice.martin@valmont.fr"]);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = common::free_port();
    let mut server = common::Kill(
        Command::new(env!("CARGO_BIN_EXE_twake-ai"))
            .current_dir(common::root())
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--sync-every", "0", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for(port, &mut server.0);
    let url = format!("http://127.0.0.1:{port}/api/v1/search");
    let query = "tortues luth Bretagne";
    let titles = |v: &serde_json::Value| -> Vec<String> {
        v["results"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap_or("").to_string()).collect()
    };
    let before = search_api(&url, &key, query);
    assert!(!titles(&before).iter().any(|t| t.contains("tortues")), "{before}");

    // The CLI ingests a new file while the server runs.
    let note: PathBuf = tmp.path().join("notes/tortues.md");
    std::fs::create_dir_all(note.parent().unwrap()).unwrap();
    std::fs::write(
        &note,
        "# Comptage des tortues\n\nLe comptage des tortues luth en Bretagne aura lieu le 12 juin à Douarnenez.\n",
    )
    .unwrap();
    // With 40 more notes, the CLI's ingestion spans several of the
    // server's checks: it sees the store move before the lexical commit.
    for i in 0..40 {
        std::fs::write(
            note.with_file_name(format!("n{i:02}.md")),
            format!("# Relevé {i}\n\nLe relevé {i} du parc de Nantes compte {} postes.\n", 10 + i),
        )
        .unwrap();
    }
    let notes = note.parent().unwrap().to_str().unwrap();
    let out = twake(&data, &["ingest", "--readers", "alice.martin@valmont.fr", notes]);
    assert!(out.status.success(), "the CLI ingests while serve runs: {}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = search_api(&url, &key, query);
        if titles(&v).first().is_some_and(|t| t.contains("tortues")) {
            break;
        }
        assert!(Instant::now() < deadline, "serve never saw the new document: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Both indexes of the server hold every stored chunk: the vectors from
    // the store, the lexical index from the CLI's commit.
    let (on_disk, _) = check(&data);
    let chunks = on_disk["found"]["chunks"].as_i64().unwrap();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("curl").args(["-sS", &metrics_url]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let gauge = |name: &str| -> Option<i64> {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok())
        };
        let lexical = gauge("twake_index_chunks{index=\"lexical\"}");
        let vectors = gauge("twake_index_chunks{index=\"vectors\"}");
        if lexical == Some(chunks) && vectors == Some(chunks) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve's indexes: lexical {lexical:?}, vectors {vectors:?}, stored {chunks}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Readers changed by the CLI: Alice no longer reads it.
    let out = twake(&data, &["ingest", "--readers", "bob.leroy@valmont.fr", note.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = search_api(&url, &key, query);
        if !titles(&v).iter().any(|t| t.contains("tortues")) {
            break;
        }
        assert!(Instant::now() < deadline, "serve still shows a document Alice may no longer read: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}
