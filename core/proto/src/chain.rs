//! The chain: per-author signed hash chains woven into a causal DAG.
//!
//! A message enters as bytes, becomes an [`Entry<Unverified>`] when it
//! decodes, an [`Entry<Verified>`] when its shape and signature pass
//! ([`Entry::verify`], or [`verify_batch`] for many at once with the same
//! verdicts), and is accepted by a [`ChainState`] once it links to its
//! author's previous message and all its parents are known. Each rule is a
//! small pure function in [`rules`] with its own [`ChainError`] variant.
//! See `protocol-spec/chain.md`.

mod entry;
mod equivocation;
pub mod rules;
mod tracker;
mod version_vector;

pub use entry::{Entry, Unverified, Verified, verify_batch};
pub use equivocation::{EquivocationError, EquivocationProof};
pub use tracker::{ChainEvent, ChainState, MAX_PENDING, MAX_PENDING_PER_AUTHOR};
pub use version_vector::VersionVector;

use crate::wire::{DecodeError, EpochId, MessageId};

/// A broken chain rule. One variant per rule; the spec lists the same names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The bytes are not a canonical signed message.
    #[error("undecodable message: {0}")]
    Decode(#[from] DecodeError),
    /// The author key is of small order or not canonically encoded.
    #[error("author key is weak or malformed")]
    WeakAuthorKey,
    /// The author's signature does not verify (forged author or tampering).
    #[error("signature does not verify under the stated author")]
    BadSignature,
    /// A body field exceeds its limit.
    #[error("body exceeds a limit: {0}")]
    BodyLimit(&'static str),
    /// More than [`crate::wire::MAX_PARENTS`] parents.
    #[error("{0} parents, more than allowed")]
    TooManyParents(usize),
    /// Parents not strictly ascending (unsorted or repeated).
    #[error("parents are not sorted and distinct")]
    ParentsNotSorted,
    /// `prev` present at seq 0, or missing at seq > 0.
    #[error("previous-message link does not match the sequence number")]
    PrevPresence,
    /// `prev` is not among the parents.
    #[error("previous message is not among the parents")]
    PrevNotAParent,
    /// A non-genesis message without parents, or a genesis message with
    /// parents, a non-zero seq, Lamport clock or epoch.
    #[error("genesis shape rule broken: {0}")]
    GenesisShape(&'static str),
    /// Lamport clock is not exactly 1 + the largest parent's.
    #[error("lamport clock {got}, expected {expected}")]
    BadLamport {
        /// 1 + the largest parent Lamport clock.
        expected: u64,
        /// What the message says.
        got: u64,
    },
    /// The message names another group than the one it was received for.
    #[error("message belongs to another group (replay)")]
    WrongGroup,
    /// The message names another epoch than the one whose key opened it.
    #[error("message names epoch {stated:?} but arrived in epoch {opened:?} (replay)")]
    WrongEpoch {
        /// The epoch in the message.
        stated: EpochId,
        /// The epoch it was received in.
        opened: EpochId,
    },
    /// `prev` does not name the author's message at `seq - 1` that this
    /// member holds: the author forked their chain.
    #[error("previous-message hash does not match the author's chain at seq {seq}")]
    BrokenChain {
        /// The sequence number of the refused message.
        seq: u64,
        /// The id this member holds at `seq - 1`.
        held: MessageId,
    },
    /// The author already equivocated; from the fork on their messages are
    /// not accepted into the chain.
    #[error("author equivocated earlier; message not accepted")]
    Equivocator,
}

#[cfg(test)]
mod test;
