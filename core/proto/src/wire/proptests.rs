//! Property tests: every wire type round-trips through its encoding.

use proptest::prelude::*;
use zeroize::Zeroizing;

use super::*;
use crate::chain::EquivocationProof;
use crate::crypto::{SigningKey, XofRng};

fn id() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (".{0,40}", proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(name, rules)| Body::Genesis(Genesis { name, rules })),
        (".{0,300}", proptest::option::of(id()))
            .prop_map(|(text, r)| Body::Chat(Chat { text, reply_to: r.map(MessageId) })),
    ]
}

prop_compose! {
    fn unsigned()(
        group in id(), epoch in id(), seq in any::<u64>(), prev in proptest::option::of(id()),
        parents in proptest::collection::vec(id(), 0..17), lamport in any::<u64>(),
        minute in any::<u64>(), body in body(), key in any::<[u8; 32]>(),
    ) -> (UnsignedMessage, SigningKey) {
        let key = SigningKey::from_bytes(key);
        let m = UnsignedMessage {
            version: MESSAGE_VERSION,
            group: GroupId(group),
            epoch: EpochId(epoch),
            author: key.public(),
            seq,
            prev: prev.map(MessageId),
            parents: parents.into_iter().map(MessageId).collect(),
            lamport,
            minute,
            body,
        };
        (m, key)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn signed_message_round_trips((m, key) in unsigned()) {
        let signed = m.sign(&key);
        let bytes = signed.encode();
        let back = SignedMessage::decode(&bytes).expect("decode");
        prop_assert_eq!(&back, &signed);
        prop_assert_eq!(back.encode(), bytes.clone());
        prop_assert_eq!(SignedMessage::id_from_encoding(&bytes), signed.id());
        prop_assert!(back.verify_signature().is_ok());
    }

    #[test]
    fn fragment_round_trips(tag in any::<[u8; 16]>(), data in proptest::collection::vec(any::<u8>(), 1..FRAGMENT_DATA_LEN)) {
        let f = Fragment { tag, index: 0, count: 1, data };
        prop_assert_eq!(Fragment::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn message_survives_envelopes(text in ".{0,9000}", seed in any::<[u8; 32]>()) {
        let mut rng = XofRng::from_seed(&seed);
        let key = SigningKey::random(&mut rng);
        let m = UnsignedMessage {
            version: MESSAGE_VERSION,
            group: GroupId([1; 32]),
            epoch: EpochId([2; 32]),
            author: key.public(),
            seq: 0,
            prev: None,
            parents: vec![MessageId([3; 32])],
            lamport: 1,
            minute: 0,
            body: Body::Chat(Chat { text, reply_to: None }),
        }
        .sign(&key);
        let keys = EpochKeys::derive(&Zeroizing::new(seed));
        let envelopes = seal_message(&mut rng, &keys, &m).expect("seal");
        let mut r = Reassembler::new();
        let mut whole = None;
        for env in envelopes.iter().rev() {
            let parsed = Envelope::parse(env.as_bytes()).expect("parse");
            prop_assert_eq!(parsed.as_bytes(), env.as_bytes());
            prop_assert!(parsed.verify_write().is_ok());
            whole = r.add(parsed.open(&keys).expect("open")).expect("add").or(whole);
        }
        prop_assert_eq!(whole, Some(m.encode()));
    }

    #[test]
    fn equivocation_proof_round_trips((m, key) in unsigned(), other in body()) {
        let mut fork = m.clone();
        fork.body = other;
        prop_assume!(fork != m);
        let proof = EquivocationProof::new(m.sign(&key), fork.sign(&key)).expect("proof");
        let bytes = proof.encode();
        prop_assert_eq!(EquivocationProof::decode(&bytes).expect("decode"), proof);
    }
}
