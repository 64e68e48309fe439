//! What the node tells its user interface.

use std::time::Duration;

use cairn_proto::crypto::PublicKey;
use cairn_proto::wire::{GroupId, MessageId};

/// One thing the UI may want to show. Never carries a secret; onion and
/// relay addresses appear only where the user configured or asked for them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// Tor bootstrap progress, 0–100; `blocked` says why it is stuck.
    TorBootstrap {
        /// Percent done.
        percent: u8,
        /// Why it is not progressing, if it is not.
        blocked: Option<String>,
    },
    /// The node's own onion service (or loopback listener) is up.
    Listening {
        /// Where peers reach it.
        address: String,
    },
    /// A relay of a group is connected.
    RelayUp {
        /// The group.
        group: GroupId,
        /// The relay's address.
        relay: String,
    },
    /// A relay of a group is unreachable; the node retries (unless
    /// `retry_in` is [`Duration::MAX`]: the relay cannot serve this node, for
    /// example it speaks no common protocol version, and is not tried again
    /// until the node restarts or the group's relay list changes).
    RelayDown {
        /// The group.
        group: GroupId,
        /// The relay's address.
        relay: String,
        /// Why.
        error: String,
        /// When the next attempt is.
        retry_in: Duration,
    },
    /// New messages were taken in (from relays or peers).
    Messages {
        /// The group.
        group: GroupId,
        /// The accepted messages.
        ids: Vec<MessageId>,
    },
    /// Messages wait in the outbox (nothing reachable, or Tor down).
    Queued {
        /// Outbox items waiting.
        waiting: usize,
        /// Why they have not gone yet.
        reason: String,
    },
    /// An outbox item reached every relay of its group.
    Delivered {
        /// The group.
        group: GroupId,
        /// The message.
        message: MessageId,
    },
    /// A relay refused a post for a reason waiting will not cure on this
    /// connection (or refused it too often); the message stays in the
    /// outbox.
    PostRefused {
        /// The group.
        group: GroupId,
        /// The relay's address.
        relay: String,
        /// Why, and what happens next.
        reason: String,
    },
    /// A resync with a peer finished.
    Synced {
        /// The group.
        group: GroupId,
        /// The peer.
        peer: PublicKey,
        /// Messages accepted from it.
        accepted: usize,
    },
    /// Someone redeemed an invite: compare the short code with them, then
    /// answer with [`super::Action::Approve`].
    JoinRequest {
        /// The group.
        group: GroupId,
        /// The redeemer's key fingerprint.
        fingerprint: String,
        /// The code both people compare.
        short_code: String,
        /// The name they gave.
        name: String,
    },
    /// A join request this member could answer was answered, here or by
    /// another member who may invite (`peer.md`, "Pending joins"): take
    /// down its prompt.
    JoinAnswered {
        /// The group.
        group: GroupId,
        /// The code of the request.
        short_code: String,
        /// The name the redeemer gave.
        name: String,
        /// Admitted (else declined).
        admitted: bool,
        /// The member who answered.
        by: PublicKey,
    },
    /// This node redeemed an invite and waits for approval: show the code.
    Joining {
        /// The code both people compare.
        short_code: String,
        /// The inviter's key fingerprint.
        inviter: String,
    },
    /// Something the user must know about the group's integrity.
    Warning(SecurityWarning),
}

/// Integrity and safety warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityWarning {
    /// A relay did not deliver messages others did (or a peer holds).
    Withheld {
        /// The group.
        group: GroupId,
        /// The relay.
        relay: String,
        /// How many messages.
        count: usize,
    },
    /// An author signed two messages at one position.
    Equivocation {
        /// The group.
        group: GroupId,
        /// The author.
        author: PublicKey,
    },
    /// A message broke a rule and was refused.
    Rejected {
        /// The group.
        group: GroupId,
        /// The message.
        id: MessageId,
        /// The rule broken.
        reason: String,
    },
    /// A gap in an author's chain (a relay or peer may be withholding).
    Gap {
        /// The group.
        group: GroupId,
        /// The author.
        author: PublicKey,
        /// The first missing seq.
        from: u64,
        /// The last missing seq.
        to: u64,
    },
    /// This identity was restored from its seed: it does not sign until its
    /// own latest messages are confirmed (`node.md`).
    RestoredUnconfirmed,
}
