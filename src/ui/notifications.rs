//! Non-blocking messages: toasts in a corner that fade (info) or stay until
//! dismissed (errors), each with its full text one click away.

use std::time::{Duration, Instant};

/// How long an info message stays.
const INFO_LIFETIME: Duration = Duration::from_secs(6);
/// How many messages are kept (the oldest go first).
const MAX_KEPT: usize = 6;

/// How serious a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something happened (saved, cancelled).
    Info,
    /// Something failed; stays until dismissed.
    Error,
}

/// One message.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Severity.
    pub level: Level,
    /// Short headline ("Could not load the start image").
    pub title: String,
    /// The full message (the error chain).
    pub detail: String,
    /// When it was posted.
    pub at: Instant,
    /// Whether the detail is unfolded.
    pub expanded: bool,
}

/// The current messages, oldest first.
#[derive(Debug, Default)]
pub struct Notifications {
    items: Vec<Notification>,
}

impl Notifications {
    /// Post an info message.
    pub fn info(&mut self, title: impl Into<String>, detail: impl Into<String>) {
        self.push(Level::Info, title.into(), detail.into());
    }

    /// Post an error.
    pub fn error(&mut self, title: impl Into<String>, detail: impl Into<String>) {
        self.push(Level::Error, title.into(), detail.into());
    }

    fn push(&mut self, level: Level, title: String, detail: String) {
        if level == Level::Error {
            log::warn!("{title}: {detail}");
        }
        self.items.push(Notification {
            level,
            title,
            detail,
            at: Instant::now(),
            expanded: false,
        });
        if self.items.len() > MAX_KEPT {
            self.items.remove(0);
        }
    }

    /// Drop expired info messages; returns how long until the next expires.
    pub fn expire(&mut self, now: Instant) -> Option<Duration> {
        self.items
            .retain(|n| n.level == Level::Error || now.duration_since(n.at) < INFO_LIFETIME);
        self.items
            .iter()
            .filter(|n| n.level == Level::Info)
            .map(|n| INFO_LIFETIME.saturating_sub(now.duration_since(n.at)))
            .min()
    }

    /// Remove message `index`.
    pub fn dismiss(&mut self, index: usize) {
        if index < self.items.len() {
            self.items.remove(index);
        }
    }

    /// The messages, oldest first.
    pub fn items(&self) -> &[Notification] {
        &self.items
    }

    /// Mutable access (to fold/unfold details).
    pub fn items_mut(&mut self) -> &mut [Notification] {
        &mut self.items
    }

    /// The newest error, if any (tests and the status line use it).
    pub fn last_error(&self) -> Option<&Notification> {
        self.items.iter().rev().find(|n| n.level == Level::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infos_expire_errors_stay() {
        let mut n = Notifications::default();
        n.info("saved", "");
        n.error("failed", "because");
        let later = Instant::now() + INFO_LIFETIME + Duration::from_millis(1);
        assert_eq!(n.expire(later), None);
        assert_eq!(n.items().len(), 1);
        assert_eq!(n.last_error().unwrap().detail, "because");
        n.dismiss(0);
        assert!(n.items().is_empty());
    }
}
