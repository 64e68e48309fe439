//! The in-memory store, for tests and the simulator.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use zeroize::Zeroizing;

use super::check::{ChainView, plan_appends};
use super::{
    Batch, CommitReceipt, EntryId, GroupId, MAX_SECRET_LEN, OutboxItem, SecretLabel, Store,
    StoreError, StoredEntry,
};
use crate::crypto::PublicKey;

type Position = (GroupId, PublicKey, u64);

/// A [`Store`] in `BTreeMap`s. Nothing survives a drop.
#[derive(Default)]
pub struct MemoryStore {
    entries: BTreeMap<Position, StoredEntry>,
    ids: BTreeMap<EntryId, Position>,
    tails: BTreeMap<(GroupId, PublicKey), (u64, EntryId)>,
    state: BTreeMap<(GroupId, Vec<u8>), Vec<u8>>,
    outbox: BTreeMap<u64, OutboxItem>,
    next_outbox_id: u64,
    secrets: BTreeMap<SecretLabel, Zeroizing<Vec<u8>>>,
}

impl core::fmt::Debug for MemoryStore {
    // Counts only: entries may hold plaintext and secrets are secret.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.len())
            .field("outbox", &self.outbox.len())
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self { next_outbox_id: 1, ..Self::default() }
    }
}

impl MemoryStore {
    fn forget(&mut self, g: &GroupId) {
        let lo = (*g, PublicKey([0; 32]), 0);
        let hi = (*g, PublicKey([0xff; 32]), u64::MAX);
        let gone: Vec<Position> = self.entries.range(lo..=hi).map(|(p, _)| *p).collect();
        for p in gone {
            if let Some(e) = self.entries.remove(&p) {
                self.ids.remove(&e.id);
            }
        }
        self.tails.retain(|(group, _), _| group != g);
        self.state.retain(|(group, _), _| group != g);
    }
}

impl ChainView for MemoryStore {
    fn tail_of(&self, g: &GroupId, a: &PublicKey) -> Result<Option<(u64, EntryId)>, StoreError> {
        Ok(self.tails.get(&(*g, *a)).copied())
    }
    fn id_at(&self, g: &GroupId, a: &PublicKey, seq: u64) -> Result<Option<EntryId>, StoreError> {
        Ok(self.entries.get(&(*g, *a, seq)).map(|e| e.id))
    }
    fn has_id(&self, id: &EntryId) -> Result<bool, StoreError> {
        Ok(self.ids.contains_key(id))
    }
}

impl Store for MemoryStore {
    fn commit(&mut self, batch: Batch) -> Result<CommitReceipt, StoreError> {
        // Everything that can fail is checked before anything is changed.
        super::check::check_forget(&batch)?;
        let plan = plan_appends(self, &batch.entries)?;
        for g in &batch.forget {
            self.forget(g);
        }
        let mut receipt = CommitReceipt::default();
        let mut entries: Vec<Option<StoredEntry>> = batch.entries.into_iter().map(Some).collect();
        for i in plan {
            let Some(e) = entries.get_mut(i).and_then(Option::take) else { continue };
            let pos = (e.group, e.author, e.seq);
            self.ids.insert(e.id, pos);
            self.tails.insert((e.group, e.author), (e.seq, e.id));
            receipt.appended.push(e.id);
            self.entries.insert(pos, e);
        }
        for id in batch.outbox_remove {
            self.outbox.remove(&id);
        }
        for (group, payload) in batch.outbox_push {
            let id = self.next_outbox_id;
            self.next_outbox_id += 1;
            self.outbox.insert(id, OutboxItem { id, group, payload });
            receipt.outbox_ids.push(id);
        }
        for (group, key, value) in batch.state_puts {
            self.state.insert((group, key), value);
        }
        Ok(receipt)
    }

    fn tail(&self, g: &GroupId, a: &PublicKey) -> Result<Option<(u64, EntryId)>, StoreError> {
        self.tail_of(g, a)
    }

    fn range(
        &self,
        g: &GroupId,
        a: &PublicKey,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let (lo, hi) = seqs.into_inner();
        if lo > hi {
            return Ok(Vec::new());
        }
        Ok(self.entries.range((*g, *a, lo)..=(*g, *a, hi)).map(|(_, e)| e.clone()).collect())
    }

    fn entry(&self, id: &EntryId) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.ids.get(id).and_then(|pos| self.entries.get(pos)).cloned())
    }

    fn version_vector(&self, g: &GroupId) -> Result<BTreeMap<PublicKey, u64>, StoreError> {
        let all = (*g, PublicKey([0; 32]))..=(*g, PublicKey([0xff; 32]));
        Ok(self.tails.range(all).map(|((_, a), (seq, _))| (*a, *seq)).collect())
    }

    fn state(&self, g: &GroupId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.get(&(*g, key.to_vec())).cloned())
    }

    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        Ok(self.outbox.values().cloned().collect())
    }

    fn put_secret(&mut self, label: &SecretLabel, secret: &[u8]) -> Result<(), StoreError> {
        if secret.len() > MAX_SECRET_LEN {
            return Err(StoreError::SecretTooLarge { len: secret.len(), max: MAX_SECRET_LEN });
        }
        self.secrets.insert(*label, Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn secret(&self, label: &SecretLabel) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.secrets.get(label).cloned())
    }

    fn erase_secret(&mut self, label: &SecretLabel) -> Result<(), StoreError> {
        self.secrets.remove(label);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    crate::store::suite::store_suite!((MemoryStore::new(), ()));
}
