//! What every connector speaks: the credentials it is given to add a
//! source, the events of a running sync (for a bar, a log and the progress
//! the API shows) and the report of a finished one.

use serde::Serialize;

use crate::engine::http::Secret;
use crate::engine::workspace::SyncProgress;

/// What the user gives to authenticate a new source.
#[derive(Debug, Clone)]
pub enum Credentials {
    Password(Secret),
    Token(Secret),
}

/// What one sync did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    /// Items stored (new or changed).
    pub stored: usize,
    /// Items whose content was replaced by an edit.
    pub edited: usize,
    /// Items removed (redacted or deleted at the source).
    pub removed: usize,
    /// Items seen again, already indexed as they are.
    pub unchanged: usize,
    /// Places read (rooms).
    pub places: usize,
    /// Things skipped and why (an encrypted room…).
    pub notices: Vec<String>,
}

/// Progress of a sync, for a bar or a log.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    /// A batch lists this many places (rooms) to read.
    Places {
        total: usize,
    },
    /// One place read; `items` stored so far in this sync.
    PlaceDone {
        name: &'a str,
        done: usize,
        total: usize,
        items: usize,
    },
    /// Within one place (a folder), `done` of `total` new items fetched.
    Items {
        place: &'a str,
        done: usize,
        total: usize,
    },
    Notice(&'a str),
}

impl SyncProgress {
    pub(crate) fn apply(&mut self, ev: &SyncEvent<'_>) {
        match *ev {
            SyncEvent::Places { total } => {
                self.places_total = total;
                self.places_done = 0;
            }
            SyncEvent::PlaceDone { done, total, items, .. } => {
                (self.places_done, self.places_total, self.stored) = (done, total, items);
                (self.place, self.items_done, self.items_total) = (None, 0, 0);
            }
            SyncEvent::Items { place, done, total } => {
                (self.place, self.items_done, self.items_total) = (Some(place.to_string()), done, total);
            }
            SyncEvent::Notice(_) => {}
        }
    }
}
