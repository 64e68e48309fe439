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
    // Decoding errors the spec assigns (wire.md, "Decoding, in order"):
    // a varint longer than its type allows; a 32-byte field with another
    // length, whole or cut off; an Option tag other than 00/01; an unknown
    // body index; invalid UTF-8; an empty input; a body limit broken.
    let splice = |at: usize, remove: usize, insert: &[u8]| {
        let mut b = chat[..at].to_vec();
        b.extend_from_slice(insert);
        b.extend_from_slice(&chat[at + remove..]);
        b
    };
    let seq_overflow =
        splice(seq_at, 1, &[0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    let short_group = splice(1, 2, &[0x1f]); // length 31, one byte fewer
    let long_group_cut = [&chat[..1], &[0x21][..], &chat[2..34]].concat(); // length 33, input ends
    let prev_at = seq_at + 1;
    assert_eq!(chat[prev_at], 1, "prev is Some");
    let bad_option = splice(prev_at, 1, &[2]);
    let body_at = {
        // The body index follows parents, lamport and minute.
        let m = &f.chat.message;
        let mut at = prev_at + 1 + 33 + 1 + 33 * m.parents.len();
        at += varint_len(m.lamport) + varint_len(m.minute);
        at
    };
    assert_eq!(chat[body_at], 1, "the chat body index");
    let unknown_body = splice(body_at, 1, &[25]);
    let text_at = body_at + 2; // index, then the text's length
    let bad_utf8 = splice(text_at, 1, &[0xff]);
    let long_name =
        resigned(&f, |m| m.body = Body::Name(cairn_proto::wire::Name { name: "x".repeat(65) }));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("seq varint longer than u64 allows", seq_overflow),
        ("group of 31 bytes", short_group),
        ("group of 33 bytes, input cut inside it", long_group_cut),
        ("option tag 02", bad_option),
        ("unknown body index 25", unknown_body),
        ("invalid UTF-8 in the chat text", bad_utf8),
        ("name over 64 bytes", long_name),
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

/// The length of `n`'s varint.
fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
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
        "description": "Outer envelopes (protocol-spec/wire.md). Invalid cases give the first error of: parse, verify_write, open. The fragment is the decrypted plaintext; its data is the chat message of message.json. The test RNG (rng_seed) gives the 16-byte message tag, then the envelope's 24-byte nonce.",
        "rng_seed": "cairn envelope vectors",
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
        "description": "A profile key file (protocol-spec/identity.md), Argon2id at the minimum accepted cost. The test RNG (rng_seed) gives the 16-byte salt, then the 24-byte nonce.",
        "rng_seed": "cairn keyfile vectors",
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

/// Crockford base32 (lowercase, `identity.md`) of `bytes`: 5-bit groups,
/// most significant first, the last filled with zero bits.
fn crockford_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, String::new());
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
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

/// One sample of every body, indexes 0 to 24, with simple recognisable
/// field values (`n` repeated for a 32-byte field), and bodies that break
/// each limit `Body::check_limits` applies (`group.md`, "Bodies"; the
/// nested `Rekey`, `KeyPackage` and `RoleKeyGrant` of `keys.md`).
fn body_vectors() -> Value {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::epoch::{KeyPackage, KeyPackageId, Rekey, RoleKeyGrant, WRAP_LEN, Wrap};
    use cairn_proto::wire::*;
    let key = |n: u8| PublicKey([n; 32]);
    let id = |n: u8| MessageId([n; 32]);
    let wraps = |n: usize| -> Vec<Wrap> {
        (0..n)
            .map(|i| Wrap { to: KeyPackageId([0x70 + i as u8; 32]), sealed: vec![0x09; WRAP_LEN] })
            .collect()
    };
    let rekey =
        |n: usize| Rekey { replaces: EpochId([5; 32]), wraps: wraps(n), confirmation: [6; 32] };
    let kp = KeyPackage { group: GroupId([4; 32]), x25519: [3; 32] };
    let grant = |role: &str, n: usize| RoleKeyGrant {
        role: role.into(),
        epoch: EpochId([5; 32]),
        wraps: wraps(n),
        confirmation: [6; 32],
    };
    let sealed = |n: usize| Sealed(vec![0xab; n]);
    let valid = vec![
        Body::Genesis(Genesis { name: "bastion".into(), rules: vec![1, 2, 3] }),
        Body::Chat(Chat { text: "hello".into(), reply_to: Some(id(0x11)) }),
        Body::TaskCreate(TaskCreate {
            readable_by: vec!["member".into(), "observer".into()],
            assignees: vec![key(0x21)],
            content: sealed(3),
        }),
        Body::TaskEdit(TaskEdit {
            task: id(0x12),
            readable_by: vec!["member".into()],
            content: sealed(2),
        }),
        Body::TaskAssign(TaskAssign {
            task: id(0x12),
            assign: vec![key(0x21)],
            unassign: vec![key(0x22)],
        }),
        Body::TaskComment(TaskComment { task: id(0x12), reply_to: None, content: sealed(1) }),
        Body::TaskClose(TaskRef { task: id(0x12) }),
        Body::TaskReopen(TaskRef { task: id(0x12) }),
        Body::RuleChange(RuleChange { rules: vec![7, 7] }),
        Body::RoleAssign(RoleAssign { member: key(0x21), role: "member".into() }),
        Body::RoleRevoke(RoleRevoke {
            member: key(0x21),
            role: "member".into(),
            rekey: Some(rekey(2)),
        }),
        Body::MemberAdd(MemberAdd {
            member: key(0x23),
            roles: vec!["member".into()],
            rekey: Some(rekey(1)),
            invite: Some([0x31; 32]),
        }),
        Body::MemberRemove(MemberRemove { member: key(0x22), rekey: None }),
        Body::Leave,
        Body::Rekey(rekey(4)),
        Body::KeyPackage(kp.clone()),
        Body::RelayListChange(RelayListChange { relays: vec!["abc.onion:7447".into()] }),
        Body::RoleKeyGrant(grant("member", 2)),
        Body::Contact(Contact { onion: key(0x24) }),
        Body::Name(Name { name: "bob".into() }),
        Body::KeyRequest(KeyRequest { epoch: EpochId([5; 32]), key_package: kp.clone() }),
        Body::EpochRewrap(EpochRewrap { epoch: EpochId([5; 32]), rekey: rekey(1) }),
        Body::Invitation(Invitation { id: [0x31; 32], content: sealed(4) }),
        Body::JoinPending(JoinPending { invite: [0x31; 32], content: sealed(5) }),
        Body::JoinDeclined(JoinDeclined { invite: [0x31; 32], member: key(0x23) }),
    ];
    let bodies: Vec<Value> = valid
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let bytes = cairn_proto::wire::encode(body);
            assert_eq!(usize::from(bytes[0]), index, "{body:?}");
            assert_eq!(body.check_limits(), Ok(()), "{body:?}");
            json!({ "index": index, "hex": hex::encode(&bytes), "value": body })
        })
        .collect();
    let long = |n: usize| "x".repeat(n);
    let roles = |n: usize| (0..n).map(|i| format!("r{i}")).collect::<Vec<_>>();
    let keys = |n: usize| (0..n).map(|i| key(i as u8)).collect::<Vec<_>>();
    let limits = vec![
        Body::Genesis(Genesis { name: long(MAX_NAME_LEN + 1), rules: vec![] }),
        Body::Genesis(Genesis { name: "g".into(), rules: vec![0; MAX_RULES_BYTES + 1] }),
        Body::Chat(Chat { text: long(MAX_CHAT_LEN + 1), reply_to: None }),
        Body::Name(Name { name: long(MAX_MEMBER_NAME_LEN + 1) }),
        Body::Name(Name { name: "a\u{202e}b".into() }),
        Body::TaskCreate(TaskCreate {
            readable_by: roles(MAX_ROLE_LIST + 1),
            assignees: vec![],
            content: sealed(1),
        }),
        Body::TaskCreate(TaskCreate {
            readable_by: vec![long(MAX_ROLE_LEN + 1)],
            assignees: vec![],
            content: sealed(1),
        }),
        Body::TaskCreate(TaskCreate {
            readable_by: vec![],
            assignees: keys(MAX_MEMBER_LIST + 1),
            content: sealed(1),
        }),
        Body::TaskComment(TaskComment {
            task: id(1),
            reply_to: None,
            content: sealed(MAX_SEALED_LEN + 1),
        }),
        Body::TaskAssign(TaskAssign {
            task: id(1),
            assign: keys(MAX_MEMBER_LIST + 1),
            unassign: vec![],
        }),
        Body::RuleChange(RuleChange { rules: vec![0; MAX_RULES_BYTES + 1] }),
        Body::RelayListChange(RelayListChange {
            relays: (0..MAX_RELAYS + 1).map(|i| i.to_string()).collect(),
        }),
        Body::RelayListChange(RelayListChange { relays: vec![long(MAX_RELAY_LEN + 1)] }),
        Body::Rekey(Rekey { wraps: vec![], ..rekey(1) }),
        Body::Rekey(rekey(3)),
        Body::Rekey(Rekey { wraps: wraps(2).into_iter().rev().collect(), ..rekey(1) }),
        Body::Rekey(Rekey {
            wraps: vec![Wrap { to: KeyPackageId([1; 32]), sealed: vec![0; WRAP_LEN - 1] }],
            ..rekey(1)
        }),
        Body::RoleKeyGrant(grant(&long(MAX_ROLE_LEN + 1), 1)),
        Body::MemberAdd(MemberAdd {
            member: key(1),
            roles: roles(MAX_ROLE_LIST + 1),
            rekey: None,
            invite: None,
        }),
    ];
    let refused: Vec<Value> = limits
        .iter()
        .map(|body| {
            let error = body.check_limits().expect_err("a broken limit");
            json!({ "hex": hex::encode(cairn_proto::wire::encode(body)), "error": error })
        })
        .collect();
    json!({
        "description": "One body of every index (postcard, as in a message's body field), its decoded value (serde's JSON of the Rust value: byte fields as arrays of numbers, an enum as {variant: value} or a unit variant's name), and bodies that break a limit with the BodyLimit reason (protocol-spec/group.md, wire.md, keys.md).",
        "bodies": bodies,
        "limits": refused,
    })
}

/// ZIP-215 edge cases (`crypto.md`, "The one validity rule"): what cairn
/// accepts and refuses, with what a cofactorless (strict, RFC 8032 §5.1.7,
/// libsodium-like) check would say, so that an implementation sees where a
/// strict verifier would split a group. The message signed is `message`
/// with no prefix.
fn zip215_vectors() -> Value {
    use cairn_proto::crypto::{PublicKey, Signature, verify_single};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use ed25519_dalek::{Digest, Sha512};
    let message = b"cairn zip215 vector".to_vec();
    let mut encodings: Vec<[u8; 32]> =
        EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    for (low, top) in [(0xed, 0x7f), (0xed, 0xff), (0xee, 0x7f), (0xee, 0xff), (0xec, 0xff)] {
        let mut e = [0xffu8; 32];
        e[0] = low;
        e[31] = top;
        encodings.push(e);
    }
    let mut one_signed = [0u8; 32];
    one_signed[0] = 1;
    one_signed[31] = 0x80;
    encodings.push(one_signed);
    let k_of = |r: &[u8; 32], a: &[u8; 32]| {
        let mut h = Sha512::new();
        h.update(r);
        h.update(a);
        h.update(&message);
        Scalar::from_hash(h)
    };
    // Cofactorless: [s]B = R + [k]A, with R and A decoded as given.
    let cofactorless = |a: &[u8; 32], sig: &[u8; 64]| -> bool {
        let (Some(ap), Some(rp)) = (
            CompressedEdwardsY(*a).decompress(),
            CompressedEdwardsY(sig[..32].try_into().unwrap_or_default()).decompress(),
        ) else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(
            sig[32..].try_into().unwrap_or_default(),
        )) else {
            return false;
        };
        let r: [u8; 32] = sig[..32].try_into().unwrap_or_default();
        B * s == rp + ap * k_of(&r, a)
    };
    let case = |name: &str, a: [u8; 32], sig: [u8; 64]| {
        let valid = verify_single(&PublicKey(a), b"", &message, &Signature(sig)).is_ok();
        let strong = PublicKey(a).check_strong().is_ok();
        json!({
            "name": name,
            "public": hex::encode(a),
            "signature": hex::encode(sig),
            "valid": valid,
            "strong": strong,
            "cofactorless_valid": cofactorless(&a, &sig),
        })
    };
    let mut cases = Vec::new();
    for a in &encodings {
        for r in &encodings {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(r);
            cases.push(case("small-order A and R, s = 0", *a, sig));
        }
    }
    // An honest key: secret scalar from a fixed 64-byte string.
    let x = Scalar::from_bytes_mod_order_wide(&[0x5a; 64]);
    let nonce = Scalar::from_bytes_mod_order_wide(&[0x3c; 64]);
    let sign = |a_point: curve25519_dalek::EdwardsPoint,
                r_point: curve25519_dalek::EdwardsPoint| {
        let (a, r) = (a_point.compress().to_bytes(), r_point.compress().to_bytes());
        let s = nonce + k_of(&r, &a) * x;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(s.as_bytes());
        (a, sig)
    };
    let torsion = EIGHT_TORSION[1];
    let (a, sig) = sign(B * x, B * nonce);
    cases.push(case("honest", a, sig));
    let mut plus_l = sig;
    // s + L as a little-endian 256-bit sum.
    let l: [u8; 32] = *(-Scalar::ONE).as_bytes(); // L - 1
    let mut carry = 1u16; // + 1 makes L
    for i in 0..32 {
        let sum = u16::from(plus_l[32 + i]) + u16::from(l[i]) + carry;
        plus_l[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    cases.push(case("honest with s + L (not canonical)", a, plus_l));
    let (a, sig) = sign(B * x + torsion, B * nonce);
    cases.push(case("mixed-order public key (A + T8)", a, sig));
    let (a, sig) = sign(B * x, B * nonce + torsion);
    cases.push(case("R with a torsion component (R + T8)", a, sig));
    json!({
        "description": "ZIP-215 (protocol-spec/crypto.md): valid is cairn's verdict, strong is the author/mailbox key check, cofactorless_valid what a strict verifier computing [s]B = R + [k]A would say. Signatures are over `message` with no prefix.",
        "message": hex::encode(&message),
        "small_order_encodings": encodings.iter().map(hex::encode).collect::<Vec<_>>(),
        "cases": cases,
    })
}

/// The deterministic test RNG (`crypto.md`, "Randomness"): its first bytes
/// for a seed, and integers drawn after them.
fn rng_vectors() -> Value {
    use rand_core::Rng as _;
    let seed = "cairn rng vector";
    let mut rng = XofRng::from_seed(seed.as_bytes());
    let mut first = [0u8; 64];
    rng.fill_bytes(&mut first);
    let u32_then = rng.next_u32();
    let u64_then = rng.next_u64();
    json!({
        "description": "XofRng: the BLAKE3 XOF of derive_key context \"cairn 2026 deterministic test rng v1\" over the seed; fill_bytes takes the next bytes, next_u32/next_u64 the next 4/8 as little-endian (protocol-spec/crypto.md).",
        "seed": seed,
        "first_64_bytes": hex::encode(first),
        "then_next_u32": u32_then,
        "then_next_u64": u64_then,
    })
}

/// Sealing to an x25519 public key (`crypto.md`): a box made with the test
/// RNG (32 bytes of ephemeral secret, then the 24-byte nonce), its opening,
/// and the refusal of a low-order recipient.
fn seal_vectors() -> Value {
    use cairn_proto::crypto::{X25519Public, X25519Secret, open_from, seal_to};
    let seed = "cairn seal vector";
    let mut rng = XofRng::from_seed(seed.as_bytes());
    let recipient = X25519Secret::from_bytes([0x77; 32]);
    let payload = [0x33u8; 32];
    let aad = b"cairn seal vector aad";
    let sealed = seal_to(&mut rng, &recipient.public(), &payload, aad).expect("seal");
    assert_eq!(open_from(&recipient, &sealed, aad).expect("open"), payload);
    let refused = seal_to(&mut rng, &X25519Public([0; 32]), &payload, aad).expect_err("low order");
    json!({
        "description": "seal_to / open_from (protocol-spec/crypto.md, \"Sealing to an x25519 public key\"); the RNG (seed below) gives the ephemeral secret, then the nonce.",
        "rng_seed": seed,
        "recipient_secret": hex::encode([0x77u8; 32]),
        "recipient_public": hex::encode(recipient.public().0),
        "payload": hex::encode(payload),
        "aad": hex::encode(aad),
        "sealed": hex::encode(&sealed),
        "low_order_recipient": hex::encode([0u8; 32]),
        "low_order_error": error_name(&format!("{refused:?}")),
    })
}

/// The key schedule as known answers (`keys.md`): key packages and their
/// ids, a rekey to three of them (padded to four wraps with a dummy) with
/// its confirmation, the role-key ratchet, a role-key grant, and content
/// sealed to two roles. Secrets are given so that another implementation
/// opens every wrap and recomputes every hash.
fn key_vectors() -> Value {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::epoch::{
        EpochSecret, KeyPackage, KeyPackageId, KeyPackageSecret, Rekey, RoleKey, RoleKeyGrant,
        SealedContent,
    };
    let seed = "cairn keys vector";
    let mut rng = XofRng::from_seed(seed.as_bytes());
    let group = GroupId([0x47; 32]);
    let replaces = EpochId([0x50; 32]);
    let members: Vec<(PublicKey, KeyPackageSecret, KeyPackage)> = (0..3u8)
        .map(|i| {
            let secret = KeyPackageSecret::from_bytes([0x61 + i; 32]);
            let kp = KeyPackage { group, x25519: secret.public() };
            (PublicKey([0x21 + i; 32]), secret, kp)
        })
        .collect();
    let ids: Vec<KeyPackageId> =
        members.iter().map(|(o, _, kp)| KeyPackageId::owned_by(o, kp)).collect();
    let recipients: Vec<(KeyPackageId, &KeyPackage)> =
        ids.iter().copied().zip(members.iter().map(|m| &m.2)).collect();
    let next = EpochSecret::from_bytes([0x33; 32]);
    let rekey = Rekey::build(&mut rng, &group, replaces, &next, &recipients).expect("rekey");
    for (id, (_, secret, _)) in ids.iter().zip(&members) {
        assert_eq!(rekey.open(&group, id, secret).expect("opens").as_bytes(), next.as_bytes());
    }
    let role = "member";
    let prev_key = RoleKey::from_bytes([0x41; 32]);
    let next_key = prev_key.ratchet(&next, role);
    let epoch = EpochId([0x52; 32]);
    let grant = RoleKeyGrant::build(&mut rng, &group, role, epoch, &next_key, &recipients[..1])
        .expect("grant");
    let binding = [0x5b; 32];
    let observer_key = RoleKey::from_bytes([0x42; 32]);
    let plaintext = b"dig a new well";
    let sealed = SealedContent::seal(
        &mut rng,
        &group,
        &binding,
        epoch,
        plaintext,
        &[(role, &next_key), ("observer", &observer_key)],
    )
    .expect("seal");
    json!({
        "description": "The key schedule (protocol-spec/keys.md) as known answers. rng_seed drew, in order: the rekey's wraps, the grant's wraps, the sealed content. Rekey, RoleKeyGrant and SealedContent are postcard (group.md byte tables, keys.md).",
        "rng_seed": seed,
        "group": hex::encode(group.0),
        "key_packages": members.iter().zip(&ids).map(|((owner, secret, kp), id)| json!({
            "owner": hex::encode(owner.0),
            "secret": hex::encode(secret.as_bytes()),
            "x25519": hex::encode(kp.x25519),
            "id": hex::encode(id.0),
        })).collect::<Vec<_>>(),
        "rekey": {
            "replaces": hex::encode(replaces.0),
            "epoch_secret": hex::encode(next.as_bytes()),
            "hex": hex::encode(cairn_proto::wire::encode(&rekey)),
            "confirmation": hex::encode(rekey.confirmation),
            "wraps": rekey.wraps.len(),
        },
        "ratchet": {
            "role": role,
            "previous_key": hex::encode(prev_key.as_bytes()),
            "epoch_secret": hex::encode(next.as_bytes()),
            "next_key": hex::encode(next_key.as_bytes()),
        },
        "grant": {
            "epoch": hex::encode(epoch.0),
            "hex": hex::encode(cairn_proto::wire::encode(&grant)),
            "key": hex::encode(next_key.as_bytes()),
            "to_key_package": 0,
        },
        "sealed_content": {
            "binding": hex::encode(binding),
            "epoch": hex::encode(epoch.0),
            "role_keys": { role: hex::encode(next_key.as_bytes()), "observer": hex::encode(observer_key.as_bytes()) },
            "hex": hex::encode(cairn_proto::wire::encode(&sealed)),
            "plaintext": hex::encode(plaintext),
        },
    })
}

/// A message of three fragments (`wire.md`, "Fragments"): the fragments'
/// plaintexts in order and the message they reassemble to; fragments each
/// `Fragment::decode` refuses, with the error; and a conflicting fragment.
fn fragment_vectors() -> Value {
    use cairn_proto::wire::{Fragment, FragmentError, Reassembler};
    let f = fixture();
    let seed = "cairn fragment vectors";
    let mut rng = XofRng::from_seed(seed.as_bytes());
    let long =
        resigned(&f, |m| m.body = Body::Chat(Chat { text: "well ".repeat(800), reply_to: None }));
    let fragments = fragment_message(&mut rng, &long).expect("split");
    assert_eq!(fragments.len(), 3);
    let mut r = Reassembler::new();
    let mut whole = None;
    for frag in fragments.iter().rev() {
        whole = r.add(frag.clone()).expect("fragment");
    }
    assert_eq!(whole.as_deref(), Some(&long[..]));
    let good = fragments[0].encode();
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        edit(&mut b);
        b
    };
    let last = fragments[2].encode();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("one byte short", good[..good.len() - 1].to_vec()),
        ("count 0", with(&|b| b[17] = 0)),
        ("count 65", with(&|b| b[17] = 65)),
        ("index not below count", with(&|b| b[16] = 3)),
        ("a full fragment's length below 1843", with(&|b| b[18] = 0x32)),
        ("length 0", {
            let mut b = last.clone();
            b[18] = 0;
            b[19] = 0;
            b
        }),
        ("padding not zero", {
            let mut b = last.clone();
            let n = b.len() - 1;
            b[n] = 1;
            b
        }),
    ];
    let invalid: Vec<Value> = cases
        .into_iter()
        .map(|(name, bytes)| {
            let err: FragmentError = Fragment::decode(&bytes).expect_err(name);
            json!({ "name": name, "hex": hex::encode(&bytes), "error": error_name(&format!("{err:?}")) })
        })
        .collect();
    // The same tag and index as fragment 1, other data: refused once
    // fragment 1 is held.
    let mut other = fragments[1].clone();
    other.data[0] ^= 1;
    let mut r = Reassembler::new();
    r.add(fragments[1].clone()).expect("first");
    let conflict = r.add(other.clone()).expect_err("conflict");
    json!({
        "description": "Fragments (protocol-spec/wire.md): fragment plaintexts (what an envelope decrypts to). rng_seed gave the 16-byte message tag. `message` is a valid signed message of message.json's author.",
        "rng_seed": seed,
        "message": hex::encode(&long),
        "fragments": fragments.iter().map(|f| hex::encode(f.encode())).collect::<Vec<_>>(),
        "invalid": invalid,
        "conflict": {
            "held": hex::encode(fragments[1].encode()),
            "then": hex::encode(other.encode()),
            "error": error_name(&format!("{conflict:?}")),
        },
    })
}

/// Invite strings and join proofs (`peer.md`, "Invite string",
/// "Redeeming"): an invite, its string, id, the proof and short code for a
/// session binding, and strings that must be refused.
fn invite_vectors() -> Value {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::invite::{Invite, InviteError, PREFIX, short_code};
    let invite = Invite {
        group: GroupId([0x47; 32]),
        genesis: MessageId([0x48; 32]),
        service: PublicKey([0x49; 32]),
        secret: [0x4a; 32],
        expires_at: 1_800_000_000,
        hint: "bastion".into(),
        loopback_port: None,
        answerers: vec![PublicKey([0x4b; 32]), PublicKey([0x4c; 32])],
    };
    let text = invite.to_text().to_string();
    let now = 1_700_000_000;
    assert_eq!(Invite::parse(&text, now).expect("parses").id(), invite.id());
    let binding = [0x62u8; 32];
    let mut typo: Vec<char> = text.chars().collect();
    let at = PREFIX.len() + 10;
    typo[at] = if typo[at] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    // The same body under version 1, with a valid checksum.
    let v1 = {
        let body = cairn_proto::wire::encode(&invite);
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&body);
        let sum =
            cairn_proto::crypto::derive_key(cairn_proto::crypto::context::INVITE_CHECKSUM, &bytes);
        bytes.extend_from_slice(&sum[..4]);
        format!("{PREFIX}{}", crockford_text(&bytes))
    };
    let cases = [
        ("not an invite", "cairn-invite2-abc".to_owned(), now),
        ("a one-character typo", typo, now),
        ("version 1", v1, now),
        ("expired", text.clone(), invite.expires_at + 1),
    ];
    let invalid: Vec<Value> = cases
        .into_iter()
        .map(|(name, text, now)| {
            let err: InviteError = Invite::parse(&text, now).expect_err(name);
            json!({ "name": name, "text": text, "now": now, "error": error_name(&format!("{err:?}")) })
        })
        .collect();
    json!({
        "description": "Invite strings (protocol-spec/peer.md): the fields, the string, the invitation id, and for a session binding the JoinRequest proof and the short code; strings parsing refuses at `now`.",
        "invite": {
            "group": hex::encode(invite.group.0),
            "genesis": hex::encode(invite.genesis.0),
            "service": hex::encode(invite.service.0),
            "secret": hex::encode(invite.secret),
            "expires_at": invite.expires_at,
            "hint": invite.hint,
            "loopback_port": invite.loopback_port,
            "answerers": invite.answerers.iter().map(|a| hex::encode(a.0)).collect::<Vec<_>>(),
        },
        "text": text,
        "now": now,
        "id": hex::encode(invite.id()),
        "binding": hex::encode(binding),
        "proof": hex::encode(invite.proof(&binding)),
        "short_code": short_code(&binding),
        "invalid": invalid,
    })
}

/// A relay session as frames both ways (`relay.md` §1–§3): the client's
/// hello, subscribe, post, fetch and ping; the relay's welcome, replies, a
/// push and a connection error. Each frame with its decoded value.
fn relay_vectors() -> Value {
    use cairn_proto::relay_proto::{
        ClientHello, ErrorCode, ErrorReply, Item, MAGIC, Page, RelayLimits, Request, Response,
        ServerHello, SubscribeFrom, frame,
    };
    let f = fixture();
    let mut rng = XofRng::from_seed(b"cairn envelope vectors");
    let keys = EpochKeys::derive(&Zeroizing::new([0x33u8; 32]));
    let envelope = seal_message(&mut rng, &keys, &f.chat).expect("seal").remove(0);
    let env = envelope.as_bytes().to_vec();
    let mailbox = keys.mailbox.0;
    let item = Item { cursor: 1, envelope: env.clone() };
    let hello = ClientHello { magic: MAGIC, versions: vec![1] };
    let client: Vec<(Vec<u8>, Value)> =
        vec![(hello.encode(), serde_json::to_value(&hello).unwrap_or_default())]
            .into_iter()
            .chain(
                [
                    Request::Subscribe { id: 1, from: vec![SubscribeFrom { mailbox, after: 0 }] },
                    Request::Post { id: 2, envelope: env.clone(), pow: None },
                    Request::Fetch { id: 3, mailbox, after: 0, limit: 10 },
                    Request::Ping { id: 4 },
                    Request::Post { id: 5, envelope: env.clone(), pow: Some(42074) },
                ]
                .into_iter()
                .map(|r| (r.encode(), serde_json::to_value(&r).unwrap_or_default())),
            )
            .collect();
    let welcome = ServerHello::Welcome { version: 1, limits: RelayLimits::default() };
    let server: Vec<(Vec<u8>, Value)> =
        vec![(welcome.encode(), serde_json::to_value(&welcome).unwrap_or_default())]
            .into_iter()
            .chain(
                [
                    Response::Subscribed { id: 1, heads: vec![0] },
                    Response::Posted { id: 2, cursor: 1, duplicate: false },
                    Response::Push(item.clone()),
                    Response::Page(Page { id: 3, head: 1, items: vec![item] }),
                    Response::Pong { id: 4 },
                    Response::Posted { id: 5, cursor: 1, duplicate: true },
                    Response::Error(ErrorReply::new(None, ErrorCode::Malformed, 0)),
                ]
                .into_iter()
                .map(|r| (r.encode(), serde_json::to_value(&r).unwrap_or_default())),
            )
            .collect();
    let frames = |list: Vec<(Vec<u8>, Value)>| -> Vec<Value> {
        list.into_iter()
            .map(|(payload, value)| json!({ "frame": hex::encode(frame::encode(&payload)), "value": value }))
            .collect()
    };
    let refused =
        ServerHello::Refused { code: ErrorCode::UnsupportedVersion.number(), supported: vec![1] };
    json!({
        "description": "A relay session (protocol-spec/relay.md): frames (u32 LE length ‖ payload) from the client and from the relay, in order, each with its decoded value (serde's JSON: byte fields as arrays of numbers). The envelope is envelope.json's; the posts are to its mailbox.",
        "client": frames(client),
        "server": frames(server),
        "refused_hello": { "frame": hex::encode(frame::encode(&refused.encode())), "value": serde_json::to_value(&refused).unwrap_or_default() },
    })
}

/// A peer session (`peer.md` §2–§4, "Worked example"): Alice (seed 01…01)
/// dials Bob (02…02); the test RNG gives Alice's ephemeral secret, then
/// Bob's. Every frame on the wire in order: hello, welcome, the two auth
/// frames, then Alice's `Heads` and Bob's `Deliver`, with the plaintext
/// message each session frame carries.
fn peer_vectors() -> Value {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::peer_proto::{Head, PeerMessage, PeerSession, PeerTarget};
    let seed = "peer vector";
    let mut rng = XofRng::from_seed(seed.as_bytes());
    let (alice, bob) = (
        Identity::from_seed(MasterSeed::from_bytes([1; 32])),
        Identity::from_seed(MasterSeed::from_bytes([2; 32])),
    );
    let mut a = PeerSession::initiator(
        &mut rng,
        &alice,
        PeerTarget { onion: bob.onion_address(), identity: None },
    );
    let mut b = PeerSession::responder(&mut rng, &bob);
    let mut frames: Vec<(&str, Vec<u8>)> = Vec::new();
    let step = |a: &mut PeerSession, b: &mut PeerSession, frames: &mut Vec<(&str, Vec<u8>)>| loop {
        if let Some(f) = a.poll_output() {
            b.handle_bytes(&f);
            frames.push(("alice", f));
        } else if let Some(f) = b.poll_output() {
            a.handle_bytes(&f);
            frames.push(("bob", f));
        } else {
            return;
        }
    };
    step(&mut a, &mut b, &mut frames);
    assert!(a.is_open() && b.is_open());
    let heads = PeerMessage::Heads {
        group: GroupId([5; 32]),
        heads: vec![Head { author: PublicKey([3; 32]), seq: 7, id: MessageId([4; 32]) }],
    };
    let deliver = PeerMessage::Deliver { group: GroupId([5; 32]), message: vec![1; 8] };
    a.send(&heads).expect("send");
    b.send(&deliver).expect("send");
    step(&mut a, &mut b, &mut frames);
    assert_eq!(frames.len(), 6);
    json!({
        "description": "A peer session (protocol-spec/peer.md): frames as sent, in order. rng_seed gives Alice's ephemeral secret (32 bytes), then Bob's. Frames 4 and 5 are session frames carrying the postcard PeerMessage `plaintext`.",
        "rng_seed": seed,
        "initiator_seed": hex::encode([1u8; 32]),
        "responder_seed": hex::encode([2u8; 32]),
        "frames": frames.iter().map(|(from, f)| json!({ "from": from, "hex": hex::encode(f) })).collect::<Vec<_>>(),
        "session_plaintexts": [hex::encode(heads.encode()), hex::encode(deliver.encode())],
    })
}

/// Every peer message (`peer.md` §4, §7): its postcard bytes (a session
/// frame's plaintext) and its value, including the resync exchange and the
/// join messages.
fn peer_message_vectors() -> Value {
    use cairn_proto::crypto::PublicKey;
    use cairn_proto::epoch::KeyPackage;
    use cairn_proto::peer_proto::{Head, PeerMessage};
    let group = GroupId([5; 32]);
    let f = fixture();
    let messages = vec![
        PeerMessage::ResyncRequest {
            group,
            have: vec![(PublicKey([3; 32]), 7), (PublicKey([6; 32]), 0)],
            limit: 64,
        },
        PeerMessage::ResyncItem { message: f.chat.encode() },
        PeerMessage::ResyncDone { more: true },
        PeerMessage::Heads {
            group,
            heads: vec![Head { author: PublicKey([3; 32]), seq: 7, id: MessageId([4; 32]) }],
        },
        PeerMessage::Deliver { group, message: f.genesis.encode() },
        PeerMessage::Error { code: 5, info: 0 },
        PeerMessage::Close,
        PeerMessage::JoinRequest {
            proof: [0x70; 32],
            key_package: KeyPackage { group, x25519: [0x71; 32] },
            name: "dana".into(),
        },
        PeerMessage::Welcome {
            group,
            genesis: MessageId([0x48; 32]),
            admitted_by: MessageId([0x49; 32]),
            inviter_onion: PublicKey([0x4a; 32]),
        },
        PeerMessage::GroupsRequest,
        PeerMessage::Groups { groups: vec![(group, MessageId([0x48; 32]))] },
    ];
    let cases: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let bytes = m.encode();
            assert_eq!(usize::from(bytes[0]), index);
            json!({ "index": index, "hex": hex::encode(&bytes), "value": m })
        })
        .collect();
    json!({
        "description": "Every peer message (protocol-spec/peer.md §4, §7), index 0-10: postcard bytes (a session frame's plaintext) and the value (serde's JSON). A resync exchange is ResyncRequest, then ResyncItem per message, then ResyncDone.",
        "messages": cases,
    })
}

/// How `chain.json` names a chain event.
pub fn chain_event_name(e: &cairn_proto::chain::ChainEvent) -> String {
    use cairn_proto::chain::ChainEvent;
    match e {
        ChainEvent::Accepted(entry) => format!("accepted {}", hex::encode(entry.id().0)),
        ChainEvent::Duplicate(_) => "duplicate".into(),
        ChainEvent::Gap { missing, .. } => format!("gap {}..={}", missing.start(), missing.end()),
        ChainEvent::WaitingForParents { missing, .. } => format!("waiting {}", missing.len()),
        ChainEvent::Equivocation(_) => "equivocation".into(),
        ChainEvent::Rejected { error, .. } => {
            format!("rejected {}", error_name(&format!("{error:?}")))
        }
        other => format!("{other:?}"),
    }
}

/// The contextual chain rules and equivocation (`chain.md`, "Acceptance",
/// "Equivocation"): messages ingested in order into one chain, each with
/// the epoch that opened it and the events it gave; a proof and proofs a
/// third party refuses.
fn chain_vectors() -> Value {
    use cairn_proto::chain::{ChainEvent, ChainState, EquivocationProof};
    use cairn_proto::wire::SignedMessage;
    let f = fixture();
    let group = f.genesis.message.group;
    let g = f.genesis.id();
    let epoch = EpochId(g.0);
    let other_key = SigningKey::from_bytes([0x12; 32]);
    let msg = |key: &SigningKey,
               seq: u64,
               prev: Option<MessageId>,
               parents: Vec<MessageId>,
               lamport: u64,
               text: &str| {
        let mut parents = parents;
        parents.sort();
        UnsignedMessage {
            version: MESSAGE_VERSION,
            group,
            epoch,
            author: key.public(),
            seq,
            prev,
            parents,
            lamport,
            minute: 29_400_002,
            body: Body::Chat(Chat { text: text.into(), reply_to: None }),
        }
        .sign(key)
    };
    let a = &f.author;
    let c1 = msg(a, 1, Some(g), vec![g], 1, "one");
    let mut other_group = c1.message.clone();
    other_group.group = GroupId([0x33; 32]);
    let other_group = other_group.sign(a);
    let c2 = msg(a, 2, Some(c1.id()), vec![c1.id()], 2, "two");
    let bad_lamport = msg(a, 3, Some(c2.id()), vec![c2.id()], 5, "late clock");
    let b0 = msg(&other_key, 0, None, vec![g], 1, "bob");
    let broken = msg(a, 3, Some(b0.id()), vec![b0.id(), c2.id()], 3, "wrong prev");
    let x = msg(a, 3, Some(c2.id()), vec![c2.id()], 3, "three");
    let y = msg(a, 3, Some(c2.id()), vec![c2.id()], 3, "three, again");
    let z = msg(a, 4, Some(x.id()), vec![x.id()], 4, "four");
    let steps: Vec<(&SignedMessage, EpochId)> = vec![
        (&f.genesis, epoch),
        (&f.genesis, epoch),
        (&other_group, epoch),
        (&c1, EpochId([0x99; 32])),
        (&c2, epoch),
        (&c1, epoch),
        (&bad_lamport, epoch),
        (&b0, epoch),
        (&broken, epoch),
        (&x, epoch),
        (&y, epoch),
        (&z, epoch),
    ];
    let mut chain = ChainState::new(group);
    let mut proof = None;
    let name = chain_event_name;
    let mut recorded = Vec::new();
    for (m, opened) in steps {
        let entry = Entry::decode(m.encode()).and_then(Entry::verify).expect("verifies");
        let events = chain.ingest(entry, opened);
        for e in &events {
            if let ChainEvent::Equivocation(p) = e {
                proof = Some(p.encode());
            }
        }
        recorded.push(json!({
            "hex": hex::encode(m.encode()),
            "opened": hex::encode(opened.0),
            "events": events.iter().map(name).collect::<Vec<_>>(),
        }));
    }
    let proof = proof.expect("an equivocation");
    EquivocationProof::decode(&proof).expect("decodes").verify().expect("verifies");
    let (first, second) = if x.id() < y.id() { (&x, &y) } else { (&y, &x) };
    let refused = |name: &str, bytes: Vec<u8>| {
        let err = EquivocationProof::decode(&bytes).and_then(|p| p.verify()).expect_err(name);
        json!({ "name": name, "hex": hex::encode(&bytes), "error": error_name(&format!("{err:?}")) })
    };
    let bad_proofs = vec![
        refused("not ordered", [second.encode(), first.encode()].concat()),
        refused("the same message twice", [x.encode(), x.encode()].concat()),
        refused("not one position", [c2.encode(), x.encode()].concat()),
    ];
    json!({
        "description": "The chain's contextual rules (protocol-spec/chain.md): each step ingests `hex` into one chain of `group`, opened under `opened`, and gives `events` in order (accepted ID, duplicate, gap FROM..=TO, waiting N (parents missing), equivocation, rejected RULE). `proof` is the equivocation found; `bad_proofs` fail verify with the error named.",
        "group": hex::encode(group.0),
        "steps": recorded,
        "proof": hex::encode(&proof),
        "bad_proofs": bad_proofs,
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
        ("bodies.json", body_vectors()),
        ("zip215.json", zip215_vectors()),
        ("rng.json", rng_vectors()),
        ("seal.json", seal_vectors()),
        ("keys.json", key_vectors()),
        ("fragments.json", fragment_vectors()),
        ("invite.json", invite_vectors()),
        ("relay.json", relay_vectors()),
        ("peer.json", peer_vectors()),
        ("chain.json", chain_vectors()),
        ("peer_messages.json", peer_message_vectors()),
    ]
}

/// The pretty-printed text written for a vector file.
pub fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
