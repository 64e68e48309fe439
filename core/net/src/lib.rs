//! `cairn-net`: the async shell around `cairn-proto`.
//!
//! It holds the transports and the [`node`]: one member's profile, its
//! groups, relay clients, onion listener, peers, invitations, outbox and the
//! event stream the client reads.
//!
//! * [`Transport`] (`connect`) and [`Listener`] (`accept`): the small
//!   interface the rest of the shell talks to. Streams are tokio
//!   [`AsyncRead`](tokio::io::AsyncRead) + [`AsyncWrite`](tokio::io::AsyncWrite).
//! * [`ArtiTransport`]: Tor through arti. Connects only to `.onion`
//!   addresses (anything else is refused: fail closed), isolates circuits
//!   per [`IsolationKey`], and hosts the identity's onion service with a key
//!   that is never written to disk.
//! * [`TcpLoopbackTransport`]: plain TCP on 127.0.0.0/8, for tests and
//!   local demos only, and loud about it.
//!
//! **Tor streams have no half-close**: shutting down the write half sends
//! nothing the peer can see. Every protocol on these streams frames its
//! messages and ends by closing (dropping) the whole stream; no protocol may
//! use end-of-stream as a message delimiter. `protocol-spec/transport.md`
//! has the rules.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod addr;
pub mod arti;
mod err;
pub mod frames;
pub mod node;
mod tcp;
mod transport;

pub use addr::PeerAddr;
pub use arti::{
    ArtiConfig, ArtiTransport, BootstrapProgress, DEFAULT_CONNECT_TIMEOUT, LAUNCH_RETRY,
    OnionListener, TorNetwork,
};
pub use cairn_proto as proto;
pub use err::{Error, ErrorKind, Refusal};
/// What [`Transport::connect`] and [`Listener::accept`] return; re-exported
/// so that a transport or listener outside this crate (the relay's onion
/// listener) implements the traits without naming `futures`.
pub use futures::future::BoxFuture;
pub use tcp::{TcpLoopbackListener, TcpLoopbackTransport};
pub use transport::{BoxStream, ByteStream, IsolationKey, Listener, Transport};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
