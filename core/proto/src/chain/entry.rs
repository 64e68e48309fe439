//! `Entry<Unverified>` → `verify()` → `Entry<Verified>`.

use std::marker::PhantomData;

use rand_core::CryptoRng;

use super::{ChainError, rules};
use crate::crypto::{self, PublicKey};
use crate::wire::{MESSAGE_PREFIX, MessageId, SignedMessage, UnsignedMessage};

/// Marker: the entry decoded but nothing about it is trusted yet.
#[derive(Debug, Clone, Copy)]
pub struct Unverified;
/// Marker: shape rules and the author's signature passed.
#[derive(Debug, Clone, Copy)]
pub struct Verified;

/// A signed message with its canonical encoding and id.
#[derive(Debug, Clone)]
pub struct Entry<S> {
    message: SignedMessage,
    bytes: Vec<u8>,
    id: MessageId,
    state: PhantomData<S>,
}

impl<S> Entry<S> {
    /// The message content.
    pub fn message(&self) -> &UnsignedMessage {
        &self.message.message
    }

    /// The whole signed message.
    pub fn signed(&self) -> &SignedMessage {
        &self.message
    }

    /// The canonical encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message id.
    pub fn id(&self) -> MessageId {
        self.id
    }

    /// The stated author.
    pub fn author(&self) -> PublicKey {
        self.message.message.author
    }

    /// The author's sequence number.
    pub fn seq(&self) -> u64 {
        self.message.message.seq
    }

    fn unsigned_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - 65]
    }

    fn retag<T>(self) -> Entry<T> {
        Entry { message: self.message, bytes: self.bytes, id: self.id, state: PhantomData }
    }
}

impl Entry<Unverified> {
    /// Decodes an entry (size, version and canonical form are checked).
    pub fn decode(bytes: Vec<u8>) -> Result<Self, ChainError> {
        let message = SignedMessage::decode(&bytes)?;
        let id = SignedMessage::id_from_encoding(&bytes);
        Ok(Self { message, bytes, id, state: PhantomData })
    }

    /// Wraps a message this process just built and signed.
    pub fn from_signed(message: SignedMessage) -> Self {
        let bytes = message.encode();
        let id = SignedMessage::id_from_encoding(&bytes);
        Self { message, bytes, id, state: PhantomData }
    }

    /// Checks the context-free rules: limits, parents, the `prev` link and
    /// the genesis shape. Cheap; run before the signature.
    pub fn check_shape(&self) -> Result<(), ChainError> {
        let m = self.message();
        rules::check_limits(m)?;
        rules::check_parents(&m.parents)?;
        rules::check_prev_link(m)?;
        rules::check_genesis_shape(m)
    }

    /// Checks the shape rules, then the author's signature.
    pub fn verify(self) -> Result<Entry<Verified>, ChainError> {
        self.check_shape()?;
        self.author().check_strong().map_err(|_| ChainError::WeakAuthorKey)?;
        crypto::verify_single(
            &self.author(),
            MESSAGE_PREFIX,
            self.unsigned_bytes(),
            &self.message.signature,
        )
        .map_err(|_| ChainError::BadSignature)?;
        Ok(self.retag())
    }
}

impl Entry<Unverified> {
    /// Checks the shape rules of a message this process just signed with
    /// its own key, and trusts the signature: it is this process's own,
    /// made a moment ago (checking it again cost as much as the signing
    /// and the sealing together, issue 14). Never use it for bytes that
    /// came from anywhere else.
    pub fn own(self) -> Result<Entry<Verified>, ChainError> {
        self.check_shape()?;
        Ok(self.retag())
    }
}

impl Entry<Verified> {
    /// Re-wraps an entry read back from this profile's own sealed store,
    /// where only verified entries are ever written. Never use it for bytes
    /// that came from the network.
    /// The shape rules are checked; the signature is not.
    pub fn dangerously_trust_stored(bytes: Vec<u8>) -> Result<Self, ChainError> {
        let entry = Entry::decode(bytes)?;
        entry.check_shape()?;
        Ok(entry.retag())
    }
}

/// Verifies many entries with one batch signature check; the verdicts equal
/// those of calling [`Entry::verify`] on each (one validity rule, ZIP-215).
pub fn verify_batch(
    rng: &mut (impl CryptoRng + ?Sized),
    entries: Vec<Entry<Unverified>>,
) -> Vec<Result<Entry<Verified>, ChainError>> {
    // A batch usually holds a few authors' messages: check each key once
    // (a point decompression costs a good part of a verification).
    let mut strong = std::collections::BTreeMap::new();
    let shapes: Vec<Result<(), ChainError>> = entries
        .iter()
        .map(|e| {
            e.check_shape()?;
            let author = e.author();
            let ok = *strong.entry(author).or_insert_with(|| author.check_strong().is_ok());
            if ok { Ok(()) } else { Err(ChainError::WeakAuthorKey) }
        })
        .collect();
    let keys: Vec<PublicKey> = entries.iter().map(Entry::author).collect();
    let items: Vec<_> = entries
        .iter()
        .zip(&keys)
        .zip(&shapes)
        .filter(|(_, shape)| shape.is_ok())
        .map(|((e, k), _)| (k, e.unsigned_bytes(), &e.message.signature))
        .collect();
    let mut verdicts = crypto::verify_batch(rng, MESSAGE_PREFIX, &items).into_iter();
    entries
        .into_iter()
        .zip(shapes)
        .map(|(entry, shape)| {
            shape?;
            match verdicts.next() {
                Some(true) => Ok(entry.retag()),
                _ => Err(ChainError::BadSignature),
            }
        })
        .collect()
}
