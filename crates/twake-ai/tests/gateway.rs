//! The model gateway against a real remote: a second `twake-ai serve`
//! stands in for an external OpenAI-compatible model, behind a recording
//! proxy (`tests/recording_proxy.py`) that logs every request body it
//! receives. The checks are made on those bodies, at the socket: internal
//! passages go as they are, confidential ones only pseudonymised, secret
//! ones never. Runs with the real models (`TWAKE_AI_TEST_MODELS=1`).

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{Kill, free_port, root, wait_for};

#[test]
fn sensitivity_routing_is_enforced_at_the_socket() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let twake = |data: &Path, args: &[&str], config: Option<&Path>| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_twake-ai"));
        c.current_dir(root()).arg("--data-dir").arg(data).args(args).env("CLOUD_KEY", "");
        if let Some(cfg) = config {
            c.arg("--config").arg(cfg);
        }
        c.output().unwrap()
    };

    // The "remote" model: another installation serving the raw GGUF model.
    let remote = dir.path().join("remote");
    let key_out = twake(&remote, &["keys", "create", "--user", "gateway@valmont.fr"], None);
    assert!(key_out.status.success());
    let remote_key = String::from_utf8(key_out.stdout).unwrap().trim().to_string();
    let (remote_port, proxy_port) = (free_port(), free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(root())
        .arg("--data-dir")
        .arg(&remote)
        .args(["serve", "--listen", &format!("127.0.0.1:{remote_port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(remote_port, &mut server);
    let _server = Kill(server);
    let log = dir.path().join("bodies.log");
    let mut proxy = Command::new("python3")
        .arg(root().join("tests/recording_proxy.py"))
        .args([proxy_port.to_string(), remote_port.to_string(), log.display().to_string()])
        .spawn()
        .unwrap();
    wait_for(proxy_port, &mut proxy);
    let _proxy = Kill(proxy);

    // This installation may use only the remote: internal as is,
    // confidential once pseudonymised, secret never.
    let config = dir.path().join("twake-ai.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nprefer = [\"cloud\"]\n\n[[gateway.models]]\nname = \"cloud\"\nurl = \"http://127.0.0.1:{proxy_port}/v1\"\n\
             model = \"qwen2.5-coder-1.5b-instruct-q4_k_m\"\napi_key_env = \"CLOUD_KEY\"\nclearance = \"internal\"\n\
             pseudonymised_clearance = \"confidential\"\njurisdiction = \"EU\"\nprice_per_million_tokens = 1000.0\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let cfg = Some(config.as_path());
    let ingest = |args: &[&str]| assert!(twake(&data, args, cfg).status.success(), "{args:?}");
    ingest(&["ingest", "--readers", "alice.martin@valmont.fr,bob.leroy@valmont.fr", "examples/workspace/shared"]);
    ingest(&[
        "ingest",
        "--owner",
        "bob.leroy@valmont.fr",
        "--sensitivity",
        "confidential",
        "examples/workspace/private-bob",
    ]);
    ingest(&["ingest", "--owner", "alice.martin@valmont.fr", "tests/fixtures/sensitivity/nir.md"]);
    let ask = |user: &str, q: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_twake-ai"));
        c.current_dir(root()).arg("--data-dir").arg(&data).arg("--config").arg(&config);
        c.env("CLOUD_KEY", &remote_key).args(["ask", "--json", "--as", user, q]).output().unwrap()
    };
    let bodies = || std::fs::read_to_string(&log).unwrap_or_default();

    // Internal: sent as it is, answered by the remote model.
    let out = ask("alice.martin@valmont.fr", "Quand a lieu la bascule du datacenter de Lyon ?");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["answer"].as_str().unwrap().contains("14 mars"), "{v}");
    assert!(v["model"].as_str().unwrap().starts_with("cloud"), "{v}");
    assert!(bodies().contains("14 mars 2027"), "the internal passage went to the remote");

    // Confidential: only pseudonymised; the answer comes back restored.
    let before = bodies().len();
    let out = ask("bob.leroy@valmont.fr", "Quels sont les objectifs 2027 de Bob Leroy dans son entretien annuel ?");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = bodies()[before..].to_string();
    assert!(!sent.is_empty(), "the confidential request went (pseudonymised) to the remote");
    for name in ["Bob Leroy", "Leroy", "bob.leroy"] {
        assert!(!sent.contains(name), "{name} left the perimeter: {sent}");
    }
    assert!(sent.contains("[PERSONNE_"), "{sent}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["answer"].as_str().unwrap().contains("[PERSONNE_1]"), "restored: {v}");

    // Secret: refused, nothing sent, and the refusal says which passage.
    let before = bodies().len();
    let out = ask("alice.martin@valmont.fr", "Quel est le numéro de sécurité sociale du nouvel arrivant ?");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nir.md") && err.contains("secret"), "{err}");
    assert_eq!(bodies().len(), before, "nothing was sent for a secret passage");
    assert!(!bodies().contains("451 089"), "the NIR never left");

    // The provenance log records each decision, with endpoint and jurisdiction.
    let out = twake(&data, &["audit", "show", "--json"], cfg);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = log["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "{log}");
    assert_eq!(recs[0]["jurisdiction"], "EU");
    assert!(recs[0]["endpoint"].as_str().unwrap().contains(&proxy_port.to_string()));
    assert!(recs[1]["pseudonymisation"].as_str().unwrap().contains("placeholders"), "{}", recs[1]);
    assert!(recs[2]["decision"].as_str().unwrap().starts_with("refused"), "{}", recs[2]);
    assert!(twake(&data, &["audit", "verify"], cfg).status.success());

    // Budgets count the remote's own price (the embedded model's is 0).
    let out = twake(&data, &["usage", "--json"], cfg);
    let usage: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alice =
        usage["usage"].as_array().unwrap().iter().find(|u| u["principal"] == "alice.martin@valmont.fr").unwrap();
    let tokens = alice["tokens"].as_f64().unwrap();
    assert!(tokens > 0.0 && (alice["cost"].as_f64().unwrap() - tokens * 1000.0 / 1e6).abs() < 1e-9, "{usage}");
}

#[test]
fn a_remote_that_fails_hands_over_to_the_next_allowed_model() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: the remote is down.
    let dead = free_port();
    let config = dir.path().join("twake-ai.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nprefer = [\"down\", \"embedded\"]\n\n[[gateway.models]]\nname = \"down\"\nurl = \"http://127.0.0.1:{dead}/v1\"\n\
             model = \"m\"\nclearance = \"secret\"\njurisdiction = \"EU\"\ntimeout_seconds = 5\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_twake-ai"))
            .current_dir(root())
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["ingest", "--readers", "alice@valmont.fr", "examples/workspace/shared/mail"]).status.success());
    let out = run(&["ask", "--json", "--as", "alice@valmont.fr", "Quand a lieu la bascule du datacenter de Lyon ?"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["answer"].as_str().unwrap().contains("14 mars"), "{v}");
    assert_eq!(v["model"], "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "answered by the embedded model");
    let log: serde_json::Value = serde_json::from_slice(&run(&["audit", "show", "--json"]).stdout).unwrap();
    let decision = log["records"][0]["decision"].as_str().unwrap().to_string();
    assert!(decision.contains("down (m) failed") && decision.contains("fell back"), "{decision}");
    assert_eq!(log["records"][0]["endpoint"], "embedded");
}
