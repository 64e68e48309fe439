//! Epoch secrets and role keys, and the role-key ratchet.
//!
//! `R(next) = BLAKE3-derive_key(ROLE_KEY_RATCHET, R(prev) ‖ E(next) ‖
//! u64le(len(role)) ‖ role)` (`protocol-spec/keys.md`, "Role keys").

use zeroize::Zeroizing;

use super::{Secret32, put_str};
use crate::crypto::{context, derive_key};
use crate::wire::EpochKeys;

/// The longest role name, in bytes, that a role-key grant or a role wrap may
/// name; the same limit as the group rules (`wire::body`).
pub const MAX_ROLE_LEN: usize = 32;

crate::crypto::secret_bytes!(
    /// An epoch secret `E` (spec: "epoch secret"): 32 random bytes from which
    /// the epoch's group key, mailbox write key and mailbox id are derived.
    /// The first epoch's is drawn by the group's creator
    /// ([`super::KeyRing::genesis`]); later ones come from rekeys.
    EpochSecret
);

crate::crypto::secret_bytes!(
    /// A role key `R(role, epoch)` (spec: "role key"): held by the holders of
    /// one role in one epoch; wraps the content keys of role-sealed content.
    /// Ratcheted into each new epoch ([`RoleKey::ratchet`]); a fresh random
    /// one replaces it when the role is revoked from someone who stays.
    RoleKey
);

impl EpochSecret {
    /// The keys of the epoch (group key, mailbox write key, mailbox id),
    /// as specified in `wire.md`.
    pub fn keys(&self) -> EpochKeys {
        EpochKeys::derive(&Zeroizing::new(self.0))
    }
}

impl RoleKey {
    /// The key of `role` in the next epoch, whose secret is `next`:
    /// `BLAKE3-derive_key(ROLE_KEY_RATCHET, R(prev) ‖ E(next) ‖
    /// u64le(len(role)) ‖ role)`.
    ///
    /// A member who holds `E(next)` but not `R(prev)` learns nothing about
    /// `R(next)`; a holder of `R(prev)` who is not given `E(next)` neither.
    pub fn ratchet(&self, next: &EpochSecret, role: &str) -> RoleKey {
        let mut material = Zeroizing::new(Vec::with_capacity(64 + 8 + role.len()));
        material.extend_from_slice(&self.0);
        material.extend_from_slice(&next.0);
        put_str(&mut material, role);
        RoleKey(*derive_key(context::ROLE_KEY_RATCHET, &material))
    }
}

impl Secret32 for EpochSecret {
    fn from_array(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Secret32 for RoleKey {
    fn from_array(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}
