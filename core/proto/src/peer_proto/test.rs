//! The peer channel's guarantees, each with a test that fails if it breaks
//! (the table in `protocol-spec/peer.md` names them).
//!
//! Sessions are wired in memory. The attacker tests play the attacker's
//! part by hand, with the same key schedule as an honest peer, so what
//! stops them is the check under test and nothing else.

use super::keys::{DirectionKey, Shared, Transcript};
use super::*;
use crate::crypto::{Signature, X25519Secret, XofRng, context};
use crate::fuzzing::pump;
use crate::identity::{Identity, MasterSeed};
use crate::relay_proto::frame::{self, HEADER_LEN};
use crate::wire::{GroupId, MessageId};

fn identity(n: u8) -> Identity {
    Identity::from_seed(MasterSeed::from_bytes([n; 32]))
}

fn target(of: &Identity) -> PeerTarget {
    PeerTarget { onion: of.onion_address(), identity: None }
}

/// A session pair: Alice (1) dials Bob (2).
fn pair(seed: &[u8]) -> (PeerSession, PeerSession) {
    let mut rng = XofRng::from_seed(seed);
    let (alice, bob) = (identity(1), identity(2));
    let a = PeerSession::initiator(&mut rng, &alice, target(&bob));
    let b = PeerSession::responder(&mut rng, &bob);
    (a, b)
}

fn events(s: &mut PeerSession) -> Vec<PeerEvent> {
    core::iter::from_fn(|| s.poll_event()).collect()
}

fn established(seed: &[u8]) -> (PeerSession, PeerSession) {
    let (mut a, mut b) = pair(seed);
    pump(&mut a, &mut b);
    assert!(a.is_open() && b.is_open());
    events(&mut a);
    events(&mut b);
    (a, b)
}

fn deliver(n: u8) -> PeerMessage {
    PeerMessage::Deliver { group: GroupId([5; 32]), message: vec![n; 8] }
}

fn heads() -> PeerMessage {
    let head = Head { author: identity(3).public_key(), seq: 7, id: MessageId([4; 32]) };
    PeerMessage::Heads { group: GroupId([5; 32]), heads: vec![head] }
}

#[test]
fn handshake_completes_and_messages_flow_both_ways() {
    let (mut a, mut b) = pair(b"complete");
    pump(&mut a, &mut b);
    let (alice, bob) = (identity(1).public_key(), identity(2).public_key());
    assert_eq!(events(&mut a), [PeerEvent::Established { peer: bob, version: 1 }]);
    assert_eq!(events(&mut b), [PeerEvent::Established { peer: alice, version: 1 }]);
    assert_eq!((a.peer(), b.peer()), (Some(bob), Some(alice)));
    a.send(&heads()).expect("send");
    b.send(&deliver(1)).expect("send");
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [PeerEvent::Message(heads())]);
    assert_eq!(events(&mut a), [PeerEvent::Message(deliver(1))]);
    a.close();
    pump(&mut a, &mut b);
    assert_eq!(events(&mut b), [PeerEvent::Closed(None)]);
    assert!(a.is_closed() && b.is_closed());
    assert_eq!(a.send(&heads()), Err(PeerError::NotOpen));
}

#[test]
fn an_expected_identity_is_checked() {
    let mut rng = XofRng::from_seed(b"expected");
    let (alice, bob) = (identity(1), identity(2));
    let want = PeerTarget { onion: bob.onion_address(), identity: Some(bob.public_key()) };
    let mut a = PeerSession::initiator(&mut rng, &alice, want);
    let mut b = PeerSession::responder(&mut rng, &bob);
    pump(&mut a, &mut b);
    assert!(a.is_open());
    let other = PeerTarget { onion: bob.onion_address(), identity: Some(identity(3).public_key()) };
    let mut a = PeerSession::initiator(&mut rng, &alice, other);
    let mut b = PeerSession::responder(&mut rng, &bob);
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a), [PeerEvent::Closed(Some(PeerError::WrongPeer))]);
}

/// Mallory answers a dial to Bob's address with her own, perfectly valid,
/// identity and onion keys: the onion key is not Bob's address's.
#[test]
fn a_responder_not_behind_the_dialed_address_is_refused() {
    let mut rng = XofRng::from_seed(b"mitm");
    let (alice, bob, mallory) = (identity(1), identity(2), identity(9));
    let mut a = PeerSession::initiator(&mut rng, &alice, target(&bob));
    let mut m = PeerSession::responder(&mut rng, &mallory);
    pump(&mut a, &mut m);
    assert_eq!(events(&mut a), [PeerEvent::Closed(Some(PeerError::WrongPeer))]);
    // Alice never revealed her identity: Mallory got no auth from her.
    assert!(!m.is_open());
    m.handle_eof();
    assert_eq!(events(&mut m), [PeerEvent::Closed(Some(PeerError::StreamEnded))]);
}

/// What an attacker who speaks the protocol by hand knows of one handshake.
struct Attacker {
    transcript: Transcript,
    shared: Shared,
    th1: [u8; 32],
}

/// The attacker as initiator: its hello payload and secret.
fn attacker_hello(rng: &mut XofRng, versions: Vec<u16>) -> (Vec<u8>, X25519Secret) {
    let e = X25519Secret::random(rng);
    (Hello { magic: MAGIC, versions, share: e.public().0.to_vec() }.encode(), e)
}

/// The attacker's view once both hellos are known.
fn attacker_view(e: &X25519Secret, their_share: &[u8], hello: &[u8], welcome: &[u8]) -> Attacker {
    let theirs = crate::crypto::X25519Public(their_share.try_into().expect("32 bytes"));
    let shared = Shared::new(e.diffie_hellman(&theirs).expect("contributory"));
    let mut transcript = Transcript::new();
    transcript.add_frame(hello);
    transcript.add_frame(welcome);
    let th1 = transcript.hash();
    Attacker { transcript, shared, th1 }
}

/// The attacker dials Bob and opens Bob's proof for that session.
fn bobs_proof(rng: &mut XofRng) -> ResponderAuth {
    let (hello, e) = attacker_hello(rng, vec![1]);
    let mut bob = PeerSession::responder(rng, &identity(2));
    bob.handle_bytes(&frame::encode(&hello));
    let welcome = bob.poll_output().expect("welcome");
    let auth = bob.poll_output().expect("auth");
    let Ok(Welcome::Accepted { share, .. }) = Welcome::decode(&welcome[HEADER_LEN..]) else {
        panic!("refused")
    };
    let view = attacker_view(&e, &share, &hello, &welcome[HEADER_LEN..]);
    let mut k = DirectionKey::derive(context::PEER_HANDSHAKE_R2I, &view.shared, &view.th1);
    ResponderAuth::decode(&k.open(&auth[HEADER_LEN..]).expect("opens")).expect("decodes")
}

/// Mallory answers Alice's dial with her own share and `auth` sealed under
/// the handshake key she shares with Alice; returns Alice's error.
fn answer_alice_with(rng: &mut XofRng, auth: &ResponderAuth) -> Option<PeerError> {
    let mut a = PeerSession::initiator(rng, &identity(1), target(&identity(2)));
    let hello = a.poll_output().expect("hello");
    let share = Hello::decode(&hello[HEADER_LEN..]).expect("hello").share;
    let e = X25519Secret::random(rng);
    let welcome = Welcome::Accepted { version: 1, share: e.public().0.to_vec() }.encode();
    let view = attacker_view(&e, &share, &hello[HEADER_LEN..], &welcome);
    let mut k = DirectionKey::derive(context::PEER_HANDSHAKE_R2I, &view.shared, &view.th1);
    a.handle_bytes(&frame::encode(&welcome));
    a.handle_bytes(&k.seal(&auth.encode()).expect("seal"));
    match events(&mut a).as_slice() {
        [PeerEvent::Closed(e)] => e.clone(),
        other => panic!("unexpected events {other:?}"),
    }
}

/// Bob's genuine signatures from one session, replayed by Mallory into
/// another (her own ephemeral key): the transcript differs, they fail.
#[test]
fn a_responder_proof_replayed_into_another_session_is_refused() {
    let mut rng = XofRng::from_seed(b"replay proof");
    let proof = bobs_proof(&mut rng);
    assert_eq!(answer_alice_with(&mut rng, &proof), Some(PeerError::BadSignature));
    // Either signature alone is checked: a valid identity signature with a
    // replayed onion signature fails too.
    let mut half = proof.clone();
    half.identity_sig = Signature([0; 64]);
    assert_eq!(answer_alice_with(&mut rng, &half), Some(PeerError::BadSignature));
}

#[test]
fn weak_responder_keys_are_refused() {
    let mut rng = XofRng::from_seed(b"weak responder");
    let bob = identity(2);
    // The neutral point (y = 1): every s = 0 signature with a small-order
    // R verifies under it (ZIP-215), so only check_strong stops it.
    let mut neutral = [0u8; 32];
    neutral[0] = 1;
    let mut r_and_zero = [0u8; 64];
    r_and_zero[0] = 1;
    let weak = crate::crypto::PublicKey(neutral);
    let forged = ResponderAuth {
        identity: weak,
        onion: bob.onion_key().public(),
        identity_sig: Signature(r_and_zero),
        onion_sig: Signature(r_and_zero),
    };
    assert_eq!(answer_alice_with(&mut rng, &forged), Some(PeerError::WeakKey));
    let forged = ResponderAuth { identity: bob.public_key(), onion: weak, ..forged };
    assert_eq!(answer_alice_with(&mut rng, &forged), Some(PeerError::WeakKey));
}

/// Mallory dials Bob by hand and sends `auth` under the right key;
/// returns Bob's error.
fn dial_bob_with(rng: &mut XofRng, make: impl FnOnce(&[u8; 32]) -> InitiatorAuth) -> PeerEvent {
    let (hello, e) = attacker_hello(rng, vec![1]);
    let mut bob = PeerSession::responder(rng, &identity(2));
    bob.handle_bytes(&frame::encode(&hello));
    let welcome = bob.poll_output().expect("welcome");
    let bob_auth = bob.poll_output().expect("auth");
    let Ok(Welcome::Accepted { share, .. }) = Welcome::decode(&welcome[HEADER_LEN..]) else {
        panic!("refused")
    };
    let mut view = attacker_view(&e, &share, &hello, &welcome[HEADER_LEN..]);
    view.transcript.add_frame(&bob_auth[HEADER_LEN..]);
    let th2 = view.transcript.hash();
    let mut k = DirectionKey::derive(context::PEER_HANDSHAKE_I2R, &view.shared, &view.th1);
    bob.handle_bytes(&k.seal(&make(&th2).encode()).expect("seal"));
    events(&mut bob).pop().expect("an event")
}

#[test]
fn the_initiator_must_prove_its_identity_over_this_transcript() {
    let mut rng = XofRng::from_seed(b"initiator proof");
    let carol = identity(3);
    // An honest proof made by hand is accepted (the harness is right)...
    let honest = dial_bob_with(&mut rng, |th2| {
        let statement = [&th2[..], &carol.public_key().0].concat();
        let sig = carol.signing_key().sign(INITIATOR_PREFIX, &statement);
        InitiatorAuth { identity: carol.public_key(), sig }
    });
    assert_eq!(honest, PeerEvent::Established { peer: carol.public_key(), version: 1 });
    // ...one over another transcript is not...
    let stale = dial_bob_with(&mut rng, |_| {
        let statement = [&[0u8; 32][..], &carol.public_key().0].concat();
        let sig = carol.signing_key().sign(INITIATOR_PREFIX, &statement);
        InitiatorAuth { identity: carol.public_key(), sig }
    });
    assert_eq!(stale, PeerEvent::Closed(Some(PeerError::BadSignature)));
    // ...nor one under a weak key.
    let mut neutral = [0u8; 32];
    neutral[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let weak = dial_bob_with(&mut rng, |_| InitiatorAuth {
        identity: crate::crypto::PublicKey(neutral),
        sig: Signature(sig),
    });
    assert_eq!(weak, PeerEvent::Closed(Some(PeerError::WeakKey)));
}

#[test]
fn low_order_shares_are_refused() {
    let mut rng = XofRng::from_seed(b"low order");
    for share in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let hello = Hello { magic: MAGIC, versions: vec![1], share: share.to_vec() };
        let mut bob = PeerSession::responder(&mut rng, &identity(2));
        bob.handle_bytes(&frame::encode(&hello.encode()));
        assert_eq!(events(&mut bob), [PeerEvent::Closed(Some(PeerError::BadShare))]);
        let refused = bob.poll_output().expect("refusal");
        assert_eq!(
            Welcome::decode(&refused[HEADER_LEN..]),
            Ok(Welcome::Refused { code: 1, supported: vec![1] })
        );

        let mut a = PeerSession::initiator(&mut rng, &identity(1), target(&identity(2)));
        let welcome = Welcome::Accepted { version: 1, share: share.to_vec() };
        a.handle_bytes(&frame::encode(&welcome.encode()));
        assert_eq!(events(&mut a), [PeerEvent::Closed(Some(PeerError::BadShare))]);
    }
}

#[test]
fn unsupported_versions_are_refused_on_both_sides() {
    let mut rng = XofRng::from_seed(b"versions");
    let (hello, _) = attacker_hello(&mut rng, vec![2, 7]);
    let mut bob = PeerSession::responder(&mut rng, &identity(2));
    bob.handle_bytes(&frame::encode(&hello));
    let theirs = vec![2, 7];
    assert_eq!(
        events(&mut bob),
        [PeerEvent::Closed(Some(PeerError::UnsupportedVersion { theirs }))]
    );
    let refused = bob.poll_output().expect("refusal");
    assert_eq!(refused[HEADER_LEN..], [1, 3, 1, 1]);
    let mut a = PeerSession::initiator(&mut rng, &identity(1), target(&identity(2)));
    a.handle_bytes(&refused);
    let want = PeerError::UnsupportedVersion { theirs: vec![1] };
    assert_eq!(events(&mut a), [PeerEvent::Closed(Some(want))]);
    // A welcome choosing a version that was not offered.
    let mut a = PeerSession::initiator(&mut rng, &identity(1), target(&identity(2)));
    let welcome = Welcome::Accepted { version: 2, share: vec![9; 32] };
    a.handle_bytes(&frame::encode(&welcome.encode()));
    assert_eq!(events(&mut a), [PeerEvent::Closed(Some(PeerError::VersionNotOffered(2)))]);
}

/// One frame of a recorded run.
struct Recorded {
    bytes: Vec<u8>,
}

/// The honest run the bit-flip test tampers with: the handshake, one
/// message each way, then the end of the stream. (No `Close`: a side that
/// closes by itself stops reading, and would never see a frame whose
/// tampered length makes it wait for more bytes.)
fn scripted_run(
    seed: &[u8],
    tamper: Option<(usize, usize)>,
) -> (Vec<Recorded>, Vec<PeerEvent>, Vec<PeerEvent>) {
    let (mut a, mut b) = pair(seed);
    let mut log = Vec::new();
    let step = |a: &mut PeerSession, b: &mut PeerSession, log: &mut Vec<Recorded>| loop {
        let (from_a, bytes) = match a.poll_output() {
            Some(f) => (true, f),
            None => match b.poll_output() {
                Some(f) => (false, f),
                None => return,
            },
        };
        let mut bytes = bytes;
        if let Some((_, bit)) = tamper.filter(|(f, _)| *f == log.len()) {
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        if from_a {
            b.handle_bytes(&bytes)
        } else {
            a.handle_bytes(&bytes)
        }
        log.push(Recorded { bytes });
    };
    step(&mut a, &mut b, &mut log);
    let _ = a.send(&heads());
    let _ = b.send(&deliver(1));
    step(&mut a, &mut b, &mut log);
    a.handle_eof();
    b.handle_eof();
    (log, events(&mut a), events(&mut b))
}

#[test]
fn any_bit_flip_in_any_frame_is_refused() {
    let (log, clean_a, clean_b) = scripted_run(b"flips", None);
    assert_eq!(log.len(), 6, "hello, welcome, 2 auths, 2 messages");
    let ended = Some(&PeerEvent::Closed(Some(PeerError::StreamEnded)));
    assert!(clean_a.last() == ended && clean_b.last() == ended);
    let sent = [heads(), deliver(1)];
    for (i, frame) in log.iter().enumerate() {
        for bit in 0..frame.bytes.len() * 8 {
            let (_, ev_a, ev_b) = scripted_run(b"flips", Some((i, bit)));
            assert!(ev_a != clean_a || ev_b != clean_b, "flip {i}/{bit} went unnoticed");
            let failed = |ev: &[PeerEvent]| matches!(ev.last(), Some(PeerEvent::Closed(Some(e))) if *e != PeerError::StreamEnded);
            assert!(failed(&ev_a) || failed(&ev_b), "flip {i}/{bit}: {ev_a:?} {ev_b:?}");
            for ev in ev_a.iter().chain(&ev_b) {
                // The receiver's own Error about the flip is genuine.
                if let PeerEvent::Message(m) = ev {
                    let genuine = sent.contains(m) || matches!(m, PeerMessage::Error { .. });
                    assert!(genuine, "flip {i}/{bit} delivered {m:?}");
                }
            }
        }
    }
}

/// Three session frames from Alice to Bob, not yet delivered.
fn three_frames() -> (PeerSession, Vec<Vec<u8>>) {
    let (mut a, b) = established(b"order");
    for n in 0..3 {
        a.send(&deliver(n)).expect("send");
    }
    (b, core::iter::from_fn(|| a.poll_output()).collect())
}

#[test]
fn reordered_replayed_and_dropped_frames_are_refused() {
    for order in [[1, 0, 2], [0, 0, 1], [0, 2, 1]] {
        let (mut b, frames) = three_frames();
        for i in order {
            b.handle_bytes(&frames[i]);
        }
        let ev = events(&mut b);
        assert_eq!(ev.last(), Some(&PeerEvent::Closed(Some(PeerError::Decrypt))), "{order:?}");
        // Bob says why before closing (under his own, still valid, key).
        assert!(b.poll_output().is_some(), "no error frame for {order:?}");
        assert!(b.is_closed());
    }
}

#[test]
fn oversized_and_truncated_frames_give_their_errors() {
    // Before the handshake the limit is the hello's.
    let (_, mut b) = pair(b"big");
    b.handle_bytes(&[0xff, 0xff, 0xff, 0xff]);
    let want = PeerError::TooLarge { len: 0xffff_ffff, max: MAX_HELLO_FRAME };
    assert_eq!(events(&mut b), [PeerEvent::Closed(Some(want))]);
    // In a session, the session limit; the peer is told, with the limit.
    let (mut a, mut b) = established(b"big session");
    let len = u32::try_from(MAX_FRAME + 1).expect("fits");
    b.handle_bytes(&len.to_le_bytes());
    let want = PeerError::TooLarge { len: MAX_FRAME + 1, max: MAX_FRAME };
    assert_eq!(events(&mut b), [PeerEvent::Closed(Some(want))]);
    pump(&mut a, &mut b);
    let info = u64::try_from(MAX_FRAME).expect("fits");
    assert_eq!(events(&mut a), [PeerEvent::Message(PeerMessage::Error { code: 2, info })]);
    // A frame cut short by the end of the stream.
    let (mut a, mut b) = established(b"truncated");
    a.send(&heads()).expect("send");
    let f = a.poll_output().expect("frame");
    b.handle_bytes(&f[..f.len() - 3]);
    b.handle_eof();
    assert_eq!(events(&mut b), [PeerEvent::Closed(Some(PeerError::Truncated { needed: 3 }))]);
    // An empty frame.
    let (_, mut b) = established(b"empty");
    b.handle_bytes(&[0, 0, 0, 0]);
    assert_eq!(events(&mut b), [PeerEvent::Closed(Some(PeerError::EmptyFrame))]);
}

#[test]
fn session_keys_differ_per_direction_and_per_session() {
    let run = |seed: &[u8]| {
        let mut rng = XofRng::from_seed(seed);
        let (alice, bob) = (identity(1), identity(2));
        let (a, hello) = InitiatorAwaitWelcome::start(&mut rng, &alice, target(&bob));
        let ResponderOutcome::Continue { next, frames } =
            ResponderStart::new(&mut rng, &bob).handle(&hello[HEADER_LEN..])
        else {
            panic!("refused")
        };
        let a = a.handle(&frames[0][HEADER_LEN..]).expect("welcome");
        let (a, auth) = a.handle(&frames[1][HEADER_LEN..]).expect("responder auth");
        let b = next.handle(&auth[HEADER_LEN..]).expect("initiator auth");
        (a, b)
    };
    let (a1, b1) = run(b"session one");
    let (a2, _) = run(b"session two");
    assert!(a1.send.same_key(&b1.recv) && a1.recv.same_key(&b1.send));
    assert!(!a1.send.same_key(&a1.recv), "one key for both directions");
    assert!(!a1.send.same_key(&a2.send) && !a1.recv.same_key(&a2.recv), "keys repeat");
    assert_eq!(a1.peer_onion(), Some(identity(2).onion_key().public()));
}

#[test]
fn the_handshake_is_deterministic_given_the_rng() {
    let (one, _, _) = scripted_run(b"same", None);
    let (two, _, _) = scripted_run(b"same", None);
    let bytes = |log: &[Recorded]| log.iter().map(|r| r.bytes.clone()).collect::<Vec<_>>();
    assert_eq!(bytes(&one), bytes(&two));
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random bytes, cut anywhere, never panic a session in any phase.
        #[test]
        fn random_streams_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..600,
        ) {
            let cut = cut.min(data.len());
            let (mut a, mut b) = pair(b"prop");
            let (mut c, mut d) = established(b"prop open");
            for s in [&mut a, &mut b, &mut c, &mut d] {
                s.handle_bytes(&data[..cut]);
                s.handle_bytes(&data[cut..]);
                s.handle_eof();
                while s.poll_output().is_some() {}
                prop_assert!(s.is_closed());
            }
            let _ = PeerMessage::decode(&data);
            let _ = Hello::decode(&data);
            let _ = Welcome::decode(&data);
        }
    }
}

/// The committed fuzz seeds are what they claim to be (valid encodings).
#[test]
fn fuzz_seeds_decode() {
    let hello = include_bytes!("../../../../fuzz/seeds/peer_frames/hello-frame");
    assert!(Hello::decode(&hello[HEADER_LEN..]).is_ok());
    assert!(Welcome::decode(include_bytes!("../../../../fuzz/seeds/peer_frames/welcome")).is_ok());
    for m in [
        &include_bytes!("../../../../fuzz/seeds/peer_frames/resync-request")[..],
        &include_bytes!("../../../../fuzz/seeds/peer_frames/heads")[..],
        &include_bytes!("../../../../fuzz/seeds/peer_frames/close")[..],
    ] {
        let decoded = PeerMessage::decode(m).expect("seed decodes");
        assert_eq!(decoded.encode(), m);
    }
}

/// A resync round trip through two sessions; a peer that answers what was
/// not asked is refused.
#[test]
fn resync_replies_must_answer_a_request() {
    let (mut a, mut b) = established(b"resync");
    let vv: crate::chain::VersionVector = [(identity(3).public_key(), 4)].into_iter().collect();
    a.send(&PeerMessage::resync_request(GroupId([5; 32]), &vv, 2)).expect("request");
    pump(&mut a, &mut b);
    assert!(matches!(
        events(&mut b).as_slice(),
        [PeerEvent::Message(PeerMessage::ResyncRequest { .. })]
    ));
    b.send(&PeerMessage::ResyncItem { message: vec![1; 10] }).expect("item");
    b.send(&PeerMessage::ResyncItem { message: vec![2; 10] }).expect("item");
    let third = b.send(&PeerMessage::ResyncItem { message: vec![3; 10] });
    assert_eq!(third, Err(PeerError::OutOfOrder("more resync items than the limit")));
    b.send(&PeerMessage::ResyncDone { more: true }).expect("done");
    pump(&mut a, &mut b);
    assert_eq!(events(&mut a).len(), 3);
    // Unasked items (here forced past the sender's own check) close the session.
    b.dangerously_send_raw(&PeerMessage::ResyncItem { message: vec![] }.encode()).expect("raw");
    pump(&mut a, &mut b);
    let want = PeerError::Malformed("resync item without a request");
    assert_eq!(events(&mut a), [PeerEvent::Closed(Some(want))]);
}

/// The shell may hand over bytes however the stream cuts them: one byte
/// at a time, or a whole flight (several frames) at once.
#[test]
fn any_cutting_of_the_stream_works() {
    for chunk in [1usize, 3, 1000] {
        let (mut a, mut b) = pair(b"cuts");
        let mut moved = true;
        let mut sent_message = false;
        while moved {
            moved = false;
            let flight: Vec<u8> = core::iter::from_fn(|| a.poll_output()).flatten().collect();
            flight.chunks(chunk).for_each(|c| b.handle_bytes(c));
            let back: Vec<u8> = core::iter::from_fn(|| b.poll_output()).flatten().collect();
            back.chunks(chunk).for_each(|c| a.handle_bytes(c));
            moved |= !flight.is_empty() || !back.is_empty();
            if a.is_open() && !sent_message {
                // Sent in the same flight as the initiator's auth.
                a.send(&heads()).expect("send");
                sent_message = true;
                moved = true;
            }
        }
        assert!(b.is_open(), "chunk {chunk}");
        let want = PeerEvent::Message(heads());
        assert_eq!(events(&mut b).last(), Some(&want), "chunk {chunk}");
    }
}

/// A worked example for other implementations (`peer.md` §10): Alice
/// (seed 01…01) dials Bob (seed 02…02); one `XofRng` seeded with
/// "peer vector" gives Alice's ephemeral secret (its first 32 bytes), then
/// Bob's (the next 32). Bob's first session frame carries
/// `Deliver { group: 05…05, message: 01×8 }`.
#[test]
fn worked_example() {
    let (log, _, _) = scripted_run(b"peer vector", None);
    let hex = crate::hex::encode;
    let mut t = Transcript::new();
    let mut ths = Vec::new();
    for r in log.iter().take(4) {
        t.add_frame(&r.bytes[HEADER_LEN..]);
        ths.push(hex(&t.hash()));
    }
    assert_eq!(
        hex(&log[0].bytes),
        "2b000000636169726e504552010120\
         d42be0f3da0a85b0240ef3f0640d8e87e93e74e51d32fbcb795f95ee5e2eb044"
    );
    assert_eq!(
        hex(&log[1].bytes),
        "2300000000012086\
         72b7492234bc367d2c49fa9746a42a970e20d086acff60c568056b0db5fb6c"
    );
    let want = [
        "8d790162f3b90d1e174ce239a46f531214faf05f28e3f8e81c28939647cb9474",
        "2b76255b389163644b95dd5255c19a8c1c2e125eec3851b2412f57b838269c4d",
        "af345eac6356bdba2aa1ef3b00e8fb0daf4c51a732c867e918d25fe2343f03d1",
    ];
    assert_eq!(ths[1..], want, "th1, th2, th3");
    assert_eq!((log[2].bytes.len(), log[3].bytes.len()), (216, 118));
    assert_eq!(
        hex(&log[5].bytes),
        "3b0000006a3a28e27b47d534d8d05224fbe4135e6b4af21406ae656f645825c27de60ffc\
         fbb80ae6359fc66a90e8508959d53adc51214a5bc26a45349fee3e"
    );
}

/// Debug output of a session in every phase shows no secret: not the
/// shared secret, not the ephemeral or identity secrets.
#[test]
fn debug_output_hides_secrets() {
    let mut rng = XofRng::from_seed(b"debug");
    let alice = identity(1);
    let mut a = PeerSession::initiator(&mut rng, &alice, target(&identity(2)));
    let hello = a.poll_output().expect("hello");
    let share = Hello::decode(&hello[HEADER_LEN..]).expect("hello").share;
    let e = X25519Secret::random(&mut rng);
    let welcome = Welcome::Accepted { version: 1, share: e.public().0.to_vec() }.encode();
    let view = attacker_view(&e, &share, &hello[HEADER_LEN..], &welcome);
    a.handle_bytes(&frame::encode(&welcome));
    let shown = format!("{a:?}");
    assert!(shown.contains("InitiatorAuth"), "{shown}");
    let secrets = [view.shared.bytes(), alice.signing_key().as_bytes()];
    for secret in secrets {
        assert!(!shown.contains(&format!("{:?}", &secret[..8]).trim_end_matches(']').to_string()));
        let hex = crate::hex::short(secret, 12);
        assert!(!shown.contains(&hex), "{shown}");
    }
    assert!(shown.contains("redacted"));
}

/// Two sessions between the same two identities: a frame of one, spliced
/// into the other at the right position, does not open.
#[test]
fn frames_cannot_be_spliced_between_sessions() {
    let (mut a1, _) = established(b"splice one");
    let (_, mut b2) = established(b"splice two");
    a1.send(&heads()).expect("send");
    let foreign = a1.poll_output().expect("frame");
    b2.handle_bytes(&foreign);
    assert_eq!(events(&mut b2), [PeerEvent::Closed(Some(PeerError::Decrypt))]);
}
