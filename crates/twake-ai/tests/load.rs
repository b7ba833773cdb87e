//! A bounded run of `twake-ai load` on the real models (`make load` runs
//! 64 and 256 clients for a minute each): 12 clients spread over search,
//! ask and the OpenAI API for 10 s against a `serve` child with its
//! default limits. It must hold: every answer a 200 or a fast 429/503
//! with `Retry-After`, no request left hanging, memory held.

mod common;

#[test]
fn concurrent_clients_get_answers_or_fast_refusals() {
    if !twake_testkit::models() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(common::root())
        .args(["load", "--clients", "12", "--seconds", "10", "--users", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "did not hold:\n{stdout}\n{stderr}");
    assert!(stdout.lines().last() == Some("held"), "{stdout}");
    // Every route answered something, and the table has its three rows.
    for route in ["/api/v1/search", "/api/v1/ask", "/v1/chat/completions"] {
        assert!(stdout.contains(&format!("| 12 | `{route}` |")), "{stdout}");
    }
}
