//! `cairn-proto`: the cairn protocol without I/O.
//!
//! Identity, cryptography, wire formats, the signed hash chain and its
//! validation, and the store. No tokio, no sockets, no clocks: time and
//! randomness are parameters. The normative description of every byte is in
//! `protocol-spec/`.
//!
//! | module | owns |
//! |---|---|
//! | [`crypto`] | AEAD, KDF contexts, sealing to x25519 keys, ed25519 with one validity rule |
//! | [`identity`] | master seed, derived keys, recovery string, onion address, key file |
//! | [`wire`] | the outer envelope, the inner signed message, fragmentation, canonical decoding |
//! | [`chain`] | per-author hash chains, validation rules, gaps, equivocation proofs, version vectors |
//! | [`relay_proto`] | the relay protocol: frames, messages, client and server sessions |
//! | [`peer_proto`] | the peer channel: authenticated handshake, encrypted frames, peer messages |
//! | [`store`] | the storage trait, its in-memory and redb implementations, the secrets file |

pub mod chain;
pub mod crypto;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod identity;
pub mod peer_proto;
pub mod relay_proto;
pub mod store;
pub mod wire;
