//! A set of writes committed together.

use super::{GroupId, StoredEntry};

/// Writes that [`super::Store::commit`] applies atomically.
///
/// Built by chaining: `Batch::new().append(e).put_state(g, k, v)`. One batch
/// typically carries a new entry, the state it changes and the outbox item
/// that will send it, so a crash can never keep one without the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Entries to append, in order (several per author are fine if contiguous).
    pub entries: Vec<StoredEntry>,
    /// `(group, key, value)` state values to store, replacing earlier ones.
    pub state_puts: Vec<(GroupId, Vec<u8>, Vec<u8>)>,
    /// `(group, payload)` outbox items to add; their ids are in the receipt.
    pub outbox_push: Vec<(GroupId, Vec<u8>)>,
    /// Outbox item ids to remove (sent). Unknown ids are ignored.
    pub outbox_remove: Vec<u64>,
    /// Groups whose entries and state values are deleted, before anything
    /// else of the batch is applied (a member who left and chose not to
    /// keep the history). Outbox items and secrets are not touched: the
    /// leave message may still be on its way, and key secrets are erased
    /// through their own slots.
    pub forget: Vec<GroupId>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry to append.
    #[must_use]
    pub fn append(mut self, entry: StoredEntry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Adds a state value to store under `(group, key)`.
    #[must_use]
    pub fn put_state(mut self, group: GroupId, key: Vec<u8>, value: Vec<u8>) -> Self {
        self.state_puts.push((group, key, value));
        self
    }

    /// Adds an outbox item.
    #[must_use]
    pub fn push_outbox(mut self, group: GroupId, payload: Vec<u8>) -> Self {
        self.outbox_push.push((group, payload));
        self
    }

    /// Removes the outbox item `id`.
    #[must_use]
    pub fn remove_outbox(mut self, id: u64) -> Self {
        self.outbox_remove.push(id);
        self
    }

    /// Deletes every entry and state value of `group` (applied first).
    #[must_use]
    pub fn forget_group(mut self, group: GroupId) -> Self {
        self.forget.push(group);
        self
    }

    /// True if the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.state_puts.is_empty()
            && self.outbox_push.is_empty()
            && self.outbox_remove.is_empty()
            && self.forget.is_empty()
    }
}
