//! Equivocation proofs: two signed messages by one author with one sequence
//! number in one group, and different ids. Anyone holding the author's public
//! key can check a proof; no trust in whoever presents it is needed.

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::wire::{
    DecodeError, MAX_MESSAGE_LEN, MESSAGE_VERSION, SignedMessage, decode_canonical, encode,
};

/// Why a presented proof does not prove equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EquivocationError {
    /// One of the messages is not validly signed by the stated author.
    #[error("a message in the proof is not signed by its author")]
    BadSignature,
    /// The two messages differ in group, author or sequence number.
    #[error("the messages are not by one author at one position")]
    NotSamePosition,
    /// The two messages are the same message.
    #[error("the messages are identical")]
    SameMessage,
    /// The messages are not in ascending id order (a proof has one form).
    #[error("the messages are not ordered by id")]
    NotOrdered,
    /// A message has a version this software does not know.
    #[error("a message in the proof has an unsupported version")]
    UnknownVersion,
    /// The proof bytes do not decode.
    #[error("undecodable proof: {0}")]
    Decode(#[from] DecodeError),
}

/// Two conflicting signed messages, ordered by id so a proof has one form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationProof {
    /// The message with the smaller id.
    pub first: SignedMessage,
    /// The message with the larger id.
    pub second: SignedMessage,
}

impl EquivocationProof {
    /// Builds a proof from two messages and checks it.
    pub fn new(a: SignedMessage, b: SignedMessage) -> Result<Self, EquivocationError> {
        let (first, second) = if a.id() <= b.id() { (a, b) } else { (b, a) };
        let proof = Self { first, second };
        proof.verify()?;
        Ok(proof)
    }

    /// The author who equivocated.
    pub fn author(&self) -> PublicKey {
        self.first.message.author
    }

    /// Checks the proof from scratch.
    pub fn verify(&self) -> Result<(), EquivocationError> {
        let (a, b) = (&self.first.message, &self.second.message);
        if a.group != b.group || a.author != b.author || a.seq != b.seq {
            return Err(EquivocationError::NotSamePosition);
        }
        if a.version != MESSAGE_VERSION || b.version != MESSAGE_VERSION {
            return Err(EquivocationError::UnknownVersion);
        }
        match self.first.id().cmp(&self.second.id()) {
            core::cmp::Ordering::Less => {}
            core::cmp::Ordering::Equal => return Err(EquivocationError::SameMessage),
            core::cmp::Ordering::Greater => return Err(EquivocationError::NotOrdered),
        }
        for m in [&self.first, &self.second] {
            m.verify_signature().map_err(|_| EquivocationError::BadSignature)?;
        }
        Ok(())
    }

    /// Canonical encoding, for passing the proof to other members.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a proof (not yet verified: call [`EquivocationProof::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, EquivocationError> {
        Ok(decode_canonical(bytes, 2 * MAX_MESSAGE_LEN + 8)?)
    }
}
