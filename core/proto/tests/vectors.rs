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
}
