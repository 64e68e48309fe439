use rand_core::Rng;
use zeroize::Zeroizing;

use super::*;
use crate::crypto::XofRng;
use crate::relay_proto::{PROTOCOL_VERSION, Response};
use crate::wire::{ENVELOPE_LEN, EpochKeys, fragment_message};

const T0: Duration = Duration::from_secs(1000);

fn keys(seed: u8) -> EpochKeys {
    EpochKeys::derive(&Zeroizing::new([seed; 32]))
}

fn envelope(rng: &mut XofRng, keys: &EpochKeys) -> Envelope {
    let frag = fragment_message(rng, b"relay test").expect("split").remove(0);
    Envelope::seal(rng, keys, &frag)
}

fn session(limits: RelayLimits) -> ServerSession {
    let hello = ClientHello { magic: MAGIC, versions: vec![PROTOCOL_VERSION] };
    match ServerHandshake::new(limits).handle(T0, &hello.encode()) {
        HandshakeOutcome::Accept { session, .. } => session,
        HandshakeOutcome::Refuse { code, .. } => panic!("refused: {code}"),
    }
}

fn post(s: &mut ServerSession, id: u32, env: &Envelope, pow: Option<u64>) -> Action {
    let req = Request::Post { id, envelope: env.as_bytes().to_vec(), pow };
    s.handle_frame(T0, &req.encode());
    s.poll_action().expect("an action")
}

fn error_of(action: Action) -> (Option<u32>, Option<ErrorCode>, u64) {
    match action {
        Action::Send(Response::Error(e)) => (e.id, ErrorCode::from_number(e.code), e.info),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn handshake_picks_a_common_version_or_refuses() {
    let hs = ServerHandshake::new(RelayLimits::default());
    let hello = |versions: Vec<u16>| ClientHello { magic: MAGIC, versions }.encode();
    let refused = |out| match out {
        HandshakeOutcome::Refuse { code, .. } => code,
        HandshakeOutcome::Accept { .. } => panic!("accepted"),
    };
    match hs.clone().handle(T0, &hello(vec![7, 1, 3])) {
        HandshakeOutcome::Accept { session, reply } => {
            assert_eq!(session.version(), 1);
            assert!(matches!(reply, ServerHello::Welcome { version: 1, .. }));
        }
        HandshakeOutcome::Refuse { code, .. } => panic!("refused: {code}"),
    }
    assert_eq!(refused(hs.clone().handle(T0, &hello(vec![2]))), ErrorCode::UnsupportedVersion);
    assert_eq!(refused(hs.clone().handle(T0, &hello(vec![1; 9]))), ErrorCode::Malformed);
    let bad_magic = ClientHello { magic: *b"cairnXXX", versions: vec![1] }.encode();
    assert_eq!(refused(hs.clone().handle(T0, &bad_magic)), ErrorCode::Malformed);
    assert_eq!(refused(hs.handle(T0, b"GET / HTTP/1.1\r\n")), ErrorCode::Malformed);
}

#[test]
fn only_the_mailbox_write_key_can_post() {
    let mut rng = XofRng::from_seed(b"relay session post");
    let mut s = session(RelayLimits::default());
    let k = keys(1);
    let env = envelope(&mut rng, &k);
    match post(&mut s, 7, &env, None) {
        Action::Store(r) => {
            assert_eq!((r.id, r.mailbox, r.pow_proved), (7, k.mailbox, false));
            assert_eq!(r.envelope, env);
        }
        other => panic!("expected a store, got {other:?}"),
    }
    // A stranger puts the victim's (public) key in an envelope signed by
    // their own key: the signature check fails.
    let mut forged = *envelope(&mut rng, &keys(9)).as_bytes();
    forged[1..33].copy_from_slice(&k.mailbox_public.0);
    let forged = Envelope::parse(&forged).expect("shape");
    assert_eq!(forged.mailbox(), k.mailbox);
    assert_eq!(error_of(post(&mut s, 8, &forged, None)).1, Some(ErrorCode::BadSignature));
    // Any flipped bit of a good envelope.
    let mut flipped = *env.as_bytes();
    flipped[1000] ^= 4;
    let flipped = Envelope::parse(&flipped).expect("shape");
    assert_eq!(error_of(post(&mut s, 9, &flipped, None)).1, Some(ErrorCode::BadSignature));
    // A short envelope is refused; the connection stays open.
    s.handle_frame(T0, &Request::Post { id: 10, envelope: vec![1; 10], pow: None }.encode());
    assert_eq!(
        error_of(s.poll_action().expect("reply")),
        (Some(10), Some(ErrorCode::Malformed), 0)
    );
    assert!(!s.is_closed());
    assert_eq!(s.inflight(), 1);
}

#[test]
fn one_group_per_connection() {
    let mut rng = XofRng::from_seed(b"relay session mailboxes");
    let mut s = session(RelayLimits::default());
    for seed in [1, 2, 1] {
        assert!(matches!(
            post(&mut s, 1, &envelope(&mut rng, &keys(seed)), None),
            Action::Store(_)
        ));
    }
    let third = envelope(&mut rng, &keys(3));
    assert_eq!(
        error_of(post(&mut s, 2, &third, None)),
        (Some(2), Some(ErrorCode::TooManyMailboxes), 2)
    );
    s.handle_frame(T0, &Request::Fetch { id: 3, mailbox: [3; 32], after: 0, limit: 9 }.encode());
    assert_eq!(error_of(s.poll_action().expect("reply")).1, Some(ErrorCode::TooManyMailboxes));
    let from = vec![SubscribeFrom { mailbox: [4; 32], after: 0 }];
    s.handle_frame(T0, &Request::Subscribe { id: 4, from }.encode());
    assert_eq!(error_of(s.poll_action().expect("reply")).1, Some(ErrorCode::TooManyMailboxes));
    // Fetching one of its two mailboxes is fine; the limit is capped.
    let m = keys(2).mailbox;
    s.handle_frame(T0, &Request::Fetch { id: 5, mailbox: m.0, after: 3, limit: 999 }.encode());
    let fetch = FetchRequest { id: 5, mailbox: m, after: 3, limit: 64 };
    assert!(matches!(s.poll_action(), Some(Action::Fetch(f)) if f == fetch));
}

#[test]
fn proof_of_work_for_new_mailboxes() {
    let mut rng = XofRng::from_seed(b"relay session pow");
    let mut s = session(RelayLimits { pow_difficulty: 8, ..RelayLimits::default() });
    let k = keys(1);
    let env = envelope(&mut rng, &k);
    let nonce = pow::solve(&k.mailbox, 8, 0, 1 << 16).expect("solvable");
    let wrong = (0..).find(|n| !pow::check(&k.mailbox, *n, 8)).expect("a non-proof");
    assert_eq!(
        error_of(post(&mut s, 1, &env, Some(wrong))),
        (Some(1), Some(ErrorCode::ProofOfWorkRequired), 8)
    );
    assert!(matches!(post(&mut s, 2, &env, Some(nonce)), Action::Store(r) if r.pow_proved));
    // Without a nonce the store decides (it knows whether the mailbox exists).
    assert!(matches!(post(&mut s, 3, &env, None), Action::Store(r) if !r.pow_proved));
}

#[test]
fn posts_in_flight_apply_backpressure() {
    let mut rng = XofRng::from_seed(b"relay session inflight");
    let mut s = session(RelayLimits { max_inflight: 2, ..RelayLimits::default() });
    let env = envelope(&mut rng, &keys(1));
    assert!(s.may_read());
    post(&mut s, 1, &env, None);
    post(&mut s, 2, &env, None);
    assert!(!s.may_read());
    s.stored(1, Ok(Stored { cursor: 1, duplicate: false }));
    assert!(s.may_read());
    let posted = Response::Posted { id: 1, cursor: 1, duplicate: false };
    assert!(matches!(s.poll_action(), Some(Action::Send(r)) if r == posted));
    let refusal = StoreRefusal { code: ErrorCode::QuotaExceeded, info: 1 };
    s.stored(2, Err(refusal));
    assert_eq!(
        error_of(s.poll_action().expect("reply")),
        (Some(2), Some(ErrorCode::QuotaExceeded), 1)
    );
    assert_eq!(s.inflight(), 0);
}

#[test]
fn rate_limit_then_disconnect() {
    let limits = RelayLimits { requests_per_second: 10, burst: 5, ..RelayLimits::default() };
    let mut s = session(limits);
    let ping = |id| Request::Ping { id }.encode();
    for id in 0..5 {
        s.handle_frame(T0, &ping(id));
        assert!(matches!(s.poll_action(), Some(Action::Send(Response::Pong { .. }))));
    }
    s.handle_frame(T0, &ping(5));
    assert_eq!(
        error_of(s.poll_action().expect("reply")),
        (Some(5), Some(ErrorCode::RateLimited), 100)
    );
    // After 100 ms one more is allowed.
    s.handle_frame(T0 + Duration::from_millis(100), &ping(6));
    assert!(matches!(s.poll_action(), Some(Action::Send(Response::Pong { id: 6 }))));
    // A client that ignores the refusals is cut off.
    for id in 0..=MIN_STRIKES {
        s.handle_frame(T0 + Duration::from_millis(100), &ping(id));
    }
    let actions: Vec<_> = std::iter::from_fn(|| s.poll_action()).collect();
    assert!(matches!(actions.last(), Some(Action::Close(ErrorCode::RateLimited))));
    assert!(s.is_closed() && !s.may_read());
}

#[test]
fn malformed_frames_close_the_connection() {
    for junk in [&[][..], &[9], &[0, 1], &[3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]] {
        let mut s = session(RelayLimits::default());
        s.handle_frame(T0, junk);
        assert_eq!(
            error_of(s.poll_action().expect("reply")),
            (None, Some(ErrorCode::Malformed), 0)
        );
        assert!(matches!(s.poll_action(), Some(Action::Close(ErrorCode::Malformed))));
        s.handle_frame(T0, &Request::Ping { id: 1 }.encode());
        assert!(s.poll_action().is_none(), "a closed session ignores frames");
    }
}

#[test]
fn random_frames_never_panic() {
    let mut rng = XofRng::from_seed(b"relay session random");
    let mut s = session(RelayLimits { burst: u32::MAX, ..RelayLimits::default() });
    for i in 0..20_000 {
        let len = usize::try_from(rng.next_u32() % 64).expect("small");
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        // Mostly valid tags, so the decoder gets past the first byte.
        if let Some(b) = bytes.first_mut() {
            *b %= 5;
        }
        let mut fresh = session(RelayLimits::default());
        fresh.handle_frame(T0, &bytes);
        while fresh.poll_action().is_some() {}
        if i % 2 == 0 {
            s.handle_frame(T0, &bytes);
        }
    }
    let mut bytes = vec![0u8; ENVELOPE_LEN + 16];
    rng.fill_bytes(&mut bytes);
    s.handle_frame(T0, &bytes);
}

#[test]
fn subscriptions_push_each_cursor_once_in_order() {
    let mut s = session(RelayLimits::default());
    let (a, b) = (keys(1).mailbox, keys(2).mailbox);
    let from =
        vec![SubscribeFrom { mailbox: a.0, after: 5 }, SubscribeFrom { mailbox: b.0, after: 0 }];
    s.handle_frame(T0, &Request::Subscribe { id: 1, from }.encode());
    let expected = SubscribeRequest { id: 1, from: vec![(a, 5), (b, 0)] };
    assert!(matches!(s.poll_action(), Some(Action::Subscribe(r)) if r == expected));
    s.subscribed(1, vec![9, 0]);
    assert!(matches!(s.poll_action(), Some(Action::Send(Response::Subscribed { id: 1, .. }))));
    assert!(!s.deliver(a, 5, b"old"), "at or below the start cursor");
    assert!(s.deliver(a, 6, b"six"));
    assert!(!s.deliver(a, 6, b"six"), "a replayed cursor is not pushed twice");
    assert!(s.deliver(b, 1, b"one"));
    assert!(!s.deliver(keys(3).mailbox, 1, b"x"), "not subscribed");
    let pushed: Vec<_> = std::iter::from_fn(|| s.poll_action())
        .map(|a| match a {
            Action::Send(Response::Push(item)) => item.cursor,
            other => panic!("expected a push, got {other:?}"),
        })
        .collect();
    assert_eq!(pushed, [6, 1]);
    assert_eq!(s.subscriptions().collect::<Vec<_>>(), [(a, 6), (b, 1)]);
    // Naming a mailbox twice in one request is malformed.
    let twice = vec![SubscribeFrom { mailbox: a.0, after: 0 }; 2];
    s.handle_frame(T0, &Request::Subscribe { id: 2, from: twice }.encode());
    assert_eq!(error_of(s.poll_action().expect("reply")).1, Some(ErrorCode::Malformed));
}

#[test]
fn idle_timeout_and_shutdown() {
    let mut s = session(RelayLimits { idle_timeout_secs: 10, ..RelayLimits::default() });
    assert_eq!(s.idle_deadline(), T0 + Duration::from_secs(10));
    s.handle_frame(T0 + Duration::from_secs(4), &Request::Ping { id: 1 }.encode());
    s.poll_action();
    s.handle_timeout(T0 + Duration::from_secs(13));
    assert!(s.poll_action().is_none(), "the ping moved the deadline");
    s.handle_timeout(T0 + Duration::from_secs(14));
    assert_eq!(error_of(s.poll_action().expect("reply")).1, Some(ErrorCode::IdleTimeout));

    let mut s = session(RelayLimits::default());
    s.begin_shutdown();
    assert!(!s.may_read());
    s.finish_shutdown();
    assert_eq!(error_of(s.poll_action().expect("reply")), (None, Some(ErrorCode::ShuttingDown), 0));
    assert!(matches!(s.poll_action(), Some(Action::Close(ErrorCode::ShuttingDown))));
}

#[test]
fn frames_handled_together_keep_their_order_and_verdicts() {
    let mut rng = XofRng::from_seed(b"relay session batch");
    let mut s = session(RelayLimits { max_inflight: 8, ..RelayLimits::default() });
    assert_eq!(s.read_budget(), 8);
    let k = keys(1);
    let good: Vec<Envelope> = (0..3).map(|_| envelope(&mut rng, &k)).collect();
    let mut bad = *good[2].as_bytes();
    bad[1500] ^= 2;
    let frames = [
        Request::Post { id: 1, envelope: good[0].as_bytes().to_vec(), pow: None }.encode(),
        Request::Post { id: 2, envelope: bad.to_vec(), pow: None }.encode(),
        Request::Ping { id: 3 }.encode(),
        Request::Post { id: 4, envelope: good[1].as_bytes().to_vec(), pow: None }.encode(),
        Request::Post { id: 5, envelope: good[2].as_bytes().to_vec(), pow: None }.encode(),
    ];
    s.handle_frames(T0, frames.iter().map(Vec::as_slice), &mut rng);
    let got: Vec<String> = std::iter::from_fn(|| s.poll_action())
        .map(|a| match a {
            Action::Store(r) => format!("store {}", r.id),
            Action::Send(Response::Pong { id }) => format!("pong {id}"),
            Action::Send(Response::Error(e)) => format!("error {:?} {}", e.id, e.code),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(got, ["store 1", "error Some(2) 3", "pong 3", "store 4", "store 5"]);
    assert_eq!(s.read_budget(), 5);
    s.begin_shutdown();
    assert_eq!(s.read_budget(), 0);
}
