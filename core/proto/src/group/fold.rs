//! [`Fold`]: the group state as a deterministic fold over the message DAG.
//!
//! Messages are linearized by `(lamport, id)`. Each is judged against the
//! state at its position, with two refinements (`protocol-spec/group.md`,
//! "Authorization"):
//!
//! * **Standing.** A rights-reducing message (removal, role revocation,
//!   rule change) is judged against the fold of its own causal past: what
//!   its author had seen. So two concurrent removals of each other both
//!   apply, whichever comes first in the linearization.
//! * **Cut-offs.** A message is also judged against the state with each
//!   concurrent rights-reducing message that has standing and concerns its
//!   author already applied. So a removed member cannot act "before" the
//!   removal by citing old parents. A removal or revocation of the author of
//!   that reduction (mutual) is exempt.
//!
//! A late message re-folds from its position (or from the first message it
//! cuts off) using the nearest snapshot; snapshots are taken every
//! [`SNAPSHOT_EVERY`] state-changing messages. Chat and comments are judged
//! but never counted for snapshots and never change the state.

use std::collections::{BTreeMap, HashMap};

use super::authorize::{Refusal, authorize, carried_rekey, rekey};
use super::causal::Dag;
use super::evidence::Evidence;
use super::rules::Rules;
use super::state::{GroupState, Position};
use crate::chain::{Entry, Verified};
use crate::crypto::PublicKey;
use crate::wire::{Body, Chat, GroupId, MessageId, UnsignedMessage};

/// A snapshot of the state every this many state-changing messages.
pub const SNAPSHOT_EVERY: usize = 32;

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
    order: BTreeMap<Position, UnsignedMessage>,
    snapshots: BTreeMap<Position, GroupState>,
    state: Option<GroupState>,
    verdicts: HashMap<MessageId, Verdict>,
    standing: HashMap<MessageId, Standing>,
    by_target: HashMap<PublicKey, Vec<MessageId>>,
    rule_changes: Vec<MessageId>,
    equivocators: BTreeMap<PublicKey, u64>,
    evidence: Evidence,
    last_refold: usize,
    /// State-changing messages folded since the last snapshot.
    since_snapshot: usize,
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

impl Fold {
    /// An empty fold for the group whose genesis message is `genesis`.
    pub fn new(group: GroupId, genesis: MessageId) -> Self {
        Self {
            group,
            genesis,
            dag: Dag::default(),
            order: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            state: None,
            verdicts: HashMap::new(),
            standing: HashMap::new(),
            by_target: HashMap::new(),
            rule_changes: Vec::new(),
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

    /// Every applied message, in linearization order (what a UI shows as
    /// the group's history: chat beside joins, removals, role changes).
    pub fn timeline(&self) -> impl Iterator<Item = (MessageId, &UnsignedMessage)> {
        self.order
            .iter()
            .filter(|((_, id), _)| self.verdicts.get(id).is_some_and(Verdict::applied))
            .map(|((_, id), m)| (*id, m))
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

    /// Folds in a message the chain accepted (in causal order).
    pub fn insert_entry(&mut self, entry: &Entry<Verified>) -> Vec<Change> {
        self.insert(entry.id(), entry.message())
    }

    /// Folds in message `m` with id `id`. Its parents must have been
    /// inserted before (the chain accepts in causal order). Returns every
    /// message whose verdict is new or changed.
    pub fn insert(&mut self, id: MessageId, m: &UnsignedMessage) -> Vec<Change> {
        if self.verdicts.contains_key(&id) || self.order.contains_key(&(m.lamport, id)) {
            return Vec::new();
        }
        self.dag.insert(id, m);
        if let Body::Genesis(g) = &m.body {
            return self.genesis(id, m, &g.name, &g.rules);
        }
        if m.group != self.group {
            // The chain refuses these; a fold fed directly refuses them too.
            return self.settle(id, m.author, Verdict::Refused(Refusal::NeverMember));
        }
        self.order.insert((m.lamport, id), m.clone());
        let mut start = (m.lamport, id);
        if is_reduction(m) {
            self.index_reduction(id, m);
            self.refresh_standing(id);
            start = start.min(self.first_cut(&id, m));
        }
        let last = self.order.keys().next_back().copied();
        if start == (m.lamport, id)
            && last == Some(start)
            && let Some(changes) = self.append(start)
        {
            return changes;
        }
        self.refold(start)
    }

    fn index_reduction(&mut self, id: MessageId, m: &UnsignedMessage) {
        match target(m) {
            Some(t) => self.by_target.entry(t).or_default().push(id),
            None => self.rule_changes.push(id),
        }
    }

    /// The earliest message a new reduction could change the verdict of:
    /// the first messages it cuts off, and those cut off by reductions of
    /// the members it concerns (it may make them ineligible).
    fn first_cut(&self, id: &MessageId, m: &UnsignedMessage) -> Position {
        let concerned: Vec<PublicKey> = match target(m) {
            Some(t) => vec![t],
            None => self.dag.authors().to_vec(),
        };
        let mut start = self.reach(id, m);
        for r in self.by_target.values().flatten().chain(&self.rule_changes) {
            match self.message(r) {
                Some((_, rm)) if concerned.contains(&rm.author) => {
                    start = start.min(self.reach(r, rm))
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
        self.snapshots.insert(BASE, base.clone());
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
            self.snapshots.insert(key, snap);
            self.since_snapshot = 0;
        }
        self.since_snapshot += usize::from(state_changing && verdict.applied());
        self.state = Some(s);
        self.last_refold = 1;
        Some(self.settle(key.1, author, verdict))
    }

    /// Re-folds every message from `start` on, from the nearest snapshot.
    fn refold(&mut self, start: Position) -> Vec<Change> {
        let Some((&from, snap)) = self.snapshots.range(..=start).next_back() else {
            return Vec::new(); // no genesis yet
        };
        let mut s = snap.clone();
        let mut later = self.snapshots.split_off(&from);
        if let Some(kept) = later.remove(&from) {
            self.snapshots.insert(from, kept);
        }
        let keys: Vec<Position> = self.order.range(from..).map(|(k, _)| *k).collect();
        self.last_refold = keys.len();
        let (mut changes, mut since) = (Vec::new(), 0usize);
        for key in keys {
            let Some(m) = self.order.get(&key) else { continue };
            let (author, state_changing) = (m.author, changes_state(m));
            if state_changing && since >= SNAPSHOT_EVERY && key != from {
                self.snapshots.insert(key, s.clone());
                since = 0;
            }
            let verdict = self.step(&mut s, key.1, m, None);
            since += usize::from(state_changing && verdict.applied());
            changes.extend(self.settle(key.1, author, verdict));
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
        if let Body::Rekey(r) = &m.body {
            s.adopt_rekey(id, r.replaces, false);
        }
        let Some((rk, leaving)) = carried_rekey(m) else { return Verdict::Applied };
        if let Err(e) = rekey(s, rk, &leaving) {
            return Verdict::RekeyDropped(e);
        }
        if s.adopt_rekey(id, rk.replaces, true) {
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
        if self.equivocators.get(&m.author).is_some_and(|&fork| m.seq >= fork) {
            return Err(Refusal::Equivocator);
        }
        let base = match self.standing.get(&id).filter(|_| is_reduction(m)) {
            Some(st) => {
                st.verdict.clone()?;
                &st.state
            }
            None => {
                authorize(s, m)?;
                s
            }
        };
        for (rid, rm) in self.cutters(&id, m, universe) {
            let mut cut = base.clone();
            cut.apply(rid, rm);
            if let Err(e) = authorize(&cut, m) {
                return Err(Refusal::CutOff { by: rid, because: Box::new(e) });
            }
        }
        Ok(())
    }

    /// The reductions that cut `id` off: [`Fold::raw_cutters`] that are
    /// themselves *eligible* (not cut off by a raw cutter of their own).
    /// One level only, so that a removed member's backdated removal of a
    /// third party cannot cut that party off, and the result never depends
    /// on the order in which reductions are examined.
    fn cutters(
        &self,
        id: &MessageId,
        m: &UnsignedMessage,
        universe: Option<&MessageId>,
    ) -> Vec<(MessageId, &UnsignedMessage)> {
        let mut out = self.raw_cutters(id, m, universe);
        out.retain(|(r, rm)| self.eligible(r, rm, universe));
        out
    }

    fn eligible(&self, r: &MessageId, rm: &UnsignedMessage, universe: Option<&MessageId>) -> bool {
        let Some(st) = self.standing.get(r) else { return false };
        self.raw_cutters(r, rm, universe).into_iter().all(|(r2, r2m)| {
            let mut cut = st.state.clone();
            cut.apply(r2, r2m);
            authorize(&cut, rm).is_ok()
        })
    }

    /// Reductions with standing, concurrent with `id`, that concern its
    /// author, in linearization order; mutual removals are exempt.
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
            .filter(|(_, _, rm)| !(target(rm).is_some() && target(m) == Some(rm.author)))
            .collect();
        out.sort_by_key(|(p, _, _)| *p);
        out.into_iter().map(|(_, r, rm)| (r, rm)).collect()
    }

    fn suspended(&self, m: &UnsignedMessage) -> bool {
        self.equivocators.get(&m.author).is_some_and(|&fork| m.seq >= fork)
    }

    fn message(&self, id: &MessageId) -> Option<(Position, &UnsignedMessage)> {
        let pos = self.dag.position(id)?;
        self.order.get(&pos).map(|m| (pos, m))
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
        let mut s = self.snapshots.get(&BASE)?.clone();
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
        let verdict = self.judge_alone(&s, rm);
        Some(Standing { verdict, state: s })
    }

    /// A reduction judged in one state, ignoring standing and cut-offs.
    fn judge_alone(&self, s: &GroupState, m: &UnsignedMessage) -> Result<(), Refusal> {
        if self.suspended(m) {
            return Err(Refusal::Equivocator);
        }
        authorize(s, m)
    }
}
