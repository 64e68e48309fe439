use super::*;
use crate::crypto::XofRng;
use crate::epoch::KeyPackage;
use crate::wire::GroupId;

fn invite() -> Invite {
    Invite {
        group: GroupId([4; 32]),
        genesis: crate::wire::MessageId([5; 32]),
        service: PublicKey([7; 32]),
        secret: [9; 32],
        expires_at: 2_000,
        hint: "bastion".into(),
        loopback_port: None,
        answerers: vec![PublicKey([8; 32]), PublicKey([6; 32])],
    }
}

fn package() -> KeyPackage {
    KeyPackage::generate(GroupId([1; 32]), &mut XofRng::from_seed(b"kp")).0
}

#[test]
fn the_string_round_trips_and_every_typo_is_refused() {
    let text = invite().to_text();
    assert!(text.starts_with(PREFIX));
    assert_eq!(Invite::parse(&text, 1_000), Ok(invite()));
    let body = &text[PREFIX.len()..];
    for (i, c) in body.char_indices() {
        for sub in ['0', 'x', 'q'] {
            if sub == c {
                continue;
            }
            let typo = format!("{PREFIX}{}{sub}{}", &body[..i], &body[i + 1..]);
            assert!(Invite::parse(&typo, 1_000).is_err(), "typo at {i} accepted");
        }
    }
    assert_eq!(Invite::parse(&text[..text.len() - 3], 1_000), Err(InviteError::Damaged));
    assert_eq!(Invite::parse("cairn-invite2-abc", 1_000), Err(InviteError::NotAnInvite));
}

#[test]
fn an_expired_invite_is_refused() {
    assert_eq!(Invite::parse(&invite().to_text(), 2_001), Err(InviteError::Expired));
    let mut host = InviteHost::new(invite());
    let b = [1; 32];
    let r =
        host.handle_join(2_001, PublicKey([2; 32]), &b, &invite().proof(&b), package(), "x".into());
    assert_eq!(r.err(), Some(PeerErrorCode::InviteExpired));
}

#[test]
fn an_invite_is_used_once_and_a_proof_only_fits_its_channel() {
    let mut host = InviteHost::new(invite());
    let (b1, b2) = ([1; 32], [2; 32]);
    let peer = PublicKey([3; 32]);
    // A proof recorded on one channel does not open another.
    let replayed = host.handle_join(1_000, peer, &b2, &invite().proof(&b1), package(), "x".into());
    assert_eq!(replayed.err(), Some(PeerErrorCode::NotAuthorized));
    let mut wrong = invite();
    wrong.secret[0] ^= 1;
    let r = host.handle_join(1_000, peer, &b1, &wrong.proof(&b1), package(), "x".into());
    assert_eq!(r.err(), Some(PeerErrorCode::NotAuthorized));
    let ok = host.handle_join(1_000, peer, &b1, &invite().proof(&b1), package(), "bob".into());
    let pending = ok.expect("first use");
    assert_eq!(pending.short_code, short_code(&b1));
    let again = host.handle_join(1_000, peer, &b1, &invite().proof(&b1), package(), "bob".into());
    assert_eq!(again.err(), Some(PeerErrorCode::InviteUsed));
}

#[test]
fn short_codes_differ_across_channels_and_secrets_stay_out_of_debug() {
    assert_ne!(short_code(&[1; 32]), short_code(&[2; 32]));
    assert_eq!(short_code(&[1; 32]).len(), 7);
    assert!(!format!("{:?}", invite()).contains("9, 9"));
}
