//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's root (tests run `twake-ai` from there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// `twake-ai --data-dir DIR ARGS…` run from the repository's root, with
/// `envs` set and nothing on its standard input.
pub fn twake_cmd(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_twake-ai"));
    c.current_dir(root()).arg("--data-dir").arg(dir).args(args).envs(envs.iter().copied()).stdin(Stdio::null());
    c
}

/// Runs [`twake_cmd`] to its end.
pub fn twake_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    twake_cmd(dir, args, envs).output().expect("run twake-ai")
}

/// Runs `twake-ai --data-dir DIR ARGS…` to its end.
pub fn twake(dir: &Path, args: &[&str]) -> Output {
    twake_env(dir, args, &[])
}

/// The standard output of a run that must have succeeded.
pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Paths of what `user` finds for `query` (20 best).
pub fn found_paths(dir: &Path, user: &str, query: &str) -> Vec<String> {
    let out = ok(twake(dir, &["search", "--as", user, "-k", "20", "--json", query]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect()
}

/// The source `name` as `sources status --json` shows it (null if absent).
pub fn source_status(dir: &Path, name: &str) -> Value {
    let out = twake(dir, &["sources", "status", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sources status: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    v.as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap_or_default()
}

/// "stored N" and so on from a sync's summary line.
pub fn count(summary: &str, what: &str) -> usize {
    let words: Vec<&str> = summary.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].trim_end_matches(',') == what)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} in {summary:?}"))
}

/// A child process killed (and reaped) when the test ends, even on panic.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `port` accepts connections, failing if `child` exits first.
pub fn wait_for(port: u16, child: &mut Child) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "port {port} did not open");
        assert!(child.try_wait().unwrap().is_none(), "the process exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
}
