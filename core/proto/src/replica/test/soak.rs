//! An adversarial soak of whole [`Replica`]s (issue 12): five seeded
//! members with real identities, keys, epochs, rekeys, role-key grants and
//! sealed task content, talking only through a hostile relay
//! ([`relay::Relay`]: delays, reorders, duplicates, replays, withholds) and
//! peer resync ([`Replica::resync_for`], with its entitlement rules).
//! Honest members chat, seal tasks to their roles, comment, remove (with
//! the removal's rekey), revoke (with the revocation's rekey), assign,
//! re-admit, post what their keys ask ([`Replica::key_actions`]) and heal an
//! exposed epoch. One or two adversarial members write anything at random
//! (rule changes, grants, removals, revocations, admissions, plain and
//! stale rekeys, rekeys wrapping to removed members), bypassing the rules
//! check, and backdate, grind ids, equivocate, withhold and replay
//! (`adversary.rs`); a never-admitted sybil signs messages they post into
//! the group's mailboxes.
//!
//! After every step `checks.rs` holds every replica to: convergence (same
//! messages, same state hash and epoch; one secret per epoch), key
//! confinement on the real bytes (a removed member opens no envelope or
//! sealed content an honest member wrote once its removal was in and the
//! epoch no longer exposed to it; a member a role was revoked from opens
//! no content sealed to it after the revocation's epoch; every member who
//! stays and announced a key package holds the current epoch), bounded cost
//! (the sybil's messages are never folded, kept as evidence or stored) and
//! finality (a message settled and applied stays applied).
//!
//! Run the long soak with, e.g., 200 seeds:
//!
//! ```text
//! CAIRN_REPLICA_SOAK_SEEDS=200 cargo test -p cairn-proto --lib \
//!     replica_soak_many_seeds -- --nocapture
//! ```
//!
//! (about 5 minutes in a debug build on two cores). Members stranded
//! because their key package was concurrent with the rekey, or stuck behind
//! the other branch of an equivocation they never receive, are counted in
//! the figures, not failed.
//!
//! ```text
//! ```

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use rand_core::Rng;

use super::{NOW, chat, identity};
use crate::crypto::{PublicKey, XofRng};
use crate::epoch::{EpochSecret, KeyPackage, KeyPackageId};
use crate::group::{KeyEvent, Purpose, TaskContent, rotation_order, templates};
use crate::identity::Identity;
use crate::store::{Batch, MemoryStore};
use crate::wire::{
    Body, Envelope, MemberAdd, MemberRemove, MessageId, RoleAssign, UnsignedMessage,
};

use super::super::{Received, Replica, ReplicaError};

mod adversary;
mod checks;
mod relay;

use checks::{Bar, Figures, Watch};
use relay::Relay;

/// Members 0..N have replicas; `SYBIL` is a key nobody admits.
const N: usize = 5;
const SYBIL: usize = N;
const ROLES: [&str; 4] = ["steward", "coordinator", "contributor", "observer"];

/// One member: identity, replica, store, key events not acted on yet, and
/// secrets of rekeys it built by hand (what it knows beyond its ring).
struct Member {
    id: Identity,
    replica: Replica,
    store: MemoryStore,
    events: Vec<KeyEvent>,
    built: Vec<EpochSecret>,
}

/// A message written, with its causal past (a bit set over the log).
struct Post {
    id: MessageId,
    author: usize,
    msg: UnsignedMessage,
    envelopes: Vec<Envelope>,
    past: Vec<u64>,
}

struct Soak {
    rng: XofRng,
    members: Vec<Member>,
    sybil: Identity,
    adversaries: Vec<usize>,
    relay: Relay,
    log: Vec<Post>,
    index: HashMap<MessageId, usize>,
    /// Key packages seen (announced or handed to an inviter).
    packages: BTreeMap<KeyPackageId, KeyPackage>,
    /// Honest messages each member must never open, and why.
    bars: Vec<(MessageId, usize, Bar)>,
    /// Posts an adversary holds back.
    held_back: Vec<Vec<Envelope>>,
    /// The sybil's last message: id and Lamport clock.
    sybil_tail: Option<(MessageId, u64)>,
    sybil_seq: u64,
    watch: Vec<Watch>,
    figures: Figures,
    failures: Vec<String>,
    step: usize,
}

impl Soak {
    fn new(seed: &[u8]) -> Self {
        let mut rng = XofRng::from_seed(seed);
        let founder = identity(&mut rng);
        let rules = templates::pursuance();
        let (replica, written) =
            Replica::found(&mut rng, &founder, "soak", &rules, NOW).expect("founds");
        let mut members = vec![Member {
            id: founder,
            replica,
            store: MemoryStore::new(),
            events: Vec::new(),
            built: Vec::new(),
        }];
        let genesis = members[0].replica.state().expect("state").genesis;
        let group = members[0].replica.group();
        for _ in 1..N {
            let id = identity(&mut rng);
            let (replica, _) = Replica::joining(&mut rng, id.public_key(), group, genesis);
            let m = Member {
                id,
                replica,
                store: MemoryStore::new(),
                events: Vec::new(),
                built: Vec::new(),
            };
            members.push(m);
        }
        let sybil = identity(&mut rng);
        let bad = 1 + rng.next_u32() as usize % (N - 1);
        let mut adversaries = vec![bad];
        let second = 1 + rng.next_u32() as usize % (N - 1);
        if second != bad && rng.next_u32().is_multiple_of(2) {
            adversaries.push(second);
        }
        let mut soak = Soak {
            relay: Relay::new(seed, N),
            rng,
            members,
            sybil,
            adversaries,
            log: Vec::new(),
            index: HashMap::new(),
            packages: BTreeMap::new(),
            bars: Vec::new(),
            held_back: Vec::new(),
            sybil_tail: None,
            sybil_seq: 0,
            watch: (0..N).map(|_| Watch::default()).collect(),
            figures: Figures::default(),
            failures: Vec::new(),
            step: 0,
        };
        for w in written {
            soak.record(0, &w.bytes, w.envelopes.clone());
            soak.relay.post(&w.envelopes, |m| m != 0);
        }
        for (who, role) in
            [(1, "coordinator"), (4, "coordinator"), (2, "contributor"), (3, "observer")]
        {
            soak.admit(0, who, role);
        }
        soak
    }

    fn roll(&mut self, n: usize) -> usize {
        self.rng.next_u32() as usize % n.max(1)
    }

    fn key(&self, who: usize) -> PublicKey {
        if who == SYBIL { self.sybil.public_key() } else { self.members[who].id.public_key() }
    }

    fn who(&self, key: &PublicKey) -> Option<usize> {
        (0..=N).find(|i| self.key(*i) == *key)
    }

    fn honest(&self, who: usize) -> bool {
        who < N && !self.adversaries.contains(&who)
    }

    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(format!("step {}: {what}", self.step));
        }
    }

    /// Adds a message to the log (its envelopes as posted), once.
    fn record(&mut self, author: usize, bytes: &[u8], envelopes: Vec<Envelope>) -> MessageId {
        let entry = crate::chain::Entry::decode(bytes.to_vec())
            .and_then(crate::chain::Entry::verify)
            .expect("own message verifies");
        let (id, msg) = (entry.id(), entry.message().clone());
        if self.index.contains_key(&id) {
            return id;
        }
        let at = self.log.len();
        let mut past = vec![0u64; at / 64 + 1];
        for p in msg.parents.iter().filter_map(|p| self.index.get(p)) {
            for (mine, theirs) in past.iter_mut().zip(&self.log[*p].past) {
                *mine |= theirs;
            }
            past[*p / 64] |= 1 << (*p % 64);
        }
        if let Some(kp) = msg.body.announced_key_package() {
            self.packages.insert(KeyPackageId::owned_by(&msg.author, kp), kp.clone());
        }
        self.index.insert(id, at);
        self.log.push(Post { id, author, msg, envelopes, past });
        id
    }

    /// Whether `x` is in the causal past of `y` (or is `y`).
    fn in_past(&self, x: &MessageId, y: &MessageId) -> bool {
        let (Some(&i), Some(&j)) = (self.index.get(x), self.index.get(y)) else { return false };
        i == j || self.log[j].past.get(i / 64).is_some_and(|b| b & (1 << (i % 64)) != 0)
    }

    /// Takes in what a delivery did at `to`.
    fn received(&mut self, to: usize, r: Received) {
        let sybil = self.key(SYBIL);
        for c in r.changes.iter().filter(|c| c.author == sybil) {
            if c.verdict != crate::group::Verdict::Refused(crate::group::Refusal::NeverMember) {
                self.fail(format!("member {to} judged a sybil message {:?}", c.verdict));
            }
        }
        let entered = r.key_events.iter().any(|e| matches!(e, KeyEvent::EpochEntered { .. }));
        self.members[to].events.extend(r.key_events);
        if entered {
            self.relay.unpark(to);
        }
    }

    /// Delivers up to `n` envelopes queued for `to`.
    fn deliver(&mut self, to: usize, n: usize) {
        for _ in 0..n {
            let Some(env) = self.relay.next_for(to) else { return };
            let m = &mut self.members[to];
            match m.replica.receive_envelope(&mut self.rng, &env, NOW) {
                Ok(r) => self.received(to, r),
                Err(ReplicaError::UnknownMailbox) => self.relay.park(to, env),
                Err(_) => {}
            }
        }
    }

    /// `to` resyncs from `from`'s store (what `from` finds it entitled to).
    fn resync(&mut self, to: usize, from: usize) {
        let requester = self.key(to);
        let have: BTreeMap<PublicKey, u64> =
            self.members[to].replica.chain().version_vector().as_map().clone();
        let f = &mut self.members[from];
        f.replica.persist(&mut f.store, Batch::new()).expect("persists");
        let Ok(Ok(page)) = f.replica.resync_for(&f.store, &requester, &have, usize::MAX) else {
            return;
        };
        for bytes in page.messages {
            if let Ok(r) = self.members[to].replica.receive_message(&mut self.rng, bytes, NOW) {
                self.received(to, r);
            }
        }
    }

    /// `who` writes `body` through the rules check; returns its id. The
    /// confinement bars are fixed from the writer's view before it writes.
    fn write(&mut self, who: usize, body: Body) -> Option<MessageId> {
        let bars = if self.honest(who) { self.bars_for(who, &body) } else { Vec::new() };
        let m = &mut self.members[who];
        let w = m.replica.write(&mut self.rng, m.id.signing_key(), body, NOW).ok()?;
        let id = self.record(who, &w.bytes, w.envelopes.clone());
        self.relay.post(&w.envelopes, |m| m != who);
        self.received(who, w.received);
        self.bars.extend(bars.into_iter().map(|(x, b)| (id, x, b)));
        Some(id)
    }

    /// `by` admits `who` with `role`: a rekey wrapped to the key package
    /// `who` hands over, a welcome by resync, then `who` publishes it.
    fn admit(&mut self, by: usize, who: usize, role: &str) -> Option<MessageId> {
        let Body::KeyPackage(kp) = self.members[who].replica.keys.new_key_package(&mut self.rng)
        else {
            return None;
        };
        let key = self.key(who);
        self.packages.insert(KeyPackageId::owned_by(&key, &kp), kp.clone());
        let b = &mut self.members[by];
        let (rekey, _) = b.replica.build_rekey(&mut self.rng, Some((&key, &kp)), &[]).ok()?;
        let add =
            MemberAdd { member: key, roles: vec![role.into()], rekey: Some(rekey), invite: None };
        let id = self.write(by, Body::MemberAdd(add))?;
        self.welcome(by, who);
        Some(id)
    }

    /// `who`, just admitted by `by`, resyncs from it and publishes its key
    /// package, which `by` fetches from it.
    fn welcome(&mut self, by: usize, who: usize) {
        self.resync(who, by);
        if let Some(kp) = self.members[who].replica.publish_key_package() {
            self.write(who, kp);
        }
        self.resync(by, who);
    }

    /// What `who`'s keys ask for, and a healing rekey when the epoch is
    /// exposed and `who` is the first honest member of the healing order.
    fn key_duties(&mut self, who: usize) {
        let events = std::mem::take(&mut self.members[who].events);
        // Late enough that every member holding the epoch answers a
        // stranded member's request (`rewrap_wait`).
        let later = NOW + crate::group::schedule::REWRAP_MAX_WAIT_SECS;
        let bodies = self.members[who].replica.key_actions(&mut self.rng, &events, later);
        for body in bodies {
            self.write(who, body);
        }
        let Some(s) = self.members[who].replica.state().cloned() else { return };
        if s.epoch.exposed_to.is_empty() {
            return;
        }
        let order = rotation_order(&s, Purpose::Heal);
        let healer = order.iter().filter_map(|k| self.who(k)).find(|i| self.honest(*i));
        if healer == Some(who)
            && let Ok((rk, _)) = self.members[who].replica.build_rekey(&mut self.rng, None, &[])
            && self.write(who, Body::Rekey(rk)).is_some()
        {
            self.figures.heals += 1;
        }
    }

    /// An honest member's turn: its key duties, then (unless the epoch is
    /// exposed: it may not send) chat, a task sealed to one of its roles, a
    /// comment, a removal, revocation, assignment or re-admission.
    fn honest_turn(&mut self, who: usize) {
        self.key_duties(who);
        let me = self.key(who);
        let Some(s) = self.members[who].replica.state().cloned() else { return };
        let Some(mine) = s.members.get(&me).cloned() else { return };
        if !s.epoch.exposed_to.is_empty() {
            return;
        }
        let others: Vec<usize> =
            (0..N).filter(|i| *i != who && s.members.contains_key(&self.key(*i))).collect();
        let other = others.get(self.roll(others.len())).copied();
        let role = ROLES[self.roll(ROLES.len())];
        match self.roll(12) {
            0..=2 => drop(self.write(who, chat("hello"))),
            3 | 4 => {
                let held: Vec<String> = mine.roles.iter().cloned().collect();
                let Some(r) = held.get(self.roll(held.len())).cloned() else { return };
                let content = TaskContent { title: format!("sealed to {r}"), ..Default::default() };
                let rp = &self.members[who].replica;
                if let Ok(b) = rp.task_create_body(&mut self.rng, &content, vec![r], vec![], NOW) {
                    self.write(who, b);
                }
            }
            5 => {
                let open: Vec<MessageId> = (s.tasks.iter())
                    .filter(|(_, t)| t.open && t.readable_by.iter().all(|r| mine.roles.contains(r)))
                    .map(|(id, _)| *id)
                    .collect();
                let Some(task) = open.get(self.roll(open.len())).copied() else { return };
                let rp = &self.members[who].replica;
                if let Ok(b) = rp.task_comment_body(&mut self.rng, task, "noted", None, NOW) {
                    self.write(who, b);
                }
            }
            6 => {
                let Some(o) = other else { return };
                let gone = self.key(o);
                let rp = &mut self.members[who].replica;
                if let Ok((rekey, _)) = rp.build_rekey(&mut self.rng, None, &[gone]) {
                    let body = MemberRemove { member: gone, rekey: Some(rekey) };
                    self.write(who, Body::MemberRemove(body));
                }
            }
            7 => {
                let Some(o) = other else { return };
                let key = self.key(o);
                let held: Vec<String> = s.members[&key].roles.iter().cloned().collect();
                let Some(r) = held.get(self.roll(held.len())).cloned() else { return };
                let rp = &mut self.members[who].replica;
                if let Ok(b) = rp.role_revoke_body(&mut self.rng, key, &r) {
                    self.write(who, b);
                }
            }
            8 => {
                let Some(o) = other else { return };
                let body = RoleAssign { member: self.key(o), role: role.into() };
                self.write(who, Body::RoleAssign(body));
            }
            _ => {
                let former: Vec<usize> =
                    (0..N).filter(|i| s.former.contains_key(&self.key(*i))).collect();
                let Some(j) = former.get(self.roll(former.len())).copied() else { return };
                let newcomer = s.rules.newcomer.clone().unwrap_or_else(|| "observer".into());
                self.admit(who, j, &newcomer);
            }
        }
    }

    /// One step: someone acts, the relay delivers a little, now and then a
    /// peer resync or a withheld post; then every check.
    fn step(&mut self) {
        self.step += 1;
        let who = self.roll(N);
        if self.honest(who) {
            self.honest_turn(who);
        } else {
            self.adversary_turn(who);
        }
        for _ in 0..2 {
            let to = self.roll(N);
            let n = self.roll(6);
            self.deliver(to, n);
        }
        if self.roll(5) == 0 {
            let (to, from) = (self.roll(N), self.roll(N));
            if to != from {
                self.resync(to, from);
            }
        }
        if self.roll(4) == 0
            && let Some(envs) = self.held_back.pop()
        {
            self.relay.post(&envs, |_| true);
        }
        self.check();
    }

    /// Everything withheld is posted, every queue and mailbox read, every
    /// member resyncs from every other, honest members act on their keys;
    /// until nothing moves. Then a last honest message in the current epoch
    /// must open for every member who stays.
    fn finish(&mut self) {
        for envs in std::mem::take(&mut self.held_back) {
            self.relay.post(&envs, |_| true);
        }
        for _ in 0..8 {
            let before = self.log.len();
            for to in 0..N {
                self.relay.release(to);
                self.relay.unpark(to);
                self.deliver(to, usize::MAX);
            }
            for to in 0..N {
                for from in (0..N).filter(|f| *f != to) {
                    self.resync(to, from);
                }
            }
            for who in 0..N {
                if self.honest(who) {
                    self.key_duties(who);
                }
            }
            self.check();
            if self.log.len() == before && (0..N).all(|t| self.relay.queued(t) == 0) {
                break;
            }
        }
        self.last_word();
    }
}

fn run(seed: &[u8], steps: usize) -> Soak {
    let mut soak = Soak::new(seed);
    soak.check();
    for _ in 0..steps {
        soak.step();
    }
    soak.finish();
    soak
}

proptest! {
    // A fixed rng seed: CI runs the same four histories every time; the
    // long soak (`replica_soak_many_seeds`) is where new seeds are explored.
    #![proptest_config(ProptestConfig {
        cases: 4,
        rng_seed: proptest::test_runner::RngSeed::Fixed(12),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn adversarial_replicas_break_no_invariant(seed in any::<[u8; 8]>(), steps in 15usize..35) {
        let soak = run(&seed, steps);
        prop_assert!(soak.failures.is_empty(), "{}", soak.failures.join("\n"));
    }
}

/// Seed 26 of the long soak: stranded members (issue 15) ask for the
/// current epoch and are re-wrapped into it, with no invariant broken.
/// Before key requests existed, such a member (seed 146 then: wrapped under
/// a key package a newer one of its own had superseded) stayed locked out.
#[test]
fn seed_26_stranded_members_ask_and_are_rewrapped() {
    let soak = run(&[b"replica soak".as_slice(), &26u32.to_le_bytes()].concat(), 30 + 26);
    assert!(soak.failures.is_empty(), "{}", soak.failures.join("\n"));
    let f = soak.figures(56);
    assert!(f.requests > 0 && f.rewraps > 0, "the seed no longer strands anyone: {f}");
}

/// Seed 36 of the long soak, the finding that fixed `WrapsForNonMember`:
/// an adversary's backdated removal of member 2 cut off 2's key package,
/// so the state no longer said whose package the founder's concurrent
/// admission rekey wrapped to; that rekey was adopted after the removal
/// with no exposure, and the removed member read the founder's next
/// messages. Owners now come from the announcements in the rekey's causal
/// past too (`Dag::key_package_owner`).
/// (The adversary has written more kinds of bodies since, so the seed's
/// history differs now; the model check still finds the hole on the old
/// fold at depth 2.)
#[test]
fn seed_36_a_rekey_wrapped_to_a_member_removed_concurrently_is_dropped() {
    let soak = run(&[b"replica soak".as_slice(), &36u32.to_le_bytes()].concat(), 30 + 36 % 30);
    assert!(soak.failures.is_empty(), "{}", soak.failures.join("\n"));
}

/// Many seeds: `CAIRN_REPLICA_SOAK_SEEDS` of them (3 by default). Prints
/// per-run and total figures: steps, messages, the settled fraction (a
/// notion under which nothing settles would make finality trivial),
/// rekeys adopted, and the openings barred members tried and failed.
#[test]
fn replica_soak_many_seeds() {
    let seeds =
        std::env::var("CAIRN_REPLICA_SOAK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut total = Figures::default();
    let mut failed = Vec::new();
    for seed in 0u32..seeds {
        let steps = 30 + seed as usize % 30;
        let soak = run(&[b"replica soak".as_slice(), &seed.to_le_bytes()].concat(), steps);
        if let Some(first) = soak.failures.first() {
            eprintln!("seed {seed} FAILED: {first}");
            failed.push(seed);
        }
        let f = soak.figures(steps);
        eprintln!("seed {seed}: {f}");
        total.add(&f);
    }
    eprintln!("replica soak, {seeds} seeds: {total}");
    assert!(failed.is_empty(), "seeds {failed:?} failed (see above)");
    assert!(total.settled > 0, "nothing settles: finality would be trivial");
    assert!(total.barred_tries > 0, "no barred member ever tried: confinement untested");
}
