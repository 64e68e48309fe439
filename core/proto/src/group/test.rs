//! Group tests: the rules model and its text form, then the fold through
//! the simulator: attacks (each refused, with no effect on anyone's
//! state), cut-offs, recovery, snapshots and convergence.

use std::collections::BTreeSet;

use super::sim::{GROUP, Hostility, Relay, Sim, id_of};
use super::*;
use crate::crypto::{SigningKey, XofRng};
use crate::epoch::{EpochSecret, KeyPackage, KeyPackageId, Rekey};
use crate::wire::{
    Body, Chat, EpochId, GroupId, MemberAdd, MemberRemove, MessageId, RoleAssign, RoleRevoke,
    RuleChange, Sealed, TaskAssign, TaskCreate, TaskRef,
};

mod adversary;
mod attacks;
mod convergence;
mod fold_vectors;
mod insiders;
mod model_finds;
mod mutants;
mod rule_escalation;
mod rules_text;
mod schedule;
mod standing_escalation;

fn chat(text: &str) -> Body {
    Body::Chat(Chat { text: text.into(), reply_to: None })
}

fn add(sim: &Sim, who: usize, roles: &[&str]) -> Body {
    let roles = roles.iter().map(|r| (*r).to_string()).collect();
    Body::MemberAdd(MemberAdd { member: sim.key(who), roles, rekey: None, invite: None })
}

fn assign(sim: &Sim, who: usize, role: &str) -> Body {
    Body::RoleAssign(RoleAssign { member: sim.key(who), role: role.into() })
}

fn remove(sim: &Sim, who: usize) -> Body {
    Body::MemberRemove(MemberRemove { member: sim.key(who), rekey: None })
}

fn task(readable_by: &[&str], assignees: Vec<crate::crypto::PublicKey>) -> Body {
    Body::TaskCreate(TaskCreate {
        readable_by: readable_by.iter().map(|r| (*r).to_string()).collect(),
        assignees,
        content: Sealed(b"sealed title".to_vec()),
    })
}

/// Pursuance template, five members: 0 steward (founder), 1 and 4
/// coordinators, 2 contributor, 3 observer.
fn pursuance_group(seed: &[u8]) -> Sim {
    let mut sim = Sim::new(seed, 5, &templates::pursuance());
    let b = add(&sim, 1, &["coordinator"]);
    sim.act(0, b);
    let b = add(&sim, 4, &["coordinator"]);
    sim.act(0, b);
    let b = add(&sim, 2, &["contributor"]);
    sim.act(1, b);
    let b = add(&sim, 3, &["observer"]);
    sim.act(1, b);
    assert!(sim.converged());
    sim
}

fn verdict(sim: &Sim, who: usize, id: &MessageId) -> Verdict {
    sim.nodes[who].fold.verdict(id).cloned().unwrap_or(Verdict::Refused(Refusal::NeverMember))
}

/// Every node refused `id` for `reason`, and nobody's state changed.
fn refused_everywhere(sim: &Sim, before: &[[u8; 32]], id: &MessageId, reason: &Refusal) {
    for who in 0..sim.nodes.len() {
        assert_eq!(verdict(sim, who, id), Verdict::Refused(reason.clone()), "node {who}");
    }
    assert_eq!(sim.hashes(), before, "a refused message changed someone's state");
}

fn members(sim: &Sim, who: usize) -> BTreeSet<crate::crypto::PublicKey> {
    sim.nodes[who].fold.state().map(|s| s.members.keys().copied().collect()).unwrap_or_default()
}

/// A rekey built with the epoch layer, wrapped to the given key packages.
fn rekey_to(sim: &Sim, who: usize, packages: &[(KeyPackageId, KeyPackage)]) -> Body {
    let mut rng = XofRng::from_seed(b"rekey");
    let replaces = sim.nodes[who].fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
    let refs: Vec<(KeyPackageId, &KeyPackage)> = packages.iter().map(|(i, k)| (*i, k)).collect();
    let secret = EpochSecret::random(&mut rng);
    match Rekey::build(&mut rng, &GROUP, replaces, &secret, &refs) {
        Ok(r) => Body::Rekey(r),
        Err(e) => panic!("rekey build: {e:?}"),
    }
}

/// Node `who` announces a key package; returns its id and the package.
fn key_package(sim: &mut Sim, who: usize) -> (KeyPackageId, KeyPackage) {
    let mut rng = XofRng::from_seed(&[who as u8, 0x4b]);
    let (kp, _secret) = KeyPackage::generate(GROUP, &mut rng);
    sim.act(who, Body::KeyPackage(kp.clone()));
    (KeyPackageId::owned_by(&sim.key(who), &kp), kp)
}

#[test]
fn founder_is_member_with_founder_role_and_hash_is_shared() {
    let sim = pursuance_group(b"basic");
    let s = sim.nodes[3].fold.state().expect("state");
    assert_eq!(s.members.len(), 5);
    assert!(s.members[&sim.key(0)].roles.contains("steward"));
    assert!(s.members[&sim.key(3)].roles.contains("observer"));
    assert!(sim.converged());
}

#[test]
fn tasks_follow_their_lifecycle() {
    let mut sim = pursuance_group(b"tasks");
    let t = sim.act(1, task(&["contributor"], vec![sim.key(2)]));
    let b = Body::TaskComment(crate::wire::TaskComment {
        task: t,
        reply_to: None,
        content: Sealed(vec![1, 2, 3]),
    });
    let c = sim.act(2, b);
    sim.act(2, Body::TaskClose(TaskRef { task: t }));
    let again = sim.act(2, Body::TaskClose(TaskRef { task: t }));
    assert_eq!(verdict(&sim, 0, &again), Verdict::Refused(Refusal::TaskAlreadySo));
    sim.act(2, Body::TaskReopen(TaskRef { task: t }));
    let unassign = TaskAssign { task: t, assign: vec![], unassign: vec![sim.key(2)] };
    sim.act(1, Body::TaskAssign(unassign));
    // The observer reads only observer-scoped tasks, so cannot comment.
    let b = Body::TaskComment(crate::wire::TaskComment {
        task: t,
        reply_to: None,
        content: Sealed(vec![]),
    });
    let denied = sim.act(3, b);
    assert_eq!(verdict(&sim, 0, &denied), Verdict::Refused(Refusal::Lacks(Power::Comment)));
    let s = sim.nodes[0].fold.state().expect("state");
    let state = &s.tasks[&t];
    assert!(state.open && state.assignees.is_empty());
    assert_eq!(sim.nodes[4].fold.thread(&t), vec![c]);
    assert!(sim.converged());
}

#[test]
fn chat_is_authorized_but_not_state() {
    let mut sim = pursuance_group(b"chat");
    let before = sim.hashes();
    let ok = sim.act(3, chat("observers may chat"));
    assert_eq!(verdict(&sim, 1, &ok), Verdict::Applied);
    assert_eq!(sim.hashes(), before, "chat is not in the group layer");
    assert_eq!(sim.nodes[2].fold.chat().len(), 1);
}

#[test]
fn each_member_names_itself_and_the_latest_name_counts() {
    let mut sim = pursuance_group(b"names");
    let name = |n: &str| Body::Name(crate::wire::Name { name: n.into() });
    let first = sim.act(3, name("obs"));
    assert_eq!(verdict(&sim, 1, &first), Verdict::Applied);
    sim.act(3, name("observer three"));
    let author = sim.nodes[3].public();
    for node in &sim.nodes {
        let s = node.fold.state().expect("state");
        assert_eq!(s.members[&author].name.as_deref(), Some("observer three"));
        let others = s.members.iter().filter(|(k, _)| **k != author);
        assert!(others.into_iter().all(|(_, m)| m.name.is_none()), "a name is only its author's");
    }
}

#[test]
fn leave_and_recovery_when_no_rule_changer_remains() {
    let mut sim = pursuance_group(b"recovery");
    sim.act(0, Body::Leave);
    let s = sim.nodes[1].fold.state().expect("state");
    assert!(s.headless());
    // Coordinator 1 was admitted first after the founder: it recovers and
    // may now give itself the steward role, which it does not manage.
    let promote = assign(&sim, 1, "steward");
    let id = sim.act(1, promote);
    assert_eq!(verdict(&sim, 2, &id), Verdict::Applied);
    // Coordinator 4 was admitted later: it may not.
    let promote = assign(&sim, 4, "steward");
    let id = sim.act(4, promote);
    assert_eq!(verdict(&sim, 2, &id), Verdict::Refused(Refusal::Unmanaged("steward".into())));
    assert!(sim.converged());
}

#[test]
fn in_order_messages_refold_little_and_snapshots_are_taken() {
    let mut sim = pursuance_group(b"snapshots");
    for i in 0..150 {
        let b = if i % 2 == 0 { task(&["contributor"], vec![]) } else { chat("x") };
        sim.act(1 + (i % 2) * 2, b);
        assert!(sim.nodes[0].fold.last_refold_len() <= SNAPSHOT_EVERY + 2);
    }
    assert!(sim.nodes[0].fold.snapshot_count() >= 150 / 2 / SNAPSHOT_EVERY);
    // A late message written long ago re-folds from its position only.
    let n = sim.nodes[0].fold.last_refold_len();
    assert!(n <= SNAPSHOT_EVERY + 2, "{n}");
}

#[test]
fn late_message_refolds_from_nearest_snapshot_not_genesis() {
    let mut sim = pursuance_group(b"late");
    for _ in 0..600 {
        sim.act(1, task(&["contributor"], vec![]));
    }
    let late = sim.act_alone(2, task(&["contributor"], vec![]));
    for _ in 0..60 {
        sim.act(1, task(&["contributor"], vec![]));
    }
    // Old snapshots are thinned (`fold/snapshots.rs`): 21 were taken,
    // at most 2·log₂(20) + 2 are held.
    assert!(sim.nodes[0].fold.snapshot_count() <= 10, "{}", sim.nodes[0].fold.snapshot_count());
    // Node 0 gets the late task now: it sits early in the linearization.
    let bytes = sim.log.iter().find(|b| id_of(b) == late).cloned().expect("late");
    sim.nodes[0].receive(&bytes, None);
    let refolded = sim.nodes[0].fold.last_refold_len();
    // From a snapshot at most twice as far behind it as the tip is ahead.
    assert!(refolded > 60 && refolded <= 3 * 61 + SNAPSHOT_EVERY, "refolded {refolded}");
    sim.heal();
    assert!(sim.converged());
}

#[test]
fn evidence_is_bounded_per_author_and_rule() {
    let mut sim = pursuance_group(b"evidence");
    for _ in 0..20 {
        let b = assign(&sim, 3, "steward");
        sim.act(3, b);
    }
    let ev = sim.nodes[0].fold.evidence();
    let mine: Vec<_> = ev.exhibits().filter(|(a, _, _)| **a == sim.key(3)).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].2.count, 20);
}
