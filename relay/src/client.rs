//! A small async relay client over any stream: for the tests, the
//! benchmark and tools. It sends exactly what its caller asks, through
//! `cairn_proto::relay_proto::Requests`; the node's own client lives in
//! `cairn-net` and is driven by the `ClientSession` state machine (retries,
//! pacing, epochs).
//!
//! Requests are answered in order of their ids; events that arrive while a
//! caller waits for a reply (pushes, other replies) are kept, at most
//! [`MAX_STASHED`], for [`RelayClient::next_event`].

use std::collections::VecDeque;
use std::net::SocketAddr;

use cairn_proto::relay_proto::{
    ClientError, ClientHandshake, MAX_RESPONSE_FRAME, RelayEvent, Requests,
};
use cairn_proto::wire::{Envelope, MailboxId};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

use cairn_net::BoxStream;
use cairn_net::frames::{FrameReader, ReadError};

/// Events kept while waiting for a reply.
pub const MAX_STASHED: usize = 100_000;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIoError {
    /// The connection failed.
    #[error("relay connection: {0}")]
    Io(#[from] std::io::Error),
    /// The relay closed the connection.
    #[error("relay closed the connection")]
    Closed,
    /// The relay broke the protocol (or refused the connection).
    #[error(transparent)]
    Protocol(#[from] ClientError),
    /// The relay sent a frame longer than the protocol allows.
    #[error("relay sent an oversized or empty frame")]
    BadFrame,
    /// Too many unclaimed events.
    #[error("more than {MAX_STASHED} events waiting to be read")]
    Backlog,
}

/// A connected, welcomed relay client.
pub struct RelayClient {
    reader: FrameReader<ReadHalf<BoxStream>>,
    writer: WriteHalf<BoxStream>,
    session: Requests,
    stash: VecDeque<RelayEvent>,
}

impl core::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RelayClient").field("session", &self.session).finish_non_exhaustive()
    }
}

impl RelayClient {
    /// Connects over TCP and does the handshake.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ClientIoError> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Self::handshake(Box::new(stream)).await
    }

    /// Does the handshake on an open stream.
    pub async fn handshake(stream: BoxStream) -> Result<Self, ClientIoError> {
        let (rd, mut writer) = tokio::io::split(stream);
        let hs = ClientHandshake::new();
        writer.write_all(&hs.hello_frame()).await?;
        // Onion streams buffer until flushed.
        writer.flush().await?;
        let mut reader = FrameReader::new(rd, MAX_RESPONSE_FRAME);
        let reply = read(&mut reader).await?;
        let session = hs.handle_raw(&reply)?;
        Ok(Self { reader, writer, session, stash: VecDeque::new() })
    }

    /// The protocol session (limits, request building).
    pub fn session(&mut self) -> &mut Requests {
        &mut self.session
    }

    /// Sends a frame built with [`RelayClient::session`].
    pub async fn send_frame(&mut self, frame: &[u8]) -> Result<(), ClientIoError> {
        self.writer.write_all(frame).await?;
        Ok(self.writer.flush().await?)
    }

    /// The next event: a kept one first, else the next frame.
    pub async fn next_event(&mut self) -> Result<RelayEvent, ClientIoError> {
        if let Some(e) = self.stash.pop_front() {
            return Ok(e);
        }
        let payload = read(&mut self.reader).await?;
        Ok(self.session.decode(&payload)?)
    }

    /// Waits for the reply to request `id` (or a connection error), keeping
    /// the events that come before it.
    pub async fn reply_to(&mut self, id: u32) -> Result<RelayEvent, ClientIoError> {
        if let Some(i) = self.stash.iter().position(|e| answers(e, id)) {
            return self.stash.remove(i).ok_or(ClientIoError::Closed);
        }
        loop {
            let payload = read(&mut self.reader).await?;
            let event = self.session.decode(&payload)?;
            if answers(&event, id) {
                return Ok(event);
            }
            if self.stash.len() >= MAX_STASHED {
                return Err(ClientIoError::Backlog);
            }
            self.stash.push_back(event);
        }
    }

    /// Posts an envelope and waits for its reply.
    pub async fn post(
        &mut self,
        envelope: &Envelope,
        pow: Option<u64>,
    ) -> Result<RelayEvent, ClientIoError> {
        let (id, frame) = self.session.post(envelope, pow);
        self.send_frame(&frame).await?;
        self.reply_to(id).await
    }

    /// Fetches a page and waits for it.
    pub async fn fetch(
        &mut self,
        mailbox: &MailboxId,
        after: u64,
        limit: u16,
    ) -> Result<RelayEvent, ClientIoError> {
        let (id, frame) = self.session.fetch(mailbox, after, limit);
        self.send_frame(&frame).await?;
        self.reply_to(id).await
    }

    /// Subscribes and waits for the confirmation (pushes follow it).
    pub async fn subscribe(
        &mut self,
        from: &[(MailboxId, u64)],
    ) -> Result<RelayEvent, ClientIoError> {
        let (id, frame) = self.session.subscribe(from);
        self.send_frame(&frame).await?;
        self.reply_to(id).await
    }

    /// Pings and waits for the pong.
    pub async fn ping(&mut self) -> Result<RelayEvent, ClientIoError> {
        let (id, frame) = self.session.ping();
        self.send_frame(&frame).await?;
        self.reply_to(id).await
    }

    /// Posts `envelopes` pipelined: `burst` of them written at once, the
    /// next burst once no more than a window minus a burst await their
    /// replies (the window is the relay's announced `max_inflight`).
    /// Returns the replies that were not `Posted` (refusals), in order.
    pub async fn post_pipelined(
        &mut self,
        envelopes: &[Envelope],
        burst: usize,
    ) -> Result<Vec<RelayEvent>, ClientIoError> {
        let window = usize::from(self.session.limits().max_inflight).max(2);
        let burst = burst.clamp(1, window);
        let (mut in_flight, mut refused) = (VecDeque::new(), Vec::new());
        for chunk in envelopes.chunks(burst) {
            let mut frames = Vec::new();
            for e in chunk {
                let (id, frame) = self.session.post(e, None);
                frames.extend_from_slice(&frame);
                in_flight.push_back(id);
            }
            self.send_frame(&frames).await?;
            while in_flight.len() > window - burst {
                let Some(id) = in_flight.pop_front() else { break };
                match self.reply_to(id).await? {
                    RelayEvent::Posted { .. } => {}
                    other => refused.push(other),
                }
            }
        }
        for id in in_flight {
            match self.reply_to(id).await? {
                RelayEvent::Posted { .. } => {}
                other => refused.push(other),
            }
        }
        Ok(refused)
    }

    /// Every envelope of `mailbox` after `after`, page by page, with cursors.
    pub async fn fetch_all(
        &mut self,
        mailbox: &MailboxId,
        mut after: u64,
    ) -> Result<Vec<(u64, Envelope)>, ClientIoError> {
        let mut all = Vec::new();
        loop {
            match self.fetch(mailbox, after, u16::MAX).await? {
                RelayEvent::Page { items, .. } if items.is_empty() => return Ok(all),
                RelayEvent::Page { items, .. } => {
                    after = items.last().map_or(after, |(c, _)| *c);
                    all.extend(items);
                }
                _ => return Err(ClientIoError::Closed),
            }
        }
    }
}

/// Whether `event` answers request `id` (a connection error answers all).
fn answers(event: &RelayEvent, id: u32) -> bool {
    match event {
        RelayEvent::Posted { id: i, .. }
        | RelayEvent::Page { id: i, .. }
        | RelayEvent::Subscribed { id: i, .. }
        | RelayEvent::Pong { id: i } => *i == id,
        RelayEvent::Error { id: i, .. } => i.is_none_or(|i| i == id),
        RelayEvent::Push { .. } => false,
    }
}

async fn read(reader: &mut FrameReader<ReadHalf<BoxStream>>) -> Result<Vec<u8>, ClientIoError> {
    match reader.next().await {
        Ok(Some(p)) => Ok(p),
        Ok(None) | Err(ReadError::Truncated) => Err(ClientIoError::Closed),
        Err(ReadError::Io(e)) => Err(ClientIoError::Io(e)),
        Err(ReadError::TooLarge { .. } | ReadError::Empty) => Err(ClientIoError::BadFrame),
    }
}
