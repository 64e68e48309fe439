//! The content layer of a task: what only readers of the task see.
//!
//! Encoded with postcard, then sealed to the task's readable-by roles by
//! the epoch layer ([`crate::epoch::SealedContent`]); the sealed bytes go in
//! the body's [`crate::wire::Sealed`] field. A content layer that does not
//! open or decode never makes the message invalid: the group layer alone
//! decides legality.

use serde::{Deserialize, Serialize};

use crate::wire::{DecodeError, MAX_SEALED_LEN, decode_canonical, encode};

/// At most this many labels on a task.
pub const MAX_LABELS: usize = 16;

/// Title, description, labels and due date of a task (or the text of a
/// comment, in `description`, with an empty title).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContent {
    /// Short title.
    pub title: String,
    /// Longer description (or comment text).
    pub description: String,
    /// Free labels.
    pub labels: Vec<String>,
    /// Due date, in minutes since the Unix epoch (display only).
    pub due_minute: Option<u64>,
}

impl TaskContent {
    /// The canonical encoding (what is sealed).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes opened content; at most [`MAX_LABELS`] labels.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let c: TaskContent = decode_canonical(bytes, MAX_SEALED_LEN)?;
        if c.labels.len() > MAX_LABELS {
            return Err(DecodeError::Malformed("too many labels".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn content_round_trips_and_bounds_labels() {
        let c = TaskContent {
            title: "fix the relay".into(),
            description: "it drops envelopes".into(),
            labels: vec!["ops".into()],
            due_minute: Some(29_400_000),
        };
        assert_eq!(TaskContent::decode(&c.encode()), Ok(c.clone()));
        let many = TaskContent { labels: vec![String::new(); MAX_LABELS + 1], ..c };
        assert!(TaskContent::decode(&many.encode()).is_err());
    }
}
