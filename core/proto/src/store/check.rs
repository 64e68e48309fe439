//! The append rules both store implementations enforce, written once.

use std::collections::{BTreeMap, BTreeSet};

use super::{EntryId, GroupId, StoreError, StoredEntry};
use crate::crypto::PublicKey;

/// What a store must be able to answer for [`plan_appends`].
pub(crate) trait ChainView {
    /// The highest seq held for `(group, author)` and its id.
    fn tail_of(
        &self,
        group: &GroupId,
        author: &PublicKey,
    ) -> Result<Option<(u64, EntryId)>, StoreError>;
    /// The id held at `(group, author, seq)`.
    fn id_at(
        &self,
        group: &GroupId,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<EntryId>, StoreError>;
    /// True if an entry with this id is held.
    fn has_id(&self, id: &EntryId) -> Result<bool, StoreError>;
}

/// Refuses a batch that appends to a group it also forgets: which of the
/// two would win depends on the order a store applies them in.
pub(crate) fn check_forget(batch: &super::Batch) -> Result<(), StoreError> {
    let appends_to_forgotten = batch.entries.iter().any(|e| batch.forget.contains(&e.group));
    if appends_to_forgotten { Err(StoreError::AppendToForgotten) } else { Ok(()) }
}

/// Checks `entries` (in order) against `view` and returns the indexes of
/// those to write.
///
/// Invariants enforced, per (group, author), counting earlier entries of the
/// same batch as held:
/// * an entry at seq `tail + 1` (or 0 for a new author) is appended, provided
///   its id is not held elsewhere ([`StoreError::DuplicateId`]);
/// * an entry at a held seq with the held id is skipped (idempotent);
/// * an entry at a held seq with another id is [`StoreError::Conflict`];
/// * any other seq is [`StoreError::NotContiguous`].
pub(crate) fn plan_appends(
    view: &impl ChainView,
    entries: &[StoredEntry],
) -> Result<Vec<usize>, StoreError> {
    let mut pending: BTreeMap<(GroupId, PublicKey, u64), EntryId> = BTreeMap::new();
    let mut tails: BTreeMap<(GroupId, PublicKey), u64> = BTreeMap::new();
    let mut new_ids: BTreeSet<EntryId> = BTreeSet::new();
    let mut write = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let tail = match tails.get(&(e.group, e.author)) {
            Some(seq) => Some(*seq),
            None => view.tail_of(&e.group, &e.author)?.map(|(seq, _)| seq),
        };
        if tail.is_some_and(|t| e.seq <= t) {
            let held = match pending.get(&(e.group, e.author, e.seq)) {
                Some(id) => Some(*id),
                None => view.id_at(&e.group, &e.author, e.seq)?,
            };
            if held != Some(e.id) {
                return Err(StoreError::Conflict { author: e.author, seq: e.seq });
            }
            continue;
        }
        // Here e.seq > tail, so tail + 1 cannot overflow.
        let expected = tail.map_or(0, |t| t + 1);
        if e.seq != expected {
            return Err(StoreError::NotContiguous { expected, got: e.seq });
        }
        if !new_ids.insert(e.id) || view.has_id(&e.id)? {
            return Err(StoreError::DuplicateId);
        }
        pending.insert((e.group, e.author, e.seq), e.id);
        tails.insert((e.group, e.author), e.seq);
        write.push(i);
    }
    Ok(write)
}
