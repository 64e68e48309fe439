//! The handshake, one struct per phase, each consumed by `handle(self, ..)`.
//!
//! ```text
//! initiator                                    responder
//! InitiatorAwaitWelcome::start ── Hello ──▶     ResponderStart::handle
//!                              ◀── Welcome ──   (th1: hellos; handshake keys)
//!                              ◀── {ResponderAuth} (signs th1 ‖ id ‖ onion)
//! InitiatorAwaitWelcome::handle → InitiatorAwaitAuth
//! InitiatorAwaitAuth::handle: onion key ↔ dialed address, both signatures
//!                              ── {InitiatorAuth} ──▶ (signs th2 ‖ id)
//! Established (session keys from th3)          ResponderAwaitAuth::handle → Established
//! ```
//!
//! `{..}` is sealed under the sender's handshake key. Every phase is
//! deterministic given the RNG drawn at its start.

use super::keys::{DirectionKey, Shared, Transcript};
use super::{
    Hello, INITIATOR_PREFIX, InitiatorAuth, MAGIC, PeerError, PeerErrorCode, PeerMessage,
    RESPONDER_IDENTITY_PREFIX, RESPONDER_ONION_PREFIX, ResponderAuth, SUPPORTED_VERSIONS, Welcome,
};
use crate::crypto::{PublicKey, SigningKey, X25519Public, X25519Secret, context, verify_single};
use crate::identity::{Identity, OnionAddress, onion_address};
use crate::relay_proto::frame;

/// Whom the initiator dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTarget {
    /// The onion address dialed: the responder must prove the key behind it.
    pub onion: OnionAddress,
    /// The identity expected behind the address, when the caller knows it
    /// (a member's key); `None` accepts whichever identity the onion key
    /// vouches for.
    pub identity: Option<PublicKey>,
}

/// The x25519 key of a share, which must be exactly 32 bytes.
fn share_key(share: &[u8]) -> Result<X25519Public, PeerError> {
    let bytes: [u8; 32] = share.try_into().map_err(|_| PeerError::BadShare)?;
    Ok(X25519Public(bytes))
}

/// `ours` with `theirs`, refusing a low-order share.
fn exchange(ours: &X25519Secret, share: &[u8]) -> Result<Shared, PeerError> {
    let shared = ours.diffie_hellman(&share_key(share)?).map_err(|_| PeerError::BadShare)?;
    Ok(Shared::new(shared))
}

/// What both responder keys sign: `th1 ‖ identity ‖ onion` (96 bytes).
fn responder_statement(th1: &[u8; 32], identity: &PublicKey, onion: &PublicKey) -> Vec<u8> {
    [&th1[..], &identity.0, &onion.0].concat()
}

/// What the initiator signs: `th2 ‖ identity` (64 bytes).
fn initiator_statement(th2: &[u8; 32], identity: &PublicKey) -> Vec<u8> {
    [&th2[..], &identity.0].concat()
}

/// The initiator after sending its hello.
#[derive(Debug)]
pub struct InitiatorAwaitWelcome {
    signing: SigningKey,
    ephemeral: X25519Secret,
    target: PeerTarget,
    transcript: Transcript,
}

impl InitiatorAwaitWelcome {
    /// Starts a handshake with `target`: returns the phase and the hello
    /// frame to write. Draws the ephemeral x25519 secret (32 bytes) from `rng`.
    pub fn start(
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
        identity: &Identity,
        target: PeerTarget,
    ) -> (Self, Vec<u8>) {
        let ephemeral = X25519Secret::random(rng);
        let share = ephemeral.public().0.to_vec();
        let hello = Hello { magic: MAGIC, versions: SUPPORTED_VERSIONS.to_vec(), share };
        let payload = hello.encode();
        let mut transcript = Transcript::new();
        transcript.add_frame(&payload);
        let signing = identity.signing_key().clone();
        (Self { signing, ephemeral, target, transcript }, frame::encode(&payload))
    }

    /// Handles the welcome's payload.
    pub fn handle(mut self, payload: &[u8]) -> Result<InitiatorAwaitAuth, PeerError> {
        let (version, share) = match Welcome::decode(payload)? {
            Welcome::Accepted { version, share } => (version, share),
            Welcome::Refused { code, supported }
                if code == PeerErrorCode::UnsupportedVersion.number() =>
            {
                return Err(PeerError::UnsupportedVersion { theirs: supported });
            }
            Welcome::Refused { code, .. } => return Err(PeerError::Refused(code)),
        };
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(PeerError::VersionNotOffered(version));
        }
        let shared = exchange(&self.ephemeral, &share)?;
        self.transcript.add_frame(payload);
        let th1 = self.transcript.hash();
        Ok(InitiatorAwaitAuth {
            signing: self.signing,
            target: self.target,
            send: DirectionKey::derive(context::PEER_HANDSHAKE_I2R, &shared, &th1),
            recv: DirectionKey::derive(context::PEER_HANDSHAKE_R2I, &shared, &th1),
            transcript: self.transcript,
            shared,
            th1,
            version,
        })
    }
}

/// The initiator after the welcome, waiting for the responder's proof.
#[derive(Debug)]
pub struct InitiatorAwaitAuth {
    signing: SigningKey,
    target: PeerTarget,
    transcript: Transcript,
    shared: Shared,
    th1: [u8; 32],
    send: DirectionKey,
    recv: DirectionKey,
    version: u16,
}

impl InitiatorAwaitAuth {
    /// Handles the responder's auth frame payload; on success returns the
    /// open session and the initiator's auth frame to write.
    pub fn handle(mut self, payload: &[u8]) -> Result<(Established, Vec<u8>), PeerError> {
        let auth = ResponderAuth::decode(&self.recv.open(payload)?)?;
        check_responder(&auth, &self.target, &self.th1)?;
        self.transcript.add_frame(payload);
        let th2 = self.transcript.hash();
        let identity = self.signing.public();
        let sig = self.signing.sign(INITIATOR_PREFIX, &initiator_statement(&th2, &identity));
        let frame = self.send.seal(&InitiatorAuth { identity, sig }.encode())?;
        self.transcript.add_frame(frame.get(frame::HEADER_LEN..).unwrap_or_default());
        let th3 = self.transcript.hash();
        let keys = (context::PEER_SESSION_I2R, context::PEER_SESSION_R2I);
        let est = Established::new(keys, &self.shared, &th3, auth.identity, Some(auth.onion));
        Ok((Established { version: self.version, ..est }, frame))
    }
}

/// The responder's proof, checked in this order: strong keys, the onion
/// key is the dialed address's, the identity is the expected one, both
/// signatures over `th1 ‖ identity ‖ onion`.
fn check_responder(
    auth: &ResponderAuth,
    target: &PeerTarget,
    th1: &[u8; 32],
) -> Result<(), PeerError> {
    auth.identity.check_strong().map_err(|_| PeerError::WeakKey)?;
    auth.onion.check_strong().map_err(|_| PeerError::WeakKey)?;
    if onion_address(&auth.onion) != target.onion {
        return Err(PeerError::WrongPeer);
    }
    if target.identity.is_some_and(|want| want != auth.identity) {
        return Err(PeerError::WrongPeer);
    }
    let statement = responder_statement(th1, &auth.identity, &auth.onion);
    verify_single(&auth.identity, RESPONDER_IDENTITY_PREFIX, &statement, &auth.identity_sig)
        .map_err(|_| PeerError::BadSignature)?;
    verify_single(&auth.onion, RESPONDER_ONION_PREFIX, &statement, &auth.onion_sig)
        .map_err(|_| PeerError::BadSignature)
}

/// What the responder does with a hello.
#[derive(Debug)]
pub enum ResponderOutcome {
    /// Write `frames` (the welcome and the responder's auth), then wait for
    /// the initiator's auth in `next`.
    Continue {
        /// The next phase (boxed: it holds the transcript hasher).
        next: Box<ResponderAwaitAuth>,
        /// The frames to write, in order.
        frames: Vec<Vec<u8>>,
    },
    /// Write `frame` (a refused welcome), then close the stream.
    Refuse {
        /// The refusal frame.
        frame: Vec<u8>,
        /// Why.
        error: PeerError,
    },
}

/// The responder (the onion service) before the hello.
#[derive(Debug)]
pub struct ResponderStart {
    signing: SigningKey,
    onion: SigningKey,
    ephemeral: X25519Secret,
}

impl ResponderStart {
    /// A responder for `identity`. Draws its ephemeral x25519 secret (32
    /// bytes) from `rng` now, so that handling the hello needs no RNG.
    pub fn new(rng: &mut (impl rand_core::CryptoRng + ?Sized), identity: &Identity) -> Self {
        Self::with_onion(rng, identity, identity.onion_key())
    }

    /// A responder for `identity` behind another onion service than its
    /// own: `onion` is that service's key (an invitation's short-lived
    /// service).
    pub fn with_onion(
        rng: &mut (impl rand_core::CryptoRng + ?Sized),
        identity: &Identity,
        onion: &SigningKey,
    ) -> Self {
        Self {
            signing: identity.signing_key().clone(),
            onion: onion.clone(),
            ephemeral: X25519Secret::random(rng),
        }
    }

    fn refuse(error: PeerError, code: PeerErrorCode) -> ResponderOutcome {
        let refused =
            Welcome::Refused { code: code.number(), supported: SUPPORTED_VERSIONS.to_vec() };
        ResponderOutcome::Refuse { frame: frame::encode(&refused.encode()), error }
    }

    /// Handles the hello's payload.
    pub fn handle(self, payload: &[u8]) -> ResponderOutcome {
        let hello = match Hello::decode(payload) {
            Ok(h) => h,
            Err(e) => return Self::refuse(e, PeerErrorCode::Malformed),
        };
        let common = hello.versions.iter().filter(|v| SUPPORTED_VERSIONS.contains(v)).max();
        let Some(&version) = common else {
            let error = PeerError::UnsupportedVersion { theirs: hello.versions };
            return Self::refuse(error, PeerErrorCode::UnsupportedVersion);
        };
        let shared = match exchange(&self.ephemeral, &hello.share) {
            Ok(s) => s,
            Err(e) => return Self::refuse(e, PeerErrorCode::Malformed),
        };
        let mut transcript = Transcript::new();
        transcript.add_frame(payload);
        let welcome = Welcome::Accepted { version, share: self.ephemeral.public().0.to_vec() };
        let welcome = welcome.encode();
        transcript.add_frame(&welcome);
        let th1 = transcript.hash();
        let mut send = DirectionKey::derive(context::PEER_HANDSHAKE_R2I, &shared, &th1);
        let auth_frame = match send.seal(&self.auth(&th1).encode()) {
            Ok(f) => f,
            Err(e) => return Self::refuse(e, PeerErrorCode::Internal),
        };
        transcript.add_frame(auth_frame.get(frame::HEADER_LEN..).unwrap_or_default());
        let next = Box::new(ResponderAwaitAuth {
            recv: DirectionKey::derive(context::PEER_HANDSHAKE_I2R, &shared, &th1),
            th2: transcript.hash(),
            transcript,
            shared,
            version,
        });
        ResponderOutcome::Continue { next, frames: vec![frame::encode(&welcome), auth_frame] }
    }

    fn auth(&self, th1: &[u8; 32]) -> ResponderAuth {
        let (identity, onion) = (self.signing.public(), self.onion.public());
        let statement = responder_statement(th1, &identity, &onion);
        ResponderAuth {
            identity,
            onion,
            identity_sig: self.signing.sign(RESPONDER_IDENTITY_PREFIX, &statement),
            onion_sig: self.onion.sign(RESPONDER_ONION_PREFIX, &statement),
        }
    }
}

/// The responder after its proof, waiting for the initiator's.
#[derive(Debug)]
pub struct ResponderAwaitAuth {
    transcript: Transcript,
    shared: Shared,
    th2: [u8; 32],
    recv: DirectionKey,
    version: u16,
}

impl ResponderAwaitAuth {
    /// Handles the initiator's auth frame payload: strong key, then the
    /// signature over `th2 ‖ identity`.
    pub fn handle(mut self, payload: &[u8]) -> Result<Established, PeerError> {
        let auth = InitiatorAuth::decode(&self.recv.open(payload)?)?;
        auth.identity.check_strong().map_err(|_| PeerError::WeakKey)?;
        let statement = initiator_statement(&self.th2, &auth.identity);
        verify_single(&auth.identity, INITIATOR_PREFIX, &statement, &auth.sig)
            .map_err(|_| PeerError::BadSignature)?;
        self.transcript.add_frame(payload);
        let th3 = self.transcript.hash();
        let keys = (context::PEER_SESSION_R2I, context::PEER_SESSION_I2R);
        let est = Established::new(keys, &self.shared, &th3, auth.identity, None);
        Ok(Established { version: self.version, ..est })
    }
}

/// An authenticated session: the peer's identity and the session keys.
#[derive(Debug)]
pub struct Established {
    version: u16,
    peer: PublicKey,
    peer_onion: Option<PublicKey>,
    binding: [u8; 32],
    pub(super) send: DirectionKey,
    pub(super) recv: DirectionKey,
}

impl Established {
    /// Session keys for (send, receive) contexts `keys`; the caller sets
    /// the version.
    fn new(
        keys: (&str, &str),
        shared: &Shared,
        th3: &[u8; 32],
        peer: PublicKey,
        peer_onion: Option<PublicKey>,
    ) -> Self {
        Self {
            version: 0,
            peer,
            peer_onion,
            binding: *crate::crypto::derive_key(crate::crypto::context::PEER_CHANNEL_BINDING, th3),
            send: DirectionKey::derive(keys.0, shared, th3),
            recv: DirectionKey::derive(keys.1, shared, th3),
        }
    }

    /// The agreed protocol version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The peer's identity key, proven in the handshake.
    pub fn peer(&self) -> PublicKey {
        self.peer
    }

    /// The channel binding: equal on both ends of this session and
    /// different in every other (derived from the final transcript hash).
    pub fn binding(&self) -> [u8; 32] {
        self.binding
    }

    /// The responder's onion-service key (known to the initiator only).
    pub fn peer_onion(&self) -> Option<PublicKey> {
        self.peer_onion
    }

    /// Checks `message` and seals it as the next frame.
    pub fn seal(&mut self, message: &PeerMessage) -> Result<Vec<u8>, PeerError> {
        message.check()?;
        self.send.seal(&message.encode())
    }

    /// Opens and decodes the next frame's payload.
    pub fn open(&mut self, payload: &[u8]) -> Result<PeerMessage, PeerError> {
        PeerMessage::decode(&self.recv.open(payload)?)
    }
}
