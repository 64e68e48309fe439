//! Identity: one 32-byte master seed and everything derived from it.
//!
//! The seed derives (BLAKE3 `derive_key`, contexts in
//! [`crate::crypto::context`]) the ed25519 signing key, the onion-service
//! ed25519 key and a long-term x25519 key for peer-channel handshakes. Group
//! keys are never derived from the seed: they are wrapped to short-lived key
//! packages. See `protocol-spec/identity.md`.

mod keyfile;
mod onion;
mod recovery;
mod seed;

pub use keyfile::{KdfParams, KeyFile, KeyFileError, ProfileSecrets, passphrase_bytes};
pub use onion::{BadOnionAddress, OnionAddress, onion_address};
pub(crate) use recovery::encoding as recovery_encoding;
pub use recovery::{RecoveryError, parse_recovery, recovery_string};
pub use seed::{Identity, MasterSeed};
