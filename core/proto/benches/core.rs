//! Throughput of the protocol core beside the physical limits measured in
//! the same run: raw signature verification, raw AEAD.
//!
//! `cargo bench -p cairn-proto --bench core` prints one line per figure and
//! the ratios. Figures vary up to 2x between runs on shared hosts; compare
//! the ratios, which are measured in one run.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    missing_docs
)]

use std::time::{Duration, Instant};

use cairn_proto::chain::{ChainState, Entry, verify_batch};
use cairn_proto::crypto::{self, AeadKey, SigningKey, XofRng};
use cairn_proto::wire::{
    Body, Chat, EpochId, EpochKeys, Genesis, GroupId, Reassembler, SignedMessage, seal_message,
};
use zeroize::Zeroizing;

/// Runs `f` (which performs `per_call` operations) for about `budget`, and
/// returns operations per second.
fn rate(budget: Duration, per_call: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < budget {
        f();
        calls += 1;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

fn line(name: &str, per_sec: f64) {
    println!("{name:<58} {per_sec:>12.0} /s");
}

struct History {
    entries: Vec<SignedMessage>,
    epoch: EpochId,
}

/// A group history of `n` messages from `authors` writers, ~1 KiB chat each.
fn history(n: usize, authors: usize) -> History {
    let mut rng = XofRng::from_seed(b"bench history");
    let keys: Vec<SigningKey> = (0..authors).map(|_| SigningKey::random(&mut rng)).collect();
    let mut chain = ChainState::new(GroupId([1; 32]));
    let body = Body::Genesis(Genesis { name: "bench".into(), rules: vec![] });
    let genesis = chain.draft(&keys[0].public(), EpochId::GENESIS, 0, body).sign(&keys[0]);
    let epoch = EpochId(genesis.id().0);
    let mut entries = vec![genesis.clone()];
    chain.ingest(Entry::from_signed(genesis).verify().unwrap(), epoch);
    for i in 1..n {
        let key = &keys[i % authors];
        let text = format!("{i:08} {}", "x".repeat(1000));
        let body = Body::Chat(Chat { text, reply_to: None });
        let m = chain.draft(&key.public(), epoch, 1, body).sign(key);
        chain.ingest(Entry::from_signed(m.clone()).verify().unwrap(), epoch);
        entries.push(m);
    }
    History { entries, epoch }
}

fn raw_limits(budget: Duration) -> (f64, f64, f64) {
    let mut rng = XofRng::from_seed(b"bench raw");
    let key = SigningKey::random(&mut rng);
    let msg = vec![7u8; 1024];
    let sig = key.sign(b"p", &msg);
    let public = key.public();
    let single = rate(budget, 1, || {
        crypto::verify_single(&public, b"p", &msg, &sig).unwrap();
    });
    line("raw ed25519 verify, single (ed25519-consensus, 1 KiB)", single);
    let keys: Vec<SigningKey> = (0..64).map(|_| SigningKey::random(&mut rng)).collect();
    let pubs: Vec<_> = keys.iter().map(SigningKey::public).collect();
    let sigs: Vec<_> = keys.iter().map(|k| k.sign(b"p", &msg)).collect();
    let items: Vec<_> = (0..64).map(|i| (&pubs[i], msg.as_slice(), &sigs[i])).collect();
    let batch = rate(budget, 64, || {
        assert!(crypto::verify_batch(&mut rng, b"p", &items).iter().all(|v| *v));
    });
    line("raw ed25519 verify, batch of 64, 64 keys (ed25519-consensus)", batch);
    // The pipeline below has 8 authors; ed25519-consensus coalesces terms per
    // key, so its limit is a batch with the same key mix.
    let mix: Vec<_> = (0..64).map(|i| (&pubs[i % 8], msg.as_slice(), &sigs[i % 8])).collect();
    let batch = rate(budget, 64, || {
        assert!(crypto::verify_batch(&mut rng, b"p", &mix).iter().all(|v| *v));
    });
    line("raw ed25519 verify, batch of 64, 8 keys (ed25519-consensus)", batch);
    let aead = AeadKey::from_bytes([3; 32]);
    let sealed = aead.seal(&mut rng, &[0u8; 1863], b"ad");
    let open = rate(budget, 1, || {
        aead.open(&sealed, b"ad").unwrap();
    });
    line("raw XChaCha20-Poly1305 open, 1863 B", open);
    (single, batch, open)
}

fn dalek_comparison(budget: Duration) {
    use ed25519_dalek::{Signer, Verifier};
    let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let msg = vec![7u8; 1024];
    let sig = sk.sign(&msg);
    let vk = sk.verifying_key();
    line(
        "for comparison: ed25519-dalek verify, single",
        rate(budget, 1, || vk.verify(&msg, &sig).unwrap()),
    );
    let keys: Vec<_> = (0..64u8).map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32])).collect();
    let sigs: Vec<_> = keys.iter().map(|k| k.sign(&msg)).collect();
    let vks: Vec<_> = keys.iter().map(|k| k.verifying_key()).collect();
    let msgs: Vec<&[u8]> = vec![msg.as_slice(); 64];
    line(
        "for comparison: ed25519-dalek verify_batch of 64",
        rate(budget, 64, || ed25519_dalek::verify_batch(&msgs, &sigs, &vks).unwrap()),
    );
}

fn pipeline(budget: Duration, h: &History) -> (f64, f64) {
    let mut rng = XofRng::from_seed(b"bench pipeline");
    let bytes: Vec<Vec<u8>> = h.entries.iter().map(SignedMessage::encode).collect();
    let n = bytes.len();
    let apply = rate(budget, n, || {
        let mut chain = ChainState::new(GroupId([1; 32]));
        let decoded: Vec<_> = bytes.iter().map(|b| Entry::decode(b.clone()).unwrap()).collect();
        for chunk in decoded.chunks(64).map(<[_]>::to_vec) {
            for verified in verify_batch(&mut rng, chunk) {
                let e = verified.unwrap();
                let epoch = if e.seq() == 0 && e.message().parents.is_empty() {
                    EpochId(e.id().0)
                } else {
                    h.epoch
                };
                chain.ingest(e, epoch);
            }
        }
        assert_eq!(chain.len(), n);
    });
    line("chain: decode + batch verify + ingest, ~1 KiB messages", apply);
    let keys = EpochKeys::derive(&Zeroizing::new([5; 32]));
    let envelopes: Vec<_> =
        h.entries.iter().flat_map(|m| seal_message(&mut rng, &keys, m).unwrap()).collect();
    let per = envelopes.len();
    let open = rate(budget, per, || {
        let mut r = Reassembler::new();
        for env in &envelopes {
            r.add(env.open(&keys).unwrap()).unwrap();
        }
    });
    line("envelope: open (member side) + reassemble", open);
    (apply, open)
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.split(' ').take(3).collect::<Vec<_>>().join(" "));
    println!("cairn-proto core benchmark ({} ms per figure, one thread)", budget.as_millis());
    let (single, batch, aead_open) = raw_limits(budget);
    dalek_comparison(budget);
    let h = history(2_000, 8);
    let (apply, envelope) = pipeline(budget, &h);
    println!();
    println!("ratio chain apply / raw batch verify (8 keys) {:>6.2}", apply / batch);
    println!("ratio chain apply / raw single verify        {:>6.2}", apply / single);
    println!("ratio envelope open / raw AEAD open          {:>6.2}", envelope / aead_open);
}
