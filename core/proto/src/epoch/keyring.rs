//! A member's key material for one group, and its erasure
//! (`protocol-spec/keys.md`, "The key ring", "Grace periods and erasure").
//!
//! Every secret is boxed, so that the maps move pointers, not secret bytes,
//! when they rebalance; every secret zeroizes on drop. The encoding is
//! written into a zeroizing buffer of exactly the right size.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{EpochSecret, KeyPackageId, KeyPackageSecret, RoleKey, Secret32};
use crate::wire::{DecodeError, EpochId, GroupId};

/// Default grace period: how long a superseded epoch secret, role key or
/// key-package secret is kept before it is erased (7 days).
pub const DEFAULT_GRACE_SECS: u64 = 7 * 24 * 60 * 60;
/// The largest encoded key ring [`KeyRing::decode`] accepts (4 MiB).
pub const MAX_KEYRING_LEN: usize = 4 << 20;
/// The key ring encoding version.
const KEYRING_VERSION: u8 = 1;

/// One secret and when (local clock, seconds) it was superseded.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "T: Secret32")]
struct Slot<T: Secret32> {
    #[serde(with = "boxed_secret")]
    secret: Box<T>,
    retired_at: Option<u64>,
}

impl<T: Secret32> Slot<T> {
    fn new(secret: T) -> Self {
        Slot { secret: Box::new(secret), retired_at: None }
    }

    fn retire(&mut self, now: u64) {
        self.retired_at.get_or_insert(now);
    }

    fn expired(&self, now: u64, grace_secs: u64) -> bool {
        self.retired_at.is_some_and(|t| now >= t.saturating_add(grace_secs))
    }
}

mod boxed_secret {
    use serde::{Deserializer, Serializer};
    use zeroize::Zeroizing;

    use super::Secret32;

    #[allow(clippy::borrowed_box)] // the signature serde's `with` asks for
    pub(super) fn serialize<S: Serializer, T: Secret32>(
        v: &Box<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v.bytes())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Secret32>(
        d: D,
    ) -> Result<Box<T>, D::Error> {
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(serde_bytes::deserialize(d)?);
        Ok(Box::new(T::from_array(*bytes)))
    }
}

/// How many secrets [`KeyRing::erase_expired`] erased.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// Epoch secrets.
    pub epochs: usize,
    /// Role keys.
    pub role_keys: usize,
    /// Key-package secrets.
    pub key_packages: usize,
}

/// Which secret of a [`KeyRing`], without the secret itself: what a node may
/// keep next to the secret's storage slot (ids only).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyRef {
    /// The secret of an epoch.
    Epoch(EpochId),
    /// The key of a role in an epoch.
    Role(String, EpochId),
    /// The secret of one of this member's key packages.
    KeyPackage(KeyPackageId),
}

/// A member's key material for one group: epoch secrets, role keys per
/// (role, epoch) and key-package secrets, each with the local time it was
/// superseded.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyRing {
    version: u8,
    group: GroupId,
    epochs: BTreeMap<EpochId, Slot<EpochSecret>>,
    role_keys: BTreeMap<(String, EpochId), Slot<RoleKey>>,
    key_packages: BTreeMap<KeyPackageId, Slot<KeyPackageSecret>>,
}

impl KeyRing {
    /// An empty key ring for `group`.
    pub fn new(group: GroupId) -> Self {
        KeyRing {
            version: KEYRING_VERSION,
            group,
            epochs: BTreeMap::new(),
            role_keys: BTreeMap::new(),
            key_packages: BTreeMap::new(),
        }
    }

    /// The creator's key ring: a random secret for the first epoch `epoch`
    /// (the genesis message's id) and a random key for each of `roles` in it.
    pub fn genesis(
        rng: &mut (impl CryptoRng + ?Sized),
        group: GroupId,
        epoch: EpochId,
        roles: &[&str],
    ) -> Self {
        let mut ring = KeyRing::new(group);
        ring.insert_epoch(epoch, EpochSecret::random(rng));
        for role in roles {
            ring.insert_role_key(role, epoch, RoleKey::random(rng));
        }
        ring
    }

    /// The group this key ring is for.
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// Stores the secret of epoch `id` (replacing any held for it).
    pub fn insert_epoch(&mut self, id: EpochId, secret: EpochSecret) {
        self.epochs.insert(id, Slot::new(secret));
    }

    /// The secret of epoch `id`, if held.
    pub fn epoch_secret(&self, id: &EpochId) -> Option<&EpochSecret> {
        self.epochs.get(id).map(|s| &*s.secret)
    }

    /// The ids of the epochs whose secrets are held.
    pub fn epochs(&self) -> impl Iterator<Item = &EpochId> {
        self.epochs.keys()
    }

    /// Marks epoch `id` and every role key of that epoch superseded at `now`
    /// (the first mark counts; later ones do not move it).
    pub fn supersede_epoch(&mut self, id: &EpochId, now: u64) {
        if let Some(slot) = self.epochs.get_mut(id) {
            slot.retire(now);
        }
        for ((_, epoch), slot) in self.role_keys.iter_mut() {
            if epoch == id {
                slot.retire(now);
            }
        }
    }

    /// Moves into epoch `next` (secret `secret`) from `prev`: stores the
    /// secret, ratchets the key of each of `roles` held in `prev` into
    /// `next`, and marks `prev` superseded at `now`. Returns the roles of
    /// `roles` that had no key in `prev` (to be obtained by a grant).
    ///
    /// `roles` are the roles this member holds in `next` whose key continues
    /// by the ratchet; a role whose key is replaced in `next` is inserted
    /// with [`KeyRing::insert_role_key`] afterwards.
    pub fn advance(
        &mut self,
        prev: &EpochId,
        next: EpochId,
        secret: EpochSecret,
        roles: &[&str],
        now: u64,
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for role in roles {
            match self.role_key(role, prev).map(|k| k.ratchet(&secret, role)) {
                Some(key) => self.insert_role_key(role, next, key),
                None => missing.push((*role).to_owned()),
            }
        }
        self.insert_epoch(next, secret);
        self.supersede_epoch(prev, now);
        missing
    }

    /// Stores the key of `role` in `epoch` (replacing any held for them).
    pub fn insert_role_key(&mut self, role: &str, epoch: EpochId, key: RoleKey) {
        self.role_keys.insert((role.to_owned(), epoch), Slot::new(key));
    }

    /// The key of `role` in `epoch`, if held.
    pub fn role_key(&self, role: &str, epoch: &EpochId) -> Option<&RoleKey> {
        self.role_keys.get(&(role.to_owned(), *epoch)).map(|s| &*s.secret)
    }

    /// Marks every held key of `role` superseded at `now` (the member lost
    /// the role; content already readable stays readable for the grace
    /// period).
    pub fn supersede_role(&mut self, role: &str, now: u64) {
        for ((r, _), slot) in self.role_keys.iter_mut() {
            if r == role {
                slot.retire(now);
            }
        }
    }

    /// Stores the secret of one of this member's key packages.
    pub fn insert_key_package(&mut self, id: KeyPackageId, secret: KeyPackageSecret) {
        self.key_packages.insert(id, Slot::new(secret));
    }

    /// The secret of key package `id`, if held.
    pub fn key_package(&self, id: &KeyPackageId) -> Option<&KeyPackageSecret> {
        self.key_packages.get(id).map(|s| &*s.secret)
    }

    /// Marks key package `id` superseded at `now`: a newer key package of
    /// this member was accepted in the chain, so no new rekey or grant
    /// should be sealed to this one. It stays usable for late or concurrent
    /// ones until [`KeyRing::erase_expired`] drops it after the grace period.
    pub fn retire_key_package(&mut self, id: &KeyPackageId, now: u64) {
        if let Some(slot) = self.key_packages.get_mut(id) {
            slot.retire(now);
        }
    }

    /// Every secret held, as a [`KeyRef`], with the local time it was
    /// superseded (`None` while current). Holds no secret bytes.
    pub fn held(&self) -> Vec<(KeyRef, Option<u64>)> {
        let epochs = self.epochs.iter().map(|(e, s)| (KeyRef::Epoch(*e), s.retired_at));
        let roles =
            (self.role_keys.iter()).map(|((r, e), s)| (KeyRef::Role(r.clone(), *e), s.retired_at));
        let kps = (self.key_packages.iter()).map(|(k, s)| (KeyRef::KeyPackage(*k), s.retired_at));
        epochs.chain(roles).chain(kps).collect()
    }

    /// The raw bytes of one held secret, to store where an overwrite erases.
    pub fn secret_bytes(&self, r: &KeyRef) -> Option<&[u8; 32]> {
        match r {
            KeyRef::Epoch(e) => self.epochs.get(e).map(|s| s.secret.bytes()),
            KeyRef::Role(role, e) => {
                self.role_keys.get(&(role.clone(), *e)).map(|s| s.secret.bytes())
            }
            KeyRef::KeyPackage(k) => self.key_packages.get(k).map(|s| s.secret.bytes()),
        }
    }

    /// Puts back a secret read from storage, with the time it had been
    /// superseded (`None`: current).
    pub fn restore(&mut self, r: &KeyRef, secret: &[u8; 32], retired_at: Option<u64>) {
        match r {
            KeyRef::Epoch(e) => {
                let slot = Slot { secret: Box::new(EpochSecret::from_array(*secret)), retired_at };
                self.epochs.insert(*e, slot);
            }
            KeyRef::Role(role, e) => {
                let slot = Slot { secret: Box::new(RoleKey::from_array(*secret)), retired_at };
                self.role_keys.insert((role.clone(), *e), slot);
            }
            KeyRef::KeyPackage(k) => {
                let secret = Box::new(KeyPackageSecret::from_array(*secret));
                self.key_packages.insert(*k, Slot { secret, retired_at });
            }
        }
    }

    /// Erases (zeroizes and drops) every epoch secret, role key and
    /// key-package secret that was superseded at least `grace_secs` before
    /// `now`. Nothing that is still current is ever erased.
    pub fn erase_expired(&mut self, now: u64, grace_secs: u64) -> Erased {
        let before = (self.epochs.len(), self.role_keys.len(), self.key_packages.len());
        self.epochs.retain(|_, s| !s.expired(now, grace_secs));
        self.role_keys.retain(|_, s| !s.expired(now, grace_secs));
        self.key_packages.retain(|_, s| !s.expired(now, grace_secs));
        Erased {
            epochs: before.0 - self.epochs.len(),
            role_keys: before.1 - self.role_keys.len(),
            key_packages: before.2 - self.key_packages.len(),
        }
    }

    /// Erases, current or not, every epoch secret and key-package secret,
    /// and the role keys unless `keep_role_keys`: the member left the group
    /// (`keys.md`, "Leaving"). Returns what was erased.
    pub fn erase_on_leave(&mut self, keep_role_keys: bool) -> Erased {
        let erased = Erased {
            epochs: self.epochs.len(),
            role_keys: if keep_role_keys { 0 } else { self.role_keys.len() },
            key_packages: self.key_packages.len(),
        };
        self.epochs.clear();
        self.key_packages.clear();
        if !keep_role_keys {
            self.role_keys.clear();
        }
        erased
    }

    /// Loses every key-package secret (tests: a member whose secret is gone).
    #[cfg(test)]
    pub(crate) fn lose_key_packages(&mut self) {
        self.key_packages.clear();
    }

    /// The canonical encoding (postcard, version 1), in a zeroizing buffer,
    /// for the node to store sealed.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        // Serialising our own types cannot fail; the buffer is sized exactly
        // so that it never reallocates (which would leave copies behind).
        let len = postcard::experimental::serialized_size(self).unwrap_or(0);
        let mut buf = Zeroizing::new(vec![0u8; len]);
        let written = postcard::to_slice(self, &mut buf[..]).map(|s| s.len()).unwrap_or(0);
        buf.truncate(written);
        buf
    }

    /// Decodes a key ring: size limit, version, canonical form.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_KEYRING_LEN {
            return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_KEYRING_LEN });
        }
        match bytes.first() {
            None => return Err(DecodeError::Incomplete),
            Some(&KEYRING_VERSION) => {}
            Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        }
        let (ring, rest): (KeyRing, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|e| match e {
                postcard::Error::DeserializeUnexpectedEnd => DecodeError::Incomplete,
                other => DecodeError::Malformed(other.to_string()),
            })?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        if ring.encode().as_slice() != bytes {
            return Err(DecodeError::NonCanonical);
        }
        Ok(ring)
    }
}
