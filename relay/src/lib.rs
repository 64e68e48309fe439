//! `cairn-relay`: the untrusted store-and-forward relay.
//!
//! Not built yet: it arrives with "The relay" issue. The crate exists so the
//! workspace layout is final from the start.

pub use cairn_net as net;
