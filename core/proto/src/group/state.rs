//! [`GroupState`]: the group layer every member computes identically, and
//! how each authorized body changes it.
//!
//! Only what every member can read is here (no sealed content), so the
//! state and its hash are the same for every member whatever roles they
//! hold. Chat and comments are not part of it (`protocol-spec/group.md`,
//! "State").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::rules::Rules;
use crate::crypto::PublicKey;
use crate::epoch::{KeyPackageId, RekeyCandidate, RekeyKind, rekey_precedence};
use crate::wire::{
    Body, EpochId, GroupId, InviteId, KeyRequest, MessageId, UnsignedMessage, encode,
};

/// Context of the state hash (`BLAKE3-derive_key`).
pub const STATE_HASH_CONTEXT: &str = "cairn 2026 group state v1";

/// A position in the linearization: Lamport clock, then message id.
pub type Position = (u64, MessageId);

/// A current member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Roles held.
    pub roles: BTreeSet<String>,
    /// Position of the message that admitted them (genesis for the founder).
    pub since: Position,
    /// Their latest key package, if any.
    pub key_package: Option<KeyPackageId>,
    /// Their onion service key, from their latest `Contact`.
    pub onion: Option<PublicKey>,
    /// The name they go by, from their latest `Name` (self-chosen).
    pub name: Option<String>,
}

/// Someone who was a member: removed or left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Former {
    /// Roles held when they went.
    pub roles: BTreeSet<String>,
    /// When they were admitted.
    pub since: Position,
    /// The removal or leave message.
    pub gone_by: MessageId,
    /// The name they went by.
    pub name: Option<String>,
}

/// The group layer of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    /// Who created it.
    pub creator: PublicKey,
    /// Roles whose holders read its content layer.
    pub readable_by: BTreeSet<String>,
    /// Members it is assigned to.
    pub assignees: BTreeSet<PublicKey>,
    /// Open (true) or closed.
    pub open: bool,
    /// The message holding the current content layer (create or last edit).
    pub content: MessageId,
}

/// The current epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochState {
    /// Its id (genesis or rekey message id).
    pub id: EpochId,
    /// The epoch it replaced (none for the first).
    pub replaces: Option<EpochId>,
    /// Whether a membership message carried it (it beats a plain rekey).
    pub membership: bool,
    /// Former members who knew this epoch's secret: while non-empty the
    /// epoch is exposed and members should post a healing rekey.
    pub exposed_to: BTreeSet<PublicKey>,
}

/// The group layer: everything a rule looks at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group.
    pub group: GroupId,
    /// Its genesis message.
    pub genesis: MessageId,
    /// Its name.
    pub name: String,
    /// The rules in force.
    pub rules: Rules,
    /// Current members.
    pub members: BTreeMap<PublicKey, Member>,
    /// Former members.
    pub former: BTreeMap<PublicKey, Former>,
    /// Tasks by id (the create message's id).
    pub tasks: BTreeMap<MessageId, TaskState>,
    /// The relay list.
    pub relays: Vec<String>,
    /// The current epoch.
    pub epoch: EpochState,
    /// Every key package announced, with its owner.
    pub key_packages: BTreeMap<KeyPackageId, PublicKey>,
    /// Invitations redeemed by an applied admission: each admits once.
    pub used_invites: BTreeSet<InviteId>,
}

impl GroupState {
    /// The state right after a valid genesis by `founder`.
    pub fn genesis(
        group: GroupId,
        id: MessageId,
        founder: PublicKey,
        name: String,
        rules: Rules,
    ) -> Self {
        let roles = BTreeSet::from([rules.founder.clone()]);
        let member = Member { roles, since: (0, id), key_package: None, onion: None, name: None };
        Self {
            group,
            genesis: id,
            name,
            rules,
            members: BTreeMap::from([(founder, member)]),
            former: BTreeMap::new(),
            tasks: BTreeMap::new(),
            relays: Vec::new(),
            epoch: EpochState {
                id: EpochId(id.0),
                replaces: None,
                membership: false,
                exposed_to: BTreeSet::new(),
            },
            key_packages: BTreeMap::new(),
            used_invites: BTreeSet::new(),
        }
    }

    /// BLAKE3 of the canonical encoding of the group layer: byte-equal for
    /// every member holding the same messages.
    pub fn state_hash(&self) -> [u8; 32] {
        blake3::derive_key(STATE_HASH_CONTEXT, &encode(self))
    }

    /// Applies an authorized message. Effects are idempotent where
    /// concurrent messages may repeat them (removing a removed member).
    pub(crate) fn apply(&mut self, id: MessageId, m: &UnsignedMessage) {
        let pos = (m.lamport, id);
        match &m.body {
            Body::TaskCreate(t) => {
                let task = TaskState {
                    creator: m.author,
                    readable_by: t.readable_by.iter().cloned().collect(),
                    assignees: t.assignees.iter().copied().collect(),
                    open: true,
                    content: id,
                };
                self.tasks.insert(id, task);
            }
            Body::TaskEdit(t) => self.edit_task(&t.task, |task| {
                task.readable_by = t.readable_by.iter().cloned().collect();
                task.content = id;
            }),
            Body::TaskAssign(t) => self.edit_task(&t.task, |task| {
                task.assignees.extend(t.assign.iter().copied());
                task.assignees.retain(|a| !t.unassign.contains(a));
            }),
            Body::TaskClose(t) => self.edit_task(&t.task, |task| task.open = false),
            Body::TaskReopen(t) => self.edit_task(&t.task, |task| task.open = true),
            Body::RuleChange(r) => {
                if let Ok(rules) = Rules::decode(&r.rules) {
                    self.set_rules(rules);
                }
            }
            Body::RoleAssign(r) => {
                if let Some(member) = self.members.get_mut(&r.member) {
                    member.roles.insert(r.role.clone());
                }
            }
            Body::RoleRevoke(r) => {
                if let Some(member) = self.members.get_mut(&r.member) {
                    member.roles.remove(&r.role);
                }
            }
            Body::MemberAdd(a) => {
                self.used_invites.extend(a.invite);
                self.former.remove(&a.member);
                let roles = a.roles.iter().cloned().collect();
                self.members.insert(
                    a.member,
                    Member { roles, since: pos, key_package: None, onion: None, name: None },
                );
            }
            Body::MemberRemove(r) => self.remove(&r.member, id),
            Body::Leave => self.remove(&m.author, id),
            Body::KeyPackage(kp) | Body::KeyRequest(KeyRequest { key_package: kp, .. }) => {
                let kid = KeyPackageId::owned_by(&m.author, kp);
                self.key_packages.insert(kid, m.author);
                if let Some(member) = self.members.get_mut(&m.author) {
                    member.key_package = Some(kid);
                }
            }
            Body::RelayListChange(r) => self.relays = r.relays.clone(),
            Body::Contact(c) => {
                if let Some(member) = self.members.get_mut(&m.author) {
                    member.onion = Some(c.onion);
                }
            }
            Body::Name(n) => {
                if let Some(member) = self.members.get_mut(&m.author) {
                    member.name = Some(n.name.clone());
                }
            }
            Body::Genesis(_)
            | Body::Chat(_)
            | Body::TaskComment(_)
            | Body::Rekey(_)
            | Body::EpochRewrap(_)
            | Body::Invitation(_)
            | Body::JoinPending(_)
            | Body::JoinDeclined(_)
            | Body::RoleKeyGrant(_) => {}
        }
    }

    fn edit_task(&mut self, task: &MessageId, f: impl FnOnce(&mut TaskState)) {
        if let Some(t) = self.tasks.get_mut(task) {
            f(t);
        }
    }

    fn remove(&mut self, who: &PublicKey, by: MessageId) {
        if let Some(m) = self.members.remove(who) {
            let former = Former { roles: m.roles, since: m.since, gone_by: by, name: m.name };
            self.former.insert(*who, former);
            // They knew the current epoch's secret until a rekey replaces it.
            self.epoch.exposed_to.insert(*who);
        }
    }

    /// New rules; roles that no longer exist are dropped from their holders.
    /// Only legal changes get here, and deleting a role is legal only for
    /// an author who manages or holds it ([`Rules::change_within`]).
    pub(crate) fn set_rules(&mut self, rules: Rules) {
        for member in self.members.values_mut() {
            member.roles.retain(|r| rules.roles.contains_key(r));
        }
        self.rules = rules;
    }

    /// Whether the rekey carried by message `id` continues the current
    /// epoch, or beats the concurrent rekey that did ([`rekey_precedence`]).
    pub(crate) fn rekey_wins(&self, id: MessageId, replaces: EpochId, membership: bool) -> bool {
        if self.epoch.id == replaces {
            return true;
        }
        if self.epoch.replaces != Some(replaces) {
            return false;
        }
        let kind = |m: bool| if m { RekeyKind::Membership } else { RekeyKind::Plain };
        let current =
            RekeyCandidate { id: MessageId(self.epoch.id.0), kind: kind(self.epoch.membership) };
        let candidate = RekeyCandidate { id, kind: kind(membership) };
        rekey_precedence(&candidate, &current).is_lt()
    }

    /// Adopts the rekey carried by message `id` if it wins
    /// ([`GroupState::rekey_wins`]). Returns whether it was adopted.
    /// `settled`: `Some(true)` when the rekey was settled before the
    /// current epoch's (it wins whatever its kind and id), `Some(false)`
    /// when the current one was settled before it (it never wins).
    pub(crate) fn adopt_rekey(
        &mut self,
        id: MessageId,
        replaces: EpochId,
        membership: bool,
        settled: Option<bool>,
    ) -> bool {
        let sibling = self.epoch.replaces == Some(replaces) && self.epoch.id != replaces;
        let wins = match settled {
            Some(first) if sibling => first,
            _ => self.rekey_wins(id, replaces, membership),
        };
        if !wins {
            return false;
        }
        let exposed_to = BTreeSet::new();
        self.epoch =
            EpochState { id: EpochId(id.0), replaces: Some(replaces), membership, exposed_to };
        true
    }

    /// True when no member holds a role with the power to change the rules.
    pub fn headless(&self) -> bool {
        let changer = |r: &String| {
            self.rules.roles.get(r).is_some_and(|r| r.powers.contains(&super::Power::ChangeRules))
        };
        !self.members.values().any(|m| m.roles.iter().any(changer))
    }

    /// The member admitted earliest (recovery).
    pub fn earliest_member(&self) -> Option<PublicKey> {
        self.members.iter().min_by_key(|(_, m)| m.since).map(|(k, _)| *k)
    }
}
