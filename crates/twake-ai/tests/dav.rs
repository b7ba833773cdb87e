//! The WebDAV and CalDAV connectors against real servers started by this
//! test on loopback: wsgidav (a WebDAV share) and Radicale (CalDAV), both
//! from PyPI. The share: folders walked, files read by the same extractors
//! as `ingest`, a picture not downloaded, a corrupt PDF and a file over the
//! size limit skipped with a notice, an edit, a move, a deleted folder,
//! readers from the source's config (a group), the server killed in the
//! middle of a backfill and restarted. The calendars: discovery from the
//! server's URL, events with their attendees as readers, an unchanged
//! calendar not listed again (ctag), an edited and a deleted event, a new
//! and a deleted calendar, and `.ics` files through `ingest`. Wrong
//! passwords, clear text without `--insecure`, a server that is not
//! WebDAV. And a local folder: hidden entries skipped, a Maildir read as
//! mail, watched under `serve` (a new, an edited and a deleted file).
//! Needs the real embedding model (`TWAKE_AI_TEST_MODELS=1`) and
//! the servers (`TWAKE_AI_TEST_DAV`, the python of their virtualenv:
//! `scripts/dav-env.sh`), as `make test` provides.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{count, found_paths, free_port, ok, source_status, twake_cmd, twake_env, wait_for};
use serde_json::Value;

/// The source's password, in the environment of every run.
const PASSWORD: &[(&str, &str)] = &[("DAV_PASSWORD", "s3cret-dav")];

fn twake(dir: &Path, args: &[&str]) -> Output {
    twake_env(dir, args, PASSWORD)
}

const ALICE: &str = "alice@valmont.fr";
const BOB: &str = "bob@valmont.fr";
const CAROL: &str = "carol@valmont.fr";

/// A server process (python), killed on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    argv: Vec<String>,
}

impl Server {
    fn start(argv: Vec<String>, port: u16) -> Server {
        let mut s = Server { child: None, port, argv };
        s.run();
        s
    }

    fn run(&mut self) {
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        wait_for(self.port, &mut child);
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn python() -> Option<PathBuf> {
    if !twake_testkit::models() {
        return None;
    }
    twake_testkit::needs("TWAKE_AI_TEST_DAV", "set it to the python scripts/dav-env.sh prints (make test does)")
        .map(PathBuf::from)
}

fn wsgidav(python: &Path, dir: &Path, share: &Path) -> Server {
    let port = free_port();
    let config = serde_json::json!({
        "host": "127.0.0.1", "port": port, "provider_mapping": {"/": share},
        "http_authenticator": {"accept_basic": true, "accept_digest": false, "default_to_digest": false},
        "simple_dc": {"user_mapping": {"*": {"twake": {"password": "s3cret-dav"}}}},
        "verbose": 0, "logging": {"enable_loggers": []}
    });
    let path = dir.join("wsgidav.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let bin = python.with_file_name("wsgidav");
    Server::start(vec![bin.display().to_string(), "--config".into(), path.display().to_string()], port)
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn webdav_share_syncs_edits_moves_deletions_and_survives_a_crash() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    let d = &tmp.path().join("data");
    write(
        &share.join("Finances/budget.txt"),
        "Budget 2027 : le plafond du lot Rhône est de 42 000 euros (code FX-301).",
    );
    write(
        &share.join("Finances/Compte rendu.md"),
        "# Comité financier\n\nLe comité valide la ligne FX-302 pour la rénovation du gymnase.\n",
    );
    write(&share.join("RH/2026/notes.md"), "# Notes RH\n\nLe recrutement RH-77 est suspendu jusqu'en janvier.\n");
    write(&share.join("photo.png"), b"\x89PNG\r\n\x1a\nnot really an image");
    write(&share.join("broken.pdf"), b"%PDF-1.7\nthis is not a PDF at all");
    write(&share.join("Archives/gros.txt"), "volumineux FX-399 ".repeat(200_000));
    let mut server = wsgidav(&python, tmp.path(), &share);
    let url = server.url();

    // Refused at once: clear text without --insecure, a wrong password.
    let add = ["sources", "add", "share", "--kind", "webdav", "--url", &url, "--user", "twake"];
    let out = twake(d, &[&add[..], &["--readers", "group:finance", "--secret-env", "DAV_PASSWORD"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"), "{out:?}");
    let mut cmd = twake_cmd(d, &[&add[..], &["--readers", "group:finance", "--insecure"]].concat(), PASSWORD);
    let out = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(b"wrong-password\n").unwrap();
    let out = out.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refused the login"), "{err}");
    assert!(!err.contains("wrong-password"), "the secret is never printed: {err}");

    let flags = ["--readers", "group:finance", "--insecure", "--max-file-mb", "1", "--secret-env", "DAV_PASSWORD"];
    let out = ok(twake(d, &[&add[..], &flags[..]].concat()));
    assert!(out.contains("added share (webdav"), "{out}");
    ok(twake(d, &["access", "groups", "add", "group:finance", ALICE]));

    let out = twake(d, &["sources", "sync", "share"]);
    let (s, err) = (ok(out.clone()), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(count(&s, "stored"), 3, "{s}\n{err}");
    assert!(err.contains("broken.pdf cannot be read"), "{err}");
    assert!(err.contains("Archives/gros.txt is larger than the limit of 1 MB"), "{err}");
    assert!(!err.contains("photo.png"), "a picture is neither downloaded nor reported: {err}");
    assert_eq!(source_status(d, "share")["items"], 3);
    assert_eq!(found_paths(d, ALICE, "plafond lot Rhône FX-301")[0], "webdav://share/Finances/budget.txt");
    assert!(
        found_paths(d, ALICE, "ligne FX-302 gymnase").contains(&"webdav://share/Finances/Compte rendu.md".to_string())
    );
    assert!(found_paths(d, ALICE, "recrutement RH-77").contains(&"webdav://share/RH/2026/notes.md".to_string()));
    assert!(found_paths(d, BOB, "plafond lot Rhône FX-301").is_empty(), "Bob is not in group:finance");

    // Nothing changed: nothing read again (the skipped files neither).
    let s = ok(twake(d, &["sources", "sync", "share"]));
    assert_eq!((count(&s, "stored"), count(&s, "unchanged"), count(&s, "removed")), (0, 3, 0), "{s}");

    // An edit, a move, a deleted folder.
    write(
        &share.join("Finances/budget.txt"),
        "Budget 2027 révisé : le plafond du lot Rhône passe à 45 000 euros (code FX-311).",
    );
    std::fs::rename(share.join("Finances/Compte rendu.md"), share.join("Compte rendu comité.md")).unwrap();
    std::fs::remove_dir_all(share.join("RH")).unwrap();
    let s = ok(twake(d, &["sources", "sync", "share"]));
    assert_eq!((count(&s, "stored"), count(&s, "edited"), count(&s, "removed")), (2, 1, 2), "{s}");
    assert_eq!(source_status(d, "share")["items"], 2);
    let hits = found_paths(d, ALICE, "plafond lot Rhône FX-311 45 000");
    assert_eq!(hits.iter().filter(|p| p.ends_with("budget.txt")).count(), 1, "{hits:?}");
    assert!(found_paths(d, ALICE, "recrutement RH-77 suspendu").iter().all(|p| !p.contains("RH/")));
    let moved = found_paths(d, ALICE, "ligne FX-302 gymnase");
    assert!(moved.contains(&"webdav://share/Compte rendu comité.md".to_string()), "{moved:?}");
    assert!(!moved.iter().any(|p| p.contains("Finances/Compte")), "{moved:?}");

    // A backfill of 100 files, the server killed in its middle.
    for i in 0..100 {
        write(
            &share.join(format!("Lots/lot-{i:03}.txt")),
            format!("Le bordereau LT-{i:04} concerne le lot {i} du chantier."),
        );
    }
    let child = twake_cmd(d, &["sources", "sync", "share"], PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let before_kill = loop {
        let items = source_status(d, "share")["items"].as_i64().unwrap_or(0);
        if items >= 2 + 20 {
            break items;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the backfill did not progress");
        std::thread::sleep(Duration::from_millis(100));
    };
    server.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("cannot reach"), "the sync fails once its retries are spent: {err}");
    let st = source_status(d, "share");
    assert_eq!(st["status"], "failing", "{st}");
    let kept = st["items"].as_i64().unwrap();
    assert!(kept >= before_kill && kept < 102, "what was stored is kept, and the backfill was cut: {kept}");
    server.run();
    // Files stored after the last saved cursor are read again but found
    // unchanged: nothing is stored twice.
    let s = ok(twake(d, &["sources", "sync", "share"]));
    assert!(count(&s, "stored") as i64 <= 102 - kept, "{s}");
    assert_eq!(count(&s, "stored") + count(&s, "unchanged"), 102, "{s}");
    let st = source_status(d, "share");
    assert_eq!((st["status"].as_str(), st["items"].as_i64()), (Some("ok"), Some(102)), "{st}");
    for i in [0, 47, 99] {
        let code = format!("bordereau LT-{i:04}");
        let hits = found_paths(d, ALICE, &code);
        let want = format!("webdav://share/Lots/lot-{i:03}.txt");
        assert_eq!(hits.iter().filter(|p| **p == want).count(), 1, "{code}: {hits:?}");
    }

    // Removing the source forgets what it brought.
    let out = ok(twake(d, &["sources", "remove", "share"]));
    assert!(out.contains("102 items forgotten"), "{out}");
    assert!(found_paths(d, ALICE, "plafond lot Rhône FX-311").is_empty());
}

/// Radicale with users alice and bob (passwords in clear in its htpasswd:
/// a test server).
fn radicale(python: &Path, dir: &Path) -> Server {
    let port = free_port();
    std::fs::write(dir.join("users"), "alice:s3cret-dav\nbob:bob-pass\n").unwrap();
    let config = format!(
        "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\n\
         htpasswd_encryption = plain\n[storage]\nfilesystem_folder = {store}\n[rights]\ntype = owner_only\n\
         [logging]\nlevel = warning\n",
        users = dir.join("users").display(),
        store = dir.join("collections").display()
    );
    std::fs::write(dir.join("radicale.cfg"), config).unwrap();
    let argv = vec![python.display().to_string(), "-m".into(), "radicale".into(), "--config".into()];
    Server::start([argv, vec![dir.join("radicale.cfg").display().to_string()]].concat(), port)
}

/// A CalDAV request as a calendar client would make it.
fn dav(method: &str, url: &str, body: Option<&str>) -> u16 {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:s3cret-dav", "-X", method, url]);
    if let Some(b) = body {
        c.args(["-H", "Content-Type: text/calendar; charset=utf-8", "--data-binary", b]);
    }
    let out = c.output().expect("curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn event(uid: &str, summary: &str, start: &str, attendees: &[&str], description: &str) -> String {
    let people: String =
        attendees.iter().map(|a| format!("ATTENDEE;CN={a};PARTSTAT=ACCEPTED:mailto:{a}\r\n")).collect();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//twake test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20261101T080000Z\r\nSUMMARY:{summary}\r\nDTSTART;TZID=Europe/Paris:{start}\r\n\
         DURATION:PT1H30M\r\nORGANIZER;CN=Alice Martin:mailto:{ALICE}\r\n{people}DESCRIPTION:{description}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[test]
fn caldav_calendars_sync_events_with_their_attendees_and_ics_files_ingest() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = &tmp.path().join("data");
    let server = radicale(&python, tmp.path());
    let url = server.url();
    let cal = format!("{url}alice/travail/");
    assert_eq!(dav("MKCALENDAR", &cal, None), 201);
    let events = [
        ("copil", "Comité de pilotage Lyon", "20261204T140000", vec![BOB], "Validation du lot 3 (code CP-501)."),
        ("budget", "Arbitrages budgétaires", "20260710T090000", vec![], "Plafond du lot Rhône (code CP-502)."),
        ("rh", "Entretien annuel Carol", "20261208T100000", vec![CAROL], "Objectifs 2027 (code CP-503)."),
    ];
    for (uid, summary, start, people, desc) in &events {
        let ics = event(uid, summary, start, people, desc);
        assert_eq!(dav("PUT", &format!("{cal}{uid}.ics"), Some(&ics)), 201);
    }

    let add = ["sources", "add", "agenda", "--kind", "caldav", "--url", &url, "--owner", ALICE, "--user", "alice"];
    let out = twake(d, &[&add[..], &["--insecure", "--secret-env", "NO_SUCH_VARIABLE"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO_SUCH_VARIABLE"), "{out:?}");
    // A WebDAV share is not a calendar server.
    let share = tmp.path().join("share");
    write(&share.join("a.txt"), "rien");
    let plain_dav = wsgidav(&python, tmp.path(), &share);
    let other = ["sources", "add", "x", "--kind", "caldav", "--url", &plain_dav.url(), "--user", "twake"];
    let out = twake(d, &[&other[..], &["--owner", ALICE, "--insecure", "--secret-env", "DAV_PASSWORD"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no calendar at"), "{out:?}");
    drop(plain_dav);

    // Discovered from the server's URL (current-user-principal, then the
    // calendar home).
    ok(twake(d, &[&add[..], &["--insecure", "--secret-env", "DAV_PASSWORD"]].concat()));
    let s = ok(twake(d, &["sources", "sync", "agenda"]));
    assert_eq!(count(&s, "stored"), 3, "{s}");
    let hits = found_paths(d, ALICE, "comité de pilotage lot 3 CP-501");
    assert_eq!(hits[0], "caldav://agenda/alice/travail/copil.ics", "{hits:?}");
    // Bob attends the steering committee, not the budget meeting.
    assert!(found_paths(d, BOB, "comité de pilotage lot 3 CP-501").contains(&hits[0]));
    assert!(!found_paths(d, BOB, "arbitrages budgétaires CP-502").iter().any(|p| p.contains("budget.ics")));
    assert!(!found_paths(d, CAROL, "comité de pilotage CP-501").iter().any(|p| p.contains("copil.ics")));
    // The time is given in its zone, with the right offset (summer time).
    let v: Value =
        serde_json::from_str(&ok(twake(d, &["search", "--as", ALICE, "--json", "arbitrages CP-502"]))).unwrap();
    let top = &v["results"][0];
    assert!(top["snippet"].as_str().unwrap().contains("2026-07-10 09:00–10:30 (Europe/Paris)"), "{top}");

    // An unchanged calendar is not listed again.
    let s = ok(twake(d, &["sources", "sync", "agenda"]));
    assert_eq!((count(&s, "stored"), count(&s, "unchanged")), (0, 3), "{s}");

    // An edited event, a deleted one, a new calendar.
    let moved = event(
        "copil",
        "Comité de pilotage Lyon (reporté)",
        "20261211T140000",
        &[BOB],
        "Report du lot 3 (code CP-511).",
    );
    assert_eq!(dav("PUT", &format!("{cal}copil.ics"), Some(&moved)), 204);
    assert_eq!(dav("DELETE", &format!("{cal}rh.ics"), None), 200);
    let perso = format!("{url}alice/perso/");
    assert_eq!(dav("MKCALENDAR", &perso, None), 201);
    let ics = event("dentiste", "Dentiste", "20261215T170000", &[], "Rendez-vous (code CP-504).");
    assert_eq!(dav("PUT", &format!("{perso}dentiste.ics"), Some(&ics)), 201);
    let s = ok(twake(d, &["sources", "sync", "agenda"]));
    assert_eq!((count(&s, "stored"), count(&s, "edited"), count(&s, "removed")), (2, 1, 1), "{s}");
    let hits = found_paths(d, BOB, "comité de pilotage reporté CP-511");
    assert_eq!(hits.iter().filter(|p| p.ends_with("copil.ics")).count(), 1, "{hits:?}");
    assert!(found_paths(d, ALICE, "entretien annuel Carol CP-503").iter().all(|p| !p.ends_with("rh.ics")));
    assert!(found_paths(d, ALICE, "dentiste CP-504").contains(&"caldav://agenda/alice/perso/dentiste.ics".to_string()));

    // A deleted calendar takes its events with it.
    assert_eq!(dav("DELETE", &perso, None), 200);
    let s = ok(twake(d, &["sources", "sync", "agenda"]));
    assert_eq!(count(&s, "removed"), 1, "{s}");
    assert_eq!(source_status(d, "agenda")["items"], 2);

    // The same reader for .ics files given to `ingest`.
    let files = tmp.path().join("files");
    write(
        &files.join("seminaire.ics"),
        event("sem", "Séminaire de direction", "20270114T090000", &[], "Lieu : Annecy (code CP-601)."),
    );
    ok(twake(d, &["ingest", "--readers", ALICE, files.to_str().unwrap()]));
    let v: Value =
        serde_json::from_str(&ok(twake(d, &["search", "--as", ALICE, "--json", "séminaire de direction Annecy"])))
            .unwrap();
    let top = &v["results"][0];
    assert!(top["path"].as_str().unwrap().ends_with("seminaire.ics"), "{top}");
    assert!(top["snippet"].as_str().unwrap().contains("2027-01-14 09:00–10:30 (Europe/Paris)"), "{top}");
}

#[test]
fn local_folder_is_watched_under_serve() {
    if !twake_testkit::models() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("partage");
    let d = &tmp.path().join("data");
    write(&dir.join("notes.md"), "# Réunion\n\nLe local FD-101 est réservé pour le comité.\n");
    write(&dir.join("Projets/lyon.txt"), "Le chantier FD-102 de Lyon reprend lundi.");
    write(&dir.join(".cache/brouillon.txt"), "FD-103 ne doit pas être indexé.");
    // A Maildir inside the folder: its messages are mails.
    write(
        &dir.join("Courrier/cur/1700000000.M1.host:2,S"),
        "From: Bob <bob@valmont.fr>\nTo: Alice <alice@valmont.fr>\nSubject: Devis FD-104\nMessage-ID: <fd104@valmont.fr>\n\nLe devis FD-104 est joint.\n",
    );
    write(&dir.join("Courrier/new/.keep"), "");

    let out =
        twake(d, &["sources", "add", "partage", "--kind", "folder", "--path", "/no/such/folder", "--owner", ALICE]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open the folder /no/such/folder"), "{out:?}");
    let path = dir.to_str().unwrap();
    ok(twake(d, &["sources", "add", "partage", "--kind", "folder", "--path", path, "--owner", ALICE]));
    let s = ok(twake(d, &["sources", "sync", "partage"]));
    assert_eq!(count(&s, "stored"), 3, "{s}");
    assert_eq!(found_paths(d, ALICE, "local réservé FD-101")[0], "folder://partage/notes.md");
    assert!(
        found_paths(d, ALICE, "FD-103 brouillon").iter().all(|p| !p.contains(".cache")),
        "hidden entries are skipped"
    );
    let v: Value = serde_json::from_str(&ok(twake(d, &["search", "--as", BOB, "--json", "devis FD-104"]))).unwrap();
    assert_eq!(v["results"][0]["title"], "Devis FD-104", "a Maildir's messages are mails, read by their sender");
    assert!(found_paths(d, BOB, "chantier Lyon FD-102").iter().all(|p| !p.ends_with("lyon.txt")), "Bob is no reader");

    // Under `serve` the folder is watched: a new file is searchable, an
    // edited one is read again and a deleted one leaves, long before the
    // next periodic sync (an hour here).
    let key = ok(twake(d, &["keys", "create", "--user", ALICE])).trim().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = common::Kill(
        twake_cmd(d, &["serve", "--listen", &listen, "--sync-every", "3600"], PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(listen.rsplit(':').next().unwrap().parse().unwrap(), &mut server.0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let search = |query: &str| {
        rt.block_on(async {
            http.post(format!("http://{listen}/api/v1/search"))
                .bearer_auth(&key)
                .json(&serde_json::json!({"query": query, "k": 20}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(120), "{what} never seen by serve");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    write(&dir.join("Projets/nantes.txt"), "Le chantier FD-105 de Nantes est livré.");
    until("a new file", &|| search("chantier Nantes FD-105").contains("folder://partage/Projets/nantes.txt"));
    write(&dir.join("notes.md"), "# Réunion\n\nLe local FD-111 remplace le FD-101 pour le comité.\n");
    until("an edit", &|| search("local comité FD-111").contains("FD-111"));
    std::fs::remove_file(dir.join("Projets/lyon.txt")).unwrap();
    until("a deletion", &|| !search("chantier Lyon FD-102").contains("folder://partage/Projets/lyon.txt"));
    drop(server);
    assert_eq!(source_status(d, "partage")["items"], 3);
}
