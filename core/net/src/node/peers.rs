//! Peers (`node.md`, "Peers"): the node serves resync, heads and direct
//! delivery on its onion service, and resyncs each group from a few members
//! (recently reachable first), never a full mesh.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_proto::crypto::PublicKey;
use cairn_proto::identity::onion_address;
use cairn_proto::peer_proto::{Head, PeerErrorCode, PeerMessage, PeerTarget};
use cairn_proto::wire::GroupId;
use tokio::sync::Semaphore;

use super::peer_conn::{HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, PeerConn, PeerConnError, REPLY_TIMEOUT};
use super::relays::isolation;
use super::{Node, NodeError, NodeEvent};
use crate::{BoxStream, Listener};

/// Sessions served at once; more are closed at once.
pub const MAX_SESSIONS: usize = 32;
/// Members asked per resync round (Tor builds few circuits at once).
pub const SYNC_PEERS: usize = 3;
/// Messages delivered to a peer that lacks them, per session.
const MAX_DELIVER: usize = 1024;
/// The longest a resync session waits out `RateLimited` answers in all
/// (two of the default windows) before it gives up: a peer cannot park a
/// resync, and with it the node's periodic resync round, for longer.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// How much one peer session may ask and get (`peer.md`, "The shell").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// Messages per resync page (asked for, and the most served); a page
    /// also stops before [`cairn_proto::replica::PAGE_BYTES`].
    pub page: u32,
    /// Pages a resync session pulls before it ends (a join pulls sessions
    /// until it holds the current epoch's key).
    pub pages_per_session: usize,
    /// Requests a served session may make per `window`; more are answered
    /// `RateLimited` with the time to wait.
    pub requests: u32,
    /// The rate limit's window.
    pub window: Duration,
}

impl Default for PeerLimits {
    /// Pages of 1024 and 120 requests a minute: a catch-up of 100,000
    /// messages takes about 100 requests, within one window.
    fn default() -> Self {
        Self { page: 1024, pages_per_session: 64, requests: 120, window: Duration::from_secs(60) }
    }
}

fn refuse(code: PeerErrorCode) -> PeerMessage {
    PeerMessage::Error { code: code.number(), info: 0 }
}

impl Node {
    /// Accepts peer sessions until the node is dropped.
    pub(crate) fn serve_peers(&self, mut listener: Box<dyn Listener>) {
        let node = self.clone();
        let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
        self.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        // Over the cap: drop the stream at once.
                        let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                        let node = node.clone();
                        tokio::spawn(async move {
                            if let Err(e) = node.serve_session(stream).await {
                                tracing::debug!("peer session ended: {e}");
                            }
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accepting peers: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    async fn serve_session(&self, stream: BoxStream) -> Result<(), PeerConnError> {
        let mut conn = PeerConn::respond(stream, self.identity()).await?;
        let peer = conn.peer().ok_or(PeerConnError::Closed)?;
        let limits = self.peer_limits();
        let (mut window, mut used) = (Instant::now(), 0u32);
        loop {
            let message = match conn.next_message(IDLE_TIMEOUT).await {
                Err(PeerConnError::Closed) => return Ok(()),
                other => other?,
            };
            if window.elapsed() > limits.window {
                (window, used) = (Instant::now(), 0);
            }
            used += 1;
            if used > limits.requests {
                let wait = limits.window.saturating_sub(window.elapsed()).as_millis() as u64;
                let code = PeerErrorCode::RateLimited.number();
                conn.send(&PeerMessage::Error { code, info: wait.max(1) }).await?;
                continue;
            }
            self.answer(&mut conn, &peer, message).await?;
        }
    }

    async fn answer(
        &self,
        conn: &mut PeerConn,
        peer: &PublicKey,
        message: PeerMessage,
    ) -> Result<(), PeerConnError> {
        match message {
            PeerMessage::ResyncRequest { group, have, limit } => {
                let have: BTreeMap<PublicKey, u64> = have.into_iter().collect();
                let limit = limit.min(self.peer_limits().page) as usize;
                let reply = self.core().resync_for(&group, peer, &have, limit);
                match reply {
                    Ok(Ok(page)) => {
                        for message in page.messages {
                            conn.send(&PeerMessage::ResyncItem { message }).await?;
                        }
                        conn.send(&PeerMessage::ResyncDone { more: page.more }).await?;
                    }
                    Ok(Err(_)) => conn.send(&refuse(PeerErrorCode::NotAuthorized)).await?,
                    Err(NodeError::UnknownGroup) => {
                        conn.send(&refuse(PeerErrorCode::UnknownGroup)).await?;
                    }
                    Err(_) => conn.send(&refuse(PeerErrorCode::Internal)).await?,
                }
            }
            PeerMessage::Heads { group, heads } => {
                // Heads would tell a former member that the group goes on.
                if !self.is_member_of(&group, peer) {
                    return conn.send(&refuse(PeerErrorCode::NotAuthorized)).await;
                }
                let mine = self.core().heads(&group).unwrap_or_default();
                conn.send(&PeerMessage::Heads { group, heads: mine }).await?;
                self.note_heads(group, &heads);
            }
            PeerMessage::GroupsRequest => {
                let groups = self.shared_groups(peer);
                conn.send(&PeerMessage::Groups { groups }).await?;
            }
            PeerMessage::Deliver { group, message } if self.is_member_of(&group, peer) => {
                self.off_workers(move |n| n.receive_messages(group, vec![message])).await;
            }
            // Someone redeems an invitation this member may answer: the
            // inviter's own service is gone (`peer.md`, "Invitations").
            PeerMessage::JoinRequest { proof, key_package, name } => {
                if let Err(e) = self.answer_join(conn, proof, key_package, name).await {
                    tracing::debug!("answering a join request failed: {e}");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The groups `who` is or was a member of, with their genesis.
    fn shared_groups(&self, who: &PublicKey) -> Vec<(GroupId, cairn_proto::wire::MessageId)> {
        let core = self.core();
        core.groups()
            .filter_map(|(g, r)| r.state().map(|s| (g, s)))
            .filter(|(_, s)| s.members.contains_key(who) || s.former.contains_key(who))
            .map(|(g, s)| (*g, s.genesis))
            .take(cairn_proto::peer_proto::MAX_GROUPS)
            .collect()
    }

    /// A restored identity finds its groups again: asks the member whose
    /// onion service is `onion` which groups it shares with this identity,
    /// and resyncs each from it. Returns the groups recovered.
    pub async fn recover_from(&self, onion: &PublicKey) -> Result<Vec<GroupId>, NodeError> {
        let probe = GroupId(*blake3::hash(&onion.0).as_bytes());
        let mut conn = self.dial(&probe, None, onion).await?;
        let source =
            format!("peer {}", cairn_proto::hex::short(&conn.peer().unwrap_or(*onion).0, 16));
        conn.send(&PeerMessage::GroupsRequest).await?;
        let PeerMessage::Groups { groups } = conn.next_message(REPLY_TIMEOUT).await? else {
            return Err(NodeError::Bug("the peer did not list groups"));
        };
        let me = self.identity().public_key();
        let mut recovered = Vec::new();
        for (group, genesis) in groups {
            {
                // One hold of the lock: looked for and added together.
                let mut core = self.core();
                if core.replica(&group).is_err() {
                    let (replica, _) = cairn_proto::replica::Replica::joining(
                        &mut super::os_rng(),
                        me,
                        group,
                        genesis,
                    );
                    core.add_joined(replica, genesis)?;
                }
            }
            self.pull(&mut conn, group).await?;
            self.core().source_caught_up(group, &source)?;
            self.start_relays(group);
            recovered.push(group);
        }
        conn.close().await;
        Ok(recovered)
    }

    fn is_member_of(&self, group: &GroupId, who: &PublicKey) -> bool {
        self.with_replica(group, |r| r.state().is_some_and(|s| s.members.contains_key(who)))
            .unwrap_or(false)
    }

    /// A peer's heads, received as the served side of an exchange: only
    /// logged here, because the peer that sent them delivers what this
    /// node lacks right after (`push_missing`), and this node's own resync
    /// rounds pull the rest.
    fn note_heads(&self, group: GroupId, heads: &[Head]) {
        let behind = self.with_replica(&group, |r| r.behind(heads)).unwrap_or_default();
        if !behind.is_empty() {
            tracing::debug!("a peer holds {} authors' newer messages", behind.len());
        }
    }

    /// The members to resync `group` from: those with a known onion
    /// service, most recently reached first.
    fn sync_targets(&self, group: &GroupId) -> Vec<(PublicKey, PublicKey)> {
        let me = self.identity().public_key();
        let members = self.with_replica(group, |r| {
            let members = r.state().into_iter().flat_map(|s| &s.members);
            let others = members.filter(|(k, _)| **k != me);
            others.filter_map(|(k, m)| m.onion.map(|o| (*k, o))).collect()
        });
        let Ok(mut targets): Result<Vec<(PublicKey, PublicKey)>, _> = members else {
            return Vec::new();
        };
        let reached = self.reached();
        targets.sort_by_key(|(k, _)| std::cmp::Reverse(reached.get(k).copied()));
        targets
    }

    /// Resyncs `group` from up to [`SYNC_PEERS`] members; returns how many
    /// new messages arrived.
    pub async fn resync_group(&self, group: GroupId) -> Result<usize, NodeError> {
        let mut total = 0;
        for (member, onion) in self.sync_targets(&group).into_iter().take(SYNC_PEERS) {
            match self.resync_with(group, member, onion).await {
                Ok(accepted) => {
                    total += accepted;
                    self.reached().insert(member, Instant::now());
                    self.emit(NodeEvent::Synced { group, peer: member, accepted });
                }
                Err(e) => tracing::debug!("resync with a peer failed: {e}"),
            }
        }
        Ok(total)
    }

    /// Dials `member` at its onion service `onion`.
    pub(crate) async fn dial(
        &self,
        group: &GroupId,
        member: Option<PublicKey>,
        onion: &PublicKey,
    ) -> Result<PeerConn, NodeError> {
        let addr = self.net().peer_addr(onion)?;
        let transport = self.net().transport();
        let stream =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, transport.connect(&addr, &isolation(group)))
                .await
                .map_err(|_| NodeError::Peer(PeerConnError::Timeout(HANDSHAKE_TIMEOUT)))??;
        let target = PeerTarget { onion: onion_address(onion), identity: member };
        Ok(PeerConn::initiate(stream, self.identity(), target).await?)
    }

    pub(crate) async fn resync_with(
        &self,
        group: GroupId,
        member: PublicKey,
        onion: PublicKey,
    ) -> Result<usize, NodeError> {
        let mut conn = self.dial(&group, Some(member), &onion).await?;
        let accepted = self.pull(&mut conn, group).await?;
        let source = format!("peer {}", cairn_proto::hex::short(&member.0, 16));
        self.core().source_caught_up(group, &source)?;
        let mine = self.core().heads(&group)?;
        conn.send(&PeerMessage::Heads { group, heads: mine }).await?;
        if let PeerMessage::Heads { heads, .. } = conn.next_message(REPLY_TIMEOUT).await? {
            self.push_missing(&mut conn, group, &heads).await?;
        }
        conn.close().await;
        Ok(accepted)
    }

    /// Asks for what we lack, page after page.
    pub(crate) async fn pull(
        &self,
        conn: &mut PeerConn,
        group: GroupId,
    ) -> Result<usize, NodeError> {
        let limits = self.peer_limits();
        let (mut accepted, mut waited) = (0, Duration::ZERO);
        let mut pages = 0;
        while pages < limits.pages_per_session {
            let have = self.with_replica(&group, |r| r.chain().version_vector())?;
            conn.send(&PeerMessage::resync_request(group, &have, limits.page)).await?;
            let (items, more) = match resync_page(conn).await? {
                Page::Items(items, more) => (items, more),
                // Asked too fast: wait as told (within reason), ask again.
                Page::RateLimited(wait) if waited + wait <= MAX_RATE_LIMIT_WAIT => {
                    waited += wait;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Page::RateLimited(wait) => {
                    let code = PeerErrorCode::RateLimited.number();
                    let info = wait.as_millis() as u64;
                    return Err(PeerConnError::Refused { code, info }.into());
                }
            };
            pages += 1;
            let got = items.len();
            // Taken in, and committed, off the async workers.
            let taken = self.off_workers(move |n| n.receive_messages(group, items));
            accepted += taken.await.unwrap_or(0);
            if !more || got == 0 {
                break;
            }
        }
        Ok(accepted)
    }

    /// Delivers the messages a peer's heads show it lacks.
    async fn push_missing(
        &self,
        conn: &mut PeerConn,
        group: GroupId,
        theirs: &[Head],
    ) -> Result<(), NodeError> {
        let have: BTreeMap<PublicKey, u64> = theirs.iter().map(|h| (h.author, h.seq)).collect();
        let peer = conn.peer().ok_or(NodeError::Bug("no peer"))?;
        let page = match self.core().resync_for(&group, &peer, &have, MAX_DELIVER)? {
            Ok(page) => page,
            Err(_) => return Ok(()),
        };
        for message in page.messages {
            conn.send(&PeerMessage::Deliver { group, message }).await?;
        }
        Ok(())
    }
}

/// What a peer answered a resync request with.
enum Page {
    /// The page's messages, and whether more are due.
    Items(Vec<Vec<u8>>, bool),
    /// Too many requests: ask again after this.
    RateLimited(Duration),
}

/// Reads one answer to a resync request. A refusal other than the rate
/// limit ends the resync with its code (the rate limit used to end it too:
/// a join into a 40,000-message group failed so).
async fn resync_page(conn: &mut PeerConn) -> Result<Page, PeerConnError> {
    let mut items = Vec::new();
    let rate_limited = PeerErrorCode::RateLimited.number();
    loop {
        match conn.next_message(REPLY_TIMEOUT).await {
            Ok(PeerMessage::ResyncItem { message }) => items.push(message),
            Ok(PeerMessage::ResyncDone { more }) => return Ok(Page::Items(items, more)),
            Ok(_) => {}
            Err(PeerConnError::Refused { code, info }) if code == rate_limited => {
                return Ok(Page::RateLimited(Duration::from_millis(info)));
            }
            Err(e) => return Err(e),
        }
    }
}
