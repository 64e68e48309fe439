//! Authorization: may this author do this, in this state? One function per
//! body kind, each returning the first broken rule as a [`Refusal`].
//!
//! These functions judge against one state. The fold decides *which*
//! states a message is judged against (its position, its causal past, and
//! the cut-offs of concurrent rights-reducing messages).

use std::collections::BTreeSet;

use super::rules::{ChangeError, Power, Recovery, Role, Rules, RulesError};
use super::state::GroupState;
use crate::crypto::PublicKey;
use crate::epoch::{KeyPackageId, Rekey, RoleKeyGrant};
use crate::wire::{
    Body, MemberAdd, MemberRemove, MessageId, RoleAssign, RoleRevoke, TaskAssign, TaskCreate,
    TaskEdit, UnsignedMessage,
};

/// Why a message has no effect. The spec lists the same names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The author has never been a member at this position.
    #[error("author is not a member and never was")]
    NeverMember,
    /// The author was a member but was removed or left.
    #[error("author is no longer a member")]
    NotAMember,
    /// The author equivocated at or before this sequence number.
    #[error("author equivocated; nothing from the fork on counts")]
    Equivocator,
    /// A genesis other than the group's.
    #[error("a second genesis")]
    SecondGenesis,
    /// The author's roles lack this power.
    #[error("author lacks the power {0:?}")]
    Lacks(Power),
    /// The author's roles do not manage this role.
    #[error("author does not manage role {0:?}")]
    Unmanaged(String),
    /// No such role in the rules in force.
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    /// The member named is not a current member.
    #[error("{0:?} is not a member")]
    NoSuchMember(PublicKey),
    /// The member is already one / already holds the role.
    #[error("nothing to do: already so")]
    AlreadySo,
    /// The member does not hold the role being revoked.
    #[error("member does not hold role {0:?}")]
    NotHolder(String),
    /// Removing oneself is leaving.
    #[error("a member cannot remove themselves (leave instead)")]
    SelfRemoval,
    /// The identity key of a new member is not a strong key.
    #[error("new member's key is weak")]
    WeakKey,
    /// An assignee holds no role the author may assign tasks to.
    #[error("author may not assign tasks to {0:?}")]
    CannotAssignTo(PublicKey),
    /// No such task.
    #[error("unknown task")]
    UnknownTask,
    /// The task is already in the state asked for (closed, open).
    #[error("task is already so")]
    TaskAlreadySo,
    /// The author reads none of the task's scopes.
    #[error("author cannot read this task")]
    CannotRead,
    /// A task must be readable by at least one role.
    #[error("task readable by no role")]
    NoReaders,
    /// The new rules do not decode or are not valid.
    #[error("bad rules: {0}")]
    BadRules(RulesError),
    /// The new rules give this role more than the author holds (the role
    /// is new or changed, or newly the `newcomer` or `founder` role).
    #[error("rule change grants role {0:?} more than its author holds")]
    GrantsMore(String),
    /// The rule change turns recovery on, which would give the earliest
    /// member this role, and the author does not cover it.
    #[error("rule change turns on recovery, which hands out role {0:?} beyond its author")]
    RecoveryBeyondAuthor(String),
    /// The rule change deletes or narrows this role, and the author
    /// neither manages nor holds it (it would strip its holders' rights).
    #[error(
        "rule change deletes or narrows role {0:?}, which its author neither manages nor holds"
    )]
    NarrowsUnmanaged(String),
    /// The rekey does not replace the current epoch (nor beat its sibling).
    #[error("rekey replaces an epoch that is not current")]
    StaleEpoch,
    /// The rekey wraps the secret to a key package of a non-member.
    #[error("rekey wraps the epoch secret for non-member {0:?}")]
    WrapsForNonMember(PublicKey),
    /// The admission redeems an invitation an applied admission already
    /// redeemed: an invitation admits once.
    #[error("the invitation was already used")]
    InviteUsed,
    /// An epoch re-wrap to a member admitted after the epoch began (the
    /// admission's rekey did not make it): a new epoch must let it in.
    #[error("epoch re-wrap to {0:?}, admitted after the epoch began")]
    RewrapPredatesAdmission(PublicKey),
    /// An epoch re-wrap whose `replaces` or confirmation is not that of the
    /// rekey that made the epoch it names.
    #[error("epoch re-wrap does not match the rekey that made the epoch")]
    RewrapMismatch,
    /// The rekey leaves out a member who stays and whose key package was in
    /// its causal past: that member would be locked out of the epoch.
    #[error("rekey leaves out member {0:?}")]
    MissesMember(PublicKey),
    /// A key package for another group, or not a valid x25519 key.
    #[error("invalid key package")]
    BadKeyPackage,
    /// A role-key grant by a member who does not hold the role.
    #[error("only a holder of role {0:?} may grant its key")]
    GrantByNonHolder(String),
    /// Judged as if the rights-reducing message `by` had already applied
    /// (the author had not seen it): the cut-off rule.
    #[error("cut off by {by:?}: {because}")]
    CutOff {
        /// The rights-reducing message.
        by: MessageId,
        /// What it made illegal.
        because: Box<Refusal>,
    },
}

impl From<ChangeError> for Refusal {
    /// A role newly named `newcomer` that the author does not manage is
    /// refused as handing out an unmanaged role, like a `MemberAdd` would be.
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::GrantsMore(role) => Refusal::GrantsMore(role),
            ChangeError::NewcomerUnmanaged(role) => Refusal::Unmanaged(role),
            ChangeError::RecoveryBeyondAuthor(role) => Refusal::RecoveryBeyondAuthor(role),
            ChangeError::NarrowsUnmanaged(role) => Refusal::NarrowsUnmanaged(role),
        }
    }
}

impl Refusal {
    /// The rule's name, for bounding evidence (one per author and rule).
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::NeverMember => "never-member",
            Refusal::NotAMember => "not-a-member",
            Refusal::Equivocator => "equivocator",
            Refusal::SecondGenesis => "second-genesis",
            Refusal::Lacks(_) => "lacks-power",
            Refusal::Unmanaged(_) => "unmanaged-role",
            Refusal::UnknownRole(_) => "unknown-role",
            Refusal::NoSuchMember(_) => "no-such-member",
            Refusal::AlreadySo => "already-so",
            Refusal::NotHolder(_) => "not-holder",
            Refusal::SelfRemoval => "self-removal",
            Refusal::WeakKey => "weak-key",
            Refusal::CannotAssignTo(_) => "cannot-assign-to",
            Refusal::UnknownTask => "unknown-task",
            Refusal::TaskAlreadySo => "task-already-so",
            Refusal::CannotRead => "cannot-read",
            Refusal::NoReaders => "no-readers",
            Refusal::BadRules(_) => "bad-rules",
            Refusal::GrantsMore(_) => "grants-more",
            Refusal::RecoveryBeyondAuthor(_) => "recovery-beyond-author",
            Refusal::NarrowsUnmanaged(_) => "narrows-unmanaged",
            Refusal::StaleEpoch => "stale-epoch",
            Refusal::WrapsForNonMember(_) => "wraps-for-non-member",
            Refusal::MissesMember(_) => "misses-member",
            Refusal::RewrapMismatch => "rewrap-mismatch",
            Refusal::InviteUsed => "invite-used",
            Refusal::RewrapPredatesAdmission(_) => "rewrap-predates-admission",
            Refusal::BadKeyPackage => "bad-key-package",
            Refusal::GrantByNonHolder(_) => "grant-by-non-holder",
            Refusal::CutOff { .. } => "cut-off",
        }
    }
}

type Verdict = Result<(), Refusal>;

/// What `author` may do in `s`: the union of their roles, or every role
/// for the recovering member of a headless group ([`Recovery`]).
pub fn capability(s: &GroupState, author: &PublicKey) -> Result<Role, Refusal> {
    let Some(member) = s.members.get(author) else {
        return Err(if s.former.contains_key(author) {
            Refusal::NotAMember
        } else {
            Refusal::NeverMember
        });
    };
    let recovering = s.rules.recovery == Recovery::EarliestMember
        && s.headless()
        && s.earliest_member() == Some(*author);
    if recovering {
        return Ok(s.rules.everything());
    }
    Ok(s.rules.capability(&member.roles))
}

fn need(cap: &Role, power: Power) -> Verdict {
    if cap.powers.contains(&power) { Ok(()) } else { Err(Refusal::Lacks(power)) }
}

/// Judges message `m` against state `s`. Rekeys carried by
/// membership messages are judged apart, after the membership change.
pub fn authorize(s: &GroupState, m: &UnsignedMessage) -> Verdict {
    if matches!(m.body, Body::Genesis(_)) {
        return Err(Refusal::SecondGenesis);
    }
    let cap = capability(s, &m.author)?;
    match &m.body {
        Body::Genesis(_) => Err(Refusal::SecondGenesis),
        Body::Chat(_) => need(&cap, Power::Chat),
        Body::TaskCreate(t) => task_create(s, &cap, t),
        Body::TaskEdit(t) => task_edit(s, &cap, &m.author, t),
        Body::TaskAssign(t) => task_assign(s, &cap, t),
        Body::TaskComment(t) => {
            need(&cap, Power::Comment)?;
            let task = s.tasks.get(&t.task).ok_or(Refusal::UnknownTask)?;
            let reads = task.readable_by.iter().any(|r| cap.reads.contains(r));
            if reads { Ok(()) } else { Err(Refusal::CannotRead) }
        }
        Body::TaskClose(t) => task_open_close(s, &cap, &t.task, true),
        Body::TaskReopen(t) => task_open_close(s, &cap, &t.task, false),
        Body::RuleChange(r) => rule_change(s, &cap, &m.author, &r.rules),
        Body::RoleAssign(r) => role_assign(s, &cap, r),
        Body::RoleRevoke(r) => role_revoke(s, &cap, r),
        Body::MemberAdd(a) => member_add(s, &cap, &m.author, a),
        Body::MemberRemove(r) => member_remove(s, &cap, &m.author, r),
        Body::Leave => Ok(()),
        Body::Rekey(r) => {
            // Any member may heal an exposed epoch (`schedule::key_duty`).
            if s.epoch.exposed_to.is_empty() {
                need(&cap, Power::RotateKeys)?;
            }
            rekey(s, r, &BTreeSet::new())?;
            // A concurrent sibling of the current epoch is legal too: the
            // fold adopts whichever wins (`rekey_precedence`).
            if s.epoch.id == r.replaces || s.epoch.replaces == Some(r.replaces) {
                Ok(())
            } else {
                Err(Refusal::StaleEpoch)
            }
        }
        Body::KeyPackage(kp) => kp.validate(&s.group).map_err(|_| Refusal::BadKeyPackage),
        // A member says it holds no key of an epoch (`keys.md`, "Stranded
        // members"); a removed member's request is refused above.
        Body::KeyRequest(r) => r.key_package.validate(&s.group).map_err(|_| Refusal::BadKeyPackage),
        // An invitation is shared by a member who may invite; what it
        // admits is judged when someone redeems it (`MemberAdd`).
        Body::Invitation(_) => need(&cap, Power::Invite),
        // A pending join is shared, and declined, by members who may answer
        // it; only an admission (`MemberAdd`) changes the state.
        Body::JoinPending(_) | Body::JoinDeclined(_) => need(&cap, Power::Invite),
        // Any member who holds the current epoch may re-wrap it, to members
        // only; the fold checks it is the epoch's own secret
        // (`Fold::rewrap_in_context`).
        Body::EpochRewrap(r) => {
            rekey(s, &r.rekey, &BTreeSet::new())?;
            if r.epoch == s.epoch.id { Ok(()) } else { Err(Refusal::StaleEpoch) }
        }
        Body::RelayListChange(_) => need(&cap, Power::ChangeRelays),
        Body::RoleKeyGrant(g) => role_key_grant(s, &m.author, g),
        // Any member says where they can be reached.
        Body::Contact(_) => Ok(()),
        // Any member chooses the name it goes by.
        Body::Name(_) => Ok(()),
    }
}

fn readable_by(rules: &Rules, roles: &[String]) -> Verdict {
    if roles.is_empty() {
        return Err(Refusal::NoReaders);
    }
    match roles.iter().find(|r| !rules.roles.contains_key(*r)) {
        Some(r) => Err(Refusal::UnknownRole(r.clone())),
        None => Ok(()),
    }
}

/// Every assignee is a member holding a role in the author's `assign_to`.
fn assignees(s: &GroupState, cap: &Role, who: &[PublicKey]) -> Verdict {
    for a in who {
        let ok =
            s.members.get(a).is_some_and(|m| m.roles.iter().any(|r| cap.assign_to.contains(r)));
        if !ok {
            return Err(Refusal::CannotAssignTo(*a));
        }
    }
    Ok(())
}

fn task_create(s: &GroupState, cap: &Role, t: &TaskCreate) -> Verdict {
    need(cap, Power::CreateTask)?;
    readable_by(&s.rules, &t.readable_by)?;
    if !t.assignees.is_empty() {
        need(cap, Power::AssignTask)?;
    }
    assignees(s, cap, &t.assignees)
}

fn task_edit(s: &GroupState, cap: &Role, author: &PublicKey, t: &TaskEdit) -> Verdict {
    let task = s.tasks.get(&t.task).ok_or(Refusal::UnknownTask)?;
    let own = task.creator == *author && cap.powers.contains(&Power::CreateTask);
    if !own {
        need(cap, Power::EditTask)?;
    }
    readable_by(&s.rules, &t.readable_by)
}

fn task_assign(s: &GroupState, cap: &Role, t: &TaskAssign) -> Verdict {
    need(cap, Power::AssignTask)?;
    s.tasks.get(&t.task).ok_or(Refusal::UnknownTask)?;
    assignees(s, cap, &t.assign)
}

fn task_open_close(s: &GroupState, cap: &Role, task: &MessageId, close: bool) -> Verdict {
    need(cap, Power::CloseReopen)?;
    let task = s.tasks.get(task).ok_or(Refusal::UnknownTask)?;
    if task.open == close { Ok(()) } else { Err(Refusal::TaskAlreadySo) }
}

/// A rule change: the power, valid rules (the acyclic `manages` is part of
/// validity), and nothing granted beyond what the author holds, nor taken
/// from roles the author neither manages nor holds ([`Rules::change_within`]).
fn rule_change(s: &GroupState, cap: &Role, author: &PublicKey, bytes: &[u8]) -> Verdict {
    need(cap, Power::ChangeRules)?;
    let new = Rules::decode(bytes).map_err(Refusal::BadRules)?;
    let holds = s.members.get(author).map(|m| &m.roles);
    let none = BTreeSet::new();
    Ok(s.rules.change_within(&new, cap, holds.unwrap_or(&none))?)
}

fn manages(s: &GroupState, cap: &Role, role: &str) -> Verdict {
    if !s.rules.roles.contains_key(role) {
        return Err(Refusal::UnknownRole(role.into()));
    }
    if cap.manages.contains(role) { Ok(()) } else { Err(Refusal::Unmanaged(role.into())) }
}

fn role_assign(s: &GroupState, cap: &Role, r: &RoleAssign) -> Verdict {
    manages(s, cap, &r.role)?;
    let member = s.members.get(&r.member).ok_or(Refusal::NoSuchMember(r.member))?;
    if member.roles.contains(&r.role) { Err(Refusal::AlreadySo) } else { Ok(()) }
}

fn role_revoke(s: &GroupState, cap: &Role, r: &RoleRevoke) -> Verdict {
    manages(s, cap, &r.role)?;
    let member = s.members.get(&r.member).ok_or(Refusal::NoSuchMember(r.member))?;
    if member.roles.contains(&r.role) { Ok(()) } else { Err(Refusal::NotHolder(r.role.clone())) }
}

fn member_add(s: &GroupState, cap: &Role, author: &PublicKey, a: &MemberAdd) -> Verdict {
    need(cap, Power::Invite)?;
    if s.members.contains_key(&a.member) || a.member == *author {
        return Err(Refusal::AlreadySo);
    }
    a.member.check_strong().map_err(|_| Refusal::WeakKey)?;
    for role in &a.roles {
        if s.rules.newcomer.as_deref() != Some(role.as_str()) {
            manages(s, cap, role)?;
        }
    }
    if a.invite.is_some_and(|id| s.used_invites.contains(&id)) {
        return Err(Refusal::InviteUsed);
    }
    Ok(())
}

fn member_remove(s: &GroupState, cap: &Role, author: &PublicKey, r: &MemberRemove) -> Verdict {
    need(cap, Power::Remove)?;
    if r.member == *author {
        return Err(Refusal::SelfRemoval);
    }
    let target = s.members.get(&r.member).ok_or(Refusal::NoSuchMember(r.member))?;
    // One may remove only members whose every role one manages or holds
    // oneself (peers may remove each other; `manages` is acyclic, so it
    // alone would leave the holders of a top role irremovable).
    let held = &s.members.get(author).map(|m| m.roles.clone()).unwrap_or_default();
    let reach = |role: &&String| cap.manages.contains(*role) || held.contains(*role);
    match target.roles.iter().find(|role| !reach(role)) {
        Some(role) => Err(Refusal::Unmanaged(role.clone())),
        None => Ok(()),
    }
}

/// A role-key grant: the author holds the role's key now, by holding or
/// reading the role (`keys.md`, "Who holds which key"; the recovering
/// member of a headless group reads every role but holds no key it was not
/// given), and no wrap is for a non-member's key package.
fn role_key_grant(s: &GroupState, author: &PublicKey, g: &RoleKeyGrant) -> Verdict {
    // A member holds a role's key when it holds the role or reads it.
    if !super::has_key_of(s, author, &g.role) {
        return Err(Refusal::GrantByNonHolder(g.role.clone()));
    }
    for to in g.recipients() {
        if let Some(owner) = recipient_owner(s, to)
            && !s.members.contains_key(&owner)
        {
            return Err(Refusal::WrapsForNonMember(owner));
        }
    }
    Ok(())
}

/// The recipients of a rekey must not include a key package of anyone who
/// is not a member (after the carrying message's own change: `leaving` are
/// the members it removes). Ids that match no key package are dummies.
pub(crate) fn rekey(s: &GroupState, r: &Rekey, leaving: &BTreeSet<PublicKey>) -> Verdict {
    for to in r.recipients() {
        if let Some(owner) = recipient_owner(s, to)
            && (!s.members.contains_key(&owner) || leaving.contains(&owner))
        {
            return Err(Refusal::WrapsForNonMember(owner));
        }
    }
    Ok(())
}

fn recipient_owner(s: &GroupState, to: &KeyPackageId) -> Option<PublicKey> {
    s.key_packages.get(to).copied()
}

/// The rekey a membership message carries, and who it must exclude.
pub(crate) fn carried_rekey(m: &UnsignedMessage) -> Option<(&Rekey, BTreeSet<PublicKey>)> {
    match &m.body {
        Body::MemberAdd(a) => a.rekey.as_ref().map(|r| (r, BTreeSet::new())),
        Body::MemberRemove(r) => r.rekey.as_ref().map(|k| (k, BTreeSet::from([r.member]))),
        Body::RoleRevoke(r) => r.rekey.as_ref().map(|k| (k, BTreeSet::new())),
        _ => None,
    }
}
