//! Errors of the epoch module, one enum per kind of operation.

use super::KeyPackageId;

/// Why a key package is refused (`protocol-spec/keys.md`, "Key packages").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyPackageError {
    /// The key package names another group.
    #[error("key package is bound to another group")]
    WrongGroup,
    /// The x25519 key is not the canonical encoding of a u-coordinate (the
    /// top bit is set, or the value is not below 2^255 − 19).
    #[error("non-canonical x25519 key in key package")]
    NonCanonical,
    /// The x25519 key is a point of low order (including all zero): sealing
    /// to it would not be contributory.
    #[error("low-order x25519 key in key package")]
    LowOrder,
}

/// Why a rekey or a role-key grant could not be built or opened
/// (`protocol-spec/keys.md`, "Wraps").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RekeyError {
    /// Building: more recipients than [`super::MAX_WRAPS`].
    #[error("{0} recipients exceed the limit of {max}", max = super::MAX_WRAPS)]
    TooManyRecipients(usize),
    /// Building: the same key package id was given twice.
    #[error("key package {0:?} given twice")]
    DuplicateRecipient(KeyPackageId),
    /// Building: a recipient's key package is not valid for this group.
    #[error("key package {id:?} refused: {reason}")]
    BadRecipient {
        /// The refused key package.
        id: KeyPackageId,
        /// Why.
        reason: KeyPackageError,
    },
    /// Building a grant: the role name is empty or too long.
    #[error("bad role name: {0}")]
    BadRole(&'static str),
    /// Opening: the payload breaks a shape rule (see `check_shape`).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Opening: no wrap is addressed to this key package.
    #[error("no wrap for this key package")]
    NotARecipient,
    /// Opening: the wrap addressed to this key package does not open under
    /// its secret (wrong key, tampered, or bound to another group or epoch).
    #[error("the wrap for this key package does not open")]
    WrapDoesNotOpen,
    /// Opening: the wrap opened, but the secret in it does not match the
    /// payload's confirmation hash: the sender gave this member a different
    /// secret than the one it committed to for everyone (split view).
    #[error("the wrapped secret does not match the confirmation hash")]
    ConfirmationMismatch,
}

/// Why role-sealed content could not be sealed or opened
/// (`protocol-spec/keys.md`, "Sealed content").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Sealing: no role to seal for.
    #[error("no role to seal for")]
    NoRoles,
    /// Sealing or adding a wrap: more than [`super::MAX_CONTENT_ROLES`] wraps.
    #[error("too many role wraps")]
    TooManyWraps,
    /// Sealing or adding a wrap: the same role (and epoch) twice.
    #[error("role wrapped twice")]
    DuplicateRole,
    /// A role name is empty or too long.
    #[error("bad role name: {0}")]
    BadRole(&'static str),
    /// The sealed content breaks a shape rule (see `check_shape`).
    #[error("malformed sealed content: {0}")]
    Malformed(&'static str),
    /// No wrap for this role (or no key in the key ring for any wrap).
    #[error("no wrap for this role")]
    NoWrapForRole,
    /// A wrap for the role exists but does not open under the key, or the
    /// content does not decrypt under the unwrapped content key.
    #[error("sealed content does not open")]
    DoesNotOpen,
}
