//! OIDC against a real provider: the `oidc-provider` npm package started on
//! loopback (tests/oidc/provider.mjs), and `twake-ai serve` configured with
//! its issuer. A valid token is accepted and names its user (its e-mail
//! only when the provider verified it); tokens with a wrong audience, a
//! wrong signature or past their expiry are refused.
//! Needs `TWAKE_AI_TEST_NODE_DIR` (a folder with oidc-provider installed;
//! `make test` makes it with scripts/node-env.sh) and the models.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Kill, free_port, root};

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn token(issuer: &str, client: &str, resource: &str) -> String {
    let (code, body) = curl(&[
        "-X",
        "POST",
        &format!("{issuer}/token"),
        "-d",
        "grant_type=client_credentials",
        "-d",
        &format!("client_id={client}"),
        "-d",
        &format!("client_secret=secret-{client}"),
        "-d",
        &format!("resource={resource}"),
        "-d",
        "scope=api",
    ]);
    assert_eq!(code, 200, "token request failed: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

#[test]
fn oidc_tokens_from_a_real_provider() {
    let Some(node_dir) = twake_testkit::needs(
        "TWAKE_AI_TEST_NODE_DIR",
        "set it to the folder scripts/node-env.sh prints, with oidc-provider installed (make test does)",
    ) else {
        return;
    };
    if !twake_testkit::models() {
        return;
    }
    // ES modules resolve packages next to the script: run it from node_dir.
    let script = Path::new(&node_dir).join("twake-oidc-provider.mjs");
    std::fs::copy(root().join("tests/oidc/provider.mjs"), &script).unwrap();
    let port = free_port();
    let mut provider = Command::new("node")
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(provider.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _provider = Kill(provider);
    assert_eq!(line.trim(), "ready", "the provider did not start");
    let issuer = format!("http://127.0.0.1:{port}");
    let audience = "urn:twake-ai:api";

    let good = token(&issuer, "alice@valmont.fr", audience);
    let other_audience = token(&issuer, "alice@valmont.fr", "urn:other:api");
    let short = token(&issuer, "expired@valmont.fr", audience);
    let unverified = token(&issuer, "unverified@valmont.fr", audience);
    // Flip one character of the signature.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);

    let dir = tempfile::tempdir().unwrap();
    let api = free_port();
    let server = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(root())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{api}")])
        .env("TWAKE_AI__AUTH__OIDC_ISSUER", &issuer)
        .env("TWAKE_AI__AUTH__OIDC_AUDIENCE", audience)
        .env("TWAKE_AI__AUTH__OIDC_LEEWAY_SECONDS", "0")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Kill(server);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "server did not start");
        assert!(server.0.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let me =
        |t: &str| curl(&["-H", &format!("Authorization: Bearer {t}"), &format!("http://127.0.0.1:{api}/api/v1/me")]);
    let (code, body) = me(&good);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("alice@valmont.fr"), "{body}");
    // An address the provider did not verify is nobody's: the user is the
    // issuer's `sub`, which no e-mail address of ours can be.
    let (code, body) = me(&unverified);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("oidc:127.0.0.1:unverified%40valmont.fr"), "{body}");
    assert!(!body.contains("\"unverified@valmont.fr\""), "{body}");
    let (code, body) = me(&other_audience);
    assert_eq!(code, 401, "wrong audience accepted: {body}");
    assert!(body.contains("InvalidAudience"), "{body}");
    let (code, body) = me(&tampered);
    assert_eq!(code, 401, "tampered signature accepted: {body}");
    std::thread::sleep(Duration::from_millis(2500));
    let (code, body) = me(&short);
    assert_eq!(code, 401, "expired token accepted: {body}");
    assert!(body.contains("ExpiredSignature"), "{body}");
    // API keys keep working beside OIDC... and a garbage token is refused.
    assert_eq!(me("not.a.jwt").0, 401);
}
