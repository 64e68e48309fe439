//! The master seed and the keys derived from it.

use super::OnionAddress;
use crate::crypto::{PublicKey, SigningKey, X25519Secret, context, derive_key};

crate::crypto::secret_bytes!(
    /// The 32-byte identity master seed.
    MasterSeed
);

/// The keys of one identity, all derived from its [`MasterSeed`].
#[derive(Clone, Debug)]
pub struct Identity {
    seed: MasterSeed,
    signing: SigningKey,
    onion: SigningKey,
    handshake: X25519Secret,
}

impl Identity {
    /// Derives every key of the identity from `seed`.
    pub fn from_seed(seed: MasterSeed) -> Self {
        let signing =
            SigningKey::from_bytes(*derive_key(context::IDENTITY_SIGNING, seed.as_bytes()));
        let onion = SigningKey::from_bytes(*derive_key(context::IDENTITY_ONION, seed.as_bytes()));
        let handshake =
            X25519Secret::from_bytes(*derive_key(context::IDENTITY_X25519, seed.as_bytes()));
        Self { seed, signing, onion, handshake }
    }

    /// The master seed.
    pub fn seed(&self) -> &MasterSeed {
        &self.seed
    }

    /// The key that signs this identity's messages.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key members know this identity by.
    pub fn public_key(&self) -> PublicKey {
        self.signing.public()
    }

    /// The ed25519 key of this identity's onion service (its 32-byte secret
    /// seed form; arti expands it).
    pub fn onion_key(&self) -> &SigningKey {
        &self.onion
    }

    /// The identity's permanent onion address.
    pub fn onion_address(&self) -> OnionAddress {
        super::onion_address(&self.onion.public())
    }

    /// The long-term x25519 key used only for peer-channel handshakes.
    pub fn handshake_key(&self) -> &X25519Secret {
        &self.handshake
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    #[test]
    fn derivation_is_deterministic_and_keys_distinct() {
        let seed = MasterSeed::random(&mut XofRng::from_seed(b"id"));
        let a = Identity::from_seed(seed.clone());
        let b = Identity::from_seed(seed);
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.onion_address(), b.onion_address());
        assert_eq!(a.handshake_key().public(), b.handshake_key().public());
        assert_ne!(a.signing_key().as_bytes(), a.onion_key().as_bytes());
        assert_ne!(a.signing_key().as_bytes(), a.handshake_key().as_bytes());
        let c = Identity::from_seed(MasterSeed::from_bytes([1; 32]));
        assert_ne!(a.public_key(), c.public_key());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let seed = MasterSeed::from_bytes([0xab; 32]);
        let id = Identity::from_seed(seed);
        let shown = format!("{id:?}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(!shown.contains(&format!("{:?}", id.signing_key().as_bytes())));
    }
}
