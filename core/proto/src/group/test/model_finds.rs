//! The invariants catch the known attacks: each scenario is built through
//! the simulator and the invariant it breaks must report it.
//!
//! Each test builds an attack of the review and asserts the end state and
//! that the invariant it broke now holds. Before the precedence rule
//! (`group.md`, "Precedence and finality") every one of these invariant
//! checks returned `Err` on the same history: that is how the model check
//! was shown able to fail (the findings are in the closing note of the
//! change that added the rule).

use super::super::invariants::{
    Finality, History, Written, bounded_cost, containment, key_confinement, no_escalation,
    settled_default, settled_set, verdicts,
};
use super::super::model::RULES;
use super::*;

fn history(sim: &Sim) -> History {
    History::new(sim.log.iter().filter_map(|b| Written::from_bytes(b)))
}

fn model_rules() -> Rules {
    Rules::from_toml(RULES).expect("model rules")
}

/// Scenario 1, the retroactive veto. Coordinator C (1) speaks once
/// (`old`) and falls silent. Coordinator S (4) removes contributor D (2),
/// admits E (5), removes C; the steward (0) writes on top, which settles
/// them. C then signs a removal of S citing only `old`: on every replica
/// S is removed, S's removal of D is cut off and S's admission of E is
/// gone, though they were settled.
#[test]
fn retroactive_veto_breaks_finality_and_containment() {
    let mut sim = Sim::new(b"veto", 6, &templates::pursuance());
    for (who, role, by) in [(1, "coordinator", 0), (4, "coordinator", 0), (2, "contributor", 1)] {
        let b = add(&sim, who, &[role]);
        sim.act(by, b);
    }
    let old = sim.act(1, chat("old"));
    let body = remove(&sim, 2);
    let remove_d = sim.act(4, body);
    let b = add(&sim, 5, &["observer"]);
    let add_e = sim.act(4, b);
    let body = remove(&sim, 1);
    sim.act(4, body);
    sim.act(0, chat("seen"));
    let h = history(&sim);
    let mut fin = Finality::default();
    let fold = &sim.nodes[0].fold;
    assert!(fin.check(fold, &h, &settled_default).is_ok());
    assert!(settled_default(fold, &h, &remove_d), "the steward's message settles the removal");
    let before = verdicts(fold, &h);
    let settled = settled_set(fold, &h, &settled_default);

    let body = remove(&sim, 4);
    let veto = sim.nodes[1].write_citing(body, &[old]);
    let veto_id = id_of(&veto);
    sim.broadcast(veto);
    let h = history(&sim);
    let fold = &sim.nodes[0].fold;
    for who in [0, 3, 5] {
        assert!(members(&sim, who).contains(&sim.key(4)), "S stays");
        assert!(verdict(&sim, who, &remove_d).applied(), "S's removal of D stands");
        assert!(verdict(&sim, who, &add_e).applied(), "S's admission of E stands");
        assert!(!verdict(&sim, who, &veto_id).applied(), "the veto is refused");
    }
    let finality = fin.check(fold, &h, &settled_default);
    assert_eq!(finality, Ok(()));
    let contained = containment(&before, &settled, fold, &h, &[veto_id]);
    assert_eq!(contained, Ok(()));
}

/// Scenario 2: a moderator (change-rules, but less than an admin) makes the
/// top role the newcomer role, then admits a puppet with it.
#[test]
fn newcomer_set_to_the_top_role_is_an_escalation() {
    let rules = model_rules();
    let mut sim = Sim::new(b"newcomer", 3, &rules);
    let b = add(&sim, 1, &["mod"]);
    sim.act(0, b);
    let mut top = rules.clone();
    top.newcomer = Some("admin".into());
    let change = sim.act(1, Body::RuleChange(RuleChange { rules: top.encode() }));
    let b = add(&sim, 2, &["admin"]);
    let puppet = sim.act(1, b);
    assert!(!verdict(&sim, 0, &change).applied() && !verdict(&sim, 0, &puppet).applied());
    let s = sim.nodes[0].fold.state().expect("state");
    assert!(!s.members.contains_key(&sim.key(2)), "the puppet is not let in");
    let found = no_escalation(&sim.nodes[0].fold, &history(&sim));
    assert_eq!(found, Ok(()));
}

/// Scenario 7: after a plain rotation, a moderator's admission carries a
/// rekey naming the previous epoch and wrapping only to its author; it
/// beats the rotation ("membership before plain") and becomes the current
/// epoch, which no other member can open.
#[test]
fn a_stale_carried_rekey_becomes_the_epoch_and_leaves_members_out() {
    let mut sim = Sim::new(b"stale rekey", 4, &model_rules());
    let b = add(&sim, 1, &["mod"]);
    sim.act(0, b);
    let b = add(&sim, 2, &["member"]);
    sim.act(0, b);
    let packages: Vec<_> = (0..3).map(|who| key_package(&mut sim, who)).collect();
    let body = rekey_to(&sim, 0, &packages);
    let rotation = sim.act(0, body);
    let first = EpochId(sim.genesis.0);
    let mine = [packages[1].clone()];
    let refs: Vec<(KeyPackageId, &KeyPackage)> = mine.iter().map(|(i, k)| (*i, k)).collect();
    let mut rng = XofRng::from_seed(b"stale");
    let secret = EpochSecret::random(&mut rng);
    let stale = Rekey::build(&mut rng, &GROUP, first, &secret, &refs).expect("rekey");
    let body = Body::MemberAdd(MemberAdd {
        member: sim.key(3),
        roles: vec!["member".into()],
        rekey: Some(stale),
        invite: None,
    });
    let admission = sim.act(1, body);
    let s = sim.nodes[0].fold.state().expect("state");
    assert_eq!(s.epoch.id, EpochId(rotation.0), "the rotation stays the epoch");
    assert!(!verdict(&sim, 0, &admission).applied() || s.members.contains_key(&sim.key(3)));
    let found = key_confinement(&sim.nodes[0].fold, &history(&sim));
    assert_eq!(found, Ok(()));
}

/// Scenario 4: keys never admitted sign messages and the fold keeps and
/// folds them: a sybil that equivocates is kept as evidence, and a key's
/// messages written before anyone admitted it are applied once a
/// concurrent admission sorts before them.
#[test]
fn messages_of_keys_never_admitted_are_kept_and_folded() {
    // Node 2 is never admitted; it signs two messages at one seq.
    let mut sim = Sim::new(b"sybil", 3, &templates::pursuance());
    let b = add(&sim, 1, &["coordinator"]);
    sim.act(0, b);
    let s = &sim.nodes[2];
    let a = s.chain.draft(&s.public(), EpochId(sim.genesis.0), 0, chat("one"));
    let mut b = a.clone();
    b.body = chat("two");
    let (a, b) = (a.sign(&s.key).encode(), b.sign(&s.key).encode());
    sim.nodes[0].receive(&a, None);
    sim.nodes[1].receive(&b, None);
    sim.log.extend([a, b]);
    sim.heal();
    let found = bounded_cost(&sim.nodes[0].fold, &history(&sim));
    assert_eq!(found, Ok(()), "an equivocating sybil leaves nothing");

    // Node 2 writes before anyone admits it; a concurrent admission sorts
    // before its second message, which is then applied.
    let mut sim = Sim::new(b"early", 3, &model_rules());
    sim.act_alone(2, chat("before anyone admitted me"));
    let late = sim.act_alone(2, chat("still not admitted"));
    let b = add(&sim, 2, &["member"]);
    sim.act(0, b);
    sim.heal();
    assert!(!sim.nodes[0].fold.holds(&late), "written before its admission: not kept");
    let found = bounded_cost(&sim.nodes[0].fold, &history(&sim));
    assert_eq!(found, Ok(()));
}
