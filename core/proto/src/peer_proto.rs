//! The peer channel without I/O: an authenticated, encrypted, framed
//! session between two identities over one stream (a Tor onion-service
//! stream in deployment).
//!
//! The **initiator** dials an onion address; the **responder** is the onion
//! service and does not know who dialed. The handshake (SIGMA-style, three
//! flights):
//!
//! 1. initiator → [`Hello`] (frozen: magic, versions, an x25519 share);
//! 2. responder → [`Welcome`] (frozen: version, its share), then its
//!    [`ResponderAuth`] encrypted under the handshake key: identity key,
//!    onion-service key, and a signature by each over the transcript;
//! 3. initiator checks that the onion key is the one of the address it
//!    dialed and both signatures, then sends its [`InitiatorAuth`]
//!    (identity key, signature over the transcript).
//!
//! Then both sides hold directional session keys that depend on the whole
//! transcript, and exchange [`PeerMessage`]s, each one frame encrypted with
//! XChaCha20-Poly1305 under a per-direction counter nonce: a replayed,
//! reordered, dropped or altered frame does not open.
//!
//! Two layers of API:
//! * the phases, one struct each, consumed by `handle(self, ..)` (rustls
//!   style): [`InitiatorAwaitWelcome`] →
//!   [`InitiatorAwaitAuth`] → [`Established`]; [`ResponderStart`] →
//!   [`ResponderAwaitAuth`] → [`Established`];
//! * [`PeerSession`], which wraps them for a shell: bytes in
//!   ([`PeerSession::handle_bytes`]), frames out
//!   ([`PeerSession::poll_output`]) and events ([`PeerSession::poll_event`]).
//!
//! Normative description: `protocol-spec/peer.md`.

mod error;
mod flow;
mod handshake;
mod hello;
mod keys;
mod message;
mod reader;
mod session;

pub use error::{PeerError, PeerErrorCode};
pub use handshake::{
    Established, InitiatorAwaitAuth, InitiatorAwaitWelcome, PeerTarget, ResponderAwaitAuth,
    ResponderOutcome, ResponderStart,
};
pub use hello::{Hello, MAGIC, Welcome};
pub use keys::{
    DirectionKey, INITIATOR_PREFIX, RESPONDER_IDENTITY_PREFIX, RESPONDER_ONION_PREFIX, nonce,
};
pub use message::{Head, InitiatorAuth, MAX_GROUPS, MAX_JOIN_NAME, PeerMessage, ResponderAuth};
pub use reader::FrameReader;
pub use session::{PeerEvent, PeerSession};

/// The peer protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The versions this build accepts, oldest first.
pub const SUPPORTED_VERSIONS: &[u16] = &[PROTOCOL_VERSION];
/// Most versions a hello may list.
pub const MAX_VERSIONS: usize = 8;
/// Most bytes of a key share in a hello or welcome (version 1 uses 32).
pub const MAX_SHARE_LEN: usize = 64;
/// Largest payload of the hello and welcome frames.
pub const MAX_HELLO_FRAME: usize = 256;
/// Largest plaintext of a [`PeerMessage`]: a signed message of the largest
/// size and its envelope of fields fit.
pub const MAX_PLAINTEXT: usize = crate::wire::MAX_MESSAGE_LEN + 256;
/// Largest payload of any frame after the hellos (plaintext and tag).
pub const MAX_FRAME: usize = MAX_PLAINTEXT + crate::crypto::TAG_LEN;
/// Most authors in the version vector of a [`PeerMessage::ResyncRequest`].
pub const MAX_HAVE: usize = 1024;
/// Most heads in a [`PeerMessage::Heads`].
pub const MAX_HEADS: usize = 1024;
/// Bytes buffered by a session's reader at most: one frame.
pub const MAX_BUFFERED: usize = crate::relay_proto::frame::HEADER_LEN + MAX_FRAME;

#[cfg(test)]
mod test;
