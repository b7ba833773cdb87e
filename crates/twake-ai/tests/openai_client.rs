//! The official `openai` Python client against a running `twake-ai serve`
//! with the real models. Needs `TWAKE_AI_TEST_PYTHON`, a Python with
//! `openai` installed (`make test` makes one with scripts/python-env.sh).
//! Also checks that SIGTERM shuts the server down cleanly.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::root;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_twake-ai"));
    c.current_dir(root());
    c
}

#[test]
fn official_openai_client_against_serve() {
    let Some(python) = twake_testkit::needs(
        "TWAKE_AI_TEST_PYTHON",
        "set it to the python scripts/python-env.sh prints, with the official `openai` client (make test does)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let st = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["ingest", "--readers", "alice@valmont.fr", "examples/workspace/shared"])
        .status()
        .unwrap();
    assert!(st.success());
    let out =
        bin().arg("--data-dir").arg(&data).args(["keys", "create", "--user", "alice@valmont.fr"]).output().unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("twk_"));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = bin()
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "server did not start");
        assert!(server.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = Command::new(python)
        .arg(root().join("tests/openai_client.py"))
        .env("TWAKE_AI_URL", &url)
        .env("TWAKE_AI_KEY", &key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&result.stderr));

    // Graceful shutdown on SIGTERM.
    let st = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    server.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "server exit {status}: {err}");

    assert!(result.status.success(), "python client tests failed:\n{stdout}");
    assert!(stdout.contains("openai client: 12 passed, 0 failed"), "{stdout}");
}
