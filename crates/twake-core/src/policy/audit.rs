//! Signed provenance: every answer appends a record to a hash-chained,
//! append-only log signed with the installation's Ed25519 key.
//!
//! A record's body is canonical JSON holding its sequence number and the
//! previous record's hash; its hash is SHA-256 of the body; the signature is
//! Ed25519 over that hash. The head (last sequence number and hash) is
//! signed too, so cutting records off the end is detected. `verify` needs
//! only the rows and the public key: it runs offline.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use twake_index::AuditRow;

use crate::{CoreError, Result, Workspace};

/// What one answer used and how it was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    pub user: String,
    pub tenant: String,
    /// SHA-256 of the question (the question itself is not kept).
    pub question_sha256: String,
    pub passages: Vec<AuditPassage>,
    pub model: String,
    /// `embedded` for a local GGUF model, else the endpoint's URL.
    pub endpoint: String,
    pub jurisdiction: String,
    /// The policy decision, in words.
    pub decision: String,
    pub pseudonymisation: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Whether an answer was given (false: nothing relevant was found).
    pub answered: bool,
    /// The previous record's hash (64 zeros for the first record).
    pub prev_hash: String,
}

/// One passage given to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPassage {
    pub chunk_id: i64,
    pub path: String,
    pub locator: String,
    pub sensitivity: String,
    pub content_sha256: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What `verify` found wrong, by sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub seq: i64,
    pub what: String,
}

/// The result of checking the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: usize,
    pub problems: Vec<Problem>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The installation's signing key (`audit.key`, mode 0600), created on
/// first use.
pub fn signing_key(data_dir: &Path) -> Result<SigningKey> {
    let path = data_dir.join("audit.key");
    match std::fs::read(&path) {
        Ok(b) => {
            let bytes: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                CoreError::Config(format!("{} is not a 32-byte Ed25519 key: restore it from backup", path.display()))
            })?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let b = crate::policy::keys::random_bytes(32)?;
            crate::policy::keys::write_private(&path, &b)?;
            let bytes: [u8; 32] = b.as_slice().try_into().expect("32 bytes");
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) => Err(CoreError::Other(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Parses a hex public key (as printed by `audit key`).
pub fn public_key(hex_key: &str) -> Result<VerifyingKey> {
    let bytes = hex::decode(hex_key.trim()).map_err(|e| CoreError::Config(format!("public key: not hex: {e}")))?;
    let bytes: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| CoreError::Config("public key: expected 32 bytes (64 hex)".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| CoreError::Config(format!("public key: {e}")))
}

/// Builds the stored row of a record (its `seq` and `prev_hash` set).
pub fn seal(record: &AuditRecord, key: &SigningKey) -> AuditRow {
    let body = serde_json::to_string(record).expect("a record always serialises");
    let hash = sha256_hex(body.as_bytes());
    let signature = hex::encode(key.sign(hash.as_bytes()).to_bytes());
    AuditRow { seq: record.seq, at: record.at, user: record.user.clone(), body, hash, signature }
}

/// The signed head: `seq hash signature`.
pub fn head(seq: i64, hash: &str, key: &SigningKey) -> String {
    let msg = format!("{seq} {hash}");
    format!("{msg} {}", hex::encode(key.sign(msg.as_bytes()).to_bytes()))
}

fn check_signature(key: &VerifyingKey, msg: &[u8], sig_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(sig_hex) else { return false };
    let Ok(bytes): std::result::Result<[u8; 64], _> = bytes.as_slice().try_into() else { return false };
    key.verify(msg, &Signature::from_bytes(&bytes)).is_ok()
}

/// Checks a log given in sequence order: numbering from 1 without gaps,
/// each body's hash, each body's link to the previous hash, each signature,
/// and the signed head against the last record.
pub fn verify(rows: &[AuditRow], head: Option<&str>, key: &VerifyingKey) -> Verification {
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    for (i, row) in rows.iter().enumerate() {
        let expected = i as i64 + 1;
        let mut bad = |what: String| problems.push(Problem { seq: row.seq, what });
        if row.seq != expected {
            bad(format!(
                "sequence number {} where {expected} was expected (a record was removed or reordered)",
                row.seq
            ));
        }
        if sha256_hex(row.body.as_bytes()) != row.hash {
            bad("its content does not match its hash (the record was edited)".into());
        }
        if !check_signature(key, row.hash.as_bytes(), &row.signature) {
            bad("its signature is not the installation key's".into());
        }
        match serde_json::from_str::<AuditRecord>(&row.body) {
            Ok(r) => {
                if r.seq != row.seq {
                    bad(format!("its body says record {} (records were swapped)", r.seq));
                }
                if r.prev_hash != prev {
                    bad(
                        "it does not link to the previous record (a record before it was removed, edited or reordered)"
                            .into(),
                    );
                }
            }
            Err(e) => bad(format!("its body is not a record: {e}")),
        }
        prev = row.hash.clone();
    }
    let last = rows.last().map(|r| (r.seq, r.hash.as_str()));
    match (head, last) {
        (None, None) => {}
        (None, Some((seq, _))) => problems.push(Problem { seq, what: "the log has records but no signed head".into() }),
        (Some(h), last) => {
            let parts: Vec<&str> = h.split(' ').collect();
            let signed =
                parts.len() == 3 && check_signature(key, format!("{} {}", parts[0], parts[1]).as_bytes(), parts[2]);
            let (seq, hash) = last.unwrap_or((0, GENESIS));
            if !signed {
                problems.push(Problem { seq, what: "the head's signature is not the installation key's".into() });
            } else if parts[0] != seq.to_string() || parts[1] != hash {
                problems.push(Problem {
                    seq,
                    what: format!(
                        "the signed head is record {}, the log ends at {seq} (records were cut off or added)",
                        parts[0]
                    ),
                });
            }
        }
    }
    Verification { records: rows.len(), problems }
}

/// Filters for `audit show`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub model: Option<String>,
    /// A path, or part of one, among the passages used.
    pub document: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.user.as_deref().is_none_or(|u| r.user == u.to_lowercase())
            && self.since.is_none_or(|t| r.at >= t)
            && self.until.is_none_or(|t| r.at <= t)
            && self.model.as_deref().is_none_or(|m| r.model.contains(m))
            && self.document.as_deref().is_none_or(|d| r.passages.iter().any(|p| p.path.contains(d)))
    }
}

impl Workspace {
    /// Appends a record (its `seq`, `prev_hash` are filled here) and
    /// returns its sequence number, the id answers carry.
    pub async fn audit_append(&self, mut record: AuditRecord) -> Result<i64> {
        let key = self.audit_key.get_or_try_init(|| async { signing_key(&self.data_dir) }).await?;
        let _guard = self.audit_lock.lock().await;
        let (seq, prev) = self.store.audit_last().await?.unwrap_or((0, GENESIS.to_string()));
        record.seq = seq + 1;
        record.prev_hash = prev;
        let row = seal(&record, key);
        self.store.audit_append(&row, &head(row.seq, &row.hash, key)).await?;
        Ok(row.seq)
    }

    /// Records an administrator's action (a key created or revoked, a
    /// membership changed) in the signed log: `actor` did `what` in
    /// `tenant`. The record names no model (`model` is `admin`) and keeps
    /// the action in `decision`.
    pub async fn audit_admin(&self, actor: &str, tenant: &str, what: &str) -> Result<i64> {
        self.audit_append(AuditRecord {
            seq: 0,
            at: self.clock.now(),
            user: actor.to_string(),
            tenant: tenant.to_string(),
            question_sha256: sha256_hex(what.as_bytes()),
            passages: vec![],
            model: "admin".into(),
            endpoint: String::new(),
            jurisdiction: String::new(),
            decision: what.to_string(),
            pseudonymisation: String::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            answered: false,
            prev_hash: String::new(),
        })
        .await
    }

    /// Verifies the whole log with `key` (default: the installation's).
    pub async fn audit_verify(&self, key: Option<VerifyingKey>) -> Result<Verification> {
        let key = match key {
            Some(k) => k,
            None => signing_key(&self.data_dir)?.verifying_key(),
        };
        let rows = self.audit_rows_all().await?;
        let head = self.store.meta("audit_head").await?;
        Ok(verify(&rows, head.as_deref(), &key))
    }

    /// Records matching the filter, oldest first.
    pub async fn audit_show(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let rows = self.audit_rows_all().await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str::<AuditRecord>(&r.body).ok())
            .filter(|r| filter.matches(r))
            .collect())
    }

    /// The installation's public key, hex.
    pub fn audit_public_key(&self) -> Result<String> {
        Ok(hex::encode(signing_key(&self.data_dir)?.verifying_key().to_bytes()))
    }

    async fn audit_rows_all(&self) -> Result<Vec<AuditRow>> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map(|r: &AuditRow| r.seq).unwrap_or(0);
            let page = self.store.audit_rows(after, 10_000).await?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str) -> AuditRecord {
        AuditRecord {
            seq: 0,
            at: 1_796_000_000,
            user: user.into(),
            tenant: "default".into(),
            question_sha256: sha256_hex(b"q"),
            passages: vec![AuditPassage {
                chunk_id: 7,
                path: "a.md".into(),
                locator: String::new(),
                sensitivity: "internal".into(),
                content_sha256: sha256_hex(b"text"),
            }],
            model: "m.gguf".into(),
            endpoint: "embedded".into(),
            jurisdiction: "local".into(),
            decision: "allowed".into(),
            pseudonymisation: "none".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            answered: true,
            prev_hash: String::new(),
        }
    }

    /// A chain of `n` records as `audit_append` builds it, with its head.
    fn chain(n: i64, key: &SigningKey) -> (Vec<AuditRow>, String) {
        let mut rows: Vec<AuditRow> = Vec::new();
        for seq in 1..=n {
            let mut r = record(&format!("u{seq}@x.fr"));
            r.seq = seq;
            r.prev_hash = rows.last().map(|x| x.hash.clone()).unwrap_or_else(|| GENESIS.into());
            rows.push(seal(&r, key));
        }
        let last = rows.last().unwrap();
        let h = head(last.seq, &last.hash, key);
        (rows, h)
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn an_intact_chain_verifies() {
        let k = key(1);
        let (rows, h) = chain(5, &k);
        let v = verify(&rows, Some(&h), &k.verifying_key());
        assert_eq!(v, Verification { records: 5, problems: vec![] });
        assert!(verify(&[], None, &k.verifying_key()).problems.is_empty());
    }

    #[test]
    fn removed_reordered_edited_cut_and_foreign_records_are_detected() {
        let k = key(1);
        let pk = k.verifying_key();
        let (rows, h) = chain(5, &k);
        let first_seq = |v: Verification| v.problems.first().map(|p| p.seq);

        let mut removed = rows.clone();
        removed.remove(2);
        assert_eq!(first_seq(verify(&removed, Some(&h), &pk)), Some(4), "removal");

        let mut swapped = rows.clone();
        swapped.swap(1, 3);
        assert!(!verify(&swapped, Some(&h), &pk).problems.is_empty(), "reordering");

        let mut edited = rows.clone();
        edited[1].body = edited[1].body.replace("u2@x.fr", "eve@x.fr");
        let v = verify(&edited, Some(&h), &pk);
        assert!(v.problems.iter().any(|p| p.seq == 2 && p.what.contains("edited")), "{v:?}");

        // Edited and re-hashed (but not re-signable without the key).
        let mut rehashed = rows.clone();
        rehashed[1].body = rehashed[1].body.replace("u2@x.fr", "eve@x.fr");
        rehashed[1].hash = sha256_hex(rehashed[1].body.as_bytes());
        let v = verify(&rehashed, Some(&h), &pk);
        assert!(v.problems.iter().any(|p| p.seq == 2 && p.what.contains("signature")), "{v:?}");
        assert!(v.problems.iter().any(|p| p.seq == 3 && p.what.contains("link")), "{v:?}");

        let mut cut = rows.clone();
        cut.pop();
        let v = verify(&cut, Some(&h), &pk);
        assert!(v.problems.iter().any(|p| p.what.contains("cut off")), "{v:?}");

        // A whole chain rebuilt with another key fails every signature.
        let (forged, fh) = chain(5, &key(2));
        let v = verify(&forged, Some(&fh), &pk);
        assert_eq!(v.problems.len(), 6, "five records and the head: {v:?}");

        // Verifying with the wrong public key fails too.
        assert!(!verify(&rows, Some(&h), &key(3).verifying_key()).problems.is_empty());
    }

    #[test]
    fn filters_select_records() {
        let r = record("Alice@x.fr".to_lowercase().as_str());
        assert!(AuditFilter { user: Some("ALICE@x.fr".into()), ..Default::default() }.matches(&r));
        assert!(AuditFilter { document: Some("a.md".into()), ..Default::default() }.matches(&r));
        assert!(!AuditFilter { model: Some("other".into()), ..Default::default() }.matches(&r));
        assert!(!AuditFilter { since: Some(1_796_000_001), ..Default::default() }.matches(&r));
    }
}
