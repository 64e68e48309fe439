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
//! | [`hex`] | lowercase hex for public values (ids, keys, fingerprints), full and short forms |
//! | [`wire`] | the outer envelope, the inner signed message, fragmentation, canonical decoding |
//! | [`invite`] | invitations: the invite string, the redeemer's proof, the short code, the inviter's one-time host |
//! | [`epoch`] | epoch secrets, role keys and their ratchet, key packages, rekeys, role-key grants, role-sealed content, the key ring |
//! | [`chain`] | per-author hash chains, validation rules, gaps, equivocation proofs, version vectors |
//! | [`group`] | rules, roles, membership, tasks, chat; the deterministic fold with authorization and cut-offs |
//! | [`relay_proto`] | the relay protocol: frames, messages, client and server sessions |
//! | [`peer_proto`] | the peer channel: authenticated handshake, encrypted frames, peer messages |
//! | [`replica`] | one member's replica of one group: envelopes in, messages out, persistence, resync entitlement |
//! | [`store`] | the storage trait, its in-memory and redb implementations, the secrets file |

pub mod chain;
pub mod crypto;
pub mod epoch;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod group;
pub mod hex;
pub mod identity;
pub mod invite;
pub mod peer_proto;
pub mod relay_proto;
pub mod replica;
pub mod store;
pub mod wire;
