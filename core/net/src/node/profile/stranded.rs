//! The node's part of healing lock-outs (`keys.md`, "Stranded members";
//! `node.md`, "Key duty"): with nothing received, the keys may still ask
//! for something: a stranded member's request for the current epoch, a
//! re-wrap whose turn came, grants owed. What was written is reported so
//! that the node can push it to peers at once.

use cairn_proto::crypto::PublicKey;
use cairn_proto::store::Batch;
use cairn_proto::wire::GroupId;

use super::{Core, Queued};
use crate::node::NodeError;

/// While stranded, a member pulls from its peers this often (seconds): a
/// re-wrap sealed under an epoch it lacks reaches it only that way.
pub const STRANDED_PULL_SECS: u64 = 15;

/// What [`Core::key_duty_writes`] wrote, for the node to push.
#[derive(Debug, Default)]
pub struct KeyDutyWrites {
    /// Outbox items for the relays.
    pub queued: Vec<Queued>,
    /// A request for the current epoch was written: push it to peers.
    pub requested: bool,
    /// Members a re-wrap was written to: push it to them.
    pub rewrapped_to: Vec<PublicKey>,
    /// This member is stranded and should pull from its peers now.
    pub pull: bool,
}

impl Core {
    /// The groups this member takes part in (not left), in id order.
    pub fn member_groups(&self) -> Vec<GroupId> {
        self.replicas.keys().filter(|g| !self.has_left(g)).copied().collect()
    }

    /// Writes what the keys of `group` ask for at `now` with nothing
    /// received, in one commit.
    pub fn key_duty_writes(
        &mut self,
        group: GroupId,
        now: u64,
    ) -> Result<KeyDutyWrites, NodeError> {
        if self.has_left(&group) || self.is_restored_unconfirmed() {
            return Ok(KeyDutyWrites::default());
        }
        let replica = self.replica(&group)?;
        let Some(state) = replica.state() else { return Ok(KeyDutyWrites::default()) };
        let keys = replica.keys();
        let requested = keys.request_due(state, now).is_some();
        let rewrapped_to = keys.rewraps_due(state, now);
        let stranded = keys.stranded(state).is_some();
        let written = self.key_actions(group, Vec::new(), now)?;
        let queued = if written.is_empty() {
            Vec::new()
        } else {
            self.persist(group, written, Batch::new())?
        };
        let last = self.stranded_pulls.get(&group).copied();
        let pull = stranded && last.is_none_or(|at| now >= at.saturating_add(STRANDED_PULL_SECS));
        if pull {
            self.stranded_pulls.insert(group, now);
        }
        Ok(KeyDutyWrites { queued, requested, rewrapped_to, pull })
    }
}
