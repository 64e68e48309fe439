//! `cairn-net`: the async shell around `cairn-proto`.
//!
//! Not built yet: transports (arti onion services, loopback TCP), the peer
//! node and the relay client arrive with the "Peers on onion services" issue.
//! The crate exists so the workspace layout is final from the start.

pub use cairn_proto as proto;
