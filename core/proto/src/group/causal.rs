//! Causal-past queries for the fold: per message, a version vector of what
//! its author had seen.
//!
//! `vv[a]` is one more than the highest sequence number of author `a` in
//! the message's causal past including itself (0: none). Because every
//! message names its author's previous one as a parent, a causal past holds
//! a prefix of each author's chain, so `x ∈ past(y)` exactly when
//! `vv(y)[author(x)] > seq(x)`. This is the "last seq it saw of each
//! member" that the cut-off rule records.

use std::collections::{BTreeMap, HashMap};

use super::state::Position;
use crate::crypto::PublicKey;
use crate::wire::{MessageId, UnsignedMessage};

struct Meta {
    author: usize,
    seq: u64,
    pos: Position,
    vv: Vec<u64>,
}

/// The messages the fold holds, with their causal pasts.
#[derive(Default)]
pub(crate) struct Dag {
    metas: HashMap<MessageId, Meta>,
    authors: Vec<PublicKey>,
    author_ix: HashMap<PublicKey, usize>,
    by_seq: BTreeMap<(usize, u64), MessageId>,
}

impl Dag {
    /// Adds a message whose parents (if held) were added before.
    pub(crate) fn insert(&mut self, id: MessageId, m: &UnsignedMessage) {
        let author = self.author_index(m.author);
        let mut vv = vec![0u64; self.authors.len()];
        for p in m.parents.iter().filter_map(|p| self.metas.get(p)) {
            for (mine, theirs) in vv.iter_mut().zip(&p.vv) {
                *mine = (*mine).max(*theirs);
            }
        }
        vv[author] = vv[author].max(m.seq + 1);
        self.by_seq.insert((author, m.seq), id);
        self.metas.insert(id, Meta { author, seq: m.seq, pos: (m.lamport, id), vv });
    }

    fn author_index(&mut self, key: PublicKey) -> usize {
        *self.author_ix.entry(key).or_insert_with(|| {
            self.authors.push(key);
            self.authors.len() - 1
        })
    }

    /// True when `x` is a strict ancestor of `y`.
    pub(crate) fn in_past(&self, x: &MessageId, y: &MessageId) -> bool {
        let (Some(mx), Some(my)) = (self.metas.get(x), self.metas.get(y)) else { return false };
        x != y && my.vv.get(mx.author).is_some_and(|&seen| seen > mx.seq)
    }

    /// Neither is in the other's past.
    pub(crate) fn concurrent(&self, x: &MessageId, y: &MessageId) -> bool {
        x != y && !self.in_past(x, y) && !self.in_past(y, x)
    }

    /// The strict causal past of `id`, in no particular order.
    pub(crate) fn past(&self, id: &MessageId) -> Vec<MessageId> {
        let Some(meta) = self.metas.get(id) else { return Vec::new() };
        let mut out = Vec::new();
        for (author, &seen) in meta.vv.iter().enumerate() {
            let range = (author, 0)..(author, seen);
            out.extend(self.by_seq.range(range).map(|(_, i)| *i).filter(|i| i != id));
        }
        out
    }

    /// The position of `author`'s first message that `id` had not seen
    /// (the first message a cut-off by `id` can reach), if held.
    pub(crate) fn first_unseen(&self, id: &MessageId, author: &PublicKey) -> Option<Position> {
        let meta = self.metas.get(id)?;
        let a = *self.author_ix.get(author)?;
        let seen = meta.vv.get(a).copied().unwrap_or(0);
        let next = self.by_seq.range((a, seen)..=(a, u64::MAX)).next()?.1;
        self.metas.get(next).map(|m| m.pos)
    }

    /// The linearization position of a held message.
    pub(crate) fn position(&self, id: &MessageId) -> Option<Position> {
        self.metas.get(id).map(|m| m.pos)
    }

    /// Every author seen.
    pub(crate) fn authors(&self) -> &[PublicKey] {
        &self.authors
    }

    /// The position of `author`'s message at `seq` or later, if held.
    pub(crate) fn position_from(&self, author: &PublicKey, seq: u64) -> Option<Position> {
        let a = *self.author_ix.get(author)?;
        let id = self.by_seq.range((a, seq)..=(a, u64::MAX)).next()?.1;
        self.metas.get(id).map(|m| m.pos)
    }
}
