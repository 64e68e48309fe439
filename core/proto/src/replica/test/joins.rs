//! Pending joins shared with the members who may answer them (`peer.md`,
//! "Pending joins"): shown to those who may invite only, answered by any of
//! them, the answer seen by all of them, and bounded.

use super::invitations::content;
use super::*;
use crate::group::{Refusal, Verdict};
use crate::invite::PendingJoinContent;
use crate::replica::{JoinOutcome, MAX_JOIN_NOTES};
use crate::wire::{InviteId, JoinDeclined};

/// A redeemer waiting at a member's service: its identity and request.
fn redeemer(w: &mut World, code: &str) -> (PublicKey, PendingJoinContent) {
    let id = identity(&mut w.rng);
    let genesis = w.people[0].replica.state().expect("state").genesis;
    let (_, kp) =
        Replica::joining(&mut w.rng, id.public_key(), w.people[0].replica.group(), genesis);
    let content = PendingJoinContent {
        identity: id.public_key(),
        name: "dana".into(),
        short_code: code.into(),
        key_package: kp,
        until: NOW + 600,
    };
    (id.public_key(), content)
}

/// The founder shares an invitation; bob (a member, who may invite) holds
/// a redeemer's session and shares its request.
fn shared_at_bob(w: &mut World, code: &str) -> (usize, InviteId, PublicKey, PendingJoinContent) {
    let bob = w.admit();
    let invitation = content(7);
    let body = w.people[0].replica.invitation_body(&mut w.rng, &invitation, NOW).expect("sealed");
    w.write(0, body);
    w.read_wire(bob);
    let (joiner, request) = redeemer(w, code);
    let body = (w.people[bob].replica)
        .join_pending_body(&mut w.rng, invitation.id(), &request, NOW)
        .expect("sealed");
    w.write(bob, body);
    (bob, invitation.id(), joiner, request)
}

/// The founder, who may invite, is shown bob's pending join with its code;
/// an observer, who may not, is shown nothing. The founder admits it (the
/// admission names the invitation): bob, who holds the session, and the
/// founder both see it admitted by the founder, and it is no longer
/// pending anywhere.
#[test]
fn a_pending_join_is_shown_to_every_member_who_may_answer_it_and_the_outcome_too() {
    let mut w = World::new();
    let observer = w.admit_as("observer");
    let (bob, invite, joiner, request) = shared_at_bob(&mut w, "4271-1180");
    w.read_wire(0);
    w.read_wire(observer);
    let shown = w.people[0].replica.pending_joins(NOW);
    assert_eq!(shown.len(), 1, "the founder may answer it");
    assert_eq!(shown[0].content, request);
    assert_eq!(shown[0].answerer, w.people[bob].id.public_key());
    assert!(w.people[observer].replica.pending_joins(NOW).is_empty(), "an observer may not");
    assert!(w.people[0].replica.pending_joins(NOW + 601).is_empty(), "bob gave up by then");

    let (rekey, _) = (w.people[0].replica)
        .build_rekey(&mut w.rng, Some((&joiner, &request.key_package)), &[])
        .expect("rekey");
    let add = MemberAdd {
        member: joiner,
        roles: vec!["member".into()],
        rekey: Some(rekey),
        invite: Some(invite),
    };
    let admission = w.write(0, Body::MemberAdd(add));
    let admitted =
        JoinOutcome::Admitted { by: w.people[0].id.public_key(), admission: admission.id };
    assert_eq!(admission.received.joins.len(), 1, "the founder's own answer is news");
    let before = w.people[bob].replica.join_note(&invite, &joiner).and_then(|n| n.outcome);
    assert_eq!(before, None);
    w.read_wire(bob);
    let at_bob = w.people[bob].replica.join_note(&invite, &joiner).and_then(|n| n.outcome);
    assert_eq!(at_bob, Some(admitted), "bob welcomes the redeemer into that admission");
    assert!(w.people[bob].replica.pending_joins(NOW).is_empty());
    assert!(w.people[0].replica.pending_joins(NOW).is_empty());
}

/// The founder declines: bob, holding the session, sees it declined by the
/// founder, and a later decline does not overwrite the first answer. An
/// observer's share or decline is refused by the fold (it may not invite).
#[test]
fn a_declined_join_is_declined_for_everyone_and_only_inviters_may_share_or_decline() {
    let mut w = World::new();
    let observer = w.admit_as("observer");
    let (bob, invite, joiner, request) = shared_at_bob(&mut w, "0000-1111");
    w.read_wire(0);
    let decline = Body::JoinDeclined(JoinDeclined { invite, member: joiner });
    w.write(0, decline.clone());
    w.read_wire(bob);
    let founder = w.people[0].id.public_key();
    let outcome =
        |w: &World| w.people[bob].replica.join_note(&invite, &joiner).and_then(|n| n.outcome);
    assert_eq!(outcome(&w), Some(JoinOutcome::Declined { by: founder }));
    w.write(bob, decline.clone());
    assert_eq!(outcome(&w), Some(JoinOutcome::Declined { by: founder }), "the first answer stands");

    w.read_wire(0);
    w.read_wire(observer);
    let pending =
        (w.people[0].replica).join_pending_body(&mut w.rng, invite, &request, NOW).expect("sealed");
    for body in [pending, decline] {
        let p = &w.people[observer];
        let m = p.replica.draft(body, NOW).sign(p.id.signing_key());
        for at in [observer, 0] {
            let r = &mut w.people[at].replica;
            r.receive_message(&mut w.rng, m.encode(), NOW).expect("taken in");
        }
        let verdict = w.people[0].replica.fold().verdict(&m.id()).cloned();
        let lacks = Some(Verdict::Refused(Refusal::Lacks(crate::group::Power::Invite)));
        assert_eq!(verdict, lacks);
    }
}

/// A member who may invite cannot grow the others' memory without bound by
/// sharing pending joins: at most [`MAX_JOIN_NOTES`] are kept, the ones that
/// end first dropped. What is kept is rebuilt when the replica is opened
/// from its store.
#[test]
fn pending_joins_kept_are_bounded_and_rebuilt_on_reopening() {
    let mut w = World::new();
    let (bob, invite, _, _) = shared_at_bob(&mut w, "1");
    for i in 0..MAX_JOIN_NOTES + 4 {
        let (_, mut request) = redeemer(&mut w, &format!("code-{i}"));
        request.until = NOW + 1000 + i as u64;
        let body = (w.people[bob].replica)
            .join_pending_body(&mut w.rng, invite, &request, NOW)
            .expect("sealed");
        w.write(bob, body);
    }
    w.read_wire(0);
    let mut before: Vec<_> = w.people[0].replica.pending_joins(NOW).into_iter().cloned().collect();
    assert_eq!(before.len(), MAX_JOIN_NOTES);
    assert!(before.iter().all(|n| n.content.until >= NOW + 1004), "the first to end were dropped");
    let reopened = reopen(&mut w, 0);
    let mut again: Vec<_> = reopened.pending_joins(NOW).into_iter().cloned().collect();
    again.sort_by_key(|n| n.shared_in);
    before.sort_by_key(|n| n.shared_in);
    assert_eq!(again, before);
}

/// A pending join shared before this member holds the role key it is
/// sealed to (admitted by bob while the founder, the key's designated
/// holder, is offline) is shown once the key arrives.
#[test]
fn a_pending_join_sealed_before_the_role_key_arrived_is_shown_when_it_does() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit_by_without_grants(bob);
    let invitation = content(7);
    let body = w.people[bob].replica.invitation_body(&mut w.rng, &invitation, NOW).expect("sealed");
    w.write(bob, body);
    let (_, request) = redeemer(&mut w, "5555-0000");
    let body = (w.people[bob].replica)
        .join_pending_body(&mut w.rng, invitation.id(), &request, NOW)
        .expect("sealed");
    w.write(bob, body);
    w.read_wire(carol);
    assert!(w.people[carol].replica.pending_joins(NOW).is_empty(), "no key to open it yet");
    let grants = w.people[bob].replica.key_actions(&mut w.rng, &[], NOW + 60);
    assert!(!grants.is_empty(), "bob grants at his turn");
    let mut news = Vec::new();
    for body in grants {
        let written = w.write(bob, body);
        drop(written);
    }
    let p = &mut w.people[carol];
    for env in &w.wire {
        if let Ok(r) = p.replica.receive_envelope(&mut w.rng, env, NOW) {
            news.extend(r.joins);
        }
    }
    let shown = w.people[carol].replica.pending_joins(NOW);
    assert_eq!(shown.len(), 1, "opened once the key came");
    assert_eq!(shown[0].content, request);
    assert!(news.iter().any(|n| n.content == request), "and told as news");
}
