//! Leaving a group (`node.md`, "Leaving"): the leave message goes into the
//! outbox, then the group's keys are erased and, if the user chose, its
//! history is deleted; the group is recorded as left, with the relays its
//! leave message still has to reach.

use cairn_proto::replica::ReplicaError;
use cairn_proto::store::{Batch, Store};
use cairn_proto::wire::{Body, GroupId, MessageId};

use super::super::NodeError;
use super::super::registry::{self, Left};
use super::{Core, Queued};

/// What leaving did.
#[derive(Debug)]
pub struct Leaving {
    /// The leave message, if one was written now (none when this member
    /// had already left or been removed).
    pub message: Option<MessageId>,
    /// Its envelopes, in the outbox.
    pub queued: Vec<Queued>,
    /// The relays it goes to.
    pub relays: Vec<String>,
}

impl Core {
    /// Leaves `group`: writes the leave message (if this member still is
    /// one), erases every epoch secret and key-package secret of the group
    /// (the role keys too unless `keep_history`), and deletes the history
    /// unless `keep_history`. Leaving a group already left with the
    /// history kept, or one this member was removed from, writes nothing
    /// and erases what remains to erase.
    pub fn leave(
        &mut self,
        group: GroupId,
        keep_history: bool,
        now: u64,
    ) -> Result<Leaving, NodeError> {
        let relays = self.relays_of(&group)?;
        let me = self.profile.identity().public_key();
        let replica = self.replica(&group)?;
        let member = replica.is_member();
        let was_member = replica.state().is_some_and(|s| s.former.contains_key(&me));
        if !member && !was_member && !self.left.contains_key(&group) {
            let why = "you are not a member of this group yet";
            return Err(ReplicaError::Refused(why.into()).into());
        }
        if member && !keep_history && relays.is_empty() {
            return Err(NodeError::LeaveNeedsHistory);
        }
        let (message, queued) = if member {
            let (id, queued) = self.write(group, Body::Leave, now)?;
            (Some(id), queued)
        } else {
            (None, Vec::new())
        };
        self.replica_mut(&group)?.erase_keys_on_leave(keep_history);
        let record = Left { group, relays: relays.clone(), history_kept: keep_history };
        let store = self.profile.store();
        let mut list = registry::left(store)?;
        list.retain(|l| l.group != group);
        list.push(record.clone());
        let mut batch = registry::put_left(&list, Batch::new());
        if !keep_history {
            batch = registry::remove_group(registry::groups(store)?, &group, batch)
                .forget_group(group.0);
        }
        // The keys first (their slots in the secrets file are overwritten),
        // then the record and the deletion in one commit.
        let replica = self.replicas.get_mut(&group).ok_or(NodeError::UnknownGroup)?;
        replica.persist(self.profile.store_mut(), batch)?;
        self.left.insert(group, record);
        if !keep_history {
            self.replicas.remove(&group);
        }
        Ok(Leaving { message, queued, relays })
    }

    /// Whether this member left `group`.
    pub fn has_left(&self, group: &GroupId) -> bool {
        self.left.contains_key(group)
    }

    /// The groups whose relays are connected on start: every group not
    /// left, and the groups left whose leave message still waits.
    pub fn relay_groups(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> =
            self.replicas.keys().filter(|g| !self.left.contains_key(g)).copied().collect();
        for g in self.left.keys() {
            if self.outbox_holds(g).unwrap_or(true) {
                groups.push(*g);
            }
        }
        groups
    }

    /// Whether an outbox item of `group` still waits.
    pub fn outbox_holds(&self, group: &GroupId) -> Result<bool, NodeError> {
        Ok(self.profile.store().outbox()?.iter().any(|item| item.group == group.0))
    }
}
