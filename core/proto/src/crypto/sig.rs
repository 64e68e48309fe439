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

use super::{CryptoError, Rng06};

/// Length of an encoded ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an encoded ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An ed25519 public key as its 32-byte encoding (not yet checked to decode).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PublicKey(#[serde(with = "serde_bytes")] pub [u8; PUBLIC_KEY_LEN]);

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey({}…)", crate::hex::short(&self.0, 12))
    }
}

impl PublicKey {
    /// Checks that the key is the canonical encoding of a curve point that is
    /// not of small order. ZIP-215 verification accepts any signature under a
    /// small-order key for some messages, so such keys must never be accepted
    /// as an identity or a mailbox key; an honest key always passes.
    pub fn check_strong(&self) -> Result<(), CryptoError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| CryptoError::WeakPublicKey)?;
        if key.is_weak() || key.to_edwards().compress().to_bytes() != self.0 {
            return Err(CryptoError::WeakPublicKey);
        }
        Ok(())
    }
}

/// An ed25519 signature as its 64-byte encoding.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signature(#[serde(with = "serde_bytes")] pub [u8; SIGNATURE_LEN]);

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signature({}…)", crate::hex::short(&self.0, 12))
    }
}

/// An ed25519 signing key (RFC 8032 seed form), kept expanded with its
/// public key: deriving the public key is a scalar multiplication, as
/// costly as a signature, so it is done once, not per signature.
/// `ed25519-dalek` zeroizes the key on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl zeroize::ZeroizeOnDrop for SigningKey {}

impl SigningKey {
    /// Wraps a raw 32-byte seed.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = zeroize::Zeroizing::new(bytes);
        Self(ed25519_dalek::SigningKey::from_bytes(&bytes))
    }

    /// A fresh key from `rng`.
    pub fn random(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut bytes[..]);
        Self(ed25519_dalek::SigningKey::from_bytes(&bytes))
    }

    /// The raw seed, for sealing it under another key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `prefix ‖ message`. The prefix is the domain separator of the
    /// object type (for example `b"cairn message v1\0"`).
    pub fn sign(&self, prefix: &[u8], message: &[u8]) -> Signature {
        Signature(self.0.sign(&signed_input(prefix, message)).to_bytes())
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
    vk.verify(&sig, &signed_input(prefix, message)).map_err(|_| CryptoError::BadSignature)
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
    if let [(key, m, sig)] = items {
        // One signature: nothing to batch (and no coefficients to draw).
        return vec![verify_single(key, prefix, m, sig).is_ok()];
    }
    let inputs: Vec<Vec<u8>> = items.iter().map(|(_, m, _)| signed_input(prefix, m)).collect();
    let mut verifier = ed25519_consensus::batch::Verifier::new();
    for ((key, _, sig), input) in items.iter().zip(&inputs) {
        let vkb = ed25519_consensus::VerificationKeyBytes::from(key.0);
        verifier.queue((vkb, ed25519_consensus::Signature::from(sig.0), input));
    }
    if verifier.verify(Rng06(rng)).is_ok() {
        return vec![true; items.len()];
    }
    items.iter().map(|(key, m, sig)| verify_single(key, prefix, m, sig).is_ok()).collect()
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
        let items: Vec<_> = (0..8).map(|i| (&pubs[i], msgs[i].as_slice(), &sigs[i])).collect();
        let verdicts = verify_batch(&mut rng, b"p", &items);
        let expected: Vec<bool> = (0..8).map(|i| i != 3).collect();
        assert_eq!(verdicts, expected);
    }
    /// Encodings of the small-order points: the 8 canonical ones and 6
    /// non-canonical ones (y ≥ p, or x = 0 with the sign bit set).
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let mut v: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        let mut p_plus = |low: u8, top: u8| {
            let mut e = [0xffu8; 32];
            e[0] = low;
            e[31] = top;
            v.push(e);
        };
        for low in [0xed, 0xee] {
            p_plus(low, 0x7f); // y = p, p + 1
            p_plus(low, 0xff); // the same with the sign bit
        }
        p_plus(0xec, 0xff); // y = -1 with the sign bit
        let mut one_signed = [0u8; 32];
        one_signed[0] = 1;
        one_signed[31] = 0x80; // y = 1 (identity) with the sign bit
        v.push(one_signed);
        v
    }

    /// ZIP-215 edge cases: every (A, R) pair of small-order encodings with
    /// s = 0. Single and batch verification must give the same verdict for
    /// each, alone and mixed into batches with ordinary signatures.
    #[test]
    fn batch_and_single_agree_on_small_order_and_non_canonical_points() {
        let mut rng = XofRng::from_seed(b"zip215");
        let encodings = small_order_encodings();
        assert_eq!(encodings.len(), 14);
        let honest = SigningKey::random(&mut rng);
        let honest_sig = honest.sign(b"", b"Zcash");
        let honest_pub = honest.public();
        let mut accepted = 0;
        for a in &encodings {
            for r in &encodings {
                let key = PublicKey(*a);
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(r);
                let sig = Signature(sig);
                let single = verify_single(&key, b"", b"Zcash", &sig).is_ok();
                let alone = verify_batch(&mut rng, b"", &[(&key, b"Zcash", &sig)]);
                let mixed = verify_batch(
                    &mut rng,
                    b"",
                    &[(&honest_pub, b"Zcash", &honest_sig), (&key, b"Zcash", &sig)],
                );
                assert_eq!(alone, vec![single], "A={a:02x?} R={r:02x?}");
                assert_eq!(mixed, vec![true, single], "A={a:02x?} R={r:02x?}");
                accepted += usize::from(single);
            }
        }
        // ZIP-215 accepts all 196 (cofactored equation, non-canonical
        // encodings allowed). The spec states this; a change of rule shows here.
        assert_eq!(accepted, 196);
    }

    /// Non-canonical encodings (y + p) of large-order points decode under
    /// ZIP-215 but are refused as keys by `check_strong`.
    #[test]
    fn non_canonical_large_order_keys_are_not_strong() {
        let mut refused = 0;
        for y in 2u8..19 {
            let mut canonical = [0u8; 32];
            canonical[0] = y;
            // p = 2^255 - 19: little-endian ed ff .. ff 7f; y + p fits below 2^255.
            let mut alias = [0xffu8; 32];
            alias[0] = 0xed + y;
            alias[31] = 0x7f;
            if ed25519_consensus::VerificationKey::try_from(alias).is_err() {
                continue; // no curve point with this y
            }
            assert_eq!(PublicKey(alias).check_strong(), Err(CryptoError::WeakPublicKey), "y={y}");
            assert_eq!(PublicKey(canonical).check_strong(), Ok(()), "y={y}");
            refused += 1;
        }
        assert!(refused > 0, "no large-order point with a small y found");
    }

    /// A non-canonical scalar (s + L) is rejected by both checks.
    #[test]
    fn non_canonical_s_is_rejected_by_single_and_batch() {
        let mut rng = XofRng::from_seed(b"s+L");
        let key = SigningKey::random(&mut rng);
        let mut sig = key.sign(b"", b"m");
        assert!(verify_single(&key.public(), b"", b"m", &sig).is_ok());
        // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s_byte, l_byte) in sig.0[32..].iter_mut().zip(l) {
            let sum = u16::from(*s_byte) + u16::from(l_byte) + carry;
            *s_byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(verify_single(&key.public(), b"", b"m", &sig).is_err());
        assert_eq!(verify_batch(&mut rng, b"", &[(&key.public(), b"m", &sig)]), vec![false]);
    }
}
