//! [`ChainState`]: accepts verified entries of one group in causal order.
//!
//! An entry is accepted when (1) it is for this group and names the epoch it
//! arrived in, (2) its author's previous message is accepted and is the one
//! its `prev` names, (3) all its parents are accepted, and (4) its Lamport
//! clock is 1 + the largest parent's. Entries that arrive early wait in a
//! bounded pending set; gaps, forks and rejections are reported as
//! [`ChainEvent`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::{ChainError, Entry, EquivocationProof, Verified, VersionVector, rules};
use crate::crypto::PublicKey;
use crate::wire::{
    Body, EpochId, GroupId, MAX_PARENTS, MESSAGE_VERSION, MessageId, UnsignedMessage,
};

/// The most entries waiting for a predecessor or a parent, in all.
pub const MAX_PENDING: usize = 4096;
/// The most waiting entries from one author.
pub const MAX_PENDING_PER_AUTHOR: usize = 1024;

/// What happened to an ingested entry (and to any it unblocked).
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// Accepted into the chain, in causal order: store it and fold it.
    Accepted(Arc<Entry<Verified>>),
    /// Already held; nothing to do.
    Duplicate(MessageId),
    /// The author's messages in `missing` are absent: fetch them (a relay
    /// may be withholding them).
    Gap {
        /// Whose chain has the hole.
        author: PublicKey,
        /// The missing sequence numbers.
        missing: RangeInclusive<u64>,
    },
    /// Held until these parents arrive.
    WaitingForParents {
        /// The waiting message.
        id: MessageId,
        /// Parents not yet accepted.
        missing: Vec<MessageId>,
    },
    /// The author signed two messages at one position.
    Equivocation(Box<EquivocationProof>),
    /// Refused for breaking a rule; it has no effect.
    Rejected {
        /// The refused message.
        id: MessageId,
        /// Its author.
        author: PublicKey,
        /// The broken rule.
        error: ChainError,
    },
    /// Dropped because the pending set is full; fetch it again later.
    PendingFull(MessageId),
}

type Position = (PublicKey, u64);

/// The accepted chain of one group, plus what waits to join it.
#[derive(Debug)]
pub struct ChainState {
    group: GroupId,
    /// Shared with the fold, which holds the same entries: the history is
    /// in memory once.
    accepted: HashMap<MessageId, Arc<Entry<Verified>>>,
    positions: HashMap<Position, MessageId>,
    tails: BTreeMap<PublicKey, (u64, MessageId)>,
    pending: BTreeMap<Position, Entry<Verified>>,
    pending_ids: HashSet<MessageId>,
    pending_per_author: HashMap<PublicKey, usize>,
    waiters: HashMap<MessageId, Vec<Position>>,
    equivocations: BTreeMap<PublicKey, EquivocationProof>,
}

impl ChainState {
    /// An empty chain for `group`.
    pub fn new(group: GroupId) -> Self {
        Self {
            group,
            accepted: HashMap::new(),
            positions: HashMap::new(),
            tails: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_ids: HashSet::new(),
            pending_per_author: HashMap::new(),
            waiters: HashMap::new(),
            equivocations: BTreeMap::new(),
        }
    }

    /// The group this chain belongs to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// Number of accepted entries.
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    /// True when nothing is accepted yet.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Number of entries waiting.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// An accepted entry by id.
    pub fn entry(&self, id: &MessageId) -> Option<&Entry<Verified>> {
        self.accepted.get(id).map(|e| &**e)
    }

    /// The proof against `author`, if they equivocated.
    pub fn equivocation(&self, author: &PublicKey) -> Option<&EquivocationProof> {
        self.equivocations.get(author)
    }

    /// Highest contiguous accepted seq per author.
    pub fn version_vector(&self) -> VersionVector {
        self.tails.iter().map(|(a, (s, _))| (*a, *s)).collect()
    }

    /// Takes in one verified entry that arrived sealed under epoch `opened`.
    pub fn ingest(&mut self, entry: Entry<Verified>, opened: EpochId) -> Vec<ChainEvent> {
        let id = entry.id();
        if self.accepted.contains_key(&id) || self.pending_ids.contains(&id) {
            return vec![ChainEvent::Duplicate(id)];
        }
        if let Err(error) = self.check_context(&entry, &opened) {
            return vec![ChainEvent::Rejected { id, author: entry.author(), error }];
        }
        if let Some(proof) = self.find_conflict(&entry) {
            return vec![self.record_equivocation(proof)];
        }
        let pos = (entry.author(), entry.seq());
        let mut events = self.hold(entry);
        if self.pending.contains_key(&pos) {
            self.drain(pos, &mut events);
        }
        if let Some(waiting) = self.pending.get(&pos) {
            events.extend(self.why_waiting(waiting));
        }
        events
    }

    fn check_context(&self, entry: &Entry<Verified>, opened: &EpochId) -> Result<(), ChainError> {
        let m = entry.message();
        rules::check_group(m, &self.group)?;
        rules::check_epoch(m, &entry.id(), opened)?;
        match self.equivocations.get(&m.author) {
            Some(proof) if m.seq >= proof.first.message.seq => Err(ChainError::Equivocator),
            _ => Ok(()),
        }
    }

    /// A different message already held at the same (author, seq).
    fn find_conflict(&self, entry: &Entry<Verified>) -> Option<EquivocationProof> {
        let pos = (entry.author(), entry.seq());
        let other = match self.positions.get(&pos) {
            Some(id) => self.accepted.get(id).map(|e| &**e),
            None => self.pending.get(&pos),
        }?;
        EquivocationProof::new(other.signed().clone(), entry.signed().clone()).ok()
    }

    fn record_equivocation(&mut self, proof: EquivocationProof) -> ChainEvent {
        let author = proof.author();
        // Waiting entries of the author from the fork on will never be accepted.
        let fork = proof.first.message.seq;
        let doomed: Vec<Position> =
            self.pending.range((author, fork)..=(author, u64::MAX)).map(|(p, _)| *p).collect();
        for pos in doomed {
            self.unpend(&pos);
        }
        // Keep the proof of the earliest fork: from there on nothing counts.
        let earlier = |held: &EquivocationProof| fork < held.first.message.seq;
        if self.equivocations.get(&author).is_none_or(earlier) {
            self.equivocations.insert(author, proof.clone());
        }
        ChainEvent::Equivocation(Box::new(proof))
    }

    fn hold(&mut self, entry: Entry<Verified>) -> Vec<ChainEvent> {
        let author = entry.author();
        let count = self.pending_per_author.get(&author).copied().unwrap_or(0);
        let full = self.pending.len() >= MAX_PENDING || count >= MAX_PENDING_PER_AUTHOR;
        // An entry that can be accepted at once passes even when the pending
        // set is full: a flood of unacceptable entries must not block it.
        if full && !self.ready(&entry) {
            return vec![ChainEvent::PendingFull(entry.id())];
        }
        self.pending_per_author.insert(author, count + 1);
        self.pending_ids.insert(entry.id());
        self.pending.insert((author, entry.seq()), entry);
        Vec::new()
    }

    fn unpend(&mut self, pos: &Position) -> Option<Entry<Verified>> {
        let entry = self.pending.remove(pos)?;
        self.pending_ids.remove(&entry.id());
        if let Some(n) = self.pending_per_author.get_mut(&pos.0) {
            *n = n.saturating_sub(1);
        }
        Some(entry)
    }

    fn next_seq(&self, author: &PublicKey) -> u64 {
        self.tails.get(author).map_or(0, |(s, _)| s + 1)
    }

    fn ready(&self, entry: &Entry<Verified>) -> bool {
        entry.seq() == self.next_seq(&entry.author())
            && self.missing_parents(entry.message()).is_empty()
    }

    fn missing_parents(&self, m: &UnsignedMessage) -> Vec<MessageId> {
        m.parents.iter().filter(|p| !self.accepted.contains_key(p)).copied().collect()
    }

    /// Accepts every pending entry that `start` (transitively) unblocks.
    fn drain(&mut self, start: Position, events: &mut Vec<ChainEvent>) {
        let mut work = vec![start];
        while let Some(pos) = work.pop() {
            let Some(entry) = self.pending.get(&pos) else { continue };
            if entry.seq() != self.next_seq(&pos.0) {
                continue; // woken again when its predecessor is accepted
            }
            let missing = self.missing_parents(entry.message());
            if !missing.is_empty() {
                for parent in missing {
                    self.waiters.entry(parent).or_default().push(pos);
                }
                continue;
            }
            let Some(entry) = self.unpend(&pos) else { continue };
            match self.accept(entry) {
                Ok(accepted) => {
                    work.push((pos.0, pos.1 + 1));
                    work.extend(self.waiters.remove(&accepted.id()).unwrap_or_default());
                    events.push(ChainEvent::Accepted(accepted));
                }
                Err((id, error)) => events.push(ChainEvent::Rejected { id, author: pos.0, error }),
            }
        }
    }

    /// Checks the link and Lamport rules of a ready entry and accepts it.
    fn accept(
        &mut self,
        entry: Entry<Verified>,
    ) -> Result<Arc<Entry<Verified>>, (MessageId, ChainError)> {
        let m = entry.message();
        let fail = |e| (entry.id(), e);
        if let Some((_, held)) = self.tails.get(&m.author) {
            rules::check_chain_link(m, held).map_err(fail)?;
        }
        let lamports: Vec<u64> = m
            .parents
            .iter()
            .filter_map(|p| self.accepted.get(p))
            .map(|e| e.message().lamport)
            .collect();
        rules::check_lamport(m.lamport, &lamports).map_err(fail)?;
        let (author, seq, id) = (m.author, m.seq, entry.id());
        self.tails.insert(author, (seq, id));
        self.positions.insert((author, seq), id);
        let entry = Arc::new(entry);
        self.accepted.insert(id, Arc::clone(&entry));
        Ok(entry)
    }

    fn why_waiting(&self, entry: &Entry<Verified>) -> Vec<ChainEvent> {
        let (author, seq) = (entry.author(), entry.seq());
        let next = self.next_seq(&author);
        let mut events = Vec::new();
        if seq > next && !self.pending.contains_key(&(author, seq - 1)) {
            events.push(ChainEvent::Gap { author, missing: next..=seq - 1 });
        }
        let missing = self.missing_parents(entry.message());
        if !missing.is_empty() {
            events.push(ChainEvent::WaitingForParents { id: entry.id(), missing });
        }
        events
    }

    /// Drafts `author`'s next message: seq and `prev` from their chain,
    /// parents = their previous message plus the newest tails of other
    /// authors (at most [`MAX_PARENTS`] in all), Lamport from the parents.
    pub fn draft(
        &self,
        author: &PublicKey,
        epoch: EpochId,
        minute: u64,
        body: Body,
    ) -> UnsignedMessage {
        self.draft_among(author, epoch, minute, body, |_| true)
    }

    /// Like [`ChainState::draft`], citing only other authors' tails that
    /// `usable` accepts (a replica skips messages its group does not keep,
    /// `group.md` "Admission gate": citing one would hide its own past).
    pub fn draft_among(
        &self,
        author: &PublicKey,
        epoch: EpochId,
        minute: u64,
        body: Body,
        usable: impl Fn(&MessageId) -> bool,
    ) -> UnsignedMessage {
        let own = self.tails.get(author).map(|(_, id)| *id);
        let mut others: Vec<&Entry<Verified>> = self
            .tails
            .iter()
            .filter(|(a, _)| *a != author)
            .filter(|(_, (_, id))| usable(id))
            .filter_map(|(_, (_, id))| self.accepted.get(id).map(|e| &**e))
            .collect();
        others.sort_by_key(|e| std::cmp::Reverse((e.message().lamport, e.id())));
        let room = MAX_PARENTS - usize::from(own.is_some());
        let mut parents: Vec<MessageId> = others.iter().take(room).map(|e| e.id()).collect();
        parents.extend(own);
        parents.sort();
        let lamport = parents
            .iter()
            .filter_map(|p| self.accepted.get(p))
            .map(|e| e.message().lamport + 1)
            .max()
            .unwrap_or(0);
        UnsignedMessage {
            version: MESSAGE_VERSION,
            group: self.group,
            epoch,
            author: *author,
            seq: self.next_seq(author),
            prev: own,
            parents,
            lamport,
            minute,
            body,
        }
    }
}
