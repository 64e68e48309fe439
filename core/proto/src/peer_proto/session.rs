//! [`PeerSession`]: the handshake phases and the open session behind one
//! byte-oriented interface for a shell.
//!
//! The shell writes every frame [`PeerSession::poll_output`] returns, feeds
//! every byte it reads to [`PeerSession::handle_bytes`], acts on
//! [`PeerSession::poll_event`], and closes the stream once
//! [`PeerSession::is_closed`] is true and the output is written. Frames are
//! handled one at a time: after the first bad one the session is closed and
//! every later byte is ignored.

use std::collections::VecDeque;

use super::flow::ResyncFlow;
use super::{
    Established, FrameReader, InitiatorAwaitAuth, InitiatorAwaitWelcome, MAX_FRAME,
    MAX_HELLO_FRAME, PeerError, PeerMessage, PeerTarget, ResponderAwaitAuth, ResponderOutcome,
    ResponderStart,
};
use crate::crypto::PublicKey;
use crate::identity::Identity;

/// What happened on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The handshake succeeded: `peer` proved its identity key.
    Established {
        /// The peer's identity key.
        peer: PublicKey,
        /// The agreed version.
        version: u16,
    },
    /// A message from the peer (bounds checked; contents not judged).
    Message(PeerMessage),
    /// The session is over: `None` when the peer said `Close`, else why.
    Closed(Option<PeerError>),
}

#[derive(Debug)]
enum Phase {
    InitiatorWelcome(InitiatorAwaitWelcome),
    InitiatorAuth(InitiatorAwaitAuth),
    ResponderHello(ResponderStart),
    ResponderAuth(Box<ResponderAwaitAuth>),
    Open(Established),
    Closed,
}

/// One side of a peer stream.
#[derive(Debug)]
pub struct PeerSession {
    phase: Phase,
    reader: FrameReader,
    flow: ResyncFlow,
    output: VecDeque<Vec<u8>>,
    events: VecDeque<PeerEvent>,
}

impl PeerSession {
    fn with(phase: Phase) -> Self {
        let reader = FrameReader::new(MAX_HELLO_FRAME);
        let (output, events) = (VecDeque::new(), VecDeque::new());
        Self { phase, reader, flow: ResyncFlow::default(), output, events }
    }

    /// The dialing side; its hello is queued for output at once.
    pub fn initiator(
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
        identity: &Identity,
        target: PeerTarget,
    ) -> Self {
        let (phase, hello) = InitiatorAwaitWelcome::start(rng, identity, target);
        let mut s = Self::with(Phase::InitiatorWelcome(phase));
        s.output.push_back(hello);
        s
    }

    /// The listening side (the onion service of `identity`).
    pub fn responder(rng: &mut (impl rand_core::CryptoRng + ?Sized), identity: &Identity) -> Self {
        Self::with(Phase::ResponderHello(ResponderStart::new(rng, identity)))
    }

    /// The listening side behind another onion service, whose key is
    /// `onion` (an invitation's short-lived service).
    pub fn responder_with_onion(
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
        identity: &Identity,
        onion: &crate::crypto::SigningKey,
    ) -> Self {
        Self::with(Phase::ResponderHello(ResponderStart::with_onion(rng, identity, onion)))
    }

    /// The channel binding of the open session (`peer.md`): equal on both
    /// ends, different for every session.
    pub fn binding(&self) -> Option<[u8; 32]> {
        match &self.phase {
            Phase::Open(est) => Some(est.binding()),
            _ => None,
        }
    }

    /// The next frame to write.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.output.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Whether the handshake is done and the session not closed.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// Whether the session is over (write the output, then close the stream).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The peer's proven identity, once the session is open.
    pub fn peer(&self) -> Option<PublicKey> {
        match &self.phase {
            Phase::Open(est) => Some(est.peer()),
            _ => None,
        }
    }

    /// Queues `message` for the peer. Fails, sending nothing, when the
    /// session is not open, the message breaks a bound, or a resync message
    /// is out of order (see `protocol-spec/peer.md`, "Resync").
    pub fn send(&mut self, message: &PeerMessage) -> Result<(), PeerError> {
        let Phase::Open(est) = &mut self.phase else { return Err(PeerError::NotOpen) };
        let mut flow = self.flow;
        flow.on_send(message)?;
        let frame = est.seal(message)?;
        self.flow = flow;
        self.output.push_back(frame);
        Ok(())
    }

    /// Seals arbitrary bytes as the next frame, unchecked: for fuzzing the
    /// peer's decoder behind the encryption. Never for real use.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn dangerously_send_raw(&mut self, plaintext: &[u8]) -> Result<(), PeerError> {
        let Phase::Open(est) = &mut self.phase else { return Err(PeerError::NotOpen) };
        let frame = est.send.seal(plaintext)?;
        self.output.push_back(frame);
        Ok(())
    }

    /// Ends the session: queues a `Close` if it is open.
    pub fn close(&mut self) {
        if let Phase::Open(est) = &mut self.phase
            && let Ok(frame) = est.seal(&PeerMessage::Close)
        {
            self.output.push_back(frame);
        }
        self.phase = Phase::Closed;
    }

    /// Feeds bytes read from the stream.
    pub fn handle_bytes(&mut self, mut input: &[u8]) {
        while !self.is_closed() && !input.is_empty() {
            match self.reader.push(&mut input) {
                Ok(Some(payload)) => self.handle_frame(&payload),
                Ok(None) => break,
                Err(e) => self.fail(e),
            }
        }
    }

    /// The stream ended (without half-close, this ends the session).
    pub fn handle_eof(&mut self) {
        if self.is_closed() {
            return;
        }
        let error = self.reader.finish().err().unwrap_or(PeerError::StreamEnded);
        self.fail(error);
    }

    fn handle_frame(&mut self, payload: &[u8]) {
        match core::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::InitiatorWelcome(s) => match s.handle(payload) {
                Ok(next) => self.phase = Phase::InitiatorAuth(next),
                Err(e) => self.fail(e),
            },
            Phase::InitiatorAuth(s) => match s.handle(payload) {
                Ok((est, frame)) => {
                    self.output.push_back(frame);
                    self.open(est);
                }
                Err(e) => self.fail(e),
            },
            Phase::ResponderHello(s) => match s.handle(payload) {
                ResponderOutcome::Continue { next, frames } => {
                    self.output.extend(frames);
                    self.phase = Phase::ResponderAuth(next);
                }
                ResponderOutcome::Refuse { frame, error } => {
                    self.output.push_back(frame);
                    self.fail(error);
                }
            },
            Phase::ResponderAuth(s) => match s.handle(payload) {
                Ok(est) => self.open(est),
                Err(e) => self.fail(e),
            },
            Phase::Open(mut est) => {
                let got = est.open(payload);
                self.phase = Phase::Open(est);
                match got.and_then(|m| self.flow.on_receive(&m).map(|()| m)) {
                    Ok(PeerMessage::Close) => self.finish(None),
                    Ok(m) => self.events.push_back(PeerEvent::Message(m)),
                    Err(e) => self.fail(e),
                }
            }
            Phase::Closed => {}
        }
    }

    fn open(&mut self, est: Established) {
        self.events.push_back(PeerEvent::Established { peer: est.peer(), version: est.version() });
        self.reader.set_max(MAX_FRAME);
        self.phase = Phase::Open(est);
    }

    /// Closes after `error`; an open session tells the peer why first.
    fn fail(&mut self, error: PeerError) {
        if let Phase::Open(est) = &mut self.phase {
            let m = PeerMessage::Error { code: error.code().number(), info: error.info() };
            if let Ok(frame) = est.seal(&m) {
                self.output.push_back(frame);
            }
        }
        self.finish(Some(error));
    }

    fn finish(&mut self, error: Option<PeerError>) {
        self.phase = Phase::Closed;
        self.events.push_back(PeerEvent::Closed(error));
    }
}
