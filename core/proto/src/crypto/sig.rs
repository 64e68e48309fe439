//! Ed25519 signatures with one validity rule everywhere.
//!
//! Signing uses `ed25519-dalek` (its keys zeroize on drop). Verification, both
//! single and batch, uses `ed25519-consensus`, which implements ZIP-215: one
//! cofactored equation for single and batch checks, canonical `s` required,
//! non-canonical point encodings accepted. Every member therefore accepts
//! exactly the same signatures whether it verifies one at a time or in
//! batches. Signatures from `ed25519-dalek` are standard RFC 8032 signatures
//! and always pass ZIP-215 verification.

use ed25519_dalek::Signer as _;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{CryptoError, Rng06};

/// Length of an encoded ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an encoded ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An ed25519 public key as its 32-byte encoding (not yet checked to decode).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct PublicKey(#[serde(with = "serde_bytes")] pub [u8; PUBLIC_KEY_LEN]);

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey({})", short_hex_pub(&self.0))
    }
}

/// An ed25519 signature as its 64-byte encoding.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signature(#[serde(with = "serde_bytes")] pub [u8; SIGNATURE_LEN]);

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signature({})", short_hex_pub(&self.0))
    }
}

/// First bytes of a value in hex, for debug output of public values.
pub(crate) fn short_hex_pub(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>() + "…"
}

/// An ed25519 signing key (the 32-byte seed form). Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey([u8; 32]);

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SigningKey(public={:?})", self.public())
    }
}

impl SigningKey {
    /// Wraps the 32-byte RFC 8032 secret seed.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn random(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The raw 32-byte secret seed, for storing it sealed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(ed25519_dalek::SigningKey::from_bytes(&self.0).verifying_key().to_bytes())
    }

    /// Signs `prefix ‖ message`. The prefix is the domain separator of the
    /// object type (for example `b"cairn message v1\0"`).
    pub fn sign(&self, prefix: &[u8], message: &[u8]) -> Signature {
        let key = ed25519_dalek::SigningKey::from_bytes(&self.0);
        let mut input = Vec::with_capacity(prefix.len() + message.len());
        input.extend_from_slice(prefix);
        input.extend_from_slice(message);
        Signature(key.sign(&input).to_bytes())
    }
}

fn signed_input(prefix: &[u8], message: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(prefix.len() + message.len());
    input.extend_from_slice(prefix);
    input.extend_from_slice(message);
    input
}

/// Verifies one signature over `prefix ‖ message` (ZIP-215 rules).
pub fn verify_single(
    key: &PublicKey,
    prefix: &[u8],
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let vk = ed25519_consensus::VerificationKey::try_from(key.0)
        .map_err(|_| CryptoError::BadSignature)?;
    let sig = ed25519_consensus::Signature::from(signature.0);
    vk.verify(&sig, &signed_input(prefix, message))
        .map_err(|_| CryptoError::BadSignature)
}

/// Verifies many signatures over `prefix ‖ message_i`; returns one verdict per
/// item, in order.
///
/// The whole batch is checked with one multiscalar multiplication; only if it
/// fails is each item checked alone to find the bad ones. Because
/// `ed25519-consensus` uses the same cofactored equation for both, the verdicts
/// equal [`verify_single`]'s (a batch can wrongly pass with probability about
/// 2^-128 over the random coefficients drawn from `rng`).
pub fn verify_batch(
    rng: &mut (impl CryptoRng + ?Sized),
    prefix: &[u8],
    items: &[(&PublicKey, &[u8], &Signature)],
) -> Vec<bool> {
    let inputs: Vec<Vec<u8>> = items.iter().map(|(_, m, _)| signed_input(prefix, m)).collect();
    let mut verifier = ed25519_consensus::batch::Verifier::new();
    for ((key, _, sig), input) in items.iter().zip(&inputs) {
        let vkb = ed25519_consensus::VerificationKeyBytes::from(key.0);
        verifier.queue((vkb, ed25519_consensus::Signature::from(sig.0), input));
    }
    if verifier.verify(Rng06(rng)).is_ok() {
        return vec![true; items.len()];
    }
    items
        .iter()
        .map(|(key, m, sig)| verify_single(key, prefix, m, sig).is_ok())
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    #[test]
    fn sign_verify_and_domain_separation() {
        let mut rng = XofRng::from_seed(b"sig");
        let key = SigningKey::random(&mut rng);
        let sig = key.sign(b"cairn a v1\0", b"msg");
        assert!(verify_single(&key.public(), b"cairn a v1\0", b"msg", &sig).is_ok());
        assert!(verify_single(&key.public(), b"cairn b v1\0", b"msg", &sig).is_err());
        assert!(verify_single(&key.public(), b"cairn a v1\0", b"msh", &sig).is_err());
        let other = SigningKey::random(&mut rng).public();
        assert!(verify_single(&other, b"cairn a v1\0", b"msg", &sig).is_err());
    }

    #[test]
    fn batch_finds_the_bad_item() {
        let mut rng = XofRng::from_seed(b"batch");
        let keys: Vec<SigningKey> = (0..8).map(|_| SigningKey::random(&mut rng)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Signature> =
            keys.iter().zip(&msgs).map(|(k, m)| k.sign(b"p", m)).collect();
        sigs[3].0[10] ^= 1;
        let items: Vec<_> =
            (0..8).map(|i| (&pubs[i], msgs[i].as_slice(), &sigs[i])).collect();
        let verdicts = verify_batch(&mut rng, b"p", &items);
        let expected: Vec<bool> = (0..8).map(|i| i != 3).collect();
        assert_eq!(verdicts, expected);
    }
}
