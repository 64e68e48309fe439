//! The writer's in-memory index of mailboxes: records by id, mailboxes by
//! size (for fair-share eviction) and the totals that quotas need.
//!
//! Loaded from the `mailboxes` table at start; changed only together with
//! the table, inside the writer's transactions.

use std::collections::{BTreeSet, HashMap};

use cairn_proto::wire::MailboxId;

use super::tables::MailboxRecord;

/// Every mailbox record, sorted views of them, and totals.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    records: HashMap<MailboxId, MailboxRecord>,
    /// Non-empty mailboxes by (envelope count, id).
    by_count: BTreeSet<(u64, MailboxId)>,
    /// Envelopes held over all mailboxes.
    total: u64,
    /// The slot the next new mailbox gets.
    pub(crate) next_slot: u32,
}

impl Index {
    /// The record of `mailbox`.
    pub(crate) fn get(&self, mailbox: &MailboxId) -> Option<MailboxRecord> {
        self.records.get(mailbox).copied()
    }

    /// Inserts or replaces the record of `mailbox`.
    pub(crate) fn put(&mut self, mailbox: MailboxId, record: MailboxRecord) {
        self.forget(&mailbox);
        self.total += record.count();
        if record.count() > 0 {
            self.by_count.insert((record.count(), mailbox));
        }
        self.records.insert(mailbox, record);
    }

    /// Removes the record of `mailbox`.
    pub(crate) fn remove(&mut self, mailbox: &MailboxId) {
        self.forget(mailbox);
        self.records.remove(mailbox);
    }

    fn forget(&mut self, mailbox: &MailboxId) {
        if let Some(old) = self.records.get(mailbox) {
            self.total -= old.count();
            self.by_count.remove(&(old.count(), *mailbox));
        }
    }

    /// The mailbox furthest over its fair share. Every mailbox has the same
    /// share (the total limit divided by the number of mailboxes), so this is
    /// the one holding the most envelopes (ties: the highest id).
    pub(crate) fn furthest_over_share(&self) -> Option<MailboxId> {
        self.by_count.last().map(|(_, m)| *m)
    }

    /// Mailboxes known (including emptied ones).
    pub(crate) fn mailboxes(&self) -> u64 {
        self.records.len() as u64
    }

    /// Envelopes held over all mailboxes.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Every mailbox id (a snapshot, for sweeps).
    pub(crate) fn ids(&self) -> Vec<MailboxId> {
        self.records.keys().copied().collect()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn rec(slot: u32, count: u64) -> MailboxRecord {
        MailboxRecord { slot, head: count + 10, first: 11, last_post: 0 }
    }

    #[test]
    fn totals_and_the_largest_follow_every_change() {
        let mut ix = Index::default();
        let (a, b, c) = (MailboxId([1; 32]), MailboxId([2; 32]), MailboxId([3; 32]));
        ix.put(a, rec(0, 5));
        ix.put(b, rec(1, 9));
        ix.put(c, rec(2, 0));
        assert_eq!((ix.total(), ix.mailboxes()), (14, 3));
        assert_eq!(ix.furthest_over_share(), Some(b));
        ix.put(b, rec(1, 2));
        assert_eq!(ix.furthest_over_share(), Some(a));
        ix.put(a, rec(0, 2));
        assert_eq!(ix.furthest_over_share(), Some(b), "ties go to the highest id");
        ix.remove(&b);
        assert_eq!((ix.total(), ix.mailboxes()), (2, 2));
        ix.put(a, rec(0, 0));
        assert_eq!(ix.furthest_over_share(), None, "empty mailboxes are never victims");
        assert_eq!(ix.get(&c), Some(rec(2, 0)));
    }
}
