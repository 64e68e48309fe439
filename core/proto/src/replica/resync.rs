//! What a peer asking for resync is entitled to (`protocol-spec/node.md`,
//! "Resync entitlement").
//!
//! * A current member gets every message it lacks: it needs the whole group
//!   layer to fold, and content sealed to roles stays sealed (a joiner also
//!   sees chat written before it joined; `security.md` says so).
//! * A former member (removed or gone) gets only messages ordered before the
//!   message that ended its membership: nothing written after its removal.
//! * Anyone else gets nothing.
//!
//! Messages go out in causal order (Lamport, then id), at most `limit`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use super::{Replica, ReplicaError};
use crate::crypto::PublicKey;
use crate::group::Position;
use crate::peer_proto::Head;
use crate::store::{Store, StoreError};
use crate::wire::MessageId;

/// A resync page stops before this many bytes of messages (it always
/// holds at least one): what a requester buffers per page.
pub const PAGE_BYTES: usize = 1 << 20;
/// Messages read from the store at a time per author while merging.
pub const READ_AHEAD: u64 = 64;
/// Bytes read ahead, across authors, past which each author is read one
/// message at a time: a page's memory stays bounded whatever sizes the
/// authors' messages have (a member writing large messages cannot make a
/// page read 64 of them per author).
pub const READ_AHEAD_BYTES: usize = 4 << 20;

/// The requester may have nothing of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the requester is not and never was a member of this group")]
pub struct NotEntitled;

/// One page of a resync reply.
#[derive(Debug, Default)]
pub struct ResyncReply {
    /// Encoded signed messages, in causal order.
    pub messages: Vec<Vec<u8>>,
    /// The requester is entitled to more than this page.
    pub more: bool,
}

/// One author's chain from the first seq the requester lacks, read ahead
/// a few messages at a time.
struct Chain {
    author: PublicKey,
    /// The next seq to read from the store.
    next: u64,
    /// The last seq held here.
    top: u64,
    /// Read, not yet paged: in causal order.
    ahead: VecDeque<(Position, Vec<u8>)>,
}

impl Chain {
    /// The position of this chain's next due message, reading ahead when
    /// nothing is buffered. A former member's entitlement ends at `bound`:
    /// an author's later messages have later positions, so the chain ends
    /// at the first one past it.
    fn peek(
        &mut self,
        store: &dyn Store,
        group: &[u8; 32],
        bound: Option<Position>,
        buffered: &mut usize,
    ) -> Result<Option<Position>, StoreError> {
        if self.ahead.is_empty() && self.next <= self.top {
            let ahead = if *buffered > READ_AHEAD_BYTES { 1 } else { READ_AHEAD };
            let last = self.top.min(self.next.saturating_add(ahead - 1));
            let mut ended = false;
            for e in store.range(group, &self.author, self.next..=last)? {
                let pos: Position = (e.lamport, MessageId(e.id));
                if bound.is_some_and(|b| pos >= b) {
                    ended = true;
                    break;
                }
                *buffered += e.bytes.len();
                self.ahead.push_back((pos, e.bytes));
            }
            self.next = if ended { self.top.saturating_add(1) } else { last.saturating_add(1) };
        }
        Ok(self.ahead.front().map(|(pos, _)| *pos))
    }
}

impl Replica {
    /// The last position `requester` may receive: `None` for no bound (a
    /// member), `Some` for a former member, `Err` for a stranger.
    fn entitlement(&self, requester: &PublicKey) -> Result<Option<Position>, NotEntitled> {
        let state = self.fold.state().ok_or(NotEntitled)?;
        if state.members.contains_key(requester) {
            return Ok(None);
        }
        let former = state.former.get(requester).ok_or(NotEntitled)?;
        let gone = self.chain.entry(&former.gone_by).ok_or(NotEntitled)?;
        Ok(Some((gone.message().lamport, former.gone_by)))
    }

    /// The messages `requester` lacks (it holds `have`: author → highest
    /// contiguous seq) and is entitled to, read from `store`: the first
    /// `limit` in causal order, fewer if they would pass [`PAGE_BYTES`]
    /// (never none while any is due).
    ///
    /// Each author's chain is in causal order, so the page is a merge of
    /// the authors' chains read [`READ_AHEAD`] at a time (one at a time
    /// once [`READ_AHEAD_BYTES`] are buffered): a page reads at most
    /// `limit` plus that many per author, never the whole history the
    /// requester lacks, and holds at most about [`PAGE_BYTES`] plus
    /// [`READ_AHEAD_BYTES`], one read-ahead and one message per author,
    /// whatever the messages' sizes.
    pub fn resync_for(
        &self,
        store: &dyn Store,
        requester: &PublicKey,
        have: &BTreeMap<PublicKey, u64>,
        limit: usize,
    ) -> Result<Result<ResyncReply, NotEntitled>, ReplicaError> {
        let bound = match self.entitlement(requester) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let group = self.group().0;
        let mut chains = Vec::new();
        for (author, top) in store.version_vector(&group)? {
            let next = have.get(&author).map_or(0, |s| s.saturating_add(1));
            chains.push(Chain { author, next, top, ahead: VecDeque::new() });
        }
        let (mut heap, mut buffered) = (BinaryHeap::new(), 0usize);
        for (i, chain) in chains.iter_mut().enumerate() {
            if let Some(pos) = chain.peek(store, &group, bound, &mut buffered)? {
                heap.push(Reverse((pos, i)));
            }
        }
        let (mut messages, mut bytes) = (Vec::new(), 0usize);
        while let Some(Reverse((_, i))) = heap.pop() {
            let chain = &mut chains[i];
            let Some((_, message)) = chain.ahead.pop_front() else { continue };
            buffered -= message.len();
            let full = messages.len() >= limit.max(1)
                || (!messages.is_empty() && bytes + message.len() > PAGE_BYTES);
            if full {
                return Ok(Ok(ResyncReply { messages, more: true }));
            }
            bytes += message.len();
            messages.push(message);
            if let Some(pos) = chain.peek(store, &group, bound, &mut buffered)? {
                heap.push(Reverse((pos, i)));
            }
        }
        Ok(Ok(ResyncReply { messages, more: false }))
    }

    /// The latest message per author held here, to compare with a peer's
    /// (a relay withholding the newest messages shows as a head we lack).
    pub fn heads(&self, store: &dyn Store) -> Result<Vec<Head>, ReplicaError> {
        let group = self.group().0;
        let mut heads = Vec::new();
        for author in store.version_vector(&group)?.into_keys() {
            if let Some((seq, id)) = store.tail(&group, &author)? {
                heads.push(Head { author, seq, id: MessageId(id) });
            }
        }
        Ok(heads)
    }

    /// The peer's heads this replica lacks: (author, first missing seq,
    /// their seq).
    pub fn behind(&self, heads: &[Head]) -> Vec<(PublicKey, u64, u64)> {
        let mine = self.chain.version_vector();
        heads
            .iter()
            .filter_map(|h| {
                let next = mine.get(&h.author).map_or(0, |s| s + 1);
                (h.seq >= next).then_some((h.author, next, h.seq))
            })
            .collect()
    }
}
