//! Which of several concurrent rekeys of one epoch wins
//! (`protocol-spec/keys.md`, "Concurrent rekeys").

use core::cmp::Ordering;

use crate::wire::MessageId;

/// What kind of message carries a rekey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RekeyKind {
    /// A rekey on its own (scheduled, healing, or on request).
    Plain,
    /// A rekey carried by a removal, a role revocation or a join.
    Membership,
}

/// A valid rekey that replaces the epoch in question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RekeyCandidate {
    /// The id of the message carrying the rekey (the new epoch's id).
    pub id: MessageId,
    /// What carries it.
    pub kind: RekeyKind,
}

/// Orders two concurrent rekeys of the same epoch: [`Ordering::Less`] means
/// `a` wins. A membership rekey beats a plain one; between two of the same
/// kind the lower message id (bytewise) wins. The winner of a set is its
/// minimum: `candidates.iter().min_by(|a, b| rekey_precedence(a, b))`.
///
/// Only valid rekeys may be compared: dropping invalid ones (for example one
/// that wraps to a removed member's key package) is the state machine's job,
/// and it must do so before choosing.
pub fn rekey_precedence(a: &RekeyCandidate, b: &RekeyCandidate) -> Ordering {
    let rank = |c: &RekeyCandidate| match c.kind {
        RekeyKind::Membership => 0u8,
        RekeyKind::Plain => 1,
    };
    rank(a).cmp(&rank(b)).then_with(|| a.id.cmp(&b.id))
}
