//! One rule per test, driven by hand (the simulator checks them together
//! over a hostile network).

use zeroize::Zeroizing;

use super::*;
use crate::crypto::XofRng;
use crate::relay_proto::{ErrorReply, Response};
use crate::wire::{EpochKeys, Fragment};

const T0: Duration = Duration::from_secs(100);

fn keys(n: u8) -> EpochKeys {
    EpochKeys::derive(&Zeroizing::new([n; 32]))
}

fn envelope(rng: &mut XofRng, n: u8) -> Envelope {
    let fragment = Fragment { tag: [n; 16], index: 0, count: 1, data: vec![n] };
    Envelope::seal(rng, &keys(n), &fragment)
}

fn session() -> ClientSession {
    ClientSession::new(1, RelayLimits::default())
}

/// The requests queued, and the other actions.
fn drain(s: &mut ClientSession) -> (Vec<Request>, Vec<ClientAction>) {
    let (mut sent, mut other) = (Vec::new(), Vec::new());
    while let Some(a) = s.poll_action() {
        match a {
            ClientAction::Send(r) => sent.push(r),
            a => other.push(a),
        }
    }
    (sent, other)
}

fn post_ids(sent: &[Request]) -> Vec<u32> {
    sent.iter()
        .filter_map(|r| if let Request::Post { id, .. } = r { Some(*id) } else { None })
        .collect()
}

fn reply(s: &mut ClientSession, now: Duration, r: Response) {
    s.handle_frame(now, &r.encode());
}

fn refuse(s: &mut ClientSession, now: Duration, id: u32, code: ErrorCode, info: u64) {
    reply(s, now, Response::Error(ErrorReply::new(Some(id), code, info)));
}

#[test]
fn an_item_is_acknowledged_once_every_envelope_is_stored() {
    let mut rng = XofRng::from_seed(b"session ack");
    let mut s = session();
    let envelopes = [envelope(&mut rng, 1), envelope(&mut rng, 2)];
    s.post(T0, 9, &envelopes);
    s.post(T0, 9, &envelopes);
    let (sent, _) = drain(&mut s);
    let ids = post_ids(&sent);
    assert_eq!(ids.len(), 2, "an item on its way is not posted twice");
    let posted = |id| Response::Posted { id, cursor: 1, duplicate: false };
    reply(&mut s, T0, posted(ids[0]));
    reply(&mut s, T0, posted(ids[0]));
    assert_eq!(drain(&mut s).1, vec![], "one envelope of two, however often");
    reply(&mut s, T0, posted(ids[1]));
    assert_eq!(drain(&mut s).1, vec![ClientAction::Acked(9)]);
}

#[test]
fn a_final_refusal_is_remembered_by_the_next_connection() {
    let mut rng = XofRng::from_seed(b"session final");
    let mut s = session();
    let (good, bad) = (envelope(&mut rng, 1), envelope(&mut rng, 1));
    s.post(T0, 1, &[good.clone(), bad.clone()]);
    let ids = post_ids(&drain(&mut s).0);
    refuse(&mut s, T0, ids[1], ErrorCode::BadSignature, 0);
    let refusal = Refusal::new(ErrorCode::BadSignature, 0);
    let refused = ClientAction::Refused { item: 1, refusal, retry: Retry::Never };
    assert_eq!(drain(&mut s).1, vec![refused]);
    let mut next = session().with_memory(s.into_memory());
    next.post(T0, 1, &[good.clone(), bad]);
    let sent = drain(&mut next).0;
    let envelope = good.as_bytes().to_vec();
    assert!(matches!(&sent[..], [Request::Post { envelope: e, .. }] if *e == envelope));
}

#[test]
fn a_rate_limit_is_waited_out_one_post_per_wait() {
    let mut rng = XofRng::from_seed(b"session wait");
    let mut s = session();
    s.post(T0, 1, &[envelope(&mut rng, 1)]);
    s.post(T0, 2, &[envelope(&mut rng, 1)]);
    let ids = post_ids(&drain(&mut s).0);
    let wait = Duration::from_millis(400);
    for id in &ids {
        refuse(&mut s, T0, *id, ErrorCode::RateLimited, 400);
    }
    assert_eq!(s.poll_timeout(), Some(T0 + wait));
    s.handle_timeout(T0 + wait - Duration::from_millis(1));
    assert!(post_ids(&drain(&mut s).0).is_empty(), "not before the wait");
    s.handle_timeout(T0 + wait);
    assert_eq!(post_ids(&drain(&mut s).0).len(), 1);
    s.handle_timeout(T0 + wait * 2);
    assert_eq!(post_ids(&drain(&mut s).0).len(), 1, "the second a wait later");
}

#[test]
fn requests_keep_to_the_announced_rate() {
    let mut rng = XofRng::from_seed(b"session pace");
    let limits = RelayLimits { requests_per_second: 10, burst: 4, ..RelayLimits::default() };
    let mut s = ClientSession::new(1, limits);
    for item in 0..5 {
        s.post(T0, item, &[envelope(&mut rng, 1)]);
    }
    assert_eq!(post_ids(&drain(&mut s).0).len(), 2, "half the burst at once");
    assert_eq!(s.poll_timeout(), Some(T0 + Duration::from_millis(100)));
    s.handle_timeout(T0 + Duration::from_millis(100));
    assert_eq!(post_ids(&drain(&mut s).0).len(), 1);
}

#[test]
fn a_proof_of_work_is_asked_for_then_sent() {
    let mut rng = XofRng::from_seed(b"session pow");
    let mut s = session();
    let e = envelope(&mut rng, 1);
    s.post(T0, 1, core::slice::from_ref(&e));
    let ids = post_ids(&drain(&mut s).0);
    refuse(&mut s, T0, ids[0], ErrorCode::ProofOfWorkRequired, 4);
    let mailbox = e.mailbox();
    assert_eq!(drain(&mut s).1, vec![ClientAction::Solve { mailbox, difficulty: 4 }]);
    let nonce = crate::relay_proto::pow::solve(&mailbox, 4, 0, 1 << 12).expect("solved");
    s.solved(T0, mailbox, Some(nonce));
    let sent = drain(&mut s).0;
    assert!(matches!(&sent[..], [Request::Post { pow: Some(n), .. }] if *n == nonce));
}

#[test]
fn a_new_epoch_ends_the_connection_and_an_old_one_does_not() {
    let (a, b, c) = (keys(1).mailbox, keys(2).mailbox, keys(3).mailbox);
    let mut s = session();
    s.subscribe(T0, &[(b, 0), (a, 0)]);
    drain(&mut s);
    s.follow(&[b, a]);
    assert_eq!(drain(&mut s).1, vec![]);
    s.follow(&[c, b, a]);
    assert_eq!(drain(&mut s).1, vec![ClientAction::Close(Ended::NewEpoch)]);
}

#[test]
fn subscriptions_are_confirmed_and_a_refused_one_is_retried_or_ends() {
    let a = keys(1).mailbox;
    let mut s = session();
    s.subscribe(T0, &[(a, 3)]);
    let id = |r: &Request| if let Request::Subscribe { id, .. } = r { *id } else { 0 };
    let first = id(&drain(&mut s).0[0]);
    refuse(&mut s, T0, first, ErrorCode::RateLimited, 200);
    s.handle_timeout(T0 + Duration::from_millis(200));
    let again = id(&drain(&mut s).0[0]);
    reply(&mut s, T0, Response::Subscribed { id: again, heads: vec![3] });
    assert_eq!(drain(&mut s).1, vec![ClientAction::Subscribed(vec![a])]);
    s.subscribe(T0, &[(a, 3)]);
    let third = id(&drain(&mut s).0[0]);
    refuse(&mut s, T0, third, ErrorCode::TooManyMailboxes, 2);
    let refusal = Refusal::new(ErrorCode::TooManyMailboxes, 2);
    assert_eq!(drain(&mut s).1, vec![ClientAction::Close(Ended::SubscribeRefused(refusal))]);
}

#[test]
fn an_idle_connection_pings_and_a_silent_relay_ends_it() {
    let mut s = session();
    s.handle_timeout(T0);
    assert!(matches!(&drain(&mut s).0[..], [Request::Ping { .. }]));
    assert_eq!(s.poll_timeout(), Some(T0 + PING_EVERY));
    s.handle_timeout(T0 + REPLY_TIMEOUT);
    assert_eq!(drain(&mut s).1, vec![ClientAction::Close(Ended::Unresponsive)]);
    s.handle_frame(T0 + REPLY_TIMEOUT, b"\xff");
    assert_eq!(drain(&mut s), (vec![], vec![]), "an ended session does nothing more");
}
