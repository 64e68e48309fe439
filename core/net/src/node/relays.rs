//! The node's relay connections (`node.md`, "Relays"): for each group, one
//! task per relay that connects through the transport with the group's
//! isolation key, subscribes to the group's mailboxes from the stored
//! cursors, posts the outbox, and reconnects with backoff. Posting goes to
//! every relay; reading takes from all, deduplicated by envelope.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cairn_proto::crypto::PublicKey;
use cairn_proto::relay_proto::frame::{self, HEADER_LEN};
use cairn_proto::relay_proto::{
    ClientHandshake, ClientSession, ErrorCode, MAX_RESPONSE_FRAME, RelayEvent,
};
use cairn_proto::replica::Carried;
use cairn_proto::wire::{Envelope, GroupId, MailboxId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};

use super::core::Queued;
use super::{Node, NodeEvent, SecurityWarning};
use crate::{BoxStream, IsolationKey, PeerAddr};

mod refusal;
mod seen;
use seen::Seen;

/// Backoff between connection attempts: first, cap.
pub const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
/// Outbox items waiting for one relay connection (more stay in the store
/// and are posted again on the next connection).
const QUEUE: usize = 256;
/// How often an idle connection pings (relays cut idle ones).
const PING_EVERY: Duration = Duration::from_secs(30);
/// A relay that has not delivered, within this time, an envelope another
/// relay of the group delivered is reported as withholding it.
pub const WITHHOLD_GRACE: Duration = Duration::from_secs(20);
/// Messages a peer gives are expected from the relays too if they were
/// written within this many minutes (older ones may be past retention).
const PEER_RECENT_MINUTES: u64 = 60;
/// The isolation key of a group's streams: one per group, so that a relay
/// serving two of a person's groups cannot link them by circuit.
pub fn isolation(group: &GroupId) -> IsolationKey {
    IsolationKey::from_bytes(blake3::derive_key("cairn isolation v1", &group.0))
}

/// One group's relay tasks.
pub(crate) struct GroupRelays {
    relays: Vec<String>,
    posts: Vec<mpsc::Sender<Queued>>,
    mailboxes: watch::Sender<Vec<MailboxId>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    seen: Seen,
}

impl Drop for GroupRelays {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Node {
    /// (Re)starts the relay tasks of `group` for the relays in its state.
    pub(crate) fn start_relays(&self, group: GroupId) {
        let Ok(state) = self.state(&group) else { return };
        let mailboxes = self.with_replica(&group, |r| r.mailboxes()).unwrap_or_default();
        let (mbox_tx, _) = watch::channel(mailboxes);
        let mut gr = GroupRelays {
            relays: state.relays.clone(),
            posts: Vec::new(),
            mailboxes: mbox_tx,
            tasks: Vec::new(),
            seen: Seen::default(),
        };
        for relay in &state.relays {
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = tokio::spawn(relay_task(
                self.clone(),
                group,
                relay.clone(),
                rx,
                gr.mailboxes.subscribe(),
            ));
            gr.posts.push(tx);
            gr.tasks.push(task);
        }
        self.relays().insert(group, gr);
    }

    /// Hands new outbox items to every relay of their group.
    pub(crate) fn post_to_relays(&self, queued: &[Queued]) {
        let relays = self.relays();
        for q in queued {
            if let Some(gr) = relays.get(&q.group) {
                for tx in &gr.posts {
                    // A full queue: the item stays in the store and is
                    // posted again when the connection is next made.
                    let _ = tx.try_send(q.clone());
                }
            }
        }
    }

    /// The group's epoch or relay list may have changed: follow it.
    pub(crate) fn follow_group(&self, group: GroupId) {
        let Ok(state) = self.state(&group) else { return };
        let mailboxes = self.with_replica(&group, |r| r.mailboxes()).unwrap_or_default();
        let restart = {
            let relays = self.relays();
            match relays.get(&group) {
                Some(gr) => {
                    gr.mailboxes.send_if_modified(|m| {
                        let changed = *m != mailboxes;
                        *m = mailboxes.clone();
                        changed
                    });
                    gr.relays != state.relays
                }
                None => true,
            }
        };
        if restart {
            self.start_relays(group);
        }
    }

    /// Takes in an envelope a relay pushed; false if it could not be
    /// stored (it is then forgotten, to be taken in when it comes again).
    fn relay_delivered(
        &self,
        group: GroupId,
        relay: &str,
        mailbox: MailboxId,
        cursor: u64,
        env: Envelope,
    ) -> bool {
        let fresh = {
            let mut relays = self.relays();
            relays.get_mut(&group).is_some_and(|gr| gr.seen.record(relay, &env, Instant::now()))
        };
        let stored = self.receive_envelope(group, relay, mailbox, cursor, &env, fresh);
        if !stored && let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.forget(&env);
        }
        stored
    }

    fn relay_up(&self, group: GroupId, relay: &str, up: bool) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.connected(relay, up, Instant::now());
        }
    }

    /// A connection to `relay` subscribed to `mailboxes` (or ended).
    fn relay_subscribed(&self, group: GroupId, relay: &str, mailboxes: &[MailboxId], up: bool) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.subscribed(relay, mailboxes, up, Instant::now());
        }
    }

    /// Messages that came out of a relay's envelopes (new or not).
    pub(crate) fn relay_carried(&self, group: GroupId, carried: &[Carried]) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.relay_carried(carried.iter().map(|c| (c.author, c.seq)));
        }
    }

    /// Messages a peer gave: the recent ones that no relay delivered are
    /// expected from the relays within the grace (`node.md`,
    /// "Withholding"); older ones may have gone with a relay's retention.
    pub(crate) fn peer_carried(&self, group: GroupId, carried: &[Carried]) {
        let minute = super::core::now() / 60;
        let held: Vec<(PublicKey, u64, MailboxId)> = self
            .with_replica(&group, |r| {
                let recent = carried.iter().filter(|c| c.minute + PEER_RECENT_MINUTES >= minute);
                recent
                    .filter_map(|c| r.mailbox_of(&c.epoch).map(|m| (c.author, c.seq, m)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.peer_carried(held, Instant::now());
        }
    }

    /// The relays of `group` and whether each is connected now (for a UI
    /// that starts after the node did).
    pub fn relay_states(&self, group: &GroupId) -> Vec<(String, bool)> {
        let relays = self.relays();
        let Some(gr) = relays.get(group) else { return Vec::new() };
        gr.relays.iter().map(|r| (r.clone(), gr.seen.up_since.contains_key(r))).collect()
    }

    /// Whether any relay of any group is connected.
    pub(crate) fn any_relay_up(&self) -> bool {
        self.relays().values().any(|gr| !gr.seen.up_since.is_empty())
    }

    /// Whether every relay of every group has been tried at least once.
    pub(crate) fn all_relays_tried(&self) -> bool {
        self.relays().values().all(|gr| gr.relays.iter().all(|r| gr.seen.tried.contains(r)))
    }

    /// Reports relays that withheld envelopes others delivered.
    pub(crate) fn check_withholding(&self, grace: Duration) {
        let mut found = Vec::new();
        for (group, gr) in self.relays().iter_mut() {
            for (relay, count) in gr.seen.withheld(Instant::now(), grace) {
                found.push(SecurityWarning::Withheld { group: *group, relay, count });
            }
        }
        for w in found {
            self.emit(NodeEvent::Warning(w));
        }
    }
}

async fn relay_task(
    node: Node,
    group: GroupId,
    relay: String,
    mut posts: mpsc::Receiver<Queued>,
    mut mailboxes: watch::Receiver<Vec<MailboxId>>,
) {
    let mut wait = BACKOFF.0;
    loop {
        let started = Instant::now();
        let error = match connection(&node, group, &relay, &mut posts, &mut mailboxes).await {
            Ok(never) => match never {},
            Err(e) => e,
        };
        node.relay_up(group, &relay, false);
        if error == NEW_EPOCH {
            // Not a failure: the next connection uses the new mailboxes.
            wait = BACKOFF.0;
            continue;
        }
        if started.elapsed() > BACKOFF.1 {
            wait = BACKOFF.0;
        }
        // Jitter so that many nodes do not reconnect in step.
        let jitter =
            Duration::from_millis(u64::from(rand_core::Rng::next_u32(&mut super::os_rng()) % 1000));
        let retry_in = wait + jitter;
        node.emit(NodeEvent::RelayDown { group, relay: relay.clone(), error, retry_in });
        tokio::time::sleep(retry_in).await;
        wait = (wait * 2).min(BACKOFF.1);
    }
}

/// Why a connection ends when the group enters a new epoch: a connection
/// may use only `max_mailboxes` mailboxes for its whole life (`relay.md`
/// §4), so the newest ones need a new connection.
const NEW_EPOCH: &str = "the group entered a new epoch";

enum Never {}

struct Conn {
    writer: WriteHalf<BoxStream>,
    session: ClientSession,
    /// Post request id → the post it carried.
    pending: HashMap<u32, Posting>,
    /// Outbox item → its envelopes still unacknowledged.
    remaining: HashMap<u64, usize>,
    /// Proofs of work solved or being solved on this connection.
    proofs: refusal::Proofs<Posting>,
    /// Refused posts come back here when they may be posted again.
    retry: mpsc::Sender<Posting>,
}

/// One envelope of an outbox item, posted and not yet acknowledged.
struct Posting {
    item: u64,
    envelope: Envelope,
    /// A proof of work the relay asked for.
    pow: Option<u64>,
    /// Refusals so far on this connection.
    attempts: u8,
}

/// A connected, handshaken relay session and the frames it receives.
struct Session {
    conn: Conn,
    frames: mpsc::Receiver<Vec<u8>>,
    retries: mpsc::Receiver<Posting>,
    _reader: AbortOnDrop,
}

async fn open_session(node: &Node, group: GroupId, relay: &str) -> Result<Session, String> {
    let addr: PeerAddr = relay.parse().map_err(|e| format!("bad relay address: {e}"))?;
    let transport = node.net().transport();
    let stream = transport.connect(&addr, &isolation(&group)).await.map_err(|e| e.to_string())?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let hs = ClientHandshake::new();
    write(&mut writer, &hs.hello_frame()).await?;
    let reply = read_frame(&mut reader).await?;
    let session = hs.handle(&reply).map_err(|e| e.to_string())?;
    let (frames_tx, frames) = mpsc::channel(64);
    let reader_task = tokio::spawn(async move {
        while let Ok(f) = read_frame(&mut reader).await {
            if frames_tx.send(f).await.is_err() {
                break;
            }
        }
    });
    let (retry, retries) = mpsc::channel(QUEUE);
    let conn = Conn {
        writer,
        session,
        pending: HashMap::new(),
        remaining: HashMap::new(),
        proofs: refusal::Proofs::new(),
        retry,
    };
    Ok(Session { conn, frames, retries, _reader: AbortOnDrop(reader_task) })
}

/// The mailboxes one connection may use: the newest `max_mailboxes`.
fn window(conn: &Conn, all: &[MailboxId]) -> Vec<MailboxId> {
    let limit = usize::from(conn.session.limits().max_mailboxes).max(1);
    all.iter().take(limit).copied().collect()
}

async fn connection(
    node: &Node,
    group: GroupId,
    relay: &str,
    posts: &mut mpsc::Receiver<Queued>,
    mailboxes: &mut watch::Receiver<Vec<MailboxId>>,
) -> Result<Never, String> {
    let Session { mut conn, mut frames, mut retries, _reader } =
        open_session(node, group, relay).await?;
    let all = mailboxes.borrow_and_update().clone();
    let used = window(&conn, &all);
    subscribe(node, group, relay, &mut conn, &used).await?;
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
    node.relay_subscribed(group, relay, &used, true);
    node.emit(NodeEvent::RelayUp { group, relay: relay.to_owned() });
    let waiting: Vec<Queued> =
        node.core().outbox().unwrap_or_default().into_iter().filter(|q| q.group == group).collect();
    for q in waiting {
        post(&mut conn, &q).await?;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            f = frames.recv() => take_frame(node, group, relay, &mut conn, f)?,
            Some(q) = posts.recv() => post(&mut conn, &q).await?,
            Some(p) = retries.recv() => send_post(&mut conn, p).await?,
            Ok(()) = mailboxes.changed() => {
                let all = mailboxes.borrow_and_update().clone();
                if window(&conn, &all) != used {
                    return Err(NEW_EPOCH.into());
                }
            }
            _ = ping.tick() => ping_relay(&mut conn).await?,
        }
    }
}

/// Follows older epochs' mailboxes (subscribe only, never post) until the
/// main connection ends, reconnecting after failures.
async fn follow_older(node: Node, group: GroupId, relay: String, mailboxes: Vec<MailboxId>) {
    loop {
        if let Err(e) = follow_once(&node, group, &relay, &mailboxes).await {
            tracing::debug!("a connection for older epochs ended: {e}");
        }
        node.relay_subscribed(group, &relay, &mailboxes, false);
        tokio::time::sleep(BACKOFF.1 / 4).await;
    }
}

async fn follow_once(
    node: &Node,
    group: GroupId,
    relay: &str,
    mailboxes: &[MailboxId],
) -> Result<(), String> {
    let Session { mut conn, mut frames, _reader, .. } = open_session(node, group, relay).await?;
    subscribe(node, group, relay, &mut conn, mailboxes).await?;
    node.relay_subscribed(group, relay, mailboxes, true);
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            f = frames.recv() => take_frame(node, group, relay, &mut conn, f)?,
            _ = ping.tick() => ping_relay(&mut conn).await?,
        }
    }
}

/// Decodes and handles one frame from the relay (`None`: it hung up).
fn take_frame(
    node: &Node,
    group: GroupId,
    relay: &str,
    conn: &mut Conn,
    frame: Option<Vec<u8>>,
) -> Result<(), String> {
    let frame = frame.ok_or("the relay closed the connection")?;
    let event = conn.session.decode(&frame).map_err(|e| e.to_string())?;
    handle(node, group, relay, conn, event)
}

async fn ping_relay(conn: &mut Conn) -> Result<(), String> {
    let (_, frame) = conn.session.ping();
    write(&mut conn.writer, &frame).await
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn subscribe(
    node: &Node,
    group: GroupId,
    relay: &str,
    conn: &mut Conn,
    mailboxes: &[MailboxId],
) -> Result<(), String> {
    // The protocol takes at most 8 mailboxes per request: the newest epochs.
    for chunk in mailboxes.chunks(8) {
        let from: Vec<(MailboxId, u64)> =
            chunk.iter().map(|m| (*m, node.core().cursor(&group, relay, m))).collect();
        let (_, frame) = conn.session.subscribe(&from);
        write(&mut conn.writer, &frame).await?;
    }
    Ok(())
}

async fn post(conn: &mut Conn, q: &Queued) -> Result<(), String> {
    conn.remaining.insert(q.outbox_id, q.envelopes.len());
    for env in &q.envelopes {
        let posting = Posting { item: q.outbox_id, envelope: env.clone(), pow: None, attempts: 0 };
        send_post(conn, posting).await?;
    }
    Ok(())
}

/// Posts one envelope, with the proof of work known for its mailbox. A
/// post that comes back with a fresh proof releases the posts waiting for
/// the same proof.
async fn send_post(conn: &mut Conn, posting: Posting) -> Result<(), String> {
    let mailbox = posting.envelope.mailbox();
    let waiting = match posting.pow {
        Some(nonce) => conn.proofs.solved(mailbox, nonce),
        None => Vec::new(),
    };
    for p in std::iter::once(posting).chain(waiting) {
        let proof = p.pow.or_else(|| conn.proofs.for_mailbox(&mailbox));
        let (id, frame) = conn.session.post(&p.envelope, proof);
        conn.pending.insert(id, Posting { pow: None, ..p });
        write(&mut conn.writer, &frame).await?;
    }
    Ok(())
}

/// A relay refused a post: post it again when it may succeed, or leave it
/// in the outbox for the next connection (and tell the user).
fn refused(
    node: &Node,
    group: GroupId,
    relay: &str,
    conn: &mut Conn,
    p: Posting,
    refusal: (u16, u64),
) {
    let (code, info) = refusal;
    let p = Posting { attempts: p.attempts.saturating_add(1), ..p };
    let plan = match refusal::plan(code, info) {
        _ if p.attempts > refusal::MAX_ATTEMPTS => refusal::Plan::Later,
        plan => plan,
    };
    tracing::warn!("relay refused a post (code {code}): {plan:?}");
    let retry = conn.retry.clone();
    match plan {
        refusal::Plan::RetryAfter(wait) => {
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let _ = retry.send(p).await;
            });
        }
        refusal::Plan::Solve(difficulty) => prove(conn, p, difficulty),
        refusal::Plan::Later => {
            let reason = ErrorCode::from_number(code).map_or("unknown", ErrorCode::name);
            let reason =
                format!("{reason} (code {code}); it is posted again on the next connection");
            node.emit(NodeEvent::PostRefused { group, relay: relay.to_owned(), reason });
        }
    }
}

/// Posts `p` again with a proof of work of `difficulty`: one already
/// solved, one being solved (it waits), or a new solve.
fn prove(conn: &mut Conn, p: Posting, difficulty: u8) {
    let mailbox = p.envelope.mailbox();
    let retry = conn.retry.clone();
    match conn.proofs.refused(mailbox, difficulty, p) {
        refusal::ProofStep::Use(nonce, p) => {
            tokio::spawn(async move { retry.send(Posting { pow: Some(nonce), ..p }).await });
        }
        refusal::ProofStep::Solve(p) => {
            tokio::spawn(async move {
                // Not solved (about e^-8): the post stays in the outbox for
                // the next connection.
                if let Some(nonce) = refusal::solve(mailbox, difficulty).await {
                    let _ = retry.send(Posting { pow: Some(nonce), ..p }).await;
                }
            });
        }
        refusal::ProofStep::Wait => {}
    }
}

fn handle(
    node: &Node,
    group: GroupId,
    relay: &str,
    conn: &mut Conn,
    event: RelayEvent,
) -> Result<(), String> {
    match event {
        RelayEvent::Push { cursor, envelope } => {
            let mailbox = envelope.mailbox();
            if !node.relay_delivered(group, relay, mailbox, cursor, envelope) {
                // Not stored (a full disk, say): the cursor did not move, so
                // a new connection gets it again from there.
                return Err("a delivery could not be stored; fetching again".into());
            }
        }
        RelayEvent::Posted { id, .. } => acked(node, group, relay, conn, id),
        RelayEvent::Error { id: None, code, info } => {
            return Err(format!("the relay refused the connection (code {code}, {info})"));
        }
        RelayEvent::Error { id: Some(id), code, info } => {
            // The item stays in the outbox whatever happens here.
            if let Some(posting) = conn.pending.remove(&id) {
                refused(node, group, relay, conn, posting, (code, info));
            }
        }
        RelayEvent::Page { .. } | RelayEvent::Subscribed { .. } | RelayEvent::Pong { .. } => {}
    }
    Ok(())
}

fn acked(node: &Node, group: GroupId, relay: &str, conn: &mut Conn, id: u32) {
    let Some(Posting { item, .. }) = conn.pending.remove(&id) else { return };
    let Some(left) = conn.remaining.get_mut(&item) else { return };
    *left = left.saturating_sub(1);
    if *left == 0 {
        conn.remaining.remove(&item);
        node.relay_acked(group, item, relay);
    }
}

async fn write(writer: &mut WriteHalf<BoxStream>, frame: &[u8]) -> Result<(), String> {
    writer.write_all(frame).await.map_err(|e| e.to_string())?;
    // Tor streams buffer until flushed.
    writer.flush().await.map_err(|e| e.to_string())
}

async fn read_frame(reader: &mut ReadHalf<BoxStream>) -> Result<Vec<u8>, String> {
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header).await.map_err(|e| e.to_string())?;
    let len = frame::payload_len(header, MAX_RESPONSE_FRAME).map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await.map_err(|e| e.to_string())?;
    Ok(payload)
}
