//! The member side of keys: turns the fold's decisions into key material
//! (`protocol-spec/keys.md`, "Member side").
//!
//! The fold ([`super::Fold`]) decides *who* is a member, who holds which
//! role, which rekey wins and whose key package is whose; [`crate::epoch`]
//! has the primitives. [`MemberKeys`] is one member's key handling for one
//! group: it owns the member's [`KeyRing`] and, fed every message the fold
//! applied ([`MemberKeys::observe`]), opens the rekeys and grants addressed
//! to it, ratchets its role keys, retires what is superseded and tells the
//! node what to post ([`KeyEvent`], [`MemberKeys::take_due_grants`]). It
//! builds rekeys as a rotator ([`MemberKeys::build_rekey`]) and seals and
//! opens the content layer of tasks ([`MemberKeys::seal_task_content`],
//! [`MemberKeys::open_task_content`]). Persistence, with real erasure, is
//! in `keys/store.rs` ([`MemberKeys::save`], [`MemberKeys::load`]).
//!
//! Sans-IO: time is `now` (seconds on the local clock), randomness `rng`.
//! Nothing here changes the group state: a content layer or a wrap that does
//! not open is an event or an error value, never a verdict.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRng;

use super::fold::Verdict;
use super::schedule::{REWRAP_MAX_WAIT_SECS, REWRAP_STEP_SECS};
use super::state::GroupState;
use super::task::TaskContent;
use crate::crypto::{PublicKey, context, derive_key};
use crate::epoch::{
    EpochSecret, Erased, KeyPackage, KeyPackageId, KeyRef, KeyRing, Rekey, RekeyError, RoleKey,
    RoleKeyGrant, SealError, SealedContent,
};
use crate::wire::{
    Body, DecodeError, EpochId, EpochRewrap, GroupId, KeyRequest, MessageId, Sealed,
    UnsignedMessage,
};

mod store;
mod stranded;

pub use store::label as key_secret_label;

pub use store::KeyStoreError;

/// Something the member's node should know or do about keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyEvent {
    /// A rekey to this member opened: it holds the new epoch's secret and
    /// its role keys ratcheted. `missing_roles`: roles held without a key
    /// in the new epoch (a grant will bring them).
    EpochEntered {
        /// The new epoch.
        epoch: EpochId,
        /// Roles held that have no key in it yet.
        missing_roles: Vec<String>,
    },
    /// A rekey wraps to this member's key package but does not open, or its
    /// secret fails the confirmation hash. The member should post a fresh
    /// key package ([`MemberKeys::new_key_package`]) so that any member can
    /// heal (`keys.md`, "Key packages").
    RekeyDoesNotOpen {
        /// The epoch the rekey creates.
        epoch: EpochId,
        /// Why (`WrapDoesNotOpen`, `ConfirmationMismatch`, `Malformed`).
        error: RekeyError,
    },
    /// The rekey that created the current epoch has no wrap for this
    /// member, who is a member: it is locked out until someone heals.
    NotARecipient {
        /// The epoch.
        epoch: EpochId,
    },
    /// A rekey used this member's key package: publish a new one (one use).
    KeyPackageUsed {
        /// The key package used.
        id: KeyPackageId,
    },
    /// A role-key grant to this member opened.
    RoleKeyReceived {
        /// The role.
        role: String,
        /// The epoch of the key.
        epoch: EpochId,
    },
    /// A role-key grant to this member does not open (or a lying granter:
    /// `ConfirmationMismatch`).
    GrantDoesNotOpen {
        /// The role.
        role: String,
        /// The epoch of the key.
        epoch: EpochId,
        /// Why.
        error: RekeyError,
    },
    /// This member made a fresh key for `role` in `epoch` (the key it would
    /// have ratcheted from is known to a member the role was revoked from);
    /// grants to the other holders are due ([`MemberKeys::take_due_grants`]).
    RoleKeyReplaced {
        /// The role.
        role: String,
        /// The epoch of the new key.
        epoch: EpochId,
    },
    /// A grant of `role`'s key in `epoch` delivers another key than the one
    /// this member holds (checked with the grant's confirmation hash, for
    /// every grant of a key it holds, addressed to it or not). The held key
    /// is kept; the granter lied or made a key of its own.
    GrantMismatch {
        /// The member who posted the grant.
        granter: PublicKey,
        /// The role.
        role: String,
        /// The epoch of the key.
        epoch: EpochId,
    },
    /// The key of `role` in the current epoch `epoch` is known to a member
    /// the role was revoked from, and no fresh key replaced it (the
    /// revocation's own rekey was not adopted). Nothing is sealed to `role`
    /// until a rekey brings a fresh key: the member [`rotator`] names posts
    /// one ([`crate::replica::Replica::key_actions`]).
    RoleKeyExposed {
        /// The role.
        role: String,
        /// The current epoch.
        epoch: EpochId,
    },
}

/// Why a key operation of [`MemberKeys`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// This member holds no key of `role` in `epoch`.
    #[error("no key of role {role:?} in epoch {epoch:?}")]
    NoRoleKey {
        /// The role.
        role: String,
        /// The epoch.
        epoch: EpochId,
    },
    /// The key of `role` in `epoch` is known to a member the role was
    /// revoked from: wait for the fresh key of the next epoch.
    #[error("the key of role {role:?} in epoch {epoch:?} is known to a revoked member")]
    RoleKeyExposed {
        /// The role.
        role: String,
        /// The epoch.
        epoch: EpochId,
    },
    /// This member holds no secret of `epoch` (or it has no rekey to
    /// re-wrap: the first epoch).
    #[error("no secret of epoch {0:?} to re-wrap")]
    NoEpochSecret(EpochId),
    /// Sealing or opening role-sealed content failed.
    #[error("sealed content: {0}")]
    Seal(#[from] SealError),
    /// Building a rekey or grant failed.
    #[error("rekey or grant: {0}")]
    Rekey(#[from] RekeyError),
    /// The sealed bytes or the opened content do not decode.
    #[error("content does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// The binding of a content layer (`keys.md`, "Member side"):
/// `BLAKE3-derive_key(CONTENT_BINDING, group ‖ author ‖ u64le(seq))` of the
/// message that first carries it. A task's content (create and every edit)
/// is bound to its create message's author and seq ([`task_binding`]); a
/// comment to its own message's. Known before the message is signed.
pub fn content_binding(group: &GroupId, author: &PublicKey, seq: u64) -> [u8; 32] {
    let material = [&group.0[..], &author.0, &seq.to_le_bytes()].concat();
    *derive_key(context::CONTENT_BINDING, &material)
}

/// The binding of a task's content: [`content_binding`] of its create
/// message (`create` is that message).
pub fn task_binding(create: &UnsignedMessage) -> [u8; 32] {
    content_binding(&create.group, &create.author, create.seq)
}

/// The rekey a message carries, plain or carried by a membership message.
/// Which roles are not ratcheted does not depend on it: that follows the
/// applied revocations ([`MemberKeys::fence`]), whichever rekey won.
fn carried(m: &UnsignedMessage) -> Option<&Rekey> {
    match &m.body {
        Body::Rekey(r) => Some(r),
        Body::MemberAdd(a) => a.rekey.as_ref(),
        Body::MemberRemove(x) => x.rekey.as_ref(),
        Body::RoleRevoke(x) => x.rekey.as_ref(),
        _ => None,
    }
}

/// A role key slot: (role, epoch).
type Slot = (String, EpochId);

/// One member's key handling for one group.
pub struct MemberKeys {
    me: PublicKey,
    ring: KeyRing,
    /// This member's key packages, oldest first (ids and public halves).
    own: Vec<(KeyPackageId, KeyPackage)>,
    /// Every key package announced in the group (public), by id.
    packages: BTreeMap<KeyPackageId, KeyPackage>,
    /// Secrets of rekeys this member built, by confirmation hash, until the
    /// carrying message is applied. Not persisted: the node applies its own
    /// message before it saves.
    built: BTreeMap<[u8; 32], EpochSecret>,
    /// Key messages (rekeys, grants) already handled.
    handled: BTreeSet<MessageId>,
    /// (role, member): grants this member owes.
    due: BTreeSet<(String, PublicKey)>,
    /// (role, member) → when it was owed: grants the role's designated
    /// holder owes, which this member (another holder) posts if no grant to
    /// that member is applied by its turn ([`MemberKeys::promote_backup_grants`]):
    /// a designated holder offline must not keep a newcomer from a role's
    /// key. Not persisted: after a restart only newly owed grants are
    /// backed up.
    backup: BTreeMap<(String, PublicKey), u64>,
    /// Role keys a member the role was revoked from held or could derive:
    /// never ratcheted from, never sealed under (`keys.md`, "Replacement").
    exposed: BTreeSet<Slot>,
    /// Role keys a grant by the role's key holder ([`key_holder`]) may
    /// replace: a key this member drew as a first holder, or an exposed one.
    /// Any other held key is never replaced by a grant.
    provisional: BTreeSet<Slot>,
    /// Revocations already fenced ([`MemberKeys::fence`]), so that a
    /// changed verdict does not fence again (fresh keys drawn since then are
    /// not known to the revoked member).
    fenced: BTreeSet<MessageId>,
    /// Members who asked for the current epoch's secret ([`KeyRequest`]),
    /// until a re-wrap to them is applied or the epoch moves on. Not
    /// persisted: a member still stranded asks again.
    requests: BTreeMap<PublicKey, Request>,
    /// When this member last asked for an epoch it lacks (not persisted).
    asked: Option<(EpochId, u64)>,
    /// The epoch each re-wrap this member built is written in, by the key
    /// package it is for: the one its request came in (not persisted).
    replies: BTreeMap<KeyPackageId, EpochId>,
    /// Every member's key roles ([`key_roles`]) as last observed: what a
    /// governance message's effect on who holds which role key is judged
    /// against. Not persisted: [`MemberKeys::baseline`] sets it from the
    /// state a replica opens with.
    access: BTreeMap<PublicKey, BTreeSet<String>>,
}

/// A member's request for the current epoch's secret, as this member saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    epoch: EpochId,
    package: KeyPackageId,
    /// The epoch the request was written in: one the requester holds, so
    /// the re-wrap written in it reaches it through the relays too.
    reply_in: EpochId,
    /// When this member first saw it (its local clock).
    seen_at: u64,
}

/// How long a stranded member waits for a re-wrap before it asks again.
pub const REQUEST_AGAIN_SECS: u64 = 120;

impl core::fmt::Debug for MemberKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemberKeys").field("me", &self.me).finish_non_exhaustive()
    }
}

impl MemberKeys {
    /// The creator's keys: a random first epoch secret and a random key for
    /// each of `roles` (the founder role), as [`KeyRing::genesis`].
    pub fn genesis(
        rng: &mut (impl CryptoRng + ?Sized),
        me: PublicKey,
        group: GroupId,
        genesis: MessageId,
        roles: &[&str],
    ) -> Self {
        let ring = KeyRing::genesis(rng, group, EpochId(genesis.0), roles);
        Self::with_ring(me, ring)
    }

    /// The creator's keys under `rules`: the founder role's and those of
    /// every scope it reads (`keys.md`, "Who holds which key").
    pub fn founding(
        rng: &mut (impl CryptoRng + ?Sized),
        me: PublicKey,
        group: GroupId,
        genesis: MessageId,
        rules: &super::Rules,
    ) -> Self {
        let mut roles: Vec<&str> = vec![rules.founder.as_str()];
        if let Some(def) = rules.roles.get(&rules.founder) {
            let reads = def.reads.iter().filter(|r| rules.roles.contains_key(*r));
            roles.extend(reads.map(String::as_str).filter(|r| *r != rules.founder));
        }
        Self::genesis(rng, me, group, genesis, &roles)
    }

    /// A joiner's keys, and the key package to hand to the inviter (who
    /// wraps the admitting rekey to it). Publish it again after joining
    /// ([`MemberKeys::publish`]) so that grants can reach it.
    pub fn joining(
        rng: &mut (impl CryptoRng + ?Sized),
        me: PublicKey,
        group: GroupId,
    ) -> (Self, KeyPackage) {
        let mut keys = Self::with_ring(me, KeyRing::new(group));
        let kp = keys.generate_package(rng);
        (keys, kp)
    }

    fn with_ring(me: PublicKey, ring: KeyRing) -> Self {
        Self {
            me,
            ring,
            own: Vec::new(),
            packages: BTreeMap::new(),
            built: BTreeMap::new(),
            handled: BTreeSet::new(),
            due: BTreeSet::new(),
            backup: BTreeMap::new(),
            exposed: BTreeSet::new(),
            provisional: BTreeSet::new(),
            fenced: BTreeSet::new(),
            requests: BTreeMap::new(),
            asked: None,
            replies: BTreeMap::new(),
            access: BTreeMap::new(),
        }
    }

    /// The member these keys belong to.
    pub fn me(&self) -> &PublicKey {
        &self.me
    }

    /// The key ring (read only).
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    fn group(&self) -> GroupId {
        *self.ring.group()
    }

    fn generate_package(&mut self, rng: &mut (impl CryptoRng + ?Sized)) -> KeyPackage {
        let (kp, secret) = KeyPackage::generate(self.group(), rng);
        let id = KeyPackageId::owned_by(&self.me, &kp);
        self.ring.insert_key_package(id, secret);
        self.own.push((id, kp.clone()));
        kp
    }

    /// A fresh key package to publish: its secret is kept; the older ones
    /// are retired when this one is applied.
    pub fn new_key_package(&mut self, rng: &mut (impl CryptoRng + ?Sized)) -> Body {
        Body::KeyPackage(self.generate_package(rng))
    }

    /// The newest key package this member made, to publish again (a joiner
    /// publishes the one it gave its inviter).
    pub fn publish(&self) -> Option<Body> {
        self.own.last().map(|(_, kp)| Body::KeyPackage(kp.clone()))
    }

    /// Feeds one message the fold applied (`verdict` as the fold reported
    /// it; refused messages are ignored), with the state after it and the
    /// local time. Returns what the node should know.
    pub fn observe(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        id: MessageId,
        m: &UnsignedMessage,
        verdict: &Verdict,
        now: u64,
    ) -> Vec<KeyEvent> {
        let mut events = Vec::new();
        if verdict.applied() && !self.handled.contains(&id) {
            match &m.body {
                Body::KeyPackage(kp) => self.key_package(m, kp, now),
                Body::KeyRequest(r) => {
                    self.key_package(m, &r.key_package, now);
                    self.requested(state, m, r, now);
                }
                Body::EpochRewrap(r) => self.rewrapped(rng, state, id, r, now, &mut events),
                Body::RoleKeyGrant(g) => self.grant(state, id, &m.author, g, &mut events),
                _ => {}
            }
            if changes_access(&m.body) {
                self.track_access(state, id, now, &mut events);
            }
            if let Some(rekey) = carried(m)
                && !matches!(verdict, Verdict::RekeyDropped(_))
            {
                self.rekey(rng, state, id, rekey, now, &mut events);
            }
            self.first_holder(rng, state, m);
        }
        self.reconcile(state, now);
        events
    }

    /// A role given to this member that no one else holds has no key to
    /// grant: this member draws a fresh one for the current epoch.
    fn first_holder(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        m: &UnsignedMessage,
    ) {
        if !matches!(m.body, Body::RoleAssign(_) | Body::MemberAdd(_) | Body::RuleChange(_)) {
            return;
        }
        let epoch = state.epoch.id;
        for role in key_roles(state, &self.me) {
            let role = &role;
            let alone = designated_holder(state, role, &self.me).is_none();
            if alone && self.ring.role_key(role, &epoch).is_none() {
                self.ring.insert_role_key(role, epoch, RoleKey::random(rng));
                // A concurrent first assignment may have drawn another key:
                // the key holder's grant settles which one counts.
                self.provisional.insert((role.clone(), epoch));
            }
        }
    }

    /// Records that a grant of `role` is owed to `to` if this member is the
    /// designated holder ([`designated_holder`]), or backs it up if this
    /// member holds the role's key too.
    fn owe(&mut self, state: &GroupState, role: &str, to: PublicKey, now: u64) {
        match designated_holder(state, role, &to) {
            Some(d) if d == self.me => drop(self.due.insert((role.to_owned(), to))),
            Some(_) if has_key_of(state, &self.me, role) => {
                self.backup.entry((role.to_owned(), to)).or_insert(now);
            }
            _ => {}
        }
    }

    /// Moves to the owed grants the backed-up ones whose turn has come
    /// for this member: its place among the role's holders (other than the
    /// recipient, by admission, as [`designated_holder`]: the designated
    /// holder is place 0) times [`REWRAP_STEP_SECS`], at most
    /// [`REWRAP_MAX_WAIT_SECS`], after the grant was owed. Ones no longer
    /// owed (the recipient left or lost the role) are dropped.
    pub fn promote_backup_grants(&mut self, state: &GroupState, now: u64) {
        let me = self.me;
        let mut promoted = Vec::new();
        self.backup.retain(|(role, to), since| {
            if !has_key_of(state, to, role) || !has_key_of(state, &me, role) {
                return false;
            }
            let Some(place) = holder_place(state, role, to, &me) else { return false };
            let wait = (place as u64).saturating_mul(REWRAP_STEP_SECS).min(REWRAP_MAX_WAIT_SECS);
            let due = now >= since.saturating_add(wait);
            if due {
                promoted.push((role.clone(), *to));
            }
            !due
        });
        self.due.extend(promoted);
    }

    /// A grant of `role` to `members` was applied: nobody else owes it.
    fn granted(&mut self, role: &str, members: &[PublicKey]) {
        for who in members {
            // The designated holder's debt too, if a backup paid it.
            self.backup.remove(&(role.to_owned(), *who));
            self.due.remove(&(role.to_owned(), *who));
        }
    }

    fn key_package(&mut self, m: &UnsignedMessage, kp: &KeyPackage, now: u64) {
        let id = KeyPackageId::owned_by(&m.author, kp);
        self.packages.insert(id, kp.clone());
        if m.author != self.me {
            return;
        }
        // Ours is applied: every key package we made before it is retired.
        if let Some(at) = self.own.iter().position(|(k, _)| *k == id) {
            for (old, _) in &self.own[..at] {
                self.ring.retire_key_package(old, now);
            }
        }
    }

    /// A grant of a role key. A key already held is never replaced, except
    /// a provisional one by the role's key holder ([`key_holder`]); every
    /// grant of a held key is checked against it (`GrantMismatch`).
    fn grant(
        &mut self,
        state: &GroupState,
        id: MessageId,
        granter: &PublicKey,
        g: &RoleKeyGrant,
        events: &mut Vec<KeyEvent>,
    ) {
        self.handled.insert(id);
        let to: Vec<PublicKey> =
            g.recipients().filter_map(|kp| state.key_packages.get(kp).copied()).collect();
        self.granted(&g.role, &to);
        let group = self.group();
        let slot = (g.role.clone(), g.epoch);
        let provisional = self.provisional.contains(&slot);
        if let Some(held) = self.ring.role_key(&g.role, &g.epoch) {
            let canonical = key_holder(state, &g.role) == Some(*granter) && *granter != self.me;
            if g.confirms(&group, held) || (provisional && canonical) {
                if !g.confirms(&group, held) {
                    self.open_grant(g, events); // the key holder's key counts
                }
                return;
            }
            // A provisional key may differ honestly (a concurrent first
            // draw); the key holder's grant settles it. Anything else is a lie.
            if !provisional {
                let (role, epoch) = slot;
                events.push(KeyEvent::GrantMismatch { granter: *granter, role, epoch });
            }
            return;
        }
        self.open_grant(g, events);
    }

    /// Opens a grant addressed to one of this member's key packages and
    /// stores the key it delivers (no longer provisional nor exposed).
    fn open_grant(&mut self, g: &RoleKeyGrant, events: &mut Vec<KeyEvent>) {
        let group = self.group();
        let Some(kid) = g.recipients().find(|k| self.ring.key_package(k).is_some()).copied() else {
            return;
        };
        let Some(secret) = self.ring.key_package(&kid) else { return };
        match g.open(&group, &kid, secret) {
            Ok(key) => {
                self.ring.insert_role_key(&g.role, g.epoch, key);
                let slot = (g.role.clone(), g.epoch);
                self.provisional.remove(&slot);
                self.exposed.remove(&slot);
                events.push(KeyEvent::RoleKeyReceived { role: g.role.clone(), epoch: g.epoch });
            }
            Err(error) => events.push(KeyEvent::GrantDoesNotOpen {
                role: g.role.clone(),
                epoch: g.epoch,
                error,
            }),
        }
    }

    /// An applied revocation of `role` from `member`, who stays: every key
    /// of `role` this member holds, and the key of every epoch it knows,
    /// may be known to `member` (it held the role, and stays a recipient of
    /// every rekey), so none is ratcheted from or sealed under again. Keys
    /// drawn after the revocation reach this member only causally after it.
    fn fence(
        &mut self,
        state: &GroupState,
        id: MessageId,
        roles: &BTreeSet<String>,
        events: &mut Vec<KeyEvent>,
    ) {
        if !self.fenced.insert(id) {
            return;
        }
        let current = state.epoch.id;
        for role in roles {
            let mut epochs: BTreeSet<EpochId> = self.ring.epochs().copied().collect();
            for (r, _) in self.ring.held() {
                if let KeyRef::Role(r, e) = r
                    && r == *role
                {
                    epochs.insert(e);
                }
            }
            for e in epochs {
                self.exposed.insert((role.clone(), e));
                self.provisional.insert((role.clone(), e));
            }
            if self.ring.epoch_secret(&current).is_some() {
                events.push(KeyEvent::RoleKeyExposed { role: role.clone(), epoch: current });
            }
        }
    }

    /// The baseline of `MemberKeys::track_access`: every member's key
    /// roles in `state` (a replica's state when it opens).
    pub fn baseline(&mut self, state: &GroupState) {
        self.access = state.members.keys().map(|k| (*k, key_roles(state, k))).collect();
    }

    /// A governance message changed who holds which role key: a member
    /// who gains a role's key (assigned a role that holds or reads it,
    /// admitted with one, or a rule change makes a role of its read it) is
    /// owed it by the role's designated holder; a member who loses one and
    /// stays (a revocation, a rule change narrowing `reads`) knew it, so
    /// every key of that role this member holds is fenced as after a
    /// revocation (`keys.md`, "Who holds which key", "Replacement").
    fn track_access(
        &mut self,
        state: &GroupState,
        id: MessageId,
        now: u64,
        events: &mut Vec<KeyEvent>,
    ) {
        let after: BTreeMap<PublicKey, BTreeSet<String>> =
            state.members.keys().map(|k| (*k, key_roles(state, k))).collect();
        let before = std::mem::replace(&mut self.access, after);
        let mut gained = Vec::new();
        let mut lost = BTreeSet::new();
        for (who, roles) in &self.access {
            let had = before.get(who);
            for role in roles.iter().filter(|r| had.is_none_or(|h| !h.contains(*r))) {
                gained.push((role.clone(), *who));
            }
            if let Some(had) = had {
                lost.extend(had.difference(roles).cloned());
            }
        }
        for (role, who) in gained {
            self.owe(state, &role, who, now);
        }
        if !lost.is_empty() {
            self.fence(state, id, &lost, events);
        }
    }

    /// Opens a valid rekey (adopted or a losing sibling: keys of losing
    /// rekeys stay usable for reading) and moves into its epoch.
    fn rekey(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        id: MessageId,
        rekey: &Rekey,
        now: u64,
        events: &mut Vec<KeyEvent>,
    ) {
        self.handled.insert(id);
        self.enter(rng, state, EpochId(id.0), rekey, now, events);
    }

    /// An applied request of another member for the current epoch's secret
    /// (`keys.md`, "Stranded members"): if this member holds it, a re-wrap
    /// is owed (by whoever's turn it is, [`MemberKeys::rewraps_due`]), and
    /// the role keys of the current epoch are owed by their designated
    /// holders as to a new holder.
    fn requested(&mut self, state: &GroupState, m: &UnsignedMessage, r: &KeyRequest, now: u64) {
        let Some(member) = state.members.get(&m.author) else { return };
        if m.author == self.me
            || r.epoch != state.epoch.id
            || self.ring.epoch_secret(&r.epoch).is_none()
        {
            return;
        }
        let package = KeyPackageId::owned_by(&m.author, &r.key_package);
        let seen_at = self.requests.get(&m.author).map_or(now, |q| q.seen_at.min(now));
        let request = Request { epoch: r.epoch, package, reply_in: m.epoch, seen_at };
        self.requests.insert(m.author, request);
        let _ = member;
        for role in key_roles(state, &m.author) {
            self.owe(state, &role, m.author, now);
        }
    }

    /// An applied re-wrap: the requests it answers are no longer owed by
    /// anyone, and if it is for this member, who lacks the epoch, it enters
    /// the epoch as from the rekey that made it.
    fn rewrapped(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        id: MessageId,
        rw: &EpochRewrap,
        now: u64,
        events: &mut Vec<KeyEvent>,
    ) {
        let to: BTreeSet<&KeyPackageId> = rw.rekey.recipients().collect();
        self.requests.retain(|_, q| !(q.epoch == rw.epoch && to.contains(&q.package)));
        let mine = to.iter().any(|k| self.ring.key_package(k).is_some());
        if mine && self.ring.epoch_secret(&rw.epoch).is_none() {
            self.handled.insert(id);
            self.enter(rng, state, rw.epoch, &rw.rekey, now, events);
        }
    }

    /// Opens `rekey` (the one that made `epoch`, or a re-wrap of it) and
    /// moves into `epoch`: its secret, the roles ratcheted or replaced.
    fn enter(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        epoch: EpochId,
        rekey: &Rekey,
        now: u64,
        events: &mut Vec<KeyEvent>,
    ) {
        let Some(secret) = self.open_rekey(state, rekey, epoch, events) else { return };
        let held: Vec<String> = (key_roles(state, &self.me).into_iter())
            .filter(|r| self.ring.role_key(r, &epoch).is_none())
            .collect();
        // Never ratchet from a key a revoked member knows: those roles get
        // a fresh key (`keys.md`, "Replacement").
        let (replaced, ratcheted): (Vec<String>, Vec<String>) =
            held.into_iter().partition(|r| self.exposed.contains(&(r.clone(), rekey.replaces)));
        let roles: Vec<&str> = ratcheted.iter().map(String::as_str).collect();
        let mut missing = self.ring.advance(&rekey.replaces, epoch, secret, &roles, now);
        for role in replaced {
            if key_holder(state, &role) == Some(self.me) {
                self.replace_role(rng, state, &role, epoch, events);
            } else {
                missing.push(role); // the key holder's grant brings it
            }
        }
        events.insert(0, KeyEvent::EpochEntered { epoch, missing_roles: missing });
    }

    /// The secret of the epoch `rekey` creates: the one this member kept
    /// when it built the rekey, or its wrap opened. Failures are events.
    fn open_rekey(
        &mut self,
        state: &GroupState,
        rekey: &Rekey,
        epoch: EpochId,
        events: &mut Vec<KeyEvent>,
    ) -> Option<EpochSecret> {
        if let Some(secret) = self.built.remove(&rekey.confirmation) {
            return Some(secret);
        }
        let group = self.group();
        let mine = rekey.recipients().find(|k| self.ring.key_package(k).is_some()).copied();
        let opened = match mine.and_then(|k| self.ring.key_package(&k).map(|s| (k, s))) {
            Some((kid, secret)) => {
                let r = rekey.open(&group, &kid, secret);
                if r.is_ok() {
                    events.push(KeyEvent::KeyPackageUsed { id: kid });
                }
                r
            }
            None => Err(RekeyError::NotARecipient),
        };
        match opened {
            Ok(s) => Some(s),
            Err(RekeyError::NotARecipient) => {
                if state.members.contains_key(&self.me) && state.epoch.id == epoch {
                    events.push(KeyEvent::NotARecipient { epoch });
                }
                None
            }
            Err(error) => {
                events.push(KeyEvent::RekeyDoesNotOpen { epoch, error });
                None
            }
        }
    }

    /// This member is `role`'s key holder and the key it would ratchet is
    /// exposed: it draws a fresh key and owes it to the other holders; the
    /// others wait for its grant (never the ratchet: the revoked member
    /// could compute that).
    fn replace_role(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        role: &str,
        epoch: EpochId,
        events: &mut Vec<KeyEvent>,
    ) {
        self.ring.insert_role_key(role, epoch, RoleKey::random(rng));
        for who in state.members.keys() {
            if *who != self.me && has_key_of(state, who, role) {
                self.due.insert((role.to_owned(), *who));
            }
        }
        events.push(KeyEvent::RoleKeyReplaced { role: role.to_owned(), epoch });
    }

    /// Marks superseded what the state says is no longer current: every
    /// epoch but the current one, roles no longer held, and everything once
    /// this member is gone.
    fn reconcile(&mut self, state: &GroupState, now: u64) {
        let current = state.epoch.id;
        let mut epochs = BTreeSet::new();
        let mut roles = BTreeSet::new();
        for (r, _) in self.ring.held() {
            match r {
                KeyRef::Epoch(e) => drop(epochs.insert(e)),
                KeyRef::Role(role, e) => {
                    epochs.insert(e);
                    roles.insert(role);
                }
                KeyRef::KeyPackage(_) => {}
            }
        }
        for e in epochs.iter().filter(|e| **e != current) {
            self.ring.supersede_epoch(e, now);
        }
        self.requests.retain(|who, q| q.epoch == current && state.members.contains_key(who));
        let Some(_) = state.members.get(&self.me) else {
            if !state.former.contains_key(&self.me) {
                return; // not admitted yet: keep the key package for the inviter
            }
            self.ring.supersede_epoch(&current, now);
            for (kid, _) in &self.own {
                self.ring.retire_key_package(kid, now);
            }
            self.due.clear();
            self.backup.clear();
            return;
        };
        let mine = key_roles(state, &self.me);
        for role in roles.iter().filter(|r| !mine.contains(*r)) {
            self.ring.supersede_role(role, now);
        }
    }

    /// Builds a rekey of the current epoch as the rotator: a fresh secret
    /// wrapped to the latest key package of every current member but this
    /// one and `leaving` (never to a removed member's), plus `joiner`'s key
    /// package for an admission. Members with no known key package are
    /// returned in the second place (they cannot be reached: ask them for
    /// one). The secret is kept until the carrying message is applied.
    pub fn build_rekey(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        joiner: Option<(&PublicKey, &KeyPackage)>,
        leaving: &[PublicKey],
    ) -> Result<(Rekey, Vec<PublicKey>), KeyError> {
        let (recipients, unreachable) = self.recipients(state, leaving);
        let mut refs: Vec<(KeyPackageId, &KeyPackage)> =
            recipients.iter().map(|(id, kp)| (*id, kp)).collect();
        let joined = joiner.map(|(who, kp)| (KeyPackageId::owned_by(who, kp), kp));
        refs.extend(joined);
        let secret = EpochSecret::random(rng);
        let rekey = Rekey::build(rng, &state.group, state.epoch.id, &secret, &refs)?;
        self.built.insert(rekey.confirmation, secret);
        Ok((rekey, unreachable))
    }

    /// The rekey a role revocation carries: the revoked member stays a
    /// member, so it is wrapped to like every other member (it keeps the
    /// group; only the role's key is replaced, by the role's key holder,
    /// [`key_holder`]). Never leave it out: that locks it out of the group.
    pub fn revocation_rekey(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
    ) -> Result<(Rekey, Vec<PublicKey>), KeyError> {
        self.build_rekey(rng, state, None, &[])
    }

    /// The latest key package of each current member but this one and
    /// `leaving`, and the members who have none this member knows.
    fn recipients(
        &self,
        state: &GroupState,
        leaving: &[PublicKey],
    ) -> (Vec<(KeyPackageId, KeyPackage)>, Vec<PublicKey>) {
        let (mut out, mut missing) = (Vec::new(), Vec::new());
        for (who, member) in &state.members {
            if *who == self.me || leaving.contains(who) {
                continue;
            }
            match member.key_package.and_then(|k| self.packages.get(&k).map(|kp| (k, kp))) {
                Some((k, kp)) => out.push((k, kp.clone())),
                None => missing.push(*who),
            }
        }
        (out, missing)
    }

    /// Grants of `role`'s key in `epoch` to `to` (their latest key
    /// packages), as a body to post.
    pub fn grant_role(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        role: &str,
        epoch: EpochId,
        to: &[PublicKey],
    ) -> Result<Body, KeyError> {
        let key = self.role_key(role, epoch)?;
        let mut refs = Vec::new();
        for who in to {
            let kid = state.members.get(who).and_then(|m| m.key_package);
            if let Some((k, kp)) = kid.and_then(|k| self.packages.get(&k).map(|kp| (k, kp))) {
                refs.push((k, kp));
            }
        }
        let grant = RoleKeyGrant::build(rng, &state.group, role, epoch, key, &refs)?;
        Ok(Body::RoleKeyGrant(grant))
    }

    /// The grants this member owes and can make now (the recipient still
    /// holds the role and has a key package; this member holds the role's
    /// key in the current epoch), as bodies to post. Those made are no
    /// longer owed; the others stay owed.
    pub fn take_due_grants(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
    ) -> Vec<Body> {
        let epoch = state.epoch.id;
        let mut by_role: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
        let due = std::mem::take(&mut self.due);
        for (role, who) in due {
            let Some(member) = state.members.get(&who) else { continue };
            if !has_key_of(state, &who, &role) {
                continue;
            }
            let ready = member.key_package.is_some_and(|k| self.packages.contains_key(&k))
                && self.ring.role_key(&role, &epoch).is_some();
            if ready {
                by_role.entry(role).or_default().push(who);
            } else {
                self.due.insert((role, who));
            }
        }
        let mut out = Vec::new();
        for (role, to) in by_role {
            match self.grant_role(rng, state, &role, epoch, &to) {
                Ok(body) => out.push(body),
                Err(_) => self.due.extend(to.into_iter().map(|w| (role.clone(), w))),
            }
        }
        out
    }

    fn role_key(&self, role: &str, epoch: EpochId) -> Result<&RoleKey, KeyError> {
        self.ring.role_key(role, &epoch).ok_or(KeyError::NoRoleKey { role: role.into(), epoch })
    }

    /// Seals `content` for the holders of `readable_by` under this member's
    /// keys of those roles in `epoch` (the epoch of the carrying message),
    /// bound to `binding` ([`task_binding`], [`content_binding`]).
    pub fn seal_task_content(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        binding: &[u8; 32],
        epoch: EpochId,
        content: &TaskContent,
        readable_by: &[String],
    ) -> Result<Sealed, KeyError> {
        let plain = zeroize::Zeroizing::new(content.encode());
        self.seal_bytes(rng, binding, epoch, &plain, readable_by)
    }

    /// Whether this member can seal to `role` in `epoch`: it holds the
    /// role's key there and the key is not exposed.
    pub fn can_seal(&self, role: &str, epoch: &EpochId) -> bool {
        self.ring.role_key(role, epoch).is_some()
            && !self.exposed.contains(&(role.to_owned(), *epoch))
    }

    /// Seals `plain` (any content layer: a task's, an invitation's) for the
    /// holders of `readable_by`'s keys in `epoch`.
    pub fn seal_bytes(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        binding: &[u8; 32],
        epoch: EpochId,
        plain: &[u8],
        readable_by: &[String],
    ) -> Result<Sealed, KeyError> {
        let mut roles = Vec::with_capacity(readable_by.len());
        for role in readable_by {
            if self.exposed.contains(&(role.clone(), epoch)) {
                return Err(KeyError::RoleKeyExposed { role: role.clone(), epoch });
            }
            roles.push((role.as_str(), self.role_key(role, epoch)?));
        }
        let group = self.group();
        let sealed = SealedContent::seal(rng, &group, binding, epoch, plain, &roles)?;
        Ok(Sealed(sealed.encode()))
    }

    /// Opens a content layer sealed by [`MemberKeys::seal_bytes`] with any
    /// role key this member holds.
    pub fn open_bytes(
        &self,
        binding: &[u8; 32],
        sealed: &Sealed,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        let content = SealedContent::decode(&sealed.0)?;
        Ok(content.open_with(&self.group(), binding, &self.ring)?)
    }

    /// Opens a content layer with any role key this member holds. An error
    /// here never affects the group state.
    pub fn open_task_content(
        &self,
        binding: &[u8; 32],
        sealed: &Sealed,
    ) -> Result<TaskContent, KeyError> {
        let content = SealedContent::decode(&sealed.0)?;
        let plain = content.open_with(&self.group(), binding, &self.ring)?;
        Ok(TaskContent::decode(&plain)?)
    }

    /// Re-wraps a content layer for the holders of its roles in `epoch`
    /// (for example a joiner, who holds only keys of `epoch`): for every
    /// role it is wrapped for whose key in `epoch` this member holds, adds a
    /// wrap under that key. Post the result (e.g. in a `TaskEdit` with the
    /// same readable-by roles); it stays bound to the same task.
    pub fn rewrap_task_content(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        binding: &[u8; 32],
        sealed: &Sealed,
        epoch: EpochId,
    ) -> Result<Sealed, KeyError> {
        let mut content = SealedContent::decode(&sealed.0)?;
        let group = self.group();
        let roles: BTreeSet<String> = content.roles().map(|(r, _)| r.to_owned()).collect();
        for role in roles {
            if content.roles().any(|(r, e)| r == role && *e == epoch) {
                continue;
            }
            if self.exposed.contains(&(role.clone(), epoch)) {
                continue; // a revoked member knows it
            }
            let Some(new) = self.ring.role_key(&role, &epoch) else { continue };
            let old = content
                .wraps
                .iter()
                .find_map(|w| self.ring.role_key(&w.role, &w.epoch).map(|k| (w.role.clone(), k)));
            let Some((from, from_key)) = old else { continue };
            let wrap =
                content.rewrap_for(rng, &group, binding, (&from, from_key), (&role, epoch, new))?;
            content.add_role_wrap(wrap)?;
        }
        Ok(Sealed(content.encode()))
    }

    /// Erases every secret superseded at least `grace_secs` before `now`
    /// ([`KeyRing::erase_expired`]). Save afterwards so that the stored
    /// copies are overwritten too ([`MemberKeys::save`]).
    pub fn erase_expired(&mut self, now: u64, grace_secs: u64) -> Erased {
        let erased = self.ring.erase_expired(now, grace_secs);
        let held: BTreeSet<KeyPackageId> = (self.ring.held().into_iter())
            .filter_map(|(r, _)| match r {
                KeyRef::KeyPackage(k) => Some(k),
                _ => None,
            })
            .collect();
        self.own.retain(|(k, _)| held.contains(k));
        let roles: BTreeSet<Slot> = (self.ring.held().into_iter())
            .filter_map(|(r, _)| match r {
                KeyRef::Role(role, e) => Some((role, e)),
                _ => None,
            })
            .collect();
        let epochs: BTreeSet<EpochId> = self.ring.epochs().copied().collect();
        let keep = |(r, e): &Slot| roles.contains(&(r.clone(), *e)) || epochs.contains(e);
        self.exposed.retain(keep);
        self.provisional.retain(keep);
        erased
    }
}

impl MemberKeys {
    /// Loses every key-package secret (tests).
    #[cfg(test)]
    pub(crate) fn lose_key_packages(&mut self) {
        self.ring.lose_key_packages();
    }

    /// The member left: erases every epoch secret and key-package secret,
    /// current ones included, the role keys unless `keep_role_keys` (they
    /// open only content already held: `keys.md`, "Leaving"), and every
    /// duty that would need a key. Save afterwards so that the stored
    /// copies are overwritten too.
    pub fn erase_on_leave(&mut self, keep_role_keys: bool) -> Erased {
        let erased = self.ring.erase_on_leave(keep_role_keys);
        self.own.clear();
        self.due.clear();
        self.backup.clear();
        self.exposed.clear();
        self.provisional.clear();
        erased
    }
}

/// The holder of `role` who delivers its key when it is assigned to, or
/// replaced for, others: among the current holders other than `except`, the
/// one admitted earliest (then the lowest key). Deterministic, so one
/// member posts the grant, not every holder.
pub fn designated_holder(state: &GroupState, role: &str, except: &PublicKey) -> Option<PublicKey> {
    let holders = state.members.iter().filter(|(k, _)| *k != except && has_key_of(state, k, role));
    holders.min_by_key(|(k, m)| (m.since, **k)).map(|(k, _)| *k)
}

/// `who`'s place among the holders of `role` other than `except`, in the
/// order of [`designated_holder`] (admitted earliest first, then lowest
/// key): 0 is the designated holder.
fn holder_place(
    state: &GroupState,
    role: &str,
    except: &PublicKey,
    who: &PublicKey,
) -> Option<usize> {
    let mut holders: Vec<_> = (state.members.iter())
        .filter(|(k, _)| *k != except && has_key_of(state, k, role))
        .map(|(k, m)| (m.since, *k))
        .collect();
    holders.sort();
    holders.iter().position(|(_, k)| k == who)
}

/// The roles whose keys `who` holds (`keys.md`, "Who holds which key"):
/// the roles it holds and every task scope they read, so that a steward
/// whose role reads `contributor` opens a task sealed to `contributor`
/// without holding it. Only roles the rules define; empty for a
/// non-member.
pub fn key_roles(state: &GroupState, who: &PublicKey) -> BTreeSet<String> {
    let Some(member) = state.members.get(who) else { return BTreeSet::new() };
    let mut out = BTreeSet::new();
    for role in &member.roles {
        let Some(def) = state.rules.roles.get(role) else { continue };
        out.insert(role.clone());
        out.extend(def.reads.iter().filter(|r| state.rules.roles.contains_key(*r)).cloned());
    }
    out
}

/// Whether `who` holds the keys of `role` ([`key_roles`]).
pub fn has_key_of(state: &GroupState, who: &PublicKey, role: &str) -> bool {
    state.members.get(who).is_some_and(|member| {
        member.roles.iter().any(|r| {
            state.rules.roles.get(r).is_some_and(|def| {
                state.rules.roles.contains_key(role) && (r == role || def.reads.contains(role))
            })
        })
    })
}

/// Whether a message's body can change who holds which role key.
fn changes_access(body: &Body) -> bool {
    matches!(
        body,
        Body::Genesis(_)
            | Body::RoleAssign(_)
            | Body::RoleRevoke(_)
            | Body::MemberAdd(_)
            | Body::MemberRemove(_)
            | Body::Leave
            | Body::RuleChange(_)
    )
}

/// The key holder of `role`: its current holder admitted earliest (then
/// the lowest key). Its key is the canonical one: it draws the fresh key
/// that replaces an exposed one, and its grant replaces a provisional key
/// (two concurrent first assignments drew two keys; `keys.md`, "Which key
/// counts").
pub fn key_holder(state: &GroupState, role: &str) -> Option<PublicKey> {
    let holders = state.members.iter().filter(|(k, _)| has_key_of(state, k, role));
    holders.min_by_key(|(k, m)| (m.since, **k)).map(|(k, _)| *k)
}

/// The member who posts the rekey that replaces an exposed role key
/// ([`KeyEvent::RoleKeyExposed`]): the member admitted earliest among
/// those the rules let rotate keys.
pub fn rotator(state: &GroupState) -> Option<PublicKey> {
    let may = |k: &PublicKey| {
        super::capability(state, k).is_ok_and(|c| c.powers.contains(&super::Power::RotateKeys))
    };
    let members = state.members.iter().filter(|(k, _)| may(k));
    members.min_by_key(|(k, m)| (m.since, **k)).map(|(k, _)| *k)
}

#[cfg(test)]
mod test;
