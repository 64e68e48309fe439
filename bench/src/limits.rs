//! The physical limits, measured in the same run as the figures: raw
//! ed25519 sign and verify (single, and batched with the history's key
//! mix), raw XChaCha20-Poly1305 on an envelope-sized buffer, raw x25519,
//! raw durable redb batch writes.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_proto::crypto::{self, AeadKey, SigningKey, XofRng};
use cairn_proto::wire::ENVELOPE_LEN;
use redb::{Database, TableDefinition};

/// Runs `f` (which performs `per_call` operations) for about `budget`
/// after one warm-up call; returns operations per second.
pub(crate) fn rate(budget: Duration, per_call: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut calls = 0usize;
    while calls == 0 || start.elapsed() < budget {
        f();
        calls += 1;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

/// The limits the figures are divided by (operations per second).
pub(crate) struct Limits {
    /// ed25519 verify, one signature at a time, messages of the history's
    /// mean size.
    pub(crate) verify_single: f64,
    /// ed25519 `verify_batch` of 64, signatures by `writers` keys.
    pub(crate) verify_batch: f64,
    /// ed25519 sign of a message of the history's mean size.
    pub(crate) sign: f64,
    /// XChaCha20-Poly1305 seal of one envelope's payload.
    pub(crate) seal: f64,
    /// XChaCha20-Poly1305 open of one envelope's payload.
    pub(crate) open: f64,
    /// x25519 Diffie-Hellman (wrapping an epoch key to one member).
    pub(crate) x25519: f64,
}

/// The AEAD payload of one envelope (its whole length, a slight overestimate).
const PAYLOAD: usize = ENVELOPE_LEN;

impl Limits {
    /// Measures every limit for messages of `msg_len` bytes signed by
    /// `writers` keys.
    pub(crate) fn measure(budget: Duration, msg_len: usize, writers: usize) -> Self {
        let mut rng = XofRng::from_seed(b"cairn-bench limits");
        let msg = vec![7u8; msg_len];
        let keys: Vec<SigningKey> =
            (0..writers.max(1)).map(|_| SigningKey::random(&mut rng)).collect();
        let pubs: Vec<_> = keys.iter().map(SigningKey::public).collect();
        let sigs: Vec<_> = keys.iter().map(|k| k.sign(b"p", &msg)).collect();
        let verify_single = rate(budget, 1, || {
            crypto::verify_single(&pubs[0], b"p", &msg, &sigs[0]).expect("verifies");
        });
        let n = keys.len();
        let mix: Vec<_> = (0..64).map(|i| (&pubs[i % n], msg.as_slice(), &sigs[i % n])).collect();
        let verify_batch = rate(budget, 64, || {
            assert!(crypto::verify_batch(&mut rng, b"p", &mix).iter().all(|v| *v));
        });
        let sign = rate(budget, 1, || {
            std::hint::black_box(keys[0].sign(b"p", &msg));
        });
        let aead = AeadKey::from_bytes([3; 32]);
        let payload = vec![0u8; PAYLOAD];
        let seal = rate(budget, 1, || {
            std::hint::black_box(aead.seal(&mut rng, &payload, b"ad"));
        });
        let sealed = aead.seal(&mut rng, &payload, b"ad");
        let open = rate(budget, 1, || {
            aead.open(&sealed, b"ad").expect("opens");
        });
        let secret = x25519_dalek::StaticSecret::from([5u8; 32]);
        let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([6u8; 32]));
        let x25519 = rate(budget, 1, || {
            std::hint::black_box(secret.diffie_hellman(&public));
        });
        Limits { verify_single, verify_batch, sign, seal, open, x25519 }
    }
}

const RAW: TableDefinition<u64, &[u8]> = TableDefinition::new("raw");

/// Raw durable redb write: one transaction of `rows` rows of `row_len`
/// bytes into a fresh database in `dir`, committed. Returns rows per second.
pub(crate) fn redb_batch_write(dir: &Path, rows: usize, row_len: usize) -> f64 {
    let path = dir.join(format!("raw-{rows}.redb"));
    let db = Database::builder().create(&path).expect("redb database");
    let value = vec![7u8; row_len];
    let start = Instant::now();
    let txn = db.begin_write().expect("write transaction");
    {
        let mut table = txn.open_table(RAW).expect("table");
        for i in 0..rows as u64 {
            table.insert(i, value.as_slice()).expect("insert");
        }
    }
    txn.commit().expect("commit");
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    drop(db);
    let _ = std::fs::remove_file(&path);
    rate
}
