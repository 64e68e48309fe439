//! What causal bookkeeping costs: clock bytes per message for 500 members,
//! counted (not timed), at two history sizes, against the dense vector of
//! one slot per author per message that [`Clock`] replaces.
//!
//! `CAIRN_CAUSAL_MESSAGES=100000 cargo test --release -p cairn-proto
//! clock_bytes -- --nocapture` prints the figures for a longer history.

use rand_core::Rng;

use super::*;
use crate::crypto::XofRng;
use crate::wire::{Chat, EpochId, GroupId, MESSAGE_VERSION};

const MEMBERS: usize = 500;
/// A dense `u64` version vector per message, for comparison.
const DENSE_BYTES: usize = MEMBERS * 8;

#[derive(Clone, Copy)]
enum Traffic {
    /// Every member in turn, each citing the message before: every message
    /// learns one new message of the author before it.
    RoundRobin,
    /// 50 of the 500 write 95% of messages; each writer sees the history
    /// up to a random lag of 0–7 messages, so heads run concurrently.
    Busy,
}

struct Writer {
    dag: Dag,
    rng: XofRng,
    keys: Vec<PublicKey>,
    /// Each member's last message (id, seq).
    last: Vec<Option<(MessageId, u64)>>,
    /// Every message in insertion order, with its Lamport clock.
    log: Vec<(MessageId, u64)>,
    parents: HashMap<MessageId, Vec<MessageId>>,
}

impl Writer {
    fn new() -> Self {
        let keys = (0..MEMBERS)
            .map(|i| {
                let mut k = [0u8; 32];
                k[..8].copy_from_slice(&(i as u64).to_le_bytes());
                PublicKey(k)
            })
            .collect();
        Self {
            dag: Dag::default(),
            rng: XofRng::from_seed(b"causal cost"),
            keys,
            last: vec![None; MEMBERS],
            log: Vec::new(),
            parents: HashMap::new(),
        }
    }

    fn author(&mut self, traffic: Traffic, step: usize) -> usize {
        let pick = self.rng.next_u64() as usize;
        match traffic {
            Traffic::RoundRobin => step % MEMBERS,
            Traffic::Busy if pick % 100 < 95 => pick / 100 % 50,
            Traffic::Busy => pick / 100 % MEMBERS,
        }
    }

    fn write(&mut self, traffic: Traffic, step: usize) {
        let author = self.author(traffic, step);
        let lag = match traffic {
            Traffic::RoundRobin => 0,
            Traffic::Busy => (self.rng.next_u32() % 8) as usize,
        };
        let mut parents: Vec<MessageId> = self.last[author].map(|(id, _)| id).into_iter().collect();
        if let Some(seen) = self.log.len().checked_sub(1 + lag) {
            parents.push(self.log[seen].0);
        }
        parents.sort();
        parents.dedup();
        let lamport = 1 + parents
            .iter()
            .filter_map(|p| self.log.iter().rev().take(64).find(|(id, _)| id == p))
            .map(|(_, l)| *l)
            .max()
            .unwrap_or(0);
        let seq = self.last[author].map_or(0, |(_, s)| s + 1);
        let m = UnsignedMessage {
            version: MESSAGE_VERSION,
            group: GroupId([7; 32]),
            epoch: EpochId::GENESIS,
            author: self.keys[author],
            seq,
            prev: self.last[author].map(|(id, _)| id),
            parents: parents.clone(),
            lamport,
            minute: step as u64,
            body: Body::Chat(Chat { text: String::new(), reply_to: None }),
        };
        let id = crate::wire::message_id(&m.encode());
        self.dag.insert(id, &m);
        self.last[author] = Some((id, seq));
        self.log.push((id, lamport));
        self.parents.insert(id, parents);
    }
}

/// Clock bytes per message after `sizes` messages (cumulative).
fn bytes_per_message(traffic: Traffic, sizes: &[usize]) -> Vec<usize> {
    let mut w = Writer::new();
    let mut out = Vec::new();
    for &size in sizes {
        while w.log.len() < size {
            w.write(traffic, w.log.len());
        }
        out.push(w.dag.clock_bytes() / size);
    }
    out
}

#[test]
fn clock_bytes_stay_flat_and_far_below_a_dense_vector() {
    let big = std::env::var("CAIRN_CAUSAL_MESSAGES").ok().and_then(|v| v.parse().ok());
    let sizes: Vec<usize> = [2_500, 10_000].into_iter().chain(big).collect();
    for (name, traffic) in [("round robin", Traffic::RoundRobin), ("busy", Traffic::Busy)] {
        let per = bytes_per_message(traffic, &sizes);
        for (size, bytes) in sizes.iter().zip(&per) {
            let ratio = *bytes as f64 / DENSE_BYTES as f64;
            eprintln!(
                "{name}: {size} messages, {MEMBERS} members: {bytes} B/message ({ratio:.3}× dense)"
            );
        }
        // Flat: the later figure is no worse than 1.2× the earlier one.
        assert!(
            per.windows(2).all(|w| w[1] * 10 <= w[0] * 12),
            "{name}: grows with history: {per:?}"
        );
        // A tenth of a dense vector or less.
        assert!(per.iter().all(|b| b * 10 <= DENSE_BYTES), "{name}: {per:?} B/message");
    }
}

#[test]
fn queries_agree_with_the_dense_definition() {
    let mut w = Writer::new();
    for step in 0..600 {
        w.write(Traffic::Busy, step);
    }
    // x ∈ past(y) exactly when a walk over parents from y reaches x.
    let ids: Vec<MessageId> = w.log.iter().map(|(id, _)| *id).collect();
    for (i, y) in ids.iter().enumerate().skip(550) {
        let reach = reachable(&w, y);
        for x in &ids[..i] {
            assert_eq!(w.dag.in_past(x, y), reach.contains(x), "{i}");
        }
    }
}

/// Everything reachable from `y` by parent links, walked from scratch.
fn reachable(w: &Writer, y: &MessageId) -> HashSet<MessageId> {
    let mut out = HashSet::new();
    let mut todo = vec![*y];
    while let Some(id) = todo.pop() {
        for p in &w.parents[&id] {
            if out.insert(*p) {
                todo.push(*p);
            }
        }
    }
    out
}
