//! Persistence of [`MemberKeys`] with real erasure (`protocol-spec/store.md`,
//! "Key-ring secrets").
//!
//! Every secret of the key ring (epoch secret, role key, key-package secret)
//! gets its own slot in the secrets file through [`Store::put_secret`], under
//! the label `BLAKE3-derive_key(KEY_SECRET_LABEL, group ‖ postcard(KeyRef))`.
//! Only non-secret metadata (which secrets exist, when each was superseded,
//! public key packages, handled message ids) goes into the sealed redb
//! store, as one state value: redb keeps old values in freed pages, so no
//! secret may ever pass through it.
//!
//! Saving: (1) commit an index naming the old and the new secrets, (2) put
//! the new secrets, (3) erase the secrets no longer held, (4) commit the
//! index of the new secrets. A crash at any point leaves an index that names
//! every secret in the file, so the next save erases what it must; loading
//! skips index entries whose secret is missing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::MemberKeys;
use crate::crypto::{PublicKey, context, derive_key};
use crate::epoch::{KeyPackage, KeyPackageId, KeyRef, KeyRing};
use crate::store::{Batch, SecretLabel, Store, StoreError};
use crate::wire::{EpochId, GroupId, MessageId, decode_canonical, encode};

/// The state key of the index (`Store::state`).
const INDEX_KEY: &[u8] = b"member keys v1";
const INDEX_VERSION: u8 = 1;
/// The state key of the fences (`Store::state`), kept apart from the index
/// so that an index written before fences existed still loads.
const FENCES_KEY: &[u8] = b"member keys fences v1";
/// The largest index accepted.
const MAX_INDEX_LEN: usize = 4 << 20;

/// Why member keys could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The store failed.
    #[error("saving or loading member keys: {0}")]
    Store(#[from] StoreError),
    /// The stored index or a stored secret is not what this cairn writes.
    #[error("stored member keys are corrupt: {0}")]
    Corrupt(&'static str),
}

/// What is stored in the clear (inside the sealed redb store): no secret.
#[derive(Clone, Serialize, Deserialize)]
struct Index {
    version: u8,
    me: PublicKey,
    held: BTreeMap<KeyRef, Option<u64>>,
    own: Vec<(KeyPackageId, KeyPackage)>,
    packages: BTreeMap<KeyPackageId, KeyPackage>,
    handled: BTreeSet<MessageId>,
    due: BTreeSet<(String, PublicKey)>,
}

/// Which role keys a revoked member knows, which a key holder's grant may
/// replace, and which revocations were handled ([`MemberKeys`] fields of
/// the same names). No secret.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Fences {
    exposed: BTreeSet<(String, EpochId)>,
    provisional: BTreeSet<(String, EpochId)>,
    fenced: BTreeSet<MessageId>,
}

/// The secrets-file label of one key-ring secret (public so that tests
/// outside this crate can check a slot was erased).
pub fn label(group: &GroupId, r: &KeyRef) -> SecretLabel {
    let material = [&group.0[..], &encode(r)].concat();
    *derive_key(context::KEY_SECRET_LABEL, &material)
}

fn read_index(store: &dyn Store, group: &GroupId) -> Result<Option<Index>, KeyStoreError> {
    let Some(bytes) = store.state(&group.0, INDEX_KEY)? else { return Ok(None) };
    let index: Index = decode_canonical(&bytes, MAX_INDEX_LEN)
        .map_err(|_| KeyStoreError::Corrupt("member keys index does not decode"))?;
    if index.version != INDEX_VERSION {
        return Err(KeyStoreError::Corrupt("unknown member keys index version"));
    }
    Ok(Some(index))
}

fn write_index(store: &mut dyn Store, group: &GroupId, index: &Index) -> Result<(), StoreError> {
    store.commit(Batch::new().put_state(group.0, INDEX_KEY.to_vec(), encode(index))).map(drop)
}

fn read_fences(store: &dyn Store, group: &GroupId) -> Result<Fences, KeyStoreError> {
    let Some(bytes) = store.state(&group.0, FENCES_KEY)? else { return Ok(Fences::default()) };
    decode_canonical(&bytes, MAX_INDEX_LEN)
        .map_err(|_| KeyStoreError::Corrupt("member keys fences do not decode"))
}

impl MemberKeys {
    fn index(&self) -> Index {
        Index {
            version: INDEX_VERSION,
            me: self.me,
            held: self.ring.held().into_iter().collect(),
            own: self.own.clone(),
            packages: self.packages.clone(),
            handled: self.handled.clone(),
            due: self.due.clone(),
        }
    }

    /// Saves the keys: each secret in its own secrets-file slot, the
    /// metadata in the store; secrets no longer held (erased, see
    /// [`MemberKeys::erase_expired`]) are overwritten in the secrets file.
    pub fn save(&self, store: &mut dyn Store) -> Result<(), KeyStoreError> {
        let group = self.group();
        let new = self.index();
        let old = read_index(store, &group)?;
        let dropped: Vec<KeyRef> = old
            .as_ref()
            .map(|o| o.held.keys().filter(|r| !new.held.contains_key(*r)).cloned().collect())
            .unwrap_or_default();
        // (1) An index naming every secret that may be in the file.
        let mut union = new.clone();
        for r in &dropped {
            union.held.insert(r.clone(), None);
        }
        write_index(store, &group, &union)?;
        // (2) The secrets held, each in its slot (unchanged ones are kept).
        for r in new.held.keys() {
            let Some(bytes) = self.ring.secret_bytes(r) else { continue };
            let l = label(&group, r);
            if store.secret(&l)?.as_deref().map(Vec::as_slice) != Some(&bytes[..]) {
                store.put_secret(&l, bytes)?;
            }
        }
        // (3) Overwrite what is no longer held; (4) the final index.
        for r in &dropped {
            store.erase_secret(&label(&group, r))?;
        }
        write_index(store, &group, &new)?;
        let fences = Fences {
            exposed: self.exposed.clone(),
            provisional: self.provisional.clone(),
            fenced: self.fenced.clone(),
        };
        store.commit(Batch::new().put_state(group.0, FENCES_KEY.to_vec(), encode(&fences)))?;
        Ok(())
    }

    /// Loads the keys of `group` saved by [`MemberKeys::save`], if any.
    pub fn load(store: &dyn Store, group: GroupId) -> Result<Option<MemberKeys>, KeyStoreError> {
        let Some(index) = read_index(store, &group)? else { return Ok(None) };
        let mut ring = KeyRing::new(group);
        for (r, retired_at) in &index.held {
            let Some(bytes) = store.secret(&label(&group, r))? else { continue };
            let secret: &[u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyStoreError::Corrupt("stored key is not 32 bytes"))?;
            ring.restore(r, secret, *retired_at);
        }
        let mut keys = MemberKeys::with_ring(index.me, ring);
        keys.own = index.own;
        keys.packages = index.packages;
        keys.handled = index.handled;
        keys.due = index.due;
        let fences = read_fences(store, &group)?;
        keys.exposed = fences.exposed;
        keys.provisional = fences.provisional;
        keys.fenced = fences.fenced;
        Ok(Some(keys))
    }
}
