//! Helpers shared by the integration tests on the sample workspace.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use twake_core::ingest::{IngestOptions, IngestReport};
use twake_core::{AccessPass, Config, Principal, Workspace};

pub const ALICE: &str = "alice.martin@valmont.fr";
pub const BOB: &str = "bob.leroy@valmont.fr";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn p(s: &str) -> Principal {
    Principal::parse(s).unwrap()
}

/// The user's pass as the policy builds it (directory read from the store).
pub async fn pass(ws: &Workspace, s: &str) -> AccessPass {
    ws.pass_for(&p(s)).await.unwrap()
}

pub async fn ingest(ws: &Workspace, paths: &[PathBuf], readers: &[&str]) -> IngestReport {
    let opts = IngestOptions::readers(readers.iter().map(|r| p(r)).collect());
    ws.ingest(paths, &opts, &mut |_| {}).await.unwrap()
}

pub async fn sample(dir: &Path) -> Workspace {
    let ws = Workspace::open(dir, Config::default()).await.unwrap();
    let r = ingest(&ws, &[root().join("examples/workspace/shared")], &[ALICE, BOB]).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let r = ingest(&ws, &[root().join("examples/workspace/private-bob")], &[BOB]).await;
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    ws
}
