//! The IMAP connector against a real Dovecot (Debian `dovecot-imapd`),
//! started by this test on loopback with its own configuration, a
//! certificate made for it, and mail delivered and changed with `doveadm`
//! as an administrator would: initial sync over TLS, new mail, a deleted
//! mail, a renamed folder, a UIDVALIDITY change, the server killed in the
//! middle of a backfill and restarted, the sync process itself killed
//! (SIGKILL) at random points of another (`TWAKE_AI_CRASH_KILLS`, default
//! 3), `serve` indexing new mail as IDLE
//! announces it, a wrong password, a refused
//! certificate, a server answering garbage, a 50 MB mail and a message that
//! is not a mail. Needs the real embedding model (`TWAKE_AI_TEST_MODELS=1`)
//! and Dovecot (`scripts/install-deps.sh --test`), as `make test` provides.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::twake_env as twake;
use common::{count, free_port, ok, twake_cmd};
use serde_json::Value;

const ALICE: &str = "alice@valmont.fr";
const BOB: &str = "bob@valmont.fr";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Dovecot serving IMAP (STARTTLS-capable, port `port`) and IMAPS
/// (`tls_port`) on 127.0.0.1, in its own process group, killed on drop.
struct Dovecot {
    dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
    port: u16,
    tls_port: u16,
}

impl Dovecot {
    fn start(dir: &Path) -> Dovecot {
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        let d = dir.display();
        // An authority of the organisation's own, and the server's
        // certificate it signed.
        let ssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args).stderr(Stdio::null()));
        ssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Valmont Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        ssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
        ]);
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        ssl(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "cert.pem",
        ]);
        std::fs::write(dir.join("users"), format!("{ALICE}:{{PLAIN}}pw-alice-1\n{BOB}:{{PLAIN}}pw-bob-1\n")).unwrap();
        // As root, Dovecot's own unprivileged users run it and own the
        // mail; otherwise the current user does everything.
        let root_user = run(Command::new("id").arg("-u")).trim() == "0";
        let (uid, users) = if root_user {
            ("dovecot".to_string(), String::new())
        } else {
            let me = run(Command::new("id").arg("-un")).trim().to_string();
            (me.clone(), format!("default_internal_user = {me}\ndefault_login_user = {me}\n"))
        };
        let (port, tls_port) = (free_port(), free_port());
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n{users}\
             first_valid_uid = 1\nfirst_valid_gid = 1\nprotocols = imap\nlisten = 127.0.0.1\nssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\nmail_location = maildir:~/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={d}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = 100\n}}\n"
        );
        let path = dir.join("dovecot.conf");
        std::fs::write(&path, conf).unwrap();
        if root_user {
            run(Command::new("chmod").arg("755").arg(dir));
            run(Command::new("chown").arg("-R").arg("dovecot:dovecot").arg(dir.join("mail")));
        }
        let mut d = Dovecot { dir: dir.to_path_buf(), conf: path, child: None, port, tls_port };
        d.run();
        d
    }

    fn run(&mut self) {
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("dovecot (Debian dovecot-imapd; scripts/install-deps.sh --test installs it)");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Dovecot did not start: see {}",
                self.dir.join("dovecot.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server and every process it started, as a crash would.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", c.id())]).status();
            let _ = c.wait();
        }
    }

    fn doveadm(&self, args: &[&str]) -> String {
        run(Command::new("doveadm").arg("-c").arg(&self.conf).args(args))
    }

    /// Delivers a message into a folder of a user's mailbox.
    fn save(&self, user: &str, folder: &str, message: &[u8]) {
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(["save", "-u", user, "-m", folder])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message).unwrap();
        assert!(child.wait().unwrap().success(), "doveadm save into {folder}");
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

fn mail(id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Alice Martin <{ALICE}>\r\nSubject: {subject}\r\nMessage-ID: <{id}@valmont.fr>\r\n\
         Date: Mon, 30 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Titles and paths of what `user` finds for `query` (20 best).
fn found(dir: &Path, user: &str, query: &str) -> Vec<(String, String)> {
    let out = ok(twake(dir, &["search", "--as", user, "-k", "20", "--json", query], &[]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["title"].as_str().unwrap_or("").to_string(), r["path"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// How many results for `query` have `title`.
fn hits(dir: &Path, user: &str, query: &str, title: &str) -> usize {
    found(dir, user, query).iter().filter(|(t, _)| t == title).count()
}

fn status(dir: &Path) -> Value {
    let out = twake(dir, &["sources", "status", "--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sources status: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    v[0].clone()
}

fn sync(dir: &Path) -> String {
    ok(twake(dir, &["sources", "sync", "mail"], &[]))
}

#[test]
fn imap_mailbox_syncs_incrementally_through_deletions_renames_and_a_crash() {
    if !twake_testkit::models() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut dove = Dovecot::start(&tmp.path().join("dovecot"));
    let d = &tmp.path().join("data");
    for f in ["Projets", "Envoy&AOk-s", "Masse"] {
        dove.doveadm(&["mailbox", "create", "-u", ALICE, f]);
    }
    let bob = "Bob Leroy <bob@valmont.fr>";
    for (folder, id, from, subject, body) in [
        ("INBOX", "m1", bob, "Marché MX-4471", "Le marché MX-4471 est attribué à Nordlys pour 182 000 euros."),
        ("INBOX", "m2", "RH <rh@valmont.fr>", "Formation QZ-2290", "La formation QZ-2290 a lieu le 8 décembre à Lyon."),
        ("INBOX", "m3", "DSI <dsi@valmont.fr>", "Badge KV-3318", "Votre badge KV-3318 est prêt à l'accueil."),
        ("Projets", "p1", bob, "Lot PL-7702", "Le lot PL-7702 couvre les switchs du datacenter."),
        ("Projets", "p2", bob, "Jalon JH-5150", "Le jalon JH-5150 est fixé au 14 décembre."),
        ("Envoy&AOk-s", "s1", "Alice Martin <alice@valmont.fr>", "Devis DV-6044", "Je valide le devis DV-6044."),
    ] {
        dove.save(ALICE, folder, &mail(id, from, subject, body));
    }
    // Not a mail at all, and a multipart whose boundary never comes: the
    // first is skipped with a notice, the second read as far as it goes.
    dove.save(ALICE, "INBOX", b"this is not a mail at all\r\n");
    dove.save(
        ALICE,
        "INBOX",
        b"From: x@valmont.fr\r\nSubject: Cassure BR-9911\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nLe colis BR-9911 est parti.\r\n",
    );
    // A 50 MB mail: skipped above the 25 MB limit, with a notice.
    let mut big = mail("big", "Scanner <scan@valmont.fr>", "Scan GG-1000", "");
    let line = [b"A".repeat(76), b"\r\n".to_vec()].concat();
    for _ in 0..(50 << 20) / line.len() + 1 {
        big.extend_from_slice(&line);
    }
    dove.save(ALICE, "INBOX", &big);

    // Settings refused before any connection, then bad servers.
    let add = |extra: &[&str], pw: &str| {
        let mut args = vec!["sources", "add", "mail", "--kind", "imap", "--owner", ALICE, "--secret-env", "PW"];
        args.extend(extra);
        twake(d, &args, &[("PW", pw)])
    };
    let plain = format!("127.0.0.1:{}", dove.port);
    let out = add(&["--server", &plain, "--security", "plain"], "pw-alice-1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to send credentials in clear"));
    let out = add(&["--server", &plain, "--security", "plain", "--insecure"], "wrong-password");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("refused the login"), "{err}");
    assert!(!err.contains("wrong-password"), "the secret is never printed: {err}");
    let tls = format!("localhost:{}", dove.tls_port);
    let out = add(&["--server", &tls], "pw-alice-1");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("--ca-file"), "a self-signed certificate is refused: {err}");
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in garbage.incoming().flatten() {
            let _ = (&s).write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let out = add(&["--server", &format!("127.0.0.1:{garbage_port}"), "--security", "plain", "--insecure"], "pw");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("does not answer like an IMAP server"), "{err}");
    assert!(ok(twake(d, &["sources", "list"], &[])).trim().is_empty(), "nothing kept from failed additions");

    // Over TLS, trusting the test's own authority.
    let ca = dove.dir.join("ca.pem");
    ok(add(&["--server", &tls, "--ca-file", ca.to_str().unwrap()], "pw-alice-1"));
    let listed = ok(twake(d, &["sources", "list", "--json"], &[]));
    assert!(!listed.contains("pw-alice-1"), "{listed}");
    let out = twake(d, &["sources", "sync", "mail"], &[]);
    let summary = ok(out.clone());
    let notices = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(count(&summary, "stored"), 7, "{summary}\n{notices}");
    assert!(notices.contains("cannot be read as a mail"), "{notices}");
    assert!(notices.contains("is 50 MB, above the limit of 25 MB"), "{notices}");
    assert_eq!(status(d)["items"], 7);
    assert_eq!(hits(d, ALICE, "marché MX-4471 Nordlys", "Marché MX-4471"), 1);
    assert_eq!(hits(d, ALICE, "devis DV-6044", "Devis DV-6044"), 1, "the folder Envoyés is read");
    assert_eq!(hits(d, ALICE, "colis BR-9911", "Cassure BR-9911"), 1, "broken MIME is read as far as it goes");
    // Alice's mailbox is hers; Bob reads only the mail he sent her (mail
    // participants read what they exchanged, as for ingested mail).
    assert_eq!(hits(d, BOB, "badge KV-3318 accueil", "Badge KV-3318"), 0);
    assert_eq!(hits(d, BOB, "marché MX-4471 Nordlys", "Marché MX-4471"), 1);
    // Nothing changed: nothing stored, nothing removed.
    let again = sync(d);
    assert_eq!((count(&again, "stored"), count(&again, "removed")), (0, 0), "{again}");

    // New mail, a deleted mail, a renamed folder.
    dove.save(
        ALICE,
        "INBOX",
        &mail("m4", "Bob Leroy <bob@valmont.fr>", "Salle SL-8120", "La réunion a lieu en salle SL-8120."),
    );
    dove.doveadm(&["expunge", "-u", ALICE, "mailbox", "INBOX", "header", "Message-ID", "<m2@valmont.fr>"]);
    dove.doveadm(&["mailbox", "rename", "-u", ALICE, "Projets", "Archives"]);
    let s = sync(d);
    assert_eq!((count(&s, "stored"), count(&s, "removed")), (3, 3), "{s}");
    assert_eq!(hits(d, ALICE, "salle SL-8120", "Salle SL-8120"), 1);
    assert_eq!(hits(d, ALICE, "formation QZ-2290 Lyon", "Formation QZ-2290"), 0, "a deleted mail disappears");
    let lot = found(d, ALICE, "lot PL-7702 switchs");
    assert!(lot.iter().any(|(t, p)| t == "Lot PL-7702" && p.contains("/Archives/")), "{lot:?}");
    assert!(!lot.iter().any(|(_, p)| p.contains("/Projets/")), "{lot:?}");
    assert_eq!(status(d)["items"], 7);

    // The server renumbers INBOX: read again, no duplicate.
    dove.doveadm(&["mailbox", "update", "-u", ALICE, "--uid-validity", "777", "INBOX"]);
    let s = sync(d);
    assert_eq!(count(&s, "stored"), count(&s, "removed"), "{s}");
    assert!(count(&s, "stored") >= 4, "{s}");
    assert_eq!(status(d)["items"], 7);
    assert_eq!(hits(d, ALICE, "marché MX-4471 Nordlys", "Marché MX-4471"), 1);

    // A backfill of 300 mails, the server killed in its middle.
    for i in 0..300 {
        let body = format!("Le bordereau BX-{i:04} de la série masse concerne le lot {i}.");
        dove.save(
            ALICE,
            "Masse",
            &mail(&format!("x{i}"), "Logistique <log@valmont.fr>", &format!("Bordereau BX-{i:04}"), &body),
        );
    }
    let child =
        twake_cmd(d, &["sources", "sync", "mail"], &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let before_kill = loop {
        let items = status(d)["items"].as_i64().unwrap();
        if items >= 7 + 50 {
            break items;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the backfill did not progress");
        std::thread::sleep(Duration::from_millis(100));
    };
    dove.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the sync fails once its retries are spent: {err}");
    let st = status(d);
    assert_eq!(st["status"], "failing", "{st}");
    let kept = st["items"].as_i64().unwrap();
    assert!(kept >= before_kill && kept < 307, "what was stored is kept, and the backfill was cut: {kept}");
    dove.run();
    let s = sync(d);
    assert_eq!(count(&s, "stored") as i64, 307 - kept, "{s}");
    let st = status(d);
    assert_eq!((st["items"].as_i64(), st["status"].as_str()), (Some(307), Some("ok")), "{st}");
    for i in [0, 150, 299] {
        let title = format!("Bordereau BX-{i:04}");
        assert_eq!(hits(d, ALICE, &format!("bordereau BX-{i:04}"), &title), 1, "{title} once");
    }

    // The sync process itself killed (SIGKILL) at random points of a
    // backfill, again and again: what it stored stays sound, and the sync
    // that runs to the end leaves every mail once.
    dove.doveadm(&["mailbox", "create", "-u", ALICE, "Masse2"]);
    for i in 0..120 {
        let body = format!("Le colis KX-{i:04} de la série tournée part du quai {i}.");
        dove.save(
            ALICE,
            "Masse2",
            &mail(&format!("k{i}"), "Quai <quai@valmont.fr>", &format!("Colis KX-{i:04}"), &body),
        );
    }
    let kills = std::env::var("TWAKE_AI_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3u32);
    let mut at = 1_100_u64;
    let mut mid_sync = 0;
    for k in 0..kills {
        let before = status(d)["items"].as_i64().unwrap();
        let mut child = twake_cmd(d, &["sources", "sync", "mail"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Once the sync has saved a batch (or ended), a little later: in
        // the middle of the next batch's download, storage or commit.
        let started = Instant::now();
        while status(d)["items"].as_i64().unwrap() == before && child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(300), "the sync did not progress");
            std::thread::sleep(Duration::from_millis(50));
        }
        at = at * 7 % 1_500;
        std::thread::sleep(Duration::from_millis(at));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        mid_sync += u32::from(!finished);
        let out = twake(d, &["check", "--json"], &[]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("check --json: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        let f = &v["found"];
        assert_eq!(f["store_problems"], serde_json::json!([]), "kill {k} after {at} ms: {v}");
        assert_eq!(f["bad_vectors"], serde_json::json!([]), "kill {k} after {at} ms: {v}");
        let agrees = f["lexical_missing_count"] == 0 && f["lexical_extra_count"] == 0;
        assert!(
            agrees || f["lexical_generation"] != f["generation"],
            "kill {k}: a lexical index off its generation: {v}"
        );
        eprintln!("sync killed after {at} ms: {before} → {} items, {} files stored", status(d)["items"], f["files"]);
    }
    assert!(kills == 0 || mid_sync > 0, "no kill landed during a sync");
    let s = sync(d);
    let st = status(d);
    assert_eq!((st["items"].as_i64(), st["status"].as_str()), (Some(427), Some("ok")), "{s} {st}");
    assert_eq!(count(&sync(d), "stored"), 0, "a second sync finds nothing to do");
    let out = twake(d, &["check", "--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["found"]["files"].as_i64()), (Some(0), Some(427)), "{v}");
    for i in [0, 61, 119] {
        let title = format!("Colis KX-{i:04}");
        assert_eq!(hits(d, ALICE, &format!("colis KX-{i:04} tournée"), &title), 1, "{title} once");
    }

    // `serve` keeps an IDLE on INBOX: new mail there is searchable within
    // seconds, long before the next periodic sync (an hour here).
    let key = ok(twake(d, &["keys", "create", "--user", ALICE], &[])).trim().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = common::Kill(
        twake_cmd(d, &["serve", "--listen", &listen, "--sync-every", "3600"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for(listen.rsplit(':').next().unwrap().parse().unwrap(), &mut server.0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let searchable_after = |query: &str, needle: &str| {
        let started = Instant::now();
        loop {
            let body = rt.block_on(async {
                http.post(format!("http://{listen}/api/v1/search"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"query": query, "k": 20}))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            });
            if body.contains(needle) {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{needle} never indexed by serve: {body}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    dove.save(
        ALICE,
        "INBOX",
        &mail("i1", "Logistique <log@valmont.fr>", "Livraison LV-3001", "La livraison LV-3001 arrive jeudi."),
    );
    searchable_after("livraison LV-3001 jeudi", "LV-3001");
    // The watcher is back in IDLE: only its announcement can bring this one.
    std::thread::sleep(Duration::from_secs(3));
    dove.save(
        ALICE,
        "INBOX",
        &mail("i2", "DSI <dsi@valmont.fr>", "Astreinte AS-4002", "L'astreinte AS-4002 commence samedi."),
    );
    let lag = searchable_after("astreinte AS-4002 samedi", "AS-4002");
    eprintln!("new mail searchable {:.1} s after delivery (IDLE)", lag.as_secs_f64());
    drop(server);

    let out = ok(twake(d, &["sources", "remove", "mail"], &[]));
    assert!(out.contains("429 items forgotten"), "{out}");
    assert!(found(d, ALICE, "marché MX-4471 Nordlys").is_empty());
}
