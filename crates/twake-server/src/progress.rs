//! What the caller's assistants are doing now, for `GET /api/v1/progress`
//! (the web UI polls it while a tool runs): each run counts the tokens its
//! model has written so far. Kept in memory by the process that runs them,
//! and forgotten when the run ends, however it ends (the guard's `Drop`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

#[derive(Default)]
pub struct Progress {
    runs: Mutex<HashMap<u64, Run>>,
    next: AtomicU64,
}

struct Run {
    user: String,
    task: &'static str,
    tokens: usize,
    started: Instant,
}

/// One run as its user sees it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RunView {
    pub task: &'static str,
    /// Tokens the model has written so far.
    pub tokens: usize,
    pub seconds: u64,
}

impl Progress {
    /// Counts a run of `task` for `user` while the guard lives.
    pub fn start(self: &Arc<Self>, user: &str, task: &'static str) -> Tracked {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let run = Run { user: user.to_string(), task, tokens: 0, started: Instant::now() };
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, run);
        Tracked { progress: self.clone(), id }
    }

    /// `user`'s runs, oldest first.
    pub fn of(&self, user: &str) -> Vec<RunView> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let mut mine: Vec<(&u64, &Run)> = runs.iter().filter(|(_, r)| r.user == user).collect();
        mine.sort_by_key(|(id, _)| **id);
        mine.into_iter()
            .map(|(_, r)| RunView { task: r.task, tokens: r.tokens, seconds: r.started.elapsed().as_secs() })
            .collect()
    }
}

/// A run being counted; dropping it forgets the run.
pub struct Tracked {
    progress: Arc<Progress>,
    id: u64,
}

impl Tracked {
    /// The tokens written so far (what the assistants' `on_tokens` report).
    pub fn tokens(&self, n: usize) {
        if let Some(r) = self.progress.runs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&self.id) {
            r.tokens = n;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.progress.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_sees_their_runs_until_they_end() {
        let p = Arc::new(Progress::default());
        let a = p.start("alice@x.fr", "minutes");
        let b = p.start("bob@x.fr", "brief");
        a.tokens(42);
        assert_eq!(p.of("alice@x.fr"), vec![RunView { task: "minutes", tokens: 42, seconds: 0 }]);
        assert_eq!(p.of("bob@x.fr").len(), 1);
        drop(a);
        assert!(p.of("alice@x.fr").is_empty());
        drop(b);
        assert!(p.of("bob@x.fr").is_empty());
    }
}
