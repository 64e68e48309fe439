//! Opaque table keys and sealed values of the redb store.
//!
//! Table keys (`H(x)` = BLAKE3 keyed hash under the index key
//! `derive_key(STORAGE_INDEX, storage key)`, `H16` its first 16 bytes):
//!
//! | table | key | bytes |
//! |---|---|---:|
//! | `entries` | `H16("group" ‖ g) ‖ H16("author" ‖ g ‖ a) ‖ seq (u64 BE)` | 40 |
//! | `tails` | `H16("group" ‖ g) ‖ H16("author" ‖ g ‖ a)` | 32 |
//! | `entry_ids` | `H("entry id" ‖ id)` | 32 |
//! | `state` | `H16("group" ‖ g) ‖ H16("state" ‖ g ‖ key)` | 32 |
//! | `outbox` | outbox id (u64 BE) | 8 |
//! | `counters` | ASCII name | — |
//!
//! The domain strings are `cairn store v1 <name>\0`. Keys sort by group, then
//! author, then seq, so one author's chain is a range scan and a group's
//! authors are a prefix scan. Values are `nonce ‖ ciphertext ‖ tag` under
//! `derive_key(STORAGE_VALUE, storage key)` with associated data
//! `table name ‖ 0x00 ‖ table key`, so a value cannot be moved to another slot.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{EntryId, GroupId, StoreError, StoredEntry};
use crate::crypto::{AeadKey, PublicKey, context, derive_key, keyed_hash};

const D_GROUP: &[u8] = b"cairn store v1 group\0";
const D_AUTHOR: &[u8] = b"cairn store v1 author\0";
const D_ENTRY_ID: &[u8] = b"cairn store v1 entry id\0";
const D_STATE: &[u8] = b"cairn store v1 state\0";

/// Length of an `entries` table key.
pub(crate) const CHAIN_KEY_LEN: usize = 40;
/// Fixed part of an encoded entry value (before the message bytes).
const ENTRY_HEADER_LEN: usize = 32 + 32 + 8 + 32 + 8;
/// Length of an encoded `tails` value.
const TAIL_LEN: usize = 32 + 8 + 32;

/// The two keys derived from the storage key.
pub(crate) struct Keys {
    index: Zeroizing<[u8; 32]>,
    value: AeadKey,
}

fn h(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut input = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        input.extend_from_slice(p);
    }
    keyed_hash(key, &input)
}

fn h16(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 16] {
    let full = h(key, parts);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

impl Keys {
    /// Derives the index and value keys from the storage key.
    pub(crate) fn new(storage_key: &AeadKey) -> Self {
        let index = derive_key(context::STORAGE_INDEX, storage_key.as_bytes());
        let value =
            AeadKey::from_bytes(*derive_key(context::STORAGE_VALUE, storage_key.as_bytes()));
        Self { index, value }
    }

    /// `tails` key, also the first 32 bytes of every `entries` key of the chain.
    pub(crate) fn tail_key(&self, g: &GroupId, a: &PublicKey) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(&h16(&self.index, &[D_GROUP, g]));
        k[16..].copy_from_slice(&h16(&self.index, &[D_AUTHOR, g, &a.0]));
        k
    }

    /// Prefix shared by every `tails` and `state` key of a group.
    pub(crate) fn group_prefix(&self, g: &GroupId) -> [u8; 16] {
        h16(&self.index, &[D_GROUP, g])
    }

    /// `entries` key of `(g, a, seq)`.
    pub(crate) fn chain_key(&self, g: &GroupId, a: &PublicKey, seq: u64) -> [u8; CHAIN_KEY_LEN] {
        let mut k = [0u8; CHAIN_KEY_LEN];
        k[..32].copy_from_slice(&self.tail_key(g, a));
        k[32..].copy_from_slice(&seq.to_be_bytes());
        k
    }

    /// `entry_ids` key of an entry id.
    pub(crate) fn id_key(&self, id: &EntryId) -> [u8; 32] {
        h(&self.index, &[D_ENTRY_ID, id])
    }

    /// `state` key of `(g, key)`.
    pub(crate) fn state_key(&self, g: &GroupId, key: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(&self.group_prefix(g));
        k[16..].copy_from_slice(&h16(&self.index, &[D_STATE, g, key]));
        k
    }

    /// Seals `plain` for slot `(table, key)`.
    pub(crate) fn seal(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        table: &str,
        key: &[u8],
        plain: &[u8],
    ) -> Vec<u8> {
        self.value.seal(rng, plain, &ad(table, key))
    }

    /// Opens the value of slot `(table, key)`.
    pub(crate) fn open(
        &self,
        table: &'static str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.value
            .open(sealed, &ad(table, key))
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Decrypt { table })
    }
}

fn ad(table: &str, key: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(table.len() + 1 + key.len());
    ad.extend_from_slice(table.as_bytes());
    ad.push(0);
    ad.extend_from_slice(key);
    ad
}

/// `group ‖ author ‖ seq (BE) ‖ id ‖ lamport (BE) ‖ bytes`.
pub(crate) fn encode_entry(e: &StoredEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_HEADER_LEN + e.bytes.len());
    out.extend_from_slice(&e.group);
    out.extend_from_slice(&e.author.0);
    out.extend_from_slice(&e.seq.to_be_bytes());
    out.extend_from_slice(&e.id);
    out.extend_from_slice(&e.lamport.to_be_bytes());
    out.extend_from_slice(&e.bytes);
    out
}

/// Inverse of [`encode_entry`].
pub(crate) fn decode_entry(b: &[u8]) -> Result<StoredEntry, StoreError> {
    let corrupt = StoreError::Corrupt { what: "entry value too short" };
    let (head, bytes) = b.split_at_checked(ENTRY_HEADER_LEN).ok_or(corrupt)?;
    Ok(StoredEntry {
        group: arr(&head[0..32]),
        author: PublicKey(arr(&head[32..64])),
        seq: u64::from_be_bytes(arr(&head[64..72])),
        id: arr(&head[72..104]),
        lamport: u64::from_be_bytes(arr(&head[104..112])),
        bytes: bytes.to_vec(),
    })
}

/// `author ‖ seq (BE) ‖ id`.
pub(crate) fn encode_tail(a: &PublicKey, seq: u64, id: &EntryId) -> Vec<u8> {
    [&a.0[..], &seq.to_be_bytes(), id].concat()
}

/// Inverse of [`encode_tail`].
pub(crate) fn decode_tail(b: &[u8]) -> Result<(PublicKey, u64, EntryId), StoreError> {
    if b.len() != TAIL_LEN {
        return Err(StoreError::Corrupt { what: "tail value has the wrong length" });
    }
    Ok((PublicKey(arr(&b[..32])), u64::from_be_bytes(arr(&b[32..40])), arr(&b[40..])))
}

/// A fixed-size array from a slice whose length the caller has checked.
pub(crate) fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&s[..N]);
    out
}
