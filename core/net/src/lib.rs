//! `cairn-net`: the async shell around `cairn-proto`.
//!
//! Not built yet: transports (arti onion services, loopback TCP), the peer
//! node and the relay client arrive with the "Peers on onion services" issue.
//! The crate exists so the workspace layout is final from the start.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub use cairn_proto as proto;
