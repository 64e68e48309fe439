//! The rekey schedule and the exposure invariant, through the simulator.

use super::*;
use crate::group::schedule::{Purpose, RekeySchedule, key_duty, rotation_order};

#[test]
fn only_rotators_are_scheduled_in_one_order_every_member_shares() {
    let sim = pursuance_group(b"schedule");
    let plan = RekeySchedule::default();
    let orders: Vec<_> = (0..5)
        .map(|who| {
            let s = sim.nodes[who].fold.state().expect("state");
            (rotation_order(s, Purpose::Scheduled), rotation_order(s, Purpose::Heal))
        })
        .collect();
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "members disagree on the order");
    // Only the steward holds RotateKeys in the pursuance template.
    assert_eq!(orders[0].0, vec![sim.key(0)]);
    assert_eq!(orders[0].1.len(), 5, "anyone may heal");

    let s = sim.nodes[2].fold.state().expect("state");
    let steward = key_duty(s, &sim.key(0), 1_000, &plan);
    assert!(steward.may_send && steward.exposed_to.is_empty());
    let at = steward.rekey_at.expect("the steward rotates");
    assert!((1_000 + plan.period_secs..=1_000 + plan.period_secs + plan.jitter_secs).contains(&at));
    assert_eq!(key_duty(s, &sim.key(2), 1_000, &plan).rekey_at, None, "a contributor may not");
}

#[test]
fn the_order_changes_with_the_epoch() {
    let mut sim = pursuance_group(b"order per epoch");
    let heal_order =
        |sim: &Sim| rotation_order(sim.nodes[0].fold.state().expect("state"), Purpose::Heal);
    let before = heal_order(&sim);
    let packages: Vec<_> = (0..5).map(|who| key_package(&mut sim, who)).collect();
    let body = rekey_to(&sim, 0, &packages);
    let id = sim.act(0, body);
    assert_eq!(verdict(&sim, 1, &id), Verdict::Applied);
    // Five members: the chance that a fresh order equals the old is 1/120;
    // this seed is fixed, so the test is deterministic.
    assert_ne!(heal_order(&sim), before, "the same member would always go first");
}

#[test]
fn an_exposed_epoch_stops_sending_until_any_member_heals_it() {
    let mut sim = pursuance_group(b"exposure");
    let plan = RekeySchedule::default();
    let packages: Vec<_> = [0, 1, 3, 4].iter().map(|&who| key_package(&mut sim, who)).collect();
    // A leave carries no rekey: the leaver still knows the epoch.
    sim.act(2, Body::Leave);
    let s = sim.nodes[3].fold.state().expect("state");
    let duty = key_duty(s, &sim.key(3), 5_000, &plan);
    assert!(!duty.may_send, "members must stop sending under an exposed epoch");
    assert_eq!(duty.exposed_to, vec![sim.key(2)]);
    let heal_at = duty.rekey_at.expect("any member may heal");
    assert!(heal_at < 5_000 + 5 * plan.heal_step_secs, "healing is urgent: {heal_at}");
    let order = rotation_order(s, Purpose::Heal);
    let first = key_duty(s, &order[0], 5_000, &plan).rekey_at.expect("first healer");
    let second = key_duty(s, &order[1], 5_000, &plan).rekey_at.expect("second healer");
    assert!(first < second, "backups wait for the designated healer");

    // The observer (no RotateKeys) heals, wrapping to the current members.
    let body = rekey_to(&sim, 3, &packages);
    let heal = sim.act(3, body);
    for who in [0, 1, 3, 4] {
        assert_eq!(verdict(&sim, who, &heal), Verdict::Applied, "node {who}");
    }
    let s = sim.nodes[1].fold.state().expect("state");
    assert_eq!(s.epoch.id, EpochId(heal.0));
    let duty = key_duty(s, &sim.key(3), 6_000, &plan);
    assert!(duty.may_send && duty.exposed_to.is_empty());
    assert_eq!(duty.rekey_at, None, "healed: the observer has no duty left");

    // Healing is the only exception: a plain rekey still needs the power.
    let before = sim.hashes();
    let body = rekey_to(&sim, 3, &packages);
    let plain = sim.act(3, body);
    for who in [0, 1, 3, 4] {
        assert_eq!(verdict(&sim, who, &plain), Verdict::Refused(Refusal::Lacks(Power::RotateKeys)));
    }
    assert_eq!(sim.hashes(), before);
}
