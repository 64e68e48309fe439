//! Message bodies: what a message does.
//!
//! postcard encodes the variant as a varint index in declaration order, so
//! the order below is part of the wire format (`protocol-spec/wire.md`,
//! `protocol-spec/group.md`). New bodies are appended; an index this
//! software does not know is a decoding error. What a body may do is
//! decided by the group state machine ([`crate::group`]); the limits here
//! are only the ones the encoding alone cannot express.

use serde::{Deserialize, Serialize};

use super::{EpochId, MessageId};
use crate::crypto::PublicKey;
use crate::epoch::{KeyPackage, Rekey, RoleKeyGrant};

/// The longest group name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The longest member name ([`Name`]), in bytes.
pub const MAX_MEMBER_NAME_LEN: usize = 64;
/// The longest chat text, in bytes.
pub const MAX_CHAT_LEN: usize = 16 * 1024;
/// The largest encoded rules (genesis and rule change), in bytes.
pub const MAX_RULES_BYTES: usize = 16 * 1024;
/// The largest sealed content layer, in bytes.
pub const MAX_SEALED_LEN: usize = 64 * 1024;
/// At most this many role names in one list (readable-by, roles given).
pub const MAX_ROLE_LIST: usize = 32;
/// The longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 32;
/// At most this many members named in one list (assignees).
pub const MAX_MEMBER_LIST: usize = 64;
/// At most this many relays in a relay list.
pub const MAX_RELAYS: usize = 16;
/// The longest relay address, in bytes.
pub const MAX_RELAY_LEN: usize = 256;

/// What a message does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Index 0: the first message of a group.
    Genesis(Genesis),
    /// Index 1: a chat line.
    Chat(Chat),
    /// Index 2: a new task (its id is this message's id).
    TaskCreate(TaskCreate),
    /// Index 3: new content and readable-by roles for a task.
    TaskEdit(TaskEdit),
    /// Index 4: assign and unassign members.
    TaskAssign(TaskAssign),
    /// Index 5: a comment in the task's thread.
    TaskComment(TaskComment),
    /// Index 6: close an open task.
    TaskClose(TaskRef),
    /// Index 7: reopen a closed task.
    TaskReopen(TaskRef),
    /// Index 8: replace the rules.
    RuleChange(RuleChange),
    /// Index 9: give a member a role.
    RoleAssign(RoleAssign),
    /// Index 10: take a role from a member.
    RoleRevoke(RoleRevoke),
    /// Index 11: admit a member (through an invitation).
    MemberAdd(MemberAdd),
    /// Index 12: remove a member.
    MemberRemove(MemberRemove),
    /// Index 13: the author leaves.
    Leave,
    /// Index 14: a new epoch ([`crate::epoch::Rekey`]).
    Rekey(Rekey),
    /// Index 15: the author's fresh x25519 key for the next epoch.
    KeyPackage(KeyPackage),
    /// Index 16: replace the relay list.
    RelayListChange(RelayListChange),
    /// Index 17: a holder of a role delivers its key of one epoch to other
    /// holders ([`crate::epoch::RoleKeyGrant`]; `protocol-spec/keys.md`,
    /// "Member side").
    RoleKeyGrant(RoleKeyGrant),
    /// Index 18: how other members reach the author directly: the public
    /// key of the author's onion service (`protocol-spec/group.md`,
    /// "Contact"). Signed in the chain, so a relay cannot swap it.
    Contact(Contact),
    /// Index 19: the name the author goes by in this group
    /// (`protocol-spec/group.md`, "Names"). Self-chosen: it says nothing
    /// about who anyone is; keys do.
    Name(Name),
    /// Index 20: the author, a member, holds no key of the epoch it names
    /// (a missed rekey, a lost key-package secret, a profile restored from
    /// the recovery string, a wrap that does not open) and hands over a
    /// fresh key package for it (`protocol-spec/keys.md`, "Stranded
    /// members"). The key package is announced as by index 15.
    KeyRequest(KeyRequest),
    /// Index 21: the secret of the current epoch again, wrapped to the key
    /// packages of members who asked for it ([`KeyRequest`]): the same
    /// `replaces` and confirmation as the rekey that made the epoch.
    EpochRewrap(EpochRewrap),
    /// Index 22: an invitation shared with the members who may answer it
    /// ([`Invitation`]).
    Invitation(Invitation),
    /// Index 23: a join request held open at the author's service, shown to
    /// every member who may answer it ([`JoinPending`]).
    JoinPending(JoinPending),
    /// Index 24: the author declined a pending join ([`JoinDeclined`]).
    JoinDeclined(JoinDeclined),
}

/// A member holds no key of `epoch`: re-wrap it to `key_package`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRequest {
    /// The epoch whose secret the author lacks (the current one when it
    /// wrote).
    pub epoch: EpochId,
    /// A fresh key package of the author, announced by this message.
    pub key_package: KeyPackage,
}

/// The secret of epoch `epoch`, re-wrapped: `rekey` has the `replaces` and
/// the confirmation of the rekey carried by message `epoch`, and wraps (to
/// stranded members' key packages) the same secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRewrap {
    /// The epoch (the id of the message whose rekey created it).
    pub epoch: EpochId,
    /// Its secret, wrapped again.
    pub rekey: Rekey,
}

/// The first message of a group: its name and its rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Human-readable group name (at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// The canonical encoding of the group's rules
    /// ([`crate::group::Rules::encode`]).
    #[serde(with = "serde_bytes")]
    pub rules: Vec<u8>,
}

/// A chat line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// The text (at most [`MAX_CHAT_LEN`] bytes).
    pub text: String,
    /// The message this one answers, if any.
    pub reply_to: Option<MessageId>,
}

/// A content layer sealed to role keys: opaque here. A sealed layer that
/// does not open never makes a message invalid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// A new task. Group layer: readable-by roles and assignees; content layer
/// (title, description, labels, due date): `content`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreate {
    /// Roles whose holders may read the content layer.
    pub readable_by: Vec<String>,
    /// Members the task is assigned to.
    pub assignees: Vec<PublicKey>,
    /// The sealed content layer.
    pub content: Sealed,
}

/// New content (and readable-by roles) for a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEdit {
    /// The task (its create message's id).
    pub task: MessageId,
    /// The roles that may read it from now on.
    pub readable_by: Vec<String>,
    /// The new sealed content layer.
    pub content: Sealed,
}

/// Changes to a task's assignees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssign {
    /// The task.
    pub task: MessageId,
    /// Members to add.
    pub assign: Vec<PublicKey>,
    /// Members to take off.
    pub unassign: Vec<PublicKey>,
}

/// A comment in a task's thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskComment {
    /// The task.
    pub task: MessageId,
    /// The comment this one answers, if any.
    pub reply_to: Option<MessageId>,
    /// The sealed comment text.
    pub content: Sealed,
}

/// Names a task (close, reopen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    /// The task.
    pub task: MessageId,
}

/// New rules for the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChange {
    /// The canonical encoding of the new rules.
    #[serde(with = "serde_bytes")]
    pub rules: Vec<u8>,
}

/// Gives `member` the role `role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssign {
    /// The member.
    pub member: PublicKey,
    /// The role.
    pub role: String,
}

/// Takes `role` from `member`, with the rekey that keeps them out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRevoke {
    /// The member.
    pub member: PublicKey,
    /// The role.
    pub role: String,
    /// The rekey carried with the revocation, if any.
    pub rekey: Option<Rekey>,
}

/// Admits a member with roles, and the rekey that lets them in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAdd {
    /// The new member's identity key.
    pub member: PublicKey,
    /// The roles they start with.
    pub roles: Vec<String>,
    /// The rekey carried with the admission, if any.
    pub rekey: Option<Rekey>,
    /// The invitation it redeems ([`Invitation`]), if any: an invitation
    /// admits once (`protocol-spec/peer.md`, "Invitations"). Encoded as
    /// every other 32-byte field of a message (`20` ‖ 32 bytes), not as a
    /// bare array.
    #[serde(with = "serde_bytes")]
    pub invite: Option<InviteId>,
}

/// The public id of an invitation: `BLAKE3-derive_key("cairn 2026 invite v1
/// id", secret)` (`crate::invite::Invite::id`).
pub type InviteId = [u8; 32];

/// An invitation shared with the members who may answer it, so that a
/// join does not need the inviter online (`protocol-spec/peer.md`,
/// "Invitations"): its id, and its secret, expiry, roles and approval mode
/// sealed to every role with the invite power the author holds a key of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The invitation's id.
    #[serde(with = "serde_bytes")]
    pub id: InviteId,
    /// [`crate::invite::InvitationContent`], role-sealed.
    pub content: Sealed,
}

/// A join request that waits for a person's approval at the author's
/// service (the session with the redeemer is there), shared so that every
/// member who may answer it sees it and can admit or decline it
/// (`protocol-spec/peer.md`, "Pending joins").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPending {
    /// The invitation the request redeems.
    #[serde(with = "serde_bytes")]
    pub invite: InviteId,
    /// [`crate::invite::PendingJoinContent`], role-sealed like the
    /// invitation.
    pub content: Sealed,
}

/// A member who may answer a pending join declined it: the member holding
/// the session refuses the redeemer (`protocol-spec/peer.md`, "Pending
/// joins").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinDeclined {
    /// The invitation the request redeemed.
    #[serde(with = "serde_bytes")]
    pub invite: InviteId,
    /// The redeemer's identity key.
    pub member: PublicKey,
}

/// Removes a member, with the rekey that shuts them out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRemove {
    /// The member.
    pub member: PublicKey,
    /// The rekey carried with the removal, if any.
    pub rekey: Option<Rekey>,
}

/// The relays the group uses from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayListChange {
    /// Relay addresses.
    pub relays: Vec<String>,
}

/// The author's peer onion service, for resync and direct delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The ed25519 public key of the author's onion service (its v3 onion
    /// address is computed from it).
    pub onion: PublicKey,
}

/// The name a member goes by in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    /// At most [`MAX_MEMBER_NAME_LEN`] bytes, no [`forbidden_in_name`]
    /// character.
    pub name: String,
}

/// Whether a member name may not hold `c` (`protocol-spec/group.md`,
/// "Names"): a control character (general category Cc: U+0000–U+001F,
/// U+007F–U+009F, the same in every Unicode version) or a bidirectional
/// formatting character (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069), which would let a name reorder what is shown around it.
/// Listed by code point, so every implementation judges alike whatever
/// Unicode tables it has.
pub fn forbidden_in_name(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

fn within<T>(items: &[T], max: usize, what: &'static str) -> Result<(), &'static str> {
    if items.len() > max { Err(what) } else { Ok(()) }
}

fn roles_within(roles: &[String]) -> Result<(), &'static str> {
    within(roles, MAX_ROLE_LIST, "too many roles")?;
    if roles.iter().any(|r| r.len() > MAX_ROLE_LEN) {
        return Err("role name too long");
    }
    Ok(())
}

fn sealed_within(s: &Sealed) -> Result<(), &'static str> {
    if s.0.len() > MAX_SEALED_LEN { Err("sealed content too long") } else { Ok(()) }
}

fn rekey_within(r: Option<&Rekey>) -> Result<(), &'static str> {
    r.map_or(Ok(()), Rekey::check_shape)
}

impl Body {
    /// The key package this body announces for its author: a
    /// `KeyPackage`, or the fresh one of a `KeyRequest`.
    pub fn announced_key_package(&self) -> Option<&KeyPackage> {
        match self {
            Body::KeyPackage(kp) => Some(kp),
            Body::KeyRequest(r) => Some(&r.key_package),
            _ => None,
        }
    }

    /// Checks limits that the encoding alone does not express; `Err` names
    /// the field.
    pub fn check_limits(&self) -> Result<(), &'static str> {
        match self {
            Body::Genesis(g) if g.name.len() > MAX_NAME_LEN => Err("genesis name too long"),
            Body::Genesis(g) if g.rules.len() > MAX_RULES_BYTES => Err("rules too long"),
            Body::Chat(c) if c.text.len() > MAX_CHAT_LEN => Err("chat text too long"),
            Body::Name(n) if n.name.len() > MAX_MEMBER_NAME_LEN => Err("member name too long"),
            Body::Name(n) if n.name.chars().any(forbidden_in_name) => {
                Err("control character in a member name")
            }
            Body::TaskCreate(t) => {
                roles_within(&t.readable_by)?;
                within(&t.assignees, MAX_MEMBER_LIST, "too many assignees")?;
                sealed_within(&t.content)
            }
            Body::TaskEdit(t) => {
                roles_within(&t.readable_by)?;
                sealed_within(&t.content)
            }
            Body::TaskAssign(t) => {
                within(&t.assign, MAX_MEMBER_LIST, "too many assignees")?;
                within(&t.unassign, MAX_MEMBER_LIST, "too many assignees")
            }
            Body::TaskComment(t) => sealed_within(&t.content),
            Body::RuleChange(r) if r.rules.len() > MAX_RULES_BYTES => Err("rules too long"),
            Body::RoleAssign(r) => roles_within(std::slice::from_ref(&r.role)),
            Body::RoleRevoke(r) => {
                roles_within(std::slice::from_ref(&r.role))?;
                rekey_within(r.rekey.as_ref())
            }
            Body::MemberAdd(m) => {
                roles_within(&m.roles)?;
                rekey_within(m.rekey.as_ref())
            }
            Body::MemberRemove(m) => rekey_within(m.rekey.as_ref()),
            Body::Rekey(r) => rekey_within(Some(r)),
            Body::EpochRewrap(r) => rekey_within(Some(&r.rekey)),
            Body::Invitation(i) => sealed_within(&i.content),
            Body::JoinPending(j) => sealed_within(&j.content),
            Body::RoleKeyGrant(g) => g.check_shape(),
            Body::RelayListChange(r) => {
                within(&r.relays, MAX_RELAYS, "too many relays")?;
                let long = r.relays.iter().any(|a| a.len() > MAX_RELAY_LEN);
                if long { Err("relay address too long") } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::{SigningKey, XofRng};
    use crate::wire::{GroupId, decode_canonical, encode};

    fn key() -> PublicKey {
        SigningKey::random(&mut XofRng::from_seed(b"body")).public()
    }

    fn every_new_body() -> Vec<Body> {
        let task = MessageId([3; 32]);
        let content = Sealed(vec![9; 40]);
        vec![
            Body::TaskCreate(TaskCreate {
                readable_by: vec!["member".into()],
                assignees: vec![key()],
                content: content.clone(),
            }),
            Body::TaskEdit(TaskEdit { task, readable_by: vec![], content: content.clone() }),
            Body::TaskAssign(TaskAssign { task, assign: vec![key()], unassign: vec![] }),
            Body::TaskComment(TaskComment { task, reply_to: Some(task), content }),
            Body::TaskClose(TaskRef { task }),
            Body::TaskReopen(TaskRef { task }),
            Body::RuleChange(RuleChange { rules: vec![1, 2, 3] }),
            Body::RoleAssign(RoleAssign { member: key(), role: "member".into() }),
            Body::RoleRevoke(RoleRevoke { member: key(), role: "member".into(), rekey: None }),
            Body::MemberAdd(MemberAdd { member: key(), roles: vec![], rekey: None, invite: None }),
            Body::MemberRemove(MemberRemove { member: key(), rekey: None }),
            Body::Leave,
            Body::KeyPackage(KeyPackage { group: GroupId([1; 32]), x25519: [9; 32] }),
            Body::RelayListChange(RelayListChange { relays: vec!["r.onion".into()] }),
            Body::RoleKeyGrant(RoleKeyGrant {
                role: "member".into(),
                epoch: crate::wire::EpochId([4; 32]),
                wraps: vec![],
                confirmation: [5; 32],
            }),
            Body::Contact(Contact { onion: key() }),
            Body::Name(Name { name: "alice".into() }),
        ]
    }

    #[test]
    fn new_bodies_round_trip_with_appended_indexes() {
        for (i, body) in every_new_body().into_iter().enumerate() {
            let bytes = encode(&body);
            // Indexes 0 and 1 stay Genesis and Chat; Rekey (14) is skipped here.
            let index = if i < 12 { i + 2 } else { i + 3 };
            if matches!(body, Body::RoleKeyGrant(_)) {
                assert!(body.check_limits().is_err(), "an empty grant breaks the shape rules");
                assert_eq!(usize::from(bytes[0]), 17);
                assert_eq!(decode_canonical::<Body>(&bytes, 1 << 20), Ok(body.clone()));
                continue;
            }
            assert_eq!(usize::from(bytes[0]), index, "{body:?}");
            assert_eq!(decode_canonical::<Body>(&bytes, 1 << 20), Ok(body.clone()));
            assert_eq!(body.check_limits(), Ok(()));
        }
    }

    #[test]
    fn member_names_are_short_and_free_of_controls() {
        let name = |n: &str| Body::Name(Name { name: n.into() });
        assert_eq!(name(&"é".repeat(MAX_MEMBER_NAME_LEN / 2)).check_limits(), Ok(()));
        let long = "x".repeat(MAX_MEMBER_NAME_LEN + 1);
        assert_eq!(name(&long).check_limits(), Err("member name too long"));
        let escape = name("bob\x1b[2J");
        assert_eq!(escape.check_limits(), Err("control character in a member name"));
        assert_eq!(name("two\nlines").check_limits(), Err("control character in a member name"));
        for c in
            ['\u{0}', '\u{7f}', '\u{85}', '\u{9f}', '\u{61c}', '\u{200f}', '\u{202e}', '\u{2069}']
        {
            let bad = format!("a{c}b");
            assert_eq!(
                name(&bad).check_limits(),
                Err("control character in a member name"),
                "{c:?}"
            );
        }
        // Other format characters (a zero-width joiner in an emoji) stay.
        for ok in ["\u{200d}", "\u{a0}", "\u{2065}", "\u{202f}"] {
            assert_eq!(name(&format!("a{ok}b")).check_limits(), Ok(()), "{ok:?}");
        }
        // Exactly the Cc category, as Rust's table has it, plus the list.
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let bidi =
                matches!(c as u32, 0x61c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069);
            assert_eq!(forbidden_in_name(c), c.is_control() || bidi, "{c:?}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long = "x".repeat(MAX_ROLE_LEN + 1);
        let b = Body::RoleAssign(RoleAssign { member: key(), role: long });
        assert_eq!(b.check_limits(), Err("role name too long"));
        let b = Body::TaskComment(TaskComment {
            task: MessageId([0; 32]),
            reply_to: None,
            content: Sealed(vec![0; MAX_SEALED_LEN + 1]),
        });
        assert_eq!(b.check_limits(), Err("sealed content too long"));
        let relays = vec![String::new(); MAX_RELAYS + 1];
        assert_eq!(
            Body::RelayListChange(RelayListChange { relays }).check_limits(),
            Err("too many relays")
        );
        let rules = vec![0; MAX_RULES_BYTES + 1];
        assert_eq!(Body::RuleChange(RuleChange { rules }).check_limits(), Err("rules too long"));
    }
}
