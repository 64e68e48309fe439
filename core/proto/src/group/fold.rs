//! [`Fold`]: the group state as a deterministic fold over the message DAG.
//!
//! Messages are linearized by `(lamport, id)`. Each is judged against the
//! state at its position, with refinements (`protocol-spec/group.md`,
//! "Authorization" and "Precedence and finality"):
//!
//! * **Standing.** A rights-reducing message (removal, role revocation,
//!   rule change) is judged against the fold of its own causal past: what
//!   its author had seen.
//! * **Settled before.** Message `x` is settled before a concurrent `y`
//!   when two thirds of the voters (members holding a rights-reducing power,
//!   the parties excluded) acknowledged `x` (cited it, directly or not) in a
//!   message that had not seen `y`. Acknowledgements only accumulate, so
//!   once settled, always settled.
//! * **Precedence.** Of two concurrent reductions that concern each
//!   other's authors, the one settled before the other precedes; if
//!   neither is settled, the senior author's (earlier admission). A
//!   reduction preceded by one that makes it illegal is cut off.
//! * **Cut-offs.** A message that is not settled before a concurrent,
//!   effective reduction concerning its author is also judged with that
//!   reduction applied: a removed member cannot act "before" the removal by
//!   citing old parents.
//! * **Deferral.** A reduction takes effect after the last message of the
//!   members it concerns that is settled before it: a backdated reduction
//!   never reaches what the group had settled.
//!
//! A late message re-folds from the earliest position it can change, using
//! the nearest snapshot; snapshots are taken every [`SNAPSHOT_EVERY`]
//! state-changing messages and thinned with age (`fold/snapshots.rs`). Chat and comments are judged but never counted
//! for snapshots and never change the state.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use self::snapshots::Snapshots;
use super::authorize::{Refusal, authorize, capability, carried_rekey, rekey};
use super::causal::Dag;
use super::evidence::Evidence;
use super::rules::{Power, Rules};
use super::state::{GroupState, Position};
use crate::chain::{Entry, Verified};
use crate::crypto::PublicKey;
use crate::epoch::Rekey;
use crate::wire::{Body, Chat, GroupId, MessageId, UnsignedMessage};

/// A snapshot of the state every this many state-changing messages.
pub const SNAPSHOT_EVERY: usize = 32;

mod snapshots;

/// The position before every message: the base snapshot (after genesis).
const BASE: Position = (0, MessageId([0; 32]));

/// What the fold made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authorized; its effect is in the state.
    Applied,
    /// Applied, but the rekey it carried was not adopted (stale, or it
    /// wrapped to a non-member): someone must heal with a fresh rekey.
    RekeyDropped(Refusal),
    /// Illegal: no effect. Kept as evidence (bounded), reported as a warning.
    Refused(Refusal),
}

impl Verdict {
    /// True when the message's effect is in the state.
    pub fn applied(&self) -> bool {
        !matches!(self, Verdict::Refused(_))
    }
}

/// A message whose verdict is new or changed (a late message can change
/// the verdicts of messages after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The message.
    pub id: MessageId,
    /// Its author.
    pub author: PublicKey,
    /// Its verdict now.
    pub verdict: Verdict,
}

/// A rights-reducing message judged in its causal past.
struct Standing {
    verdict: Result<(), Refusal>,
    state: GroupState,
}

/// The group state of one group, kept up to date as messages arrive.
pub struct Fold {
    group: GroupId,
    genesis: MessageId,
    dag: Dag,
    order: BTreeMap<Position, Held>,
    snapshots: Snapshots,
    state: Option<GroupState>,
    verdicts: HashMap<MessageId, Verdict>,
    standing: HashMap<MessageId, Standing>,
    by_target: HashMap<PublicKey, Vec<MessageId>>,
    rule_changes: Vec<MessageId>,
    /// Messages carrying a rekey (plain or with a membership change):
    /// their adoption depends on what is settled.
    rekeys: Vec<MessageId>,
    /// Reductions and rekeys by author, in seq order: what a new message
    /// can acknowledge, indexed so that it looks only at those its
    /// author's previous message had not seen ([`Fold::reopened_by`]).
    watched: HashMap<PublicKey, BTreeSet<(u64, MessageId)>>,
    /// Deferred reductions: the message after which each takes effect.
    anchors: HashMap<MessageId, Position>,
    /// Voters of each message's view (the fold of its causal past), as
    /// asked: computed once, cleared by an equivocation.
    views: RefCell<HashMap<MessageId, BTreeSet<PublicKey>>>,
    equivocators: BTreeMap<PublicKey, u64>,
    evidence: Evidence,
    last_refold: usize,
    /// State-changing messages folded since the last snapshot.
    since_snapshot: usize,
}

/// A message the fold holds: the chain's entry itself when it came from the
/// chain (shared, not copied), else the bare message (simulations, tests).
#[derive(Clone)]
enum Held {
    Entry(Arc<Entry<Verified>>),
    Message(Arc<UnsignedMessage>),
}

impl std::ops::Deref for Held {
    type Target = UnsignedMessage;

    fn deref(&self) -> &UnsignedMessage {
        match self {
            Held::Entry(e) => e.message(),
            Held::Message(m) => m,
        }
    }
}

/// Removals, revocations and rule changes: the messages with cut-offs.
fn is_reduction(m: &UnsignedMessage) -> bool {
    matches!(m.body, Body::MemberRemove(_) | Body::RoleRevoke(_) | Body::RuleChange(_))
}

/// Messages that change the group layer (chat and comments do not).
fn changes_state(m: &UnsignedMessage) -> bool {
    !matches!(m.body, Body::Chat(_) | Body::TaskComment(_))
}

/// Messages a reduction's standing can depend on (tasks cannot).
fn governs(m: &UnsignedMessage) -> bool {
    matches!(
        m.body,
        Body::RuleChange(_)
            | Body::RoleAssign(_)
            | Body::RoleRevoke(_)
            | Body::MemberAdd(_)
            | Body::MemberRemove(_)
            | Body::Leave
            | Body::Rekey(_)
            | Body::KeyPackage(_)
            | Body::RelayListChange(_)
    )
}

/// The member a removal or revocation is aimed at.
fn target(m: &UnsignedMessage) -> Option<PublicKey> {
    match &m.body {
        Body::MemberRemove(r) => Some(r.member),
        Body::RoleRevoke(r) => Some(r.member),
        _ => None,
    }
}

/// The rekey a message carries, plain or with a membership change.
fn any_rekey(m: &UnsignedMessage) -> Option<&Rekey> {
    match &m.body {
        Body::Rekey(r) => Some(r),
        _ => carried_rekey(m).map(|(r, _)| r),
    }
}

/// Whether `author` holds a power that reduces others' rights: only such
/// members vote on what is settled (a newcomer puppet does not).
fn reducing_power(s: &GroupState, author: &PublicKey) -> bool {
    capability(s, author).is_ok_and(|cap| {
        cap.powers.contains(&Power::Remove)
            || cap.powers.contains(&Power::ChangeRules)
            || !cap.manages.is_empty()
    })
}

/// The members of `s` who vote on what is settled.
fn voters_in(s: &GroupState) -> BTreeSet<PublicKey> {
    s.members.keys().filter(|k| reducing_power(s, k)).copied().collect()
}

impl Fold {
    /// An empty fold for the group whose genesis message is `genesis`.
    pub fn new(group: GroupId, genesis: MessageId) -> Self {
        Self {
            group,
            genesis,
            dag: Dag::default(),
            order: BTreeMap::new(),
            snapshots: Snapshots::default(),
            state: None,
            verdicts: HashMap::new(),
            standing: HashMap::new(),
            by_target: HashMap::new(),
            watched: HashMap::new(),
            rule_changes: Vec::new(),
            rekeys: Vec::new(),
            anchors: HashMap::new(),
            views: RefCell::new(HashMap::new()),
            equivocators: BTreeMap::new(),
            evidence: Evidence::default(),
            last_refold: 0,
            since_snapshot: 0,
        }
    }

    /// The state after every message held, once the genesis is in.
    pub fn state(&self) -> Option<&GroupState> {
        self.state.as_ref()
    }

    /// The hash of [`Fold::state`].
    pub fn state_hash(&self) -> Option<[u8; 32]> {
        self.state.as_ref().map(GroupState::state_hash)
    }

    /// The verdict on a message.
    pub fn verdict(&self, id: &MessageId) -> Option<&Verdict> {
        self.verdicts.get(id)
    }

    /// The evidence kept of illegal messages.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// How many messages the last insertion re-folded (tests check that a
    /// message in order re-folds little, never the whole history).
    pub fn last_refold_len(&self) -> usize {
        self.last_refold
    }

    /// Number of snapshots held.
    pub fn snapshot_count(&self) -> usize {
        self.snapshots.len()
    }

    /// Bytes the causal bookkeeping (every held message's version vector,
    /// shared nodes counted once) takes: a figure for benchmarks.
    pub fn causal_bytes(&self) -> usize {
        self.dag.clock_bytes()
    }

    /// Whether held message `x` is in the causal past of held message `y`
    /// (or is `y`).
    pub fn in_causal_past(&self, x: &MessageId, y: &MessageId) -> bool {
        x == y || self.dag.in_past(x, y)
    }

    /// Whether the fold holds message `id` (a message whose author was
    /// never admitted in its causal past is not held at all).
    pub fn holds(&self, id: &MessageId) -> bool {
        self.dag.position(id).is_some()
    }

    /// Whether `x` is final: settled before any message this fold does not
    /// hold yet. Enough voters of `x`'s view (its author excluded) have
    /// acknowledged it that two thirds remain whichever two of them turn
    /// out to be the parties of a later conflict (`3·acks ≥ 2·n + 2`).
    /// An acknowledgement held cannot have a message not yet held in its
    /// past, so each counts against any later arrival. What a UI may show
    /// as final (`group.md`, "Precedence and finality").
    pub fn settled(&self, x: &MessageId) -> bool {
        let Some((_, xm)) = self.message(x) else { return false };
        let voters = self.view_voters(x, &[xm.author]);
        let acks = voters.iter().filter(|v| self.dag.acked(v, x)).count();
        !voters.is_empty() && acks * 3 >= voters.len() * 2 + 2
    }

    /// Whether an applied revocation from a member who stays is not in the
    /// causal past of the message that made the current epoch: holders may
    /// have ratcheted the role's key from one the revoked member held before
    /// they saw the revocation, so the rotator must post a rekey
    /// (`keys.md`, "Replacement"). False again once a rekey that saw it is
    /// adopted.
    pub fn revocation_outruns_epoch(&self) -> bool {
        let Some(s) = self.state.as_ref() else { return false };
        let current = MessageId(s.epoch.id.0);
        self.by_target.iter().filter(|(t, _)| s.members.contains_key(*t)).any(|(_, rs)| {
            rs.iter().any(|r| {
                let revoke =
                    self.message(r).is_some_and(|(_, m)| matches!(m.body, Body::RoleRevoke(_)));
                revoke
                    && self.verdicts.get(r).is_some_and(Verdict::applied)
                    && *r != current
                    && !self.dag.in_past(r, &current)
            })
        })
    }

    /// Every applied message, in linearization order (what a UI shows as
    /// the group's history: chat beside joins, removals, role changes).
    pub fn timeline(&self) -> impl Iterator<Item = (MessageId, &UnsignedMessage)> {
        self.timeline_from(BASE)
    }

    /// Every applied message from position `from` on, in linearization
    /// order: the part of [`Fold::timeline`] a reader re-reads after a
    /// change (see `Replica::changed_since`).
    pub fn timeline_from(
        &self,
        from: Position,
    ) -> impl Iterator<Item = (MessageId, &UnsignedMessage)> {
        self.order
            .range(from..)
            .filter(|((_, id), _)| self.verdicts.get(id).is_some_and(Verdict::applied))
            .map(|((_, id), m)| (*id, &**m))
    }

    /// Authorized chat lines in linearization order.
    pub fn chat(&self) -> Vec<(MessageId, &UnsignedMessage, &Chat)> {
        self.timeline()
            .filter_map(|(id, m)| match &m.body {
                Body::Chat(c) => Some((id, m, c)),
                _ => None,
            })
            .collect()
    }

    /// Authorized comments of `task`, in order: its thread.
    pub fn thread(&self, task: &MessageId) -> Vec<MessageId> {
        self.timeline()
            .filter(|(_, m)| matches!(&m.body, Body::TaskComment(c) if c.task == *task))
            .map(|(id, _)| id)
            .collect()
    }

    /// Folds in a message the chain accepted (in causal order). The fold
    /// holds the chain's entry, not a copy: the history is in memory once.
    pub fn insert_entry(&mut self, entry: &Arc<Entry<Verified>>) -> Vec<Change> {
        self.insert_held(entry.id(), Held::Entry(Arc::clone(entry)))
    }

    /// Folds in message `m` with id `id`. Its parents must have been
    /// inserted before (the chain accepts in causal order). Returns every
    /// message whose verdict is new or changed. A message whose author was
    /// never admitted in its own causal past is refused `NeverMember` and
    /// not held at all ([`Fold::holds`]): the caller drops it.
    pub fn insert(&mut self, id: MessageId, m: &UnsignedMessage) -> Vec<Change> {
        self.insert_held(id, Held::Message(Arc::new(m.clone())))
    }

    fn insert_held(&mut self, id: MessageId, held: Held) -> Vec<Change> {
        // A second handle on the same message (a reference count, not a
        // copy), to read while the fold changes.
        let handle = held.clone();
        let m: &UnsignedMessage = &handle;
        if self.verdicts.contains_key(&id) || self.order.contains_key(&(m.lamport, id)) {
            return Vec::new();
        }
        if m.group != self.group || !self.dag.admitted(m) {
            // Never folded, never kept: no column in any version vector.
            let verdict = Verdict::Refused(Refusal::NeverMember);
            return vec![Change { id, author: m.author, verdict }];
        }
        self.dag.insert(id, m);
        if let Body::Genesis(g) = &m.body {
            return self.genesis(id, m, &g.name, &g.rules);
        }
        self.order.insert((m.lamport, id), held);
        let own = (m.lamport, id);
        let mut start = own.min(self.reopened_by(&id, m));
        if is_reduction(m) || any_rekey(m).is_some() {
            self.watched.entry(m.author).or_default().insert((m.seq, id));
        }
        if is_reduction(m) {
            self.index_reduction(id, m);
            self.refresh_standing(id);
            start = start.min(self.first_cut(&id, m));
            start = start.min(self.reanchor(&id));
        }
        if any_rekey(m).is_some() {
            self.rekeys.push(id);
        }
        let last = self.order.keys().next_back().copied();
        if start == own
            && last == Some(start)
            && let Some(changes) = self.append(start)
        {
            return changes;
        }
        self.refold(start)
    }

    /// The earliest position whose verdict a new message `w` may change
    /// as an acknowledgement: the reach of every reduction and the position
    /// of every rekey it is concurrent with (it may settle, or unsettle, a
    /// message before them), or that it is its author's first message to
    /// see. Re-anchors deferred reductions.
    fn reopened_by(&mut self, w: &MessageId, m: &UnsignedMessage) -> Position {
        let author = &m.author;
        let mut start = self.dag.position(w).unwrap_or(BASE);
        // `w` acknowledges what it is concurrent with (settling it before
        // those reductions), and the reductions it is its author's first
        // message to see (settling them before what it has not seen).
        // Its acknowledgements settle something only before a message it
        // has not seen: when it has seen everything held (a member catching
        // up, a joiner's first message), what it is the first to see needs
        // no re-fold. Messages held later re-fold for themselves.
        let candidates = self.watched_since_previous(m);
        let acks_matter = !candidates.is_empty() && !self.dag.sees_all_held(w);
        let touched = |r: &MessageId| {
            self.dag.concurrent(r, w)
                || (acks_matter && self.dag.first_seeing(author, r) == Some(*w))
        };
        let mut open = Vec::new();
        let mut rekeys = Vec::new();
        for r in candidates {
            let Some((pos, rm)) = self.message(&r) else { continue };
            if !touched(&r) {
                continue;
            }
            if is_reduction(rm) {
                open.push(r);
            }
            if any_rekey(rm).is_some() {
                rekeys.push(pos);
            }
        }
        for r in open {
            if let Some((_, rm)) = self.message(&r) {
                start = start.min(self.reach(&r, rm));
            }
            start = start.min(self.reanchor(&r));
        }
        rekeys.into_iter().fold(start, Position::min)
    }

    /// The reductions and rekeys `m` may touch: those its author's
    /// previous message had not seen. Whatever that message had seen is in
    /// `m`'s past too (so not concurrent with it), and `m` is not the first
    /// of its author's to see it. Only these are looked at, so the cost of
    /// a message does not grow with the group's history of removals and
    /// rekeys. An equivocator's chain is not a line: all are looked at.
    fn watched_since_previous(&self, m: &UnsignedMessage) -> Vec<MessageId> {
        let previous = m.seq.checked_sub(1).and_then(|s| self.dag.at_seq(&m.author, s));
        let line = !self.equivocators.contains_key(&m.author);
        let mut out = Vec::new();
        for (a, by_seq) in &self.watched {
            let from = match (previous, line) {
                (Some(p), true) => self.dag.seen_of(&p, a),
                _ => 0,
            };
            out.extend(by_seq.range((from, MessageId([0; 32]))..).map(|(_, id)| *id));
        }
        out
    }

    fn index_reduction(&mut self, id: MessageId, m: &UnsignedMessage) {
        match target(m) {
            Some(t) => self.by_target.entry(t).or_default().push(id),
            None => self.rule_changes.push(id),
        }
    }

    /// The earliest message a new reduction could change the verdict of:
    /// the first messages it cuts off, and those cut off by reductions of
    /// the members it concerns (it may now precede them).
    fn first_cut(&self, id: &MessageId, m: &UnsignedMessage) -> Position {
        let concerned: Vec<PublicKey> = match target(m) {
            Some(t) => vec![t],
            None => self.dag.authors().to_vec(),
        };
        let mut start = self.reach(id, m);
        for r in self.by_target.values().flatten().chain(&self.rule_changes) {
            match self.message(r) {
                Some((_, rm)) if concerned.contains(&rm.author) => {
                    start = start.min(self.reach(r, rm)).min(self.applies_at(r))
                }
                _ => {}
            }
        }
        start
    }

    /// The first message reduction `id` can cut off (or itself).
    fn reach(&self, id: &MessageId, m: &UnsignedMessage) -> Position {
        let own = (m.lamport, *id);
        let first = match target(m) {
            Some(t) => self.dag.first_unseen(id, &t),
            None => self.dag.authors().iter().filter_map(|a| self.dag.first_unseen(id, a)).min(),
        };
        first.map_or(own, |p| p.min(own))
    }

    /// Where reduction `id` takes effect: after its anchor, or at its own
    /// position.
    fn applies_at(&self, id: &MessageId) -> Position {
        self.anchors.get(id).copied().or_else(|| self.dag.position(id)).unwrap_or(BASE)
    }

    /// Recomputes where reduction `id` takes effect; returns the earliest
    /// of the old and new places if it moved (the re-fold must start
    /// there), else the end of time.
    fn reanchor(&mut self, id: &MessageId) -> Position {
        let old = self.applies_at(id);
        let new = self.anchor(id);
        match new {
            Some(a) => self.anchors.insert(*id, a),
            None => self.anchors.remove(id),
        };
        let now = self.applies_at(id);
        if now == old { (u64::MAX, MessageId([0xff; 32])) } else { old.min(now) }
    }

    /// The last message, of the members reduction `id` concerns, that is
    /// concurrent with it and settled before it, if that sorts after it:
    /// the reduction takes effect right after that message.
    fn anchor(&self, id: &MessageId) -> Option<Position> {
        let (own, rm) = self.message(id)?;
        let concerned: Vec<PublicKey> = match target(rm) {
            Some(t) => vec![t],
            None => self.dag.authors().to_vec(),
        };
        let mut at = own;
        for author in concerned {
            for m in self.dag.unseen(id, &author) {
                let Some(pos) = self.dag.position(&m) else { continue };
                let Some((_, mm)) = self.message(&m) else { continue };
                if pos > at && !self.dag.in_past(id, &m) && self.spared(&m, mm, id, rm, None) {
                    at = pos;
                }
            }
        }
        (at != own).then_some(at)
    }

    fn genesis(
        &mut self,
        id: MessageId,
        m: &UnsignedMessage,
        name: &str,
        rules: &[u8],
    ) -> Vec<Change> {
        if id != self.genesis || m.group != self.group {
            return self.settle(id, m.author, Verdict::Refused(Refusal::SecondGenesis));
        }
        let rules = match Rules::decode(rules) {
            Ok(r) => r,
            Err(e) => return self.settle(id, m.author, Verdict::Refused(Refusal::BadRules(e))),
        };
        let base = GroupState::genesis(self.group, id, m.author, name.into(), rules);
        self.snapshots.reset(BASE, base.clone());
        self.state = Some(base);
        let mut changes = self.settle(id, m.author, Verdict::Applied);
        // Anything that arrived before the genesis is folded now.
        let early: Vec<MessageId> =
            self.order.iter().filter(|(_, m)| is_reduction(m)).map(|((_, i), _)| *i).collect();
        early.into_iter().for_each(|r| self.refresh_standing(r));
        changes.extend(self.refold(BASE));
        changes
    }

    /// Records that `author` equivocated at `fork` (from the chain's proof):
    /// from that seq on, nothing of theirs counts.
    pub fn equivocation(&mut self, author: PublicKey, fork: u64) -> Vec<Change> {
        let earlier = self.equivocators.get(&author).is_none_or(|&f| fork < f);
        if !earlier {
            return Vec::new();
        }
        self.equivocators.insert(author, fork);
        self.views.borrow_mut().clear();
        let Some(mut start) = self.dag.position_from(&author, fork) else { return Vec::new() };
        // The equivocator's reductions no longer cut anything off.
        for ((_, r), rm) in self.order.range(start..) {
            if rm.author == author && is_reduction(rm) {
                start = start.min(self.reach(r, rm));
            }
        }
        // Standings computed with the equivocator's messages are stale.
        let stale: Vec<MessageId> = self
            .order
            .range(start..)
            .filter(|(_, m)| is_reduction(m))
            .map(|((_, i), _)| *i)
            .collect();
        stale.into_iter().for_each(|r| self.refresh_standing(r));
        self.refold(start)
    }

    fn settle(&mut self, id: MessageId, author: PublicKey, verdict: Verdict) -> Vec<Change> {
        if self.verdicts.get(&id) == Some(&verdict) {
            return Vec::new();
        }
        self.evidence.record(id, author, &verdict);
        self.verdicts.insert(id, verdict.clone());
        vec![Change { id, author, verdict }]
    }

    /// Folds a new message that is the last in the linearization into the
    /// current state: the common case, with no re-fold at all.
    fn append(&mut self, key: Position) -> Option<Vec<Change>> {
        let mut s = self.state.take()?;
        let Some(m) = self.order.get(&key) else {
            self.state = Some(s);
            return None;
        };
        let (author, state_changing) = (m.author, changes_state(m));
        let snapshot = state_changing && self.since_snapshot >= SNAPSHOT_EVERY;
        let snap = snapshot.then(|| s.clone());
        let verdict = self.step(&mut s, key.1, m, None);
        if let Some(snap) = snap {
            self.snapshots.take(key, snap);
            self.since_snapshot = 0;
        }
        self.since_snapshot += usize::from(state_changing && verdict.applied());
        self.state = Some(s);
        self.last_refold = 1;
        Some(self.settle(key.1, author, verdict))
    }

    /// The deferred reductions, by the message they are folded right after
    /// (their anchor), in linearization order.
    fn deferred(&self) -> BTreeMap<Position, Vec<Position>> {
        let mut after: BTreeMap<Position, Vec<Position>> = BTreeMap::new();
        for (r, anchor) in &self.anchors {
            if let Some(pos) = self.dag.position(r) {
                after.entry(*anchor).or_default().push(pos);
            }
        }
        after.values_mut().for_each(|v| v.sort());
        after
    }

    /// Every applied message in the order the fold applied it: the
    /// [`Fold::timeline`], with each deferred reduction moved right after
    /// its anchor. The state is the effect of these messages, in this
    /// order, on the genesis state (the invariants replay it).
    pub fn applied_order(&self) -> Vec<(MessageId, &UnsignedMessage)> {
        let after = self.deferred();
        let mut out = Vec::new();
        for key in self.order.keys() {
            let own = (!self.anchors.contains_key(&key.1)).then_some(key);
            for k in own.into_iter().chain(after.get(key).into_iter().flatten()) {
                let applied = self.verdicts.get(&k.1).is_some_and(Verdict::applied);
                if let (true, Some(m)) = (applied, self.order.get(k)) {
                    out.push((k.1, &**m));
                }
            }
        }
        out
    }

    /// Re-folds every message from `start` on, from the nearest snapshot.
    /// A deferred reduction is skipped at its own position and folded right
    /// after its anchor.
    fn refold(&mut self, start: Position) -> Vec<Change> {
        let Some((from, mut s)) = self.snapshots.rewind_to(start) else {
            return Vec::new(); // no genesis yet
        };
        let after = self.deferred();
        let keys: Vec<Position> = self.order.range(from..).map(|(k, _)| *k).collect();
        self.last_refold = keys.len();
        let (mut changes, mut since) = (Vec::new(), 0usize);
        for key in keys {
            let Some(m) = self.order.get(&key) else { continue };
            if changes_state(m) && since >= SNAPSHOT_EVERY && key != from {
                self.snapshots.take(key, s.clone());
                since = 0;
            }
            let mut due = vec![key];
            due.extend(after.get(&key).into_iter().flatten().copied());
            for k in due {
                if k == key && self.anchors.contains_key(&k.1) {
                    continue; // folded after its anchor
                }
                let Some(m) = self.order.get(&k) else { continue };
                let (author, state_changing) = (m.author, changes_state(m));
                let verdict = self.step(&mut s, k.1, m, None);
                since += usize::from(state_changing && verdict.applied());
                changes.extend(self.settle(k.1, author, verdict));
            }
        }
        self.state = Some(s);
        self.since_snapshot = since;
        changes
    }

    /// Judges `m` in `s` and applies it if authorized. `universe`, when
    /// given, limits the reductions that can cut it off to the causal past
    /// of that message (a standing computation).
    fn step(
        &self,
        s: &mut GroupState,
        id: MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Verdict {
        if let Err(refusal) = self.judge(s, id, m, universe) {
            return Verdict::Refused(refusal);
        }
        s.apply(id, m);
        if let Body::MemberRemove(r) = &m.body {
            // Judged in its causal past, a removal may apply where its target
            // is no longer (or not yet) a member here; the target may still
            // know the epoch's secret (a welcome was sent), so it is exposed.
            s.epoch.exposed_to.insert(r.member);
        }
        if let Body::Rekey(r) = &m.body {
            let settled = self.rekey_in_context(s, id, m, r).unwrap_or(None);
            s.adopt_rekey(id, r.replaces, false, settled);
        }
        let Some((rk, leaving)) = carried_rekey(m) else { return Verdict::Applied };
        let fits = rekey(s, rk, &leaving).and_then(|()| self.rekey_in_context(s, id, m, rk));
        let settled = match fits {
            Ok(settled) => settled,
            Err(e) => return Verdict::RekeyDropped(e),
        };
        if s.adopt_rekey(id, rk.replaces, true, settled) {
            Verdict::Applied
        } else {
            Verdict::RekeyDropped(Refusal::StaleEpoch)
        }
    }

    fn judge(
        &self,
        s: &GroupState,
        id: MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Result<(), Refusal> {
        if self.suspended(m) {
            return Err(Refusal::Equivocator);
        }
        if is_reduction(m) && self.standing.contains_key(&id) {
            self.judge_reduction(&id, m, universe)?;
            return self.author_still_empowered(s, &id, m);
        }
        authorize(s, m)?;
        if let Body::Rekey(r) = &m.body {
            self.rekey_in_context(s, id, m, r)?;
        }
        if let Body::EpochRewrap(r) = &m.body {
            self.rewrap_in_context(s, id, r)?;
        }
        for (rid, rm) in self.cutters(&id, m, universe) {
            let mut cut = s.clone();
            cut.apply(rid, rm);
            let mut legal = authorize(&cut, m);
            if let (Ok(()), Body::EpochRewrap(r)) = (&legal, &m.body) {
                legal = self.rewrap_in_context(&cut, id, r);
            }
            if let Err(e) = legal {
                return Err(Refusal::CutOff { by: rid, because: Box::new(e) });
            }
        }
        Ok(())
    }

    /// A reduction: legal in its causal past (standing), and not made
    /// illegal by a concurrent reduction that precedes it
    /// ([`Fold::precedes`]). One level: whether that reduction is itself
    /// preceded is not asked, so the answer never depends on the order of
    /// examination.
    fn judge_reduction(
        &self,
        id: &MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Result<(), Refusal> {
        let st = self.standing.get(id).ok_or(Refusal::NeverMember)?;
        st.verdict.clone()?;
        for (q, qm) in self.raw_cutters(id, m, universe) {
            if !self.precedes(&q, qm, id, m, universe) {
                continue;
            }
            let mut cut = st.state.clone();
            cut.apply(q, qm);
            if let Err(e) = authorize(&cut, m) {
                return Err(Refusal::CutOff { by: q, because: Box::new(e) });
            }
        }
        Ok(())
    }

    /// A reduction judged by its standing must also find its author, where
    /// it applies, with the membership and roles its standing gave: a
    /// grant in its causal past may have been cut off since by a
    /// reduction it never saw and that concerns someone else (the
    /// granter), and power must not outlive the grant it came from. The
    /// rules stay those of the standing (precedence settles rule
    /// conflicts); only the author's own entry is taken from here.
    fn author_still_empowered(
        &self,
        s: &GroupState,
        id: &MessageId,
        m: &UnsignedMessage,
    ) -> Result<(), Refusal> {
        let st = self.standing.get(id).ok_or(Refusal::NeverMember)?;
        let mut here = st.state.clone();
        match s.members.get(&m.author) {
            Some(member) => here.members.insert(m.author, member.clone()),
            None => return Err(Refusal::NotAMember),
        };
        authorize(&here, m)
    }

    /// The reductions that cut non-reduction `id` off: concurrent
    /// reductions concerning its author that are themselves effective
    /// ([`Fold::judge_reduction`]) and before which `id` is not settled.
    fn cutters(
        &self,
        id: &MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Vec<(MessageId, &UnsignedMessage)> {
        let mut out = self.raw_cutters(id, m, universe);
        out.retain(|(r, rm)| {
            self.judge_reduction(r, rm, universe).is_ok() && !self.spared(id, m, r, rm, universe)
        });
        out
    }

    /// Reductions with standing, concurrent with `id`, that concern its
    /// author, by a member not suspended, in linearization order.
    fn raw_cutters(
        &self,
        id: &MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Vec<(MessageId, &UnsignedMessage)> {
        let aimed = self.by_target.get(&m.author).into_iter().flatten();
        let mut out: Vec<(Position, MessageId, &UnsignedMessage)> = aimed
            .chain(&self.rule_changes)
            .filter(|r| *r != id && self.dag.concurrent(r, id))
            .filter(|r| universe.is_none_or(|u| self.dag.in_past(r, u)))
            .filter(|r| self.standing.get(r).is_some_and(|st| st.verdict.is_ok()))
            .filter_map(|r| self.message(r).map(|(p, rm)| (p, *r, rm)))
            .filter(|(_, _, rm)| !self.suspended(rm))
            .collect();
        out.sort_by_key(|(p, _, _)| *p);
        out.into_iter().map(|(_, r, rm)| (r, rm)).collect()
    }

    /// Whether reduction `q` precedes the concurrent reduction `r` (which
    /// it concerns): `q` is settled before `r` and not the other way round;
    /// or both or neither are settled and `q`'s author is senior. Each side
    /// is judged by the voters of its own causal past, so the two answers
    /// can both hold; the definition keeps precedence one way only.
    fn precedes(
        &self,
        q: &MessageId,
        qm: &UnsignedMessage,
        r: &MessageId,
        rm: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> bool {
        let parties = [Some(qm.author), target(qm), Some(rm.author), target(rm)];
        let parties: Vec<PublicKey> = parties.into_iter().flatten().collect();
        let q_first = self.settled_by(q, r, &self.view_voters(q, &parties), universe);
        let r_first = self.settled_by(r, q, &self.view_voters(r, &parties), universe);
        match (q_first, r_first) {
            (true, false) => true,
            (false, true) => false,
            _ => self.senior(q, qm, r, rm),
        }
    }

    /// The voters on message `x`: the members holding a rights-reducing
    /// power in the fold of `x`'s own causal past (its *view*), without
    /// `parties`. Drawn from the side being protected, so the author of a
    /// conflicting message, however far back it reaches for parents, can
    /// neither empty nor pad this set.
    fn view_voters(&self, x: &MessageId, parties: &[PublicKey]) -> BTreeSet<PublicKey> {
        let mut voters = match self.standing.get(x) {
            Some(st) => voters_in(&st.state),
            None => self.view_of(x),
        };
        for p in parties {
            voters.remove(p);
        }
        voters
    }

    /// The voters of `x`'s view, computed once per message (its causal
    /// past never changes; an equivocation clears the cache).
    fn view_of(&self, x: &MessageId) -> BTreeSet<PublicKey> {
        if let Some(v) = self.views.borrow().get(x) {
            return v.clone();
        }
        let Some(state) = self.fold_past(x) else { return BTreeSet::new() };
        let voters = voters_in(&state);
        self.views.borrow_mut().insert(*x, voters.clone());
        voters
    }

    /// Whether message `x`, concurrent with reduction `r` that concerns its
    /// author, is out of `r`'s reach: `x` is settled before `r`; or, when
    /// `r` is not settled before `x` either, `x`'s author is senior to
    /// `r`'s (with nobody to settle anything, a junior cannot undo what a
    /// senior did; its reduction takes effect after it).
    fn spared(
        &self,
        x: &MessageId,
        xm: &UnsignedMessage,
        r: &MessageId,
        rm: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> bool {
        if self.settled_before_reduction(x, r, universe) {
            return true;
        }
        let parties: Vec<PublicKey> =
            [Some(xm.author), Some(rm.author), target(rm)].into_iter().flatten().collect();
        if self.settled_by(r, x, &self.view_voters(r, &parties), universe) {
            return false;
        }
        let Some(st) = self.standing.get(r) else { return false };
        let since = |k: &PublicKey| st.state.members.get(k).map(|m| m.since);
        match (since(&xm.author), since(&rm.author)) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        }
    }

    /// Whether `x` is settled before reduction `r`, judged by the voters of
    /// `x`'s view without the parties (`x`'s author, `r`'s author and
    /// target).
    fn settled_before_reduction(
        &self,
        x: &MessageId,
        r: &MessageId,
        universe: Option<&MessageId>,
    ) -> bool {
        let (Some((_, xm)), Some((_, rm))) = (self.message(x), self.message(r)) else {
            return false;
        };
        let parties: Vec<PublicKey> =
            [Some(xm.author), Some(rm.author), target(rm)].into_iter().flatten().collect();
        self.settled_by(x, r, &self.view_voters(x, &parties), universe)
    }

    /// Two thirds of `voters` acknowledged `x` before `y`; nobody votes
    /// twice, so `x` before `y` and `y` before `x` never both hold.
    fn settled_by(
        &self,
        x: &MessageId,
        y: &MessageId,
        voters: &BTreeSet<PublicKey>,
        universe: Option<&MessageId>,
    ) -> bool {
        if voters.is_empty() {
            return false;
        }
        let acks = voters.iter().filter(|v| self.dag.acked_before(v, x, y, universe)).count();
        acks * 3 >= voters.len() * 2
    }

    /// Whether `qm`'s author was admitted before `rm`'s, as the standing
    /// state of whichever of the two sorts first records it (one state for
    /// both questions, so exactly one of two authors is senior). A member
    /// missing there is junior to every member; two missing compare by key.
    fn senior(
        &self,
        q: &MessageId,
        qm: &UnsignedMessage,
        r: &MessageId,
        rm: &UnsignedMessage,
    ) -> bool {
        let first = if (qm.lamport, *q) < (rm.lamport, *r) { q } else { r };
        let Some(st) = self.standing.get(first) else { return qm.author < rm.author };
        let since = |k: &PublicKey| st.state.members.get(k).map(|m| m.since);
        match (since(&qm.author), since(&rm.author)) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => qm.author < rm.author,
        }
    }

    /// What the DAG says of a rekey carried by message `id` in state `s`.
    /// It must wrap to every member who stays and had announced a key
    /// package in its causal past (else that member is locked out). A
    /// sibling of the current epoch must be concurrent with the rekey that
    /// made it, and that rekey must not be settled before it: a settled
    /// epoch is never displaced. Returns, for a sibling, `Some(true)` if it
    /// was settled before the current epoch's rekey (it wins), else `None`
    /// (precedence decides: `keys.md`).
    fn rekey_in_context(
        &self,
        s: &GroupState,
        id: MessageId,
        m: &UnsignedMessage,
        rk: &Rekey,
    ) -> Result<Option<bool>, Refusal> {
        let leaving = carried_rekey(m).map(|(_, l)| l).unwrap_or_default();
        // Whose each wrap is: by the state's key packages, or by an
        // announcement in the rekey's causal past that was cut off or
        // refused here (an honest rekey built before a concurrent removal
        // landed wraps to a package this state no longer lists).
        let owners: Vec<Option<PublicKey>> = rk
            .recipients()
            .map(|kp| {
                s.key_packages.get(kp).copied().or_else(|| self.dag.key_package_owner(kp, &id))
            })
            .collect();
        if let Some(owner) =
            owners.iter().flatten().find(|o| !s.members.contains_key(*o) || leaving.contains(*o))
        {
            return Err(Refusal::WrapsForNonMember(*owner));
        }
        // The member an admission lets in is wrapped to the package it
        // handed over, which no message announced yet: the fold cannot
        // attribute that wrap, so it does not ask for it.
        let admitted = match &m.body {
            Body::MemberAdd(a) => Some(a.member),
            _ => None,
        };
        let staying = s.members.keys().filter(|k| **k != m.author && !leaving.contains(k));
        // A set: a rekey to every member of a large group is judged on each
        // re-fold that passes it, and a scan per member was quadratic.
        let wrapped_to: BTreeSet<&PublicKey> = owners.iter().flatten().collect();
        for who in staying.filter(|k| Some(**k) != admitted) {
            let wrapped = wrapped_to.contains(who);
            if !wrapped && self.dag.announced_before(who, &id) {
                return Err(Refusal::MissesMember(*who));
            }
        }
        if rk.replaces == s.epoch.id {
            return Ok(None);
        }
        let current = MessageId(s.epoch.id.0);
        let mut parties = vec![m.author];
        parties.extend(self.message(&current).map(|(_, cm)| cm.author));
        let current_first =
            self.settled_by(&current, &id, &self.view_voters(&current, &parties), None);
        if self.dag.in_past(&current, &id) || current_first {
            return Err(Refusal::StaleEpoch);
        }
        Ok(self.settled_by(&id, &current, &self.view_voters(&id, &parties), None).then_some(true))
    }

    /// An epoch re-wrap (`keys.md`, "Stranded members") delivers the
    /// secret of the epoch it names and nothing else: its `replaces` and
    /// confirmation are those of the rekey that made that epoch (the
    /// confirmation binds the secret), and no wrap is for a non-member,
    /// whose package is known from the state or, as for rekeys, from any
    /// announcement in the re-wrap's causal past.
    fn rewrap_in_context(
        &self,
        s: &GroupState,
        id: MessageId,
        rw: &crate::wire::EpochRewrap,
    ) -> Result<(), Refusal> {
        let made_by = self.message(&MessageId(rw.epoch.0)).and_then(|(_, em)| match &em.body {
            Body::Rekey(r) => Some(r),
            _ => carried_rekey(em).map(|(r, _)| r),
        });
        let same = made_by.is_some_and(|r| {
            r.replaces == rw.rekey.replaces && r.confirmation == rw.rekey.confirmation
        });
        if !same {
            return Err(Refusal::RewrapMismatch);
        }
        let made = MessageId(rw.epoch.0);
        for kp in rw.rekey.recipients() {
            let owner =
                s.key_packages.get(kp).copied().or_else(|| self.dag.key_package_owner(kp, &id));
            let Some(owner) = owner else { continue };
            let Some(member) = s.members.get(&owner) else {
                return Err(Refusal::WrapsForNonMember(owner));
            };
            // An epoch begun before the member's (latest) admission carried
            // what was said without it: a new epoch lets it in, not this.
            let admitted = member.since.1;
            if admitted != made && !self.dag.in_past(&admitted, &made) {
                return Err(Refusal::RewrapPredatesAdmission(owner));
            }
        }
        Ok(())
    }

    fn suspended(&self, m: &UnsignedMessage) -> bool {
        self.equivocators.get(&m.author).is_some_and(|&fork| m.seq >= fork)
    }

    fn message(&self, id: &MessageId) -> Option<(Position, &UnsignedMessage)> {
        let pos = self.dag.position(id)?;
        self.order.get(&pos).map(|m| (pos, &**m))
    }

    fn refresh_standing(&mut self, id: MessageId) {
        if let Some(standing) = self.compute_standing(&id) {
            self.standing.insert(id, standing);
        }
    }

    /// Judges reduction `id` against the fold of its causal past
    /// (governance messages only: tasks never bear on a reduction). `None`
    /// before the genesis is in.
    fn compute_standing(&self, id: &MessageId) -> Option<Standing> {
        let (_, rm) = self.message(id)?;
        let s = self.fold_past(id)?;
        let verdict = self.judge_alone(&s, rm);
        Some(Standing { verdict, state: s })
    }

    /// The fold of `id`'s causal past (governance messages only, cut-offs
    /// limited to that past). `None` before the genesis is in.
    fn fold_past(&self, id: &MessageId) -> Option<GroupState> {
        let mut s = self.snapshots.base()?.clone();
        let mut past: Vec<(Position, MessageId)> = self
            .dag
            .past(id)
            .into_iter()
            .filter_map(|p| self.dag.position(&p).map(|pos| (pos, p)))
            .collect();
        past.sort();
        for (pos, pid) in past {
            match self.order.get(&pos) {
                Some(pm) if governs(pm) => drop(self.step(&mut s, pid, pm, Some(id))),
                _ => {}
            }
        }
        Some(s)
    }

    /// A reduction judged in one state, ignoring standing and cut-offs.
    fn judge_alone(&self, s: &GroupState, m: &UnsignedMessage) -> Result<(), Refusal> {
        if self.suspended(m) {
            return Err(Refusal::Equivocator);
        }
        authorize(s, m)
    }
}
