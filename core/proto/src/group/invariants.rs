//! Executable invariants of the group fold, for the model checker
//! (`group::model`), the adversarial soak (`group::test::adversary`) and the
//! scenario tests (`group::test::model_finds`).
//!
//! Each check looks only at what a [`Fold`] exposes (`state`, `state_hash`,
//! `verdict`, `evidence`, `applied_order`, `insert`, `equivocation`) and at
//! the messages written ([`History`]), never at the fold's internals nor
//! its authorization code: the same checks hold whatever precedence rules
//! the fold uses. Each returns the first broken rule as a [`Violation`]
//! naming the messages involved. No escalation is in [`escalation`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

mod escalation;

pub(super) use escalation::no_escalation;

use super::{Fold, Power, Refusal, Role, Verdict, capability};
use crate::chain::Entry;
use crate::crypto::PublicKey;
use crate::epoch::{KeyPackageId, Rekey};
use crate::wire::{Body, GroupId, MessageId, UnsignedMessage};

/// The invariants, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Invariant {
    /// Same messages, same state (hash and value), in any causal order.
    Convergence,
    /// Every grant applied was within its author's powers where the fold
    /// applied it; every role held traces back to the founder role
    /// ([`escalation`]).
    NoEscalation,
    /// A settled, applied message stays applied.
    Finality,
    /// A message changes only the verdicts it concerns.
    Containment,
    /// A removed member cannot read the current epoch; a rekey leaves out
    /// no member who announced a key package.
    KeyConfinement,
    /// A key never admitted costs nothing but a `NeverMember` verdict.
    BoundedCost,
}

/// The invariants the model check and the soak fail on: all of them.
pub(super) const ENFORCED: &[Invariant] = &[
    Invariant::Convergence,
    Invariant::NoEscalation,
    Invariant::Finality,
    Invariant::Containment,
    Invariant::KeyConfinement,
    Invariant::BoundedCost,
];
/// A broken invariant, with what broke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Violation {
    pub(super) invariant: Invariant,
    pub(super) detail: String,
}

impl Violation {
    fn new(invariant: Invariant, detail: String) -> Self {
        Self { invariant, detail }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.invariant, self.detail)
    }
}

/// The first bytes of an id, for messages.
pub(super) fn short(id: &MessageId) -> String {
    crate::hex::short(&id.0, 6)
}

/// The first bytes of a key, for messages.
pub(super) fn who(key: &PublicKey) -> String {
    format!("key:{}", crate::hex::short(&key.0, 6))
}

/// One message written: its id and the message (author, body, parents).
#[derive(Clone, Debug)]
pub(super) struct Written {
    pub(super) id: MessageId,
    pub(super) msg: UnsignedMessage,
}

impl Written {
    /// Decodes and verifies signed bytes; `None` for junk (a tampered copy).
    pub(super) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let entry = Entry::decode(bytes.to_vec()).and_then(Entry::verify).ok()?;
        Some(Self { id: entry.id(), msg: entry.message().clone() })
    }
}

/// The messages written, in writing order (parents before children), with
/// their causal pasts as bit sets.
#[derive(Clone, Default)]
pub(super) struct History {
    msgs: Vec<Written>,
    index: HashMap<MessageId, usize>,
    past: Vec<Vec<u64>>,
    /// Messages whose author had no admission in their causal past: as in
    /// the fold, they are outside every causal past (a message citing one
    /// does not see it, nor what only it leads to).
    junk: Vec<bool>,
}

impl History {
    pub(super) fn new(written: impl IntoIterator<Item = Written>) -> Self {
        let mut h = Self::default();
        written.into_iter().for_each(|w| h.push(w));
        h
    }

    /// Adds a message (parents not written before are ignored); a message
    /// already held is ignored.
    pub(super) fn push(&mut self, w: Written) {
        if self.index.contains_key(&w.id) {
            return;
        }
        let at = self.msgs.len();
        let mut past = vec![0u64; at / 64 + 1];
        let held = w.msg.parents.iter().filter_map(|p| self.index.get(p));
        for p in held.filter(|p| !self.junk[**p]) {
            for (mine, theirs) in past.iter_mut().zip(&self.past[*p]) {
                *mine |= theirs;
            }
            past[*p / 64] |= 1 << (*p % 64);
        }
        let seen = |i: usize| past.get(i / 64).is_some_and(|b| b & (1 << (i % 64)) != 0);
        let founder = self.msgs.first().map(|g| g.msg.author);
        let admitted = matches!(w.msg.body, Body::Genesis(_))
            || founder == Some(w.msg.author)
            || self.msgs.iter().enumerate().any(|(i, a)| {
                matches!(&a.msg.body, Body::MemberAdd(add) if add.member == w.msg.author) && seen(i)
            });
        self.index.insert(w.id, at);
        self.past.push(past);
        self.junk.push(!admitted);
        self.msgs.push(w);
    }

    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Written> {
        self.msgs.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }

    pub(super) fn get(&self, id: &MessageId) -> Option<&Written> {
        self.index.get(id).map(|i| &self.msgs[*i])
    }

    /// True when `x` is a strict ancestor of `y`.
    pub(super) fn in_past(&self, x: &MessageId, y: &MessageId) -> bool {
        let (Some(&ix), Some(&iy)) = (self.index.get(x), self.index.get(y)) else { return false };
        self.past[iy].get(ix / 64).is_some_and(|w| w & (1 << (ix % 64)) != 0)
    }

    pub(super) fn concurrent(&self, x: &MessageId, y: &MessageId) -> bool {
        x != y && !self.in_past(x, y) && !self.in_past(y, x)
    }

    /// The genesis message, if written.
    fn genesis(&self) -> Option<&Written> {
        self.msgs.iter().find(|w| matches!(w.msg.body, Body::Genesis(_)))
    }
}

/// When a message counts as final: `settled(fold, history, id)`.
pub(super) type Settled<'a> = &'a dyn Fn(&Fold, &History, &MessageId) -> bool;

/// The default notion: at least ⌈2/3·|V|⌉ of the voters `V` have written a
/// message (held by the fold) with `id` in its past, where `V` are the
/// current members other than the author whose capability removes,
/// changes rules or manages a role. Nothing is settled when `V` is empty.
/// Settled as the fold's rule says ([`Fold::settled`]): the notion the
/// finality and containment checks hold the fold to.
pub(super) fn settled_by_rule(fold: &Fold, _h: &History, id: &MessageId) -> bool {
    fold.settled(id)
}

/// The notion the issue proposed (two thirds of the final state's voters):
/// printed in the soak's report beside the rule's own.
pub(super) fn settled_default(fold: &Fold, h: &History, id: &MessageId) -> bool {
    let (Some(s), Some(m)) = (fold.state(), h.get(id)) else { return false };
    let voters: Vec<&PublicKey> = s
        .members
        .keys()
        .filter(|k| **k != m.msg.author)
        .filter(|k| capability(s, k).is_ok_and(|c| votes(&c)))
        .collect();
    if voters.is_empty() {
        return false;
    }
    let need = (2 * voters.len()).div_ceil(3);
    let confirmed = voters.iter().filter(|v| confirms(fold, h, v, id)).count();
    confirmed >= need
}

fn votes(c: &Role) -> bool {
    c.powers.contains(&Power::Remove)
        || c.powers.contains(&Power::ChangeRules)
        || !c.manages.is_empty()
}

/// Whether `voter` wrote a held message with `id` in its past (its own
/// chain grows monotonically, so its latest held message decides).
fn confirms(fold: &Fold, h: &History, voter: &PublicKey, id: &MessageId) -> bool {
    h.iter()
        .rev()
        .filter(|w| w.msg.author == *voter && fold.verdict(&w.id).is_some())
        .any(|w| h.in_past(id, &w.id))
}

/// Every verdict the fold holds on the messages written.
pub(super) fn verdicts(fold: &Fold, h: &History) -> BTreeMap<MessageId, Verdict> {
    h.iter().filter_map(|w| fold.verdict(&w.id).map(|v| (w.id, v.clone()))).collect()
}

/// The messages settled now, among those the fold holds.
pub(super) fn settled_set(fold: &Fold, h: &History, settled: Settled) -> BTreeSet<MessageId> {
    h.iter()
        .filter(|w| fold.verdict(&w.id).is_some() && settled(fold, h, &w.id))
        .map(|w| w.id)
        .collect()
}

// ---------------------------------------------------------------- convergence

/// What a fold holds: the messages with a verdict, and the fork seq of each
/// equivocator it knows of (the least seq of theirs refused `Equivocator`).
fn holding(fold: &Fold, h: &History) -> (BTreeSet<MessageId>, BTreeMap<PublicKey, u64>) {
    let mut held = BTreeSet::new();
    let mut forks: BTreeMap<PublicKey, u64> = BTreeMap::new();
    for w in h.iter() {
        match fold.verdict(&w.id) {
            None => continue,
            Some(Verdict::Refused(Refusal::Equivocator)) => {
                let f = forks.entry(w.msg.author).or_insert(w.msg.seq);
                *f = (*f).min(w.msg.seq);
            }
            Some(_) => {}
        }
        held.insert(w.id);
    }
    (held, forks)
}

/// Folds holding the same messages (and knowing the same equivocations)
/// have byte-equal state hashes and equal states, and a fresh fold fed
/// those messages in another causal order agrees.
pub(super) fn convergence(folds: &[&Fold], h: &History) -> Result<(), Violation> {
    type Key = (BTreeSet<MessageId>, BTreeMap<PublicKey, u64>);
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, f) in folds.iter().enumerate() {
        groups.entry(holding(f, h)).or_default().push(i);
    }
    for ((held, forks), members) in groups {
        let first = folds[members[0]];
        for &i in &members[1..] {
            same_state(first, folds[i], &format!("folds {} and {i}", members[0]))?;
        }
        let fresh = refold(h, &held, &forks);
        same_state(
            first,
            &fresh,
            &format!("fold {} and a fresh fold in another order", members[0]),
        )?;
    }
    Ok(())
}

fn same_state(a: &Fold, b: &Fold, what: &str) -> Result<(), Violation> {
    if a.state_hash() != b.state_hash() {
        let d = format!("{what} hold the same messages but their state hashes differ");
        return Err(Violation::new(Invariant::Convergence, d));
    }
    if a.state() != b.state() {
        let d = format!("{what} hold the same messages, equal hashes, different states");
        return Err(Violation::new(Invariant::Convergence, d));
    }
    Ok(())
}

/// A fresh fold fed `held` in a causal order that takes the latest-written
/// ready message first (unlike writing order wherever there is
/// concurrency), then told of the equivocations.
pub(super) fn refold(
    h: &History,
    held: &BTreeSet<MessageId>,
    forks: &BTreeMap<PublicKey, u64>,
) -> Fold {
    let genesis = h.genesis().map(|g| g.id).unwrap_or(MessageId([0; 32]));
    let group = h.genesis().map(|g| g.msg.group).unwrap_or(GroupId([0; 32]));
    let mut fold = Fold::new(group, genesis);
    let mut left: Vec<&Written> = h.iter().filter(|w| held.contains(&w.id)).collect();
    let mut done: BTreeSet<MessageId> = BTreeSet::new();
    while !left.is_empty() {
        let ready = left
            .iter()
            .rposition(|w| w.msg.parents.iter().all(|p| done.contains(p) || !held.contains(p)));
        let Some(at) = ready else { break };
        let w = left.remove(at);
        fold.insert(w.id, &w.msg);
        done.insert(w.id);
    }
    for (author, fork) in forks {
        fold.equivocation(*author, *fork);
    }
    fold
}

// ---------------------------------------------------------------- finality

/// Finality of one fold over time: a message once settled and applied must
/// stay applied (its effect in the state; a rekey dropped later still
/// counts as applied) at every later check.
#[derive(Default)]
pub(super) struct Finality {
    final_at: BTreeMap<MessageId, usize>,
    checks: usize,
}

impl Finality {
    pub(super) fn check(
        &mut self,
        fold: &Fold,
        h: &History,
        settled: Settled,
    ) -> Result<(), Violation> {
        self.checks += 1;
        for (id, at) in &self.final_at {
            let now = fold.verdict(id);
            // An author proven to equivocate loses everything from the fork
            // on, settled or not: only the equivocator can cause that.
            let equivocated = now == Some(&Verdict::Refused(Refusal::Equivocator));
            if !now.is_some_and(Verdict::applied) && !equivocated {
                let d = format!(
                    "{} was settled and applied at check {at}, is {now:?} at check {}",
                    describe(h, id),
                    self.checks
                );
                return Err(Violation::new(Invariant::Finality, d));
            }
        }
        for w in h.iter() {
            let applied = fold.verdict(&w.id).is_some_and(Verdict::applied);
            if applied && !self.final_at.contains_key(&w.id) && settled(fold, h, &w.id) {
                self.final_at.insert(w.id, self.checks);
            }
        }
        Ok(())
    }

    /// How many messages are final so far.
    pub(super) fn settled(&self) -> usize {
        self.final_at.len()
    }
}

/// Two verdicts with the same effect on the state: equal, both refused
/// (only the reason differs), or one of two concurrent identical changes
/// applied and the other found it already done (which of the two sorts
/// first is not a matter of authority).
fn same_effect(a: &Verdict, b: &Verdict) -> bool {
    let duplicate =
        |v: &Verdict| matches!(v, Verdict::Refused(Refusal::AlreadySo | Refusal::TaskAlreadySo));
    let refused = |v: &Verdict| !v.applied();
    a == b
        || (refused(a) && refused(b))
        || (duplicate(a) && b.applied())
        || (duplicate(b) && a.applied())
}

/// A message in a violation: id, author and body kind.
pub(super) fn describe(h: &History, id: &MessageId) -> String {
    match h.get(id) {
        Some(w) => format!("{} ({} by {})", short(id), kind(&w.msg.body), who(&w.msg.author)),
        None => short(id),
    }
}

pub(super) fn kind(b: &Body) -> String {
    match b {
        Body::MemberRemove(r) => format!("MemberRemove({})", who(&r.member)),
        Body::MemberAdd(a) => {
            format!("MemberAdd({}, {:?}, rekey: {})", who(&a.member), a.roles, a.rekey.is_some())
        }
        Body::RoleAssign(r) => format!("RoleAssign({}, {})", who(&r.member), r.role),
        Body::RoleRevoke(r) => format!("RoleRevoke({}, {})", who(&r.member), r.role),
        Body::RuleChange(_) => "RuleChange".into(),
        Body::Rekey(_) => "Rekey".into(),
        Body::KeyPackage(_) => "KeyPackage".into(),
        Body::EpochRewrap(_) => "EpochRewrap".into(),
        Body::KeyRequest(_) => "KeyRequest".into(),
        Body::Genesis(_) => "Genesis".into(),
        Body::Chat(_) => "Chat".into(),
        other => format!("{other:?}").chars().take(24).collect(),
    }
}

// ---------------------------------------------------------------- containment

/// Whom a message concerns: `None` for everyone (a rule change).
fn concerns(w: &Written) -> Option<BTreeSet<PublicKey>> {
    let one = |k: PublicKey| Some(BTreeSet::from([k]));
    match &w.msg.body {
        Body::MemberRemove(r) => one(r.member),
        Body::RoleRevoke(r) => one(r.member),
        Body::RoleAssign(r) => one(r.member),
        Body::MemberAdd(a) => one(a.member),
        Body::Leave => one(w.msg.author),
        Body::RuleChange(_) => None,
        Body::TaskAssign(t) => Some(t.assign.iter().chain(&t.unassign).copied().collect()),
        _ => Some(BTreeSet::new()),
    }
}

fn is_reduction(b: &Body) -> bool {
    matches!(b, Body::MemberRemove(_) | Body::RoleRevoke(_) | Body::RuleChange(_))
}

fn concerns_author(seed: &Written, x: &Written) -> bool {
    concerns(seed).is_none_or(|c| c.contains(&x.msg.author))
}

/// Whether `x`'s legality can depend on `y`'s verdict: `y` concerns `x`'s
/// author or someone `x` concerns, is a rule change, both touch the epoch,
/// or `x` refers to the task `y` created.
fn depends(x: &Written, y: &Written) -> bool {
    let Some(cy) = concerns(y) else { return true };
    let cx = concerns(x).unwrap_or_default();
    if cy.contains(&x.msg.author) || !cy.is_disjoint(&cx) {
        return true;
    }
    if rekey_of(&x.msg.body).is_some() && rekey_of(&y.msg.body).is_some() {
        return true;
    }
    let task = match &x.msg.body {
        Body::TaskEdit(t) => Some(t.task),
        Body::TaskAssign(t) => Some(t.task),
        Body::TaskComment(t) => Some(t.task),
        Body::TaskClose(t) | Body::TaskReopen(t) => Some(t.task),
        _ => None,
    };
    task == Some(y.id)
}

/// After `arrived` reached a fold whose verdicts were `before` (with
/// `settled_before` final), the only verdicts that changed are (a) of the
/// new messages, (b) of messages by members a new message concerns,
/// concurrent with it and not settled (or, likewise, whose rekey wraps to
/// such a member; for a new message that proves an
/// equivocation: its author's messages from that seq on), and (c) of
/// messages whose legality depends on a change of (a) or (b).
pub(super) fn containment(
    before: &BTreeMap<MessageId, Verdict>,
    settled_before: &BTreeSet<MessageId>,
    fold: &Fold,
    h: &History,
    arrived: &[MessageId],
) -> Result<(), Violation> {
    let after = verdicts(fold, h);
    let mut seeds: Vec<&Written> = arrived.iter().filter_map(|id| h.get(id)).collect();
    seeds.extend(after.keys().filter(|id| !before.contains_key(*id)).filter_map(|id| h.get(id)));
    let (neutralised, changed): (Vec<&Written>, Vec<&Written>) = before
        .iter()
        .filter(|(id, v)| after.get(*id).is_none_or(|a| !same_effect(a, v)))
        .filter_map(|(id, _)| h.get(id))
        .partition(|x| after.get(&x.id) == Some(&Verdict::Refused(Refusal::Equivocator)));
    // A rekey wrapping to a member the arrival concerns depends on it too.
    let packages = package_owners(h);
    let wraps_to = |s: &Written, x: &Written| {
        let owners = rekey_of(&x.msg.body)
            .into_iter()
            .flat_map(|r| r.recipients())
            .filter_map(|to| packages.get(to));
        let concerned = concerns(s);
        owners.into_iter().any(|o| concerned.as_ref().is_none_or(|c| c.contains(o)))
    };
    let direct = |x: &Written| {
        !settled_before.contains(&x.id)
            && seeds.iter().any(|s| {
                let fork = s.msg.author == x.msg.author && s.msg.seq <= x.msg.seq && s.id != x.id;
                // A removal exposes the epoch, and any member may then heal;
                // an adopted rekey ends the exposure.
                let heals = matches!(x.msg.body, Body::Rekey(_))
                    && (matches!(s.msg.body, Body::MemberRemove(_) | Body::Leave)
                        || rekey_of(&s.msg.body).is_some());
                // A message naming a member the arrival concerns (an
                // assignment to a member it removes) depends on it.
                let names = match (concerns(s), concerns(x)) {
                    (Some(cs), Some(cx)) => !cs.is_disjoint(&cx),
                    _ => false,
                };
                // Concurrent rekeys compete: one is adopted, others lose.
                let rival = rekey_of(&x.msg.body).is_some() && rekey_of(&s.msg.body).is_some();
                let reaches = concerns_author(s, x) || wraps_to(s, x) || heals || names || rival;
                fork || (reaches && h.concurrent(&s.id, &x.id))
            })
    };
    // An arrival is also an acknowledgement. Concurrent with a reduction
    // that concerns `x`'s author or exposes the epoch `x` heals, or with a
    // rekey rivalling `x`'s (or its author's first message to see one), it
    // may settle `x` before that reduction and lift its cut-off, or settle
    // the reduction (or rival) before `x` and take away the seniority, the
    // exposure or the precedence that spared it; only while `x` is not
    // final.
    // A rekey healing an exposed epoch depends on every removal that
    // exposes it, whoever it concerns (any member may heal).
    let heal_of = |r: &Written, x: &Written| {
        matches!(x.msg.body, Body::Rekey(_)) && matches!(r.msg.body, Body::MemberRemove(_))
    };
    // Of two concurrent rekeys, the one settled first wins (`keys.md`).
    let rivals = |r: &Written, x: &Written| {
        rekey_of(&r.msg.body).is_some() && rekey_of(&x.msg.body).is_some()
    };
    let by_ack = |x: &Written| {
        !settled_before.contains(&x.id)
            && h.iter().any(|r| {
                (is_reduction(&r.msg.body) && (concerns_author(r, x) || heal_of(r, x))
                    || rivals(r, x))
                    && h.concurrent(&r.id, &x.id)
                    && seeds.iter().any(|s| h.concurrent(&s.id, &r.id) || h.in_past(&r.id, &s.id))
            })
    };
    // (c) follows changes of (b) only: a seed's own reach is (b). A message
    // neutralised by a proven equivocation is always allowed to change,
    // and what depends on it (a removal undone restores its member's
    // messages) follows it.
    let mut allowed: Vec<&Written> = neutralised;
    let mut pending: Vec<&Written> = Vec::new();
    for x in changed {
        if direct(x) || by_ack(x) { allowed.push(x) } else { pending.push(x) }
    }
    loop {
        let before_len = pending.len();
        let (ok, rest): (Vec<&Written>, Vec<&Written>) = pending
            .into_iter()
            .partition(|x| allowed.iter().any(|y| y.id != x.id && depends(x, y)));
        allowed.extend(ok);
        pending = rest;
        if pending.len() == before_len {
            break;
        }
    }
    match pending.first() {
        None => Ok(()),
        Some(x) => {
            let was = before.get(&x.id);
            let now = after.get(&x.id);
            let by: Vec<String> = arrived.iter().map(|a| describe(h, a)).collect();
            let d = format!(
                "arrival of {by:?} changed {} from {was:?} to {now:?}{}",
                describe(h, &x.id),
                if settled_before.contains(&x.id) { " (it was settled)" } else { "" }
            );
            Err(Violation::new(Invariant::Containment, d))
        }
    }
}

fn applied(fold: &Fold, id: &MessageId) -> bool {
    fold.verdict(id).is_some_and(Verdict::applied)
}

// ---------------------------------------------------------------- keys

pub(super) fn rekey_of(b: &Body) -> Option<&Rekey> {
    match b {
        Body::Rekey(r) => Some(r),
        Body::MemberAdd(a) => a.rekey.as_ref(),
        Body::MemberRemove(r) => r.rekey.as_ref(),
        Body::RoleRevoke(r) => r.rekey.as_ref(),
        _ => None,
    }
}

/// After an applied removal of `X` (not re-admitted), the current epoch
/// was created after the removal (has it in its past, or is the rekey it
/// carried), wraps to no key package of `X`, or lists `X` as exposed; and
/// the current epoch's rekey wraps to every current member (but its author)
/// who announced a key package in its causal past.
pub(super) fn key_confinement(fold: &Fold, h: &History) -> Result<(), Violation> {
    let Some(s) = fold.state() else { return Ok(()) };
    let bad = |d: String| Err(Violation::new(Invariant::KeyConfinement, d));
    let creator = h.get(&MessageId(s.epoch.id.0));
    let rk = creator.and_then(|c| rekey_of(&c.msg.body));
    let owners = package_owners(h);
    rewraps_confined(fold, h, &owners)?;
    let wraps_to =
        |k: &PublicKey| rk.is_some_and(|r| r.recipients().any(|to| owners.get(to) == Some(k)));
    for w in h.iter().filter(|w| applied(fold, &w.id)) {
        let Body::MemberRemove(r) = &w.msg.body else { continue };
        if s.members.contains_key(&r.member) || s.epoch.exposed_to.contains(&r.member) {
            continue;
        }
        let after = creator.is_some_and(|c| c.id == w.id || h.in_past(&w.id, &c.id));
        if !after && (rk.is_none() || wraps_to(&r.member)) {
            return bad(format!(
                "{} removed {}, yet the current epoch {} predates it and does not list them as exposed",
                describe(h, &w.id),
                who(&r.member),
                crate::hex::short(&s.epoch.id.0, 6)
            ));
        }
    }
    let (Some(c), Some(_)) = (creator, rk) else { return Ok(()) };
    for member in s.members.keys().filter(|k| **k != c.msg.author) {
        // A member (re-)admitted after the rekey was not its to wrap to.
        let admissions: Vec<&Written> = h
            .iter()
            .filter(|a| matches!(&a.msg.body, Body::MemberAdd(add) if add.member == *member))
            .filter(|a| applied(fold, &a.id))
            .collect();
        if admissions.last().is_some_and(|a| !h.in_past(&a.id, &c.id)) {
            continue;
        }
        let announced = h.iter().any(|k| {
            k.msg.author == *member
                && k.msg.body.announced_key_package().is_some()
                && h.in_past(&k.id, &c.id)
        });
        if announced && !wraps_to(member) {
            return bad(format!(
                "the current epoch's rekey {} leaves out member {} who had announced a key package",
                describe(h, &c.id),
                who(member)
            ));
        }
    }
    Ok(())
}

/// Whose each announced key package is, from every `KeyPackage` message
/// written (whatever its verdict: a package's id binds its owner), not
/// from the fold's state, which forgets a package that was cut off.
fn package_owners(h: &History) -> BTreeMap<KeyPackageId, PublicKey> {
    h.iter()
        .filter_map(|w| {
            let kp = w.msg.body.announced_key_package()?;
            Some((KeyPackageId::owned_by(&w.msg.author, kp), w.msg.author))
        })
        .collect()
}

/// An applied epoch re-wrap goes only to members admitted at or before
/// the epoch began and not removed since (where the epoch or the re-wrap
/// could see the removal): nobody reads, through a re-wrap, what was said
/// before it was admitted or after it was removed (`keys.md`, "Stranded
/// members").
fn rewraps_confined(
    fold: &Fold,
    h: &History,
    owners: &BTreeMap<KeyPackageId, PublicKey>,
) -> Result<(), Violation> {
    let removals: Vec<(&Written, PublicKey)> = (h.iter().filter(|w| applied(fold, &w.id)))
        .filter_map(|w| match &w.msg.body {
            Body::MemberRemove(r) => Some((w, r.member)),
            Body::Leave => Some((w, w.msg.author)),
            _ => None,
        })
        .collect();
    let before = |a: &MessageId, b: &MessageId| a == b || h.in_past(a, b);
    for w in h.iter().filter(|w| applied(fold, &w.id)) {
        let Body::EpochRewrap(rw) = &w.msg.body else { continue };
        let made = MessageId(rw.epoch.0);
        for x in rw.rekey.recipients().filter_map(|k| owners.get(k)) {
            // Entitled: admitted (or founded) at or before the epoch began,
            // and not removed since that admission where the epoch or the
            // re-wrap could see it.
            let admissions =
                h.iter().filter(|a| applied(fold, &a.id)).filter(|a| match &a.msg.body {
                    Body::MemberAdd(add) => add.member == *x,
                    Body::Genesis(_) => a.msg.author == *x,
                    _ => false,
                });
            let entitled = admissions.filter(|a| before(&a.id, &made)).any(|a| {
                !removals.iter().filter(|(_, who)| who == x).any(|(r, _)| {
                    h.in_past(&a.id, &r.id) && (before(&r.id, &made) || h.in_past(&r.id, &w.id))
                })
            });
            if !entitled {
                return Err(Violation::new(
                    Invariant::KeyConfinement,
                    format!(
                        "{} re-wraps epoch {} to {}, not a member when it began or removed since",
                        describe(h, &w.id),
                        crate::hex::short(&rw.epoch.0, 6),
                        who(x)
                    ),
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- cost

/// A message whose author has no admission (a `MemberAdd` naming it, or
/// the genesis) in its causal past is refused `NeverMember` and leaves no
/// evidence.
pub(super) fn bounded_cost(fold: &Fold, h: &History) -> Result<(), Violation> {
    let founder = h.genesis().map(|g| (g.id, g.msg.author));
    for w in h.iter() {
        let Some(v) = fold.verdict(&w.id) else { continue };
        let founded =
            founder.is_some_and(|(g, f)| f == w.msg.author && (g == w.id || h.in_past(&g, &w.id)));
        let admitted = founded
            || h.iter().any(|p| {
                matches!(&p.msg.body, Body::MemberAdd(a) if a.member == w.msg.author)
                    && h.in_past(&p.id, &w.id)
            });
        if admitted {
            continue;
        }
        let kept = fold.evidence().keeps(&w.id);
        if *v != Verdict::Refused(Refusal::NeverMember) || kept {
            let d = format!(
                "{} has no admission in its past, yet is {v:?}{}",
                describe(h, &w.id),
                if kept { " and kept as evidence" } else { "" }
            );
            return Err(Violation::new(Invariant::BoundedCost, d));
        }
    }
    Ok(())
}

/// The state-level invariants of one fold (all but finality and
/// containment, which need its past).
pub(super) fn state_level(fold: &Fold, h: &History) -> Vec<Violation> {
    [no_escalation(fold, h), key_confinement(fold, h), bounded_cost(fold, h)]
        .into_iter()
        .filter_map(Result::err)
        .collect()
}
