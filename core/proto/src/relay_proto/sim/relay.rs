//! A relay for the simulator: [`ServerSession`]s per connection over a
//! store with the rules of `relay.md` §5–6 that matter to a client
//! (cursors per mailbox, duplicates stored once, proof of work to create a
//! mailbox), and switches for a hostile relay: withhold every push,
//! announce a more generous rate than it enforces, refuse some stores as
//! overloaded.

use std::collections::BTreeMap;

use core::time::Duration;

use crate::relay_proto::{
    Action, ErrorCode, HandshakeOutcome, Item, RelayLimits, ServerHandshake, ServerHello,
    ServerSession, StoreRefusal, StoreRequest, Stored,
};
use crate::wire::MailboxId;

/// What the relay holds.
#[derive(Debug, Default)]
pub(super) struct Store {
    pub(super) mailboxes: BTreeMap<MailboxId, Vec<Vec<u8>>>,
    /// Envelope bytes → mailbox and cursor (duplicates are stored once).
    pub(super) index: BTreeMap<Vec<u8>, (MailboxId, u64)>,
    /// Every envelope written, once per write (the "exactly once" check).
    pub(super) writes: Vec<Vec<u8>>,
}

/// One relay and its connections.
pub(super) struct Relay {
    limits: RelayLimits,
    pub(super) store: Store,
    /// Connections: handshake pending (`None`) or served.
    pub(super) sessions: BTreeMap<u64, Option<ServerSession>>,
    /// Stores what is posted but pushes nothing (a withholding relay).
    pub(super) withholds: bool,
    /// Subscriptions registered, in order: (connection, mailboxes).
    pub(super) subscribes: Vec<(u64, Vec<MailboxId>)>,
    /// Limits announced in the welcome instead of those enforced.
    pub(super) announce: Option<RelayLimits>,
    /// Refuses every so many stores with `Overloaded` (0: none).
    pub(super) overloaded_every: u32,
    stores: u32,
}

/// What the relay sends or does to a connection.
pub(super) enum Out {
    Send(u64, Vec<u8>),
    Close(u64),
}

impl Relay {
    pub(super) fn new(limits: RelayLimits) -> Self {
        let (store, sessions) = (Store::default(), BTreeMap::new());
        Self {
            limits,
            store,
            sessions,
            withholds: false,
            subscribes: Vec::new(),
            announce: None,
            overloaded_every: 0,
            stores: 0,
        }
    }

    pub(super) fn connected(&mut self, conn: u64) {
        self.sessions.insert(conn, None);
    }

    pub(super) fn disconnected(&mut self, conn: u64) {
        self.sessions.remove(&conn);
    }

    /// A frame from a client; returns what to send.
    pub(super) fn frame(&mut self, now: Duration, conn: u64, payload: &[u8]) -> Vec<Out> {
        let Some(slot) = self.sessions.get_mut(&conn) else { return Vec::new() };
        let Some(session) = slot else {
            return match ServerHandshake::new(self.limits).handle(now, payload) {
                HandshakeOutcome::Accept { session, mut reply } => {
                    if let (Some(announced), ServerHello::Welcome { limits, .. }) =
                        (self.announce, &mut reply)
                    {
                        *limits = announced;
                    }
                    *slot = Some(session);
                    vec![Out::Send(conn, reply.encode())]
                }
                HandshakeOutcome::Refuse { reply, .. } => {
                    vec![Out::Send(conn, reply.encode()), Out::Close(conn)]
                }
            };
        };
        session.handle_frame(now, payload);
        self.pump(conn)
    }

    pub(super) fn timeout(&mut self, now: Duration) -> Vec<Out> {
        let conns: Vec<u64> = self.sessions.keys().copied().collect();
        let mut out = Vec::new();
        for conn in conns {
            if let Some(Some(s)) = self.sessions.get_mut(&conn) {
                s.handle_timeout(now);
            }
            out.extend(self.pump(conn));
        }
        out
    }

    /// Carries out a connection's actions until it has none.
    fn pump(&mut self, conn: u64) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(action) = self.session(conn).and_then(ServerSession::poll_action) {
            match action {
                Action::Send(r) => out.push(Out::Send(conn, r.encode())),
                Action::Store(req) => out.extend(self.store(conn, req)),
                Action::Fetch(f) => {
                    let items = self.items(&f.mailbox, f.after);
                    let head = self.head(&f.mailbox);
                    let items = items.into_iter().take(usize::from(f.limit)).collect();
                    self.with(conn, |s| s.fetched(f.id, head, items));
                }
                Action::Subscribe(req) => self.subscribe(conn, req.id, req.from),
                Action::Close(_) => out.push(Out::Close(conn)),
            }
        }
        out
    }

    fn session(&mut self, conn: u64) -> Option<&mut ServerSession> {
        self.sessions.get_mut(&conn).and_then(Option::as_mut)
    }

    fn with(&mut self, conn: u64, f: impl FnOnce(&mut ServerSession)) {
        if let Some(s) = self.session(conn) {
            f(s);
        }
    }

    fn head(&self, mailbox: &MailboxId) -> u64 {
        self.store.mailboxes.get(mailbox).map_or(0, |m| m.len() as u64)
    }

    fn items(&self, mailbox: &MailboxId, after: u64) -> Vec<Item> {
        let Some(stored) = self.store.mailboxes.get(mailbox) else { return Vec::new() };
        let numbered = stored.iter().enumerate().map(|(i, e)| (i as u64 + 1, e));
        let after = numbered.filter(|(c, _)| *c > after);
        after.map(|(cursor, e)| Item { cursor, envelope: e.clone() }).collect()
    }

    fn subscribe(&mut self, conn: u64, id: u32, from: Vec<(MailboxId, u64)>) {
        let heads = from.iter().map(|(m, _)| self.head(m)).collect();
        self.subscribes.push((conn, from.iter().map(|(m, _)| *m).collect()));
        let replay: Vec<(MailboxId, Vec<Item>)> =
            from.iter().map(|(m, after)| (*m, self.items(m, *after))).collect();
        let withholds = self.withholds;
        self.with(conn, |s| {
            s.subscribed(id, heads);
            for (mailbox, items) in replay.into_iter().filter(|_| !withholds) {
                for item in items {
                    s.deliver(mailbox, item.cursor, &item.envelope);
                }
            }
        });
    }

    fn store(&mut self, conn: u64, req: StoreRequest) -> Vec<Out> {
        let bytes = req.envelope.as_bytes().to_vec();
        let outcome = self.commit(&req, bytes.clone());
        self.with(conn, |s| s.stored(req.id, outcome));
        let mut out = Vec::new();
        if let Ok(Stored { cursor, duplicate: false }) = outcome
            && !self.withholds
        {
            let conns: Vec<u64> = self.sessions.keys().copied().collect();
            for other in conns.into_iter().filter(|c| *c != conn) {
                self.with(other, |s| {
                    s.deliver(req.mailbox, cursor, &bytes);
                });
                out.extend(self.pump(other));
            }
            self.with(conn, |s| {
                s.deliver(req.mailbox, cursor, &bytes);
            });
        }
        out.extend(self.pump(conn));
        out
    }

    fn commit(&mut self, req: &StoreRequest, bytes: Vec<u8>) -> Result<Stored, StoreRefusal> {
        self.stores += 1;
        if self.overloaded_every > 0 && self.stores.is_multiple_of(self.overloaded_every) {
            return Err(StoreRefusal { code: ErrorCode::Overloaded, info: 0 });
        }
        if let Some((_, cursor)) = self.store.index.get(&bytes) {
            return Ok(Stored { cursor: *cursor, duplicate: true });
        }
        let difficulty = self.limits.pow_difficulty;
        if !self.store.mailboxes.contains_key(&req.mailbox) && difficulty > 0 && !req.pow_proved {
            let code = ErrorCode::ProofOfWorkRequired;
            return Err(StoreRefusal { code, info: u64::from(difficulty) });
        }
        let mailbox = self.store.mailboxes.entry(req.mailbox).or_default();
        mailbox.push(bytes.clone());
        let cursor = mailbox.len() as u64;
        self.store.index.insert(bytes.clone(), (req.mailbox, cursor));
        self.store.writes.push(bytes);
        Ok(Stored { cursor, duplicate: false })
    }
}
