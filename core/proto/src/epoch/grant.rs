//! Role-key grants: a holder of a role delivers the role's key of one epoch
//! to new holders, sealed to their key packages (`protocol-spec/keys.md`,
//! "Role-key grants").

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::wrap::{check_wraps, open_wrap, seal_wraps};
use super::{
    KeyPackage, KeyPackageId, KeyPackageSecret, RekeyError, RoleKey, Wrap, check_role, put_str,
};
use crate::crypto::{context, derive_key};
use crate::wire::{DecodeError, EpochId, GroupId, MAX_MESSAGE_LEN, decode_canonical, encode};

/// Associated data prefix of a grant wrap.
const GRANT_WRAP_AD: &[u8] = b"cairn role key grant wrap v1\0";

/// Delivers `R(role, epoch)` to new holders of `role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeyGrant {
    /// The role whose key is delivered.
    pub role: String,
    /// The epoch whose role key this is.
    pub epoch: EpochId,
    /// The role key sealed to each new holder's key package, padded and
    /// sorted like a rekey's.
    pub wraps: Vec<Wrap>,
    /// `BLAKE3-derive_key(ROLE_GRANT_CONFIRMATION, group ‖ epoch ‖ key ‖
    /// u64le(len(role)) ‖ role)`: recipients, and every current holder, can
    /// check that the key delivered is the role's key.
    #[serde(with = "serde_bytes")]
    pub confirmation: [u8; 32],
}

/// prefix ‖ group ‖ epoch ‖ to ‖ u64le(len(role)) ‖ role.
fn wrap_ad(group: &GroupId, epoch: &EpochId, to: &KeyPackageId, role: &str) -> Vec<u8> {
    let mut ad = [GRANT_WRAP_AD, &group.0, &epoch.0, &to.0].concat();
    put_str(&mut ad, role);
    ad
}

fn confirmation(group: &GroupId, epoch: &EpochId, role: &str, key: &RoleKey) -> [u8; 32] {
    let mut material = Zeroizing::new(Vec::with_capacity(96 + 8 + role.len()));
    material.extend_from_slice(&group.0);
    material.extend_from_slice(&epoch.0);
    material.extend_from_slice(key.as_bytes());
    put_str(&mut material, role);
    *derive_key(context::ROLE_GRANT_CONFIRMATION, &material)
}

impl RoleKeyGrant {
    /// Seals `key` (the key of `role` in `epoch`) to each recipient.
    pub fn build(
        rng: &mut (impl CryptoRng + ?Sized),
        group: &GroupId,
        role: &str,
        epoch: EpochId,
        key: &RoleKey,
        recipients: &[(KeyPackageId, &KeyPackage)],
    ) -> Result<RoleKeyGrant, RekeyError> {
        check_role(role).map_err(RekeyError::BadRole)?;
        let wraps = seal_wraps(rng, group, recipients, key.as_bytes(), |to| {
            wrap_ad(group, &epoch, to, role)
        })?;
        let confirmation = confirmation(group, &epoch, role, key);
        Ok(RoleKeyGrant { role: role.to_owned(), epoch, wraps, confirmation })
    }

    /// Context-free shape rules: a valid role name and the wrap rules of a
    /// rekey ([`super::Rekey::check_shape`]).
    pub fn check_shape(&self) -> Result<(), &'static str> {
        check_role(&self.role)?;
        check_wraps(&self.wraps)
    }

    /// The recipient ids of every wrap, dummies included.
    pub fn recipients(&self) -> impl Iterator<Item = &KeyPackageId> {
        self.wraps.iter().map(|w| &w.to)
    }

    /// Opens the wrap for key package `me` and checks the key against the
    /// confirmation hash.
    pub fn open(
        &self,
        group: &GroupId,
        me: &KeyPackageId,
        secret: &KeyPackageSecret,
    ) -> Result<RoleKey, RekeyError> {
        check_role(&self.role).map_err(RekeyError::Malformed)?;
        let ad = wrap_ad(group, &self.epoch, me, &self.role);
        let key = RoleKey::from_bytes(*open_wrap(&self.wraps, me, secret, &ad)?);
        if !self.confirms(group, &key) {
            return Err(RekeyError::ConfirmationMismatch);
        }
        Ok(key)
    }

    /// Whether `key` matches the confirmation hash (a current holder checks
    /// that a grant delivers the role's real key).
    pub fn confirms(&self, group: &GroupId, key: &RoleKey) -> bool {
        confirmation(group, &self.epoch, &self.role, key) == self.confirmation
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a canonical grant of at most [`MAX_MESSAGE_LEN`] bytes and
    /// checks its shape.
    pub fn decode(bytes: &[u8]) -> Result<RoleKeyGrant, DecodeError> {
        let grant: RoleKeyGrant = decode_canonical(bytes, MAX_MESSAGE_LEN)?;
        grant.check_shape().map_err(|e| DecodeError::Malformed(e.into()))?;
        Ok(grant)
    }
}
