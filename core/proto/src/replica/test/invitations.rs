//! Invitations shared with the members who may answer them (`peer.md`,
//! "Invitations"): sealed to the roles with the invite power, opened by
//! their holders only, and admitting once.

use super::*;
use crate::group::{Refusal, Verdict};
use crate::invite::InvitationContent;

pub(super) fn content(secret: u8) -> InvitationContent {
    InvitationContent {
        secret: [secret; 32],
        expires_at: NOW + 600,
        roles: vec!["member".into()],
        manual: false,
    }
}

/// The founder shares an invitation; bob, a member (who may invite under
/// these rules), opens it; an observer, who may not, sees nothing. Once an
/// admission redeems it, nobody lists it any more, and a second admission
/// naming it is refused (`InviteUsed`).
#[test]
fn an_invitation_opens_for_those_who_may_answer_it_and_admits_once() {
    let mut w = World::new();
    let bob = w.admit();
    w.read_wire(bob);
    let shared = content(7);
    let body = w.people[0].replica.invitation_body(&mut w.rng, &shared, NOW).expect("sealed");
    w.write(0, body);
    w.read_wire(bob);
    let open = w.people[bob].replica.open_invitations(NOW);
    assert_eq!(open.len(), 1, "bob may answer it");
    assert_eq!(open[0].1.secret, shared.secret);
    assert!(w.people[bob].replica.open_invitations(NOW + 601).is_empty(), "expired");

    // Two newcomers redeem it, one after the other, at two members.
    let add = |w: &mut World, by: usize| {
        let joiner = identity(&mut w.rng).public_key();
        let body = Body::MemberAdd(MemberAdd {
            member: joiner,
            roles: vec!["member".into()],
            rekey: None,
            invite: Some(shared.id()),
        });
        (joiner, w.write(by, body).id)
    };
    let (first, a1) = add(&mut w, bob);
    w.read_wire(0);
    assert_eq!(w.people[0].replica.fold().verdict(&a1), Some(&Verdict::Applied));
    assert!(w.people[0].replica.open_invitations(NOW).is_empty(), "used up");
    assert!(w.people[0].replica.state().expect("s").members.contains_key(&first));
    // The founder, having seen it, would not answer again; a forged
    // second admission is refused.
    let second = identity(&mut w.rng).public_key();
    let forged = Body::MemberAdd(MemberAdd {
        member: second,
        roles: vec!["member".into()],
        rekey: None,
        invite: Some(shared.id()),
    });
    let key = w.people[0].id.signing_key().clone();
    let refused = w.people[0].replica.write(&mut w.rng, &key, forged, NOW);
    assert!(matches!(refused, Err(ReplicaError::Refused(_))), "{refused:?}");
    let m = {
        let p = &w.people[bob];
        let add = MemberAdd {
            member: second,
            roles: vec!["member".into()],
            rekey: None,
            invite: Some(shared.id()),
        };
        p.replica.draft(Body::MemberAdd(add), NOW).sign(p.id.signing_key())
    };
    let r = w.people[0].replica.receive_message(&mut w.rng, m.encode(), NOW).expect("taken in");
    assert!(r.accepted.contains(&m.id()));
    let v = w.people[0].replica.fold().verdict(&m.id()).cloned();
    assert_eq!(v, Some(Verdict::Refused(Refusal::InviteUsed)));
}

/// Only roles with the invite power are sealed to: an observer, admitted
/// by the founder, opens no invitation.
#[test]
fn a_member_who_may_not_invite_opens_no_invitation() {
    let mut w = World::new();
    let observer = w.admit_as("observer");
    let body = w.people[0].replica.invitation_body(&mut w.rng, &content(9), NOW).expect("sealed");
    w.write(0, body);
    w.resync(observer, 0);
    assert!(w.people[observer].replica.is_member());
    assert!(w.people[observer].replica.open_invitations(NOW).is_empty());
}
