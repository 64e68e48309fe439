//! Cryptographic building blocks, each behind a newtype per key role.
//!
//! Everything here wraps a well-kept crate: `blake3` (KDF and hashing),
//! `chacha20poly1305` (XChaCha20-Poly1305 AEAD), `x25519-dalek` (sealing to a
//! public key), `ed25519-dalek` (signing) and `ed25519-consensus`
//! (verification, ZIP-215 rules for single and batch alike). No primitive is
//! invented here; this module only fixes contexts, sizes and newtypes.

/// Defines a newtype over 32 secret bytes: zeroized on drop, redacted in
/// `Debug`, with `from_bytes`, `random` and `as_bytes`. One definition for
/// every key role keeps their handling identical.
macro_rules! secret_bytes {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop, PartialEq, Eq)]
        pub struct $name([u8; 32]);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl $name {
            /// Wraps raw secret bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Fresh secret bytes from `rng`.
            pub fn random(rng: &mut (impl rand_core::CryptoRng + ?Sized)) -> Self {
                let mut bytes = [0u8; 32];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }

            /// The raw bytes, for sealing them under another key.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }
    };
}
pub(crate) use secret_bytes;

mod aead;
mod kdf;
mod rng;
mod seal;
mod sig;

pub use aead::{AeadKey, NONCE_LEN, TAG_LEN};
pub use kdf::{context, derive_key, keyed_hash};
pub use rng::{Rng06, XofRng};
pub use seal::{SEALED_OVERHEAD, X25519Public, X25519Secret, open_from, seal_to};
pub use sig::{
    PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, Signature, SigningKey, verify_batch, verify_single,
};

/// Errors from the cryptographic layer.
///
/// Deliberately coarse: an attacker learns nothing from which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An AEAD ciphertext did not authenticate under the key and associated data.
    #[error("decryption failed: wrong key or tampered data")]
    Decrypt,
    /// A ciphertext was too short to hold a nonce and tag.
    #[error("ciphertext too short")]
    Truncated,
    /// A signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// A public key is not a canonical encoding of a point of large order.
    #[error("weak or malformed public key")]
    WeakPublicKey,
    /// An x25519 exchange produced the all-zero secret (low-order point).
    #[error("low-order x25519 public key")]
    LowOrderPoint,
}
