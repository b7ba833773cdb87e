//! API keys: shown once at creation, stored as SHA-256(pepper ‖ key), where
//! the pepper is a random secret of the installation kept in the data
//! directory (`server.pepper`, mode 0600). Revocation is checked on every
//! request, so it takes effect at once.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use twake_index::ApiKeyRecord;
use twake_types::Principal;

use crate::{CoreError, Result, Workspace};

const PREFIX: &str = "twk_";

/// `n` bytes from the system's random source.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| CoreError::Other(format!("cannot read /dev/urandom: {e}")))?;
    Ok(buf)
}

fn pepper(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join("server.pepper");
    match std::fs::read(&path) {
        Ok(p) if p.len() >= 32 => Ok(p),
        Ok(_) => Err(CoreError::Config(format!(
            "{} is truncated: restore it from backup (keys depend on it)",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let p = random_bytes(32)?;
            write_private(&path, &p)?;
            Ok(p)
        }
        Err(e) => Err(CoreError::Other(format!("cannot read {}: {e}", path.display()))),
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CoreError::Other(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes).map_err(|e| CoreError::Other(format!("cannot write {}: {e}", path.display())))
}

fn hash(pepper: &[u8], key: &str) -> String {
    let mut h = Sha256::new();
    h.update(pepper);
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

/// How precisely a key's last use is known, in seconds.
pub const KEY_USE_PRECISION: i64 = 300;

impl Workspace {
    /// Creates a key for `user`; returns its id and the secret, which is not
    /// stored and cannot be shown again.
    pub async fn create_key(&self, user: &Principal, label: &str) -> Result<(i64, String)> {
        self.create_key_with_limit(user, label, None).await
    }

    /// A key with its own daily token quota (besides the user's).
    pub async fn create_key_with_limit(
        &self,
        user: &Principal,
        label: &str,
        tokens_per_day: Option<u64>,
    ) -> Result<(i64, String)> {
        if user.kind() != twake_types::PrincipalKind::User {
            return Err(CoreError::Other(format!(
                "{user} is not a user: an API key signs in one person (give it to a user; \
                 groups, rooms and shares are reached through their members)"
            )));
        }
        let secret = format!("{PREFIX}{}", hex::encode(random_bytes(24)?));
        let h = hash(&pepper(&self.data_dir)?, &secret);
        let id = self.store.insert_key(user.as_str(), label, &h, tokens_per_day).await?;
        Ok((id, secret))
    }

    /// The user a presented key belongs to, if it is live, with the key's
    /// id and daily token limit.
    pub async fn authenticate_key(&self, secret: &str) -> Result<Option<(Principal, i64, Option<u64>)>> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let h = hash(&pepper(&self.data_dir)?, secret);
        let found = self
            .store
            .key_principal(&h)
            .await?
            .and_then(|(p, id, limit)| Principal::parse(&p).ok().map(|p| (p, id, limit)))
            // A key made for a group before keys were refused to groups
            // signs nobody in.
            .filter(|(p, ..)| p.kind() == twake_types::PrincipalKind::User);
        if let Some((_, id, _)) = &found {
            self.note_key_use(*id).await?;
        }
        Ok(found)
    }

    /// Writes down that key `id` is used now — at most once per key every
    /// [`KEY_USE_PRECISION`] seconds, so that a busy key costs no write per
    /// request.
    async fn note_key_use(&self, id: i64) -> Result<()> {
        let now = self.clock.now();
        {
            let mut seen = self.key_use.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(&id).is_some_and(|&at| now - at < KEY_USE_PRECISION) {
                return Ok(());
            }
            seen.insert(id, now);
        }
        Ok(self.store.key_used(id, now).await?)
    }

    /// Opens a web UI session for `user` (signed in with the key `key`,
    /// or by the identity provider when `None`) for `seconds`, and not past
    /// `not_after` (Unix seconds: an ID token's expiry); returns its id,
    /// which only the cookie holds (the store keeps its hash), or `None`
    /// when `not_after` is already past. A session opened with a key ends
    /// with it.
    pub async fn open_session(
        &self,
        user: &Principal,
        key: Option<i64>,
        seconds: i64,
        not_after: Option<i64>,
    ) -> Result<Option<String>> {
        if user.kind() != twake_types::PrincipalKind::User {
            return Err(CoreError::Other(format!("{user} is not a user: no session")));
        }
        // The store compares expiries with its own (system) clock.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut expires = (now as i64).saturating_add(seconds.max(0));
        if let Some(limit) = not_after {
            expires = expires.min(limit);
        }
        if expires <= now as i64 {
            return Ok(None);
        }
        let id = hex::encode(random_bytes(32)?);
        let h = hash(&pepper(&self.data_dir)?, &format!("session:{id}"));
        self.store.insert_session(&h, user.as_str(), key, expires).await?;
        Ok(Some(id))
    }

    /// The user of a live session, with its key's id and daily limit.
    #[allow(clippy::type_complexity)]
    pub async fn session_user(&self, id: &str) -> Result<Option<(Principal, Option<(i64, Option<u64>)>)>> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let h = hash(&pepper(&self.data_dir)?, &format!("session:{id}"));
        Ok(self
            .store
            .session(&h)
            .await?
            .and_then(|(p, key)| Principal::parse(&p).ok().map(|p| (p, key)))
            .filter(|(p, _)| p.kind() == twake_types::PrincipalKind::User))
    }

    /// Ends a session (signing out); false when it was not live.
    pub async fn close_session(&self, id: &str) -> Result<bool> {
        let h = hash(&pepper(&self.data_dir)?, &format!("session:{id}"));
        Ok(self.store.delete_session(&h).await?)
    }

    pub async fn revoke_key(&self, id: i64) -> Result<bool> {
        Ok(self.store.revoke_key(id).await?)
    }

    pub async fn keys(&self) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.store.keys().await?)
    }

    /// The files `pass` can read something of.
    pub async fn readable_files(&self, pass: &twake_types::AccessPass) -> Result<Vec<twake_index::FileView>> {
        Ok(self.store.readable_files(pass).await?)
    }

    /// Readiness: the store answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
