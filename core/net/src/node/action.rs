//! [`Action`]: everything a user can do to a profile's groups that is one
//! step (a message written, a group founded, a join answered), as one type
//! that the CLI subcommands and the TUI both build and [`Node::act`] does.
//! Conversations that wait on the network or on a person (invite, join,
//! resync) stay async methods of [`Node`].
//!
//! `act` is the only public way to do one of these: the typed methods it
//! calls (`chat`, `create_task`, `remove_member`, ...) are private to the
//! node, so the TUI, the CLI, the demo and the tests all go through here.

use cairn_proto::crypto::PublicKey;
use cairn_proto::group::{Rules, TaskContent};
use cairn_proto::replica::ReplicaError;
use cairn_proto::wire::{GroupId, MessageId};

use super::{Node, NodeError};

/// One user action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A chat line (a reply to `reply_to`, if given).
    Chat {
        /// The group.
        group: GroupId,
        /// What was typed.
        text: String,
        /// The line replied to.
        reply_to: Option<MessageId>,
    },
    /// Found a group.
    CreateGroup {
        /// Its name.
        name: String,
        /// Its rules.
        rules: Rules,
        /// Its relays (none: members sync directly).
        relays: Vec<String>,
    },
    /// Create a task.
    CreateTask {
        /// The group.
        group: GroupId,
        /// Title, description, labels.
        content: TaskContent,
        /// The roles that may read it; empty: [`Node::default_readers`].
        readable_by: Vec<String>,
        /// Who it is assigned to.
        assignees: Vec<PublicKey>,
    },
    /// Replace a task's content (same readers unless given).
    EditTask {
        /// The group.
        group: GroupId,
        /// The task.
        task: MessageId,
        /// The new content.
        content: TaskContent,
        /// New readers, if they change.
        readable_by: Option<Vec<String>>,
    },
    /// Comment on a task.
    Comment {
        /// The group.
        group: GroupId,
        /// The task.
        task: MessageId,
        /// The comment.
        text: String,
    },
    /// Assign and unassign members.
    AssignTask {
        /// The group.
        group: GroupId,
        /// The task.
        task: MessageId,
        /// Members to assign.
        assign: Vec<PublicKey>,
        /// Members to unassign.
        unassign: Vec<PublicKey>,
    },
    /// Close (`true`) or reopen a task.
    CloseTask {
        /// The group.
        group: GroupId,
        /// The task.
        task: MessageId,
        /// Close, or reopen.
        close: bool,
    },
    /// Give (`assign`) or take a role.
    Role {
        /// The group.
        group: GroupId,
        /// The member.
        member: PublicKey,
        /// The role.
        role: String,
        /// Give, or take (with a rekey).
        assign: bool,
    },
    /// The name this member goes by in the group.
    SetName {
        /// The group.
        group: GroupId,
        /// The name.
        name: String,
    },
    /// Remove a member (with the rekey that shuts them out).
    Remove {
        /// The group.
        group: GroupId,
        /// The member.
        member: PublicKey,
    },
    /// Leave the group: the leave message goes out (the remaining members
    /// heal the epoch this member knew: `node.md`, "Key duty"), the
    /// group's keys are erased, its relays are no longer followed, and its
    /// history is kept read-only or deleted (`node.md`, "Leaving").
    Leave {
        /// The group.
        group: GroupId,
        /// Keep the history (and the role keys that open its tasks),
        /// read-only; `false` deletes it.
        keep_history: bool,
    },
    /// Rotate the group's keys.
    Rotate {
        /// The group.
        group: GroupId,
    },
    /// Replace the group's relay list.
    SetRelays {
        /// The group.
        group: GroupId,
        /// The new list.
        relays: Vec<String>,
    },
    /// Answer the join request that showed `code`.
    Approve {
        /// The short code.
        code: String,
        /// Admit, or refuse.
        admit: bool,
    },
    /// A restored identity may sign again.
    ConfirmRestored,
}

/// What an [`Action`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Done {
    /// A message, in the outbox.
    Message(MessageId),
    /// A group.
    Group(GroupId),
    /// Nothing to name.
    Nothing,
}

impl Done {
    /// The message the action wrote, if it wrote one.
    pub fn message_id(&self) -> Option<MessageId> {
        match self {
            Done::Message(id) => Some(*id),
            _ => None,
        }
    }

    /// The group the action founded, if it founded one.
    pub fn group_id(&self) -> Option<GroupId> {
        match self {
            Done::Group(g) => Some(*g),
            _ => None,
        }
    }
}

impl Node {
    /// Does one user action. A message it writes is committed (in the
    /// outbox) before this returns.
    pub fn act(&self, action: Action) -> Result<Done, NodeError> {
        use Action as A;
        let message = match action {
            A::Chat { group, text, reply_to } => self.chat(group, &text, reply_to)?,
            A::CreateGroup { name, rules, relays } => {
                return Ok(Done::Group(self.create_group(&name, &rules, relays)?));
            }
            A::CreateTask { group, content, readable_by, assignees } => {
                let readable_by = if readable_by.is_empty() {
                    self.default_readers(&group)?
                } else {
                    readable_by
                };
                self.create_task(group, &content, readable_by, assignees)?
            }
            A::EditTask { group, task, content, readable_by } => {
                self.edit_task(group, task, &content, readable_by)?
            }
            A::Comment { group, task, text } => self.comment(group, task, &text, None)?,
            A::AssignTask { group, task, assign, unassign } => {
                self.assign_task(group, task, assign, unassign)?
            }
            A::CloseTask { group, task, close } => self.close_task(group, task, close)?,
            A::Role { group, member, role, assign: true } => {
                self.assign_role(group, member, &role)?
            }
            A::Role { group, member, role, assign: false } => {
                self.revoke_role(group, member, &role)?
            }
            A::SetName { group, name } => self.set_name(group, &name)?,
            A::Remove { group, member } => self.remove_member(group, member)?,
            A::Leave { group, keep_history } => match self.leave(group, keep_history)? {
                Some(id) => id,
                None => return Ok(Done::Nothing),
            },
            A::Rotate { group } => self.rotate(group)?,
            A::SetRelays { group, relays } => self.set_relays(group, relays)?,
            A::Approve { code, admit } => {
                self.approve(&code, admit)?;
                return Ok(Done::Nothing);
            }
            A::ConfirmRestored => {
                self.confirm_restored()?;
                return Ok(Done::Nothing);
            }
        };
        Ok(Done::Message(message))
    }

    /// The roles a new task is readable by when none are given: the
    /// group's newcomer role if this member holds it, else its first role.
    pub fn default_readers(&self, group: &GroupId) -> Result<Vec<String>, NodeError> {
        let me = self.identity().public_key();
        let not_member = || ReplicaError::Refused("you are not a member of this group".into());
        // Read in place: a task written must not copy the group's state.
        self.with_replica(group, |r| {
            let s = r.state().ok_or(NodeError::UnknownGroup)?;
            let m = s.members.get(&me).ok_or_else(not_member)?;
            let newcomer = s.rules.newcomer.as_ref().filter(|r| m.roles.contains(*r));
            Ok(newcomer.or_else(|| m.roles.iter().next()).cloned().into_iter().collect())
        })?
    }
}
