//! The `twake-ai` binary end to end, in a temporary directory: ingest with
//! a progress summary and per-file failures, `search --json` and
//! `ask --json` contracts, on the real default models (run when
//! `TWAKE_AI_TEST_MODELS=1`, as `make test` does after pulling them).

mod common;

use std::path::Path;
use std::process::Command;

use common::{root, twake};

#[test]
fn usage_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = twake(dir.path(), &["search"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<QUERY>"));
    let out = twake(dir.path(), &["ingest", "--readers", "a b", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --readers"));
}

#[test]
fn ingest_search_and_ask_json_contracts() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let out =
        twake(Path::new(d), &["ingest", "--readers", "alice@valmont.fr,bob@valmont.fr", "examples/workspace/shared"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("12 new, 0 updated, 0 unchanged, 0 failed"), "{stdout}");
    let out = twake(Path::new(d), &["ingest", "--readers", "alice@valmont.fr", "examples/workspace/shared"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 new, 0 updated, 0 unchanged, 0 failed, 12 with new readers (not re-embedded)"),
        "readers changed: access updated in place: {stdout}"
    );
    let out = twake(Path::new(d), &["ingest", "--readers", "alice@valmont.fr", "examples/workspace/shared"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 new, 0 updated, 12 unchanged"));

    // Bad files: reported one by one, exit code 3, good files indexed.
    let out = twake(Path::new(d), &["ingest", "--readers", "alice@valmont.fr", "tests/fixtures/files"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed: tests/fixtures/files/corrupt.pdf: PDF file is corrupt"), "{err}");
    assert!(err.contains("failed: tests/fixtures/files/corrupt.docx: DOCX file is corrupt"), "{err}");
    // A file above `ingest.max_file_mb` fails with what to do, unread.
    let big = dir.path().join("gros.txt");
    std::fs::write(&big, "Une ligne du gros fichier.\n".repeat(80_000)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .args(["--data-dir", d, "ingest", "--readers", "alice@valmont.fr"])
        .arg(&big)
        .env("TWAKE_AI__INGEST__MAX_FILE_MB", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("the file is 2.1 MB, above the limit of 1 MB (`ingest.max_file_mb`)"), "{err}");

    let out = twake(Path::new(d), &["search", "--as", "alice@valmont.fr", "--json", "date de bascule Lyon"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        for key in ["rank", "score", "path", "message_id", "title", "locator", "snippet"] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        assert_eq!(r["rank"], i + 1);
    }
    assert_eq!(results[0]["path"], "examples/workspace/shared/mail/projet-lyon.mbox", "{v}");
    assert_eq!(results[0]["message_id"], "lyon-001@valmont.fr");
    // Bob sees nothing of alice's re-ingested files now.
    let out = twake(Path::new(d), &["search", "--as", "bob@valmont.fr", "--json", "date de bascule Lyon"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["results"].as_array().unwrap().is_empty(), "{v}");

    let out = twake(
        Path::new(d),
        &["ask", "--as", "alice@valmont.fr", "--json", "Quand a lieu la bascule du datacenter de Lyon ?"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer = v["answer"].as_str().unwrap();
    assert!(answer.contains("14 mars"), "{v}");
    assert!(answer.contains("[1]"), "{v}");
    assert_eq!(v["model"], "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
    let c = &v["citations"][0];
    assert_eq!(c["n"], 1);
    for key in ["path", "message_id", "title", "locator", "snippet"] {
        assert!(c.get(key).is_some(), "missing {key} in {c}");
    }
    assert!(c["path"].as_str().unwrap().starts_with("examples/workspace/shared/"), "relative path kept: {c}");
    assert_eq!((v["found"].as_bool(), v["extractive"].as_bool()), (Some(true), Some(false)), "{v}");
    // Without --json: the passages first (numbered as the answer cites
    // them), then the answer.
    let out = twake(Path::new(d), &["ask", "--as", "alice@valmont.fr", "When will the network switches be delivered?"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let (sources, answer) = text.split_once("\n\n").expect("sources, a blank line, the answer");
    assert!(sources.starts_with("[1] ") && sources.lines().all(|l| l.starts_with('[')), "{text}");
    assert!(sources.contains("vendor-northwind.eml"), "{text}");
    assert!(answer.contains("February 20") || answer.contains("20 février"), "{text}");

    // The answer is in the signed provenance log.
    let id = v["audit_id"].as_i64().expect("audit_id");
    let out = twake(Path::new(d), &["audit", "show", "--user", "alice@valmont.fr", "--json"]);
    assert!(out.status.success());
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rec = log["records"].as_array().unwrap().iter().find(|r| r["seq"] == id).expect("the record").clone();
    assert_eq!(rec["model"], "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
    assert_eq!(rec["answered"], true);
    let p0 = &rec["passages"][0];
    assert_eq!(p0["path"], c["path"], "{rec}");
    assert_eq!(p0["content_sha256"].as_str().unwrap().len(), 64);
    let out = twake(Path::new(d), &["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // An auditor with the public key only.
    let key = String::from_utf8_lossy(&twake(Path::new(d), &["audit", "key"]).stdout).trim().to_string();
    let out = twake(Path::new(d), &["audit", "verify", "--public-key", &key]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit log intact"));
    // Someone edits the record in the database: verify fails, naming it.
    let db = format!("{d}/twake.db");
    let tamper = |sql: &str| {
        let st = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
                &db,
                sql,
            ])
            .status()
            .unwrap();
        assert!(st.success());
    };
    tamper(&format!("UPDATE audit SET body = replace(body, 'alice@valmont.fr', 'eve@valmont.fr') WHERE seq = {id}"));
    let out = twake(Path::new(d), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("record {id}: its content does not match its hash")), "{text}");
    let out = twake(Path::new(d), &["audit", "verify", "--public-key", &"ab".repeat(32)]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn access_report_explain_groups_readers_and_canary() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let ok = |args: &[&str]| {
        let out = twake(&d, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    ok(&["ingest", "--readers", "alice.martin@valmont.fr,bob.leroy@valmont.fr", "examples/workspace/shared"]);
    ok(&["ingest", "--owner", "bob.leroy@valmont.fr", "examples/workspace/private-bob"]);
    let private = "examples/workspace/private-bob/entretien-annuel-bob-leroy.md";

    let v: serde_json::Value =
        serde_json::from_str(&ok(&["access", "report", "--as", "alice.martin@valmont.fr", "--json"])).unwrap();
    assert_eq!(v["documents"], 26, "13 files' documents and the room's 13 messages: {v}");
    assert_eq!(v["tenant"], "default");
    let sources: Vec<&str> = v["sources"].as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap()).collect();
    assert!(sources.contains(&"examples/workspace/shared/docs") && !sources.iter().any(|s| s.contains("private")));
    // The room's messages: the file's readers, and Alice as a member of
    // the room when each was sent (or as its sender).
    let chat = v["sources"].as_array().unwrap().iter().find(|s| s["kind"] == "chat").expect("the room");
    let by = &chat["granted_by"];
    assert_eq!(
        (by["alice.martin@valmont.fr (member)"].as_u64(), by["alice.martin@valmont.fr (from)"].as_u64()),
        (Some(11), Some(2)),
        "{chat}"
    );

    // Claire reads the Lyon thread because she wrote and received its mails.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "access",
        "explain",
        "--as",
        "claire.dubois@valmont.fr",
        "--json",
        "examples/workspace/shared/mail/projet-lyon.mbox",
    ]))
    .unwrap();
    let docs = v["documents"].as_array().unwrap();
    assert!(docs.iter().all(|d| d["readable"] == true), "{v}");
    assert_eq!(docs[0]["because"][0]["reason"], "from");

    // Nested groups and a readers change, effective at once.
    let explain = |user: &str| ok(&["access", "explain", "--as", user, private]);
    assert!(explain("alice.martin@valmont.fr").contains("NOT readable"));
    ok(&["access", "groups", "add", "group:rh", "group:direction"]);
    ok(&["access", "groups", "add", "group:direction", "alice.martin@valmont.fr"]);
    ok(&["access", "readers", private, "--set", "bob.leroy@valmont.fr,group:rh"]);
    let e = explain("alice.martin@valmont.fr");
    assert!(e.contains("alice.martin@valmont.fr ∈ group:direction ∈ group:rh"), "{e}");
    ok(&["access", "groups", "remove", "group:direction", "alice.martin@valmont.fr"]);
    assert!(explain("alice.martin@valmont.fr").contains("NOT readable"));
    let out = twake(&d, &["access", "groups", "remove", "group:direction", "alice.martin@valmont.fr"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a member of group:direction"));
    let out = twake(&d, &["access", "readers", "nope.md", "--set", "a@x.fr"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.md was not ingested"));

    // The canary: planted for Bob, checked for everyone else (search and
    // HTTP; answers are covered by the engine's tests), removed.
    let out = ok(&["access", "canary", "--owner", "bob.leroy@valmont.fr", "--no-ask"]);
    assert!(out.contains("canary: no leak"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["access", "report", "--as", "bob.leroy@valmont.fr", "--json"])).unwrap();
    assert!(!v.to_string().contains("canary"), "the canary was removed: {v}");

    // A new configured default applies, once relabelled, to the files
    // ingested without a level of their own; a dry run changes nothing.
    let relabel = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_twake-ai"));
        c.current_dir(root()).arg("--data-dir").arg(&d).args(args);
        c.env("TWAKE_AI__SENSITIVITY__DEFAULT", "confidential").output().unwrap()
    };
    let out = relabel(&["relabel", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed = v["changed"].as_array().unwrap();
    assert!(changed.len() >= 13, "{v}");
    assert!(changed.iter().all(|c| c["from"] == "internal" && c["to"] == "confidential"), "{v}");
    let out = relabel(&["relabel"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("done: {} documents relabelled", changed.len())), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&relabel(&["relabel", "--json"]).stdout).unwrap();
    assert_eq!(v["changed"].as_array().unwrap().len(), 0, "relabelling twice changes nothing: {v}");
}

#[test]
fn minutes_of_a_meeting_with_sources_and_due_dates() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let vtt = "examples/workspace/shared/meetings/comite-pilotage-2026-11-20.vtt";
    let out = twake(&d, &["ingest", "--readers", "alice.martin@valmont.fr", vtt]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = twake(&d, &["minutes", "--as", "alice.martin@valmont.fr", "--format", "json", vtt]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("minutes are JSON");
    assert_eq!(m["date"], "2026-11-20", "the meeting's date comes from the file name: {m}");
    assert!(!m["summary"].as_str().unwrap().is_empty(), "{m}");
    // Every source is a cue of this transcript, with its start time.
    let starts = ["00:02", "00:09", "00:18", "00:27", "00:38", "00:47", "00:58", "01:06"];
    let items = m["action_items"].as_array().unwrap();
    assert!(!items.is_empty(), "{m}");
    for it in items.iter().chain(m["decisions"].as_array().unwrap()) {
        let cue = it["source"]["cue"].as_u64().unwrap() as usize;
        assert!((1..=8).contains(&cue), "{it}");
        assert_eq!(it["source"]["time"], starts[cue - 1], "{it}");
    }
    // Due dates are resolved against the meeting's date, never before it.
    let dues: Vec<&str> = items.iter().filter_map(|i| i["due"].as_str()).collect();
    assert!(dues.iter().all(|d| *d >= "2026-11-20" && d.len() == 10), "{dues:?}");
    assert!(dues.contains(&"2027-02-26") || dues.contains(&"2027-03-06"), "Alice's deadlines: {m}");

    // The use is in the provenance log; someone who may not read the
    // transcript gets no minutes.
    let log: serde_json::Value = serde_json::from_slice(&twake(&d, &["audit", "show", "--json"]).stdout).unwrap();
    let rec = &log["records"][0];
    assert_eq!(rec["user"], "alice.martin@valmont.fr");
    assert_eq!(rec["seq"], m["audit_id"], "{rec}");
    assert!(!rec["passages"].as_array().unwrap().is_empty(), "{rec}");
    let out = twake(&d, &["minutes", "--as", "bob.leroy@valmont.fr", vtt]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no transcript you may read"), "{out:?}");
}

#[test]
fn summary_of_a_mail_thread_cites_its_messages() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let out = twake(&d, &["ingest", "--readers", "alice.martin@valmont.fr", "examples/workspace/shared/mail"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Any message of the thread names it, with or without <>.
    let out = twake(
        &d,
        &["summarize", "thread", "<lyon-002@valmont.fr>", "--as", "alice.martin@valmont.fr", "--format", "json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    let ids: Vec<&str> = s["messages"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["lyon-001@valmont.fr", "lyon-002@valmont.fr", "lyon-003@valmont.fr"], "oldest first: {s}");
    assert!(!s["summary"].as_str().unwrap().is_empty(), "{s}");
    assert_eq!(s["parts"], 1, "the thread fits the default context: {s}");
    let authors = ["Claire Dubois", "Alice Martin", "Bob Leroy"];
    let mut points = 0;
    for key in ["asked", "decided", "open"] {
        for p in s[key].as_array().unwrap() {
            points += 1;
            let n = p["message"].as_u64().unwrap() as usize;
            assert!((1..=3).contains(&n), "{p}");
            if key == "asked" {
                assert_eq!(p["who"], authors[n - 1], "who asked is the author of the message: {p}");
            }
        }
    }
    assert!(points > 0, "{s}");
    let log: serde_json::Value = serde_json::from_slice(&twake(&d, &["audit", "show", "--json"]).stdout).unwrap();
    assert_eq!(log["records"][0]["seq"], s["audit_id"]);
    assert_eq!(log["records"][0]["passages"].as_array().unwrap().len(), 3, "one passage a message");
    // Someone who received none of it gets nothing, not even the subject.
    let out = twake(&d, &["summarize", "thread", "lyon-001@valmont.fr", "--as", "eve@valmont.fr"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no message you may read") && !err.contains("Migration"), "{err}");
}

#[test]
fn room_catch_up_of_an_exported_room_mentions_first_points_cited() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let out = twake(&d, &["ingest", "--readers", "alice.martin@valmont.fr", "examples/workspace/shared/chat"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Claire, Bob and Marc read it as members of the room; Eve does not.
    let out = twake(&d, &["search", "--as", "marc.petit@valmont.fr", "--json", "étiquetage baie B4"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["title"], "Infra Lyon", "{v}");
    let args = ["summarize", "room", "Infra Lyon", "--since", "2026-11-24", "--format", "json", "--as"];
    let out = twake(&d, &[&args[..], &["eve@valmont.fr"]].concat());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no chat room you may read"), "{out:?}");

    let out = twake(&d, &[&args[..], &["alice.martin@valmont.fr"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 13, "the redacted message is not there: {v}");
    let mentioned: Vec<u64> =
        v["mentions"].as_array().unwrap().iter().map(|m| m["message"].as_u64().unwrap()).collect();
    assert_eq!(mentioned, [2, 8, 11], "{v}");
    // The edited message reads as edited.
    assert!(v["mentions"][0]["text"].as_str().unwrap().contains("@alice.martin"), "{v}");
    let points: Vec<&serde_json::Value> =
        v["topics"].as_array().unwrap().iter().flat_map(|t| t["points"].as_array().unwrap()).collect();
    assert!(!points.is_empty(), "{v}");
    for p in points {
        let n = p["message"].as_u64().unwrap() as usize;
        assert!((1..=13).contains(&n), "{p}");
        assert_eq!(p["who"], messages[n - 1]["from"], "who said it is the cited message's author: {p}");
    }
    assert!(v["audit_id"].as_i64().is_some(), "{v}");
    // Nothing new since a day to come: no model called.
    let out = twake(
        &d,
        &[
            "summarize",
            "room",
            "infra lyon",
            "--since",
            "2099-01-01",
            "--format",
            "json",
            "--as",
            "alice.martin@valmont.fr",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["messages"].as_array().map(Vec::len), v["model"].as_str()), (Some(0), Some("")), "{v}");
}

#[test]
fn reply_draft_answers_the_thread_and_is_never_sent() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let out = twake(&d, &["ingest", "--readers", "alice.martin@valmont.fr", "examples/workspace/shared/mail"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let point = "les commutateurs arrivent le 15 janvier";
    let args = ["draft-reply", "lyon-003@valmont.fr", "--as", "alice.martin@valmont.fr", "--tone", "formal"];
    let out = twake(&d, &[&args[..], &["--points", point, "--format", "json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the draft is JSON");
    // Addressed to the author of the message answered, threaded after it.
    assert_eq!(v["to"], "bob.leroy@valmont.fr", "{v}");
    assert_eq!(v["subject"], "Re: Migration du datacenter de Lyon — calendrier");
    assert_eq!(v["in_reply_to"], "lyon-003@valmont.fr");
    let refs: Vec<&str> = v["references"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(refs, ["lyon-001@valmont.fr", "lyon-002@valmont.fr", "lyon-003@valmont.fr"]);
    assert_eq!((v["lang"].as_str(), v["tone"].as_str()), (Some("fr"), Some("formal")), "the thread's language: {v}");
    let body = v["body"].as_str().unwrap();
    assert!(body.len() > 40 && body.contains("Alice"), "signed by the user: {body}");
    assert!(body.contains("15 janvier"), "the point given is made: {body}");
    // Every figure and date of the draft is in the thread or the points, or listed to check.
    assert!(v["unsupported"].is_array(), "{v}");
    let log: serde_json::Value = serde_json::from_slice(&twake(&d, &["audit", "show", "--json"]).stdout).unwrap();
    assert_eq!(log["records"][0]["seq"], v["audit_id"]);
    assert_eq!(log["records"][0]["passages"].as_array().unwrap().len(), 3, "the thread up to the message");

    // As a message file for a mail client: headers encoded, nothing sent.
    let out = twake(&d, &[&args[..], &["--format", "eml"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eml = String::from_utf8(out.stdout).unwrap();
    let (head, body) = eml.split_once("\r\n\r\n").expect("headers, a blank line, the body");
    assert!(head.lines().all(|l| l.is_ascii()), "{head}");
    for h in ["From: alice.martin@valmont.fr", "To: bob.leroy@valmont.fr", "In-Reply-To: <lyon-003@valmont.fr>"] {
        assert!(head.contains(h), "{h} in {head}");
    }
    assert!(head.contains("Subject: =?UTF-8?Q?Re=3A_Migration_du_datacenter_de_Lyon_=E2=80=94_calendrier?="), "{head}");
    assert!(!body.trim().is_empty());

    // Replying to a thread one did not receive is refused without a word of it.
    let out = twake(&d, &["draft-reply", "lyon-003@valmont.fr", "--as", "eve@valmont.fr"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Migration"));
    let out = twake(&d, &["draft-reply", "lyon-003@valmont.fr", "--as", "alice.martin@valmont.fr", "--tone", "rude"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("formal, neutral or friendly"), "{out:?}");
}

#[test]
fn translation_and_rewrite_keep_names_numbers_and_dates() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let text = "Bonjour Claire, Alice Martin confirme la bascule du datacenter de Lyon le samedi 14 novembre 2026. \
                Le budget de 12500 euros est validé ; écrivez à bob.leroy@valmont.fr pour les 3 baies restantes.";
    let run = |args: &[&str]| {
        let out = twake(&d, args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let v = run(&["translate", "--as", "alice.martin@valmont.fr", "--to", "en", "--json", text]);
    assert_eq!(v["lang"], "en");
    let t = v["text"].as_str().unwrap();
    assert!(v["facts"].as_u64().unwrap() >= 6, "names, figures, the date and the address are facts: {v}");
    assert_eq!(v["missing"], serde_json::json!([]), "every fact is kept: {t}");
    for exact in ["Alice Martin", "Lyon", "12500", "bob.leroy@valmont.fr", "2026"] {
        assert!(t.contains(exact), "{exact} in {t}");
    }
    assert!(!t.contains("[Your Name]"), "no closing the text does not have: {t}");
    assert_eq!(v["sensitivity"], "internal", "the configured default level");

    // A text with an IBAN is routed at the detector's level, whatever its wording.
    let iban = "Merci de virer le solde sur FR76 3000 6000 0112 3456 7890 189 avant vendredi.";
    let v = run(&["rewrite", "--as", "alice.martin@valmont.fr", "--tone", "formal", "--json", iban]);
    assert_eq!(v["sensitivity"], "confidential", "{v}");
    assert_eq!(v["tone"], "formal");
    assert_eq!(v["lang"], "fr", "a rewrite stays in the text's language");
    assert_eq!(v["audit_ids"].as_array().unwrap().len() as u64, v["parts"].as_u64().unwrap().max(1), "{v}");
    let log: serde_json::Value = serde_json::from_slice(&twake(&d, &["audit", "show", "--json"]).stdout).unwrap();
    let last = log["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["passages"][0]["path"], "(text given)");
    assert_eq!(last["passages"][0]["sensitivity"], "confidential");

    let out = twake(&d, &["translate", "--as", "alice.martin@valmont.fr", "--to", "xx", "bonjour"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("fr, en, de, es, it"), "{out:?}");
}

#[test]
fn a_thread_longer_than_the_context_is_summarised_in_parts() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    // A context of 800 tokens cannot hold the three messages of the thread
    // with the instructions and room for the answer.
    let config = dir.path().join("small.toml");
    std::fs::write(&config, "[models]\ncontext = 800\n").unwrap();
    let cfg = config.to_str().unwrap();
    let out = twake(&d, &["ingest", "--readers", "alice.martin@valmont.fr", "examples/workspace/shared/mail"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args = ["--config", cfg, "summarize", "thread", "lyon-001@valmont.fr", "--as", "alice.martin@valmont.fr"];
    let out = twake(&d, &[&args[..], &["--format", "json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts = s["parts"].as_u64().unwrap() as usize;
    assert!(parts >= 2, "read in parts: {s}");
    assert!(!s["summary"].as_str().unwrap().trim().is_empty(), "the parts' summaries are summarised: {s}");
    // Citations are still the original messages' numbers.
    for key in ["asked", "decided", "open"] {
        for p in s[key].as_array().unwrap() {
            assert!((1..=3).contains(&p["message"].as_u64().unwrap()), "{p}");
        }
    }
    // One provenance record a part, each with only that part's messages,
    // then the summary of the parts with all of them.
    let log: serde_json::Value = serde_json::from_slice(&twake(&d, &["audit", "show", "--json"]).stdout).unwrap();
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), parts + 1, "{log}");
    let sent: usize = records[..parts].iter().map(|r| r["passages"].as_array().unwrap().len()).sum();
    assert_eq!(sent, 3, "each message in exactly one part (none cut here): {log}");
    assert_eq!(records[parts]["passages"].as_array().unwrap().len(), 3);
    assert_eq!(records[parts]["seq"], s["audit_id"]);
}

#[test]
fn the_assistants_are_scored_against_an_evaluation_set() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    // A one-thread set (the full set is `make eval`; it takes minutes a meeting).
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let mbox = root().join("examples/eval/assistants/formation-securite.mbox");
    let reference = format!(
        "[[threads]]\npath = {:?}\nmessage_id = \"formation-1@valmont.fr\"\n\
         decided = [[\"module en ligne\", \"salaries\", \"managers\"]]\n\
         asked = [{{ who = \"Julie Moreau\", keywords = [\"format\", \"20 novembre\"] }}]\n\
         open = [{{ keywords = [\"invitations\", \"15 janvier\"], due = \"2027-01-15\" }}]\n",
        mbox.display().to_string()
    );
    std::fs::write(set.join("reference.toml"), reference).unwrap();
    let out = twake(&d, &["eval", "assistants", "--set", set.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &v["items"][0];
    assert_eq!((&item["error"], item["kind"].as_str()), (&serde_json::Value::Null, Some("thread")), "{v}");
    assert_eq!(item["actions"]["reference"], 1, "asked points are scored with their asker: {v}");
    assert_eq!(item["decisions"]["reference"], 2, "decided and open points: {v}");
    let f = &v["total"]["faithfulness"];
    assert!(f["checked"].as_u64().unwrap() > 0 && f["supported"].as_u64() <= f["checked"].as_u64(), "{v}");
    for t in [&item["actions"], &item["decisions"]] {
        assert!(t["matched"].as_u64() <= t["predicted"].as_u64().min(t["reference"].as_u64()), "{t}");
    }
    // A set without references says what it needs.
    let out = twake(&d, &["eval", "assistants", "--set", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a folder with reference.toml"), "{out:?}");
}

#[test]
fn answers_are_scored_against_questions_with_their_facts() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Three questions (the full set is `make eval-answers`): a fact, the
    // same asked in English, one nothing answers.
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let mbox = root().join("examples/workspace/shared/mail/projet-lyon.mbox");
    let questions = format!(
        "asker = \"alice.martin@valmont.fr\"\n\
         [[corpus]]\npath = {mbox:?}\nreaders = [\"alice.martin@valmont.fr\"]\n\
         [[q]]\nquestion = \"Quand a lieu la bascule du datacenter de Lyon ?\"\nkind = \"fact\"\nfacts = [[\"14 mars\"]]\nsources = [{mbox:?}]\n\
         [[q]]\nquestion = \"When is the Lyon datacenter cutover?\"\nkind = \"cross\"\nfacts = [[\"March 14\", \"14 mars\"]]\nsources = [{mbox:?}]\n\
         [[q]]\nquestion = \"Quelle est la recette de la tarte tatin ?\"\nkind = \"refuse\"\n",
        mbox = mbox.display().to_string()
    );
    std::fs::write(set.join("questions.toml"), questions).unwrap();
    let out = twake(&dir.path().join("unused"), &["eval", "answers", "--set", set.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["total"];
    assert_eq!(
        (t["questions"].as_u64(), t["answerable"].as_u64(), t["must_refuse"].as_u64()),
        (Some(3), Some(2), Some(1)),
        "{v}"
    );
    assert_eq!(t["refused"], 1, "nothing answers the third: {v}");
    assert_eq!(v["questions"][0]["score"]["held"], 1, "the French answer holds its fact: {v}");
    assert_eq!(t["false_not_found"], 0, "{v}");
    assert_eq!(t["only_unsupported"], 0, "{v}");
    let p50 = &v["p50_ms"];
    assert!(p50["sources"].as_f64().unwrap() < p50["first_token"].as_f64().unwrap(), "the passages come first: {v}");
    for r in v["questions"].as_array().unwrap() {
        let s = &r["score"];
        assert!(
            s["held"].as_u64() <= s["facts"].as_u64() && s["citations_right"].as_u64() <= s["citations"].as_u64(),
            "{r}"
        );
    }
    // A set without questions says what it needs.
    let out = twake(dir.path(), &["eval", "answers", "--set", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a folder with questions.toml"), "{out:?}");
}

#[test]
fn triage_says_which_threads_need_a_reply_and_their_deadlines() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let out = twake(
        &d,
        &["ingest", "--readers", "alice.martin@valmont.fr,bob.leroy@valmont.fr", "examples/workspace/shared/mail"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let triage = |user: &str| {
        let out = twake(&d, &["triage", "--as", user, "--since", "2026-11-01", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let alice = triage("alice.martin@valmont.fr");
    let threads = alice["threads"].as_array().unwrap();
    let lyon = threads
        .iter()
        .find(|t| t["message_id"] == "lyon-003@valmont.fr")
        .expect("the Lyon thread, by its last message");
    assert_eq!(lyon["new_messages"], 3);
    assert!(!lyon["gist"].as_str().unwrap().is_empty());
    // Deadlines are read from each message's own day; an event date is not one.
    let dues: Vec<&str> = lyon["deadlines"].as_array().unwrap().iter().map(|x| x["date"].as_str().unwrap()).collect();
    assert_eq!(dues, ["2026-11-06", "2027-01-15"], "avant vendredi (Mon 2 Nov), d'ici le 15 janvier: {lyon}");
    assert!(!dues.contains(&"2027-03-14"), "the cutover is an event, not a deadline");
    // Replies needed come first.
    let flags: Vec<bool> = threads.iter().map(|t| t["needs_reply"].as_bool().unwrap()).collect();
    assert!(flags.windows(2).all(|w| w[0] >= w[1]), "{flags:?}");
    // A mail sent to a list, not to Alice, needs no reply from her, whatever the model says.
    let rgpd = threads.iter().find(|t| t["message_id"] == "rgpd-2026@valmont.fr").expect("sent to tous@valmont.fr");
    assert_eq!(rgpd["needs_reply"], false, "{rgpd}");
    assert!(rgpd["why"].as_str().unwrap().contains("not addressed to you"), "{rgpd}");
    // Bob wrote the last message of the Lyon thread: nothing to answer there.
    let bob = triage("bob.leroy@valmont.fr");
    let lyon =
        bob["threads"].as_array().unwrap().iter().find(|t| t["message_id"] == "lyon-003@valmont.fr").unwrap().clone();
    assert_eq!(
        (lyon["needs_reply"].as_bool(), lyon["why"].as_str()),
        (Some(false), Some("your message is the last one"))
    );
    let out = twake(&d, &["triage", "--as", "alice.martin@valmont.fr", "--since", "last week"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD or a number of days back"), "{out:?}");
}

#[test]
fn daily_brief_gathers_mail_and_meetings_that_concern_the_user() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let out = twake(
        &d,
        &[
            "ingest",
            "--readers",
            "alice.martin@valmont.fr,bob.leroy@valmont.fr",
            "examples/workspace/shared/mail",
            "examples/workspace/shared/meetings",
            "examples/workspace/shared/chat",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = twake(&d, &["brief", "--as", "alice.martin@valmont.fr", "--since", "2026-11-01", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b["since"], "2026-11-01T00:00:00Z");
    let threads = b["mail"]["threads"].as_array().unwrap();
    assert!(threads.iter().any(|t| t["message_id"] == "lyon-003@valmont.fr"), "{b}");
    assert!(b["tokens"].as_u64().unwrap() > 0 && !b["mail"]["audit_ids"].as_array().unwrap().is_empty());
    // The steering committee asks Alice for the fallback plan: that passage,
    // not her own answer, with its time in the recording.
    let meetings = b["meetings"].as_array().unwrap();
    assert_eq!(meetings.len(), 2, "{b}");
    let copil = meetings.iter().find(|m| m["path"].as_str().unwrap().contains("comite-pilotage")).unwrap();
    assert_eq!(copil["date"], "2026-11-20");
    let lines: Vec<&str> = copil["mentions"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(lines.iter().any(|l| l.contains("Alice, tu le rédiges")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.starts_with("Alice Martin:")), "her own words are not mentions: {lines:?}");
    assert!(copil["mentions"][0]["time"].as_str().unwrap().contains('–'));
    // The exported room: its 13 readable messages (one redacted), three of
    // them naming Alice.
    let rooms = b["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1, "{b}");
    assert_eq!((rooms[0]["room"].as_str(), rooms[0]["new_messages"].as_u64()), (Some("Infra Lyon"), Some(13)));
    let named: Vec<&str> =
        rooms[0]["mentions"].as_array().unwrap().iter().map(|m| m["from"].as_str().unwrap()).collect();
    assert_eq!(named, ["Bob Leroy", "Claire Dubois", "Claire Dubois"], "{b}");
    // Nothing since a day to come: nothing read, no model called.
    let out = twake(&d, &["brief", "--as", "alice.martin@valmont.fr", "--since", "2099-01-01", "--json"]);
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((b["tokens"].as_u64(), b["meetings"].as_array().map(Vec::len)), (Some(0), Some(0)), "{b}");
    let out = twake(&d, &["brief", "--as", "alice.martin@valmont.fr", "--since", "hier"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --since"), "{out:?}");
}
