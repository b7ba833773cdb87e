//! Per-user limits: requests per minute (fixed one-minute windows) and
//! generations in flight, both answered 429 with `Retry-After` at once;
//! and the server's: generations in flight across all users, answered 503
//! with `Retry-After` at once. Kept in memory per server process (one
//! replica's view).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::ApiError;

struct UserState {
    window_start: Instant,
    count: u32,
    in_flight: Arc<AtomicU32>,
}

pub struct Limits {
    per_minute: u32,
    concurrent: u32,
    /// Generations in flight across all users, and their limit (0: none).
    total: u32,
    in_flight: Arc<AtomicU32>,
    users: Mutex<HashMap<String, UserState>>,
}

/// A generation slot (the user's, the server's); freed when dropped (the
/// stream or task ends).
pub struct Slot(Vec<Arc<AtomicU32>>);

impl Drop for Slot {
    fn drop(&mut self) {
        for c in &self.0 {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn too_many(message: String, retry_after: u64) -> ApiError {
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        kind: "requests",
        code: Some("rate_limit_exceeded"),
        param: None,
        message,
        retry_after: Some(retry_after.max(1)),
    }
}

impl Limits {
    pub fn new(per_minute: u32, concurrent: u32, total: u32) -> Self {
        Limits { per_minute, concurrent, total, in_flight: Arc::default(), users: Mutex::new(HashMap::new()) }
    }

    fn with_user<T>(&self, user: &str, f: impl FnOnce(&mut UserState) -> T) -> T {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let st = users.entry(user.to_string()).or_insert_with(|| UserState {
            window_start: Instant::now(),
            count: 0,
            in_flight: Arc::new(AtomicU32::new(0)),
        });
        f(st)
    }

    /// Counts one request; refuses it past the per-minute budget.
    pub fn check_rate(&self, user: &str) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        self.with_user(user, |st| {
            let now = Instant::now();
            if now.duration_since(st.window_start) >= Duration::from_secs(60) {
                st.window_start = now;
                st.count = 0;
            }
            if st.count >= self.per_minute {
                let left = Duration::from_secs(60).saturating_sub(now.duration_since(st.window_start));
                return Err(too_many(
                    format!("Rate limit reached: {} requests per minute per user.", self.per_minute),
                    left.as_secs() + 1,
                ));
            }
            st.count += 1;
            Ok(())
        })
    }

    /// Takes a generation slot, the user's and the server's: refuses past
    /// the user's concurrent limit (429) or the server's (503).
    pub fn acquire(&self, user: &str) -> Result<Slot, ApiError> {
        let mut slot = self.acquire_user(user)?;
        if self.total > 0 {
            let prev = self.in_flight.fetch_add(1, Ordering::AcqRel);
            if prev >= self.total {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                return Err(ApiError::server_busy(self.total));
            }
            slot.0.push(self.in_flight.clone());
        }
        Ok(slot)
    }

    /// Takes the user's slot only (work that does not wait for the chat
    /// model, such as embeddings).
    pub fn acquire_user(&self, user: &str) -> Result<Slot, ApiError> {
        if self.concurrent == 0 {
            return Ok(Slot(vec![]));
        }
        self.with_user(user, |st| {
            let c = st.in_flight.clone();
            let prev = c.fetch_add(1, Ordering::AcqRel);
            if prev >= self.concurrent {
                c.fetch_sub(1, Ordering::AcqRel);
                return Err(too_many(
                    format!("Too many generations in flight: at most {} per user at once.", self.concurrent),
                    1,
                ));
            }
            Ok(Slot(vec![c]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_minute_budget_and_concurrency() {
        let l = Limits::new(2, 1, 0);
        assert!(l.check_rate("a").is_ok());
        assert!(l.check_rate("a").is_ok());
        let e = l.check_rate("a").unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.retry_after.unwrap() >= 1);
        assert!(l.check_rate("b").is_ok(), "limits are per user");
        let slot = l.acquire("a").unwrap();
        assert!(l.acquire("a").is_err());
        drop(slot);
        assert!(l.acquire("a").is_ok());
        let none = Limits::new(0, 0, 0);
        for _ in 0..1000 {
            none.check_rate("a").unwrap();
        }
    }

    #[test]
    fn the_servers_generations_are_bounded_across_users() {
        let l = Limits::new(0, 2, 2);
        let a = l.acquire("a").unwrap();
        let b = l.acquire("b").unwrap();
        let e = l.acquire("c").err().expect("a third generation is refused");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.retry_after.is_some());
        // The refused one took nothing: c's own slot is free.
        drop(a);
        let c = l.acquire("c").unwrap();
        assert!(l.acquire("b").is_err());
        drop((b, c));
        // Embeddings take the user's slot only.
        let _e = (l.acquire_user("a").unwrap(), l.acquire("b").unwrap(), l.acquire("c").unwrap());
    }
}
