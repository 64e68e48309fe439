//! Chain tests: each rule has a test that breaks when the rule is removed.

use proptest::prelude::*;

use super::*;
use crate::crypto::{SigningKey, XofRng};
use crate::wire::{Body, Chat, Genesis, GroupId, SignedMessage, UnsignedMessage};

const EPOCH: EpochId = EpochId([7; 32]);
const GROUP: GroupId = GroupId([9; 32]);

struct Writer {
    key: SigningKey,
}

impl Writer {
    fn new(seed: &[u8]) -> Self {
        Self { key: SigningKey::random(&mut XofRng::from_seed(seed)) }
    }

    fn sign(&self, m: UnsignedMessage) -> Entry<Verified> {
        Entry::from_signed(m.sign(&self.key)).verify().expect("own message verifies")
    }

    fn genesis(&self) -> Entry<Verified> {
        let mut m =
            ChainState::new(GROUP).draft(&self.key.public(), EpochId::GENESIS, 0, genesis_body());
        m.epoch = EpochId::GENESIS;
        self.sign(m)
    }

    fn chat(&self, chain: &ChainState, text: &str) -> Entry<Verified> {
        self.sign(chain.draft(&self.key.public(), EPOCH, 1, chat(text)))
    }
}

fn genesis_body() -> Body {
    Body::Genesis(Genesis { name: "bastion".into(), rules: vec![] })
}

fn chat(text: &str) -> Body {
    Body::Chat(Chat { text: text.into(), reply_to: None })
}

fn accepted(events: &[ChainEvent]) -> Vec<MessageId> {
    events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::Accepted(entry) => Some(entry.id()),
            _ => None,
        })
        .collect()
}

fn ingest_all(chain: &mut ChainState, entries: &[Entry<Verified>]) -> Vec<ChainEvent> {
    entries.iter().flat_map(|e| chain.ingest(e.clone(), epoch_of(e))).collect()
}

fn epoch_of(e: &Entry<Verified>) -> EpochId {
    if matches!(e.message().body, Body::Genesis(_)) { EpochId(e.id().0) } else { EPOCH }
}

/// A group history: genesis by `a`, then chat from two writers interleaved.
fn history(n: usize) -> (Vec<Entry<Verified>>, Writer, Writer) {
    let (a, b) = (Writer::new(b"a"), Writer::new(b"b"));
    let mut chain = ChainState::new(GROUP);
    let mut out = vec![a.genesis()];
    ingest_all(&mut chain, &out);
    for i in 0..n {
        let w = if i % 3 == 0 { &b } else { &a };
        let e = w.chat(&chain, &format!("line {i}"));
        ingest_all(&mut chain, std::slice::from_ref(&e));
        out.push(e);
    }
    (out, a, b)
}

#[test]
fn in_order_history_is_accepted() {
    let (entries, _, _) = history(20);
    let mut chain = ChainState::new(GROUP);
    let events = ingest_all(&mut chain, &entries);
    assert_eq!(accepted(&events), entries.iter().map(Entry::id).collect::<Vec<_>>());
    assert_eq!(chain.len(), 21);
    assert_eq!(chain.pending_len(), 0);
}

#[test]
fn gap_is_reported_then_filled_by_reordered_delivery() {
    let (entries, a, _) = history(6);
    let a_pub = a.key.public();
    let mut chain = ChainState::new(GROUP);
    // Deliver a's genesis, hold back its seq 1, deliver the rest.
    let a_seq1 = entries.iter().position(|e| e.author() == a_pub && e.seq() == 1).expect("seq 1");
    let mut order: Vec<Entry<Verified>> = entries.clone();
    let held_back = order.remove(a_seq1);
    let events = ingest_all(&mut chain, &order);
    let gaps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ChainEvent::Gap { author, missing } => Some((*author, missing.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.first(), Some(&(a_pub, 1..=1)), "{events:?}");
    assert!(chain.pending_len() > 0);
    let events = chain.ingest(held_back.clone(), EPOCH);
    assert!(accepted(&events).contains(&held_back.id()));
    assert_eq!(chain.pending_len(), 0);
    assert_eq!(chain.len(), entries.len());
}

#[test]
fn duplicates_are_reported_not_reapplied() {
    let (entries, _, _) = history(3);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    let again = chain.ingest(entries[2].clone(), EPOCH);
    assert!(matches!(again.as_slice(), [ChainEvent::Duplicate(id)] if *id == entries[2].id()));
    assert_eq!(chain.len(), entries.len());
}

#[test]
fn replay_into_another_group_is_rejected() {
    let (entries, _, _) = history(3);
    let mut other = ChainState::new(GroupId([1; 32]));
    let events = other.ingest(entries[1].clone(), EPOCH);
    assert!(matches!(
        events.as_slice(),
        [ChainEvent::Rejected { error: ChainError::WrongGroup, .. }]
    ));
    assert!(other.is_empty());
}

#[test]
fn replay_into_another_epoch_is_rejected() {
    let (entries, _, _) = history(3);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries[..1]);
    let events = chain.ingest(entries[1].clone(), EpochId([8; 32]));
    assert!(matches!(
        events.as_slice(),
        [ChainEvent::Rejected { error: ChainError::WrongEpoch { .. }, .. }]
    ));
    // A genesis message opens only under the epoch it creates.
    let mut fresh = ChainState::new(GROUP);
    let events = fresh.ingest(entries[0].clone(), EPOCH);
    assert!(matches!(events.as_slice(), [ChainEvent::Rejected { .. }]));
}

#[test]
fn equivocation_is_detected_and_the_proof_convinces_a_third_party() {
    let (entries, a, _) = history(4);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    // a signs a second, different message at an already used position.
    let original = entries.iter().rfind(|e| e.author() == a.key.public()).expect("a wrote");
    let mut fork = original.message().clone();
    fork.body = chat("the other story");
    let fork = a.sign(fork);
    let events = chain.ingest(fork.clone(), EPOCH);
    let proof = match events.as_slice() {
        [ChainEvent::Equivocation(p)] => p.clone(),
        other => panic!("expected equivocation, got {other:?}"),
    };
    assert!(chain.equivocation(&a.key.public()).is_some());
    // A third member receives only the bytes of the proof.
    let received = EquivocationProof::decode(&proof.encode()).expect("decode");
    assert_eq!(received.verify(), Ok(()));
    assert_eq!(received.author(), a.key.public());
    // A proof built from one message twice, or with a tampered signature, fails.
    let same = EquivocationProof { first: fork.signed().clone(), second: fork.signed().clone() };
    assert_eq!(same.verify(), Err(EquivocationError::SameMessage));
    let swapped = EquivocationProof { first: proof.second.clone(), second: proof.first.clone() };
    assert_eq!(swapped.verify(), Err(EquivocationError::NotOrdered));
    let mut forged = (*proof).clone();
    forged.second.signature.0[0] ^= 1;
    assert_eq!(forged.verify(), Err(EquivocationError::BadSignature));
    // The equivocator's later messages are not accepted.
    let later = a.chat(&chain, "after the fork");
    let events = chain.ingest(later, EPOCH);
    assert!(matches!(
        events.as_slice(),
        [ChainEvent::Rejected { error: ChainError::Equivocator, .. }]
    ));
}

fn resign_with(
    w: &Writer,
    e: &Entry<Verified>,
    edit: impl FnOnce(&mut UnsignedMessage),
) -> Entry<Verified> {
    let mut m = e.message().clone();
    edit(&mut m);
    w.sign(m)
}

#[test]
fn lamport_must_be_exactly_one_more_than_the_largest_parent() {
    let (entries, a, b) = history(4);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    let next = b.chat(&chain, "backdated?");
    for delta in [-1i64, 1, 1000] {
        let bad = resign_with(&b, &next, |m| m.lamport = (m.lamport as i64 + delta) as u64);
        let events = chain.ingest(bad, EPOCH);
        assert!(
            matches!(
                events.as_slice(),
                [ChainEvent::Rejected { error: ChainError::BadLamport { .. }, .. }]
            ),
            "delta {delta}: {events:?}"
        );
    }
    assert_eq!(accepted(&chain.ingest(next, EPOCH)).len(), 1);
    let _ = a;
}

#[test]
fn prev_must_name_the_held_previous_message() {
    let (entries, a, _) = history(4);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    let next = a.chat(&chain, "x");
    // Point `prev` at the genesis instead (still a parent, so shape passes).
    let bad = resign_with(&a, &next, |m| {
        let g = entries[0].id();
        m.prev = Some(g);
        if !m.parents.contains(&g) {
            m.parents.push(g);
            m.parents.sort();
        }
    });
    let events = chain.ingest(bad, EPOCH);
    assert!(
        matches!(
            events.as_slice(),
            [ChainEvent::Rejected { error: ChainError::BrokenChain { .. }, .. }]
        ),
        "{events:?}"
    );
}

#[test]
fn shape_rules_each_reject() {
    let (entries, a, _) = history(2);
    let base = entries[2].message().clone();
    type Edit = Box<dyn Fn(&mut UnsignedMessage)>;
    let cases: Vec<(Edit, ChainError)> = vec![
        (Box::new(|m| m.parents.reverse()), ChainError::ParentsNotSorted),
        (Box::new(|m| m.parents = vec![MessageId([1; 32]); 17]), ChainError::TooManyParents(17)),
        (Box::new(|m| m.prev = None), ChainError::PrevPresence),
        (Box::new(|m| m.prev = Some(MessageId([3; 32]))), ChainError::PrevNotAParent),
        (Box::new(|m| m.parents.clear()), ChainError::PrevNotAParent),
        (
            Box::new(|m| m.body = chat(&"x".repeat(crate::wire::MAX_CHAT_LEN + 1))),
            ChainError::BodyLimit("chat text too long"),
        ),
        (Box::new(|m| m.body = genesis_body()), ChainError::GenesisShape("genesis with seq > 0")),
    ];
    assert!(base.parents.len() >= 2, "test needs two parents");
    for (i, (edit, expected)) in cases.into_iter().enumerate() {
        let mut m = base.clone();
        edit(&mut m);
        let got = Entry::from_signed(m.sign(&a.key)).verify().map(|_| ());
        assert_eq!(got, Err(expected), "case {i}");
    }
}

#[test]
fn small_order_author_key_is_rejected() {
    let (entries, _, _) = history(2);
    let mut signed = entries[1].signed().clone();
    // The identity point: under ZIP-215 an all-zero-ish signature verifies
    // for it on many messages, so such a key must never be an author.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    signed.message.author = crate::crypto::PublicKey(identity);
    signed.signature = crate::crypto::Signature([0; 64]);
    signed.signature.0[0] = 1;
    let entry = Entry::from_signed(signed);
    assert_eq!(entry.clone().verify().err(), Some(ChainError::WeakAuthorKey));
    let mut rng = XofRng::from_seed(b"weak");
    assert_eq!(
        verify_batch(&mut rng, vec![entry]).remove(0).err(),
        Some(ChainError::WeakAuthorKey)
    );
}

#[test]
fn an_acceptable_entry_passes_a_full_pending_set() {
    let (entries, a, _) = history(2);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    // Fill the pending set with entries that can never be accepted: chat
    // from a stranger citing parents nobody has.
    let stranger = Writer::new(b"stranger");
    for i in 0..MAX_PENDING_PER_AUTHOR as u64 + 5 {
        let mut m = chain.draft(&stranger.key.public(), EPOCH, 0, chat("junk"));
        m.seq = i + 1;
        m.parents = vec![MessageId([0xee; 32])];
        m.prev = Some(MessageId([0xee; 32]));
        chain.ingest(stranger.sign(m), EPOCH);
    }
    assert_eq!(chain.pending_len(), MAX_PENDING_PER_AUTHOR);
    let more = chain.draft(&stranger.key.public(), EPOCH, 0, chat("first"));
    // The stranger's own acceptable first message still gets in.
    let events = chain.ingest(stranger.sign(more), EPOCH);
    assert_eq!(accepted(&events).len(), 1, "{events:?}");
    let next = a.chat(&chain, "still flowing");
    assert_eq!(accepted(&chain.ingest(next, EPOCH)).len(), 1);
}

#[test]
fn the_all_zero_epoch_opens_nothing() {
    let (entries, a, _) = history(1);
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    let m = a.sign(chain.draft(&a.key.public(), EpochId::GENESIS, 0, chat("zero")));
    let events = chain.ingest(m, EpochId::GENESIS);
    assert!(matches!(
        events.as_slice(),
        [ChainEvent::Rejected { error: ChainError::WrongEpoch { .. }, .. }]
    ));
}

#[test]
fn a_proof_with_an_unknown_message_version_is_refused() {
    let (entries, a, _) = history(2);
    let mut one = entries[1].message().clone();
    one.version = 2;
    let mut two = one.clone();
    two.body = chat("other");
    let (one, two) = (one.sign(&a.key), two.sign(&a.key));
    let (first, second) = if one.id() < two.id() { (one, two) } else { (two, one) };
    let proof = EquivocationProof { first, second };
    assert_eq!(proof.verify(), Err(EquivocationError::UnknownVersion));
}

#[test]
fn the_earliest_fork_is_kept() {
    let (entries, a, _) = history(8);
    let a_pub = a.key.public();
    let mut chain = ChainState::new(GROUP);
    ingest_all(&mut chain, &entries);
    let at =
        |seq: u64| entries.iter().find(|e| e.author() == a_pub && e.seq() == seq).expect("seq");
    let fork_of = |e: &Entry<Verified>| resign_with(&a, e, |m| m.body = chat("forked"));
    let late = at(4);
    chain.ingest(fork_of(late), EPOCH);
    assert_eq!(chain.equivocation(&a_pub).map(|p| p.first.message.seq), Some(4));
    chain.ingest(fork_of(at(2)), EPOCH);
    assert_eq!(chain.equivocation(&a_pub).map(|p| p.first.message.seq), Some(2));
    // A message at seq 3 (between the forks) is now without effect.
    let events = chain.ingest(resign_with(&a, at(3), |m| m.body = chat("x")), EPOCH);
    assert!(
        matches!(events.as_slice(), [ChainEvent::Rejected { error: ChainError::Equivocator, .. }]),
        "{events:?}"
    );
}

#[test]
fn forged_author_is_rejected() {
    let (entries, a, b) = history(2);
    let mut m = entries[1].message().clone();
    m.author = b.key.public(); // claims to be b, signed by a
    let forged = Entry::from_signed(m.sign(&a.key));
    assert_eq!(forged.verify().err(), Some(ChainError::BadSignature));
}

#[test]
fn batch_and_single_verification_agree() {
    let (entries, _, _) = history(12);
    let mut rng = XofRng::from_seed(b"batch");
    let mut unverified: Vec<Entry<Unverified>> =
        entries.iter().map(|e| Entry::from_signed(e.signed().clone())).collect();
    // Corrupt some signatures and one shape.
    for i in [1, 5, 9] {
        let mut s = unverified[i].signed().clone();
        s.signature.0[i] ^= 0x40;
        unverified[i] = Entry::from_signed(s);
    }
    let mut s = unverified[3].signed().clone();
    s.message.parents.reverse();
    unverified[3] = Entry::from_signed(s);
    let single: Vec<_> = unverified.iter().cloned().map(|e| e.verify().map(|v| v.id())).collect();
    let batch: Vec<_> =
        verify_batch(&mut rng, unverified).into_iter().map(|r| r.map(|v| v.id())).collect();
    assert_eq!(single, batch);
    assert_eq!(batch.iter().filter(|r| r.is_err()).count(), 4);
}

#[test]
fn decoded_bytes_round_trip_through_entry() {
    let (entries, _, _) = history(2);
    for e in &entries {
        let back = Entry::decode(e.bytes().to_vec()).expect("decode").verify().expect("verify");
        assert_eq!(back.id(), e.id());
        assert_eq!(SignedMessage::decode(back.bytes()).expect("decode"), *e.signed());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any delivery order, with duplicates, yields the same accepted set and
    /// the same version vector.
    #[test]
    fn any_delivery_order_converges(
        order in Just((0..25usize).collect::<Vec<_>>()).prop_shuffle(),
        dups in proptest::collection::vec(0..25usize, 0..10),
    ) {
        let (entries, _, _) = history(24);
        let mut reference = ChainState::new(GROUP);
        ingest_all(&mut reference, &entries);
        let mut chain = ChainState::new(GROUP);
        for i in order.iter().chain(dups.iter()) {
            chain.ingest(entries[*i].clone(), epoch_of(&entries[*i]));
        }
        prop_assert_eq!(chain.len(), entries.len());
        prop_assert_eq!(chain.pending_len(), 0);
        prop_assert_eq!(chain.version_vector(), reference.version_vector());
    }
}
