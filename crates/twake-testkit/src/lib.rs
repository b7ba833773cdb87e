//! The prerequisites of the tests that run against real peers (Dovecot,
//! Synapse, an OIDC provider, the `openai` client…) or the real models.
//!
//! A test whose prerequisite is missing **fails**, saying what is missing
//! and the command that provides it: a test that returns early and reports
//! `ok` without having run is a lie. A run that sets
//! `TWAKE_AI_TEST_ALLOW_SKIP=1` lets such a test return instead, and the
//! skip is written to stderr and, when `TWAKE_AI_TEST_SKIPS` names a file,
//! appended there as one line (`scripts/test.sh` lists and counts them in
//! its closing line). `make test` sets everything up and allows no skip.
//!
//! ```ignore
//! if !twake_testkit::models() { return; } // only with TWAKE_AI_TEST_ALLOW_SKIP=1
//! ```

use std::ffi::OsString;
use std::io::Write;

/// The variable that lets a run skip the tests whose prerequisites are
/// missing.
pub const ALLOW_SKIP: &str = "TWAKE_AI_TEST_ALLOW_SKIP";
/// The file where skips are recorded, one line each.
pub const SKIPS: &str = "TWAKE_AI_TEST_SKIPS";

/// The value of `var`, which names a prerequisite (a peer's install
/// folder, a python with a client); `how` says how to get it. Missing, the
/// test fails, or is skipped (`None`) when the run allows skips.
pub fn needs(var: &str, how: &str) -> Option<OsString> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            missing(&format!("{var} is not set: {how}"));
            None
        }
    }
}

/// Whether the real models may be loaded (`TWAKE_AI_TEST_MODELS=1`, set
/// by `make test` once `twake-ai models pull` has run).
pub fn models() -> bool {
    needs("TWAKE_AI_TEST_MODELS", "run `twake-ai models pull`, then set TWAKE_AI_TEST_MODELS=1 (make test does both)")
        .is_some()
}

/// Whether the test runs as root (a peer whose daemon starts as root and
/// drops to its own user, such as Cyrus's master).
pub fn root(why: &str) -> bool {
    let uid = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    if uid == b"0\n" {
        return true;
    }
    missing(&format!("needs root: {why}"));
    false
}

/// A prerequisite is missing: fail, or record the skip when allowed.
pub fn missing(what: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    if std::env::var_os(ALLOW_SKIP).is_none_or(|v| v != "1") {
        panic!(
            "{test}: {what}.\n`make test` installs and sets up every prerequisite; \
             to count this test as skipped instead, run with {ALLOW_SKIP}=1"
        );
    }
    let line = format!("skipped {test}: {what}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIPS) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot record the skip in {}: {e}", path.to_string_lossy()));
        // One write of one line: concurrent tests do not interleave.
        f.write_all(format!("{line}\n").as_bytes()).expect("the skip is recorded");
    }
}

/// xorshift64*: a fixed, dependency-free source of randomness for the
/// fuzz runs (the same seed gives the same inputs).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// Run on its own by the test below, in a child process.
    #[test]
    #[ignore = "run by a_missing_prerequisite_fails_unless_the_run_allows_skips"]
    fn needs_an_absent_peer() {
        if super::needs("TWAKE_TESTKIT_ABSENT_PEER", "nothing provides it").is_none() {
            return;
        }
        unreachable!("the peer is absent");
    }

    #[test]
    fn a_missing_prerequisite_fails_unless_the_run_allows_skips() {
        let dir = std::env::temp_dir().join(format!("twake-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips");
        let _ = std::fs::remove_file(&log);
        let run = |allow: bool| {
            let mut c = Command::new(std::env::current_exe().unwrap());
            c.args(["--ignored", "--exact", "tests::needs_an_absent_peer", "--test-threads", "2"])
                .env_remove("TWAKE_TESTKIT_ABSENT_PEER")
                .env_remove(super::ALLOW_SKIP)
                .env(super::SKIPS, &log);
            if allow {
                c.env(super::ALLOW_SKIP, "1");
            }
            c.output().unwrap()
        };
        let failed = run(false);
        let out = String::from_utf8_lossy(&failed.stdout);
        assert!(!failed.status.success(), "a missing peer fails the test: {out}");
        assert!(out.contains("TWAKE_TESTKIT_ABSENT_PEER is not set: nothing provides it"), "{out}");
        assert!(!log.exists(), "a failure is no skip");
        let skipped = run(true);
        assert!(skipped.status.success(), "{}", String::from_utf8_lossy(&skipped.stdout));
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(lines.lines().count(), 1, "{lines}");
        assert!(lines.starts_with("skipped tests::needs_an_absent_peer: TWAKE_TESTKIT_ABSENT_PEER"), "{lines}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
