//! What outlives one connection to a relay: the envelopes the relay refused
//! for good, the proofs of work solved for it, and the reconnection backoff.
//!
//! A session is one connection; a client reconnects many times. Without a
//! memory a refusal that cannot succeed would be retried on every new
//! connection, forever.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use core::time::Duration;

use super::ClientError;
use super::refusal::Refusal;
use crate::relay_proto::ErrorCode;
use crate::wire::{Envelope, MailboxId};

/// Backoff between connection attempts: first, cap (`node.md`, "Relays").
pub const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
/// Envelopes remembered as refused for good (oldest forgotten first).
const REMEMBERED_REFUSALS: usize = 4096;

/// Why a connection to a relay ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ended {
    /// The group's newest mailboxes changed: a connection may use only
    /// `max_mailboxes` mailboxes for its life (`relay.md` §4), so the new
    /// ones need a new connection. Not a failure.
    #[error("the group entered a new epoch")]
    NewEpoch,
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(ClientError),
    /// The relay closed the connection with this error.
    #[error("the relay closed the connection: {0}")]
    Closed(Refusal),
    /// The relay sent something this client does not accept.
    #[error("the relay misbehaved: {0}")]
    Invalid(ClientError),
    /// The relay refused a subscription for a reason waiting does not cure.
    #[error("the relay refused a subscription: {0}")]
    SubscribeRefused(Refusal),
    /// A request went unanswered for [`super::session::REPLY_TIMEOUT`].
    #[error("the relay stopped answering")]
    Unresponsive,
    /// The stream failed or the relay hung up (reported by the shell).
    #[error("the connection was lost")]
    Disconnected,
    /// The shell could not store a delivery (a full disk, say): the cursor
    /// did not move, so a new connection gets it again.
    #[error("a delivery could not be stored; fetching again")]
    StoreFailed,
}

/// When to connect again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// At once (a new epoch).
    Now,
    /// After this wait.
    After(Duration),
    /// Never: the relay cannot serve this client (no common version).
    Never,
}

/// What a client remembers about one relay between connections.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Hashes of envelopes the relay refused for good, oldest first.
    refused: VecDeque<[u8; 32]>,
    refused_set: BTreeSet<[u8; 32]>,
    /// Proofs of work solved for the relay's mailboxes.
    pub(super) proofs: BTreeMap<MailboxId, u64>,
    /// The next backoff wait.
    wait: Duration,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            refused: VecDeque::new(),
            refused_set: BTreeSet::new(),
            proofs: BTreeMap::new(),
            wait: BACKOFF.0,
        }
    }
}

fn hash(envelope: &Envelope) -> [u8; 32] {
    *blake3::hash(envelope.as_bytes()).as_bytes()
}

impl Memory {
    /// Whether the relay refused `envelope` for good.
    pub fn refused_for_good(&self, envelope: &Envelope) -> bool {
        self.refused_set.contains(&hash(envelope))
    }

    /// Remembers that the relay refused `envelope` for good.
    pub(super) fn give_up(&mut self, envelope: &Envelope) {
        let h = hash(envelope);
        if !self.refused_set.insert(h) {
            return;
        }
        self.refused.push_back(h);
        if self.refused.len() > REMEMBERED_REFUSALS
            && let Some(old) = self.refused.pop_front()
        {
            self.refused_set.remove(&old);
        }
    }

    /// A connection that lived `lived` ended for `why`: when to connect
    /// again. `jitter` (random, up to a second) keeps many clients from
    /// reconnecting in step; the caller draws it.
    pub fn reconnect(&mut self, why: &Ended, lived: Duration, jitter: Duration) -> Reconnect {
        match why {
            Ended::NewEpoch => {
                self.wait = BACKOFF.0;
                return Reconnect::Now;
            }
            Ended::Handshake(e) if e.is_permanent() => return Reconnect::Never,
            _ => {}
        }
        if lived > BACKOFF.1 {
            self.wait = BACKOFF.0;
        }
        let retry_in = self.wait + jitter;
        self.wait = (self.wait * 2).min(BACKOFF.1);
        Reconnect::After(retry_in)
    }
}

impl ClientError {
    /// Whether connecting again cannot help: the relay speaks no version
    /// this client offers.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused { code, .. } => {
                ErrorCode::from_number(*code) == Some(ErrorCode::UnsupportedVersion)
            }
            Self::VersionNotOffered(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_long_connection() {
        let mut m = Memory::default();
        let short = Duration::from_secs(2);
        let waits: Vec<_> =
            (0..8).map(|_| m.reconnect(&Ended::Disconnected, short, MS * 5)).collect();
        let secs = [1, 2, 4, 8, 16, 32, 60, 60];
        for (w, s) in waits.iter().zip(secs) {
            assert_eq!(*w, Reconnect::After(Duration::from_secs(s) + MS * 5));
        }
        let long = BACKOFF.1 + MS;
        assert_eq!(m.reconnect(&Ended::Unresponsive, long, MS), Reconnect::After(BACKOFF.0 + MS));
        assert_eq!(m.reconnect(&Ended::NewEpoch, short, MS), Reconnect::Now);
        assert_eq!(m.reconnect(&Ended::Disconnected, short, MS), Reconnect::After(BACKOFF.0 + MS));
    }

    #[test]
    fn a_relay_without_a_common_version_is_not_tried_again() {
        let mut m = Memory::default();
        let code = ErrorCode::UnsupportedVersion.number();
        let refused = Ended::Handshake(ClientError::Refused { code, supported: vec![9] });
        assert_eq!(m.reconnect(&refused, MS, MS), Reconnect::Never);
        let chosen = Ended::Handshake(ClientError::VersionNotOffered(9));
        assert_eq!(m.reconnect(&chosen, MS, MS), Reconnect::Never);
        let busy = ClientError::Refused { code: ErrorCode::Overloaded.number(), supported: vec![] };
        assert!(matches!(m.reconnect(&Ended::Handshake(busy), MS, MS), Reconnect::After(_)));
    }
}
