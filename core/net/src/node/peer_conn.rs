//! One peer session over a stream (`peer.md`, "The shell"): writes every
//! frame the session queues and flushes (Tor buffers), feeds what it reads,
//! reports end of stream, and bounds every wait with a timeout.

use std::time::Duration;

use cairn_proto::identity::Identity;
use cairn_proto::peer_proto::{PeerError, PeerEvent, PeerMessage, PeerSession, PeerTarget};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::os_rng;
use crate::BoxStream;

/// How long a handshake may take (onion-service rendezvous included).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a session may stay silent while a reply is awaited.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a served session may stay idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a peer session ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerConnError {
    /// The stream failed.
    #[error("peer stream: {0}")]
    Io(#[from] std::io::Error),
    /// The protocol failed (or the peer is not who it should be).
    #[error("peer protocol: {0}")]
    Protocol(#[from] PeerError),
    /// The peer took too long.
    #[error("the peer did not answer within {0:?}")]
    Timeout(Duration),
    /// The peer ended the session.
    #[error("the peer closed the session")]
    Closed,
    /// The peer refused the request.
    #[error("the peer refused: code {code}")]
    Refused {
        /// The peer error code number.
        code: u16,
        /// The code's detail (for `RateLimited`, the milliseconds to wait).
        info: u64,
    },
}

/// A peer session on a stream.
pub struct PeerConn {
    stream: BoxStream,
    session: PeerSession,
    buf: Vec<u8>,
}

impl PeerConn {
    /// Dials: runs the handshake as initiator towards `target`.
    pub async fn initiate(
        stream: BoxStream,
        identity: &Identity,
        target: PeerTarget,
    ) -> Result<Self, PeerConnError> {
        let session = PeerSession::initiator(&mut os_rng(), identity, target);
        let mut conn = Self { stream, session, buf: vec![0; 16 * 1024] };
        conn.established(HANDSHAKE_TIMEOUT).await?;
        Ok(conn)
    }

    /// Answers: runs the handshake as responder for `identity`.
    pub async fn respond(stream: BoxStream, identity: &Identity) -> Result<Self, PeerConnError> {
        let session = PeerSession::responder(&mut os_rng(), identity);
        let mut conn = Self { stream, session, buf: vec![0; 16 * 1024] };
        conn.established(HANDSHAKE_TIMEOUT).await?;
        Ok(conn)
    }

    /// Answers behind another onion service (an invitation's), whose key
    /// is `onion`.
    pub async fn respond_with_onion(
        stream: BoxStream,
        identity: &Identity,
        onion: &cairn_proto::crypto::SigningKey,
    ) -> Result<Self, PeerConnError> {
        let session = PeerSession::responder_with_onion(&mut os_rng(), identity, onion);
        let mut conn = Self { stream, session, buf: vec![0; 16 * 1024] };
        conn.established(HANDSHAKE_TIMEOUT).await?;
        Ok(conn)
    }

    /// The channel binding (equal on both ends of this session only).
    pub fn binding(&self) -> Option<[u8; 32]> {
        self.session.binding()
    }

    async fn established(&mut self, within: Duration) -> Result<(), PeerConnError> {
        match self.next_event(within).await? {
            PeerEvent::Established { .. } => Ok(()),
            PeerEvent::Closed(e) => Err(e.map_or(PeerConnError::Closed, PeerConnError::Protocol)),
            PeerEvent::Message(_) => Err(PeerError::Malformed("message before handshake").into()),
        }
    }

    /// The peer's proven identity.
    pub fn peer(&self) -> Option<cairn_proto::crypto::PublicKey> {
        self.session.peer()
    }

    /// Writes what the session queued, then flushes.
    async fn pump(&mut self) -> Result<(), PeerConnError> {
        let mut wrote = false;
        while let Some(frame) = self.session.poll_output() {
            self.stream.write_all(&frame).await?;
            wrote = true;
        }
        if wrote {
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &PeerMessage) -> Result<(), PeerConnError> {
        self.session.send(message)?;
        self.pump().await
    }

    /// The next event, reading as needed, within `within`.
    pub async fn next_event(&mut self, within: Duration) -> Result<PeerEvent, PeerConnError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.pump().await?;
            if let Some(event) = self.session.poll_event() {
                return Ok(event);
            }
            if self.session.is_closed() {
                return Err(PeerConnError::Closed);
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut self.buf)).await;
            match read {
                Err(_) => return Err(PeerConnError::Timeout(within)),
                Ok(Ok(0)) => self.session.handle_eof(),
                Ok(Ok(n)) => {
                    let (session, buf) = (&mut self.session, &self.buf);
                    session.handle_bytes(&buf[..n]);
                }
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// The next message (a `Close` or an error ends it).
    pub async fn next_message(&mut self, within: Duration) -> Result<PeerMessage, PeerConnError> {
        match self.next_event(within).await? {
            PeerEvent::Message(PeerMessage::Close) | PeerEvent::Closed(None) => {
                Err(PeerConnError::Closed)
            }
            PeerEvent::Message(PeerMessage::Error { code, info }) => {
                Err(PeerConnError::Refused { code, info })
            }
            PeerEvent::Message(m) => Ok(m),
            PeerEvent::Closed(Some(e)) => Err(e.into()),
            PeerEvent::Established { .. } => Err(PeerError::Malformed("second handshake").into()),
        }
    }

    /// Ends the session politely.
    pub async fn close(mut self) {
        self.session.close();
        let _ = self.pump().await;
    }
}
