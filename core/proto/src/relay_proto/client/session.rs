//! The client side of one relay connection after the welcome: a state
//! machine like [`crate::relay_proto::ServerSession`].
//!
//! The shell hands it outbox items ([`ClientSession::post`]), the group's
//! mailboxes ([`ClientSession::subscribe`], [`ClientSession::follow`]),
//! frames from the relay ([`ClientSession::handle_frame`]), solved proofs of
//! work ([`ClientSession::solved`]) and the time
//! ([`ClientSession::handle_timeout`] at [`ClientSession::poll_timeout`]),
//! then executes [`ClientSession::poll_action`] until `None`. Everything a
//! relay can answer is decided here, so the simulator runs the same code as
//! the node: which posts are in flight, when an outbox item is acknowledged,
//! which refusals wait and which give up, when to prove work, when the
//! connection must be replaced.

use std::collections::{BTreeMap, VecDeque};

use core::time::Duration;

use super::memory::{Ended, Memory};
use super::refusal::{MAX_ATTEMPTS, MAX_WAIT, Plan, ProofStep, Proofs, Refusal, Retry};
use super::{ClientError, RelayEvent};
use crate::relay_proto::message::{Request, SubscribeFrom};
use crate::relay_proto::{ErrorCode, MAX_SUBSCRIBE, RelayLimits, TokenBucket};
use crate::wire::{Envelope, MailboxId};

/// How often an idle connection pings (relays close idle ones).
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// A request unanswered for this long means the connection is dead (a
/// relay answers every request; a stream can stall without failing).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(90);

/// What the shell must do next for a relay connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Write this request as one frame and flush.
    Send(Request),
    /// The relay pushed an envelope of a subscribed mailbox: take it in and
    /// store `cursor` for the relay and mailbox (or end the connection with
    /// [`Ended::StoreFailed`] if it cannot be stored).
    Deliver {
        /// Its mailbox (one this connection subscribed to).
        mailbox: MailboxId,
        /// Its cursor in the mailbox.
        cursor: u64,
        /// The envelope.
        envelope: Envelope,
    },
    /// The relay confirmed subscriptions to these mailboxes: from now on it
    /// is expected to deliver what is posted there.
    Subscribed(Vec<MailboxId>),
    /// The relay durably stored every envelope of outbox item `item`.
    Acked(u64),
    /// The relay refused a post of outbox item `item`; it is not acked on
    /// this connection.
    Refused {
        /// The outbox item.
        item: u64,
        /// The relay's refusal.
        refusal: Refusal,
        /// What happens to the post next.
        retry: Retry,
    },
    /// Find a proof of work of `difficulty` for `mailbox` (off the async
    /// threads) and report it with [`ClientSession::solved`].
    Solve {
        /// The mailbox to prove.
        mailbox: MailboxId,
        /// Leading zero bits wanted.
        difficulty: u8,
    },
    /// Close the connection (after writing what was queued before); see
    /// [`Memory::reconnect`] for when to connect again.
    Close(Ended),
}

/// One envelope of an outbox item on its way to the relay.
#[derive(Debug, Clone)]
struct Post {
    item: u64,
    envelope: Envelope,
    /// A proof of work to send with it.
    pow: Option<u64>,
    /// Refusals so far on this connection.
    attempts: u8,
}

/// A request awaiting its reply.
#[derive(Debug)]
enum Pending {
    Post(Post),
    Subscribe(Vec<(MailboxId, u64)>),
    Ping,
}

/// Something refused with a wait, to ask again.
#[derive(Debug)]
enum Again {
    Post(Post),
    Subscribe(Vec<(MailboxId, u64)>),
}

/// A client connection after the welcome.
#[derive(Debug)]
pub struct ClientSession {
    version: u16,
    limits: RelayLimits,
    next_id: u32,
    memory: Memory,
    /// Request id → what it asked, and when it was sent.
    pending: BTreeMap<u32, (Duration, Pending)>,
    /// Outbox item → its envelopes not yet acknowledged.
    remaining: BTreeMap<u64, usize>,
    /// Refused requests to send again at the given time.
    again: Vec<(Duration, Again)>,
    proofs: Proofs<Post>,
    /// The mailboxes this connection subscribed to, in order.
    subscribed: Vec<MailboxId>,
    /// When the last post refused for the request rate goes again.
    paced: Duration,
    /// Requests waiting for the relay's announced rate to allow them.
    outgoing: VecDeque<(Request, Pending)>,
    /// The relay's rate as this client spends it (made at the first send).
    bucket: Option<TokenBucket>,
    /// When the next token comes, while requests wait for one.
    next_token: Option<Duration>,
    last_sent: Duration,
    ended: bool,
    actions: VecDeque<ClientAction>,
}

impl ClientSession {
    pub(super) fn new(version: u16, limits: RelayLimits) -> Self {
        Self {
            version,
            limits,
            next_id: 1,
            memory: Memory::default(),
            pending: BTreeMap::new(),
            remaining: BTreeMap::new(),
            again: Vec::new(),
            proofs: Proofs::new(BTreeMap::new()),
            subscribed: Vec::new(),
            paced: Duration::ZERO,
            outgoing: VecDeque::new(),
            bucket: None,
            next_token: None,
            last_sent: Duration::ZERO,
            ended: false,
            actions: VecDeque::new(),
        }
    }

    /// Continues from what earlier connections to the same relay learned.
    pub fn with_memory(mut self, memory: Memory) -> Self {
        self.proofs = Proofs::new(memory.proofs.clone());
        self.memory = memory;
        self
    }

    /// What this connection learned, for the next one.
    pub fn into_memory(self) -> Memory {
        let mut memory = self.memory;
        memory.proofs = self.proofs.into_solved();
        memory
    }

    /// The agreed protocol version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The limits the relay announced.
    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    /// Whether the session has asked to close.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<ClientAction> {
        self.actions.pop_front()
    }

    /// The mailboxes one connection may use: the newest `max_mailboxes` of
    /// `all` (newest first).
    pub fn window(&self, all: &[MailboxId]) -> Vec<MailboxId> {
        all.iter().take(usize::from(self.limits.max_mailboxes).max(1)).copied().collect()
    }

    fn end(&mut self, why: Ended) {
        if !self.ended {
            self.ended = true;
            self.actions.push_back(ClientAction::Close(why));
        }
    }

    /// Ends the connection for a reason the shell found.
    pub fn close(&mut self, why: Ended) {
        self.end(why);
    }

    /// Queues a request; it goes when the relay's rate allows.
    fn send(&mut self, now: Duration, pending: Pending, build: impl FnOnce(u32) -> Request) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.outgoing.push_back((build(id), pending));
        self.flush(now);
    }

    /// Sends what the relay's announced rate allows now. The client spends
    /// half the burst, so that requests bunched up by the network still
    /// find tokens at the relay; a reconnecting client with a long outbox
    /// would otherwise be refused until the relay closes the connection.
    fn flush(&mut self, now: Duration) {
        let limits = self.limits;
        let bucket = self.bucket.get_or_insert_with(|| {
            let rate = limits.requests_per_second.max(1);
            TokenBucket::new(rate, (limits.burst / 2).max(1), now)
        });
        self.next_token = None;
        while !self.outgoing.is_empty() {
            if let Err(wait) = bucket.take(now) {
                self.next_token = Some(now + wait);
                return;
            }
            let Some((request, pending)) = self.outgoing.pop_front() else { return };
            self.pending.insert(request.id(), (now, pending));
            self.last_sent = now;
            self.actions.push_back(ClientAction::Send(request));
        }
    }

    /// Subscribes to mailboxes, each from the last cursor the client holds.
    pub fn subscribe(&mut self, now: Duration, from: &[(MailboxId, u64)]) {
        if self.ended {
            return;
        }
        for chunk in from.chunks(MAX_SUBSCRIBE) {
            self.subscribed.extend(chunk.iter().map(|(m, _)| *m));
            self.send_subscribe(now, chunk.to_vec());
        }
    }

    fn send_subscribe(&mut self, now: Duration, from: Vec<(MailboxId, u64)>) {
        let wire = from.iter().map(|(m, after)| SubscribeFrom { mailbox: m.0, after: *after });
        let wire = wire.collect();
        self.send(now, Pending::Subscribe(from), |id| Request::Subscribe { id, from: wire });
    }

    /// The group's mailboxes are now `all` (newest first): if the newest
    /// ones are not those this connection subscribed to, it is replaced.
    pub fn follow(&mut self, all: &[MailboxId]) {
        if self.window(all) != self.subscribed {
            self.end(Ended::NewEpoch);
        }
    }

    /// Posts the envelopes of outbox item `item`, except those the relay
    /// refused for good. An item already on its way is not posted twice.
    pub fn post(&mut self, now: Duration, item: u64, envelopes: &[Envelope]) {
        if self.ended || self.remaining.contains_key(&item) {
            return;
        }
        self.remaining.insert(item, envelopes.len());
        for envelope in envelopes {
            if !self.memory.refused_for_good(envelope) {
                let post = Post { item, envelope: envelope.clone(), pow: None, attempts: 0 };
                self.send_post(now, post);
            }
        }
    }

    /// Posts one envelope with the proof of work known for its mailbox.
    fn send_post(&mut self, now: Duration, post: Post) {
        let pow = post.pow.or_else(|| self.proofs.for_mailbox(&post.envelope.mailbox()));
        let envelope = post.envelope.as_bytes().to_vec();
        let pending = Pending::Post(Post { pow: None, ..post });
        self.send(now, pending, |id| Request::Post { id, envelope, pow });
    }

    /// A proof of work for `mailbox` was found (`Some`) or not (`None`, about
    /// e^-8: the posts waiting for it go on the next connection).
    pub fn solved(&mut self, now: Duration, mailbox: MailboxId, nonce: Option<u64>) {
        if self.ended {
            return;
        }
        match nonce {
            Some(nonce) => {
                for p in self.proofs.solved(mailbox, nonce) {
                    self.send_post(now, Post { pow: Some(nonce), ..p });
                }
            }
            None => {
                let refusal = Refusal::new(ErrorCode::ProofOfWorkRequired, 0);
                for p in self.proofs.failed(mailbox) {
                    let (item, retry) = (p.item, Retry::NextConnection);
                    self.actions.push_back(ClientAction::Refused { item, refusal, retry });
                }
            }
        }
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.ended {
            return None;
        }
        let reply = self.pending.values().map(|(sent, _)| *sent + REPLY_TIMEOUT).min();
        let again = self.again.iter().map(|(at, _)| *at).min();
        let ping = self.last_sent + PING_EVERY;
        [reply, again, self.next_token, Some(ping)].into_iter().flatten().min()
    }

    /// Sends what waited until `now`, pings an idle relay, and ends a
    /// connection whose relay stopped answering.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.ended {
            return;
        }
        if self.pending.values().any(|(sent, _)| *sent + REPLY_TIMEOUT <= now) {
            return self.end(Ended::Unresponsive);
        }
        self.flush(now);
        let (due, later) = core::mem::take(&mut self.again).into_iter().partition(|a| a.0 <= now);
        self.again = later;
        for (_, again) in due {
            match again {
                Again::Post(p) => self.send_post(now, p),
                Again::Subscribe(from) => self.send_subscribe(now, from),
            }
        }
        if self.outgoing.is_empty() && now >= self.last_sent + PING_EVERY {
            self.send(now, Pending::Ping, |id| Request::Ping { id });
        }
    }

    /// Handles one frame's payload from the relay.
    pub fn handle_frame(&mut self, now: Duration, payload: &[u8]) {
        if self.ended {
            return;
        }
        match self.decode(payload) {
            Ok(event) => self.handle_event(now, event),
            Err(e) => self.end(Ended::Invalid(e)),
        }
    }

    fn handle_event(&mut self, now: Duration, event: RelayEvent) {
        match event {
            RelayEvent::Push { cursor, envelope } => {
                let mailbox = envelope.mailbox();
                // Not asked for: a relay's mistake, and nothing to keep.
                if self.subscribed.contains(&mailbox) {
                    self.actions.push_back(ClientAction::Deliver { mailbox, cursor, envelope });
                }
            }
            RelayEvent::Posted { id, .. } => self.acked(id),
            RelayEvent::Subscribed { id, .. } => {
                if let Some((_, Pending::Subscribe(from))) = self.pending.remove(&id) {
                    let mailboxes = from.into_iter().map(|(m, _)| m).collect();
                    self.actions.push_back(ClientAction::Subscribed(mailboxes));
                }
            }
            RelayEvent::Page { id, .. } | RelayEvent::Pong { id } => {
                self.pending.remove(&id);
            }
            RelayEvent::Error { id: None, code, info } => {
                self.end(Ended::Closed(Refusal { number: code, info }));
            }
            RelayEvent::Error { id: Some(id), code, info } => {
                let refusal = Refusal { number: code, info };
                match self.pending.remove(&id) {
                    Some((_, Pending::Post(p))) => self.refused(now, p, refusal),
                    Some((_, Pending::Subscribe(from))) => match refusal.plan() {
                        Plan::RetryAfter(wait) => {
                            self.again.push((now + wait, Again::Subscribe(from)));
                        }
                        _ => self.end(Ended::SubscribeRefused(refusal)),
                    },
                    Some((_, Pending::Ping)) | None => {}
                }
            }
        }
    }

    fn acked(&mut self, id: u32) {
        let Some((_, Pending::Post(Post { item, .. }))) = self.pending.remove(&id) else { return };
        let Some(left) = self.remaining.get_mut(&item) else { return };
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.remaining.remove(&item);
            self.actions.push_back(ClientAction::Acked(item));
        }
    }

    /// A relay refused a post: post it again when it may succeed, or leave
    /// it for the next connection, or for good.
    fn refused(&mut self, now: Duration, p: Post, refusal: Refusal) {
        let p = Post { attempts: p.attempts.saturating_add(1), ..p };
        let plan = match refusal.plan() {
            Plan::Never => Plan::Never,
            Plan::RetryAfter(_) if p.attempts > MAX_ATTEMPTS => Plan::RetryAfter(MAX_WAIT),
            _ if p.attempts > MAX_ATTEMPTS => Plan::NextConnection,
            plan => plan,
        };
        let retry = match plan {
            Plan::RetryAfter(wait) => {
                let at = self.retry_at(now, wait, refusal);
                let (item, tell) = (p.item, p.attempts == MAX_ATTEMPTS + 1);
                self.again.push((at, Again::Post(p)));
                if !tell {
                    return;
                }
                self.actions.push_back(ClientAction::Refused {
                    item,
                    refusal,
                    retry: Retry::Slowly,
                });
                return;
            }
            Plan::Solve(difficulty) => return self.prove(now, p, difficulty),
            Plan::NextConnection => Retry::NextConnection,
            Plan::Never => {
                self.memory.give_up(&p.envelope);
                Retry::Never
            }
        };
        self.actions.push_back(ClientAction::Refused { item: p.item, refusal, retry });
    }

    /// When to post again after a refusal asking to wait `wait`. Rate-limit
    /// refusals are paced one per wait: the relay's bucket refills one token
    /// per wait, so posts retried together would be refused together (and
    /// use up their attempts).
    fn retry_at(&mut self, now: Duration, wait: Duration, refusal: Refusal) -> Duration {
        if refusal.code() != Some(ErrorCode::RateLimited) {
            return now + wait;
        }
        self.paced = (now + wait).max(self.paced + wait);
        self.paced
    }

    /// Posts `p` again with a proof of work of `difficulty`: one already
    /// solved, or after a solve (started now or under way).
    fn prove(&mut self, now: Duration, p: Post, difficulty: u8) {
        let mailbox = p.envelope.mailbox();
        match self.proofs.refused(mailbox, difficulty, p) {
            ProofStep::Use(nonce, p) => self.send_post(now, Post { pow: Some(nonce), ..p }),
            ProofStep::Solve => self.actions.push_back(ClientAction::Solve { mailbox, difficulty }),
            ProofStep::Wait => {}
        }
    }

    /// Decodes and checks one frame's payload from the relay, without
    /// acting on it.
    pub fn decode(&self, payload: &[u8]) -> Result<RelayEvent, ClientError> {
        super::decode(payload)
    }
}

#[cfg(test)]
mod test;
