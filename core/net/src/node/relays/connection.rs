//! One relay of one group: the task that connects, drives a
//! [`ClientSession`] with bytes, time and the node's store, and reconnects
//! when [`Memory::reconnect`] says so.
//!
//! The main connection subscribes to the newest mailboxes and posts the
//! outbox; older epochs' mailboxes are followed on connections of their own
//! (a relay lets one connection use only `max_mailboxes`, `relay.md` §4).
//! Nothing here decides what a relay's answer means: the session does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_proto::relay_proto::frame;
use cairn_proto::relay_proto::{
    ClientAction, ClientHandshake, ClientSession, Ended, MAX_RESPONSE_FRAME, Memory, Reconnect,
    Retry, pow,
};
use cairn_proto::wire::{GroupId, MailboxId};
use tokio::io::{AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};

use super::super::profile::Queued;
use super::super::{Node, NodeEvent};
use super::{BACKOFF, Delivery, clock, isolation, origin};
use crate::frames::{FrameReader, ReadError};
use crate::{BoxStream, ErrorKind, PeerAddr};

/// How long the relay has to answer the hello (a relay closes a silent
/// connection after 10 s; a Tor stream may stall without failing).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames taken in together at most (their deliveries are one commit).
const MAX_BATCH: usize = 256;

/// Why one connection to a relay ended, as the shell saw it.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    /// The relay could not be reached (or its address is unusable).
    #[error("cannot connect: {0}")]
    Connect(#[source] crate::Error),
    /// Reading or writing the stream failed.
    #[error("the connection failed while {action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The stream's error.
        source: std::io::Error,
    },
    /// The relay did not answer the hello in time.
    #[error("the relay did not answer the hello within {HANDSHAKE_TIMEOUT:?}")]
    HandshakeTimeout,
    /// The relay announced a frame this client does not accept.
    #[error("the relay sent a bad frame: {0}")]
    Frame(#[source] ReadError),
    /// The session ended the connection.
    #[error(transparent)]
    Session(#[from] Ended),
}

impl ConnError {
    fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { action, source }
    }

    /// When to connect again after this.
    fn reconnect(&self, memory: &mut Memory, lived: Duration, jitter: Duration) -> Reconnect {
        match self {
            // An address the transport will never reach.
            Self::Connect(e) if matches!(e.kind(), ErrorKind::BadAddress | ErrorKind::Refused) => {
                Reconnect::Never
            }
            Self::Session(ended) => memory.reconnect(ended, lived, jitter),
            _ => memory.reconnect(&Ended::Disconnected, lived, jitter),
        }
    }
}

/// Connects to `relay` for `group` until the group's relays are replaced
/// (the task is aborted) or the relay cannot serve this node at all.
pub(super) async fn relay_task(
    node: Node,
    group: GroupId,
    relay: String,
    mut posts: PostQueue,
    mut mailboxes: watch::Receiver<Vec<MailboxId>>,
) {
    let mut memory = Memory::default();
    loop {
        let started = Instant::now();
        let error = main_connection(&node, group, &relay, &mut posts, &mut mailboxes, &mut memory);
        let error = error.await;
        node.relay_up(group, &relay, false);
        // Jitter so that many nodes do not reconnect in step.
        let jitter = rand_core::Rng::next_u32(&mut super::super::os_rng()) % 1000;
        let jitter = Duration::from_millis(u64::from(jitter));
        let retry_in = match error.reconnect(&mut memory, started.elapsed(), jitter) {
            Reconnect::Now => continue,
            Reconnect::After(wait) => wait,
            Reconnect::Never => Duration::MAX,
        };
        let (error, relay) = (error.to_string(), relay.clone());
        node.emit(NodeEvent::RelayDown { group, relay, error, retry_in });
        if retry_in == Duration::MAX {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// An open, handshaken connection.
struct Link {
    writer: WriteHalf<BoxStream>,
    session: ClientSession,
    frames: mpsc::Receiver<Result<Vec<u8>, ConnError>>,
    /// Proofs of work come back here from the blocking pool.
    solved_tx: mpsc::Sender<(MailboxId, Option<u64>)>,
    solved: mpsc::Receiver<(MailboxId, Option<u64>)>,
    _reader: AbortOnDrop,
}

/// New outbox items for this connection to post.
pub(super) struct PostQueue {
    pub(super) rx: mpsc::Receiver<Queued>,
    /// An item did not fit in the queue: post the outbox again once the
    /// queue is drained (the session skips items already in flight).
    pub(super) overflowed: Arc<AtomicBool>,
}

/// The main connection's inputs besides the relay.
struct Inputs<'a> {
    posts: &'a mut PostQueue,
    mailboxes: &'a mut watch::Receiver<Vec<MailboxId>>,
}

async fn main_connection(
    node: &Node,
    group: GroupId,
    relay: &str,
    posts: &mut PostQueue,
    mailboxes: &mut watch::Receiver<Vec<MailboxId>>,
    memory: &mut Memory,
) -> ConnError {
    let mut link = match open(node, group, relay, std::mem::take(memory)).await {
        Ok(link) => link,
        Err(e) => return e,
    };
    let all = mailboxes.borrow_and_update().clone();
    let used = link.session.window(&all);
    link.session.subscribe(clock(), &cursors(node, group, relay, &used));
    // Older epochs still within their grace period: late messages may
    // arrive there, each window of them on a connection of its own.
    let _older: Vec<AbortOnDrop> = all[used.len()..]
        .chunks(used.len().max(1))
        .map(|chunk| {
            let follow = follow_older(node.clone(), group, relay.to_owned(), chunk.to_vec());
            AbortOnDrop(tokio::spawn(follow))
        })
        .collect();
    node.relay_up(group, relay, true);
    node.emit(NodeEvent::RelayUp { group, relay: relay.to_owned() });
    // Whatever overflowed before is in the outbox posted now.
    posts.overflowed.store(false, Ordering::Release);
    post_outbox(node, group, &mut link);
    let error = run(node, group, relay, &mut link, Some(Inputs { posts, mailboxes })).await;
    *memory = link.session.into_memory();
    error
}

/// Follows older epochs' mailboxes (subscribe only, never post) until the
/// main connection ends, reconnecting after failures.
async fn follow_older(node: Node, group: GroupId, relay: String, mailboxes: Vec<MailboxId>) {
    loop {
        match open(&node, group, &relay, Memory::default()).await {
            Ok(mut link) => {
                link.session.subscribe(clock(), &cursors(&node, group, &relay, &mailboxes));
                let e = run(&node, group, &relay, &mut link, None).await;
                tracing::debug!("a connection for older epochs ended: {e}");
            }
            Err(e) => tracing::debug!("a connection for older epochs failed: {e}"),
        }
        node.relay_subscribed(group, &relay, &mailboxes, false);
        tokio::time::sleep(BACKOFF.1 / 4).await;
    }
}

/// Each mailbox with the last cursor stored for it from `relay`.
fn cursors(
    node: &Node,
    group: GroupId,
    relay: &str,
    mailboxes: &[MailboxId],
) -> Vec<(MailboxId, u64)> {
    mailboxes.iter().map(|m| (*m, node.core().cursor(&group, relay, m))).collect()
}

async fn open(node: &Node, group: GroupId, relay: &str, memory: Memory) -> Result<Link, ConnError> {
    let addr: PeerAddr = relay.parse().map_err(ConnError::Connect)?;
    let transport = node.net().transport();
    let stream = transport.connect(&addr, &isolation(&group)).await.map_err(ConnError::Connect)?;
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = FrameReader::new(reader, MAX_RESPONSE_FRAME);
    let hs = ClientHandshake::new();
    write(&mut writer, &hs.hello_frame()).await?;
    let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut reader))
        .await
        .map_err(|_| ConnError::HandshakeTimeout)??;
    let session = hs.handle(&reply).map_err(|e| ConnError::Session(Ended::Handshake(e)))?;
    let (frames_tx, frames) = mpsc::channel(MAX_BATCH);
    let reader_task = tokio::spawn(async move {
        loop {
            let frame = read_frame(&mut reader).await;
            let end = frame.is_err();
            if frames_tx.send(frame).await.is_err() || end {
                break;
            }
        }
    });
    let (solved_tx, solved) = mpsc::channel(16);
    let session = session.with_memory(memory);
    Ok(Link { writer, session, frames, solved_tx, solved, _reader: AbortOnDrop(reader_task) })
}

/// Feeds the session until it or the stream ends the connection.
async fn run(
    node: &Node,
    group: GroupId,
    relay: &str,
    link: &mut Link,
    inputs: Option<Inputs<'_>>,
) -> ConnError {
    let (mut posts, mut mailboxes) = match inputs {
        Some(Inputs { posts, mailboxes }) => (Some(posts), Some(mailboxes)),
        None => (None, None),
    };
    loop {
        if let Err(e) = execute(node, group, relay, link).await {
            return e;
        }
        let deadline = link.session.poll_timeout().map_or(Duration::from_secs(3600), |d| d);
        let deadline = tokio::time::Instant::from_std(origin() + deadline);
        tokio::select! {
            frame = link.frames.recv() => match frame {
                Some(Ok(f)) => {
                    link.session.handle_frame(clock(), &f);
                    // What else has arrived is taken in together with it.
                    if let Some(e) = take_waiting_frames(link) {
                        // What came before the failure is stored first.
                        return execute(node, group, relay, link).await.err().unwrap_or(e);
                    }
                }
                Some(Err(e)) => return e,
                None => return Ended::Disconnected.into(),
            },
            Some((mailbox, nonce)) = link.solved.recv() => {
                link.session.solved(clock(), mailbox, nonce);
            }
            Some(q) = next_post(&mut posts) => {
                link.session.post(clock(), q.outbox_id, &q.envelopes);
                if let Some(p) = &posts
                    && p.rx.is_empty()
                    && p.overflowed.swap(false, Ordering::AcqRel)
                {
                    post_outbox(node, group, link);
                }
            }
            Some(all) = next_mailboxes(&mut mailboxes) => link.session.follow(&all),
            () = tokio::time::sleep_until(deadline) => link.session.handle_timeout(clock()),
        }
    }
}

/// Feeds the session the frames that have arrived already, up to
/// [`MAX_BATCH`], so that their deliveries are taken in, and stored, as one;
/// the stream's error or end if it came among them.
fn take_waiting_frames(link: &mut Link) -> Option<ConnError> {
    for _ in 1..MAX_BATCH {
        match link.frames.try_recv() {
            Ok(Ok(f)) => link.session.handle_frame(clock(), &f),
            Ok(Err(e)) => return Some(e),
            Err(mpsc::error::TryRecvError::Empty) => return None,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return Some(Ended::Disconnected.into());
            }
        }
    }
    None
}

/// Posts every outbox item of `group` (the session skips those in flight).
fn post_outbox(node: &Node, group: GroupId, link: &mut Link) {
    let waiting = node.core().outbox().unwrap_or_default().into_iter().filter(|q| q.group == group);
    for q in waiting {
        link.session.post(clock(), q.outbox_id, &q.envelopes);
    }
}

async fn next_post(posts: &mut Option<&mut PostQueue>) -> Option<Queued> {
    match posts {
        Some(posts) => posts.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_mailboxes(
    mailboxes: &mut Option<&mut watch::Receiver<Vec<MailboxId>>>,
) -> Option<Vec<MailboxId>> {
    match mailboxes {
        Some(m) => match m.changed().await {
            Ok(()) => Some(m.borrow_and_update().clone()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Carries out what the session asks, until it has nothing more. What
/// the relay delivered and acknowledged in this round is taken in as one
/// batch (one store commit) before the next round.
async fn execute(
    node: &Node,
    group: GroupId,
    relay: &str,
    link: &mut Link,
) -> Result<(), ConnError> {
    loop {
        let mut round = Round::default();
        let closed = act(node, group, relay, link, &mut round).await?;
        let stored = round.settle(node, group, relay).await;
        if let Some(ended) = closed {
            return Err(ended.into());
        }
        if stored {
            return Ok(());
        }
        // The session ends the connection; what it delivered comes again.
        link.session.close(Ended::StoreFailed);
    }
}

/// What one round of the session's actions leaves to the store.
#[derive(Default)]
struct Round {
    delivered: Vec<Delivery>,
    acked: Vec<u64>,
}

impl Round {
    /// Takes in the deliveries and acknowledgements, off the async workers
    /// (the commit waits on the disk); the connection waits for it, so
    /// nothing it does next runs ahead of what is stored. False if the
    /// store refused the deliveries.
    async fn settle(self, node: &Node, group: GroupId, relay: &str) -> bool {
        if self.delivered.is_empty() && self.acked.is_empty() {
            return true;
        }
        let relay = relay.to_owned();
        let Round { delivered, acked } = self;
        let stored = node.off_workers(move |node| {
            if !acked.is_empty() {
                node.relay_acked(group, &acked, &relay);
            }
            delivered.is_empty() || node.relay_delivered(group, &relay, delivered)
        });
        stored.await.unwrap_or(false)
    }
}

/// Carries out the session's actions until it has none, keeping what is
/// for the store in `round`; returns how the session ended, if it did.
async fn act(
    node: &Node,
    group: GroupId,
    relay: &str,
    link: &mut Link,
    round: &mut Round,
) -> Result<Option<Ended>, ConnError> {
    while let Some(action) = link.session.poll_action() {
        match action {
            ClientAction::Send(request) => {
                write(&mut link.writer, &frame::encode(&request.encode())).await?
            }
            ClientAction::Deliver { mailbox, cursor, envelope } => {
                round.delivered.push(Delivery { mailbox, cursor, envelope });
            }
            ClientAction::Subscribed(mailboxes) => {
                node.relay_subscribed(group, relay, &mailboxes, true)
            }
            ClientAction::Acked(item) => round.acked.push(item),
            ClientAction::Refused { refusal, retry, .. } => {
                tracing::warn!("relay refused a post: {refusal} ({retry:?})");
                let next = match retry {
                    Retry::Slowly => "it is posted again every minute",
                    Retry::NextConnection => "it is posted again on the next connection",
                    Retry::Never => "it is not posted to this relay again",
                };
                let reason = format!("{refusal}; {next}");
                node.emit(NodeEvent::PostRefused { group, relay: relay.to_owned(), reason });
            }
            ClientAction::Solve { mailbox, difficulty } => {
                let solved = link.solved_tx.clone();
                tokio::spawn(async move {
                    let _ = solved.send((mailbox, solve(mailbox, difficulty).await)).await;
                });
            }
            ClientAction::Close(ended) => return Ok(Some(ended)),
        }
    }
    Ok(None)
}

/// Finds a proof of work for `mailbox` (off the async threads: up to a
/// second of hashing).
async fn solve(mailbox: MailboxId, difficulty: u8) -> Option<u64> {
    // Twice the expected number of tries fails with probability e^-2 per
    // round; four rounds from different starts make failure negligible.
    let tries = 2u64 << difficulty;
    tokio::task::spawn_blocking(move || {
        (0..4u64).find_map(|round| pow::solve(&mailbox, difficulty, round * tries, tries))
    })
    .await
    .ok()
    .flatten()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn write(writer: &mut WriteHalf<BoxStream>, frame: &[u8]) -> Result<(), ConnError> {
    writer.write_all(frame).await.map_err(ConnError::io("writing"))?;
    // Tor streams buffer until flushed.
    writer.flush().await.map_err(ConnError::io("flushing"))
}

async fn read_frame(reader: &mut FrameReader<ReadHalf<BoxStream>>) -> Result<Vec<u8>, ConnError> {
    let eof =
        || ConnError::Io { action: "reading", source: std::io::ErrorKind::UnexpectedEof.into() };
    match reader.next().await {
        Ok(Some(payload)) => Ok(payload),
        Ok(None) | Err(ReadError::Truncated) => Err(eof()),
        Err(ReadError::Io(source)) => Err(ConnError::Io { action: "reading", source }),
        Err(e @ (ReadError::TooLarge { .. } | ReadError::Empty)) => Err(ConnError::Frame(e)),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn a_solved_proof_checks() {
        let mailbox = MailboxId([7; 32]);
        let nonce = solve(mailbox, 12).await.expect("solved");
        assert!(pow::check(&mailbox, nonce, 12));
    }
}
