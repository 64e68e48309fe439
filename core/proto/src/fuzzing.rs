//! Hooks for the fuzz targets in `fuzz/` (and for the tests that run the
//! same code on fixed inputs). Compiled only with the `fuzzing` feature or
//! in tests; never part of a release build.
//!
//! Each hook panics only when a property is violated; any input is allowed.

mod fold_ops;

use std::collections::{BTreeMap, BTreeSet};

pub use fold_ops::fold_ops;

use zeroize::Zeroizing;

use crate::chain::{ChainState, Entry, EquivocationProof};
use crate::crypto::{PublicKey, SigningKey, XofRng};
use crate::group::Rules;
use crate::identity::{Identity, MasterSeed, parse_recovery, recovery_string};
use crate::peer_proto::{Hello, PeerMessage, PeerSession, PeerTarget, Welcome};
use crate::wire::{
    Body, Chat, Envelope, EpochId, EpochKeys, Fragment, Genesis, GroupId, Reassembler,
    SignedMessage,
};

/// Envelope bytes: parse, write-check, open under a fixed key, reassemble.
/// A fragment that decodes must re-encode to the same plaintext.
pub fn envelope_decode(data: &[u8]) {
    let keys = EpochKeys::derive(&Zeroizing::new([0x33; 32]));
    let Ok(env) = Envelope::parse(data) else { return };
    let _ = env.verify_write();
    let _ = env.mailbox();
    if let Ok(fragment) = env.open(&keys) {
        let again = Fragment::decode(&fragment.encode());
        assert_eq!(again.as_ref(), Ok(&fragment));
        let _ = Reassembler::new().add(fragment);
    }
    // The fragment decoder on raw bytes too (a member decrypts, then decodes).
    if let Ok(f) = Fragment::decode(data.get(..crate::wire::SEALED_PAYLOAD_LEN).unwrap_or(data)) {
        assert_eq!(Fragment::decode(&f.encode()), Ok(f));
    }
}

/// Message bytes: decode; a decoded message re-encodes to exactly the input
/// (canonical form) and its id is the same either way; then verify.
pub fn message_decode(data: &[u8]) {
    if let Ok(m) = SignedMessage::decode(data) {
        assert_eq!(m.encode(), data, "accepted a non-canonical encoding");
        assert_eq!(m.id(), SignedMessage::id_from_encoding(data));
        let _ = Entry::from_signed(m).verify();
    }
    if let Ok(proof) = EquivocationProof::decode(data) {
        assert_eq!(proof.encode(), data);
        let _ = proof.verify();
    }
}

/// Recovery text: parsing never panics; a parsed seed round-trips.
pub fn recovery(text: &str) {
    if let Ok(seed) = parse_recovery(text) {
        assert_eq!(parse_recovery(&recovery_string(&seed)), Ok(seed));
    }
}

/// Rules text: `Rules::from_toml` never panics; rules it accepts print to
/// TOML that reads back to equal rules, and encode to bytes that decode to
/// equal rules and re-encode identically (so whatever a member can write
/// can also be sent in a genesis or rule change).
pub fn rules_toml(text: &str) {
    let Ok(rules) = Rules::from_toml(text) else { return };
    let printed = rules.to_toml();
    assert_eq!(Rules::from_toml(&printed).as_ref(), Ok(&rules), "TOML form does not read back");
    let bytes = rules.encode();
    let decoded = Rules::decode(&bytes);
    assert_eq!(decoded.as_ref(), Ok(&rules), "binary form does not decode");
    assert_eq!(decoded.map(|r| r.encode()), Ok(bytes), "binary form is not stable");
}

/// Rules bytes: `Rules::decode` never panics; rules it accepts re-encode to
/// exactly the input (canonical form) and survive the TOML form unchanged.
pub fn rules_decode(data: &[u8]) {
    let Ok(rules) = Rules::decode(data) else { return };
    assert_eq!(rules.encode(), data, "accepted a non-canonical encoding");
    assert_eq!(Rules::from_toml(&rules.to_toml()), Ok(rules), "TOML form does not read back");
}

/// Byte streams into peer sessions: a responder before the hello, an
/// initiator before the welcome, and an open session, raw and (to get past
/// the encryption) sealed by the peer as a frame's plaintext. Nothing
/// panics; after the end of the stream every session is closed; a message
/// that decodes re-encodes to the same bytes.
pub fn peer_frames(data: &[u8]) {
    let mut rng = XofRng::from_seed(b"fuzz peer");
    let alice = Identity::from_seed(MasterSeed::from_bytes([1; 32]));
    let bob = Identity::from_seed(MasterSeed::from_bytes([2; 32]));
    let target = PeerTarget { onion: bob.onion_address(), identity: None };
    let mut initiator = PeerSession::initiator(&mut rng, &alice, target.clone());
    let mut responder = PeerSession::responder(&mut rng, &bob);
    let mut a = PeerSession::initiator(&mut rng, &alice, target);
    let mut b = PeerSession::responder(&mut rng, &bob);
    pump(&mut a, &mut b);
    assert!(a.is_open() && b.is_open(), "honest handshake failed");
    let _ = a.dangerously_send_raw(data);
    pump(&mut a, &mut b);
    for s in [&mut initiator, &mut responder, &mut b] {
        s.handle_bytes(data);
        s.handle_eof();
        while s.poll_output().is_some() {}
        while s.poll_event().is_some() {}
        assert!(s.is_closed(), "session open after the end of the stream");
    }
    if let Ok(m) = PeerMessage::decode(data) {
        assert_eq!(m.encode(), data, "accepted a non-canonical peer message");
    }
    if let Ok(h) = Hello::decode(data) {
        assert_eq!(h.encode(), data);
    }
    if let Ok(w) = Welcome::decode(data) {
        assert_eq!(w.encode(), data);
    }
}

/// Moves frames between two sessions until neither has any (also used by
/// the peer channel's unit tests).
pub(crate) fn pump(a: &mut PeerSession, b: &mut PeerSession) {
    loop {
        let mut moved = false;
        while let Some(f) = a.poll_output() {
            b.handle_bytes(&f);
            moved = true;
        }
        while let Some(f) = b.poll_output() {
            a.handle_bytes(&f);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

const GROUP: GroupId = GroupId([0x51; 32]);
const EPOCH: EpochId = EpochId([0x52; 32]);
const MAX_OPS: usize = 48;

struct Generated {
    bytes: Vec<u8>,
    parents: Vec<usize>,
    author: PublicKey,
    seq: u64,
}

/// A sequence of operations (write, deliver, deliver tampered, replay from
/// another group) against a [`ChainState`], checked after every step
/// against a reference model: a delivered message is accepted exactly when
/// all its parents are; nothing tampered or foreign is ever accepted.
pub fn chain_ops(data: &[u8]) {
    let writers: Vec<SigningKey> = (0..3u8).map(|i| SigningKey::from_bytes([i + 1; 32])).collect();
    let mut author_view = ChainState::new(GROUP);
    let mut generated: Vec<Generated> = Vec::new();
    let mut ids = BTreeMap::new();
    let genesis = Body::Genesis(Genesis { name: "fuzz".into(), rules: vec![] });
    write(&mut author_view, &writers[0], EpochId::GENESIS, genesis, &mut generated, &mut ids);
    let mut receiver = ChainState::new(GROUP);
    let mut delivered = BTreeSet::new();
    for op in data.chunks_exact(2).take(MAX_OPS) {
        let arg = op[1] as usize;
        match op[0] % 4 {
            0 => {
                let body = Body::Chat(Chat { text: format!("{arg}"), reply_to: None });
                write(&mut author_view, &writers[arg % 3], EPOCH, body, &mut generated, &mut ids);
            }
            1 => {
                let i = arg % generated.len();
                deliver(&mut receiver, &generated[i].bytes);
                delivered.insert(i);
            }
            2 => {
                let mut bad = generated[arg % generated.len()].bytes.clone();
                let bit = (arg * 7919) % (bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                deliver(&mut receiver, &bad);
            }
            _ => {
                let foreign = foreign_message(&writers[arg % 3]);
                deliver(&mut receiver, &foreign);
            }
        }
        check_model(&receiver, &generated, &delivered);
    }
}

fn write(
    view: &mut ChainState,
    key: &SigningKey,
    epoch: EpochId,
    body: Body,
    out: &mut Vec<Generated>,
    ids: &mut BTreeMap<crate::wire::MessageId, usize>,
) {
    let m = view.draft(&key.public(), epoch, 0, body).sign(key);
    let parents = m.message.parents.iter().filter_map(|p| ids.get(p).copied()).collect();
    let opened =
        if m.message.seq == 0 && m.message.parents.is_empty() { EpochId(m.id().0) } else { epoch };
    let Ok(entry) = Entry::from_signed(m.clone()).verify() else { return };
    view.ingest(entry, opened);
    ids.insert(m.id(), out.len());
    out.push(Generated { bytes: m.encode(), parents, author: key.public(), seq: m.message.seq });
}

fn deliver(chain: &mut ChainState, bytes: &[u8]) {
    let Ok(entry) = Entry::decode(bytes.to_vec()).and_then(Entry::verify) else { return };
    let genesis = entry.message().parents.is_empty();
    let opened = if genesis { EpochId(entry.id().0) } else { EPOCH };
    chain.ingest(entry, opened);
}

fn foreign_message(key: &SigningKey) -> Vec<u8> {
    let view = ChainState::new(GroupId([0x99; 32]));
    let body = Body::Genesis(Genesis { name: "elsewhere".into(), rules: vec![] });
    view.draft(&key.public(), EpochId::GENESIS, 0, body).sign(key).encode()
}

fn check_model(chain: &ChainState, generated: &[Generated], delivered: &BTreeSet<usize>) {
    let mut accepted = vec![false; generated.len()];
    let mut vv: BTreeMap<PublicKey, u64> = BTreeMap::new();
    // Generation order is a topological order of the DAG: one pass suffices.
    for (i, g) in generated.iter().enumerate() {
        accepted[i] = delivered.contains(&i) && g.parents.iter().all(|&p| accepted[p]);
        if accepted[i] {
            vv.insert(g.author, g.seq);
        }
    }
    let n = accepted.iter().filter(|a| **a).count();
    assert_eq!(chain.len(), n, "accepted count differs from the model");
    assert_eq!(chain.pending_len(), delivered.len() - n, "pending count differs");
    let got: BTreeMap<PublicKey, u64> = chain.version_vector().as_map().clone();
    assert_eq!(got, vv, "version vector differs from the model");
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;
    use rand_core::Rng;

    /// The fuzz hooks on deterministic pseudo-random inputs, so the normal
    /// test suite exercises the same properties the fuzzers check.
    #[test]
    fn hooks_hold_on_pseudo_random_inputs() {
        let mut rng = XofRng::from_seed(b"fuzz hooks");
        for len in [0usize, 1, 2, 10, 96, 2000, 5000] {
            for _ in 0..20 {
                let mut data = vec![0u8; len];
                rng.fill_bytes(&mut data);
                envelope_decode(&data);
                message_decode(&data);
                chain_ops(&data);
                fold_ops(&data);
                recovery(&String::from_utf8_lossy(&data));
                rules_toml(&String::from_utf8_lossy(&data));
                rules_decode(&data);
                peer_frames(&data);
            }
        }
    }

    /// The rules hooks on the templates, both forms, and on every single
    /// bit flip of a template's encoding.
    #[test]
    fn rules_hooks_hold_on_templates_and_their_bit_flips() {
        for (_, rules) in crate::group::templates::all() {
            rules_toml(&rules.to_toml());
            let bytes = rules.encode();
            rules_decode(&bytes);
            for bit in 0..bytes.len() * 8 {
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                rules_decode(&flipped);
            }
        }
    }

    /// The TOML form can name far more than the binary form may carry
    /// (every role naming every role): such rules are refused, not
    /// accepted as rules that no message can carry.
    #[test]
    fn rules_toml_at_the_limits() {
        let names: Vec<String> = (0..32).map(|i| format!("{i:0>32}")).collect();
        let quoted = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
        let mut text = format!("founder = {:?}\n", names[0]);
        for n in &names {
            text += &format!("[roles.{n}]\nassign-to = [{quoted}]\nreads = [{quoted}]\n");
        }
        rules_toml(&text);
        let too_large = Rules::from_toml(&text).map_err(|e| e.problem);
        assert!(too_large.is_err_and(|p| p.contains("at most 16384")));
    }

    #[test]
    fn peer_frames_on_valid_messages() {
        let msgs = [
            PeerMessage::Close,
            PeerMessage::ResyncDone { more: true },
            PeerMessage::Deliver { group: GroupId([1; 32]), message: vec![1; 40] },
        ];
        for m in msgs {
            peer_frames(&m.encode());
        }
    }

    #[test]
    fn chain_ops_model_accepts_everything_delivered_in_order() {
        // Write 10 messages, then deliver all in order: all accepted.
        let mut ops = Vec::new();
        for i in 0..10u8 {
            ops.extend_from_slice(&[0, i]);
        }
        for i in 0..11u8 {
            ops.extend_from_slice(&[1, i]);
        }
        chain_ops(&ops);
    }
}
