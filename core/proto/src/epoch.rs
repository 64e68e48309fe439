//! Epochs and key material: epoch secrets, role keys, key packages, rekeys,
//! role-key grants, role-sealed content and a member's key ring.
//!
//! The normative description is `protocol-spec/keys.md`. Everything here is
//! pure: randomness is an `rng` argument, time a `now: u64` (seconds on the
//! local clock).
//!
//! # API for the group module
//!
//! The group state machine decides *who* gets *what*; this module only does
//! the cryptography and checks shapes. What it needs:
//!
//! * **Epochs.** [`EpochSecret`] (`random`, `keys() -> EpochKeys`). An epoch's
//!   id is the id of the message that created it. [`KeyRing::genesis`] makes
//!   the creator's first epoch secret and a random key for every role.
//! * **Key packages.** A body carries a [`KeyPackage`]; check it with
//!   [`KeyPackage::validate`] (group binding, low-order and non-canonical
//!   points). Its id is [`KeyPackageId::owned_by`]`(owner identity key, &kp)`:
//!   the owner is the author of the message that publishes it, or the
//!   joiner a member-add names. A public key copied by someone else gets
//!   another id; a joiner's id is known before the admitting message (and
//!   its rekey) is written.
//! * **Rekeys.** [`Rekey::build`] seals a new epoch secret to
//!   `(KeyPackageId, &KeyPackage)` pairs; [`Rekey::check_shape`] is the
//!   context-free check a decoded body must pass; [`Rekey::recipients`] lists
//!   the wrap targets (dummies included: they are random ids that match no
//!   key package), so the state machine can refuse a rekey that wraps to a
//!   removed member's key package; [`Rekey::open`] gives a recipient the
//!   secret or [`RekeyError::ConfirmationMismatch`] (report it, ask for a
//!   healing rekey). Among concurrent valid rekeys of one epoch, the winner is
//!   the least by [`rekey_precedence`].
//! * **Role keys.** [`RoleKey::ratchet`] moves a role key into the next epoch
//!   ([`KeyRing::advance`] does it for every held role); [`RoleKey::random`]
//!   replaces it when the role is revoked from someone who stays.
//!   [`RoleKeyGrant`] delivers a role key to new holders.
//! * **Sealed content.** [`SealedContent::seal`] / [`SealedContent::open`]
//!   for the role-sealed layer of a task or message, bound to a 32-byte
//!   binding the state machine chooses (it must be known before the message
//!   is signed, e.g. the task id). [`SealedContent::rewrap_for`] re-wraps an
//!   open task's content key for a newly assigned role or epoch. A layer
//!   that does not open is an `Err`, never a panic, and never makes a
//!   message invalid.
//! * **Erasure.** [`KeyRing::erase_expired`] with [`DEFAULT_GRACE_SECS`].
//!
//! # Example: one rekey, one sealed task
//!
//! ```
//! use cairn_proto::crypto::{PublicKey, XofRng};
//! use cairn_proto::epoch::*;
//! use cairn_proto::wire::{EpochId, GroupId};
//!
//! let mut rng = XofRng::from_seed(b"doc"); // shells pass the OS RNG
//! let group = GroupId([1; 32]);
//! let genesis = EpochId([2; 32]); // the genesis message's id
//! let mut ring = KeyRing::genesis(&mut rng, group, genesis, &["admin"]);
//!
//! // Bob publishes a key package in a message he signs.
//! let bob = PublicKey([3; 32]);
//! let (kp, kp_secret) = KeyPackage::generate(group, &mut rng);
//! let kp_id = KeyPackageId::owned_by(&bob, &kp);
//!
//! // The creator rotates to a new epoch and wraps it to Bob.
//! let next_secret = EpochSecret::random(&mut rng);
//! let rekey = Rekey::build(&mut rng, &group, genesis, &next_secret, &[(kp_id, &kp)])?;
//! assert_eq!(rekey.open(&group, &kp_id, &kp_secret)?, next_secret);
//! let next = EpochId([4; 32]); // the id of the message carrying `rekey`
//! ring.advance(&genesis, next, next_secret, &["admin"], 1_000);
//!
//! // Task content readable by admins, bound to the task.
//! let task = [5; 32];
//! let admin = ring.role_key("admin", &next).expect("ratcheted");
//! let sealed = SealedContent::seal(&mut rng, &group, &task, next, b"plan", &[("admin", admin)])?;
//! assert_eq!(sealed.open_with(&group, &task, &ring)?.as_slice(), b"plan");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod err;
mod grant;
mod key_package;
mod keyring;
mod precedence;
mod rekey;
mod sealed;
mod secret;
mod wrap;

pub use err::{KeyPackageError, RekeyError, SealError};
pub use grant::RoleKeyGrant;
pub use key_package::{KeyPackage, KeyPackageId, KeyPackageSecret};
pub use keyring::{DEFAULT_GRACE_SECS, Erased, KeyRing, MAX_KEYRING_LEN};
pub use precedence::{RekeyCandidate, RekeyKind, rekey_precedence};
pub use rekey::Rekey;
pub use sealed::{ContentKey, MAX_CONTENT_ROLES, ROLE_WRAP_LEN, RoleWrap, SealedContent};
pub use secret::{EpochSecret, MAX_ROLE_LEN, RoleKey};
pub use wrap::{MAX_WRAPS, WRAP_LEN, Wrap, padded_len};

/// A 32-byte secret newtype that the key ring can store and serialize.
trait Secret32: Sized {
    fn from_array(bytes: [u8; 32]) -> Self;
    fn bytes(&self) -> &[u8; 32];
}

/// `u64` little-endian length of `s`, then `s`: the encoding of a
/// variable-length field inside KDF material and associated data.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Checks a role name: non-empty, at most [`MAX_ROLE_LEN`] bytes.
fn check_role(role: &str) -> Result<(), &'static str> {
    if role.is_empty() {
        return Err("empty role name");
    }
    if role.len() > MAX_ROLE_LEN {
        return Err("role name too long");
    }
    Ok(())
}

#[cfg(test)]
mod test;
