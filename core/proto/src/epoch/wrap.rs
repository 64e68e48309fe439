//! Wraps: a 32-byte secret sealed to one key package, padded with dummies.
//!
//! Shared by [`super::Rekey`] and [`super::RoleKeyGrant`]. A wrap list is
//! padded to [`padded_len`] with dummy wraps that look like real ones (a
//! fresh x25519 public key, then random bytes) and sorted by recipient id
//! (`protocol-spec/keys.md`, "Wraps").

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{KeyPackage, KeyPackageId, KeyPackageSecret, RekeyError};
use crate::crypto::{SEALED_OVERHEAD, X25519Secret, open_from, seal_to};
use crate::wire::GroupId;

/// Length of every wrap's `sealed` field: a sealed 32-byte secret.
pub const WRAP_LEN: usize = SEALED_OVERHEAD + 32;
/// The most wraps in one rekey or grant (dummies included). 512 wraps encode
/// in about 70 KiB, well inside the largest message.
pub const MAX_WRAPS: usize = 512;

/// A secret sealed to one key package (or a dummy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrap {
    /// The recipient's key package id (random for a dummy).
    pub to: KeyPackageId,
    /// `seal_to(key package, secret, associated data)`, [`WRAP_LEN`] bytes.
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

/// The number of wraps for `real` recipients: the next power of two, at
/// least 1.
pub fn padded_len(real: usize) -> usize {
    real.max(1).next_power_of_two()
}

/// Seals `secret` to every recipient, binding each wrap with `ad(to)`, pads
/// with dummies to [`padded_len`] and sorts by `to`.
pub(super) fn seal_wraps(
    rng: &mut (impl CryptoRng + ?Sized),
    group: &GroupId,
    recipients: &[(KeyPackageId, &KeyPackage)],
    secret: &[u8; 32],
    ad: impl Fn(&KeyPackageId) -> Vec<u8>,
) -> Result<Vec<Wrap>, RekeyError> {
    if recipients.len() > MAX_WRAPS {
        return Err(RekeyError::TooManyRecipients(recipients.len()));
    }
    let mut wraps = Vec::with_capacity(padded_len(recipients.len()));
    for (id, kp) in recipients {
        kp.validate(group).map_err(|reason| RekeyError::BadRecipient { id: *id, reason })?;
        if wraps.iter().any(|w: &Wrap| w.to == *id) {
            return Err(RekeyError::DuplicateRecipient(*id));
        }
        let sealed = seal_to(rng, &kp.public(), secret, &ad(id)).map_err(|_| {
            RekeyError::BadRecipient { id: *id, reason: super::KeyPackageError::LowOrder }
        })?;
        wraps.push(Wrap { to: *id, sealed });
    }
    while wraps.len() < padded_len(recipients.len()) {
        let dummy = dummy_wrap(rng);
        if wraps.iter().all(|w| w.to != dummy.to) {
            wraps.push(dummy);
        }
    }
    wraps.sort_by_key(|a| a.to);
    Ok(wraps)
}

/// A dummy wrap: a random recipient id; a fresh x25519 public key (so the
/// first 32 bytes are a curve point like a real ephemeral key) followed by
/// random bytes standing for nonce, ciphertext and tag.
fn dummy_wrap(rng: &mut (impl CryptoRng + ?Sized)) -> Wrap {
    let mut to = [0u8; 32];
    rng.fill_bytes(&mut to);
    let mut sealed = vec![0u8; WRAP_LEN];
    sealed[..32].copy_from_slice(&X25519Secret::random(rng).public().0);
    rng.fill_bytes(&mut sealed[32..]);
    Wrap { to: KeyPackageId(to), sealed }
}

/// Context-free rules for a wrap list: 1 to [`MAX_WRAPS`] wraps, a power of
/// two, recipient ids strictly ascending, every `sealed` [`WRAP_LEN`] bytes.
pub(super) fn check_wraps(wraps: &[Wrap]) -> Result<(), &'static str> {
    if wraps.is_empty() {
        return Err("no wraps");
    }
    if wraps.len() > MAX_WRAPS {
        return Err("too many wraps");
    }
    if !wraps.len().is_power_of_two() {
        return Err("wrap count is not a power of two");
    }
    if wraps.windows(2).any(|w| w[0].to >= w[1].to) {
        return Err("wrap recipients not strictly ascending");
    }
    if wraps.iter().any(|w| w.sealed.len() != WRAP_LEN) {
        return Err("wrap of the wrong length");
    }
    Ok(())
}

/// Finds the wrap for `me` and opens it with `ad(me)`.
pub(super) fn open_wrap(
    wraps: &[Wrap],
    me: &KeyPackageId,
    secret: &KeyPackageSecret,
    ad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, RekeyError> {
    check_wraps(wraps).map_err(RekeyError::Malformed)?;
    let wrap = wraps.iter().find(|w| w.to == *me).ok_or(RekeyError::NotARecipient)?;
    let plain = Zeroizing::new(
        open_from(&secret.x25519(), &wrap.sealed, ad).map_err(|_| RekeyError::WrapDoesNotOpen)?,
    );
    if plain.len() != 32 {
        return Err(RekeyError::WrapDoesNotOpen);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&plain);
    Ok(out)
}
