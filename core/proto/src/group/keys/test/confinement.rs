//! Key confinement against an insider (`keys.md`, "Replacement", "Which
//! key counts"): a revoked member who stays learns no later key of the
//! role, whichever rekey won; a grant never replaces a held key; the
//! revoked member keeps the group.

use super::*;

const COORD: &str = "coordinator";

/// Seven people: 0 steward, 1, 4 and 5 coordinators (1 admitted first: the
/// key holder), 2 contributor, 3 observer; 6 has not joined.
fn coordinators(seed: &[u8]) -> World {
    let mut w = World::new(seed, 7);
    w.admit(0, 1, &[COORD]);
    w.admit(0, 2, &["contributor"]);
    w.admit(0, 3, &["observer"]);
    w.admit(0, 4, &[COORD]);
    w.admit(0, 5, &[COORD]);
    let key = |w: &World, i: usize| w.keys[i].ring().role_key(COORD, &w.epoch(0)).cloned();
    assert!(key(&w, 1).is_some() && key(&w, 1) == key(&w, 4) && key(&w, 1) == key(&w, 5));
    w
}

/// What a holder of `keys` can compute: its role keys, and each of them
/// ratcheted with each epoch secret it holds.
fn derivable(keys: &MemberKeys, role: &str) -> Vec<RoleKey> {
    let (epochs, roles) = every_key(keys);
    let mut out = roles.clone();
    for k in &roles {
        out.extend(epochs.iter().map(|e| k.ratchet(e, role)));
    }
    out
}

/// Whether any key `keys` holds or can derive by the ratchet opens a wrap
/// of `sealed` (or anything else [`opens_sealed`] tries).
pub(super) fn reads(keys: &MemberKeys, role: &str, binding: &[u8; 32], sealed: &Sealed) -> bool {
    let content = SealedContent::decode(&sealed.0).expect("decodes");
    let derived = derivable(keys, role)
        .iter()
        .any(|k| content.wraps.iter().any(|w| content.open_wrap(&GROUP, binding, w, k).is_ok()));
    derived || opens_sealed(keys, binding, sealed)
}

/// `who` posts the body `make` builds, rebuilt (fresh rekey randomness)
/// until its id sorts below `below`: the grinding an insider can do.
fn post_below(
    w: &mut World,
    who: usize,
    below: MessageId,
    mut make: impl FnMut(&mut World) -> Body,
) -> MessageId {
    for _ in 0..64 {
        let body = make(w);
        let node = &w.sim.nodes[who];
        let epoch = node.fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
        let signed = node.chain.draft(&node.public(), epoch, 0, body.clone()).sign(&node.key);
        if id_of(&signed.encode()) < below {
            let id = w.post(who, body);
            assert!(id < below);
            return id;
        }
    }
    panic!("no id below the target in 64 tries");
}

#[test]
fn scenario_3_a_winning_membership_rekey_does_not_let_the_revoked_member_read_the_role() {
    let mut w = coordinators(b"scenario 3");
    let e0 = w.epoch(0);
    // 5 does not see the revocation before it admits 6: the two membership
    // rekeys are concurrent, and 5's is ground to win. The other voters (1
    // and 4) are offline meanwhile, so neither rekey settles before the
    // other (`group.md`, "Precedence and finality") and precedence decides.
    for i in [1, 4, 5] {
        w.go_offline(i);
    }
    let state = w.state(0);
    let (rekey, _) = w.keys[0].revocation_rekey(&mut w.rng, &state).expect("rekey");
    let c = w.sim.key(4);
    let revoke = RoleRevoke { member: c, role: COORD.into(), rekey: Some(rekey) };
    let v = w.act(0, Body::RoleRevoke(revoke));
    let joiner = w.sim.key(6);
    let Some(Body::KeyPackage(kp)) = w.keys[6].publish() else { panic!("no package") };
    let a = post_below(&mut w, 5, v, |w| {
        let state = w.state(5);
        let (rekey, _) =
            w.keys[5].build_rekey(&mut w.rng, &state, Some((&joiner, &kp)), &[]).expect("rekey");
        Body::MemberAdd(MemberAdd {
            member: joiner,
            roles: vec![],
            rekey: Some(rekey),
            invite: None,
        })
    });
    w.settle();
    for i in [1, 4, 5] {
        w.come_back(i);
    }
    assert!(w.sim.converged());
    // The admission's rekey won; the revocation is applied, its rekey not.
    // Holders who saw the admission first had ratcheted the role's key, so
    // the rotator followed with a rekey that saw the revocation.
    let ea = w.epoch(0);
    assert_ne!(ea, EpochId(v.0), "the revocation's rekey lost");
    assert!(w.sim.nodes[0].fold.verdict(&a).is_some_and(|v| *v == Verdict::Applied));
    for i in 0..7 {
        assert_eq!(w.epoch(i), ea, "node {i}");
    }
    assert!(!w.state(0).members[&c].roles.contains(COORD));
    assert!(w.state(0).members.contains_key(&c), "4 stays a member");
    assert!(w.keys[4].ring().epoch_secret(&ea).is_some(), "4 holds the current epoch");
    // The remaining holders agree on a key 4 cannot compute.
    let held = |w: &World, i: usize| w.keys[i].ring().role_key(COORD, &ea).cloned();
    let k1 = held(&w, 1).expect("1 holds the role key");
    assert_eq!(held(&w, 5).as_ref(), Some(&k1), "5 converged on the key holder's key");
    let old = w.keys[4].ring().role_key(COORD, &e0).cloned().expect("4 kept its old key");
    let e = w.keys[4].ring().epoch_secret(&ea).expect("epoch");
    assert_ne!(old.ratchet(e, COORD), k1, "not the ratchet of a key 4 held");
    assert!(!derivable(&w.keys[4], COORD).contains(&k1));
    // Sealed to the role after the revocation: the holders read it, 4 does
    // not, with anything it holds or can ratchet.
    for by in [1, 5] {
        let (_, b, s) = w.task(by, "after the revocation", &[COORD]);
        assert!(w.keys[1].open_task_content(&b, &s).is_ok());
        assert!(w.keys[5].open_task_content(&b, &s).is_ok());
        assert!(!reads(&w.keys[4], COORD, &b, &s), "the revoked member read a task of {by}");
    }
}

#[test]
fn a_revocation_whose_rekey_lost_fences_the_current_key_until_a_fresh_one() {
    let mut w = coordinators(b"fence");
    // Two rotations land before the revocation, whose rekey names the
    // epoch before them (stale): the current key of the role was ratcheted
    // while 4 held it.
    let e0 = w.epoch(0);
    let state = w.state(0);
    let (stale, _) = w.keys[0].revocation_rekey(&mut w.rng, &state).expect("rekey");
    w.rotate(0);
    let r = w.rotate(0);
    let c = w.sim.key(4);
    let revoke = RoleRevoke { member: c, role: COORD.into(), rekey: Some(stale) };
    let v = w.act(0, Body::RoleRevoke(revoke));
    assert_eq!(w.sim.nodes[1].fold.verdict(&v), Some(&Verdict::RekeyDropped(Refusal::StaleEpoch)));
    let exposed = KeyEvent::RoleKeyExposed { role: COORD.into(), epoch: EpochId(r.0) };
    assert!(w.seen[1].contains(&exposed), "{:?}", w.seen[1]);
    // The rotator (0) rekeyed at once; the key holder (0 again: the
    // steward reads `coordinator` and was admitted first) drew a fresh key.
    let e = w.epoch(0);
    assert_ne!(e, EpochId(r.0));
    assert!(w.seen[0].contains(&KeyEvent::RoleKeyReplaced { role: COORD.into(), epoch: e }));
    assert_eq!(
        w.keys[1].ring().role_key(COORD, &e),
        w.keys[5].ring().role_key(COORD, &e),
        "5 got it by a grant"
    );
    assert!(w.keys[4].ring().epoch_secret(&e).is_some());
    let (_, b, s) = w.task(5, "fresh", &[COORD]);
    assert!(w.keys[1].open_task_content(&b, &s).is_ok());
    assert!(!reads(&w.keys[4], COORD, &b, &s));
    // Nothing is sealed under the fenced key of the rotation's epoch.
    let content = TaskContent { title: "x".into(), ..TaskContent::default() };
    let sealed =
        w.keys[1].seal_task_content(&mut w.rng, &[0; 32], EpochId(r.0), &content, &[COORD.into()]);
    let refused = KeyError::RoleKeyExposed { role: COORD.into(), epoch: EpochId(r.0) };
    assert_eq!(sealed.expect_err("fenced"), refused);
    assert_ne!(e0, e);
}

#[test]
fn scenario_5_a_lying_grant_never_replaces_a_held_key_and_is_reported() {
    let mut w = coordinators(b"scenario 5");
    let e = w.epoch(0);
    let real = w.keys[1].ring().role_key(COORD, &e).cloned().expect("held");
    // 4 (a holder, so the fold applies it) grants 5 a key it made up; then
    // the key holder 1 itself lies to 5: neither replaces 5's key.
    for liar in [4, 1] {
        let state = w.state(liar);
        let kid = state.members[&w.sim.key(5)].key_package.expect("kp");
        let kp = w.keys[liar].packages.get(&kid).cloned().expect("known");
        let fake = RoleKey::random(&mut w.rng);
        let grant =
            RoleKeyGrant::build(&mut w.rng, &GROUP, COORD, e, &fake, &[(kid, &kp)]).expect("grant");
        let id = w.act(liar, Body::RoleKeyGrant(grant));
        assert_eq!(w.sim.nodes[5].fold.verdict(&id), Some(&Verdict::Applied));
        let lie =
            KeyEvent::GrantMismatch { granter: w.sim.key(liar), role: COORD.into(), epoch: e };
        assert!(w.seen[5].contains(&lie), "the recipient reports {liar}");
        let other = if liar == 4 { 1 } else { 4 };
        assert!(w.seen[other].contains(&lie), "another holder reports {liar}");
        assert_eq!(w.keys[5].ring().role_key(COORD, &e), Some(&real), "5 kept its key");
    }
    let (_, b, s) = w.task(1, "still readable", &[COORD]);
    assert!(w.keys[5].open_task_content(&b, &s).is_ok());
}

/// Pursuance rules in which no role reads `contributor`: a role nobody
/// holds a key of until it is first assigned (its holders hold its key).
fn unread_contributor() -> crate::group::Rules {
    let mut rules = crate::group::templates::pursuance();
    for role in rules.roles.values_mut() {
        role.reads.remove("contributor");
    }
    rules.validate().expect("valid rules");
    rules
}

#[test]
fn concurrent_first_holders_converge_on_the_key_holders_key() {
    let mut w = World::with_rules(b"first holders", 4, &unread_contributor());
    w.admit(0, 1, &["observer"]);
    w.admit(0, 2, &["observer"]);
    w.admit(0, 3, &[COORD]);
    // Nobody holds `contributor`: 0 gives it to 1 while 3 (who has not
    // seen that) gives it to 2. Each draws a key of its own.
    w.go_offline(2);
    w.go_offline(3);
    let assign = |w: &World, to: usize| {
        Body::RoleAssign(RoleAssign { member: w.sim.key(to), role: "contributor".into() })
    };
    let a1 = assign(&w, 1);
    w.act(0, a1);
    let a2 = assign(&w, 2);
    w.post(3, a2);
    let e = w.epoch(1);
    let k1 = w.keys[1].ring().role_key("contributor", &e).cloned().expect("1 drew one");
    w.come_back(3);
    w.come_back(2);
    w.settle();
    assert!(w.sim.converged());
    // 1 was admitted first: its key counts; 2's grant did not replace it.
    assert_eq!(key_holder(&w.state(0), "contributor"), Some(w.sim.key(1)));
    assert_eq!(w.keys[1].ring().role_key("contributor", &e), Some(&k1));
    assert_eq!(w.keys[2].ring().role_key("contributor", &e), Some(&k1), "2 took 1's key");
    for i in [1, 2] {
        assert!(!w.seen[i].iter().any(|x| matches!(x, KeyEvent::GrantMismatch { .. })), "{i}");
    }
    let (_, b, s) = w.task(2, "for contributors", &["contributor"]);
    assert!(w.keys[1].open_task_content(&b, &s).is_ok());
}
