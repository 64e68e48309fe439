//! One connection: read frames, feed the session, carry out its actions.
//!
//! The task waits on four things at once: the next frame (only while the
//! session wants one), acknowledgements from the writer, live pushes from
//! the hub, and its deadlines (idle, shutdown grace). Every write has a
//! timeout; a client that does not read is disconnected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_proto::relay_proto::{
    Action, ErrorCode, FetchRequest, HandshakeOutcome, MAX_REQUEST_FRAME, Response,
    ServerHandshake, ServerSession, StoreRefusal, StoreRequest, SubscribeRequest, frame,
};
use cairn_proto::wire::MailboxId;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::Instant;

use super::Shared;
use crate::hub::{Push, Subscriber};
use crate::metrics::add;
use crate::writer::{Ack, Job, PostJob};
use cairn_net::BoxStream;
use cairn_net::frames::{FrameReader, ReadError};

/// Serves one accepted connection to its end.
pub(crate) async fn serve(stream: BoxStream, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    add(&shared.counters.connections_total, 1);
    add(&shared.counters.connections_open, 1);
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (rd, wr) = tokio::io::split(stream);
    let mut conn = Conn::new(id, rd, wr, shared.clone());
    if let Some(session) = conn.handshake().await {
        conn.run(session, stop).await;
    }
    shared.hub.unsubscribe(id, conn.subscribed.iter().copied());
    let _ = tokio::time::timeout(LINGER, conn.linger()).await;
    shared.counters.connections_open.fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(conn = id, "connection closed");
}

/// At most this long is spent closing a connection politely.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much unread input is discarded while closing.
const LINGER_BYTES: usize = 1 << 20;
/// Frames are gathered up to this many bytes before a write.
const OUT_FLUSH: usize = 64 * 1024;
/// Output buffer capacity kept between writes.
const OUT_KEEP: usize = 16 * 1024;

struct Conn {
    id: u64,
    reader: FrameReader<ReadHalf<BoxStream>>,
    writer: WriteHalf<BoxStream>,
    shared: Arc<Shared>,
    acks_tx: mpsc::Sender<Ack>,
    acks: mpsc::Receiver<Ack>,
    pushes_tx: mpsc::Sender<Push>,
    pushes: mpsc::Receiver<Push>,
    lagged: Arc<AtomicBool>,
    subscribed: Vec<MailboxId>,
    /// Frames waiting to be written.
    out: Vec<u8>,
    /// The client closed its side: stop reading, finish what is in flight.
    eof: bool,
}

impl Conn {
    fn new(
        id: u64,
        rd: ReadHalf<BoxStream>,
        wr: WriteHalf<BoxStream>,
        shared: Arc<Shared>,
    ) -> Self {
        let (acks_tx, acks) = mpsc::channel(usize::from(shared.limits.max_inflight).max(1));
        let (pushes_tx, pushes) = mpsc::channel(shared.push_queue.max(1));
        Self {
            id,
            reader: FrameReader::new(rd, MAX_REQUEST_FRAME),
            writer: wr,
            shared,
            acks_tx,
            acks,
            pushes_tx,
            pushes,
            lagged: Arc::default(),
            subscribed: Vec::new(),
            out: Vec::new(),
            eof: false,
        }
    }

    /// Time since the relay's origin: the session's clock.
    fn now(&self) -> Duration {
        self.shared.origin.elapsed()
    }

    fn instant(&self, at: Duration) -> Instant {
        Instant::from_std(self.shared.origin + at)
    }

    /// Closes politely: sends FIN after the last frame, then discards what
    /// the client still sends until it closes too. Closing a socket with
    /// unread input makes the kernel send a reset, which can destroy the
    /// last frame (an error code) before the client reads it.
    async fn linger(&mut self) {
        if self.writer.shutdown().await.is_err() {
            return;
        }
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match self.reader.discard().await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    }

    /// Writes one frame, within the write timeout.
    async fn write(&mut self, payload: &[u8]) -> bool {
        self.out.extend_from_slice(&frame::encode(payload));
        self.flush_out().await
    }

    /// Writes the frames gathered in `out` (one system call for many acks
    /// or pushes), within the write timeout.
    async fn flush_out(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        // Flush too: streams that buffer (arti's onion streams) send
        // nothing until flushed; for TCP it is free.
        let writer = &mut self.writer;
        let out = &self.out;
        let written = tokio::time::timeout(self.shared.write_timeout, async move {
            writer.write_all(out).await?;
            writer.flush().await
        });
        let result = written.await;
        self.out.clear();
        // An idle connection keeps no large buffer.
        if self.out.capacity() > OUT_KEEP {
            self.out = Vec::new();
        }
        match result {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                add(&self.shared.counters.slow_readers, 1);
                tracing::debug!(conn = self.id, "slow reader disconnected");
                false
            }
        }
    }

    async fn handshake(&mut self) -> Option<ServerSession> {
        let first = tokio::time::timeout(self.shared.handshake_timeout, self.reader.next()).await;
        let Ok(Ok(Some(payload))) = first else { return None };
        match ServerHandshake::new(self.shared.limits).handle(self.now(), &payload) {
            HandshakeOutcome::Accept { session, reply } => {
                self.write(&reply.encode()).await.then_some(session)
            }
            HandshakeOutcome::Refuse { reply, code } => {
                self.shared.counters.error_sent(code);
                self.write(&reply.encode()).await;
                None
            }
        }
    }

    async fn run(&mut self, mut session: ServerSession, mut stop: watch::Receiver<bool>) {
        let mut drain_until: Option<Instant> = None;
        loop {
            if !self.execute(&mut session).await {
                return;
            }
            if (drain_until.is_some() || self.eof) && session.inflight() == 0 {
                if self.eof {
                    return;
                }
                session.finish_shutdown();
                continue;
            }
            let idle = self.instant(session.idle_deadline());
            let drain = drain_until.unwrap_or(idle);
            tokio::select! {
                biased;
                () = stopped(&mut stop), if drain_until.is_none() => {
                    session.begin_shutdown();
                    drain_until = Some(Instant::now() + self.shared.shutdown_grace);
                }
                Some(ack) = self.acks.recv() => {
                    session.stored(ack.id, ack.outcome);
                    while let Ok(ack) = self.acks.try_recv() {
                        session.stored(ack.id, ack.outcome);
                    }
                }
                Some(push) = self.pushes.recv() => {
                    session.deliver(push.mailbox, push.cursor, push.envelope.as_bytes());
                    while let Ok(push) = self.pushes.try_recv() {
                        session.deliver(push.mailbox, push.cursor, push.envelope.as_bytes());
                    }
                    let lagged = self.pushes.is_empty() && self.lagged.swap(false, Ordering::AcqRel);
                    if lagged && !(self.flush(&mut session).await && self.catch_up(&mut session).await) {
                        return;
                    }
                }
                read = self.reader.next(), if session.may_read() && !self.eof => {
                    self.on_read(&mut session, read);
                }
                _ = tokio::time::sleep_until(idle) => session.handle_timeout(self.now()),
                _ = tokio::time::sleep_until(drain), if drain_until.is_some() => {
                    session.finish_shutdown();
                }
            }
        }
    }

    /// Hands the frame just read, and every further frame already buffered
    /// (within the session's read budget), to the session in one go, so
    /// that pipelined posts have their signatures checked as a batch.
    fn on_read(&mut self, session: &mut ServerSession, read: Result<Option<Vec<u8>>, ReadError>) {
        let first = match read {
            Ok(Some(payload)) => payload,
            other => return self.on_read_error(session, other),
        };
        let mut frames = vec![first];
        let mut after = None;
        while frames.len() < session.read_budget() {
            match self.reader.buffered() {
                Ok(Some(payload)) => frames.push(payload),
                Ok(None) => break,
                Err(e) => {
                    after = Some(e);
                    break;
                }
            }
        }
        add(&self.shared.counters.requests, frames.len() as u64);
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        session.handle_frames(self.now(), frames.iter().map(Vec::as_slice), &mut rng);
        if let Some(e) = after {
            self.on_read_error(session, Err(e));
        }
    }

    fn on_read_error(
        &mut self,
        session: &mut ServerSession,
        read: Result<Option<Vec<u8>>, ReadError>,
    ) {
        match read {
            Ok(Some(payload)) => session.handle_frame(self.now(), &payload),
            Err(ReadError::TooLarge { max }) => session.frame_too_large(max),
            // An empty frame does not decode: the session closes as malformed.
            Err(ReadError::Empty) => session.handle_frame(self.now(), &[]),
            Ok(None) | Err(ReadError::Truncated | ReadError::Io(_)) => {
                self.eof = true;
                session.begin_shutdown();
            }
        }
    }

    /// Carries out every queued action; false once the connection is over.
    async fn execute(&mut self, session: &mut ServerSession) -> bool {
        let mut budget: Option<OwnedSemaphorePermit> = None;
        while let Some(action) = session.poll_action() {
            let ok = match action {
                Action::Send(response) => self.send(&response).await,
                Action::Store(req) => {
                    self.store(session, req);
                    true
                }
                Action::Fetch(req) => {
                    budget = self.fetch(session, req).await;
                    true
                }
                Action::Subscribe(req) => {
                    self.flush_out().await && self.subscribe(session, req).await
                }
                Action::Close(code) => {
                    tracing::debug!(conn = self.id, reason = code.name(), "closing connection");
                    let _ = self.flush_out().await;
                    return false;
                }
            };
            if !ok {
                session.slow_reader();
                return false;
            }
        }
        let flushed = self.flush_out().await;
        drop(budget);
        flushed
    }

    /// Writes queued frames only (pushes during a replay).
    async fn flush(&mut self, session: &mut ServerSession) -> bool {
        while let Some(response) = session.poll_send() {
            if !self.send(&response).await {
                return false;
            }
        }
        self.flush_out().await
    }

    async fn send(&mut self, response: &Response) -> bool {
        match response {
            Response::Error(e) => {
                if let Some(code) = ErrorCode::from_number(e.code) {
                    self.shared.counters.error_sent(code);
                }
            }
            Response::Push(_) => add(&self.shared.counters.pushes, 1),
            _ => {}
        }
        self.out.extend_from_slice(&frame::encode(&response.encode()));
        self.out.len() < OUT_FLUSH || self.flush_out().await
    }

    /// Hands a checked post to the writer, or refuses it if the writer's
    /// queue is full.
    fn store(&mut self, session: &mut ServerSession, req: StoreRequest) {
        let refuse = |code| Err(StoreRefusal { code, info: 0 });
        // The session keeps posts in flight within the ack queue's capacity.
        let Ok(reply) = self.acks_tx.clone().try_reserve_owned() else {
            return session.stored(req.id, refuse(ErrorCode::Internal));
        };
        let StoreRequest { id, mailbox, envelope, pow_proved } = req;
        let job = Job::Post(PostJob { id, mailbox, envelope, pow_proved, reply });
        match self.shared.jobs.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                session.stored(id, refuse(ErrorCode::Overloaded));
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                session.stored(id, refuse(ErrorCode::ShuttingDown));
            }
        }
    }

    /// Reads a page within the output budget; the permit is held until the
    /// page has been written.
    async fn fetch(
        &mut self,
        session: &mut ServerSession,
        req: FetchRequest,
    ) -> Option<OwnedSemaphorePermit> {
        let units = Shared::page_units(req.limit);
        let permit = self.shared.output.clone().acquire_many_owned(units).await.ok()?;
        match read_page(&self.shared, req.mailbox, req.after, req.limit).await {
            Some((head, items)) => {
                add(&self.shared.counters.fetches, 1);
                add(&self.shared.counters.envelopes_served, items.len() as u64);
                session.fetched(req.id, head, items);
            }
            None => session.fail(req.id, ErrorCode::Internal),
        }
        Some(permit)
    }

    /// Registers live pushes, answers with the heads, then replays what is
    /// stored after each cursor.
    async fn subscribe(&mut self, session: &mut ServerSession, req: SubscribeRequest) -> bool {
        let sub = Subscriber {
            conn: self.id,
            queue: self.pushes_tx.clone(),
            lagged: self.lagged.clone(),
        };
        let mailboxes: Vec<MailboxId> = req.from.iter().map(|(m, _)| *m).collect();
        for m in &mailboxes {
            self.shared.hub.subscribe(*m, &sub);
            if !self.subscribed.contains(m) {
                self.subscribed.push(*m);
            }
        }
        let store = self.shared.store.clone();
        let heads = tokio::task::spawn_blocking(move || store.heads(&mailboxes)).await;
        let Ok(Ok(heads)) = heads else {
            add(&self.shared.counters.store_errors, 1);
            session.fail(req.id, ErrorCode::Internal);
            return true;
        };
        session.subscribed(req.id, heads);
        self.flush(session).await && self.replay(session, req.from).await
    }

    /// Pushes what was missed while the push queue overflowed.
    async fn catch_up(&mut self, session: &mut ServerSession) -> bool {
        let from: Vec<_> = session.subscriptions().collect();
        self.replay(session, from).await
    }

    /// Pushes the stored envelopes after each cursor, a page at a time.
    async fn replay(&mut self, session: &mut ServerSession, from: Vec<(MailboxId, u64)>) -> bool {
        let limit = self.shared.limits.max_fetch;
        for (mailbox, mut after) in from {
            loop {
                let units = Shared::page_units(limit);
                let Ok(permit) = self.shared.output.clone().acquire_many_owned(units).await else {
                    return false;
                };
                let Some((_, items)) = read_page(&self.shared, mailbox, after, limit).await else {
                    return false;
                };
                let full = items.len() == usize::from(limit);
                for item in &items {
                    session.deliver(mailbox, item.cursor, &item.envelope);
                    after = item.cursor;
                }
                if !self.flush(session).await {
                    return false;
                }
                drop(permit);
                if !full {
                    break;
                }
            }
        }
        true
    }
}

/// Completes once the relay is stopping (or the relay is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Reads a page on the blocking pool.
async fn read_page(
    shared: &Arc<Shared>,
    mailbox: MailboxId,
    after: u64,
    limit: u16,
) -> Option<(u64, Vec<cairn_proto::relay_proto::Item>)> {
    let store = shared.store.clone();
    let read = tokio::task::spawn_blocking(move || store.page(&mailbox, after, limit.into()));
    match read.await {
        Ok(Ok(page)) => Some(page),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "store read failed");
            add(&shared.counters.store_errors, 1);
            None
        }
        Err(_) => None,
    }
}
