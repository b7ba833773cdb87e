//! The web UI end to end in a real browser: headless Chromium (Debian's
//! `chromium`) driven by `playwright-core` (tests/ui/e2e.mjs) against
//! `twake-ai serve` on the sample workspace, with a real OIDC provider
//! (`oidc-provider`, tests/oidc/provider.mjs) for the sign-in through an
//! identity provider. Sign-in with a key and through the provider, a
//! streamed answer seen while it is written and another stopped (the
//! server's generation gauge back to 0), a citation opened beside it,
//! feedback, renaming, confirmations, the search page, "nothing found",
//! pickers, an upload indexed, the tools, French, every page on a phone,
//! the admin pages (refused to a non-admin), another user's private
//! sources never shown, and axe-core on every page in both languages.
//! Screenshots go to docs/screenshots (the README shows them).
//! Needs `TWAKE_AI_TEST_NODE_DIR` (oidc-provider, playwright-core and
//! axe-core installed; `make test` makes it with scripts/node-env.sh), the
//! models, and /usr/bin/chromium (`scripts/install-deps.sh --test`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{Kill, free_port, root, wait_for};

const ALICE: &str = "alice.martin@valmont.fr";
const BOB: &str = "bob.leroy@valmont.fr";

fn twake(data: &Path, args: &[&str]) -> String {
    common::ok(common::twake(data, args))
}

#[test]
fn the_web_ui_in_a_real_browser() {
    let Some(node_dir) = twake_testkit::needs(
        "TWAKE_AI_TEST_NODE_DIR",
        "set it to the folder scripts/node-env.sh prints, with playwright-core installed (make test does)",
    ) else {
        return;
    };
    if !twake_testkit::models() {
        return;
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "no /usr/bin/chromium: scripts/install-deps.sh --test installs Debian's chromium"
    );
    let node_dir = Path::new(&node_dir);
    for package in ["playwright-core", "axe-core"] {
        assert!(
            node_dir.join("node_modules").join(package).is_dir(),
            "no {package} in {}: run scripts/node-env.sh",
            node_dir.display()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.as_path();
    let readers = format!("{ALICE},{BOB}");
    twake(data, &["ingest", "--readers", &readers, "examples/workspace/shared"]);
    twake(data, &["ingest", "--readers", BOB, "--sensitivity", "confidential", "examples/workspace/private-bob"]);
    let key_alice = twake(data, &["keys", "create", "--user", ALICE, "--label", "e2e"]).trim().to_string();
    let key_bob = twake(data, &["keys", "create", "--user", BOB, "--label", "e2e"]).trim().to_string();

    // The identity provider, told TwakeAI's callback.
    let api = free_port();
    let base = format!("http://127.0.0.1:{api}");
    let provider_script = node_dir.join("twake-oidc-provider.mjs");
    std::fs::copy(root().join("tests/oidc/provider.mjs"), &provider_script).unwrap();
    let oidc_port = free_port();
    let mut provider = Command::new("node")
        .arg(&provider_script)
        .arg(oidc_port.to_string())
        .arg(format!("{base}/ui/oidc/callback"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut said = BufReader::new(provider.stdout.take().unwrap());
    said.read_line(&mut line).unwrap();
    // Keep reading what it says (its notices): a closed pipe would kill it.
    std::thread::spawn(move || for _ in said.lines() {});
    let _provider = Kill(provider);
    assert_eq!(line.trim(), "ready", "the provider did not start");
    let issuer = format!("http://127.0.0.1:{oidc_port}");

    let server = Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(root())
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", &format!("127.0.0.1:{api}"), "--sync-every", "0"])
        .env("TWAKE_AI__AUTH__ADMINS", ALICE)
        .env("TWAKE_AI__AUTH__OIDC_ISSUER", &issuer)
        .env("TWAKE_AI__AUTH__OIDC_AUDIENCE", "urn:twake-ai:api")
        .env("TWAKE_AI__AUTH__OIDC_CLIENT_ID", "twake-ai-web")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Kill(server);
    wait_for(api, &mut server.0);

    let upload = dir.path().join("achats-zanzibar.md");
    std::fs::write(
        &upload,
        "# Achats\n\nLe mot de code Zanzibar procurement codeword désigne le lot de serveurs commandé en décembre.\n",
    )
    .unwrap();
    let shots = root().join("docs/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // ES modules resolve packages next to the script: run it from node_dir.
    let script = node_dir.join("twake-ui-e2e.mjs");
    std::fs::copy(root().join("tests/ui/e2e.mjs"), &script).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .env("BASE", &base)
        .env("KEY_ALICE", &key_alice)
        .env("KEY_BOB", &key_bob)
        .env("UPLOAD", &upload)
        .env("SHOTS", &shots)
        .env("OIDC", &issuer)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok: every step passed"), "{stdout}");
    assert!(stdout.contains("axe-core: no serious or critical violation"), "{stdout}");
    for page in ["sign-in", "ask", "source", "search", "sources", "tools", "admin", "phone"] {
        assert!(shots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
    }
}
