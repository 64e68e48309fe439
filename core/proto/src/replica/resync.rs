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

use std::collections::BTreeMap;

use super::{Replica, ReplicaError};
use crate::crypto::PublicKey;
use crate::group::Position;
use crate::peer_proto::Head;
use crate::store::Store;
use crate::wire::MessageId;

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
    /// contiguous seq) and is entitled to, read from `store`.
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
        let mut lacking = Vec::new();
        let mut truncated = false;
        for (author, top) in store.version_vector(&group)? {
            let from = have.get(&author).map_or(0, |s| s.saturating_add(1));
            if from > top {
                continue;
            }
            // An author's messages come in causal order along its chain, so
            // the first `limit` of all are among the first `limit` of each:
            // a page reads at most that many per author, never the whole
            // history it lacks (a catch-up of N messages read N each page).
            let last = top.min(from.saturating_add(limit.max(1) as u64 - 1));
            truncated |= last < top;
            for e in store.range(&group, &author, from..=last)? {
                let pos: Position = (e.lamport, MessageId(e.id));
                // A gone member's later messages have later positions too.
                if bound.is_some_and(|b| pos >= b) {
                    break;
                }
                lacking.push((pos, e.bytes));
            }
        }
        lacking.sort_by_key(|(pos, _)| *pos);
        let more = lacking.len() > limit || (truncated && !lacking.is_empty());
        let messages = lacking.into_iter().take(limit).map(|(_, b)| b).collect();
        Ok(Ok(ResyncReply { messages, more }))
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
