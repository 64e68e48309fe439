//! Loads `protocol-spec/vectors/*.json`: decodes, re-encodes and compares
//! bytes; checks each invalid vector fails with its recorded error; and
//! checks the files are exactly what the code generates today.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "common/vectors.rs"]
mod vectors;

use cairn_proto::identity::{Identity, KeyFile, MasterSeed, parse_recovery};
use cairn_proto::wire::{Envelope, EpochKeys, Fragment, SignedMessage};
use serde_json::Value;
use zeroize::Zeroizing;

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../protocol-spec/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn array32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

#[test]
fn committed_vectors_match_the_code() {
    for (name, value) in vectors::all() {
        let committed = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../protocol-spec/vectors")
                .join(name),
        )
        .unwrap_or_default();
        assert!(
            committed == vectors::render(&value),
            "protocol-spec/vectors/{name} is stale: run `cargo run -p cairn-proto --example gen_vectors` and update the spec"
        );
    }
}

#[test]
fn identity_vectors() {
    let v = load("identity.json");
    for case in v["cases"].as_array().unwrap() {
        let id = Identity::from_seed(MasterSeed::from_bytes(array32(&case["seed"])));
        assert_eq!(hex::encode(id.public_key().0), case["signing_public"]);
        assert_eq!(hex::encode(id.onion_key().public().0), case["onion_public"]);
        assert_eq!(id.onion_address().to_string(), case["onion_address"]);
        assert_eq!(hex::encode(id.handshake_key().public().0), case["x25519_public"]);
        let restored = parse_recovery(case["recovery"].as_str().unwrap()).unwrap();
        assert_eq!(restored.as_bytes(), id.seed().as_bytes());
    }
    for case in v["invalid_recovery"].as_array().unwrap() {
        let err = parse_recovery(case["text"].as_str().unwrap()).unwrap_err();
        assert_eq!(vectors::error_name(&format!("{err:?}")), case["error"]);
    }
}

#[test]
fn message_vectors() {
    let v = load("message.json");
    for case in v["valid"].as_array().unwrap() {
        let raw = bytes(&case["hex"]);
        let m = SignedMessage::decode(&raw).unwrap();
        assert_eq!(m.encode(), raw, "re-encoding differs");
        assert_eq!(hex::encode(m.message.encode()), case["unsigned_hex"]);
        let id = vectors::check_message(&raw).unwrap();
        assert_eq!(hex::encode(id.0), case["id"]);
        assert_eq!(m.message.seq, case["seq"].as_u64().unwrap());
        assert_eq!(m.message.lamport, case["lamport"].as_u64().unwrap());
    }
    let invalid = v["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 10);
    for case in invalid {
        let got = vectors::check_message(&bytes(&case["hex"])).unwrap_err();
        assert_eq!(got, case["error"].as_str().unwrap(), "{}", case["name"]);
    }
}

#[test]
fn envelope_vectors() {
    let v = load("envelope.json");
    let keys = EpochKeys::derive(&Zeroizing::new(array32(&v["epoch_secret"])));
    assert_eq!(hex::encode(keys.mailbox_public.0), v["mailbox_public"]);
    assert_eq!(hex::encode(keys.mailbox.0), v["mailbox_id"]);
    let env = Envelope::parse(&bytes(&v["envelope"])).unwrap();
    assert_eq!(env.mailbox(), keys.mailbox);
    env.verify_write().unwrap();
    let fragment = env.open(&keys).unwrap();
    assert_eq!(hex::encode(fragment.encode()), v["fragment"]);
    assert_eq!(Fragment::decode(&bytes(&v["fragment"])).unwrap(), fragment);
    assert_eq!(fragment.data, bytes(&v["message"]));
    for case in v["invalid"].as_array().unwrap() {
        let err = Envelope::parse(&bytes(&case["hex"]))
            .and_then(|e| vectors::full_check(&e, &keys))
            .unwrap_err();
        assert_eq!(vectors::error_name(&format!("{err:?}")), case["error"], "{}", case["name"]);
    }
}

#[test]
fn keyfile_vectors() {
    let v = load("keyfile.json");
    let file = bytes(&v["file"]);
    let secrets = KeyFile::open(&file, v["passphrase"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(hex::encode(secrets.seed.as_bytes()), v["seed"]);
    assert_eq!(hex::encode(secrets.storage_key.as_bytes()), v["storage_key"]);
    let err = KeyFile::open(&file, v["wrong_passphrase"].as_str().unwrap().as_bytes()).unwrap_err();
    assert_eq!(vectors::error_name(&format!("{err:?}")), v["wrong_passphrase_error"]);
    // Composed and decomposed spellings give the same bytes, and the
    // recorded ones.
    let cases = v["passphrase_bytes"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let typed = String::from_utf8(bytes(&case["typed_hex"])).unwrap();
        let got = cairn_proto::identity::passphrase_bytes(&typed);
        assert_eq!(hex::encode(&*got), case["bytes"], "{typed:?}");
    }
    let nfc = |s: &str| cairn_proto::identity::passphrase_bytes(s).to_vec();
    assert_eq!(nfc("caf\u{e9}"), nfc("cafe\u{301}\n"));
    assert_eq!(nfc("caf\u{e9}"), "caf\u{e9}".as_bytes());
}

/// Every hex string the spec shows (a run of at least 8 lowercase hex
/// digits with a digit and a letter among them, or 16 digits, possibly
/// elided with `…`) is found in a vector file or in the source of a test
/// that asserts it: the text cannot drift from the bytes (issue 16: the
/// worked envelope once showed a stale tag and signature). An elided
/// `a…b` needs some string holding `a` and, after it, `b`.
#[test]
fn every_hex_string_in_the_spec_is_in_a_vector_or_a_test() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = repo.join("protocol-spec");
    let mut corpus = Vec::new();
    collect(&spec.join("vectors"), "json", &mut corpus);
    let vectors = corpus.len();
    assert!(vectors > 50, "vectors not found under {}", spec.display());
    for dir in ["core", "relay"] {
        collect(&repo.join(dir), "rs", &mut corpus);
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&spec).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for token in hex_tokens(&text) {
            checked += 1;
            let parts: Vec<&str> = token.split('…').filter(|p| !p.is_empty()).collect();
            if !corpus.iter().any(|c| holds_in_order(c, &parts)) {
                missing.push(format!("{}: {token}", path.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(checked > 40, "only {checked} hex strings found in the spec");
    assert!(missing.is_empty(), "hex strings in the spec found nowhere:\n{}", missing.join("\n"));
}

/// The hex-looking runs of `text`: maximal runs of `0-9a-f` and `…` not
/// touching another letter or digit, with a part of at least 8 digits, and
/// both a digit and a letter (or 16 digits: a long number is bytes too).
fn hex_tokens(text: &str) -> Vec<String> {
    let hexish = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '…';
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !hexish(chars[i]) || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && hexish(chars[i]) {
            i += 1;
        }
        if i < chars.len() && chars[i].is_alphanumeric() {
            continue; // part of a longer word
        }
        let token: String = chars[start..i].iter().collect();
        let parts: Vec<&str> = token.split('…').filter(|p| !p.is_empty()).collect();
        let digits: String = parts.concat();
        let long_part = parts.iter().any(|p| p.len() >= 8);
        let mixed = digits.chars().any(|c| c.is_ascii_digit())
            && digits.chars().any(|c| c.is_ascii_alphabetic());
        if long_part && (mixed || digits.len() >= 16) {
            out.push(token);
        }
    }
    out
}

fn holds_in_order(haystack: &str, parts: &[&str]) -> bool {
    let mut rest = haystack;
    for p in parts {
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    true
}

/// The strings of every `.json` file under `dir` (each string value), or
/// the text of every `.rs` file with string continuations (`\` at a line's
/// end) joined, so that hex split over lines reads whole.
fn collect(dir: &std::path::Path, ext: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") {
                collect(&path, ext, out);
            }
        } else if path.extension().is_some_and(|e| e == ext) {
            let text = std::fs::read_to_string(&path).unwrap();
            if ext == "json" {
                strings_of(&serde_json::from_str(&text).unwrap(), out);
            } else {
                out.push(join_continuations(&text));
            }
        }
    }
}

fn join_continuations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut joining = false;
    for line in text.lines() {
        let line = if joining { line.trim_start() } else { line };
        match line.strip_suffix('\\') {
            Some(head) => {
                out.push_str(head);
                joining = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
                joining = false;
            }
        }
    }
    out
}

fn strings_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_of(x, out)),
        _ => {}
    }
}

/// `bodies.json`: every body decodes to the value recorded, re-encodes to
/// the same bytes, and every limit case is refused with its reason.
#[test]
fn body_vectors() {
    use cairn_proto::wire::{Body, decode_canonical, encode};
    let v = load("bodies.json");
    let bodies = v["bodies"].as_array().unwrap();
    assert_eq!(bodies.len(), 25, "one body per index 0..=24");
    for (index, case) in bodies.iter().enumerate() {
        let raw = bytes(&case["hex"]);
        assert_eq!(usize::from(raw[0]), index);
        let body: Body = decode_canonical(&raw, 1 << 20).unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap(), case["value"], "index {index}");
        assert_eq!(encode(&body), raw);
        assert_eq!(body.check_limits(), Ok(()));
    }
    for case in v["limits"].as_array().unwrap() {
        let body: Body = decode_canonical(&bytes(&case["hex"]), 1 << 20).unwrap();
        assert_eq!(body.check_limits().unwrap_err(), case["error"].as_str().unwrap());
    }
}

/// `zip215.json`: cairn's verdict and strong-key check on every edge case;
/// some cases a strict verifier would refuse are valid here.
#[test]
fn zip215_vectors() {
    use cairn_proto::crypto::{PublicKey, Signature, verify_single};
    let v = load("zip215.json");
    let message = bytes(&v["message"]);
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 200);
    for case in cases {
        let key = PublicKey(array32(&case["public"]));
        let sig = Signature(bytes(&case["signature"]).try_into().unwrap());
        let valid = verify_single(&key, b"", &message, &sig).is_ok();
        assert_eq!(valid, case["valid"], "{}", case["name"]);
        assert_eq!(key.check_strong().is_ok(), case["strong"], "{}", case["name"]);
    }
    let splits = cases.iter().filter(|c| c["valid"] == true && c["cofactorless_valid"] == false);
    assert!(splits.count() >= 2);
}

/// `rng.json` and `seal.json`: the test RNG's stream, and a box sealed
/// with it opens with the recipient's secret; a low-order recipient is
/// refused.
#[test]
fn rng_and_seal_vectors() {
    use cairn_proto::crypto::{X25519Public, X25519Secret, XofRng, open_from};
    use rand_core::Rng as _;
    let v = load("rng.json");
    let mut rng = XofRng::from_seed(v["seed"].as_str().unwrap().as_bytes());
    let mut first = [0u8; 64];
    rng.fill_bytes(&mut first);
    assert_eq!(hex::encode(first), v["first_64_bytes"]);
    assert_eq!(u64::from(rng.next_u32()), v["then_next_u32"].as_u64().unwrap());
    assert_eq!(rng.next_u64(), v["then_next_u64"].as_u64().unwrap());
    let s = load("seal.json");
    let secret = X25519Secret::from_bytes(array32(&s["recipient_secret"]));
    assert_eq!(hex::encode(secret.public().0), s["recipient_public"]);
    let opened = open_from(&secret, &bytes(&s["sealed"]), &bytes(&s["aad"])).unwrap();
    assert_eq!(hex::encode(opened), s["payload"]);
    let mut rng = XofRng::from_seed(s["rng_seed"].as_str().unwrap().as_bytes());
    let again = cairn_proto::crypto::seal_to(
        &mut rng,
        &secret.public(),
        &bytes(&s["payload"]),
        &bytes(&s["aad"]),
    )
    .unwrap();
    assert_eq!(hex::encode(again), s["sealed"]);
    let low = X25519Public(array32(&s["low_order_recipient"]));
    let err = cairn_proto::crypto::seal_to(&mut rng, &low, b"x", b"").unwrap_err();
    assert_eq!(vectors::error_name(&format!("{err:?}")), s["low_order_error"]);
}

/// `keys.json`: key-package ids, the rekey opened by each recipient, the
/// ratchet, the grant and the sealed content, as the code computes them.
#[test]
fn key_vectors() {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::epoch::{
        EpochSecret, KeyPackage, KeyPackageId, KeyPackageSecret, Rekey, RoleKey, RoleKeyGrant,
        SealedContent,
    };
    use cairn_proto::wire::{GroupId, decode_canonical};
    let v = load("keys.json");
    let group = GroupId(array32(&v["group"]));
    let mut packages = Vec::new();
    for kp in v["key_packages"].as_array().unwrap() {
        let secret = KeyPackageSecret::from_bytes(array32(&kp["secret"]));
        let package = KeyPackage { group, x25519: secret.public() };
        let id = KeyPackageId::owned_by(&PublicKey(array32(&kp["owner"])), &package);
        assert_eq!(hex::encode(id.0), kp["id"]);
        packages.push((id, secret));
    }
    let rekey: Rekey = decode_canonical(&bytes(&v["rekey"]["hex"]), 1 << 16).unwrap();
    rekey.check_shape().unwrap();
    for (id, secret) in &packages {
        let opened = rekey.open(&group, id, secret).unwrap();
        assert_eq!(hex::encode(opened.as_bytes()), v["rekey"]["epoch_secret"]);
    }
    let r = &v["ratchet"];
    let next = EpochSecret::from_bytes(array32(&r["epoch_secret"]));
    let key = RoleKey::from_bytes(array32(&r["previous_key"]))
        .ratchet(&next, r["role"].as_str().unwrap());
    assert_eq!(hex::encode(key.as_bytes()), r["next_key"]);
    let grant: RoleKeyGrant = decode_canonical(&bytes(&v["grant"]["hex"]), 1 << 16).unwrap();
    let (id, secret) = &packages[0];
    assert_eq!(hex::encode(grant.open(&group, id, secret).unwrap().as_bytes()), v["grant"]["key"]);
    let sc = &v["sealed_content"];
    let sealed: SealedContent = decode_canonical(&bytes(&sc["hex"]), 1 << 16).unwrap();
    for (role, key) in sc["role_keys"].as_object().unwrap() {
        let key = RoleKey::from_bytes(array32(key));
        let plain = sealed.open(&group, &array32(&sc["binding"]), role, &key).unwrap();
        assert_eq!(hex::encode(&*plain), sc["plaintext"]);
    }
}

/// `fragments.json`: the fragments reassemble to the message (in any
/// order), each invalid fragment is refused with its error, and a
/// conflicting fragment is refused.
#[test]
fn fragment_vectors() {
    use cairn_proto::wire::{Fragment, Reassembler};
    let v = load("fragments.json");
    let fragments: Vec<Fragment> = v["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Fragment::decode(&bytes(f)).unwrap())
        .collect();
    let mut r = Reassembler::new();
    let mut whole = None;
    for f in fragments.iter().rev() {
        whole = r.add(f.clone()).unwrap();
    }
    assert_eq!(hex::encode(whole.unwrap()), v["message"]);
    for case in v["invalid"].as_array().unwrap() {
        let err = Fragment::decode(&bytes(&case["hex"])).unwrap_err();
        assert_eq!(vectors::error_name(&format!("{err:?}")), case["error"], "{}", case["name"]);
    }
    let c = &v["conflict"];
    let mut r = Reassembler::new();
    r.add(Fragment::decode(&bytes(&c["held"])).unwrap()).unwrap();
    let err = r.add(Fragment::decode(&bytes(&c["then"])).unwrap()).unwrap_err();
    assert_eq!(vectors::error_name(&format!("{err:?}")), c["error"]);
}

/// `invite.json`: the string parses to the recorded fields and id, the proof
/// and short code follow from the binding, and each bad string is refused.
#[test]
fn invite_vectors() {
    use cairn_proto::invite::{Invite, short_code};
    let v = load("invite.json");
    let now = v["now"].as_u64().unwrap();
    let invite = Invite::parse(v["text"].as_str().unwrap(), now).unwrap();
    assert_eq!(hex::encode(invite.secret), v["invite"]["secret"]);
    assert_eq!(invite.answerers.len(), 2);
    assert_eq!(invite.to_text().as_str(), v["text"]);
    assert_eq!(hex::encode(invite.id()), v["id"]);
    let binding = array32(&v["binding"]);
    assert_eq!(hex::encode(invite.proof(&binding)), v["proof"]);
    assert_eq!(short_code(&binding), v["short_code"]);
    for case in v["invalid"].as_array().unwrap() {
        let err = Invite::parse(case["text"].as_str().unwrap(), case["now"].as_u64().unwrap())
            .unwrap_err();
        assert_eq!(vectors::error_name(&format!("{err:?}")), case["error"], "{}", case["name"]);
    }
}

/// `relay.json`: every frame of the session decodes to its value and
/// re-encodes to its bytes.
#[test]
fn relay_vectors() {
    use cairn_proto::relay_proto::{ClientHello, Request, Response, ServerHello, frame};
    let v = load("relay.json");
    let payload = |case: &Value| {
        let raw = bytes(&case["frame"]);
        let len = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
        assert_eq!(raw.len(), 4 + len);
        assert_eq!(frame::encode(&raw[4..]), raw);
        raw[4..].to_vec()
    };
    for (i, case) in v["client"].as_array().unwrap().iter().enumerate() {
        let raw = payload(case);
        let value = if i == 0 {
            serde_json::to_value(ClientHello::decode(&raw).unwrap()).unwrap()
        } else {
            serde_json::to_value(Request::decode(&raw).unwrap()).unwrap()
        };
        assert_eq!(value, case["value"], "client frame {i}");
    }
    for (i, case) in v["server"].as_array().unwrap().iter().enumerate() {
        let raw = payload(case);
        let value = if i == 0 {
            serde_json::to_value(ServerHello::decode(&raw).unwrap()).unwrap()
        } else {
            serde_json::to_value(Response::decode(&raw).unwrap()).unwrap()
        };
        assert_eq!(value, case["value"], "server frame {i}");
    }
    let refused = ServerHello::decode(&payload(&v["refused_hello"])).unwrap();
    assert_eq!(serde_json::to_value(refused).unwrap(), v["refused_hello"]["value"]);
}

/// `peer.json`: Bob's side of the session, fed Alice's recorded frames,
/// answers with exactly the recorded frames, learns Alice's identity and
/// receives her message.
#[test]
fn peer_vectors() {
    use cairn_proto::crypto::XofRng;
    use cairn_proto::peer_proto::{PeerEvent, PeerMessage, PeerSession};
    use rand_core::Rng as _;
    let v = load("peer.json");
    let mut rng = XofRng::from_seed(v["rng_seed"].as_str().unwrap().as_bytes());
    let mut alice_draw = [0u8; 32];
    rng.fill_bytes(&mut alice_draw); // Alice's ephemeral secret comes first
    let bob = Identity::from_seed(MasterSeed::from_bytes(array32(&v["responder_seed"])));
    let alice = Identity::from_seed(MasterSeed::from_bytes(array32(&v["initiator_seed"])));
    let mut b = PeerSession::responder(&mut rng, &bob);
    let mut sent = Vec::new();
    for frame in v["frames"].as_array().unwrap() {
        let raw = bytes(&frame["hex"]);
        if frame["from"] == "alice" {
            b.handle_bytes(&raw);
        } else {
            if sent.is_empty() {
                while let Some(f) = b.poll_output() {
                    sent.push(f);
                }
            }
            if raw.len() == 63 {
                // Bob's session frame: what Bob sends after the handshake.
                let msg: PeerMessage = cairn_proto::wire::decode_canonical(
                    &bytes(&v["session_plaintexts"][1]),
                    1 << 16,
                )
                .unwrap();
                b.send(&msg).unwrap();
                sent.push(b.poll_output().unwrap());
            }
            assert_eq!(sent.remove(0), raw);
        }
    }
    let events: Vec<PeerEvent> = core::iter::from_fn(|| b.poll_event()).collect();
    assert!(events.contains(&PeerEvent::Established { peer: alice.public_key(), version: 1 }));
    let heads: PeerMessage =
        cairn_proto::wire::decode_canonical(&bytes(&v["session_plaintexts"][0]), 1 << 16).unwrap();
    assert!(events.contains(&PeerEvent::Message(heads)));
}

/// `chain.json`: the steps replayed into a fresh chain give the recorded
/// events; the proof verifies and the bad ones fail with their errors.
#[test]
fn chain_vectors() {
    use cairn_proto::chain::{ChainState, Entry, EquivocationProof};
    use cairn_proto::wire::{EpochId, GroupId};
    let v = load("chain.json");
    let mut chain = ChainState::new(GroupId(array32(&v["group"])));
    for (i, step) in v["steps"].as_array().unwrap().iter().enumerate() {
        let entry = Entry::decode(bytes(&step["hex"])).and_then(Entry::verify).unwrap();
        let events = chain.ingest(entry, EpochId(array32(&step["opened"])));
        let names: Vec<String> = events.iter().map(vectors::chain_event_name).collect();
        assert_eq!(serde_json::to_value(names).unwrap(), step["events"], "step {i}");
    }
    EquivocationProof::decode(&bytes(&v["proof"])).unwrap().verify().unwrap();
    for case in v["bad_proofs"].as_array().unwrap() {
        let err =
            EquivocationProof::decode(&bytes(&case["hex"])).and_then(|p| p.verify()).unwrap_err();
        assert_eq!(vectors::error_name(&format!("{err:?}")), case["error"], "{}", case["name"]);
    }
}

/// `peer_messages.json`: every peer message decodes to its value and
/// re-encodes to its bytes.
#[test]
fn peer_message_vectors() {
    use cairn_proto::peer_proto::PeerMessage;
    use cairn_proto::wire::decode_canonical;
    let v = load("peer_messages.json");
    let cases = v["messages"].as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for case in cases {
        let raw = bytes(&case["hex"]);
        let m: PeerMessage = decode_canonical(&raw, 1 << 20).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), case["value"]);
        assert_eq!(m.encode(), raw);
    }
}
