//! The relay side of one connection: a handshake phase, then a session that
//! turns request frames into [`Action`]s.
//!
//! The shell reads a frame, calls [`ServerSession::handle_frame`], then
//! executes [`ServerSession::poll_action`] until `None`. Results of the
//! actions it carried out come back through [`ServerSession::stored`],
//! [`ServerSession::fetched`] and [`ServerSession::subscribed`]; envelopes
//! newly stored in a subscribed mailbox through [`ServerSession::deliver`].

use std::collections::VecDeque;

use core::time::Duration;

use super::message::{ClientHello, ErrorReply, Item, MAGIC, Page, Request, Response, ServerHello};
use super::verify::{StrongKeys, verify_writes};
use super::{ErrorCode, MAX_SUBSCRIBE, MAX_VERSIONS, RelayLimits, SUPPORTED_VERSIONS, TokenBucket};
use super::{SubscribeFrom, pow};
use crate::wire::{Envelope, MailboxId};

/// What the shell must do next for a connection.
#[derive(Debug)]
pub enum Action {
    /// Write this frame to the connection.
    Send(Response),
    /// Store a checked envelope; report with [`ServerSession::stored`].
    Store(StoreRequest),
    /// Read a page; report with [`ServerSession::fetched`].
    Fetch(FetchRequest),
    /// Register subscriptions; report with [`ServerSession::subscribed`],
    /// then replay what is stored after each cursor through
    /// [`ServerSession::deliver`].
    Subscribe(SubscribeRequest),
    /// Close the connection once the frames queued before this are written.
    Close(ErrorCode),
}

/// A post whose envelope passed every check the session can make.
#[derive(Debug)]
pub struct StoreRequest {
    /// The request id.
    pub id: u32,
    /// The mailbox the envelope's write key names.
    pub mailbox: MailboxId,
    /// The envelope, its write signature verified.
    pub envelope: Envelope,
    /// A valid proof of work for `mailbox` came with the post.
    pub pow_proved: bool,
}

/// A fetch within the connection's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRequest {
    /// The request id.
    pub id: u32,
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Envelopes with a cursor greater than this.
    pub after: u64,
    /// At most this many (1 ..= the relay's `max_fetch`).
    pub limit: u16,
}

/// Subscriptions to register, each with the cursor to replay from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The request id.
    pub id: u32,
    /// Mailbox and the highest cursor the client already has.
    pub from: Vec<(MailboxId, u64)>,
}

/// A durably stored post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its cursor.
    pub cursor: u64,
    /// It was already stored (with that cursor).
    pub duplicate: bool,
}

/// Why the store refused a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreRefusal {
    /// The error code sent to the client.
    pub code: ErrorCode,
    /// Its `info` detail.
    pub info: u64,
}

/// The result of handling a client hello.
#[derive(Debug)]
pub enum HandshakeOutcome {
    /// Send `reply`, then serve the connection with `session`.
    Accept {
        /// The session for the rest of the connection.
        session: ServerSession,
        /// The welcome to send.
        reply: ServerHello,
    },
    /// Send `reply`, then close the connection.
    Refuse {
        /// The refusal to send.
        reply: ServerHello,
        /// Why.
        code: ErrorCode,
    },
}

/// A connection before the client's hello.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    limits: RelayLimits,
}

impl ServerHandshake {
    /// A handshake under `limits`.
    pub fn new(limits: RelayLimits) -> Self {
        Self { limits }
    }

    /// The hello refusing a connection the relay will not serve at all
    /// (for example [`ErrorCode::Overloaded`] when it has too many).
    pub fn refusal(code: ErrorCode) -> ServerHello {
        ServerHello::Refused { code: code.number(), supported: SUPPORTED_VERSIONS.to_vec() }
    }

    /// Handles the first frame's payload.
    pub fn handle(self, now: Duration, payload: &[u8]) -> HandshakeOutcome {
        let refuse = |code| HandshakeOutcome::Refuse { reply: Self::refusal(code), code };
        let hello = match ClientHello::decode(payload) {
            Ok(h) if h.magic == MAGIC && h.versions.len() <= MAX_VERSIONS => h,
            _ => return refuse(ErrorCode::Malformed),
        };
        let common = hello.versions.iter().filter(|v| SUPPORTED_VERSIONS.contains(v)).max();
        let Some(&version) = common else { return refuse(ErrorCode::UnsupportedVersion) };
        let reply = ServerHello::Welcome { version, limits: self.limits };
        HandshakeOutcome::Accept { session: ServerSession::new(version, self.limits, now), reply }
    }
}

/// A post of the right shape, before its signature check.
#[derive(Debug)]
struct PendingPost {
    id: u32,
    envelope: Envelope,
    pow: Option<u64>,
}

/// What one request frame turned out to be.
#[derive(Debug)]
enum Step {
    /// The session is closed: frames are ignored.
    Ignored,
    /// Not a request: closes the connection.
    Malformed,
    /// No token for request `id`; the wait until the next one.
    RateLimited(u32, Duration),
    /// A post whose envelope has the wrong shape.
    BadShape(u32),
    /// A post to check and admit.
    Post(PendingPost),
    /// A fetch: id, mailbox, after, limit.
    Fetch(u32, [u8; 32], u64, u16),
    /// A subscribe: id, mailboxes with cursors.
    Subscribe(u32, Vec<SubscribeFrom>),
    /// A ping: id.
    Ping(u32),
}

/// One subscribed mailbox and the last cursor pushed for it.
#[derive(Debug, Clone, Copy)]
struct Subscription {
    mailbox: MailboxId,
    delivered: u64,
}

/// A connection after a successful handshake.
#[derive(Debug)]
pub struct ServerSession {
    version: u16,
    limits: RelayLimits,
    bucket: TokenBucket,
    /// Rate-limited requests in a row.
    strikes: u32,
    mailboxes: Vec<MailboxId>,
    subscriptions: Vec<Subscription>,
    inflight: u16,
    strong_keys: StrongKeys,
    last_request: Duration,
    draining: bool,
    closed: bool,
    actions: VecDeque<Action>,
}

/// Rate-limited requests in a row that close the connection (at least).
const MIN_STRIKES: u32 = 16;

impl ServerSession {
    fn new(version: u16, limits: RelayLimits, now: Duration) -> Self {
        Self {
            version,
            limits,
            bucket: TokenBucket::new(limits.requests_per_second, limits.burst, now),
            strikes: 0,
            mailboxes: Vec::new(),
            subscriptions: Vec::new(),
            inflight: 0,
            strong_keys: StrongKeys::default(),
            last_request: now,
            draining: false,
            closed: false,
            actions: VecDeque::new(),
        }
    }

    /// The protocol version agreed in the handshake.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next action if it is a frame to send (so a shell can flush
    /// pushes while it replays stored envelopes, leaving other actions).
    pub fn poll_send(&mut self) -> Option<Response> {
        match self.actions.front() {
            Some(Action::Send(_)) => match self.actions.pop_front() {
                Some(Action::Send(r)) => Some(r),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the shell should read another frame now. False while the
    /// connection has `max_inflight` posts unacknowledged (backpressure),
    /// when it is draining for shutdown, and once it is closed.
    pub fn may_read(&self) -> bool {
        !self.closed && !self.draining && self.inflight < self.limits.max_inflight
    }

    /// Posts handed to the store and not yet reported back.
    pub fn inflight(&self) -> u16 {
        self.inflight
    }

    /// Whether a close has been queued.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// When the connection times out unless a request arrives before.
    pub fn idle_deadline(&self) -> Duration {
        self.last_request + Duration::from_secs(u64::from(self.limits.idle_timeout_secs))
    }

    /// Closes the connection if its idle deadline has passed.
    pub fn handle_timeout(&mut self, now: Duration) {
        if now >= self.idle_deadline() {
            self.close(ErrorCode::IdleTimeout);
        }
    }

    /// Stops reading requests; [`Self::finish_shutdown`] once the posts in
    /// flight are acknowledged (or the shell gives up waiting).
    pub fn begin_shutdown(&mut self) {
        self.draining = true;
    }

    /// Tells the client the relay is going away and closes.
    pub fn finish_shutdown(&mut self) {
        self.close(ErrorCode::ShuttingDown);
    }

    /// The client stopped reading: close without waiting to send more.
    pub fn slow_reader(&mut self) {
        if !self.closed {
            self.closed = true;
            self.actions.clear();
            self.actions.push_back(Action::Close(ErrorCode::SlowReader));
        }
    }

    /// Queues an error about the connection and a close.
    fn close(&mut self, code: ErrorCode) {
        self.close_with(code, 0);
    }

    fn close_with(&mut self, code: ErrorCode, info: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.actions.push_back(Action::Send(Response::Error(ErrorReply::new(None, code, info))));
        self.actions.push_back(Action::Close(code));
    }

    fn refuse(&mut self, id: u32, code: ErrorCode, info: u64) {
        self.actions.push_back(Action::Send(Response::Error(ErrorReply::new(
            Some(id),
            code,
            info,
        ))));
    }

    /// The shell could not carry out request `id` (for example a store read
    /// failed): refuses it with `code`.
    pub fn fail(&mut self, id: u32, code: ErrorCode) {
        if !self.closed {
            self.refuse(id, code, 0);
        }
    }

    /// A frame announced a payload longer than the relay accepts.
    pub fn frame_too_large(&mut self, max: usize) {
        self.close_with(ErrorCode::TooLarge, u64::try_from(max).unwrap_or(u64::MAX));
    }

    /// Handles one request frame's payload (a post's signature is checked
    /// on its own; see [`Self::handle_frames`] for batches).
    pub fn handle_frame(&mut self, now: Duration, payload: &[u8]) {
        match self.classify(now, payload) {
            Step::Post(post) => {
                let ok = post.envelope.verify_write().is_ok();
                self.admit(post, ok);
            }
            step => self.apply(step),
        }
    }

    /// How many frames the shell may hand over now: each could be a post,
    /// and at most `max_inflight` posts may await their acks.
    pub fn read_budget(&self) -> usize {
        if self.closed || self.draining {
            return 0;
        }
        usize::from(self.limits.max_inflight.saturating_sub(self.inflight))
    }

    /// Handles several request frames that arrived together (at most
    /// [`Self::read_budget`]), in order. The write signatures of consecutive
    /// posts are checked as one batch, about twice as fast as one by one,
    /// with the same verdicts; `rng` draws the batch coefficients and must be
    /// unpredictable to clients (the operating system's generator).
    pub fn handle_frames<'a>(
        &mut self,
        now: Duration,
        payloads: impl IntoIterator<Item = &'a [u8]>,
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
    ) {
        let mut posts = Vec::new();
        for payload in payloads {
            match self.classify(now, payload) {
                Step::Post(post) => posts.push(post),
                // Anything else keeps its place after the posts before it.
                step => {
                    self.admit_all(rng, &mut posts);
                    self.apply(step);
                }
            }
        }
        self.admit_all(rng, &mut posts);
    }

    fn admit_all(
        &mut self,
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
        posts: &mut Vec<PendingPost>,
    ) {
        if posts.is_empty() {
            return;
        }
        let envelopes: Vec<&Envelope> = posts.iter().map(|p| &p.envelope).collect();
        let verdicts = verify_writes(rng, &mut self.strong_keys, &envelopes);
        for (post, ok) in posts.drain(..).zip(verdicts) {
            self.admit(post, ok);
        }
    }

    /// Decodes one request and takes its token; queues nothing.
    fn classify(&mut self, now: Duration, payload: &[u8]) -> Step {
        if self.closed {
            return Step::Ignored;
        }
        let Ok(request) = Request::decode(payload) else { return Step::Malformed };
        self.last_request = self.last_request.max(now);
        let id = request.id();
        if let Err(wait) = self.bucket.take(now) {
            return Step::RateLimited(id, wait);
        }
        self.strikes = 0;
        match request {
            Request::Post { id, envelope, pow } => match Envelope::parse(&envelope) {
                Ok(envelope) => Step::Post(PendingPost { id, envelope, pow }),
                Err(_) => Step::BadShape(id),
            },
            Request::Fetch { id, mailbox, after, limit } => Step::Fetch(id, mailbox, after, limit),
            Request::Subscribe { id, from } => Step::Subscribe(id, from),
            Request::Ping { id } => Step::Ping(id),
        }
    }

    /// Queues the actions of a request that is not a well-shaped post.
    fn apply(&mut self, step: Step) {
        match step {
            Step::Ignored => {}
            Step::Malformed => self.close(ErrorCode::Malformed),
            Step::RateLimited(id, wait) => self.rate_limited(id, wait),
            Step::BadShape(id) => self.refuse(id, ErrorCode::Malformed, 0),
            Step::Post(post) => {
                let ok = post.envelope.verify_write().is_ok();
                self.admit(post, ok);
            }
            Step::Fetch(id, mailbox, after, limit) => self.fetch(id, mailbox, after, limit),
            Step::Subscribe(id, from) => self.subscribe(id, &from),
            Step::Ping(id) => self.actions.push_back(Action::Send(Response::Pong { id })),
        }
    }

    fn rate_limited(&mut self, id: u32, wait: Duration) {
        self.strikes += 1;
        if self.strikes > self.limits.burst.max(MIN_STRIKES) {
            return self.close(ErrorCode::RateLimited);
        }
        let ms = u64::try_from(wait.as_millis().max(1)).unwrap_or(u64::MAX);
        self.refuse(id, ErrorCode::RateLimited, ms);
    }

    /// Adds `mailbox` to the connection's mailboxes if there is room.
    fn use_mailbox(&mut self, mailbox: MailboxId) -> bool {
        if self.mailboxes.contains(&mailbox) {
            return true;
        }
        if self.mailboxes.len() >= usize::from(self.limits.max_mailboxes) {
            return false;
        }
        self.mailboxes.push(mailbox);
        true
    }

    fn too_many_mailboxes(&mut self, id: u32) {
        self.refuse(id, ErrorCode::TooManyMailboxes, u64::from(self.limits.max_mailboxes));
    }

    /// Admits a post whose write signature verified (`signature_ok`), if
    /// the connection's limits and the proof of work allow.
    fn admit(&mut self, post: PendingPost, signature_ok: bool) {
        let PendingPost { id, envelope, pow } = post;
        if self.closed {
            return;
        }
        if !signature_ok {
            return self.refuse(id, ErrorCode::BadSignature, 0);
        }
        let mailbox = envelope.mailbox();
        if !self.use_mailbox(mailbox) {
            return self.too_many_mailboxes(id);
        }
        let difficulty = self.limits.pow_difficulty;
        let pow_proved = pow.is_some_and(|n| pow::check(&mailbox, n, difficulty));
        if pow.is_some() && !pow_proved {
            return self.refuse(id, ErrorCode::ProofOfWorkRequired, u64::from(difficulty));
        }
        self.inflight = self.inflight.saturating_add(1);
        let request = StoreRequest { id, mailbox, envelope, pow_proved };
        self.actions.push_back(Action::Store(request));
    }

    /// Reports the outcome of an [`Action::Store`].
    pub fn stored(&mut self, id: u32, outcome: Result<Stored, StoreRefusal>) {
        self.inflight = self.inflight.saturating_sub(1);
        if self.closed {
            return;
        }
        match outcome {
            Ok(Stored { cursor, duplicate }) => {
                self.actions.push_back(Action::Send(Response::Posted { id, cursor, duplicate }));
            }
            Err(StoreRefusal { code, info }) => self.refuse(id, code, info),
        }
    }

    fn fetch(&mut self, id: u32, mailbox: [u8; 32], after: u64, limit: u16) {
        let mailbox = MailboxId(mailbox);
        if !self.use_mailbox(mailbox) {
            return self.too_many_mailboxes(id);
        }
        let limit = limit.clamp(1, self.limits.max_fetch.max(1));
        self.actions.push_back(Action::Fetch(FetchRequest { id, mailbox, after, limit }));
    }

    /// Reports the page read for an [`Action::Fetch`]: `head` is the
    /// mailbox's last assigned cursor, `items` in increasing cursor order.
    pub fn fetched(&mut self, id: u32, head: u64, items: Vec<Item>) {
        if !self.closed {
            self.actions.push_back(Action::Send(Response::Page(Page { id, head, items })));
        }
    }

    fn subscribe(&mut self, id: u32, from: &[SubscribeFrom]) {
        let mut wanted: Vec<(MailboxId, u64)> = Vec::with_capacity(from.len());
        for f in from {
            if wanted.iter().any(|(m, _)| m.0 == f.mailbox) {
                return self.refuse(id, ErrorCode::Malformed, 0);
            }
            wanted.push((MailboxId(f.mailbox), f.after));
        }
        if wanted.is_empty() || wanted.len() > MAX_SUBSCRIBE {
            return self.refuse(id, ErrorCode::Malformed, 0);
        }
        let new = wanted.iter().filter(|(m, _)| !self.mailboxes.contains(m)).count();
        if self.mailboxes.len() + new > usize::from(self.limits.max_mailboxes) {
            return self.too_many_mailboxes(id);
        }
        for &(mailbox, after) in &wanted {
            self.use_mailbox(mailbox);
            self.subscriptions.retain(|s| s.mailbox != mailbox);
            self.subscriptions.push(Subscription { mailbox, delivered: after });
        }
        self.actions.push_back(Action::Subscribe(SubscribeRequest { id, from: wanted }));
    }

    /// Reports an [`Action::Subscribe`] carried out: `heads` are the last
    /// assigned cursors of its mailboxes, in the request's order.
    pub fn subscribed(&mut self, id: u32, heads: Vec<u64>) {
        if !self.closed {
            self.actions.push_back(Action::Send(Response::Subscribed { id, heads }));
        }
    }

    /// Offers an envelope stored in `mailbox` under `cursor` (from the
    /// replay of stored envelopes or a live post). Queues a push and returns
    /// true if the connection subscribes to the mailbox and has not been
    /// sent this cursor or a later one.
    pub fn deliver(&mut self, mailbox: MailboxId, cursor: u64, envelope: &[u8]) -> bool {
        if self.closed {
            return false;
        }
        let Some(sub) = self.subscriptions.iter_mut().find(|s| s.mailbox == mailbox) else {
            return false;
        };
        if cursor <= sub.delivered {
            return false;
        }
        sub.delivered = cursor;
        let item = Item { cursor, envelope: envelope.to_vec() };
        self.actions.push_back(Action::Send(Response::Push(item)));
        true
    }

    /// Each subscribed mailbox with the last cursor pushed for it (what a
    /// replay after missed live posts starts from).
    pub fn subscriptions(&self) -> impl Iterator<Item = (MailboxId, u64)> + '_ {
        self.subscriptions.iter().map(|s| (s.mailbox, s.delivered))
    }
}

#[cfg(test)]
mod test;
