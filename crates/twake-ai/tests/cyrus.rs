//! The JMAP and CalDAV connectors against a real Cyrus 3.6 (Debian
//! `cyrus-caldav` with `cyrus-common`), started by this test on loopback
//! with `httpmodules: jmap caldav` and `conversations: yes`, users in its
//! own sasldb. Mail is delivered over LMTP as an MTA would, then filed,
//! moved to the Trash and destroyed over JMAP as a mail client would.
//! JMAP: session discovery, the first sync, a message over the size limit,
//! a message in the Trash not indexed, `Email/changes` with new, moved to
//! the Trash, moved back and destroyed messages, the server killed in the
//! middle of a backfill and restarted, a wrong password, a URL that is not
//! JMAP. CalDAV: Cyrus's calendars found from the server's URL. Needs the
//! real embedding model (`TWAKE_AI_TEST_MODELS=1`), Cyrus
//! (`scripts/install-deps.sh --test`) and root (Cyrus's master starts as
//! root and runs as the `cyrus` user), as `make test` in CI provides.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{count, found_paths, free_port, ok, source_status, twake_cmd, twake_env};
use serde_json::Value;

/// The source's password, in the environment of every run.
const PASSWORD: &[(&str, &str)] = &[("CYRUS_PASSWORD", "pw-alice")];

fn twake(dir: &Path, args: &[&str]) -> Output {
    twake_env(dir, args, PASSWORD)
}

const ALICE: &str = "alice@valmont.fr";
const BOB: &str = "bob@valmont.fr";
const CAROL: &str = "carol@valmont.fr";

fn titles(dir: &Path, user: &str, query: &str) -> Vec<String> {
    let out = ok(twake(dir, &["search", "--as", user, "-k", "20", "--json", query]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["results"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap_or("").to_string()).collect()
}

/// A Cyrus master with IMAP and HTTP (JMAP, CalDAV) on loopback, in its
/// own process group, killed on drop.
struct Cyrus {
    dir: PathBuf,
    http: u16,
    child: Option<Child>,
}

impl Cyrus {
    fn start(dir: &Path) -> Cyrus {
        for sub in ["conf", "spool", "run"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let http = free_port();
        let conf = dir.join("imapd.conf");
        std::fs::write(
            &conf,
            format!(
                "configdirectory: {d}/conf\npartition-default: {d}/spool\nservername: localhost\nadmins: admin\n\
                 sasl_pwcheck_method: auxprop\nsasl_auxprop_plugin: sasldb\nsasl_sasldb_path: {d}/sasldb2\n\
                 sasl_mech_list: PLAIN LOGIN\nallowplaintext: yes\nhttpmodules: jmap caldav\nhttpallowcompress: no\n\
                 conversations: yes\nconversations_db: twoskip\nunixhierarchysep: yes\naltnamespace: yes\n\
                 autocreate_quota: 0\nautocreate_post: yes\nidlesocket: {d}/run/idle\nnotifysocket: {d}/run/notify\n\
                 lmtpsocket: {d}/run/lmtp\nsyslog_prefix: cyrus-twake-test\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let c = conf.display();
        std::fs::write(
            dir.join("cyrus.conf"),
            format!(
                "START {{\n  recover cmd=\"ctl_cyrusdb -C {c} -r\"\n}}\nSERVICES {{\n\
                 http cmd=\"httpd -C {c}\" listen=\"127.0.0.1:{http}\" prefork=0\n\
                 lmtp cmd=\"lmtpd -C {c}\" listen=\"{lmtp}\" prefork=0\n}}\nEVENTS {{\n}}\nDAEMON {{\n}}\n",
                lmtp = dir.join("run/lmtp").display()
            ),
        )
        .unwrap();
        for (user, pw) in [("alice", "pw-alice"), ("bob", "pw-bob")] {
            let mut p = Command::new("saslpasswd2")
                .args(["-p", "-c", "-u", "localhost", "-f"])
                .arg(dir.join("sasldb2"))
                .arg(user)
                .stdin(Stdio::piped())
                .spawn()
                .expect("saslpasswd2 (Debian sasl2-bin)");
            use std::io::Write;
            p.stdin.take().unwrap().write_all(pw.as_bytes()).unwrap();
            assert!(p.wait().unwrap().success());
        }
        // Cyrus runs as its own user: it must reach and own its directory.
        let mut up = dir.to_path_buf();
        while let Some(parent) = up.parent() {
            if parent == Path::new("/tmp") || parent == Path::new("/") {
                break;
            }
            up = parent.to_path_buf();
            let _ = Command::new("chmod").arg("o+x").arg(&up).status();
        }
        let _ = Command::new("chmod").arg("o+x").arg(dir.parent().unwrap()).status();
        assert!(Command::new("chown").args(["-R", "cyrus:mail"]).arg(dir).status().unwrap().success());
        let mut cy = Cyrus { dir: dir.to_path_buf(), http, child: None };
        cy.run();
        cy
    }

    fn run(&mut self) {
        let mut child = Command::new("/usr/lib/cyrus/bin/master")
            .arg("-C")
            .arg(self.dir.join("imapd.conf"))
            .arg("-M")
            .arg(self.dir.join("cyrus.conf"))
            .arg("-p")
            .arg(self.dir.join("run/master.pid"))
            .arg("-L")
            .arg(self.dir.join("master.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start Cyrus (Debian cyrus-common)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.http)).is_err() || !self.dir.join("run/lmtp").exists() {
            assert!(started.elapsed() < Duration::from_secs(60), "Cyrus did not open its ports");
            assert!(child.try_wait().unwrap().is_none(), "Cyrus exited: see {}/master.log", self.dir.display());
            std::thread::sleep(Duration::from_millis(200));
        }
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", c.id())]).status();
            let _ = c.wait();
            let _ = std::fs::remove_file(self.dir.join("run/master.pid"));
            let _ = std::fs::remove_file(self.dir.join("run/lmtp"));
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http)
    }

    /// Runs a Python program (on standard input: a 2 MB mail is too long
    /// for an argument).
    fn python(&self, program: &str) -> String {
        let mut py = Command::new("python3")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        py.stdin.take().unwrap().write_all(program.as_bytes()).unwrap();
        let out = py.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Delivers messages to alice's INBOX over LMTP, [Message-ID, From,
    /// Subject, body], built by Python's `email` package as a mail client
    /// would (headers encoded per RFC 2047).
    fn deliver(&self, mails: &[[String; 4]]) {
        let data = serde_json::to_string(mails).unwrap();
        self.python(&format!(
            "import json, smtplib\nfrom email.message import EmailMessage\n\
             lmtp = smtplib.LMTP({socket:?})\n\
             for id_, frm, subject, body in json.loads({data:?}):\n\
             \x20   msg = EmailMessage()\n\
             \x20   msg['From'] = frm\n\
             \x20   msg['To'] = 'Alice Martin <{ALICE}>'\n\
             \x20   msg['Subject'] = subject\n\
             \x20   msg['Message-ID'] = '<%s@valmont.fr>' % id_\n\
             \x20   msg['Date'] = 'Mon, 30 Nov 2026 09:00:00 +0100'\n\
             \x20   msg.set_content(body)\n\
             \x20   assert not lmtp.send_message(msg, to_addrs=['alice'])\n\
             lmtp.quit()",
            socket = self.dir.join("run/lmtp").display().to_string()
        ));
    }

    /// One JMAP request as alice, as a mail client would make it: the
    /// method responses.
    fn jmap_all(&self, calls: Value) -> Value {
        let body = serde_json::json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": calls});
        let mut c = Command::new("curl")
            .args(["-s", "-u", "alice:pw-alice", "-H", "Content-Type: application/json", "--data-binary", "@-"])
            .arg(format!("{}jmap/", self.url()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        use std::io::Write;
        c.stdin.take().unwrap().write_all(body.to_string().as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("JMAP answer: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        v["methodResponses"].clone()
    }

    /// The first method's response.
    fn jmap(&self, calls: Value) -> Value {
        self.jmap_all(calls)[0][1].clone()
    }

    /// Creates a mailbox (with a role: `trash`…); its ID.
    fn mailbox(&self, name: &str, role: Option<&str>) -> String {
        let r = self.jmap(serde_json::json!([["Mailbox/set", {"accountId": "alice", "create": {"m": {"name": name, "role": role}}}, "0"]]));
        r["created"]["m"]["id"].as_str().unwrap_or_else(|| panic!("Mailbox/set: {r}")).to_string()
    }

    /// The ID of alice's message with this subject.
    fn email(&self, subject: &str) -> String {
        let list = self.jmap_all(serde_json::json!([
            ["Email/query", {"accountId": "alice"}, "q"],
            ["Email/get", {"accountId": "alice", "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"}, "properties": ["subject"]}, "g"]
        ]));
        list[1][1]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == subject)
            .and_then(|e| e["id"].as_str())
            .unwrap_or_else(|| panic!("no message {subject:?}: {list}"))
            .to_string()
    }

    /// Files a message in one mailbox only (a move).
    fn file(&self, subject: &str, mailbox: &str) {
        let id = self.email(subject);
        let r = self.jmap(serde_json::json!([["Email/set", {"accountId": "alice", "update": {id.clone(): {"mailboxIds": {mailbox: true}}}}, "0"]]));
        assert!(r["updated"].get(&id).is_some(), "Email/set: {r}");
    }

    fn destroy(&self, subject: &str) {
        let id = self.email(subject);
        let r = self.jmap(serde_json::json!([["Email/set", {"accountId": "alice", "destroy": [id]}, "0"]]));
        assert!(r["destroyed"].as_array().is_some_and(|d| d.len() == 1), "Email/set: {r}");
    }

    fn inbox(&self) -> String {
        let r = self.jmap(serde_json::json!([["Mailbox/get", {"accountId": "alice", "properties": ["role"]}, "0"]]));
        r["list"].as_array().unwrap().iter().find(|m| m["role"] == "inbox").unwrap()["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.kill();
    }
}

fn mail(id: &str, from: &str, subject: &str, body: &str) -> [String; 4] {
    [id, from, subject, body].map(String::from)
}

#[test]
fn jmap_account_and_caldav_calendars_on_cyrus() {
    if !twake_testkit::models() {
        return;
    }
    if !Path::new("/usr/lib/cyrus/bin/master").exists() {
        panic!("Cyrus is not installed: run scripts/install-deps.sh --test (Debian cyrus-caldav, sasl2-bin)");
    }
    if !twake_testkit::root("Cyrus's master starts as root and drops to the cyrus user") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cyrus = Cyrus::start(&tmp.path().join("cyrus"));
    let d = &tmp.path().join("data");
    let url = cyrus.url();

    cyrus.deliver(&[
        mail("m1", "Bob Leroy <bob@valmont.fr>", "Marché JX-4471", "Le marché JX-4471 Nordlys est notifié."),
        mail("m2", "Direction <direction@valmont.fr>", "Budget 2027", "Plafond JX-4472 : 42 000 euros."),
        mail("m3", "RH <rh@valmont.fr>", "Entretiens", "Campagne JX-4473 ouverte jusqu'au 15 décembre."),
        mail("m4", "Carol <carol@valmont.fr>", "Chantier Lyon", "Lot JX-4474 livré."),
        mail("m5", "Spam <spam@example.com>", "Promo JX-4475", "Offre JX-4475."),
        mail("m6", "Archives <arch@valmont.fr>", "Gros envoi", &format!("Annexe JX-4476 {}", "x".repeat(2 << 20))),
    ]);
    // Filed by alice's mail client: one in a folder, one in the Trash.
    let (inbox, trash, projets) =
        (cyrus.inbox(), cyrus.mailbox("Trash", Some("trash")), cyrus.mailbox("Projets", None));
    cyrus.file("Chantier Lyon", &projets);
    cyrus.file("Promo JX-4475", &trash);

    // Refused at once: a wrong password, clear text without --insecure, a
    // URL that is not JMAP.
    let add = ["sources", "add", "mail", "--kind", "jmap", "--owner", ALICE, "--user", "alice"];
    let mut wrong =
        twake_cmd(d, &[&add[..], &["--url", &url, "--insecure", "--secret-env", "WRONG"]].concat(), PASSWORD);
    let out = wrong.env("WRONG", "not-the-password").stdin(Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refused the login"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    let out = twake(d, &[&add[..], &["--url", &url, "--secret-env", "CYRUS_PASSWORD"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"), "{out:?}");
    let port = free_port();
    let web = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut web = common::Kill(web);
    common::wait_for(port, &mut web.0);
    let not_jmap = format!("http://127.0.0.1:{port}/");
    let out = twake(d, &[&add[..], &["--url", &not_jmap, "--insecure", "--secret-env", "CYRUS_PASSWORD"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a JMAP server"), "{out:?}");
    drop(web);

    // The session from the server's URL; the first sync.
    let flags = ["--url", &url, "--insecure", "--max-mail-mb", "1", "--secret-env", "CYRUS_PASSWORD"];
    ok(twake(d, &[&add[..], &flags[..]].concat()));
    let out = twake(d, &["sources", "sync", "mail"]);
    let (s, err) = (ok(out.clone()), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(count(&s, "stored"), 4, "{s}\n{err}");
    assert!(err.contains("\"Gros envoi\" is larger than the limit of 1 MB"), "{err}");
    assert_eq!(source_status(d, "mail")["items"], 4);
    let t = titles(d, ALICE, "marché Nordlys JX-4471");
    assert!(t.contains(&"Marché JX-4471".to_string()), "{t:?}");
    assert!(titles(d, ALICE, "lot livré Lyon JX-4474").contains(&"Chantier Lyon".to_string()));
    assert!(
        !titles(d, ALICE, "promo offre JX-4475").contains(&"Promo JX-4475".to_string()),
        "the Trash is not indexed"
    );
    // Bob reads the mail he sent, nothing else; Carol reads hers.
    assert!(titles(d, BOB, "marché Nordlys JX-4471").contains(&"Marché JX-4471".to_string()));
    assert!(!titles(d, BOB, "budget plafond JX-4472").contains(&"Budget 2027".to_string()));
    assert!(titles(d, CAROL, "lot livré Lyon JX-4474").contains(&"Chantier Lyon".to_string()));

    // Nothing changed.
    let s = ok(twake(d, &["sources", "sync", "mail"]));
    assert_eq!((count(&s, "stored"), count(&s, "removed")), (0, 0), "{s}");

    // New mail, one mail to the Trash, one back from it, one destroyed.
    cyrus.deliver(&[mail("m7", "Bob Leroy <bob@valmont.fr>", "Relance JX-4477", "Relance du dossier JX-4477.")]);
    cyrus.file("Budget 2027", &trash);
    cyrus.destroy("Entretiens");
    cyrus.file("Promo JX-4475", &inbox);
    let s = ok(twake(d, &["sources", "sync", "mail"]));
    assert_eq!((count(&s, "stored"), count(&s, "removed")), (2, 2), "{s}");
    assert!(titles(d, ALICE, "relance dossier JX-4477").contains(&"Relance JX-4477".to_string()));
    assert!(titles(d, ALICE, "promo offre JX-4475").contains(&"Promo JX-4475".to_string()));
    assert!(!titles(d, ALICE, "budget plafond JX-4472").contains(&"Budget 2027".to_string()), "moved to the Trash");
    assert!(!titles(d, ALICE, "campagne entretiens JX-4473").contains(&"Entretiens".to_string()), "destroyed");
    assert_eq!(source_status(d, "mail")["items"], 4);

    // A backfill of 150 mails, the server killed in its middle.
    let many: Vec<_> = (0..150)
        .map(|i| {
            let body = format!("Le bordereau JB-{i:04} concerne le lot {i}.");
            mail(&format!("b{i}"), "Logistique <log@valmont.fr>", &format!("Bordereau JB-{i:04}"), &body)
        })
        .collect();
    cyrus.deliver(&many);
    let child = twake_cmd(d, &["sources", "sync", "mail"], PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let before_kill = loop {
        let items = source_status(d, "mail")["items"].as_i64().unwrap_or(0);
        if items >= 4 + 50 {
            break items;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the backfill did not progress");
        std::thread::sleep(Duration::from_millis(100));
    };
    cyrus.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && err.contains("cannot reach"), "the sync fails once its retries are spent: {err}");
    let st = source_status(d, "mail");
    assert_eq!(st["status"], "failing", "{st}");
    let kept = st["items"].as_i64().unwrap();
    assert!(kept >= before_kill && kept < 154, "what was stored is kept, and the backfill was cut: {kept}");
    cyrus.run();
    let s = ok(twake(d, &["sources", "sync", "mail"]));
    assert!(count(&s, "stored") as i64 <= 154 - kept, "{s}");
    let st = source_status(d, "mail");
    assert_eq!((st["status"].as_str(), st["items"].as_i64()), (Some("ok"), Some(154)), "{st}");
    for i in [0, 77, 149] {
        let want = format!("Bordereau JB-{i:04}");
        let hits = titles(d, ALICE, &format!("bordereau JB-{i:04}"));
        assert_eq!(hits.iter().filter(|t| **t == want).count(), 1, "{want}: {hits:?}");
    }

    // CalDAV on the same server: the calendars found from its URL.
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//twake test//EN\r\nBEGIN:VEVENT\r\nUID:copil-cyrus\r\n\
               DTSTAMP:20261101T080000Z\r\nSUMMARY:Comité JX-4480\r\nDTSTART;TZID=Europe/Paris:20261204T140000\r\n\
               DTEND;TZID=Europe/Paris:20261204T160000\r\nDESCRIPTION:Arbitrage du lot JX-4480.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let put = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:pw-alice", "-T", "-"])
        .arg(format!("{url}dav/calendars/user/alice/Default/copil.ics"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    put.stdin.as_ref().unwrap().write_all(ics.as_bytes()).unwrap();
    let code = put.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&code.stdout), "201");
    let cal = ["sources", "add", "agenda", "--kind", "caldav", "--url", &url, "--owner", ALICE, "--user", "alice"];
    ok(twake(d, &[&cal[..], &["--insecure", "--secret-env", "CYRUS_PASSWORD"]].concat()));
    let s = ok(twake(d, &["sources", "sync", "agenda"]));
    assert_eq!(count(&s, "stored"), 1, "{s}");
    let hits = found_paths(d, ALICE, "comité arbitrage lot JX-4480");
    assert_eq!(hits[0], "caldav://agenda/dav/calendars/user/alice/Default/copil.ics", "{hits:?}");

    // Removing the source forgets its mail.
    let out = ok(twake(d, &["sources", "remove", "mail"]));
    assert!(out.contains("154 items forgotten"), "{out}");
}
