//! Convergence: members writing concurrently through a hostile relay end
//! with byte-equal state hashes once everyone holds the same messages, and
//! a fresh member fed the same messages in any order agrees.

use proptest::prelude::*;
use rand_core::Rng;

use super::super::sim::Node;
use super::*;
use crate::chain::ChainState;
use crate::wire::RelayListChange;

const ROLES: [&str; 4] = ["steward", "coordinator", "contributor", "observer"];

/// A random action for node `who`, from what that node currently knows.
fn pick(sim: &Sim, who: usize, rng: &mut XofRng) -> Body {
    let other = rng.next_u32() as usize % sim.nodes.len();
    let role = ROLES[rng.next_u32() as usize % ROLES.len()];
    let state = sim.nodes[who].fold.state();
    let some_task = state.and_then(|s| {
        let n = s.tasks.len();
        (n > 0).then(|| {
            *s.tasks.keys().nth(rng.next_u32() as usize % n).unwrap_or(&MessageId([0; 32]))
        })
    });
    match rng.next_u32() % 12 {
        0 | 1 => chat("hi"),
        2 | 3 => task(&[role], vec![]),
        4 => match some_task {
            Some(t) => Body::TaskClose(TaskRef { task: t }),
            None => chat("no task"),
        },
        5 => match some_task {
            Some(t) => Body::TaskAssign(TaskAssign {
                task: t,
                assign: vec![sim.key(other)],
                unassign: vec![],
            }),
            None => chat("no task"),
        },
        6 => assign(sim, other, role),
        7 => {
            Body::RoleRevoke(RoleRevoke { member: sim.key(other), role: role.into(), rekey: None })
        }
        8 => remove(sim, other),
        9 => add(sim, other, &["observer"]),
        10 => {
            Body::RelayListChange(RelayListChange { relays: vec![format!("relay{other}.onion")] })
        }
        _ => {
            let mut rules = templates::pursuance();
            rules.roles.get_mut(role).map(|r| r.powers.remove(&Power::Chat));
            Body::RuleChange(RuleChange { rules: rules.encode() })
        }
    }
}

/// A node that holds no key of the group: it only folds.
fn observer_node(sim: &Sim) -> Node {
    Node {
        key: SigningKey::random(&mut XofRng::from_seed(b"bystander")),
        chain: ChainState::new(GROUP),
        fold: Fold::new(GROUP, sim.genesis),
        rejected: Vec::new(),
    }
}

fn run(seed: &[u8], steps: usize) -> Sim {
    let mut sim = pursuance_group(seed);
    let odds = Hostility { drop: 100, duplicate: 150, replay: 100, tamper: 100, withhold: 50 };
    let mut relay = Relay::new(seed, sim.nodes.len(), odds);
    let mut rng = XofRng::from_seed(&[seed, b"actions"].concat());
    for _ in 0..steps {
        let who = rng.next_u32() as usize % sim.nodes.len();
        let body = pick(&sim, who, &mut rng);
        let bytes = if rng.next_u32().is_multiple_of(8) {
            // Now and then a backdated message citing only the genesis.
            sim.nodes[who].write_citing(body, &[sim.genesis])
        } else {
            sim.nodes[who].write(body)
        };
        relay.post(who, &bytes);
        sim.log.push(bytes);
        let to = rng.next_u32() as usize % sim.nodes.len();
        let n = rng.next_u32() as usize % 4;
        relay.deliver(&mut sim.nodes[to], to, n);
    }
    relay.flush(&mut sim.nodes);
    sim.heal();
    sim
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn members_converge_through_a_hostile_relay(seed in any::<[u8; 8]>(), steps in 10usize..50) {
        let sim = run(&seed, steps);
        prop_assert!(sim.converged(), "hashes differ: {:?}", sim.hashes());
        // A fresh member fed everything shuffled, with duplicates, agrees.
        let mut fresh = observer_node(&sim);
        let mut order: Vec<&Vec<u8>> = sim.log.iter().chain(sim.log.iter().take(5)).collect();
        let mut rng = XofRng::from_seed(&seed);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.next_u32() as usize % (i + 1));
        }
        for bytes in order {
            fresh.receive(bytes, None);
        }
        prop_assert_eq!(fresh.hash(), sim.nodes[0].hash());
        prop_assert_eq!(reference_hash(&sim), sim.nodes[0].hash());
    }
}

/// Folding everything in linearization order (appends only, no re-fold)
/// gives the state the incremental folds reached.
fn reference_hash(sim: &Sim) -> [u8; 32] {
    let mut entries: Vec<crate::chain::Entry<crate::chain::Verified>> = sim
        .log
        .iter()
        .filter_map(|b| {
            crate::chain::Entry::decode(b.clone()).and_then(crate::chain::Entry::verify).ok()
        })
        .collect();
    entries.sort_by_key(|e| (e.message().lamport, e.id()));
    let mut fold = Fold::new(GROUP, sim.genesis);
    for e in entries {
        fold.insert_entry(&std::sync::Arc::new(e));
    }
    fold.state_hash().unwrap_or([0; 32])
}

#[test]
fn a_long_hostile_run_converges() {
    // 160 steps: the precedence rule re-anchors backdated reductions on
    // every concurrent message, which costs seconds per step in debug.
    let sim = run(b"long run", 160);
    assert!(sim.converged());
    assert_eq!(reference_hash(&sim), sim.nodes[0].hash());
    let fold = &sim.nodes[0].fold;
    let verdicts: Vec<Verdict> =
        sim.log.iter().filter_map(|b| fold.verdict(&id_of(b)).cloned()).collect();
    let applied = verdicts.iter().filter(|v| v.applied()).count();
    let cut =
        verdicts.iter().filter(|v| matches!(v, Verdict::Refused(Refusal::CutOff { .. }))).count();
    // The run exercises both legal and illegal messages, cut-offs included.
    assert!(applied > 20 && verdicts.len() - applied > 20, "{applied} of {}", verdicts.len());
    assert!(cut > 0, "no cut-off in the run");
}

/// Many seeds: 12 by default (seconds), more with `CAIRN_SOAK_SEEDS=120`
/// (minutes in debug builds; run before changing the fold).
#[test]
fn soak_many_seeds_converge() {
    let seeds = std::env::var("CAIRN_SOAK_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    for seed in 0u32..seeds {
        let sim = run(&seed.to_le_bytes(), 40 + (seed as usize % 40));
        assert!(sim.converged(), "seed {seed}");
        assert_eq!(reference_hash(&sim), sim.nodes[0].hash(), "seed {seed}");
    }
}
