//! The relay between the soak's replicas: per-member queues of envelopes,
//! delivered late and out of order (random insertion), twice, or replayed
//! from anything ever posted; some withheld until the end of the run. An
//! envelope of a mailbox the member holds no key of stays in the mailbox
//! ("parked") and is read again once the member enters a new epoch, as a
//! node re-reads its mailboxes.

use std::collections::VecDeque;

use rand_core::Rng;

use crate::crypto::XofRng;
use crate::wire::Envelope;

/// Per-mille odds of what the relay does to one copy of a post.
const WITHHOLD: u32 = 100;
const DUPLICATE: u32 = 100;
const REPLAY: u32 = 100;

/// A hostile relay that never loses an envelope for good (a member would
/// fetch it from another relay or a peer), but delays, reorders,
/// duplicates, replays and withholds.
pub(super) struct Relay {
    rng: XofRng,
    queues: Vec<VecDeque<Envelope>>,
    withheld: Vec<Vec<Envelope>>,
    parked: Vec<Vec<Envelope>>,
    seen: Vec<Envelope>,
}

impl Relay {
    pub(super) fn new(seed: &[u8], members: usize) -> Self {
        Self {
            rng: XofRng::from_seed(&[seed, b"relay"].concat()),
            queues: vec![VecDeque::new(); members],
            withheld: vec![Vec::new(); members],
            parked: vec![Vec::new(); members],
            seen: Vec::new(),
        }
    }

    fn roll(&mut self, per_mille: u32) -> bool {
        self.rng.next_u32() % 1000 < per_mille
    }

    /// Posts `envelopes` for every member `to` accepts, each copy subject
    /// to the relay's whims.
    pub(super) fn post(&mut self, envelopes: &[Envelope], to: impl Fn(usize) -> bool) {
        self.seen.extend(envelopes.iter().cloned());
        for member in (0..self.queues.len()).filter(|m| to(*m)) {
            for env in envelopes {
                if self.roll(WITHHOLD) {
                    self.withheld[member].push(env.clone());
                    continue;
                }
                self.enqueue(member, env.clone());
                if self.roll(DUPLICATE) {
                    self.enqueue(member, env.clone());
                }
                if self.roll(REPLAY) {
                    let old = self.seen[self.rng.next_u32() as usize % self.seen.len()].clone();
                    self.enqueue(member, old);
                }
            }
        }
    }

    /// Queues `env` for `to` again (a replay by the relay).
    pub(super) fn replay(&mut self, to: usize, env: Envelope) {
        self.enqueue(to, env);
    }

    /// Any envelope ever posted, at random.
    pub(super) fn some_old(&mut self) -> Option<Envelope> {
        if self.seen.is_empty() {
            return None;
        }
        Some(self.seen[self.rng.next_u32() as usize % self.seen.len()].clone())
    }

    fn enqueue(&mut self, to: usize, env: Envelope) {
        let q = &mut self.queues[to];
        let at = self.rng.next_u32() as usize % (q.len() + 1);
        q.insert(at, env);
    }

    /// The next envelope for `to`.
    pub(super) fn next_for(&mut self, to: usize) -> Option<Envelope> {
        self.queues[to].pop_front()
    }

    /// Keeps an envelope `to` cannot open yet.
    pub(super) fn park(&mut self, to: usize, env: Envelope) {
        self.parked[to].push(env);
    }

    /// Queues again what `to` could not open (it entered an epoch).
    pub(super) fn unpark(&mut self, to: usize) {
        for env in std::mem::take(&mut self.parked[to]) {
            self.enqueue(to, env);
        }
    }

    /// Queues what was withheld from `to`.
    pub(super) fn release(&mut self, to: usize) {
        for env in std::mem::take(&mut self.withheld[to]) {
            self.enqueue(to, env);
        }
    }

    /// Envelopes queued for `to`.
    pub(super) fn queued(&self, to: usize) -> usize {
        self.queues[to].len()
    }
}
