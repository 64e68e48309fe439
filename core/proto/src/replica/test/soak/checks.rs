//! The soak's invariants, checked on every replica after every step, and
//! the figures a run reports.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{N, Post, SYBIL, Soak};
use crate::crypto::PublicKey;
use crate::epoch::KeyPackageId;
use crate::group::{Refusal, Verdict, content_binding};
use crate::store::Store;
use crate::wire::{Body, EpochId, MessageId, Sealed};

/// Why a member must not open an honest message.
#[derive(Clone, Debug)]
pub(super) enum Bar {
    /// Removed, and the writer's epoch was not exposed to it.
    Removed,
    /// The task content is sealed to this role, which the member does not
    /// hold: it was never given it (assigned or granted its key), or every
    /// such gift precedes an applied revocation that precedes the writer's
    /// epoch.
    /// Fixed from `viewer`'s view when `creator` made the writer's epoch,
    /// and checked again each time (a later grant to the member lifts it).
    Role { role: String, viewer: usize, creator: MessageId },
}

/// What one replica has been seen to settle.
#[derive(Default)]
pub(super) struct Watch {
    /// Messages seen settled and applied.
    final_: BTreeSet<MessageId>,
    /// Every epoch that was current here.
    epochs: BTreeSet<EpochId>,
}

/// The figures of one run (or of many, added).
#[derive(Default, Clone, Debug)]
pub(super) struct Figures {
    pub(super) runs: usize,
    pub(super) steps: usize,
    pub(super) messages: usize,
    pub(super) sybil: usize,
    /// Messages member 0 holds at the end, and how many of them are settled.
    pub(super) held: usize,
    pub(super) settled: usize,
    /// Messages seen final (settled and applied) at some replica, summed.
    pub(super) finals: usize,
    /// Epochs that were current at some replica, genesis excluded.
    pub(super) rekeys: usize,
    pub(super) heals: usize,
    /// Honest messages barred to someone, and the openings tried (all failed).
    pub(super) bars: usize,
    pub(super) barred_tries: usize,
    pub(super) revoked_tries: usize,
    /// Runs whose honest members that stay ended with one state.
    pub(super) converged: usize,
    /// Role bars lifted by a later grant to the member.
    pub(super) lifted: usize,
    /// Members left with messages waiting for a parent they never get.
    pub(super) stuck: usize,
    /// Members who stay but were left out of the current epoch's rekey,
    /// their key package being concurrent with it.
    pub(super) locked_out: usize,
    /// Members wrapped into the current epoch under a key package whose
    /// secret they no longer hold (a newer one superseded it).
    pub(super) wrap_lost: usize,
    /// Key requests and epoch re-wraps member 0 applied (`keys.md`,
    /// "Stranded members"), and the adversaries' re-wraps it refused.
    pub(super) requests: usize,
    pub(super) rewraps: usize,
    pub(super) rewraps_refused: usize,
}

impl Figures {
    pub(super) fn add(&mut self, f: &Figures) {
        self.runs += f.runs;
        self.steps += f.steps;
        self.messages += f.messages;
        self.sybil += f.sybil;
        self.held += f.held;
        self.settled += f.settled;
        self.finals += f.finals;
        self.rekeys += f.rekeys;
        self.heals += f.heals;
        self.bars += f.bars;
        self.barred_tries += f.barred_tries;
        self.revoked_tries += f.revoked_tries;
        self.converged += f.converged;
        self.stuck += f.stuck;
        self.lifted += f.lifted;
        self.locked_out += f.locked_out;
        self.wrap_lost += f.wrap_lost;
        self.requests += f.requests;
        self.rewraps += f.rewraps;
        self.rewraps_refused += f.rewraps_refused;
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.held == 0 { 0.0 } else { 100.0 * self.settled as f64 / self.held as f64 };
        write!(
            f,
            "{} runs, {} steps, {} messages ({} by the sybil); settled at member 0 at the end: \
             {} of {} ({pct:.0}%), {} seen final over all replicas; {} rekeys adopted ({} heals); \
             {} barred messages, {} openings by removed or revoked members tried and failed \
             ({} of them by revoked members), {} bars lifted by a later grant; {} runs converged; {} members stuck behind \
             a missing parent, {} locked out of the last epoch (key package concurrent with \
             its rekey), {} member-steps wrapped under a key package no longer held; {} key \
             requests, {} re-wraps applied, {} re-wraps refused",
            self.runs,
            self.steps,
            self.messages,
            self.sybil,
            self.settled,
            self.held,
            self.finals,
            self.rekeys,
            self.heals,
            self.bars,
            self.barred_tries,
            self.revoked_tries,
            self.lifted,
            self.converged,
            self.stuck,
            self.locked_out,
            self.wrap_lost,
            self.requests,
            self.rewraps,
            self.rewraps_refused,
        )
    }
}

/// The binding and sealed layer of a task create or comment.
fn sealed_of(p: &Post) -> Option<([u8; 32], &Sealed)> {
    let m = &p.msg;
    let sealed = match &m.body {
        Body::TaskCreate(t) => &t.content,
        Body::TaskComment(c) => &c.content,
        _ => return None,
    };
    Some((content_binding(&m.group, &m.author, m.seq), sealed))
}

impl Soak {
    /// Every invariant on every replica.
    pub(super) fn check(&mut self) {
        self.convergence();
        self.confinement();
        self.not_stranded();
        self.bounded_cost();
        self.finality();
        for i in 0..N {
            let e = self.members[i].replica.epoch();
            self.watch[i].epochs.insert(e);
        }
    }

    /// Replicas holding the same messages (and proofs) have one state hash;
    /// every replica holding an epoch's secret holds the same one.
    fn convergence(&mut self) {
        type Held = (Vec<MessageId>, Vec<(PublicKey, u64)>);
        let mut seen: BTreeMap<Held, (usize, Option<[u8; 32]>)> = BTreeMap::new();
        let mut secrets: BTreeMap<EpochId, (usize, [u8; 32])> = BTreeMap::new();
        let mut out = Vec::new();
        for i in 0..N {
            let r = &self.members[i].replica;
            let held: Vec<MessageId> =
                self.log.iter().map(|p| p.id).filter(|id| r.fold().holds(id)).collect();
            let forks: Vec<(PublicKey, u64)> = (0..=N)
                .filter_map(|a| {
                    let proof = r.chain().equivocation(&self.key(a))?;
                    Some((self.key(a), proof.first.message.seq))
                })
                .collect();
            let hash = r.fold().state_hash();
            match seen.get(&(held.clone(), forks.clone())) {
                Some((j, h)) if *h != hash => {
                    out.push(format!("members {j} and {i} hold the same messages, states differ"));
                }
                Some(_) => {}
                None => drop(seen.insert((held, forks), (i, hash))),
            }
            let ring = r.keys().ring();
            for e in ring.epochs() {
                let Some(s) = ring.epoch_secret(e) else { continue };
                match secrets.get(e) {
                    Some((j, b)) if b != s.as_bytes() => {
                        out.push(format!("members {j} and {i} hold different secrets of {e:?}"));
                    }
                    Some(_) => {}
                    None => drop(secrets.insert(*e, (i, *s.as_bytes()))),
                }
            }
        }
        out.into_iter().for_each(|f| self.fail(f));
    }

    /// The bars `who` fixes, from its view, for an honest message `body`.
    pub(super) fn bars_for(&self, who: usize, body: &Body) -> Vec<(usize, Bar)> {
        let Some(s) = self.members[who].replica.state() else { return Vec::new() };
        let mut out = Vec::new();
        for x in (0..N).filter(|x| *x != who) {
            let k = self.key(x);
            let gone = s.former.contains_key(&k) && !s.members.contains_key(&k);
            if gone && !s.epoch.exposed_to.contains(&k) {
                out.push((x, Bar::Removed));
            }
        }
        let roles: Vec<String> = match body {
            Body::TaskCreate(t) => t.readable_by.clone(),
            Body::TaskComment(c) => s
                .tasks
                .get(&c.task)
                .map(|t| t.readable_by.iter().cloned().collect())
                .unwrap_or_default(),
            _ => return out,
        };
        let creator = MessageId(s.epoch.id.0);
        for x in (0..N).filter(|x| *x != who) {
            let kx = self.key(x);
            if !s.members.contains_key(&kx) {
                continue;
            }
            // A member whose roles hold or read a role holds its key
            // (read-down, `keys.md`, "Who holds which key").
            for role in roles.iter().filter(|r| !crate::group::has_key_of(s, &kx, r)) {
                if self.barred_from(who, x, role, &creator) {
                    out.push((x, Bar::Role { role: role.clone(), viewer: who, creator }));
                }
            }
        }
        out
    }

    /// Whether every assignment of `role` to `x` precedes an applied (at
    /// `viewer`) revocation of it from `x` that precedes `creator`.
    fn barred_from(&self, viewer: usize, x: usize, role: &str, creator: &MessageId) -> bool {
        let fold = self.members[viewer].replica.fold();
        let k = self.key(x);
        let owns = |kid: &KeyPackageId| {
            self.packages.get(kid).is_some_and(|kp| KeyPackageId::owned_by(&k, kp) == *kid)
        };
        // Roles that hold or read `role` under any rules the log has seen:
        // holding one gives its key (read-down).
        let reaching = self.roles_reaching(role);
        // A holder may hand its key to any member (honest or not, it could
        // leak it anyway): a grant to `x` counts as an assignment. Each
        // way in must be undone by an applied revocation of the same role
        // (of any role reaching it, for a grant) before `creator`.
        let revoked = |q: Option<&str>| -> Vec<MessageId> {
            (self.log.iter())
                .filter(|p| match &p.msg.body {
                    Body::RoleRevoke(v) => {
                        v.member == k && q.map_or(reaching.contains(&v.role), |q| v.role == q)
                    }
                    _ => false,
                })
                .filter(|p| fold.verdict(&p.id).is_some_and(Verdict::applied))
                .filter(|p| self.in_past(&p.id, creator))
                .map(|p| p.id)
                .collect()
        };
        let undone = |p: &Post, q: Option<&str>| revoked(q).iter().any(|v| self.in_past(&p.id, v));
        self.log.iter().all(|p| match &p.msg.body {
            Body::RoleKeyGrant(g) if g.role == role && g.recipients().any(owns) => undone(p, None),
            Body::RoleAssign(a) if a.member == k && reaching.contains(&a.role) => {
                undone(p, Some(&a.role))
            }
            Body::MemberAdd(a) if a.member == k => {
                a.roles.iter().filter(|r| reaching.contains(*r)).all(|r| undone(p, Some(r)))
            }
            Body::Genesis(_) => p.author != x,
            _ => true,
        })
    }

    /// The roles that hold or read `role` under the genesis rules or any
    /// rule change written.
    fn roles_reaching(&self, role: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([role.to_owned()]);
        for p in &self.log {
            let bytes = match &p.msg.body {
                Body::Genesis(g) => &g.rules,
                Body::RuleChange(r) => &r.rules,
                _ => continue,
            };
            let Ok(rules) = crate::group::Rules::decode(bytes) else { continue };
            for (name, def) in &rules.roles {
                if def.reads.contains(role) {
                    out.insert(name.clone());
                }
            }
        }
        out
    }

    /// No barred member opens the envelopes (removed) or the sealed content
    /// of a barred message with any key it holds or built.
    fn confinement(&mut self) {
        let mut out = Vec::new();
        let bars = std::mem::take(&mut self.bars);
        let (bars, lifted): (Vec<_>, Vec<_>) =
            bars.into_iter().partition(|(_, x, bar)| match bar {
                Bar::Removed => true,
                Bar::Role { role, viewer, creator } => self.barred_from(*viewer, *x, role, creator),
            });
        self.figures.lifted += lifted.len();
        self.bars = bars;
        for (id, x, bar) in &self.bars {
            let post = &self.log[self.index[id]];
            let m = &self.members[*x];
            let ring = m.replica.keys().ring();
            let secrets: Vec<_> =
                ring.epochs().filter_map(|e| ring.epoch_secret(e)).chain(&m.built).collect();
            let envelope = matches!(bar, Bar::Removed)
                && post.envelopes.iter().any(|e| secrets.iter().any(|s| e.open(&s.keys()).is_ok()));
            let content = sealed_of(post)
                .is_some_and(|(b, sealed)| m.replica.keys().open_task_content(&b, sealed).is_ok());
            self.figures.barred_tries += 1;
            if matches!(bar, Bar::Role { .. }) {
                self.figures.revoked_tries += 1;
            }
            if envelope || content {
                let what = if envelope { "envelope" } else { "sealed content" };
                let kind = format!("{:?}", post.msg.body);
                let kind = kind.split('(').next().unwrap_or_default();
                let by = post.author;
                out.push(format!("member {x} ({bar:?}) opens the {what} of a {kind} by {by}"));
            }
        }
        out.into_iter().for_each(|f| self.fail(f));
    }

    /// Every member who stays and announced a key package since its latest
    /// admission, before the current epoch, holds the current epoch's
    /// secret (its own view; an adversary's hand-built epoch excepted).
    fn not_stranded(&mut self) {
        let mut out = Vec::new();
        for i in 0..N {
            let r = &self.members[i].replica;
            let held =
                r.state().is_some_and(|s| r.keys().ring().epoch_secret(&s.epoch.id).is_some());
            if held || !self.announced_before(i) {
                continue;
            }
            // Wrapped to a package of its own whose secret it no longer
            // holds (superseded by a concurrent newer one): a lock-out
            // that only a re-wrap heals (issue 15), counted. Not wrapped
            // at all: the fold should have refused the rekey.
            if self.creator_wraps_to(i) {
                self.figures.wrap_lost += 1;
            } else {
                out.push(format!("member {i} stays, announced a key package, lacks its epoch"));
            }
        }
        out.into_iter().for_each(|f| self.fail(f));
    }

    /// Whether the rekey that made member `i`'s current epoch wraps to a
    /// key package of `i`'s (any it announced or handed over).
    fn creator_wraps_to(&self, i: usize) -> bool {
        let r = &self.members[i].replica;
        let Some(s) = r.state() else { return false };
        let Some(c) = self.index.get(&MessageId(s.epoch.id.0)).map(|j| &self.log[*j]) else {
            return false;
        };
        let rekey = match &c.msg.body {
            Body::Rekey(rk) => Some(rk),
            Body::MemberAdd(a) => a.rekey.as_ref(),
            Body::MemberRemove(m) => m.rekey.as_ref(),
            Body::RoleRevoke(v) => v.rekey.as_ref(),
            _ => None,
        };
        let me = self.key(i);
        let mine = |to: &KeyPackageId| {
            self.packages.get(to).is_some_and(|kp| KeyPackageId::owned_by(&me, kp) == *to)
        };
        rekey.is_some_and(|rk| rk.recipients().any(mine))
    }

    /// Whether member `i`, a member in its own view, announced a key
    /// package (applied) since its latest admission and before the message
    /// that made its current epoch, or was admitted by that message (an
    /// adversary's own hand-built epoch excepted).
    fn announced_before(&self, i: usize) -> bool {
        let r = &self.members[i].replica;
        let (Some(s), me) = (r.state(), self.key(i)) else { return false };
        if !s.members.contains_key(&me) {
            return false;
        }
        let creator = MessageId(s.epoch.id.0);
        let Some(c) = self.index.get(&creator).map(|j| &self.log[*j]) else { return false };
        if c.author == i && !self.honest(i) {
            return false;
        }
        let applied = |p: &&Post| r.fold().verdict(&p.id).is_some_and(Verdict::applied);
        let admitted = (self.log.iter().filter(applied))
            .filter(|p| match &p.msg.body {
                Body::MemberAdd(a) => a.member == me,
                Body::Genesis(_) => p.author == i,
                _ => false,
            })
            .last();
        let Some(a) = admitted.filter(|a| self.in_past(&a.id, &creator)) else { return false };
        a.id == creator
            || (self.log.iter().filter(applied)).any(|p| {
                p.author == i
                    && p.msg.body.announced_key_package().is_some()
                    && self.in_past(&a.id, &p.id)
                    && self.in_past(&p.id, &creator)
            })
    }

    /// The sybil's messages cost nothing: no verdict, not held, no
    /// evidence, never stored.
    fn bounded_cost(&mut self) {
        let sybil = self.key(SYBIL);
        let mut out = Vec::new();
        for p in self.log.iter().filter(|p| p.author == SYBIL) {
            for (i, m) in self.members.iter().enumerate() {
                let f = m.replica.fold();
                let stored = m.replica.unsaved.iter().any(|e| e.id == p.id.0);
                if f.holds(&p.id)
                    || f.verdict(&p.id).is_some()
                    || f.evidence().keeps(&p.id)
                    || stored
                {
                    out.push(format!("member {i} keeps the sybil's {:?}", p.msg.body));
                }
            }
        }
        for (i, m) in self.members.iter().enumerate() {
            let vv = m.store.version_vector(&m.replica.group().0).unwrap_or_default();
            if vv.contains_key(&sybil) {
                out.push(format!("member {i} stored a column for the sybil"));
            }
        }
        out.into_iter().for_each(|f| self.fail(f));
    }

    /// A message once settled and applied at a replica stays applied there
    /// (unless its author is proven to equivocate).
    fn finality(&mut self) {
        let mut out = Vec::new();
        for i in 0..N {
            let f = self.members[i].replica.fold();
            for id in &self.watch[i].final_ {
                let v = f.verdict(id);
                let equivocated = v == Some(&Verdict::Refused(Refusal::Equivocator));
                if !v.is_some_and(Verdict::applied) && !equivocated {
                    let body = &self.log[self.index[id]].msg.body;
                    out.push(format!("member {i}: {body:?} was final, is now {v:?}"));
                }
            }
            let new: Vec<MessageId> = (self.log.iter())
                .map(|p| p.id)
                .filter(|id| !self.watch[i].final_.contains(id))
                .filter(|id| f.verdict(id).is_some_and(Verdict::applied) && f.settled(id))
                .collect();
            self.watch[i].final_.extend(new);
        }
        out.into_iter().for_each(|f| self.fail(f));
    }

    /// After the flush: honest members who stay hold one state, and a last
    /// honest message in the current epoch opens for every member who stays
    /// and announced a key package before it.
    pub(super) fn last_word(&mut self) {
        let current = |s: &Soak, i: usize| {
            s.members[i].replica.state().is_some_and(|st| st.members.contains_key(&s.key(i)))
        };
        let honest: Vec<usize> = (0..N).filter(|i| self.honest(*i) && current(self, *i)).collect();
        let hashes: BTreeSet<_> =
            honest.iter().map(|i| self.members[*i].replica.fold().state_hash()).collect();
        if hashes.len() <= 1 {
            self.figures.converged += 1;
        }
        let Some(&writer) = honest.first() else { return };
        let Some(id) = self.write(writer, super::chat("last word")) else { return };
        let epoch = self.log[self.index[&id]].msg.epoch;
        for to in 0..N {
            self.relay.release(to);
            self.deliver(to, usize::MAX);
        }
        self.check();
        let s = self.members[writer].replica.state().cloned();
        for i in (0..N).filter(|i| *i != writer) {
            let stays = s.as_ref().is_some_and(|s| s.members.contains_key(&self.key(i)));
            let r = &self.members[i].replica;
            let opened = r.chain().entry(&id).is_some();
            if !stays || r.epoch() != epoch || opened {
                continue;
            }
            // Messages citing the other branch of an equivocation this
            // member never received wait for it for good (resync goes by
            // seq, not by id); a member whose key package the epoch's rekey
            // could not have known waits for the next rekey.
            if r.chain().pending_len() > 0 {
                self.figures.stuck += 1;
            } else if !self.announced_before(i) {
                self.figures.locked_out += 1;
            } else {
                self.fail(format!(
                    "member {i} stays in the epoch but did not take the last word in"
                ));
            }
        }
    }

    /// This run's figures.
    pub(super) fn figures(&self, steps: usize) -> Figures {
        let f0 = self.members[0].replica.fold();
        let count = |held: &[&Post], kind: fn(&Body) -> bool, applied: bool| {
            (held.iter())
                .filter(|p| kind(&p.msg.body))
                .filter(|p| f0.verdict(&p.id).is_some_and(Verdict::applied) == applied)
                .count()
        };
        let held: Vec<&Post> = self.log.iter().filter(|p| f0.holds(&p.id)).collect();
        let epochs: BTreeSet<EpochId> =
            self.watch.iter().flat_map(|w| w.epochs.iter().copied()).collect();
        Figures {
            runs: 1,
            steps,
            messages: self.log.len(),
            held: held.len(),
            settled: held.iter().filter(|p| f0.settled(&p.id)).count(),
            finals: self.watch.iter().map(|w| w.final_.len()).sum(),
            rekeys: epochs.len().saturating_sub(1),
            bars: self.bars.len(),
            requests: count(&held, |b| matches!(b, Body::KeyRequest(_)), true),
            rewraps: count(&held, |b| matches!(b, Body::EpochRewrap(_)), true),
            rewraps_refused: count(&held, |b| matches!(b, Body::EpochRewrap(_)), false),
            ..self.figures.clone()
        }
    }
}
