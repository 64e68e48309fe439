//! Stranded members (`keys.md`, "Stranded members"): a member who holds no
//! secret of the current epoch asks for it, the member whose turn it is
//! re-wraps it, and nobody else gets anything: not a removed member, not a
//! stranger's package, not a secret other than the epoch's own.

use super::*;
use crate::epoch::{KeyPackageId, Rekey};
use crate::group::{Refusal, Verdict, schedule::REWRAP_MAX_WAIT_SECS};
use crate::wire::{EpochRewrap, KeyRequest};

/// Later than any member's turn to re-wrap.
const LATER: u64 = NOW + REWRAP_MAX_WAIT_SECS;

/// `who`'s key actions at `now`, each written; returns what was written
/// but role-key grants (owed to a member who asked, as to a new holder).
fn duties(w: &mut World, who: usize, now: u64) -> Vec<Written> {
    let bodies = w.people[who].replica.key_actions(&mut w.rng, &[], now);
    let written: Vec<Written> = bodies.into_iter().map(|b| w.write(who, b)).collect();
    written.into_iter().filter(|m| !matches!(body_of(m), Body::RoleKeyGrant(_))).collect()
}

/// `who` takes in `written` as a peer would hand it over.
fn hand_over(w: &mut World, who: usize, written: &[Written]) {
    for m in written {
        let r = w.people[who].replica.receive_message(&mut w.rng, m.bytes.clone(), NOW);
        let r = r.expect("taken in");
        assert!(r.gaps.is_empty() && !r.accepted.is_empty() || r.duplicates > 0, "{r:?}");
    }
}

fn body_of(w: &Written) -> Body {
    SignedMessage::decode(&w.bytes).expect("decodes").message.body
}

fn verdict(r: &Replica, id: &MessageId) -> Verdict {
    r.fold().verdict(id).cloned().expect("held")
}

/// A group of founder, bob and carol, all in one epoch, where bob has lost
/// every key (as a profile restored from its recovery string after the
/// grace period): he is a member who holds nothing.
fn bob_stranded() -> (World, usize, usize) {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    for who in [0, bob, carol] {
        w.read_wire(who);
    }
    w.people[bob].replica.erase_keys_on_leave(false);
    let state = w.people[bob].replica.state().expect("state").clone();
    assert_eq!(w.people[bob].replica.keys().stranded(&state), Some(state.epoch.id));
    (w, bob, carol)
}

/// A member holding nothing asks (through a peer: it has no epoch to seal
/// under), the member whose turn it is re-wraps the current epoch to its
/// fresh key package, and it reads the group again through the relay.
/// Nobody answers before its turn, and one answer settles it for all.
#[test]
fn a_member_holding_no_key_asks_and_is_rewrapped_back_in() {
    let (mut w, bob, carol) = bob_stranded();
    let asked = duties(&mut w, bob, NOW);
    assert_eq!(asked.len(), 1, "one request");
    assert!(matches!(body_of(&asked[0]), Body::KeyRequest(_)));
    assert!(asked[0].envelopes.is_empty(), "bob holds no epoch to seal under");
    assert!(duties(&mut w, bob, NOW + 1).is_empty(), "bob does not ask again at once");
    for who in [0, carol] {
        hand_over(&mut w, who, &asked);
    }
    // Whoever is first in the order answers at once; by LATER, anyone.
    let mut answers = Vec::new();
    for who in [0, carol] {
        answers.extend(duties(&mut w, who, LATER));
        for other in [0, carol] {
            hand_over(&mut w, other, &answers);
        }
    }
    assert_eq!(answers.len(), 1, "the second member saw the first's re-wrap");
    assert!(matches!(body_of(&answers[0]), Body::EpochRewrap(_)));
    let r = &w.people[0].replica;
    assert_eq!(verdict(r, &answers[0].id), Verdict::Applied);
    hand_over(&mut w, bob, &answers);
    let epoch = w.people[0].replica.epoch();
    assert!(w.people[bob].replica.keys().ring().epoch_secret(&epoch).is_some(), "bob is back");
    w.write(carol, chat("for everyone"));
    w.read_wire(bob);
    assert!(texts(&w.people[bob].replica).contains(&"for everyone".to_string()));
    // Bob's fresh package is the one later rekeys wrap to.
    let (rekey, missing) = w.people[0].replica.build_rekey(&mut w.rng, None, &[]).expect("rk");
    assert!(missing.is_empty());
    w.write(0, Body::Rekey(rekey));
    w.read_wire(bob);
    assert_eq!(w.people[bob].replica.epoch(), w.people[0].replica.epoch());
    assert!(
        w.people[bob].replica.keys().stranded(w.people[bob].replica.state().expect("s")).is_none()
    );
}

/// A member who missed an epoch but holds the one before asks through the
/// relay mailbox of that epoch, and the re-wrap comes back the same way:
/// no peer is needed.
#[test]
fn a_member_who_holds_an_older_epoch_asks_and_is_answered_through_the_relay() {
    let mut w = World::new();
    let bob = w.admit();
    w.read_wire(bob);
    let before = w.people[0].replica.epoch();
    // A rotation whose wrap to bob does not open for him: his key-package
    // secret is lost (the ring keeps only the epoch he is in).
    let lost: Vec<KeyPackageId> = (w.people[bob].replica.keys().ring().held().into_iter())
        .filter_map(|(r, _)| match r {
            KeyRef::KeyPackage(k) => Some(k),
            _ => None,
        })
        .collect();
    assert!(!lost.is_empty());
    let (rekey, _) = w.people[0].replica.build_rekey(&mut w.rng, None, &[]).expect("rekey");
    w.write(0, Body::Rekey(rekey));
    w.people[bob].replica.forget_key_packages_for_test();
    w.read_wire(bob);
    let state = w.people[bob].replica.state().expect("state").clone();
    assert_ne!(state.epoch.id, before);
    assert!(w.people[bob].replica.keys().stranded(&state).is_some(), "the rekey did not open");

    let asked = duties(&mut w, bob, NOW);
    assert_eq!(asked.len(), 1);
    assert!(!asked[0].envelopes.is_empty(), "sealed under the epoch bob holds");
    w.read_wire(0);
    let answer = duties(&mut w, 0, LATER);
    assert_eq!(answer.len(), 1, "the founder answers");
    w.read_wire(bob);
    let epoch = w.people[0].replica.epoch();
    assert!(w.people[bob].replica.keys().ring().epoch_secret(&epoch).is_some(), "back in");
}

/// A removed member's request is refused by everyone who has seen the
/// removal, and nobody re-wraps anything to it: the epoch after its
/// removal never reaches it.
#[test]
fn a_removed_member_asking_for_the_epoch_gets_nothing() {
    let (mut w, bob, carol) = bob_stranded();
    let bob_key = w.people[bob].id.public_key();
    let (rekey, _) = w.people[0].replica.build_rekey(&mut w.rng, None, &[bob_key]).expect("rk");
    w.write(0, Body::MemberRemove(MemberRemove { member: bob_key, rekey: Some(rekey) }));
    w.read_wire(carol);
    // Bob has not seen his removal and asks.
    let asked = duties(&mut w, bob, NOW);
    assert_eq!(asked.len(), 1);
    for who in [0, carol] {
        hand_over(&mut w, who, &asked);
        let v = verdict(&w.people[who].replica, &asked[0].id);
        let not_a_member = |r: &Refusal| matches!(r, Refusal::NotAMember);
        let refused = match &v {
            Verdict::Refused(Refusal::CutOff { because, .. }) => not_a_member(because),
            Verdict::Refused(r) => not_a_member(r),
            _ => false,
        };
        assert!(refused, "{v:?}");
        assert!(duties(&mut w, who, LATER).is_empty(), "a removed member is answered");
    }
    let after = w.people[0].replica.epoch();
    let everything =
        w.people[0].replica.resync_for(&w.people[0].store, &bob_key, &BTreeMap::new(), 10_000);
    for m in everything.expect("store").map(|p| p.messages).unwrap_or_default() {
        let _ = w.people[bob].replica.receive_message(&mut w.rng, m, NOW);
    }
    w.read_wire(bob);
    assert!(w.people[bob].replica.keys().ring().epoch_secret(&after).is_none());
}

/// A re-wrap delivers the epoch's own secret to members, or nothing: one
/// whose confirmation is not the epoch's is refused; one that copies the
/// confirmation over another secret is refused by its recipient's check;
/// one to a non-member's package, or of an epoch that is no longer
/// current, is refused.
#[test]
fn a_rewrap_must_carry_the_epochs_own_secret_to_members_of_the_current_epoch() {
    let (mut w, bob, carol) = bob_stranded();
    let asked = duties(&mut w, bob, NOW);
    hand_over(&mut w, carol, &asked);
    hand_over(&mut w, 0, &asked);
    let Body::KeyRequest(KeyRequest { key_package, .. }) = body_of(&asked[0]) else {
        panic!("a request")
    };
    let bob_key = w.people[bob].id.public_key();
    let kid = KeyPackageId::owned_by(&bob_key, &key_package);
    let state = w.people[carol].replica.state().expect("state").clone();
    let replaces = state.epoch.replaces.expect("a rekeyed epoch");
    let group = state.group;
    let forged = |w: &mut World, rekey: Rekey, epoch: EpochId| -> Written {
        let body = Body::EpochRewrap(EpochRewrap { epoch, rekey });
        let p = &w.people[carol];
        let signed = p.replica.draft(body, NOW).sign(p.id.signing_key());
        let bytes = signed.encode();
        let m =
            Written { id: signed.id(), bytes, envelopes: vec![], received: Received::default() };
        // Every chain takes it in, carol's own so that her next one
        // follows it.
        for who in [carol, 0] {
            hand_over(w, who, std::slice::from_ref(&m));
        }
        // Bob may lack its parents (the removal, at the end): no check.
        let _ = w.people[bob].replica.receive_message(&mut w.rng, m.bytes.clone(), NOW);
        m
    };
    // Another secret, its own confirmation: not the epoch's.
    let epoch = state.epoch.id;
    let secret = w.people[carol].replica.keys().ring().epoch_secret(&epoch).expect("held").clone();
    let honest = Rekey::build(&mut w.rng, &group, replaces, &secret, &[(kid, &key_package)]);
    let real_confirmation = honest.expect("rekey").confirmation;
    let other = crate::epoch::EpochSecret::random(&mut w.rng);
    let wrong = Rekey::build(&mut w.rng, &group, replaces, &other, &[(kid, &key_package)]);
    let wrong = wrong.expect("rekey");
    let mut copied = wrong.clone();
    let m = forged(&mut w, wrong, epoch);
    let v = verdict(&w.people[0].replica, &m.id);
    assert_eq!(v, Verdict::Refused(Refusal::RewrapMismatch));
    // The epoch's confirmation copied over another secret: the fold cannot
    // tell, the recipient can, and stays out rather than take it.
    copied.confirmation = real_confirmation;
    forged(&mut w, copied, epoch);
    assert!(w.people[bob].replica.keys().ring().epoch_secret(&epoch).is_none(), "bob took a lie");
    // To a member removed meanwhile: refused (its epoch is stale too).
    let carol_key = w.people[carol].id.public_key();
    let (rekey, _) = w.people[0].replica.build_rekey(&mut w.rng, None, &[bob_key]).expect("rk");
    w.write(0, Body::MemberRemove(MemberRemove { member: bob_key, rekey: Some(rekey) }));
    w.read_wire(carol);
    let late =
        Rekey::build(&mut w.rng, &group, replaces, &secret, &[(kid, &key_package)]).expect("rk");
    let m = forged(&mut w, late, epoch);
    let v = verdict(&w.people[0].replica, &m.id);
    assert!(
        matches!(v, Verdict::Refused(Refusal::StaleEpoch | Refusal::WrapsForNonMember(_))),
        "{v:?} (carol {carol_key:?})"
    );
}

/// Found by the replica soak: a member removed and admitted again by a
/// message with no rekey is a member in an epoch begun while it was out.
/// A re-wrap of that epoch would open what was sealed meanwhile (and, with
/// a role key it kept, the role's key of that epoch), so the fold refuses
/// one (`RewrapPredatesAdmission`) and the member who may rotate answers
/// its request with a new epoch instead.
#[test]
fn a_member_admitted_after_the_epoch_began_gets_a_new_epoch_not_a_rewrap() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    for who in [0, bob, carol] {
        w.read_wire(who);
    }
    let bob_key = w.people[bob].id.public_key();
    let (rekey, _) = w.people[0].replica.build_rekey(&mut w.rng, None, &[bob_key]).expect("rk");
    w.write(0, Body::MemberRemove(MemberRemove { member: bob_key, rekey: Some(rekey) }));
    w.read_wire(carol);
    let said = w.write(carol, chat("said while bob was out"));
    w.read_wire(0);
    let add =
        MemberAdd { member: bob_key, roles: vec!["member".into()], rekey: None, invite: None };
    w.write(0, Body::MemberAdd(add));
    w.read_wire(carol);
    let out_epoch = w.people[0].replica.epoch();
    // Bob catches up from a peer; he holds no key of the epoch he is in.
    w.resync(bob, 0);
    w.people[bob].replica.erase_keys_on_leave(false);
    let asked = duties(&mut w, bob, NOW);
    assert!(matches!(body_of(&asked[0]), Body::KeyRequest(_)));
    for who in [0, carol] {
        hand_over(&mut w, who, &asked);
    }
    // A re-wrap of the epoch bob was out for, by a member who holds it,
    // is refused.
    let Body::KeyRequest(KeyRequest { key_package, .. }) = body_of(&asked[0]) else {
        panic!("a request")
    };
    let kid = KeyPackageId::owned_by(&bob_key, &key_package);
    let forged = {
        let p = &w.people[carol];
        let s = p.replica.state().expect("state");
        let secret = p.replica.keys().ring().epoch_secret(&s.epoch.id).expect("held");
        let replaces = s.epoch.replaces.expect("a rekeyed epoch");
        let rekey = Rekey::build(&mut w.rng, &s.group, replaces, secret, &[(kid, &key_package)]);
        let body = Body::EpochRewrap(EpochRewrap { epoch: s.epoch.id, rekey: rekey.expect("rk") });
        let signed = p.replica.draft(body, NOW).sign(p.id.signing_key());
        Written {
            id: signed.id(),
            bytes: signed.encode(),
            envelopes: vec![],
            received: Received::default(),
        }
    };
    for who in [carol, 0, bob] {
        hand_over(&mut w, who, std::slice::from_ref(&forged));
    }
    let v = verdict(&w.people[0].replica, &forged.id);
    assert_eq!(v, Verdict::Refused(Refusal::RewrapPredatesAdmission(bob_key)));
    // Carol, who may not rotate, writes nothing; the founder rekeys.
    assert!(duties(&mut w, carol, LATER).is_empty(), "carol re-wrapped the epoch");
    let answer = duties(&mut w, 0, LATER);
    assert_eq!(answer.len(), 1);
    assert!(matches!(body_of(&answer[0]), Body::Rekey(_)), "not a re-wrap");
    hand_over(&mut w, bob, &answer);
    let r = &w.people[bob].replica;
    assert_ne!(r.epoch(), out_epoch);
    assert!(r.keys().ring().epoch_secret(&r.epoch()).is_some(), "bob is in the new epoch");
    assert!(r.keys().ring().epoch_secret(&out_epoch).is_none());
    // What was sealed while he was out stays sealed to him (a peer's
    // resync shows a member the chain's chat, as it shows a joiner:
    // `security.md`; the epoch also keys the roles' sealed content).
    for env in &said.envelopes {
        let r = w.people[bob].replica.receive_envelope(&mut w.rng, env, NOW);
        assert!(matches!(r, Err(ReplicaError::UnknownMailbox)), "{r:?}");
    }
}
