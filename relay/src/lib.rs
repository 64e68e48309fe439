//! `cairn-relay`: the untrusted store-and-forward relay.
//!
//! Not built yet: it arrives with "The relay" issue. The crate exists so the
//! workspace layout is final from the start.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub use cairn_net as net;
