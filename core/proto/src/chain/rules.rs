//! The chain rules, each a pure function that returns its own error.
//!
//! Context-free rules (checked by [`crate::chain::Entry::verify`]):
//! [`check_limits`], [`check_parents`], [`check_prev_link`],
//! [`check_genesis_shape`]. Rules that need the receiver's context (checked
//! by [`crate::chain::ChainState`]): [`check_group`], [`check_epoch`],
//! [`check_lamport`], [`check_chain_link`].

use super::ChainError;
use crate::wire::{Body, EpochId, GroupId, MAX_PARENTS, MessageId, UnsignedMessage};

/// Body fields within their limits.
pub fn check_limits(m: &UnsignedMessage) -> Result<(), ChainError> {
    m.body.check_limits().map_err(ChainError::BodyLimit)
}

/// Invariants: at most [`MAX_PARENTS`] parents, strictly ascending (so
/// distinct and in one canonical order).
pub fn check_parents(parents: &[MessageId]) -> Result<(), ChainError> {
    if parents.len() > MAX_PARENTS {
        return Err(ChainError::TooManyParents(parents.len()));
    }
    if parents.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ChainError::ParentsNotSorted);
    }
    Ok(())
}

/// Invariants: `prev` is present exactly when `seq > 0`, and is a parent.
pub fn check_prev_link(m: &UnsignedMessage) -> Result<(), ChainError> {
    match (m.seq, &m.prev) {
        (0, None) => Ok(()),
        (0, Some(_)) | (_, None) => Err(ChainError::PrevPresence),
        (_, Some(prev)) if m.parents.binary_search(prev).is_ok() => Ok(()),
        (_, Some(_)) => Err(ChainError::PrevNotAParent),
    }
}

/// Invariants: a genesis body comes with seq 0, no parents, Lamport 0 and
/// the [`EpochId::GENESIS`] epoch; every other message has parents.
pub fn check_genesis_shape(m: &UnsignedMessage) -> Result<(), ChainError> {
    let genesis = matches!(m.body, Body::Genesis(_));
    match genesis {
        true if m.seq != 0 => Err(ChainError::GenesisShape("genesis with seq > 0")),
        true if !m.parents.is_empty() => Err(ChainError::GenesisShape("genesis with parents")),
        true if m.lamport != 0 => Err(ChainError::GenesisShape("genesis with lamport > 0")),
        true if m.epoch != EpochId::GENESIS => Err(ChainError::GenesisShape("genesis epoch")),
        false if m.parents.is_empty() => Err(ChainError::GenesisShape("no parents")),
        _ => Ok(()),
    }
}

/// Invariant: the message is for the group it was received for.
pub fn check_group(m: &UnsignedMessage, group: &GroupId) -> Result<(), ChainError> {
    if m.group != *group {
        return Err(ChainError::WrongGroup);
    }
    Ok(())
}

/// Invariant: the message names the epoch whose key opened it. A genesis
/// message names [`EpochId::GENESIS`] and opens under the epoch it creates,
/// whose id is its own id. The all-zero id is never an epoch one opens under.
pub fn check_epoch(
    m: &UnsignedMessage,
    id: &MessageId,
    opened: &EpochId,
) -> Result<(), ChainError> {
    let genesis_ok = matches!(m.body, Body::Genesis(_)) && opened.0 == id.0;
    // The all-zero id names no epoch: nothing is ever sealed under it.
    let real_epoch = *opened != EpochId::GENESIS;
    if real_epoch && (m.epoch == *opened || genesis_ok) {
        return Ok(());
    }
    Err(ChainError::WrongEpoch { stated: m.epoch, opened: *opened })
}

/// Invariant: `lamport == 1 + max(parent lamports)`; genesis (no parents) 0.
pub fn check_lamport(lamport: u64, parent_lamports: &[u64]) -> Result<(), ChainError> {
    let expected = match parent_lamports.iter().max() {
        Some(max) => max.saturating_add(1),
        None => 0,
    };
    if lamport != expected {
        return Err(ChainError::BadLamport { expected, got: lamport });
    }
    Ok(())
}

/// Invariant: a message at `seq` names as `prev` the id this member holds
/// for the same author at `seq - 1`.
pub fn check_chain_link(m: &UnsignedMessage, held_prev: &MessageId) -> Result<(), ChainError> {
    if m.prev.as_ref() != Some(held_prev) {
        return Err(ChainError::BrokenChain { seq: m.seq, held: *held_prev });
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn lamport_rule() {
        assert_eq!(check_lamport(0, &[]), Ok(()));
        assert_eq!(check_lamport(8, &[3, 7, 1]), Ok(()));
        assert_eq!(check_lamport(9, &[3, 7]), Err(ChainError::BadLamport { expected: 8, got: 9 }));
        assert_eq!(check_lamport(7, &[3, 7]), Err(ChainError::BadLamport { expected: 8, got: 7 }));
        assert_eq!(check_lamport(1, &[]), Err(ChainError::BadLamport { expected: 0, got: 1 }));
    }

    #[test]
    fn parents_rule() {
        let a = MessageId([1; 32]);
        let b = MessageId([2; 32]);
        assert_eq!(check_parents(&[a, b]), Ok(()));
        assert_eq!(check_parents(&[b, a]), Err(ChainError::ParentsNotSorted));
        assert_eq!(check_parents(&[a, a]), Err(ChainError::ParentsNotSorted));
        let many: Vec<MessageId> = (0..17u8).map(|i| MessageId([i; 32])).collect();
        assert_eq!(check_parents(&many), Err(ChainError::TooManyParents(17)));
        assert_eq!(check_parents(&many[..16]), Ok(()));
    }
}
