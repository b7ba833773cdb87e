//! The Matrix connector against a real Synapse homeserver (PyPI
//! `matrix-synapse`, SQLite, bound to 127.0.0.1), started by this test:
//! four users, a shared room, a private room and an encrypted one, edits,
//! redactions, a user leaving and another joining, the homeserver stopped
//! mid-life and restarted, and a wrong password. Needs the real embedding
//! model (`TWAKE_AI_TEST_MODELS=1`) and Synapse (`TWAKE_AI_TEST_SYNAPSE`,
//! the python of its virtualenv: `scripts/synapse-env.sh`), as `make test`
//! provides.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::twake_env as twake;
use common::{ok, root};
use serde_json::{Value, json};

/// A Synapse on a free loopback port, killed on drop.
struct Synapse {
    python: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    url: String,
}

impl Synapse {
    fn start(python: &Path, dir: &Path) -> Synapse {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        let limit = "{per_second: 1000, burst_count: 1000}";
        let config = format!(
            "server_name: localhost\npid_file: {d}/hs.pid\nlisteners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
             database:\n  name: sqlite3\n  args:\n    database: {d}/hs.db\nmedia_store_path: {d}/media\nregistration_shared_secret: test-secret\nreport_stats: false\n\
             signing_key_path: {d}/signing.key\ntrusted_key_servers: []\nsuppress_key_server_warning: true\nenable_registration: false\n\
             rc_message: {limit}\nrc_login:\n  address: {limit}\n  account: {limit}\n  failed_attempts: {limit}\nrc_joins:\n  local: {limit}\nrc_registration: {limit}\nrc_invites:\n  per_room: {limit}\n  per_user: {limit}\n"
        );
        let path = dir.join("homeserver.yaml");
        std::fs::write(&path, config).unwrap();
        let keys = Command::new(python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&path)
            .arg("--generate-keys")
            .output()
            .unwrap();
        assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
        let mut s = Synapse {
            python: python.to_path_buf(),
            config: path,
            child: None,
            url: format!("http://127.0.0.1:{port}"),
        };
        s.run();
        s
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.config.with_file_name("synapse.log")).unwrap();
        let child = Command::new(&self.python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if std::net::TcpStream::connect(self.url.trim_start_matches("http://")).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("Synapse did not start: see {}", self.config.with_file_name("synapse.log").display());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn register(&self, user: &str) {
        let script = self.python.with_file_name("register_new_matrix_user");
        let out = Command::new(script)
            .args(["-u", user, "-p", "pw-secret-1", "--no-admin", "-k", "test-secret", &self.url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Matrix client for one test user.
struct User {
    http: reqwest::Client,
    base: String,
    token: String,
    txn: std::cell::Cell<u32>,
}

impl User {
    async fn login(base: &str, user: &str) -> User {
        let http = reqwest::Client::new();
        let r: Value = http
            .post(format!("{base}/_matrix/client/v3/login"))
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": "pw-secret-1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        User { http, base: base.into(), token: r["access_token"].as_str().unwrap().into(), txn: 0.into() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}/_matrix/client/v3{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn create_room(&self, name: &str, invite: &[&str], extra: Value) -> String {
        let mut body = json!({"name": name, "preset": "private_chat", "invite": invite});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.call(reqwest::Method::POST, "/createRoom", body).await;
        r["room_id"].as_str().unwrap().to_string()
    }

    async fn join(&self, room: &str) {
        self.call(reqwest::Method::POST, &format!("/join/{}", enc(room)), json!({})).await;
    }

    async fn leave(&self, room: &str) {
        self.call(reqwest::Method::POST, &format!("/rooms/{}/leave", enc(room)), json!({})).await;
    }

    async fn invite(&self, room: &str, user: &str) {
        self.call(reqwest::Method::POST, &format!("/rooms/{}/invite", enc(room)), json!({"user_id": user})).await;
    }

    fn next_txn(&self) -> u32 {
        let t = self.txn.get() + 1;
        self.txn.set(t);
        t
    }

    async fn send(&self, room: &str, content: Value) -> String {
        let path = format!("/rooms/{}/send/m.room.message/t{}", enc(room), self.next_txn());
        let r = self.call(reqwest::Method::PUT, &path, content).await;
        r["event_id"].as_str().unwrap().to_string()
    }

    async fn say(&self, room: &str, text: &str) -> String {
        self.send(room, json!({"msgtype": "m.text", "body": text})).await
    }

    async fn edit(&self, room: &str, event: &str, text: &str) {
        self.send(
            room,
            json!({"msgtype": "m.text", "body": format!("* {text}"),
                   "m.new_content": {"msgtype": "m.text", "body": text},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": event}}),
        )
        .await;
    }

    async fn receipt(&self, room: &str, event: &str) {
        self.call(reqwest::Method::POST, &format!("/rooms/{}/receipt/m.read/{}", enc(room), enc(event)), json!({}))
            .await;
    }

    async fn redact(&self, room: &str, event: &str) {
        let path = format!("/rooms/{}/redact/{}/r{}", enc(room), enc(event), self.next_txn());
        self.call(reqwest::Method::PUT, &path, json!({"reason": "test"})).await;
    }
}

fn enc(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect()
}

/// The snippets `user` finds for `query` (20 best).
fn found(dir: &Path, user: &str, query: &str) -> String {
    let out = ok(twake(dir, &["search", "--as", user, "-k", "20", "--json", query], &[]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["results"].as_array().unwrap().iter().map(|r| format!("{} | {}\n", r["title"], r["snippet"])).collect()
}

#[test]
fn matrix_rooms_sync_incrementally_with_edits_redactions_and_membership_over_time() {
    if !twake_testkit::models() {
        return;
    }
    let Some(python) = twake_testkit::needs(
        "TWAKE_AI_TEST_SYNAPSE",
        "set it to the python scripts/synapse-env.sh prints (make test does)",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hs_dir = tmp.path().join("synapse");
    std::fs::create_dir_all(&hs_dir).unwrap();
    let mut hs = Synapse::start(Path::new(&python), &hs_dir);
    for u in ["twake", "alice", "bob", "carol"] {
        hs.register(u);
    }
    let data = tmp.path().join("data");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (alice, bob, carol) = rt.block_on(async {
        (User::login(&hs.url, "alice").await, User::login(&hs.url, "bob").await, User::login(&hs.url, "carol").await)
    });
    let twake_bot = rt.block_on(User::login(&hs.url, "twake"));
    let (lyon, private, _encrypted, first, question) = rt.block_on(async {
        let lyon = alice.create_room("Projet Lyon", &["@bob:localhost", "@twake:localhost"], json!({})).await;
        bob.join(&lyon).await;
        twake_bot.join(&lyon).await;
        let first = alice.say(&lyon, "La bascule du datacenter de Lyon est prévue le 14 décembre.").await;
        bob.say(&lyon, "Je confirme : les switchs arrivent le 10 décembre chez Valmont.").await;
        let code = bob.say(&lyon, "Mon code d'accès provisoire au datacenter est 4471.").await;
        bob.redact(&lyon, &code).await;
        alice.edit(&lyon, &first, "La bascule du datacenter de Lyon est déplacée au 21 décembre.").await;
        let question = bob.say(&lyon, "Question ouverte : qui prévient l'astreinte ?").await;
        let private = alice.create_room("Alice et Twake", &["@twake:localhost"], json!({})).await;
        twake_bot.join(&private).await;
        alice.say(&private, "Note privée : le budget serveur est de 48 000 euros.").await;
        let enc_room = alice
            .create_room(
                "Chiffré",
                &["@twake:localhost"],
                json!({"initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]}),
            )
            .await;
        twake_bot.join(&enc_room).await;
        alice.say(&enc_room, "Texte en clair envoyé par erreur : mot de passe Zanzibar.").await;
        // A room longer than one /sync page (backfilled with /messages),
        // whose history is visible to members from their joining only.
        let long = alice
            .create_room(
                "Historique",
                &["@twake:localhost"],
                json!({"initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}]}),
            )
            .await;
        twake_bot.join(&long).await;
        for i in 1..=110 {
            alice.say(&long, &format!("Message d'archive numéro {i} du projet Orion.")).await;
        }
        alice.invite(&long, "@bob:localhost").await;
        bob.join(&long).await;
        alice.say(&long, "Bienvenue Bob : le code du projet Orion est ORN-2027.").await;
        (lyon, private, enc_room, first, question)
    });
    let d = data.as_path();

    // A wrong password: a clear error, nothing kept, no secret printed.
    let add = |password: &str| {
        let args =
            ["sources", "add", "chat", "--kind", "matrix", "--homeserver", &hs.url, "--user", "@twake:localhost"];
        let more = ["--secret-env", "PW", "--user-domain", "valmont.fr"];
        twake(d, &[&args[..], &more[..]].concat(), &[("PW", password)])
    };
    let out = add("wrong-password-77");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused the login") && !err.contains("wrong-password-77"), "{err}");
    assert!(ok(twake(d, &["sources", "list"], &[])).trim().is_empty(), "nothing kept");
    ok(add("pw-secret-1"));
    let listed = ok(twake(d, &["sources", "list", "--json"], &[]));
    assert!(
        listed.contains("@twake:localhost") && !listed.contains("syt_") && !listed.contains("pw-secret"),
        "{listed}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory holds the token: its owner's only");

    let out = twake(d, &["sources", "sync", "chat"], &[]);
    let stdout = ok(out.clone());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("115 stored"),
        "3 messages in Projet Lyon (one more redacted) + 1 private + 111 in Historique; encrypted skipped: {stdout}"
    );
    assert!(stderr.contains("Chiffré is encrypted: skipped"), "{stderr}");

    // The edit is what is indexed; the redacted message is not.
    let a = found(d, "alice@valmont.fr", "date de la bascule du datacenter de Lyon");
    assert!(a.contains("21 décembre") && !a.contains("14 décembre"), "{a}");
    assert!(!found(d, "bob@valmont.fr", "code d'accès provisoire").contains("4471"));
    assert!(!found(d, "alice@valmont.fr", "mot de passe").contains("Zanzibar"), "encrypted room skipped");
    // Room membership: Bob is not in Alice's private room; Carol in none.
    assert!(found(d, "alice@valmont.fr", "budget serveur").contains("48 000"));
    assert!(!found(d, "bob@valmont.fr", "budget serveur").contains("48 000"));
    assert!(found(d, "carol@valmont.fr", "bascule datacenter Lyon").is_empty());
    // The long room, backfilled whole; its history was not Bob's before he
    // joined ("joined" visibility), his welcome message is.
    assert!(found(d, "alice@valmont.fr", "Message d'archive numéro 7 Orion").contains("numéro 7 "));
    assert!(found(d, "bob@valmont.fr", "code du projet Orion").contains("ORN-2027"));
    assert!(!found(d, "bob@valmont.fr", "Message d'archive du projet Orion").contains("archive"));

    // Incremental: new messages, an edit and a redaction of messages
    // already indexed, a message redacted before it was synced; Bob
    // leaves, Carol joins.
    let nexalis = rt.block_on(async {
        alice.say(&lyon, "Nouvelle réunion de suivi le 3 décembre.").await;
        let card = bob.say(&lyon, "Ma carte d'accès porte le numéro 7788.").await;
        bob.redact(&lyon, &card).await;
        alice.edit(&lyon, &first, "La bascule du datacenter de Lyon est déplacée au 22 décembre.").await;
        bob.redact(&lyon, &question).await;
        bob.leave(&lyon).await;
        alice.invite(&lyon, "@carol:localhost").await;
        carol.join(&lyon).await;
        alice.say(&lyon, "Après le départ de Bob : le prestataire retenu est Nexalis.").await
    });
    let stdout = ok(twake(d, &["sources", "sync", "chat"], &[]));
    assert!(stdout.contains("2 stored, 1 edited, 1 removed"), "{stdout}");
    let a = found(d, "alice@valmont.fr", "date de la bascule du datacenter de Lyon");
    assert!(a.contains("22 décembre") && !a.contains("21 décembre"), "{a}");
    assert!(found(d, "alice@valmont.fr", "réunion de suivi").contains("3 décembre"));
    assert!(!found(d, "alice@valmont.fr", "carte d'accès numéro").contains("7788"));
    assert!(!found(d, "alice@valmont.fr", "qui prévient l'astreinte").contains("astreinte ?"));
    // Sent after Bob left: not his; Carol, who joined, reads it and the
    // room's shared history; Bob keeps what he read as a member.
    assert!(found(d, "carol@valmont.fr", "prestataire retenu").contains("Nexalis"));
    assert!(!found(d, "bob@valmont.fr", "prestataire retenu").contains("Nexalis"));
    assert!(found(d, "carol@valmont.fr", "bascule datacenter Lyon").contains("22 décembre"));
    assert!(found(d, "bob@valmont.fr", "switchs").contains("10 décembre"));
    assert!(!found(d, "carol@valmont.fr", "budget serveur").contains("48 000"));

    // Room catch-up since Alice last read the room (her read receipt, seen
    // by the sync): only what came after, the message naming her first.
    rt.block_on(async {
        alice.receipt(&lyon, &nexalis).await;
        // Item dates have a one-second resolution.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        carol.say(&lyon, "@alice peux-tu valider le devis Nexalis avant vendredi ?").await;
        carol.say(&lyon, "Le câblage du rack 3 commence lundi, l'équipe réseau est prévenue.").await;
    });
    let stdout = ok(twake(d, &["sources", "sync", "chat"], &[]));
    assert!(stdout.contains("2 stored"), "{stdout}");
    let out = twake(d, &["summarize", "room", "Projet Lyon", "--as", "carol@valmont.fr"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("no read receipt of yours"), "{err}");
    let out = ok(twake(
        d,
        &["summarize", "room", "Projet Lyon", "--as", "alice@valmont.fr", "--since", "last-read", "--format", "json"],
        &[],
    ));
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(c["since_from"], "last read", "{c}");
    let texts: Vec<&str> = c["messages"].as_array().unwrap().iter().map(|m| m["from"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Carol", "Carol"], "only the messages after the receipt: {c}");
    assert_eq!(c["mentions"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["mentions"][0]["message"], 1, "{c}");
    assert!(c["mentions"][0]["text"].as_str().unwrap().contains("devis Nexalis"));
    assert!(!c["summary"].as_str().unwrap().is_empty() && c["audit_id"].is_i64(), "{c}");
    for t in c["topics"].as_array().unwrap() {
        for p in t["points"].as_array().unwrap() {
            let n = p["message"].as_u64().unwrap();
            assert!((1..=2).contains(&n), "citations point to given messages: {c}");
        }
    }

    // The daily brief shows the room, Carol's message naming Alice first
    // (no mail here: no model is called).
    let b: Value = serde_json::from_str(&ok(twake(
        d,
        &["brief", "--as", "alice@valmont.fr", "--since", "2026-01-01", "--json"],
        &[],
    )))
    .unwrap();
    let room = &b["rooms"][0];
    assert_eq!(room["room"], "Projet Lyon", "{b}");
    let said: Vec<&str> = room["mentions"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(said, ["@alice peux-tu valider le devis Nexalis avant vendredi ?"], "{b}");
    assert!(room["mentions"][0]["path"].as_str().unwrap().starts_with("matrix://chat/"));
    // Bob's brief: he left before Carol's message; her message is not his.
    let b: Value = serde_json::from_str(&ok(twake(
        d,
        &["brief", "--as", "bob@valmont.fr", "--since", "2026-01-01", "--json"],
        &[],
    )))
    .unwrap();
    assert!(!b.to_string().contains("devis Nexalis") && !b.to_string().contains("48 000"), "{b}");

    // Nothing new: nothing stored twice.
    let stdout = ok(twake(d, &["sources", "sync", "chat"], &[]));
    assert!(stdout.contains("0 stored, 0 edited, 0 removed"), "{stdout}");
    let status: Value = serde_json::from_str(&ok(twake(d, &["sources", "status", "--json"], &[]))).unwrap();
    assert_eq!(status[0]["items"], 118, "115 + 2 new - 1 redacted + 2: {status}");
    assert_eq!(status[0]["status"], "ok");

    // The homeserver goes away: the sync fails with a clear error after
    // its retries, the health says so, what was indexed stays; once it is
    // back, the next sync resumes from the saved cursor.
    hs.stop();
    let out = twake(d, &["sources", "sync", "chat"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the homeserver") && err.contains("after 5 attempts"), "{err}");
    let out = twake(d, &["sources", "status", "--json"], &[]);
    assert_eq!(out.status.code(), Some(1), "status exits 1 while a source fails");
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status[0]["status"], "failing");
    assert_eq!(status[0]["errors"], 1);
    assert!(found(d, "alice@valmont.fr", "prestataire retenu").contains("Nexalis"));
    hs.run();
    rt.block_on(async {
        let alice = User::login(&hs.url, "alice").await;
        alice.say(&lyon, "Retour du serveur : la recette est fixée au 18 décembre.").await;
        alice.say(&private, "Rappel privé : valider le devis Nexalis.").await;
    });
    let stdout = ok(twake(d, &["sources", "sync", "chat"], &[]));
    assert!(stdout.contains("2 stored"), "{stdout}");
    assert!(found(d, "carol@valmont.fr", "date de la recette").contains("18 décembre"));
    let status: Value = serde_json::from_str(&ok(twake(d, &["sources", "status", "--json"], &[]))).unwrap();
    assert_eq!((status[0]["items"].as_i64(), status[0]["status"].as_str()), (Some(120), Some("ok")), "{status}");

    // `twake-ai serve` keeps the source in sync in the background and
    // reports its health in the API: a new message becomes searchable
    // without any command.
    let key = ok(twake(d, &["keys", "create", "--user", "carol@valmont.fr"], &[])).trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(root())
        .arg("--data-dir")
        .arg(d)
        .args(["serve", "--listen", &listen, "--sync-every", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = format!("http://{listen}/api/v1");
    let found_by_api = rt.block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http.get(format!("http://{listen}/healthz")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(120), "serve did not start");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let alice = User::login(&hs.url, "alice").await;
        alice.say(&lyon, "Synchronisation continue : le câblage est confié à Orvelia.").await;
        let sent = Instant::now();
        loop {
            let r: Value = http
                .post(format!("{api}/search"))
                .bearer_auth(&key)
                .json(&json!({"query": "qui fait le câblage", "k": 20}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r.to_string().contains("Orvelia") {
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(120), "the background sync never indexed the message: {r}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let v: Value = http.get(format!("{api}/sources")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        v
    });
    let _ = server.kill();
    let _ = server.wait();
    let s = &found_by_api["sources"][0];
    assert_eq!(
        (s["name"].as_str(), s["items"].as_i64(), s["status"].as_str()),
        (Some("chat"), Some(121), Some("ok")),
        "{found_by_api}"
    );
    assert!(!found_by_api.to_string().contains("syt_"), "no secret in the API: {found_by_api}");

    // Removing the source forgets its items.
    let stdout = ok(twake(d, &["sources", "remove", "chat"], &[]));
    assert!(stdout.contains("121 items forgotten"), "{stdout}");
    assert!(!found(d, "alice@valmont.fr", "prestataire retenu").contains("Nexalis"));
}
