//! Sealing a payload to an x25519 public key (an ECIES-style box).
//!
//! `sealed = ephemeral_public (32) ‖ nonce (24) ‖ AEAD(k, payload, aad)` with
//! `k = BLAKE3-derive_key(SEAL_TO_PUBLIC, shared ‖ ephemeral_public ‖ recipient_public)`.
//! Binding both public keys into the KDF stops a sealed box from being
//! re-targeted. Low-order recipient keys are refused (the exchange would not
//! be contributory).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{AeadKey, CryptoError, NONCE_LEN, TAG_LEN, context, derive_key};

/// Bytes a sealed box adds to its payload.
pub const SEALED_OVERHEAD: usize = 32 + NONCE_LEN + TAG_LEN;

/// An x25519 public key (a key package, or a peer's long-term key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct X25519Public(pub [u8; 32]);

super::secret_bytes!(
    /// An x25519 secret key (clamping happens inside x25519).
    X25519Secret
);

impl X25519Secret {
    /// The matching public key.
    pub fn public(&self) -> X25519Public {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        X25519Public(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }

    /// Diffie-Hellman with `their`, refusing a non-contributory result.
    pub fn diffie_hellman(&self, their: &X25519Public) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(their.0));
        if !shared.was_contributory() {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

fn box_key(shared: &[u8; 32], ephemeral: &X25519Public, recipient: &X25519Public) -> AeadKey {
    let mut material = Zeroizing::new([0u8; 96]);
    material[..32].copy_from_slice(shared);
    material[32..64].copy_from_slice(&ephemeral.0);
    material[64..].copy_from_slice(&recipient.0);
    AeadKey::from_bytes(*derive_key(context::SEAL_TO_PUBLIC, &material[..]))
}

/// Seals `payload` so that only the holder of `recipient`'s secret opens it.
pub fn seal_to(
    rng: &mut (impl CryptoRng + ?Sized),
    recipient: &X25519Public,
    payload: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let ephemeral = X25519Secret::random(rng);
    let ephemeral_public = ephemeral.public();
    let shared = ephemeral.diffie_hellman(recipient)?;
    let key = box_key(&shared, &ephemeral_public, recipient);
    let mut out = Vec::with_capacity(SEALED_OVERHEAD + payload.len());
    out.extend_from_slice(&ephemeral_public.0);
    out.extend_from_slice(&key.seal(rng, payload, aad));
    Ok(out)
}

/// Opens a box made by [`seal_to`] for `secret`'s public key.
pub fn open_from(secret: &X25519Secret, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (ephemeral, rest) = sealed.split_first_chunk::<32>().ok_or(CryptoError::Truncated)?;
    let ephemeral = X25519Public(*ephemeral);
    let shared = secret.diffie_hellman(&ephemeral).map_err(|_| CryptoError::Decrypt)?;
    let key = box_key(&shared, &ephemeral, &secret.public());
    key.open(rest, aad)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    #[test]
    fn seal_open_and_wrong_recipient() {
        let mut rng = XofRng::from_seed(b"seal");
        let alice = X25519Secret::random(&mut rng);
        let eve = X25519Secret::random(&mut rng);
        let boxed = seal_to(&mut rng, &alice.public(), b"epoch secret", b"ad").expect("seal");
        assert_eq!(boxed.len(), SEALED_OVERHEAD + 12);
        assert_eq!(open_from(&alice, &boxed, b"ad").expect("open"), b"epoch secret");
        assert_eq!(open_from(&eve, &boxed, b"ad"), Err(CryptoError::Decrypt));
        assert_eq!(open_from(&alice, &boxed, b"xx"), Err(CryptoError::Decrypt));
    }

    #[test]
    fn low_order_recipient_refused() {
        let mut rng = XofRng::from_seed(b"low");
        // The all-zero u-coordinate is a low-order point.
        let zero = X25519Public([0; 32]);
        assert_eq!(seal_to(&mut rng, &zero, b"x", b""), Err(CryptoError::LowOrderPoint));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            seal_to(&mut rng, &X25519Public(one), b"x", b""),
            Err(CryptoError::LowOrderPoint)
        );
    }
}
