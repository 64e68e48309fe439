//! What the node's relay task does for one client and one relay, over the
//! simulated network: connect, hand the session the outbox and mailboxes,
//! carry out its actions, and reconnect when [`Memory::reconnect`] says.
//! It decides nothing about what a relay's answer means; everything it
//! sees is written to a log for the properties to check.

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use super::HANDSHAKE_WAIT;
use crate::relay_proto::frame::HEADER_LEN;
use crate::relay_proto::{
    ClientAction, ClientHandshake, ClientSession, Ended, Memory, Reconnect, Refusal, Request,
    Response, Retry, pow,
};
use crate::wire::{Envelope, MailboxId};

/// Something a driver saw or did, for the properties.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "some fields are read only through Debug, when a property fails")]
pub(super) enum Event {
    Connected(u64),
    Ended(Ended),
    Sent(u64, Request),
    Received(u64, Response),
    Delivered { mailbox: MailboxId, cursor: u64, envelope: Envelope },
    Subscribed(Vec<MailboxId>),
    Acked(u64),
    Refused { item: u64, refusal: Refusal, retry: Retry },
}

enum Phase {
    Idle,
    Handshake { conn: u64, hs: ClientHandshake, since: Duration },
    Live { conn: u64, session: Box<ClientSession>, fresh: bool },
    GaveUp,
}

/// What a driver needs from its client for one step.
pub(super) struct Context<'a> {
    pub(super) outbox: &'a BTreeMap<u64, Vec<Envelope>>,
    pub(super) mailboxes: &'a [MailboxId],
    /// Drawn by the world: up to a second, for the backoff.
    pub(super) jitter: Duration,
}

/// Frames to send and a connection to cut, from one step.
#[derive(Default)]
pub(super) struct Drive {
    pub(super) sends: Vec<Vec<u8>>,
    pub(super) cut: Option<u64>,
}

/// One client's link to one relay, across connections.
pub(super) struct Driver {
    memory: Memory,
    phase: Phase,
    next_connect: Duration,
    connected_at: Duration,
    /// An ending to act on at the next step (why, and the connection).
    ending: Option<(Ended, Option<u64>)>,
    pub(super) acked: BTreeSet<u64>,
    pub(super) cursors: BTreeMap<MailboxId, u64>,
    pub(super) log: Vec<(Duration, Event)>,
}

impl Driver {
    pub(super) fn new(_relay: usize) -> Self {
        Self {
            memory: Memory::default(),
            phase: Phase::Idle,
            next_connect: Duration::ZERO,
            connected_at: Duration::ZERO,
            ending: None,
            acked: BTreeSet::new(),
            cursors: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    pub(super) fn conn(&self) -> Option<u64> {
        match &self.phase {
            Phase::Handshake { conn, .. } | Phase::Live { conn, .. } => Some(*conn),
            Phase::Idle | Phase::GaveUp => None,
        }
    }

    pub(super) fn session(&self) -> Option<&ClientSession> {
        match &self.phase {
            Phase::Live { session, .. } => Some(session),
            _ => None,
        }
    }

    pub(super) fn wants_connection(&self, now: Duration) -> bool {
        matches!(self.phase, Phase::Idle) && now >= self.next_connect
    }

    /// Opens connection `conn`: the hello payload to send.
    pub(super) fn connect(&mut self, now: Duration, conn: u64) -> Vec<u8> {
        let hs = ClientHandshake::new();
        let hello = hs.hello_frame()[HEADER_LEN..].to_vec();
        self.phase = Phase::Handshake { conn, hs, since: now };
        self.connected_at = now;
        self.log.push((now, Event::Connected(conn)));
        hello
    }

    pub(super) fn frame(&mut self, now: Duration, payload: &[u8]) {
        match core::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Handshake { conn, hs, .. } => match hs.handle(payload) {
                Ok(session) => {
                    let session = Box::new(session.with_memory(core::mem::take(&mut self.memory)));
                    self.phase = Phase::Live { conn, session, fresh: true };
                }
                Err(e) => self.ending = Some((Ended::Handshake(e), Some(conn))),
            },
            Phase::Live { conn, mut session, fresh } => {
                if let Ok(r) = Response::decode(payload) {
                    self.log.push((now, Event::Received(conn, r)));
                }
                session.handle_frame(now, payload);
                self.phase = Phase::Live { conn, session, fresh };
            }
            other => self.phase = other,
        }
    }

    /// The network cut the connection.
    pub(super) fn cut(&mut self, _now: Duration) {
        if self.conn().is_some() {
            self.ending = Some((Ended::Disconnected, None));
        }
    }

    pub(super) fn post(&mut self, now: Duration, item: u64, envelopes: &[Envelope]) {
        if let Phase::Live { session, fresh: false, .. } = &mut self.phase {
            session.post(now, item, envelopes);
        }
    }

    pub(super) fn follow(&mut self, mailboxes: &[MailboxId]) {
        if let Phase::Live { session, fresh: false, .. } = &mut self.phase {
            session.follow(mailboxes);
        }
    }

    /// One step: timers, a new session's subscriptions and outbox, the
    /// session's actions, and the end of a connection.
    pub(super) fn drive(&mut self, now: Duration, ctx: Context<'_>) -> Drive {
        let mut drive = Drive::default();
        if let Phase::Handshake { conn, since, .. } = &self.phase
            && now >= *since + HANDSHAKE_WAIT
        {
            self.ending = Some((Ended::Disconnected, Some(*conn)));
        }
        if let Phase::Live { session, fresh, .. } = &mut self.phase {
            if *fresh {
                *fresh = false;
                let from: Vec<(MailboxId, u64)> = session
                    .window(ctx.mailboxes)
                    .into_iter()
                    .map(|m| (m, self.cursors.get(&m).copied().unwrap_or(0)))
                    .collect();
                session.subscribe(now, &from);
                for (item, envelopes) in ctx.outbox.iter().filter(|(i, _)| !self.acked.contains(i))
                {
                    session.post(now, *item, envelopes);
                }
            }
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now);
            }
        }
        self.actions(now, &mut drive);
        if let Some((why, conn)) = self.ending.take() {
            drive.cut = conn.or(self.conn());
            self.end(now, why, ctx.jitter);
        }
        drive
    }

    fn actions(&mut self, now: Duration, drive: &mut Drive) {
        let Phase::Live { conn, session, .. } = &mut self.phase else { return };
        let conn = *conn;
        while let Some(action) = session.poll_action() {
            let event = match action {
                ClientAction::Send(request) => {
                    drive.sends.push(request.encode());
                    Event::Sent(conn, request)
                }
                ClientAction::Deliver { mailbox, cursor, envelope } => {
                    let c = self.cursors.entry(mailbox).or_default();
                    *c = (*c).max(cursor);
                    Event::Delivered { mailbox, cursor, envelope }
                }
                ClientAction::Subscribed(m) => Event::Subscribed(m),
                ClientAction::Acked(item) => {
                    self.acked.insert(item);
                    Event::Acked(item)
                }
                ClientAction::Refused { item, refusal, retry } => {
                    Event::Refused { item, refusal, retry }
                }
                ClientAction::Solve { mailbox, difficulty } => {
                    let nonce = pow::solve(&mailbox, difficulty, 0, 1 << 20);
                    session.solved(now, mailbox, nonce);
                    continue;
                }
                ClientAction::Close(why) => {
                    self.ending = Some((why, Some(conn)));
                    break;
                }
            };
            self.log.push((now, event));
        }
    }

    fn end(&mut self, now: Duration, why: Ended, jitter: Duration) {
        if let Phase::Live { session, .. } = core::mem::replace(&mut self.phase, Phase::Idle) {
            self.memory = session.into_memory();
        }
        let lived = now.saturating_sub(self.connected_at);
        self.phase = match self.memory.reconnect(&why, lived, jitter) {
            Reconnect::Now => {
                self.next_connect = now;
                Phase::Idle
            }
            Reconnect::After(wait) => {
                self.next_connect = now + wait;
                Phase::Idle
            }
            Reconnect::Never => Phase::GaveUp,
        };
        self.log.push((now, Event::Ended(why)));
    }
}
