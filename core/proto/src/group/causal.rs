//! Causal-past queries for the fold: per message, a version vector of what
//! its author had seen ([`Clock`], stored shared with its parents'), and
//! the acknowledgements that settle messages.
//!
//! `vv[a]` is one more than the highest sequence number of author `a` in
//! the message's causal past including itself (0: none). Because every
//! message names its author's previous one as a parent, a causal past holds
//! a prefix of each author's chain, so `x ∈ past(y)` exactly when
//! `vv(y)[author(x)] > seq(x)`. This is the "last seq it saw of each
//! member" that the cut-off rule records.
//!
//! Only messages whose author was admitted in their own causal past are
//! inserted ([`Dag::admitted`]): a key that was never let in costs no
//! column in anybody's vector.

mod clock;
#[cfg(test)]
mod test;

use std::collections::{BTreeMap, HashMap, HashSet};

use self::clock::Clock;
use super::state::Position;
use crate::crypto::PublicKey;
use crate::epoch::KeyPackageId;
use crate::wire::{Body, MessageId, UnsignedMessage};

struct Meta {
    author: usize,
    seq: u64,
    pos: Position,
    vv: Clock,
}

/// The messages the fold holds, with their causal pasts.
#[derive(Default)]
pub(crate) struct Dag {
    metas: HashMap<MessageId, Meta>,
    authors: Vec<PublicKey>,
    author_ix: HashMap<PublicKey, usize>,
    by_seq: BTreeMap<(usize, u64), MessageId>,
    /// Each author's messages in seq order (what acknowledgements search).
    chains: Vec<Vec<MessageId>>,
    /// `MemberAdd` messages by the key they name (held, whatever their
    /// verdict: admission in the causal past is a fact of the DAG alone).
    admissions: HashMap<PublicKey, Vec<MessageId>>,
    /// The genesis author, once the genesis is in.
    founder: Option<PublicKey>,
    /// Each author's first `KeyPackage` message.
    first_key_package: HashMap<PublicKey, MessageId>,
    /// Every announced key package, whatever its verdict: its id binds its
    /// owner, so who owns it is a fact of the message alone.
    key_packages: HashMap<KeyPackageId, MessageId>,
}

impl Dag {
    /// Whether `m`'s author was let in within `m`'s own causal past: the
    /// genesis author, or a `MemberAdd` naming them among `m`'s ancestors.
    /// Judged by the parents alone, so the answer never changes later.
    pub(crate) fn admitted(&self, m: &UnsignedMessage) -> bool {
        if matches!(m.body, Body::Genesis(_)) || self.founder == Some(m.author) {
            return true;
        }
        let Some(adds) = self.admissions.get(&m.author) else { return false };
        adds.iter().any(|a| m.parents.iter().any(|p| p == a || self.in_past(a, p)))
    }

    /// Adds a message whose parents (if held) were added before. Its clock
    /// starts from its latest parent's and joins the others': only what
    /// the message learned beyond that parent costs memory.
    pub(crate) fn insert(&mut self, id: MessageId, m: &UnsignedMessage) {
        let author = self.author_index(m.author);
        let mut parents: Vec<&Meta> = m.parents.iter().filter_map(|p| self.metas.get(p)).collect();
        parents.sort_by_key(|p| std::cmp::Reverse(p.pos));
        let vv = parents.iter().fold(Clock::default(), |vv, p| vv.join(&p.vv));
        let vv = vv.raised(author, m.seq + 1);
        self.by_seq.insert((author, m.seq), id);
        self.chains[author].push(id);
        self.metas.insert(id, Meta { author, seq: m.seq, pos: (m.lamport, id), vv });
        match &m.body {
            Body::Genesis(_) => self.founder = Some(m.author),
            Body::MemberAdd(a) => self.admissions.entry(a.member).or_default().push(id),
            body => {
                if let Some(kp) = body.announced_key_package() {
                    self.first_key_package.entry(m.author).or_insert(id);
                    self.key_packages.entry(KeyPackageId::owned_by(&m.author, kp)).or_insert(id);
                }
            }
        }
    }

    /// Bytes the clocks of all held messages take, counting each shared
    /// node once (what causal bookkeeping costs, for benchmarks and tests).
    pub(crate) fn clock_bytes(&self) -> usize {
        let mut seen = HashSet::new();
        for meta in self.metas.values() {
            meta.vv.nodes(&mut |node| seen.insert(node));
        }
        seen.len() * Clock::NODE_BYTES
    }

    fn author_index(&mut self, key: PublicKey) -> usize {
        *self.author_ix.entry(key).or_insert_with(|| {
            self.authors.push(key);
            self.chains.push(Vec::new());
            self.authors.len() - 1
        })
    }

    /// True when `x` is a strict ancestor of `y`.
    pub(crate) fn in_past(&self, x: &MessageId, y: &MessageId) -> bool {
        let (Some(mx), Some(my)) = (self.metas.get(x), self.metas.get(y)) else { return false };
        x != y && my.vv.get(mx.author) > mx.seq
    }

    /// Neither is in the other's past.
    pub(crate) fn concurrent(&self, x: &MessageId, y: &MessageId) -> bool {
        x != y && !self.in_past(x, y) && !self.in_past(y, x)
    }

    /// The first message of `voter` that has `x` in its causal past. An
    /// author's messages see monotonically more, so this is a binary
    /// search over the voter's chain.
    pub(crate) fn first_seeing(&self, voter: &PublicKey, x: &MessageId) -> Option<MessageId> {
        let chain = self.chains.get(*self.author_ix.get(voter)?)?;
        let at = chain.partition_point(|w| !self.in_past(x, w));
        chain.get(at).copied()
    }

    /// Whether `voter` has a message that has `x` in its causal past.
    pub(crate) fn acked(&self, voter: &PublicKey, x: &MessageId) -> bool {
        self.first_seeing(voter, x).is_some()
    }

    /// Whether `voter` acknowledged `x` before `y`: its first message that
    /// saw `x` had not seen `y`. Each voter acknowledges at most one of two
    /// concurrent messages before the other (its first message seeing
    /// either decides), unless it equivocates. `within`: only count an
    /// acknowledgement in the causal past of that message.
    pub(crate) fn acked_before(
        &self,
        voter: &PublicKey,
        x: &MessageId,
        y: &MessageId,
        within: Option<&MessageId>,
    ) -> bool {
        let Some(w) = self.first_seeing(voter, x) else { return false };
        let inside = within.is_none_or(|u| self.in_past(&w, u));
        inside && w != *y && !self.in_past(y, &w)
    }

    /// The owner of key package `kid` if its announcement is in `id`'s
    /// causal past (cut off or refused, it still says whose it is).
    pub(crate) fn key_package_owner(
        &self,
        kid: &KeyPackageId,
        id: &MessageId,
    ) -> Option<PublicKey> {
        let announced = self.key_packages.get(kid)?;
        self.in_past(announced, id)
            .then(|| self.metas.get(announced))
            .flatten()
            .map(|m| self.authors[m.author])
    }

    /// Whether `owner` had announced a key package in `id`'s causal past.
    pub(crate) fn announced_before(&self, owner: &PublicKey, id: &MessageId) -> bool {
        self.first_key_package.get(owner).is_some_and(|kp| self.in_past(kp, id))
    }

    /// The strict causal past of `id`, in no particular order.
    pub(crate) fn past(&self, id: &MessageId) -> Vec<MessageId> {
        let Some(meta) = self.metas.get(id) else { return Vec::new() };
        let mut out = Vec::new();
        for author in 0..self.authors.len() {
            let range = (author, 0)..(author, meta.vv.get(author));
            out.extend(self.by_seq.range(range).map(|(_, i)| *i).filter(|i| i != id));
        }
        out
    }

    /// The position of `author`'s first message that `id` had not seen
    /// (the first message a cut-off by `id` can reach), if held.
    pub(crate) fn first_unseen(&self, id: &MessageId, author: &PublicKey) -> Option<Position> {
        let meta = self.metas.get(id)?;
        let a = *self.author_ix.get(author)?;
        let seen = meta.vv.get(a);
        let next = self.by_seq.range((a, seen)..=(a, u64::MAX)).next()?.1;
        self.metas.get(next).map(|m| m.pos)
    }

    /// `author`'s messages that `id` had not seen, in seq order.
    pub(crate) fn unseen(&self, id: &MessageId, author: &PublicKey) -> Vec<MessageId> {
        let (Some(meta), Some(&a)) = (self.metas.get(id), self.author_ix.get(author)) else {
            return Vec::new();
        };
        let seen = meta.vv.get(a);
        self.by_seq.range((a, seen)..=(a, u64::MAX)).map(|(_, i)| *i).collect()
    }

    /// The linearization position of a held message.
    pub(crate) fn position(&self, id: &MessageId) -> Option<Position> {
        self.metas.get(id).map(|m| m.pos)
    }

    /// How much of `author`'s chain `id`'s causal past holds, counting
    /// `id` itself: `vv(id)[author]` (0 when `id` is not held).
    pub(crate) fn seen_of(&self, id: &MessageId, author: &PublicKey) -> u64 {
        let (Some(meta), Some(&a)) = (self.metas.get(id), self.author_ix.get(author)) else {
            return 0;
        };
        meta.vv.get(a)
    }

    /// Whether every held message other than `w` is in `w`'s causal past.
    /// Then an acknowledgement `w` makes cannot settle anything before
    /// anything: "`x` before `y`" needs a `y` it has not seen.
    pub(crate) fn sees_all_held(&self, w: &MessageId) -> bool {
        let Some(meta) = self.metas.get(w) else { return false };
        self.chains.iter().enumerate().all(|(a, chain)| chain.len() as u64 <= meta.vv.get(a))
    }

    /// `author`'s message at `seq`, if held (one of them, for an
    /// equivocator).
    pub(crate) fn at_seq(&self, author: &PublicKey, seq: u64) -> Option<MessageId> {
        let a = *self.author_ix.get(author)?;
        self.by_seq.get(&(a, seq)).copied()
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
