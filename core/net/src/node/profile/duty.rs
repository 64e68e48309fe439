//! The node's part of the rekey schedule and of the exposure invariant
//! (`group.md`, "Rekey schedule and exposure"; `node.md`, "Key duty"):
//! when a scheduled or healing rekey is due, and a healing rekey before
//! anything is sent under an epoch a former member still knows.

use std::collections::BTreeMap;

use cairn_proto::group::{GroupState, RekeySchedule, key_duty};
use cairn_proto::store::{Batch, Store as _};
use cairn_proto::wire::{Body, EpochId, GroupId};

use super::Core;
use crate::node::{NodeError, registry};

/// Per group, the epoch this node saw and when (its local clock).
#[derive(Default)]
pub(super) struct EpochTimes {
    /// When the current epoch was adopted (also stored: see
    /// [`Core::adopted_at`]; this saves a store read per check).
    adopted: BTreeMap<GroupId, (EpochId, u64)>,
    /// When the current epoch was first seen exposed (memory only: healing
    /// takes seconds).
    exposed: BTreeMap<GroupId, (EpochId, u64)>,
}

/// The time kept for `group` in `times` if it is for `epoch`; else `now`,
/// kept from here on.
fn first_seen(
    times: &mut BTreeMap<GroupId, (EpochId, u64)>,
    group: GroupId,
    epoch: EpochId,
    now: u64,
) -> u64 {
    let seen = times.entry(group).or_insert((epoch, now));
    if seen.0 != epoch {
        *seen = (epoch, now);
    }
    seen.1
}

impl Core {
    /// The groups whose rekey is due at `now` (this node's clock): the
    /// scheduled rotation when this member's turn has come, or the healing
    /// of an exposed epoch.
    pub fn due_rekeys(&mut self, now: u64, schedule: &RekeySchedule) -> Vec<GroupId> {
        if self.restored {
            return Vec::new();
        }
        let groups: Vec<GroupId> =
            self.replicas.keys().filter(|g| !self.has_left(g)).copied().collect();
        groups
            .into_iter()
            .filter(|g| {
                self.rekey_due(*g, now, schedule).unwrap_or_else(|e| {
                    tracing::warn!("cannot tell whether a rekey is due: {e}");
                    false
                })
            })
            .collect()
    }

    pub(crate) fn rekey_due(
        &mut self,
        group: GroupId,
        now: u64,
        schedule: &RekeySchedule,
    ) -> Result<bool, NodeError> {
        let me = self.profile.identity().public_key();
        let Some((epoch, exposed)) = self.member_epoch(&group)? else { return Ok(false) };
        let since = if exposed {
            first_seen(&mut self.epoch_times.exposed, group, epoch, now)
        } else {
            self.adopted_at(group, epoch, now)?
        };
        let state = self.replica(&group)?.state().ok_or(NodeError::Bug("no state"))?;
        let duty = key_duty(state, &me, since, schedule);
        Ok(duty.rekey_at.is_some_and(|at| at <= now))
    }

    /// The current epoch of `group` and whether it is exposed, if this
    /// member is in the group.
    fn member_epoch(&self, group: &GroupId) -> Result<Option<(EpochId, bool)>, NodeError> {
        let me = self.profile.identity().public_key();
        let Some(state) = self.replica(group)?.state() else { return Ok(None) };
        if !state.members.contains_key(&me) {
            return Ok(None);
        }
        Ok(Some((state.epoch.id, !state.epoch.exposed_to.is_empty())))
    }

    /// When this node first saw `group` in `epoch`. Stored, so that a
    /// restart does not start the rotation period again.
    fn adopted_at(&mut self, group: GroupId, epoch: EpochId, now: u64) -> Result<u64, NodeError> {
        if let Some((seen, at)) = self.epoch_times.adopted.get(&group)
            && *seen == epoch
        {
            return Ok(*at);
        }
        let at = match registry::epoch_since(self.profile.store(), &group)? {
            Some((seen, at)) if seen == epoch => at,
            _ => {
                let batch = registry::put_epoch_since(group, epoch, now, Batch::new());
                self.profile.store_mut().commit(batch)?;
                now
            }
        };
        self.epoch_times.adopted.insert(group, (epoch, at));
        Ok(at)
    }
}

/// Whether writing `body` under an exposed epoch needs a healing rekey
/// first. Bodies that carry a rekey replace the epoch themselves; a member
/// who leaves sends nothing more.
pub(super) fn heals_first(
    state: &GroupState,
    me: &cairn_proto::crypto::PublicKey,
    body: &Body,
) -> bool {
    let carries_rekey = matches!(
        body,
        Body::Rekey(_)
            | Body::MemberAdd(_)
            | Body::MemberRemove(_)
            | Body::RoleRevoke(_)
            | Body::Leave
            // A stranded member cannot heal (it lacks the epoch), and a
            // re-wrap carries only wraps to fresh key packages.
            | Body::KeyRequest(_)
            | Body::EpochRewrap(_)
    );
    !carries_rekey && !state.epoch.exposed_to.is_empty() && state.members.contains_key(me)
}
