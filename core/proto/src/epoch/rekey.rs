//! The rekey payload: a new epoch secret wrapped to every member's key
//! package, with one confirmation hash (`protocol-spec/keys.md`, "Rekeys").

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::wrap::{check_wraps, open_wrap, seal_wraps};
use super::{EpochSecret, KeyPackage, KeyPackageId, KeyPackageSecret, RekeyError, Wrap};
use crate::crypto::{context, derive_key};
use crate::wire::{DecodeError, EpochId, GroupId, MAX_MESSAGE_LEN, decode_canonical, encode};

/// Associated data prefix of a rekey wrap.
const REKEY_WRAP_AD: &[u8] = b"cairn rekey wrap v1\0";

/// A rekey: starts a new epoch (whose id is the id of the message carrying
/// it) by sealing its secret to the key packages of the members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekey {
    /// The epoch this rekey replaces.
    pub replaces: EpochId,
    /// The new secret sealed to each recipient, padded with dummies to a
    /// power of two and sorted by recipient id.
    pub wraps: Vec<Wrap>,
    /// `BLAKE3-derive_key(REKEY_CONFIRMATION, group ‖ replaces ‖ secret)`:
    /// every recipient checks that its secret matches.
    #[serde(with = "serde_bytes")]
    pub confirmation: [u8; 32],
}

/// The associated data of the wrap for `to`: prefix ‖ group ‖ replaces ‖ to.
fn wrap_ad(group: &GroupId, replaces: &EpochId, to: &KeyPackageId) -> Vec<u8> {
    [REKEY_WRAP_AD, &group.0, &replaces.0, &to.0].concat()
}

/// The confirmation hash of `secret` as the successor of `replaces`.
fn confirmation(group: &GroupId, replaces: &EpochId, secret: &EpochSecret) -> [u8; 32] {
    let material = zeroize::Zeroizing::new([&group.0[..], &replaces.0, secret.as_bytes()].concat());
    *derive_key(context::REKEY_CONFIRMATION, &material)
}

impl Rekey {
    /// Seals `secret` to each recipient key package (each must be valid for
    /// `group`: [`KeyPackage::validate`]) and computes the confirmation.
    pub fn build(
        rng: &mut (impl CryptoRng + ?Sized),
        group: &GroupId,
        replaces: EpochId,
        secret: &EpochSecret,
        recipients: &[(KeyPackageId, &KeyPackage)],
    ) -> Result<Rekey, RekeyError> {
        let wraps = seal_wraps(rng, group, recipients, secret.as_bytes(), |to| {
            wrap_ad(group, &replaces, to)
        })?;
        let confirmation = confirmation(group, &replaces, secret);
        Ok(Rekey { replaces, wraps, confirmation })
    }

    /// Context-free shape rules (`keys.md`, "Wraps"): 1 to
    /// [`super::MAX_WRAPS`] wraps, a power of two, recipients strictly
    /// ascending, every wrap [`super::WRAP_LEN`] bytes.
    pub fn check_shape(&self) -> Result<(), &'static str> {
        check_wraps(&self.wraps)
    }

    /// The recipient ids of every wrap, dummies included (a dummy's id is
    /// random and matches no key package).
    pub fn recipients(&self) -> impl Iterator<Item = &KeyPackageId> {
        self.wraps.iter().map(|w| &w.to)
    }

    /// Opens the wrap for key package `me` and checks the secret against the
    /// confirmation hash.
    pub fn open(
        &self,
        group: &GroupId,
        me: &KeyPackageId,
        secret: &KeyPackageSecret,
    ) -> Result<EpochSecret, RekeyError> {
        let bytes = open_wrap(&self.wraps, me, secret, &wrap_ad(group, &self.replaces, me))?;
        let epoch = EpochSecret::from_bytes(*bytes);
        if !self.confirms(group, &epoch) {
            return Err(RekeyError::ConfirmationMismatch);
        }
        Ok(epoch)
    }

    /// Whether `secret` matches the confirmation hash (for the rotator, or a
    /// member who obtained the secret otherwise).
    pub fn confirms(&self, group: &GroupId, secret: &EpochSecret) -> bool {
        confirmation(group, &self.replaces, secret) == self.confirmation
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a canonical rekey of at most [`MAX_MESSAGE_LEN`] bytes and
    /// checks its shape.
    pub fn decode(bytes: &[u8]) -> Result<Rekey, DecodeError> {
        let rekey: Rekey = decode_canonical(bytes, MAX_MESSAGE_LEN)?;
        rekey.check_shape().map_err(|e| DecodeError::Malformed(e.into()))?;
        Ok(rekey)
    }
}
