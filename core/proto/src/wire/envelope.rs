//! The outer envelope: what a relay stores and forwards.
//!
//! Layout (exactly [`ENVELOPE_LEN`] = 2000 bytes):
//!
//! | offset | len | field |
//! |---:|---:|---|
//! | 0 | 1 | version = 1 |
//! | 1 | 32 | mailbox write public key (ed25519) |
//! | 33 | 24 | XChaCha20-Poly1305 nonce |
//! | 57 | 1879 | ciphertext of one [`super::Fragment`] (1863 bytes) + tag (16) |
//! | 1936 | 64 | write signature over `ENVELOPE_PREFIX ‖ bytes[0..1936]` |
//!
//! The AEAD key is the epoch's group key; the associated data is
//! `bytes[0..33]` (version and mailbox key), so a sealed fragment cannot be
//! moved to another mailbox. The mailbox id is a hash of the write key, so
//! anyone can check a post against the mailbox it claims (self-certifying),
//! and nothing in the envelope names an author, a type or a group.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{Fragment, FragmentError};
use crate::crypto::{
    AeadKey, CryptoError, NONCE_LEN, PublicKey, Signature, SigningKey, TAG_LEN, context,
    derive_key, verify_single,
};

/// Size of every envelope.
pub const ENVELOPE_LEN: usize = 2000;
/// Domain separator of the mailbox write signature.
pub const ENVELOPE_PREFIX: &[u8] = b"cairn envelope v1\0";
/// The envelope format version.
const ENVELOPE_VERSION: u8 = 1;
const KEY_AT: usize = 1;
const NONCE_AT: usize = 33;
const CIPHERTEXT_AT: usize = NONCE_AT + NONCE_LEN;
const SIGNATURE_AT: usize = ENVELOPE_LEN - 64;
/// Plaintext bytes sealed in one envelope (one fragment).
pub const SEALED_PAYLOAD_LEN: usize = SIGNATURE_AT - CIPHERTEXT_AT - TAG_LEN;
/// Length of an epoch secret.
pub const EPOCH_SECRET_LEN: usize = 32;

/// A mailbox id: `BLAKE3-derive_key(MAILBOX_ID, write public key)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxId(pub [u8; 32]);

impl core::fmt::Debug for MailboxId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MailboxId({}…)", crate::hex::short(&self.0, 12))
    }
}

impl MailboxId {
    /// The mailbox id of a mailbox write public key.
    pub fn of(write_key: &PublicKey) -> Self {
        Self(blake3::derive_key(context::MAILBOX_ID, &write_key.0))
    }
}

/// Keys derived from one epoch secret.
#[derive(Debug)]
pub struct EpochKeys {
    /// Encrypts the fragments of this epoch.
    pub group_key: AeadKey,
    /// Signs envelopes posted to this epoch's mailbox.
    pub mailbox_write: SigningKey,
    /// Public half of `mailbox_write`.
    pub mailbox_public: PublicKey,
    /// Where this epoch's envelopes are stored.
    pub mailbox: MailboxId,
}

impl EpochKeys {
    /// Derives the epoch's keys from its secret.
    pub fn derive(secret: &Zeroizing<[u8; EPOCH_SECRET_LEN]>) -> Self {
        let group_key = AeadKey::from_bytes(*derive_key(context::EPOCH_GROUP_KEY, &secret[..]));
        let mailbox_write =
            SigningKey::from_bytes(*derive_key(context::EPOCH_MAILBOX_WRITE, &secret[..]));
        let mailbox_public = mailbox_write.public();
        let mailbox = MailboxId::of(&mailbox_public);
        Self { group_key, mailbox_write, mailbox_public, mailbox }
    }
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not exactly [`ENVELOPE_LEN`] bytes.
    #[error("envelope must be {ENVELOPE_LEN} bytes, got {0}")]
    BadLength(usize),
    /// An unknown envelope version.
    #[error("unsupported envelope version {0}")]
    UnknownVersion(u8),
    /// The write signature does not verify under the envelope's mailbox key.
    #[error("envelope write signature does not verify")]
    BadWriteSignature,
    /// The envelope belongs to a different mailbox than expected.
    #[error("envelope is for another mailbox")]
    WrongMailbox,
    /// The sealed fragment did not open under the epoch's group key.
    #[error("envelope does not decrypt under this epoch's key")]
    Decrypt,
    /// The decrypted fragment is malformed.
    #[error(transparent)]
    Fragment(#[from] FragmentError),
}

/// One envelope: exactly [`ENVELOPE_LEN`] bytes with a known version.
/// Constructing one checks only the shape; [`Envelope::verify_write`] checks
/// the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope(Box<[u8; ENVELOPE_LEN]>);

impl core::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Envelope(mailbox={:?})", self.mailbox())
    }
}

impl Envelope {
    /// Parses the fixed layout (length and version).
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let array: [u8; ENVELOPE_LEN] =
            bytes.try_into().map_err(|_| EnvelopeError::BadLength(bytes.len()))?;
        if array[0] != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnknownVersion(array[0]));
        }
        Ok(Self(Box::new(array)))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ENVELOPE_LEN] {
        &self.0
    }

    /// The mailbox write public key carried in the envelope.
    pub fn mailbox_key(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.0[KEY_AT..NONCE_AT]);
        PublicKey(k)
    }

    /// The mailbox this envelope is posted to.
    pub fn mailbox(&self) -> MailboxId {
        MailboxId::of(&self.mailbox_key())
    }

    /// Checks the write signature (what a relay does before storing).
    pub fn verify_write(&self) -> Result<(), EnvelopeError> {
        // A small-order key would let anyone forge posts to its mailbox.
        self.mailbox_key().check_strong().map_err(|_| EnvelopeError::BadWriteSignature)?;
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&self.0[SIGNATURE_AT..]);
        verify_single(
            &self.mailbox_key(),
            ENVELOPE_PREFIX,
            &self.0[..SIGNATURE_AT],
            &Signature(sig),
        )
        .map_err(|_: CryptoError| EnvelopeError::BadWriteSignature)
    }

    /// Seals one fragment for the epoch and signs the envelope.
    pub fn seal(
        rng: &mut (impl CryptoRng + ?Sized),
        keys: &EpochKeys,
        fragment: &Fragment,
    ) -> Self {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut bytes = Box::new([0u8; ENVELOPE_LEN]);
        bytes[0] = ENVELOPE_VERSION;
        bytes[KEY_AT..NONCE_AT].copy_from_slice(&keys.mailbox_public.0);
        bytes[NONCE_AT..CIPHERTEXT_AT].copy_from_slice(&nonce);
        let ciphertext =
            keys.group_key.seal_with_nonce(&nonce, &fragment.encode(), &bytes[..NONCE_AT]);
        bytes[CIPHERTEXT_AT..SIGNATURE_AT].copy_from_slice(&ciphertext);
        let sig = keys.mailbox_write.sign(ENVELOPE_PREFIX, &bytes[..SIGNATURE_AT]);
        bytes[SIGNATURE_AT..].copy_from_slice(&sig.0);
        Self(bytes)
    }

    /// Decrypts the fragment of an envelope of `keys`' mailbox.
    ///
    /// Members do not need the write signature: the AEAD tag under the group
    /// key already proves that an epoch member sealed the envelope (and the
    /// write key derives from the same epoch secret). Checking it again would
    /// halve the rate at which a member opens envelopes; relays, which hold no
    /// group key, check it with [`Envelope::verify_write`].
    pub fn open(&self, keys: &EpochKeys) -> Result<Fragment, EnvelopeError> {
        if self.mailbox_key() != keys.mailbox_public {
            return Err(EnvelopeError::WrongMailbox);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.0[NONCE_AT..CIPHERTEXT_AT]);
        let plain = keys
            .group_key
            .open_with_nonce(&nonce, &self.0[CIPHERTEXT_AT..SIGNATURE_AT], &self.0[..NONCE_AT])
            .map_err(|_| EnvelopeError::Decrypt)?;
        Ok(Fragment::decode(&plain)?)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;
    use crate::wire::fragment_message;

    fn keys(seed: u8) -> EpochKeys {
        EpochKeys::derive(&Zeroizing::new([seed; 32]))
    }

    #[test]
    fn layout_sizes() {
        assert_eq!(SEALED_PAYLOAD_LEN, 1863);
        assert_eq!(CIPHERTEXT_AT + SEALED_PAYLOAD_LEN + TAG_LEN + 64, ENVELOPE_LEN);
    }

    #[test]
    fn seal_open_and_every_bit_flip_rejected() {
        let mut rng = XofRng::from_seed(b"env");
        let k = keys(1);
        let frag = fragment_message(&mut rng, b"hello relay").expect("split").remove(0);
        let env = Envelope::seal(&mut rng, &k, &frag);
        assert_eq!(env.open(&k), Ok(frag));
        assert_eq!(env.mailbox(), k.mailbox);
        for i in 0..ENVELOPE_LEN * 8 {
            let mut bad = *env.as_bytes();
            bad[i / 8] ^= 1 << (i % 8);
            let verdict = Envelope::parse(&bad).and_then(|e| e.verify_write());
            assert!(verdict.is_err(), "flip of bit {i} passed the write check");
            if i / 8 < SIGNATURE_AT {
                let opened = Envelope::parse(&bad).and_then(|e| e.open(&k));
                assert!(opened.is_err(), "flip of bit {i} still opened");
            }
        }
    }

    #[test]
    fn wrong_epoch_and_shape_refused() {
        let mut rng = XofRng::from_seed(b"env2");
        let frag = fragment_message(&mut rng, b"x").expect("split").remove(0);
        let env = Envelope::seal(&mut rng, &keys(1), &frag);
        assert_eq!(env.open(&keys(2)), Err(EnvelopeError::WrongMailbox));
        assert_eq!(Envelope::parse(&[1u8; 10]), Err(EnvelopeError::BadLength(10)));
        let mut v2 = *env.as_bytes();
        v2[0] = 2;
        assert_eq!(Envelope::parse(&v2), Err(EnvelopeError::UnknownVersion(2)));
    }

    #[test]
    fn a_sealed_fragment_cannot_move_to_another_mailbox() {
        // Same group key, other mailbox key: the associated data differs, so
        // re-signing the moved ciphertext with the other write key is not enough.
        let mut rng = XofRng::from_seed(b"env4");
        let home = keys(1);
        let mut elsewhere = keys(2);
        elsewhere.group_key = home.group_key.clone();
        let frag = fragment_message(&mut rng, b"moved").expect("split").remove(0);
        let env = Envelope::seal(&mut rng, &home, &frag);
        let mut moved = *env.as_bytes();
        moved[KEY_AT..NONCE_AT].copy_from_slice(&elsewhere.mailbox_public.0);
        let sig = elsewhere.mailbox_write.sign(ENVELOPE_PREFIX, &moved[..SIGNATURE_AT]);
        moved[SIGNATURE_AT..].copy_from_slice(&sig.0);
        let moved = Envelope::parse(&moved).expect("shape");
        assert_eq!(moved.verify_write(), Ok(()));
        assert_eq!(moved.open(&elsewhere), Err(EnvelopeError::Decrypt));
    }

    #[test]
    fn weak_mailbox_keys_are_refused() {
        let mut bytes = [0u8; ENVELOPE_LEN];
        bytes[0] = ENVELOPE_VERSION;
        bytes[KEY_AT] = 1; // the identity point
        bytes[SIGNATURE_AT] = 1; // R = identity, s = 0
        let env = Envelope::parse(&bytes).expect("shape");
        assert_eq!(env.verify_write(), Err(EnvelopeError::BadWriteSignature));
    }

    #[test]
    fn stranger_cannot_post_to_a_mailbox() {
        // A stranger who knows the mailbox key (it is public) but not the
        // write secret signs with their own key: the envelope then names
        // the stranger's mailbox, or fails the signature check.
        let mut rng = XofRng::from_seed(b"env3");
        let victim = keys(1);
        let frag = fragment_message(&mut rng, b"spam").expect("split").remove(0);
        let mut forged = *Envelope::seal(&mut rng, &keys(9), &frag).as_bytes();
        forged[KEY_AT..NONCE_AT].copy_from_slice(&victim.mailbox_public.0);
        let env = Envelope::parse(&forged).expect("shape");
        assert_eq!(env.mailbox(), victim.mailbox);
        assert_eq!(env.verify_write(), Err(EnvelopeError::BadWriteSignature));
    }
}
