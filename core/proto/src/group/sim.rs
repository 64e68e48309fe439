//! A deterministic in-process simulator: seeded members building real
//! signed messages, and a hostile relay between them.
//!
//! Every delivery goes the whole way a real one does: bytes → decode →
//! verify → [`ChainState::ingest`] → [`Fold::insert`] for each accepted
//! entry (and [`Fold::equivocation`] for each proof).

use std::collections::VecDeque;

use rand_core::Rng;

use super::{Change, Fold, Rules};
use crate::chain::{ChainEvent, ChainState, Entry};
use crate::crypto::{PublicKey, SigningKey, XofRng};
use crate::wire::{Body, EpochId, Genesis, GroupId, MessageId, SignedMessage, UnsignedMessage};

pub(super) const GROUP: GroupId = GroupId([0x47; 32]);

/// One member's node: identity, chain and fold.
pub(super) struct Node {
    pub(super) key: SigningKey,
    pub(super) chain: ChainState,
    pub(super) fold: Fold,
    /// Chain rejections and fold changes seen, for assertions.
    pub(super) rejected: Vec<crate::chain::ChainError>,
}

impl Node {
    pub(super) fn public(&self) -> PublicKey {
        self.key.public()
    }

    pub(super) fn hash(&self) -> [u8; 32] {
        self.fold.state_hash().unwrap_or([0; 32])
    }

    /// Takes in raw message bytes received under epoch `opened` (`None`:
    /// the epoch the message names, as a member holding every key would).
    pub(super) fn receive(&mut self, bytes: &[u8], opened: Option<EpochId>) -> Vec<Change> {
        let Ok(entry) = Entry::decode(bytes.to_vec()).and_then(Entry::verify) else {
            return Vec::new();
        };
        let genesis = matches!(entry.message().body, Body::Genesis(_));
        let stated = if genesis { EpochId(entry.id().0) } else { entry.message().epoch };
        let mut changes = Vec::new();
        for event in self.chain.ingest(entry, opened.unwrap_or(stated)) {
            match event {
                ChainEvent::Accepted(e) => changes.extend(self.fold.insert_entry(&e)),
                ChainEvent::Equivocation(p) => {
                    changes.extend(self.fold.equivocation(p.author(), p.first.message.seq))
                }
                ChainEvent::Rejected { error, .. } => self.rejected.push(error),
                _ => {}
            }
        }
        changes
    }

    /// Drafts, signs and takes in this node's next message.
    pub(super) fn write(&mut self, body: Body) -> Vec<u8> {
        let epoch = self.fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
        let kept = |id: &MessageId| self.fold.holds(id);
        let m = self.chain.draft_among(&self.public(), epoch, 0, body, kept);
        self.sign_and_keep(m)
    }

    /// Like [`Node::write`] but citing only `parents` (and the author's own
    /// previous message): how a backdating author writes.
    pub(super) fn write_citing(&mut self, body: Body, parents: &[MessageId]) -> Vec<u8> {
        let mut m = self.chain.draft(&self.public(), EpochId::GENESIS, 0, body);
        let mut ps: Vec<MessageId> = parents.to_vec();
        ps.extend(m.prev);
        ps.sort();
        ps.dedup();
        let lamport = ps
            .iter()
            .filter_map(|p| self.chain.entry(p))
            .map(|e| e.message().lamport + 1)
            .max()
            .unwrap_or(0);
        let epoch = ps.iter().filter_map(|p| self.chain.entry(p)).map(|e| e.message().epoch).max();
        m.parents = ps;
        m.lamport = lamport;
        m.epoch = self.fold.state().map(|s| s.epoch.id).or(epoch).unwrap_or(EpochId::GENESIS);
        self.sign_and_keep(m)
    }

    fn sign_and_keep(&mut self, m: UnsignedMessage) -> Vec<u8> {
        let bytes = m.sign(&self.key).encode();
        self.receive(&bytes, None);
        bytes
    }
}

/// A seeded group: node 0 founded it with `rules`.
pub(super) struct Sim {
    pub(super) nodes: Vec<Node>,
    /// Every message written, in writing order.
    pub(super) log: Vec<Vec<u8>>,
    pub(super) genesis: MessageId,
}

pub(super) fn id_of(bytes: &[u8]) -> MessageId {
    SignedMessage::id_from_encoding(bytes)
}

impl Sim {
    pub(super) fn new(seed: &[u8], members: usize, rules: &Rules) -> Self {
        let mut rng = XofRng::from_seed(seed);
        let keys: Vec<SigningKey> = (0..members).map(|_| SigningKey::random(&mut rng)).collect();
        let founder = &keys[0];
        let body = Body::Genesis(Genesis { name: "sim".into(), rules: rules.encode() });
        let genesis = ChainState::new(GROUP).draft(&founder.public(), EpochId::GENESIS, 0, body);
        let bytes = genesis.sign(founder).encode();
        let gid = id_of(&bytes);
        let nodes = keys
            .into_iter()
            .map(|key| Node {
                key,
                chain: ChainState::new(GROUP),
                fold: Fold::new(GROUP, gid),
                rejected: Vec::new(),
            })
            .collect();
        let mut sim = Sim { nodes, log: Vec::new(), genesis: gid };
        sim.broadcast(bytes);
        sim
    }

    /// Node `who` writes `body`; everyone receives it at once.
    pub(super) fn act(&mut self, who: usize, body: Body) -> MessageId {
        let bytes = self.nodes[who].write(body);
        let id = id_of(&bytes);
        self.broadcast(bytes);
        id
    }

    /// Node `who` writes `body` but nobody else receives it yet.
    pub(super) fn act_alone(&mut self, who: usize, body: Body) -> MessageId {
        let bytes = self.nodes[who].write(body);
        let id = id_of(&bytes);
        self.log.push(bytes);
        id
    }

    pub(super) fn broadcast(&mut self, bytes: Vec<u8>) {
        for n in &mut self.nodes {
            n.receive(&bytes, None);
        }
        self.log.push(bytes);
    }

    /// Everyone receives everything written so far (a full resync).
    pub(super) fn heal(&mut self) {
        for n in &mut self.nodes {
            for bytes in &self.log {
                n.receive(bytes, None);
            }
        }
    }

    pub(super) fn key(&self, who: usize) -> PublicKey {
        self.nodes[who].public()
    }

    pub(super) fn hashes(&self) -> Vec<[u8; 32]> {
        self.nodes.iter().map(Node::hash).collect()
    }

    pub(super) fn converged(&self) -> bool {
        let h = self.hashes();
        h.windows(2).all(|w| w[0] == w[1])
    }
}

/// What a hostile relay may do to one delivery, with per-mille odds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hostility {
    pub(super) drop: u32,
    pub(super) duplicate: u32,
    pub(super) replay: u32,
    pub(super) tamper: u32,
    pub(super) withhold: u32,
}

/// A relay that delivers late, out of order, twice, never, or altered.
pub(super) struct Relay {
    rng: XofRng,
    odds: Hostility,
    queues: Vec<VecDeque<Vec<u8>>>,
    withheld: Vec<Vec<Vec<u8>>>,
    seen: Vec<Vec<u8>>,
}

impl Relay {
    pub(super) fn new(seed: &[u8], members: usize, odds: Hostility) -> Self {
        Self {
            rng: XofRng::from_seed(seed),
            odds,
            queues: vec![VecDeque::new(); members],
            withheld: vec![Vec::new(); members],
            seen: Vec::new(),
        }
    }

    fn roll(&mut self, per_mille: u32) -> bool {
        self.rng.next_u32() % 1000 < per_mille
    }

    /// A post: queued for every member but the author, each copy subject to
    /// the relay's whims.
    pub(super) fn post(&mut self, author: usize, bytes: &[u8]) {
        self.seen.push(bytes.to_vec());
        for to in (0..self.queues.len()).filter(|t| *t != author) {
            if self.roll(self.odds.withhold) {
                self.withheld[to].push(bytes.to_vec());
                continue;
            }
            if self.roll(self.odds.drop) {
                continue;
            }
            self.enqueue(to, bytes.to_vec());
            if self.roll(self.odds.duplicate) {
                self.enqueue(to, bytes.to_vec());
            }
            if self.roll(self.odds.tamper) {
                let mut bad = bytes.to_vec();
                let bit = self.rng.next_u32() as usize % (bad.len() * 8);
                bad[bit / 8] ^= 1 << (bit % 8);
                self.enqueue(to, bad);
            }
            if self.roll(self.odds.replay) && !self.seen.is_empty() {
                let old = self.seen[self.rng.next_u32() as usize % self.seen.len()].clone();
                self.enqueue(to, old);
            }
        }
    }

    /// Inserts at a random place: delay and reordering.
    fn enqueue(&mut self, to: usize, bytes: Vec<u8>) {
        let q = &mut self.queues[to];
        let at = self.rng.next_u32() as usize % (q.len() + 1);
        q.insert(at, bytes);
    }

    /// Delivers up to `n` queued messages to `to`.
    pub(super) fn deliver(&mut self, node: &mut Node, to: usize, n: usize) {
        for _ in 0..n {
            let Some(bytes) = self.queues[to].pop_front() else { return };
            node.receive(&bytes, None);
        }
    }

    /// The next message queued for `to`, not yet delivered (so the caller
    /// can watch each delivery).
    pub(super) fn next_for(&mut self, to: usize) -> Option<Vec<u8>> {
        self.queues[to].pop_front()
    }

    /// Queues the messages withheld from `to`, at random places.
    pub(super) fn release(&mut self, to: usize) {
        for bytes in std::mem::take(&mut self.withheld[to]) {
            self.enqueue(to, bytes);
        }
    }

    /// Flushes queues and withheld messages, in a random order.
    pub(super) fn flush(&mut self, nodes: &mut [Node]) {
        for (to, node) in nodes.iter_mut().enumerate() {
            let held = std::mem::take(&mut self.withheld[to]);
            for bytes in held {
                self.enqueue(to, bytes);
            }
            let n = self.queues[to].len();
            self.deliver(node, to, n);
        }
    }
}
