//! An adversarial-member soak: seeded members who backdate (citing any
//! ancestors), grind message ids (varying `minute` until the id sorts
//! low), equivocate (two messages at one seq, to different nodes), write
//! under a key nobody admitted, write rule changes and grants at random,
//! and withhold and replay, through a hostile relay. Every invariant is
//! checked after every delivery and every step; only the [`ENFORCED`] ones
//! fail the test, the others are counted and printed.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand_core::Rng;

use super::super::invariants::{
    ENFORCED, Finality, History, Invariant, Violation, Written, containment, convergence,
    settled_by_rule, settled_set, state_level, verdicts,
};
use super::*;

const ROLES: [&str; 4] = ["steward", "coordinator", "contributor", "observer"];

/// What one node has been seen to hold, for containment.
#[derive(Default)]
struct Watch {
    finality: Finality,
    verdicts: BTreeMap<MessageId, Verdict>,
    settled: BTreeSet<MessageId>,
}

struct Soak {
    sim: Sim,
    relay: Relay,
    rng: XofRng,
    h: History,
    watch: Vec<Watch>,
    /// Members that misbehave (node indices); the last node is a sybil.
    adversaries: Vec<usize>,
    packages: BTreeMap<KeyPackageId, KeyPackage>,
    held_back: Vec<(usize, Vec<u8>)>,
    /// Violations per invariant, and the first of each.
    counts: BTreeMap<Invariant, usize>,
    first: BTreeMap<Invariant, Violation>,
}

impl Soak {
    fn new(seed: &[u8]) -> Self {
        // Pursuance roles; nodes 0-4 admitted, node 5 never (a sybil).
        let mut sim = Sim::new(seed, 6, &templates::pursuance());
        for (who, role, by) in [
            (1, "coordinator", 0),
            (4, "coordinator", 0),
            (2, "contributor", 1),
            (3, "observer", 1),
        ] {
            let b = add(&sim, who, &[role]);
            sim.act(by, b);
        }
        let odds = Hostility { drop: 50, duplicate: 100, replay: 100, tamper: 50, withhold: 80 };
        let relay = Relay::new(seed, sim.nodes.len(), odds);
        let mut rng = XofRng::from_seed(&[seed, b"adversary"].concat());
        let bad = 1 + rng.next_u32() as usize % 4;
        let h = History::new(sim.log.iter().filter_map(|b| Written::from_bytes(b)));
        let watch = (0..sim.nodes.len()).map(|_| Watch::default()).collect();
        let mut soak = Soak {
            sim,
            relay,
            rng,
            h,
            watch,
            adversaries: vec![bad, 5],
            packages: BTreeMap::new(),
            held_back: Vec::new(),
            counts: BTreeMap::new(),
            first: BTreeMap::new(),
        };
        for to in 0..soak.sim.nodes.len() {
            soak.observe(to, &[]);
        }
        soak
    }

    fn roll(&mut self, n: u32) -> usize {
        (self.rng.next_u32() % n) as usize
    }

    fn found(&mut self, v: Violation) {
        *self.counts.entry(v.invariant).or_default() += 1;
        self.first.entry(v.invariant).or_insert(v);
    }

    /// Containment and finality at node `to` after `arrived` reached it.
    fn observe(&mut self, to: usize, arrived: &[MessageId]) {
        let fold = &self.sim.nodes[to].fold;
        let now = verdicts(fold, &self.h);
        let w = &mut self.watch[to];
        if now == w.verdicts && !w.verdicts.is_empty() {
            return;
        }
        let mut out = Vec::new();
        out.extend(containment(&w.verdicts, &w.settled, fold, &self.h, arrived).err());
        out.extend(w.finality.check(fold, &self.h, &settled_by_rule).err());
        w.verdicts = now;
        w.settled = settled_set(fold, &self.h, &settled_by_rule);
        out.into_iter().for_each(|v| self.found(v));
    }

    /// Records a message written by `who` (its own node holds it).
    fn wrote(&mut self, who: usize, bytes: &[u8]) {
        if let Some(w) = Written::from_bytes(bytes) {
            let id = w.id;
            self.h.push(w);
            self.observe(who, &[id]);
        }
        self.sim.log.push(bytes.to_vec());
    }

    fn deliver(&mut self, to: usize, n: usize) {
        for _ in 0..n {
            let Some(bytes) = self.relay.next_for(to) else { return };
            self.sim.nodes[to].receive(&bytes, None);
            let arrived: Vec<MessageId> =
                Written::from_bytes(&bytes).map(|w| w.id).into_iter().collect();
            self.observe(to, &arrived);
        }
    }

    /// A body for `who`, at random: chat, removals, revocations, grants,
    /// admissions (the sybil too), rule changes, key packages, rekeys.
    fn pick(&mut self, who: usize) -> Body {
        let other = self.roll(self.sim.nodes.len() as u32);
        let role = ROLES[self.roll(4)];
        let state = self.sim.nodes[who].fold.state().cloned();
        match self.roll(11) {
            0 | 1 => chat("hi"),
            2 => remove(&self.sim, other),
            3 => Body::RoleRevoke(RoleRevoke {
                member: self.sim.key(other),
                role: role.into(),
                rekey: None,
            }),
            4 => assign(&self.sim, other, role),
            5 => add(&self.sim, other, &[role]),
            6 | 7 => {
                let rules = state.map_or_else(templates::pursuance, |s| s.rules);
                let rules = rules.soak_change(role, self.roll(2) == 0);
                Body::RuleChange(RuleChange { rules: rules.encode() })
            }
            8 => {
                let mut rng = XofRng::from_seed(&[who as u8, self.roll(1000) as u8, 0x4b]);
                let (kp, _secret) = KeyPackage::generate(GROUP, &mut rng);
                self.packages.insert(KeyPackageId::owned_by(&self.sim.key(who), &kp), kp.clone());
                Body::KeyPackage(kp)
            }
            _ => self.rekey(who, state.as_ref(), other),
        }
    }

    /// A plain or carried rekey of the current epoch (or, now and then, of
    /// the previous one), wrapped to the members' packages or only the
    /// author's.
    fn rekey(&mut self, who: usize, state: Option<&GroupState>, other: usize) -> Body {
        let Some(s) = state else { return chat("no state") };
        let stale = self.roll(3) == 0;
        let replaces = if stale { s.epoch.replaces.unwrap_or(s.epoch.id) } else { s.epoch.id };
        let me = self.sim.key(who);
        let to: Vec<(KeyPackageId, &KeyPackage)> = s
            .members
            .iter()
            .filter(|(k, _)| !stale || **k == me)
            .filter_map(|(_, m)| m.key_package)
            .filter_map(|id| self.packages.get(&id).map(|kp| (id, kp)))
            .collect();
        let mut rng = XofRng::from_seed(&[&replaces.0[..], &[to.len() as u8]].concat());
        let secret = EpochSecret::random(&mut rng);
        let Ok(rk) = Rekey::build(&mut rng, &GROUP, replaces, &secret, &to) else {
            return chat("no rekey");
        };
        match self.roll(3) {
            0 => Body::Rekey(rk),
            1 => Body::MemberAdd(MemberAdd {
                member: self.sim.key(other),
                roles: vec!["observer".into()],
                rekey: Some(rk),
                invite: None,
            }),
            _ => Body::MemberRemove(MemberRemove { member: self.sim.key(other), rekey: Some(rk) }),
        }
    }

    /// One step: someone writes (honestly, or an adversary misbehaves),
    /// the relay takes it, and some node gets a few messages.
    fn step(&mut self) {
        let who = self.roll(self.sim.nodes.len() as u32);
        let body = self.pick(who);
        let mode = if self.adversaries.contains(&who) { self.roll(6) } else { 0 };
        let posts: Vec<Vec<u8>> = match mode {
            1 => vec![self.backdate(who, body)],
            2 => vec![self.grind(who, body)],
            3 => self.equivocate(who, body),
            4 => {
                // Withheld for now, posted some steps later.
                let bytes = self.sim.nodes[who].write(body);
                self.wrote(who, &bytes);
                self.held_back.push((who, bytes));
                Vec::new()
            }
            5 if !self.sim.log.is_empty() => {
                let at = self.roll(self.sim.log.len() as u32);
                let old = self.sim.log[at].clone();
                self.relay.post(who, &old);
                Vec::new()
            }
            _ => {
                let bytes = self.sim.nodes[who].write(body);
                self.wrote(who, &bytes);
                vec![bytes]
            }
        };
        for bytes in posts {
            self.relay.post(who, &bytes);
        }
        if self.roll(4) == 0
            && let Some((author, bytes)) = self.held_back.pop()
        {
            self.relay.post(author, &bytes);
        }
        let to = self.roll(self.sim.nodes.len() as u32);
        let n = self.roll(5);
        self.deliver(to, n);
        self.check_states();
    }

    /// Cites up to three random messages the author holds.
    fn backdate(&mut self, who: usize, body: Body) -> Vec<u8> {
        let held: Vec<MessageId> = self
            .h
            .iter()
            .filter(|w| self.sim.nodes[who].chain.entry(&w.id).is_some())
            .map(|w| w.id)
            .collect();
        let k = 1 + self.roll(3);
        let parents: Vec<MessageId> = (0..k).map(|_| held[self.roll(held.len() as u32)]).collect();
        let bytes = self.sim.nodes[who].write_citing(body, &parents);
        self.wrote(who, &bytes);
        bytes
    }

    /// Varies `minute` until the id sorts low (first byte below 0x10), or
    /// keeps the lowest of 64 tries.
    fn grind(&mut self, who: usize, body: Body) -> Vec<u8> {
        let node = &self.sim.nodes[who];
        let epoch = node.fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
        let mut best: Option<Vec<u8>> = None;
        for minute in 0..64 {
            let m = node.chain.draft(&node.public(), epoch, minute, body.clone());
            let bytes = m.sign(&node.key).encode();
            if best.as_ref().is_none_or(|b| id_of(&bytes) < id_of(b)) {
                best = Some(bytes);
            }
            if best.as_ref().is_some_and(|b| id_of(b).0[0] < 0x10) {
                break;
            }
        }
        let bytes = best.unwrap_or_default();
        self.sim.nodes[who].receive(&bytes, None);
        self.wrote(who, &bytes);
        bytes
    }

    /// Two messages at one seq; the relay spreads both, so nodes see
    /// either first.
    fn equivocate(&mut self, who: usize, body: Body) -> Vec<Vec<u8>> {
        let node = &self.sim.nodes[who];
        let epoch = node.fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
        let a = node.chain.draft(&node.public(), epoch, 0, body);
        let mut b = a.clone();
        b.body = chat("the other branch");
        let (a, b) = (a.sign(&node.key).encode(), b.sign(&node.key).encode());
        self.sim.nodes[who].receive(&a, None);
        self.wrote(who, &a);
        if let Some(w) = Written::from_bytes(&b) {
            self.h.push(w);
        }
        self.sim.log.push(b.clone());
        vec![a, b]
    }

    /// The state-level invariants on every node, and convergence among
    /// nodes holding the same messages.
    fn check_states(&mut self) {
        let mut out = Vec::new();
        for n in &self.sim.nodes {
            out.extend(state_level(&n.fold, &self.h));
        }
        let folds: Vec<&Fold> = self.sim.nodes.iter().map(|n| &n.fold).collect();
        out.extend(convergence(&folds, &self.h).err());
        out.into_iter().for_each(|v| self.found(v));
    }

    /// Flushes the relay and the withheld messages, then a full resync,
    /// each delivery watched.
    fn finish(&mut self) {
        for (author, bytes) in std::mem::take(&mut self.held_back) {
            self.relay.post(author, &bytes);
        }
        for to in 0..self.sim.nodes.len() {
            self.relay.release(to);
            self.deliver(to, usize::MAX);
        }
        let log = self.sim.log.clone();
        for to in 0..self.sim.nodes.len() {
            for bytes in &log {
                self.sim.nodes[to].receive(bytes, None);
                let arrived: Vec<MessageId> =
                    Written::from_bytes(bytes).map(|w| w.id).into_iter().collect();
                self.observe(to, &arrived);
            }
        }
        self.check_states();
    }

    /// Messages settled at node 0 under the default notion, and how many
    /// became final during the run.
    fn settled(&self) -> (usize, usize, usize) {
        let fold = &self.sim.nodes[0].fold;
        let held = self.h.iter().filter(|w| fold.verdict(&w.id).is_some()).count();
        (settled_set(fold, &self.h, &settled_by_rule).len(), self.watch[0].finality.settled(), held)
    }

    fn enforced(&self) -> Vec<String> {
        self.first
            .iter()
            .filter(|(i, _)| ENFORCED.contains(i))
            .map(|(_, v)| v.to_string())
            .collect()
    }
}

fn adversary_config() -> ProptestConfig {
    let explore: Option<u32> =
        std::env::var("CAIRN_ADVERSARY_CASES").ok().and_then(|s| s.parse().ok());
    let mut config = ProptestConfig::with_cases(explore.unwrap_or(16));
    if explore.is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x00ca_1e2f);
    }
    config
}

fn run(seed: &[u8], steps: usize) -> Soak {
    let mut soak = Soak::new(seed);
    for _ in 0..steps {
        soak.step();
    }
    soak.finish();
    soak
}

proptest! {
    // 16 cases from a fixed seed by default (CI must not fail on a draw);
    // `CAIRN_ADVERSARY_CASES=N` explores N cases from a random seed (a
    // failure is kept in `proptest-regressions/` and re-run first).
    #![proptest_config(adversary_config())]

    #[test]
    fn adversaries_break_no_enforced_invariant(seed in any::<[u8; 8]>(), steps in 10usize..40) {
        let soak = run(&seed, steps);
        let broken = soak.enforced();
        prop_assert!(broken.is_empty(), "{}", broken.join("\n"));
    }
}

/// Many seeds: `CAIRN_SOAK_SEEDS` of them (20 by default). Prints the
/// violations of every invariant and how many messages settled (a notion
/// under which nothing settles would make finality trivial).
#[test]
fn adversary_soak_many_seeds() {
    let seeds = std::env::var("CAIRN_SOAK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut counts: BTreeMap<Invariant, usize> = BTreeMap::new();
    let mut first: BTreeMap<Invariant, String> = BTreeMap::new();
    let (mut settled, mut final_, mut held) = (0, 0, 0);
    for seed in 0u32..seeds {
        let soak =
            run(&[b"adversary".as_slice(), &seed.to_le_bytes()].concat(), 30 + seed as usize % 30);
        let broken = soak.enforced();
        assert!(broken.is_empty(), "seed {seed}: {}", broken.join("\n"));
        for (i, n) in &soak.counts {
            *counts.entry(*i).or_default() += n;
        }
        for (i, v) in &soak.first {
            first.entry(*i).or_insert_with(|| format!("seed {seed}: {v}"));
        }
        let (s, f, h) = soak.settled();
        (settled, final_, held) = (settled + s, final_ + f, held + h);
    }
    eprintln!(
        "adversary soak, {seeds} seeds: {settled} of {held} messages settled at the end at node 0 ({final_} became final during the runs)"
    );
    eprintln!("violations per invariant: {counts:?}");
    for v in first.values() {
        eprintln!("  first: {v}");
    }
    assert!(settled > 0, "nothing settles: finality would be trivial");
}

/// A known gap, kept visible (found by `CAIRN_ADVERSARY_CASES=4000`): two
/// members who may invite admit the same key concurrently; the admission
/// that arrives first is settled, then the other, withheld by its author
/// and sorting earlier, arrives and takes over: the settled admission
/// becomes `AlreadySo`. The state holds the same member with the same
/// roles either way; what moves is who admitted it and its `since` (its
/// seniority). Settled admissions are not protected from a concurrent
/// duplicate as settled epochs are from a sibling rekey (`security.md`,
/// "Known gaps"). This test fails once the fold closes the gap: then it
/// goes, and the seed joins the regressions.
#[test]
fn known_gap_a_late_duplicate_admission_displaces_a_settled_one() {
    let soak = run(&[86, 183, 19, 181, 245, 171, 194, 197], 36);
    let broken = soak.enforced();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("Finality:") && broken[0].contains("AlreadySo"), "{broken:?}");
}
