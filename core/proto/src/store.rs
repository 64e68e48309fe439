//! The store: signed chain entries, derived group state, the outbox and
//! short-lived secrets of one profile.
//!
//! [`Store`] is the narrow interface the rest of cairn sees. Two
//! implementations pass the same behavioural test suite:
//!
//! * [`MemoryStore`]: `BTreeMap`s, for fast tests and the simulator;
//! * [`RedbStore`]: the real one, a redb database (`store.redb`) in which every
//!   value is sealed with XChaCha20-Poly1305 and every table key is an opaque
//!   keyed hash, plus a [`SecretsFile`] (`secrets.bin`) of fixed-size slots
//!   that are overwritten in place, for secrets that must really disappear.
//!
//! [`Profile`] ties a data directory together: the passphrase-sealed key file
//! (`profile.key`), the identity it unlocks and the [`RedbStore`]. The bytes
//! on disk are described in `protocol-spec/store.md`.
//!
//! The store does not judge entries (signatures, hash chains, equivocation
//! are the `chain` module's business). It enforces only what keeps its own
//! indexes sound: per (group, author), entries are contiguous from seq 0, an
//! identical re-append is a no-op, and a different id at a held seq is refused
//! ([`StoreError::Conflict`]), never overwritten.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use zeroize::Zeroizing;

use crate::crypto::PublicKey;

mod batch;
mod check;
mod err;
mod files;
mod memory;
mod profile;
mod redb_store;
mod sealing;
mod secrets;
#[cfg(test)]
mod suite;

pub use batch::Batch;
pub use err::StoreError;
pub use files::KEY_FILE;
pub use memory::MemoryStore;
pub use profile::Profile;
pub use redb_store::{FORMAT_VERSION, RedbStore};
pub use secrets::{MAX_SECRET_LEN, SecretsFile};

/// A group (pursuance) id: the 32 random bytes its creator chose (see `wire::GroupId`).
pub type GroupId = [u8; 32];
/// A message id: BLAKE3 of the encoded message without its signature.
pub type EntryId = [u8; 32];
/// A label naming a short-lived secret (an epoch secret, a key-package
/// secret); chosen by the caller, opaque to the store.
pub type SecretLabel = [u8; 32];

/// One signed chain entry as the store keeps it.
///
/// The fields other than `bytes` are the index the store needs; they must be
/// the values encoded in `bytes` (the caller has already verified them).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The group the entry belongs to.
    pub group: GroupId,
    /// The author's public key.
    pub author: PublicKey,
    /// The author's sequence number in this group (0 for the first entry).
    pub seq: u64,
    /// The message id.
    pub id: EntryId,
    /// The entry's Lamport clock.
    pub lamport: u64,
    /// The encoded signed message.
    pub bytes: Vec<u8>,
}

impl core::fmt::Debug for StoredEntry {
    // The body may be plaintext chat: show its length only.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredEntry")
            .field("author", &self.author)
            .field("seq", &self.seq)
            .field("lamport", &self.lamport)
            .field("bytes_len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Envelopes waiting to be sent to a group's relays.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Assigned by the store at commit; never reused.
    pub id: u64,
    /// The group whose relays should receive the payload.
    pub group: GroupId,
    /// The envelopes, as the node will post them.
    pub payload: Vec<u8>,
}

impl core::fmt::Debug for OutboxItem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboxItem")
            .field("id", &self.id)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// What a successful [`Store::commit`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReceipt {
    /// The ids assigned to the batch's outbox pushes, in push order.
    pub outbox_ids: Vec<u64>,
    /// The ids of entries actually appended (identical re-appends are left out).
    pub appended: Vec<EntryId>,
}

/// The storage interface of a cairn node.
///
/// Object-safe: a node may hold a `Box<dyn Store>`. Reads return `Result`
/// because the real store can fail to read or to authenticate a value.
///
/// ```
/// use cairn_proto::crypto::PublicKey;
/// use cairn_proto::store::{Batch, MemoryStore, Store, StoredEntry};
///
/// let mut store: Box<dyn Store> = Box::new(MemoryStore::new());
/// let entry = StoredEntry {
///     group: [1; 32],
///     author: PublicKey([2; 32]),
///     seq: 0,
///     id: [3; 32],
///     lamport: 0,
///     bytes: b"signed message".to_vec(),
/// };
/// let batch = Batch::new()
///     .append(entry)
///     .put_state([1; 32], b"fold".to_vec(), b"state".to_vec())
///     .push_outbox([1; 32], b"envelope".to_vec());
/// let receipt = store.commit(batch)?;
/// assert_eq!(store.tail(&[1; 32], &PublicKey([2; 32]))?, Some((0, [3; 32])));
/// assert_eq!(store.outbox()?[0].id, receipt.outbox_ids[0]);
/// # Ok::<(), cairn_proto::store::StoreError>(())
/// ```
pub trait Store {
    /// Applies `batch` atomically: all of it or nothing. Durable when it
    /// returns `Ok` (for stores that persist at all).
    ///
    /// Entries are checked first, in batch order: an entry must have
    /// `seq = tail + 1` (or 0 for a new author), else
    /// [`StoreError::NotContiguous`]; an entry with the id already held at
    /// its seq is skipped; a different id at a held seq is
    /// [`StoreError::Conflict`]. Then outbox removals (unknown ids are
    /// ignored), outbox pushes and state puts are applied.
    fn commit(&mut self, batch: Batch) -> Result<CommitReceipt, StoreError>;

    /// Makes the store readable again after a failed write closed it (a
    /// commit does this by itself); [`StoreError::Reopening`] while it
    /// cannot. Stores that never close do nothing.
    fn reopen_if_closed(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The highest seq held for `(group, author)` and its entry id.
    fn tail(
        &self,
        group: &GroupId,
        author: &PublicKey,
    ) -> Result<Option<(u64, EntryId)>, StoreError>;

    /// The entries of `(group, author)` with seq in `seqs`, in seq order.
    fn range(
        &self,
        group: &GroupId,
        author: &PublicKey,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<StoredEntry>, StoreError>;

    /// The entry with this id, in any group.
    fn entry(&self, id: &EntryId) -> Result<Option<StoredEntry>, StoreError>;

    /// Author → highest seq held, for every author with entries in `group`.
    /// Entries are contiguous from 0, so this says exactly what is held.
    fn version_vector(&self, group: &GroupId) -> Result<BTreeMap<PublicKey, u64>, StoreError>;

    /// The state value stored under `key` for `group`.
    fn state(&self, group: &GroupId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every outbox item, in push order.
    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError>;

    /// Stores a short-lived secret under `label`, replacing any previous one.
    /// At most [`MAX_SECRET_LEN`] bytes.
    fn put_secret(&mut self, label: &SecretLabel, secret: &[u8]) -> Result<(), StoreError>;

    /// The secret stored under `label`.
    fn secret(&self, label: &SecretLabel) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError>;

    /// Erases the secret stored under `label` (nothing happens if there is none).
    fn erase_secret(&mut self, label: &SecretLabel) -> Result<(), StoreError>;
}
