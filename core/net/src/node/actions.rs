//! Group actions beyond chat: tasks, roles, membership, rotation, relays.
//! Each builds its body through the replica (sealing, rekeys) and writes it
//! like any other message. They are reached only through [`Node::act`]
//! (`action.rs`): the one public way to do a user action.

use cairn_proto::crypto::PublicKey;
use cairn_proto::group::TaskContent;
use cairn_proto::replica::ReplicaError;
use cairn_proto::wire::{
    Body, GroupId, MemberRemove, MessageId, Name, RelayListChange, RoleAssign, TaskAssign, TaskRef,
};

use super::profile::{Core, now};
use super::{Node, NodeError, os_rng};

impl Node {
    /// Builds a body with the group's replica, then writes it, under one
    /// hold of the core lock: a rekey built here is written against the
    /// epoch it was built for, with no gap in which another action (a due
    /// rotation, a received rekey) could move the group on.
    pub(crate) fn build_and_write(
        &self,
        group: GroupId,
        build: impl FnOnce(&mut cairn_proto::replica::Replica) -> Result<Body, NodeError>,
    ) -> Result<MessageId, NodeError> {
        let written =
            self.decide_and_write(group, |core| build(core.replica_mut(&group)?).map(Some))?;
        written.ok_or(NodeError::Bug("a built body was not written"))
    }

    /// Like [`Node::build_and_write`], for a decision that needs the whole
    /// core (whether a rekey is still due): `decide` returns the body to
    /// write, or `None` to write nothing. One hold of the lock covers the
    /// decision, the build and the commit.
    pub(crate) fn decide_and_write(
        &self,
        group: GroupId,
        decide: impl FnOnce(&mut Core) -> Result<Option<Body>, NodeError>,
    ) -> Result<Option<MessageId>, NodeError> {
        let (id, queued) = {
            let mut core = self.core();
            let Some(body) = decide(&mut core)? else { return Ok(None) };
            core.write(group, body, now())?
        };
        self.dispatch(queued);
        // A rekey or relay change of our own moves the relay connections
        // just as one received does.
        self.follow_group(group);
        Ok(Some(id))
    }

    /// Creates a task readable by `readable_by`, assigned to `assignees`.
    pub(super) fn create_task(
        &self,
        group: GroupId,
        content: &TaskContent,
        readable_by: Vec<String>,
        assignees: Vec<PublicKey>,
    ) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| {
            Ok(r.task_create_body(&mut os_rng(), content, readable_by, assignees, now())?)
        })
    }

    /// Replaces a task's content (same readers unless given).
    pub(super) fn edit_task(
        &self,
        group: GroupId,
        task: MessageId,
        content: &TaskContent,
        readable_by: Option<Vec<String>>,
    ) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| {
            Ok(r.task_edit_body(&mut os_rng(), task, content, readable_by, now())?)
        })
    }

    /// Comments on a task (sealed to its readers).
    pub(super) fn comment(
        &self,
        group: GroupId,
        task: MessageId,
        text: &str,
        reply_to: Option<MessageId>,
    ) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| {
            Ok(r.task_comment_body(&mut os_rng(), task, text, reply_to, now())?)
        })
    }

    /// Assigns and unassigns members.
    pub(super) fn assign_task(
        &self,
        group: GroupId,
        task: MessageId,
        assign: Vec<PublicKey>,
        unassign: Vec<PublicKey>,
    ) -> Result<MessageId, NodeError> {
        self.write(group, Body::TaskAssign(TaskAssign { task, assign, unassign }))
    }

    /// Closes (`true`) or reopens a task.
    pub(super) fn close_task(
        &self,
        group: GroupId,
        task: MessageId,
        close: bool,
    ) -> Result<MessageId, NodeError> {
        let r = TaskRef { task };
        self.write(group, if close { Body::TaskClose(r) } else { Body::TaskReopen(r) })
    }

    /// Gives `member` a role.
    pub(super) fn assign_role(
        &self,
        group: GroupId,
        member: PublicKey,
        role: &str,
    ) -> Result<MessageId, NodeError> {
        self.write(group, Body::RoleAssign(RoleAssign { member, role: role.into() }))
    }

    /// Takes a role from `member`, with the rekey of the new epoch. The
    /// member stays, so the rekey wraps to it too; the role's key holder
    /// then draws the role's fresh key, which it does not get
    /// ([`cairn_proto::replica::Replica::role_revoke_body`]).
    pub(super) fn revoke_role(
        &self,
        group: GroupId,
        member: PublicKey,
        role: &str,
    ) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| Ok(r.role_revoke_body(&mut os_rng(), member, role)?))
    }

    /// Sets the name this member goes by in `group` (every member sees it;
    /// it is self-chosen, so UIs tell apart members who pick the same one).
    pub(super) fn set_name(&self, group: GroupId, name: &str) -> Result<MessageId, NodeError> {
        let body = Body::Name(Name { name: name.trim().into() });
        if let Err(why) = body.check_limits() {
            return Err(ReplicaError::Refused(format!("{why} (at most 64 bytes, one line)")).into());
        }
        self.write(group, body)
    }

    /// Removes `member`, with the rekey that shuts them out.
    pub(super) fn remove_member(
        &self,
        group: GroupId,
        member: PublicKey,
    ) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| {
            let (rekey, _) = r.build_rekey(&mut os_rng(), None, &[member])?;
            Ok(Body::MemberRemove(MemberRemove { member, rekey: Some(rekey) }))
        })
    }

    /// Rotates the group's keys (a new epoch for every member).
    pub(super) fn rotate(&self, group: GroupId) -> Result<MessageId, NodeError> {
        self.build_and_write(group, |r| {
            let (rekey, _) = r.build_rekey(&mut os_rng(), None, &[])?;
            Ok(Body::Rekey(rekey))
        })
    }

    /// Leaves `group` (`node.md`, "Leaving"): the core writes the leave
    /// message and erases the keys; here the group's relay connections are
    /// replaced by ones that only post what waits in the outbox, and stop
    /// once it is delivered (`Node::relay_acked`).
    pub(super) fn leave(
        &self,
        group: GroupId,
        keep_history: bool,
    ) -> Result<Option<MessageId>, NodeError> {
        let leaving = self.core().leave(group, keep_history, now())?;
        self.relays().remove(&group);
        if !leaving.queued.is_empty() {
            self.start_relays(group);
            self.dispatch(leaving.queued);
        }
        tracing::info!(relays = leaving.relays.len(), keep_history, "left a group");
        Ok(leaving.message)
    }

    /// Replaces the group's relay list.
    pub(super) fn set_relays(
        &self,
        group: GroupId,
        relays: Vec<String>,
    ) -> Result<MessageId, NodeError> {
        self.write(group, Body::RelayListChange(RelayListChange { relays }))
    }
}
