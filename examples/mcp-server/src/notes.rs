//! The demo's state: short notes, kept in memory per user.
//!
//! Notes are keyed by [`AuthContext::user_key`](mcp_auth::AuthContext::user_key) (issuer and
//! subject of the verified token), never by anything the client says about itself, so one
//! user can never read another's notes (MCP security best practices, "Session Hijacking":
//! bind state to the user id taken from the token). Everything is bounded.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Most notes one user may keep.
pub const MAX_NOTES_PER_USER: usize = 100;
/// Most users with notes.
pub const MAX_USERS: usize = 10_000;

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Note {
    /// Sequence number, per user, from 1.
    pub id: u64,
    /// The text.
    pub text: String,
    /// When it was added, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// Why a note was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Empty or whitespace only.
    #[error("a note cannot be empty")]
    Empty,
    /// Longer than [`MAX_NOTE_CHARS`].
    #[error("a note is at most {MAX_NOTE_CHARS} characters")]
    TooLong,
    /// The user has [`MAX_NOTES_PER_USER`] notes already.
    #[error("you already have {MAX_NOTES_PER_USER} notes, the most this demo keeps")]
    Full,
    /// [`MAX_USERS`] users have notes already.
    #[error("this demo server is full")]
    TooManyUsers,
}

#[derive(Debug, Default)]
struct UserNotes {
    next_id: u64,
    notes: Vec<Note>,
}

/// Totals across users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct NoteStats {
    /// Users with at least one note.
    pub users: usize,
    /// Notes in total.
    pub notes: usize,
}

/// What `admin_reset_notes` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ResetResult {
    /// Notes deleted.
    pub deleted: usize,
}

/// Notes per user, in memory.
#[derive(Debug, Default)]
pub struct NoteStore {
    users: Mutex<HashMap<String, UserNotes>>,
}

impl NoteStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserNotes>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a note for `user`; returns it.
    ///
    /// # Errors
    ///
    /// [`NoteError`] for an empty or too long text, or when a limit is reached.
    pub fn add(&self, user: &str, text: &str) -> Result<Note, NoteError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(NoteError::Empty);
        }
        if text.chars().count() > MAX_NOTE_CHARS {
            return Err(NoteError::TooLong);
        }
        let mut users = self.lock();
        if !users.contains_key(user) && users.len() >= MAX_USERS {
            return Err(NoteError::TooManyUsers);
        }
        let entry = users.entry(user.to_owned()).or_default();
        if entry.notes.len() >= MAX_NOTES_PER_USER {
            return Err(NoteError::Full);
        }
        entry.next_id += 1;
        let note = Note {
            id: entry.next_id,
            text: text.to_owned(),
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        entry.notes.push(note.clone());
        Ok(note)
    }

    /// The notes of `user`, oldest first.
    pub fn list(&self, user: &str) -> Vec<Note> {
        self.lock()
            .get(user)
            .map(|u| u.notes.clone())
            .unwrap_or_default()
    }

    /// Deletes every user's notes; returns how many notes were deleted.
    pub fn reset(&self) -> usize {
        let mut users = self.lock();
        let n = users.values().map(|u| u.notes.len()).sum();
        users.clear();
        n
    }

    /// Totals across users.
    pub fn stats(&self) -> NoteStats {
        let users = self.lock();
        NoteStats {
            users: users.values().filter(|u| !u.notes.is_empty()).count(),
            notes: users.values().map(|u| u.notes.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_per_user_and_bounded() {
        let store = NoteStore::new();
        assert_eq!(store.add("a", "  hello ").unwrap().id, 1);
        assert_eq!(store.add("a", "again").unwrap().id, 2);
        assert_eq!(store.add("b", "other").unwrap().id, 1);
        assert_eq!(store.list("a").len(), 2);
        assert_eq!(store.list("a")[0].text, "hello");
        assert!(store.list("c").is_empty());
        assert_eq!(store.add("a", " "), Err(NoteError::Empty));
        assert_eq!(
            store.add("a", &"x".repeat(MAX_NOTE_CHARS + 1)),
            Err(NoteError::TooLong)
        );
        for _ in 2..MAX_NOTES_PER_USER {
            store.add("a", "n").unwrap();
        }
        assert_eq!(store.add("a", "one too many"), Err(NoteError::Full));
        assert_eq!(
            store.stats(),
            NoteStats {
                users: 2,
                notes: MAX_NOTES_PER_USER + 1
            }
        );
    }
}
