//! Test-vector generation, shared by `examples/gen_vectors.rs` (which writes
//! `protocol-spec/vectors/*.json`) and `tests/vectors.rs` (which checks the
//! committed files against the code). Everything is derived from fixed seeds
//! with the deterministic `XofRng`, so the output never changes unless the
//! format does.

use cairn_proto::chain::{ChainError, Entry};
use cairn_proto::crypto::{AeadKey, SigningKey, XofRng};
use cairn_proto::identity::{
    Identity, KdfParams, KeyFile, MasterSeed, ProfileSecrets, RecoveryError, parse_recovery,
    recovery_string,
};
use cairn_proto::wire::{
    Body, Chat, DecodeError, Envelope, EnvelopeError, EpochId, EpochKeys, Genesis, GroupId,
    MESSAGE_VERSION, MessageId, SignedMessage, UnsignedMessage, fragment_message, seal_message,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The name of an error as vectors record it: the variant path without payload.
pub fn error_name(debug: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = debug;
    loop {
        let ident: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !ident.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        rest = &rest[ident.len()..];
        parts.push(ident);
        match rest.strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    parts.join(".")
}

/// Decodes and verifies message bytes; `Ok(())` or the error name.
pub fn check_message(bytes: &[u8]) -> Result<MessageId, String> {
    Entry::decode(bytes.to_vec())
        .and_then(Entry::verify)
        .map(|e| e.id())
        .map_err(|e: ChainError| error_name(&format!("{e:?}")))
}

fn identity_vectors() -> Value {
    let cases: Vec<Value> = [[0u8; 32], [0x42; 32], *b"cairn identity test vector seed!"]
        .into_iter()
        .map(|raw| {
            let id = Identity::from_seed(MasterSeed::from_bytes(raw));
            json!({
                "seed": hex::encode(raw),
                "signing_public": hex::encode(id.public_key().0),
                "onion_public": hex::encode(id.onion_key().public().0),
                "onion_address": id.onion_address().to_string(),
                "x25519_public": hex::encode(id.handshake_key().public().0),
                "recovery": recovery_string(id.seed()).to_string(),
                "recovery_bytes": hex::encode(crockford_bytes(&recovery_string(id.seed()))),
            })
        })
        .collect();
    let good = recovery_string(&MasterSeed::from_bytes([0x42; 32])).to_string();
    let mut typo: Vec<char> = good.chars().collect();
    typo[7] = if typo[7] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    let invalid: Vec<Value> = [(typo, "BadChecksum"), ("abc".into(), "BadLength")]
        .into_iter()
        .map(|(text, error)| {
            let got: Result<_, RecoveryError> = parse_recovery(&text);
            assert_eq!(got.err().map(|e| error_name(&format!("{e:?}"))).as_deref(), Some(error));
            json!({ "text": text, "error": error })
        })
        .collect();
    json!({
        "description": "Keys derived from a master seed (protocol-spec/identity.md).",
        "cases": cases,
        "invalid_recovery": invalid,
    })
}

pub struct Fixture {
    pub author: SigningKey,
    pub genesis: SignedMessage,
    pub chat: SignedMessage,
}

pub fn fixture() -> Fixture {
    let author = SigningKey::from_bytes([0x11; 32]);
    let group = GroupId([0x22; 32]);
    let genesis = UnsignedMessage {
        version: MESSAGE_VERSION,
        group,
        epoch: EpochId::GENESIS,
        author: author.public(),
        seq: 0,
        prev: None,
        parents: vec![],
        lamport: 0,
        minute: 29_400_000,
        body: Body::Genesis(Genesis {
            name: "bastion".into(),
            rules: cairn_proto::group::templates::organizer_member_observer().encode(),
        }),
    }
    .sign(&author);
    let gid = genesis.id();
    let chat = UnsignedMessage {
        version: MESSAGE_VERSION,
        group,
        epoch: EpochId(gid.0),
        author: author.public(),
        seq: 1,
        prev: Some(gid),
        parents: vec![gid],
        lamport: 1,
        minute: 29_400_001,
        body: Body::Chat(Chat { text: "hello, bastion".into(), reply_to: Some(gid) }),
    }
    .sign(&author);
    Fixture { author, genesis, chat }
}

fn resigned(f: &Fixture, edit: impl FnOnce(&mut UnsignedMessage)) -> Vec<u8> {
    let mut m = f.chat.message.clone();
    edit(&mut m);
    m.sign(&f.author).encode()
}

fn message_vectors() -> Value {
    let f = fixture();
    let valid: Vec<Value> = [("genesis", &f.genesis), ("chat", &f.chat)]
        .into_iter()
        .map(|(name, m)| {
            json!({
                "name": name,
                "hex": hex::encode(m.encode()),
                "unsigned_hex": hex::encode(m.message.encode()),
                "id": hex::encode(m.id().0),
                "author": hex::encode(m.message.author.0),
                "seq": m.message.seq,
                "lamport": m.message.lamport,
            })
        })
        .collect();
    let chat = f.chat.encode();
    let mut bad_version = chat.clone();
    bad_version[0] = 2;
    let mut trailing = chat.clone();
    trailing.push(0);
    let mut bad_sig = chat.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    // An over-long varint for seq (1 → 0x81 0x00): same value, other bytes.
    let unsigned = f.chat.message.encode();
    let seq_at = 1 + 33 + 33 + 33;
    assert_eq!(unsigned[seq_at], 1);
    let mut overlong = chat[..seq_at].to_vec();
    overlong.extend_from_slice(&[0x81, 0x00]);
    overlong.extend_from_slice(&chat[seq_at + 1..]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown version", bad_version),
        ("trailing byte", trailing),
        ("truncated", chat[..chat.len() - 1].to_vec()),
        ("non-canonical varint", overlong),
        ("flipped signature bit", bad_sig),
        (
            "parents unsorted",
            resigned(&f, |m| m.parents = vec![MessageId([9; 32]), MessageId([1; 32])]),
        ),
        ("prev missing at seq 1", resigned(&f, |m| m.prev = None)),
        ("prev not a parent", resigned(&f, |m| m.parents = vec![MessageId([3; 32])])),
        (
            "no parents",
            resigned(&f, |m| {
                m.prev = None;
                m.seq = 0;
                m.parents.clear()
            }),
        ),
        (
            "too many parents",
            resigned(&f, |m| {
                m.parents = (0..17u8).map(|i| MessageId([i; 32])).collect();
                m.prev = Some(m.parents[0]);
            }),
        ),
    ];
    let invalid: Vec<Value> = cases
        .into_iter()
        .map(|(name, bytes)| {
            let error = check_message(&bytes).expect_err(name);
            json!({ "name": name, "hex": hex::encode(&bytes), "error": error })
        })
        .collect();
    json!({
        "description": "Inner signed messages (protocol-spec/wire.md, chain.md). `error` is the ChainError variant, with the DecodeError variant after a dot.",
        "valid": valid,
        "invalid": invalid,
    })
}

/// What a relay and then a member check: write signature, then decryption.
pub fn full_check(
    e: &Envelope,
    keys: &EpochKeys,
) -> Result<cairn_proto::wire::Fragment, EnvelopeError> {
    e.verify_write()?;
    e.open(keys)
}

fn envelope_vectors() -> Value {
    let f = fixture();
    let mut rng = XofRng::from_seed(b"cairn envelope vectors");
    let secret = Zeroizing::new([0x33u8; 32]);
    let keys = EpochKeys::derive(&secret);
    let envelopes = seal_message(&mut rng, &keys, &f.chat).expect("seal");
    assert_eq!(envelopes.len(), 1);
    let env = &envelopes[0];
    let fragment = env.open(&keys).expect("open");
    // A correctly write-signed envelope whose content is under another key.
    let mut wrong = EpochKeys::derive(&secret);
    wrong.group_key = AeadKey::from_bytes([0x44; 32]);
    let frag = fragment_message(&mut rng, b"x").expect("split").remove(0);
    let wrong_content = Envelope::seal(&mut rng, &wrong, &frag);
    let mut flipped = *env.as_bytes();
    flipped[100] ^= 1;
    let mut v2 = *env.as_bytes();
    v2[0] = 2;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("short", env.as_bytes()[..1999].to_vec()),
        ("unknown version", v2.to_vec()),
        ("flipped ciphertext bit", flipped.to_vec()),
        ("content under another group key", wrong_content.as_bytes().to_vec()),
    ];
    let invalid: Vec<Value> = cases
        .into_iter()
        .map(|(name, bytes)| {
            let err: EnvelopeError = Envelope::parse(&bytes).and_then(|e| full_check(&e, &keys)).expect_err(name);
            json!({ "name": name, "hex": hex::encode(&bytes), "error": error_name(&format!("{err:?}")) })
        })
        .collect();
    json!({
        "description": "Outer envelopes (protocol-spec/wire.md). Invalid cases give the first error of: parse, verify_write, open. The fragment is the decrypted plaintext; its data is the chat message of message.json.",
        "epoch_secret": hex::encode(*secret),
        "group_key": hex::encode(keys.group_key.as_bytes()),
        "mailbox_public": hex::encode(keys.mailbox_public.0),
        "mailbox_id": hex::encode(keys.mailbox.0),
        "envelope": hex::encode(env.as_bytes()),
        "fragment": hex::encode(fragment.encode()),
        "message": hex::encode(f.chat.encode()),
        "invalid": invalid,
    })
}

fn keyfile_vectors() -> Value {
    let mut rng = XofRng::from_seed(b"cairn keyfile vectors");
    let secrets = ProfileSecrets {
        seed: MasterSeed::from_bytes([0x55; 32]),
        storage_key: AeadKey::from_bytes([0x66; 32]),
    };
    let file = KeyFile::seal(&mut rng, &secrets, b"correct horse battery staple", KdfParams::MIN)
        .expect("seal");
    json!({
        "description": "A profile key file (protocol-spec/identity.md), Argon2id at the minimum accepted cost.",
        "passphrase": "correct horse battery staple",
        "file": hex::encode(&file),
        "seed": hex::encode(secrets.seed.as_bytes()),
        "storage_key": hex::encode(secrets.storage_key.as_bytes()),
        "wrong_passphrase": "correct horse battery stapler",
        "wrong_passphrase_error": "WrongPassphrase",
        "passphrase_bytes": passphrase_cases(),
    })
}

/// Typed passphrases and the bytes Argon2id takes (`identity.md`,
/// "Passphrase bytes"): the first line, in NFC.
fn passphrase_cases() -> Value {
    let cases: Vec<Value> = [
        "correct horse battery staple\n",
        "caf\u{e9}",
        "cafe\u{301}",
        "  two  spaces kept\r\nsecond line ignored",
        "\u{212b}ngstr\u{f6}m",
    ]
    .into_iter()
    .map(|typed| {
        json!({
            "typed_hex": hex::encode(typed.as_bytes()),
            "bytes": hex::encode(&*cairn_proto::identity::passphrase_bytes(typed)),
        })
    })
    .collect();
    Value::Array(cases)
}

/// The 37 bytes a recovery string stands for (version ‖ seed ‖ checksum),
/// read back from its Crockford base32 groups (`identity.md`), so that the
/// vector shows the checksum.
fn crockford_bytes(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars().filter(|c| *c != '-') {
        let value = ALPHABET.find(c).unwrap_or_default() as u32;
        acc = (acc << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The relay's proof of work (`relay.md` §7) for the mailbox of
/// `envelope.json`: the hash of nonce 0, and the first nonce with 16 zero
/// bits with its hash.
fn pow_vectors() -> Value {
    use cairn_proto::relay_proto::pow;
    let keys = EpochKeys::derive(&Zeroizing::new([0x33u8; 32]));
    let mailbox = keys.mailbox;
    let found = pow::solve(&mailbox, 16, 0, 1 << 20).unwrap_or_default();
    json!({
        "description": "Proof of work for a new mailbox (protocol-spec/relay.md §7): hash = BLAKE3-derive_key(context, mailbox ‖ nonce u64 LE); valid when it starts with `difficulty` zero bits.",
        "mailbox": hex::encode(mailbox.0),
        "cases": [
            { "nonce": 0, "hash": hex::encode(pow::hash(&mailbox, 0)) },
            { "nonce": found, "difficulty": 16, "first_valid": true, "hash": hex::encode(pow::hash(&mailbox, found)) },
        ],
    })
}

/// Every vector file: (file name, contents).
pub fn all() -> Vec<(&'static str, Value)> {
    let _ = DecodeError::Incomplete;
    vec![
        ("identity.json", identity_vectors()),
        ("message.json", message_vectors()),
        ("envelope.json", envelope_vectors()),
        ("keyfile.json", keyfile_vectors()),
        ("pow.json", pow_vectors()),
    ]
}

/// The pretty-printed text written for a vector file.
pub fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
