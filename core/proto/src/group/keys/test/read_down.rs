//! Read-down backed by keys (`keys.md`, "Who holds which key"): a member
//! whose role reads a scope holds that scope's key without holding the
//! role, and loses it, for everything sealed after, when the reading role
//! is revoked or the rules stop it reading the scope.

use super::confinement::reads;
use super::*;

const CONTRIB: &str = "contributor";

/// A coordinator (4) reads a task sealed to `contributor` without holding
/// it; once `coordinator` is revoked from it (it stays a member), it reads
/// no contributor task sealed after, although the contributor role itself
/// was never touched.
#[test]
fn a_senior_reads_a_scope_it_does_not_hold_and_not_after_its_reading_role_is_revoked() {
    let mut w = five(b"read down");
    let (_, b, s) = w.task(2, "for contributors", &[CONTRIB]);
    for reader in [2, 1, 4, 0] {
        assert!(w.keys[reader].open_task_content(&b, &s).is_ok(), "node {reader} reads");
    }
    assert!(!reads(&w.keys[3], CONTRIB, &b, &s), "the observer does not read it");
    let state = w.state(0);
    let (rekey, _) = w.keys[0].revocation_rekey(&mut w.rng, &state).expect("rekey");
    let revoke =
        RoleRevoke { member: w.sim.key(4), role: "coordinator".into(), rekey: Some(rekey) };
    w.act(0, Body::RoleRevoke(revoke));
    assert!(w.state(0).members.contains_key(&w.sim.key(4)), "4 stays a member");
    let (_, b2, s2) = w.task(2, "after the revocation", &[CONTRIB]);
    for reader in [2, 1, 0] {
        assert!(w.keys[reader].open_task_content(&b2, &s2).is_ok(), "node {reader} reads");
    }
    assert!(!reads(&w.keys[4], CONTRIB, &b2, &s2), "the former coordinator reads on");
}

/// A rule change that stops coordinators reading `contributor` takes the
/// key from them as a revocation would: the contributor key is fenced, the
/// rotator rekeys, and neither coordinator reads a contributor task sealed
/// after; the steward, who still reads the scope, does.
#[test]
fn narrowing_reads_by_a_rule_change_rotates_the_scopes_key() {
    let mut w = five(b"narrow reads");
    let mut narrower = w.state(0).rules.clone();
    if let Some(c) = narrower.roles.get_mut("coordinator") {
        // A role reads what it manages: it stops managing it too.
        c.reads.remove(CONTRIB);
        c.manages.remove(CONTRIB);
        c.assign_to.remove(CONTRIB);
    }
    narrower.validate().expect("valid rules");
    let before = w.epoch(0);
    w.act(0, Body::RuleChange(crate::wire::RuleChange { rules: narrower.encode() }));
    assert_ne!(w.epoch(0), before, "the rotator rekeyed after the narrowing");
    let (_, b, s) = w.task(2, "after the narrowing", &[CONTRIB]);
    assert!(w.keys[0].open_task_content(&b, &s).is_ok(), "the steward still reads");
    for coordinator in [1, 4] {
        assert!(!reads(&w.keys[coordinator], CONTRIB, &b, &s), "node {coordinator} reads on");
    }
}
