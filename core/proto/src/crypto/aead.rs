//! XChaCha20-Poly1305 under a zeroizing key newtype.
//!
//! Wire form of a sealed value: `nonce (24) ‖ ciphertext ‖ tag (16)`. Nonces
//! are random (192 bits, so random nonces are safe for any realistic count).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;

use super::CryptoError;

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

super::secret_bytes!(
    /// A 256-bit XChaCha20-Poly1305 key.
    AeadKey
);

impl AeadKey {
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Encrypts `plaintext` bound to `aad` with the given nonce; returns
    /// `ciphertext ‖ tag` (no nonce). Callers must never reuse a nonce.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Vec<u8> {
        let nonce = XNonce::from(*nonce);
        // Encryption fails only for inputs beyond 256 GiB; our inputs are
        // bounded far below, so an empty result would be a bug, not an attack.
        self.cipher().encrypt(&nonce, Payload { msg: plaintext, aad }).unwrap_or_default()
    }

    /// Encrypts with a random nonce; returns `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        plaintext: &[u8],
        aad: &[u8],
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&self.seal_with_nonce(&nonce, plaintext, aad));
        out
    }

    /// Decrypts `ciphertext ‖ tag` under the given nonce.
    pub fn open_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let nonce = XNonce::from(*nonce);
        self.cipher()
            .decrypt(&nonce, Payload { msg: ciphertext, aad })
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Decrypts `nonce ‖ ciphertext ‖ tag` as produced by [`AeadKey::seal`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (nonce, rest) =
            sealed.split_first_chunk::<NONCE_LEN>().ok_or(CryptoError::Truncated)?;
        self.open_with_nonce(nonce, rest, aad)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    #[test]
    fn round_trip_and_tamper() {
        let mut rng = XofRng::from_seed(b"aead");
        let key = AeadKey::random(&mut rng);
        let sealed = key.seal(&mut rng, b"hello", b"ad");
        assert_eq!(key.open(&sealed, b"ad").as_deref(), Ok(&b"hello"[..]));
        assert_eq!(key.open(&sealed, b"other ad"), Err(CryptoError::Decrypt));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(key.open(&bad, b"ad"), Err(CryptoError::Decrypt), "bit flip at {i}");
        }
        let other = AeadKey::random(&mut rng);
        assert_eq!(other.open(&sealed, b"ad"), Err(CryptoError::Decrypt));
        assert_eq!(key.open(&sealed[..30], b"ad"), Err(CryptoError::Truncated));
    }
}
