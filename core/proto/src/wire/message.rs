//! The inner signed message.
//!
//! Encoding: postcard of [`UnsignedMessage`], then the signature as a
//! postcard byte string (`0x40 ‖ 64 bytes`). The id is
//! `BLAKE3-derive_key(MESSAGE_ID, unsigned encoding)`; the signature covers
//! `MESSAGE_PREFIX ‖ unsigned encoding`.

use serde::{Deserialize, Serialize};

use super::{Body, DecodeError, decode_canonical, encode};
use crate::crypto::{CryptoError, PublicKey, Signature, SigningKey, context, verify_single};

/// The only message format version this software writes and reads.
pub const MESSAGE_VERSION: u8 = 1;
/// At most this many parent ids per message.
pub const MAX_PARENTS: usize = 16;
/// The largest encoded signed message (what fits in the most fragments).
pub const MAX_MESSAGE_LEN: usize = super::MAX_FRAGMENTS * super::FRAGMENT_DATA_LEN;
/// Domain separator of message signatures.
pub const MESSAGE_PREFIX: &[u8] = b"cairn message v1\0";
/// Length of the signature's encoding at the end of a signed message.
const SIGNATURE_ENCODING_LEN: usize = 1 + 64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(#[serde(with = "serde_bytes")] pub [u8; 32]);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({}…)", stringify!($name), crate::hex::short(&self.0, 12))
            }
        }
    };
}

id_type!(
    /// Message id: BLAKE3 of the unsigned encoding (see module docs).
    MessageId
);
id_type!(
    /// Group id: 32 random bytes chosen by the group's creator.
    GroupId
);
id_type!(
    /// Epoch id: the id of the message that created the epoch (the genesis
    /// or a rekey). The genesis message itself carries [`EpochId::GENESIS`].
    EpochId
);

impl EpochId {
    /// The epoch id written in a genesis message, which cannot name itself.
    pub const GENESIS: EpochId = EpochId([0; 32]);
}

/// Everything a message says, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedMessage {
    /// Format version, [`MESSAGE_VERSION`].
    pub version: u8,
    /// The group this message belongs to (no replay into another group).
    pub group: GroupId,
    /// The epoch it was written in (no replay into another epoch).
    pub epoch: EpochId,
    /// The author's public key.
    pub author: PublicKey,
    /// The author's sequence number in this group, from 0, across epochs.
    pub seq: u64,
    /// Id of the author's previous message (`None` exactly when `seq == 0`).
    pub prev: Option<MessageId>,
    /// Causal parents: at most 16, strictly ascending, containing `prev`.
    pub parents: Vec<MessageId>,
    /// Lamport clock: exactly 1 + the largest parent's (genesis: 0).
    pub lamport: u64,
    /// Coarse wall-clock time in minutes since the Unix epoch. Display only;
    /// never used for ordering.
    pub minute: u64,
    /// What the message does.
    pub body: Body,
}

impl UnsignedMessage {
    /// The canonical encoding (what the id hashes and the signature covers).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Signs the message.
    pub fn sign(self, key: &SigningKey) -> SignedMessage {
        let signature = key.sign(MESSAGE_PREFIX, &self.encode());
        SignedMessage { message: self, signature }
    }
}

/// A message with its author's signature (not necessarily verified: see
/// [`crate::chain::Entry`] for the verified form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    /// The signed content.
    pub message: UnsignedMessage,
    /// Ed25519 signature by `message.author` over `MESSAGE_PREFIX ‖ encoding`.
    pub signature: Signature,
}

impl SignedMessage {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a signed message: size limit first, then version, then the
    /// canonical postcard form. Does not verify the signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_MESSAGE_LEN });
        }
        match bytes.first() {
            None => return Err(DecodeError::Incomplete),
            Some(&MESSAGE_VERSION) => {}
            Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        }
        decode_canonical(bytes, MAX_MESSAGE_LEN)
    }

    /// The unsigned part of a canonical encoding of `self`.
    fn unsigned_bytes(encoded: &[u8]) -> &[u8] {
        &encoded[..encoded.len().saturating_sub(SIGNATURE_ENCODING_LEN)]
    }

    /// The message id.
    pub fn id(&self) -> MessageId {
        message_id(&self.message.encode())
    }

    /// The id computed from this message's canonical encoding `encoded`
    /// (saves re-encoding when the bytes are at hand).
    pub fn id_from_encoding(encoded: &[u8]) -> MessageId {
        message_id(Self::unsigned_bytes(encoded))
    }

    /// Checks the signature alone (ZIP-215 rules).
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        verify_single(&self.message.author, MESSAGE_PREFIX, &self.message.encode(), &self.signature)
    }
}

/// The id of an unsigned message encoding.
pub fn message_id(unsigned_encoding: &[u8]) -> MessageId {
    let mut hasher = blake3::Hasher::new_derive_key(context::MESSAGE_ID);
    hasher.update(unsigned_encoding);
    MessageId(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;
    use crate::wire::Chat;

    fn sample() -> (SigningKey, SignedMessage) {
        let key = SigningKey::random(&mut XofRng::from_seed(b"msg"));
        let m = UnsignedMessage {
            version: MESSAGE_VERSION,
            group: GroupId([1; 32]),
            epoch: EpochId([2; 32]),
            author: key.public(),
            seq: 3,
            prev: Some(MessageId([4; 32])),
            parents: vec![MessageId([4; 32]), MessageId([5; 32])],
            lamport: 9,
            minute: 29_000_000,
            body: Body::Chat(Chat { text: "hi".into(), reply_to: None }),
        };
        let signed = m.sign(&key);
        (key, signed)
    }

    #[test]
    fn round_trip_id_and_signature() {
        let (_, signed) = sample();
        let bytes = signed.encode();
        let back = SignedMessage::decode(&bytes).expect("decode");
        assert_eq!(back, signed);
        assert_eq!(SignedMessage::id_from_encoding(&bytes), signed.id());
        assert!(back.verify_signature().is_ok());
    }

    #[test]
    fn every_bit_flip_fails_decoding_or_verification() {
        let (_, signed) = sample();
        let bytes = signed.encode();
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let ok = SignedMessage::decode(&bad).map(|m| m.verify_signature().is_ok());
            assert!(!matches!(ok, Ok(true)), "flip of bit {i} accepted");
        }
    }

    #[test]
    fn version_and_size_checked_first() {
        let (_, signed) = sample();
        let mut bytes = signed.encode();
        bytes[0] = 2;
        assert_eq!(SignedMessage::decode(&bytes), Err(DecodeError::UnknownVersion(2)));
        let huge = vec![1u8; MAX_MESSAGE_LEN + 1];
        assert!(matches!(SignedMessage::decode(&huge), Err(DecodeError::TooLarge { .. })));
        assert_eq!(SignedMessage::decode(&[]), Err(DecodeError::Incomplete));
    }
}
