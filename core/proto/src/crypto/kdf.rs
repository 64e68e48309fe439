//! Key derivation and keyed hashing with BLAKE3.
//!
//! Every derived key names its purpose in a context string listed in
//! [`context`]; the spec (`protocol-spec/identity.md`) lists the same strings.

use zeroize::Zeroizing;

/// The BLAKE3 `derive_key` context strings used by cairn. One per key role;
/// never reuse one for a second purpose.
pub mod context {
    /// Ed25519 signing key from the identity master seed.
    pub const IDENTITY_SIGNING: &str = "cairn 2026 identity v1 ed25519 signing key";
    /// Ed25519 onion-service identity key from the identity master seed.
    pub const IDENTITY_ONION: &str = "cairn 2026 identity v1 onion service ed25519 key";
    /// Long-term x25519 key for peer-channel handshakes, from the master seed.
    pub const IDENTITY_X25519: &str = "cairn 2026 identity v1 x25519 peer channel key";
    /// Checksum of a recovery string.
    pub const RECOVERY_CHECKSUM: &str = "cairn 2026 recovery string v1 checksum";
    /// AEAD key for sealing to an x25519 public key, from the shared secret.
    pub const SEAL_TO_PUBLIC: &str = "cairn 2026 seal to x25519 public key v1";
    /// Message id: hash of the unsigned message encoding.
    pub const MESSAGE_ID: &str = "cairn 2026 message id v1";
    /// Mailbox id: hash of the mailbox write public key.
    pub const MAILBOX_ID: &str = "cairn 2026 mailbox id v1";
    /// Group key (encrypts envelopes) from an epoch secret.
    pub const EPOCH_GROUP_KEY: &str = "cairn 2026 epoch v1 group key";
    /// Mailbox write signing key from an epoch secret.
    pub const EPOCH_MAILBOX_WRITE: &str = "cairn 2026 epoch v1 mailbox write key";
    /// Storage: keyed hash that turns identifiers into opaque table keys.
    pub const STORAGE_INDEX: &str = "cairn 2026 storage v1 index key";
    /// Storage: AEAD key for values in the store.
    pub const STORAGE_VALUE: &str = "cairn 2026 storage v1 value key";
    /// The deterministic test RNG ([`crate::crypto::XofRng`]); tests only.
    pub const TEST_RNG: &str = "cairn 2026 deterministic test rng v1";
    /// Storage: AEAD key for the short-lived secrets file.
    pub const STORAGE_SECRETS: &str = "cairn 2026 storage v1 secrets file key";
    /// Peer channel: the transcript hash over every handshake byte.
    pub const PEER_TRANSCRIPT: &str = "cairn 2026 peer v1 transcript";
    /// Peer channel: handshake key, initiator to responder.
    pub const PEER_HANDSHAKE_I2R: &str = "cairn 2026 peer v1 handshake key initiator to responder";
    /// Peer channel: handshake key, responder to initiator.
    pub const PEER_HANDSHAKE_R2I: &str = "cairn 2026 peer v1 handshake key responder to initiator";
    /// Peer channel: session key, initiator to responder.
    pub const PEER_SESSION_I2R: &str = "cairn 2026 peer v1 session key initiator to responder";
    /// Peer channel: session key, responder to initiator.
    pub const PEER_SESSION_R2I: &str = "cairn 2026 peer v1 session key responder to initiator";
    /// Role key of the next epoch from the previous role key, the next epoch
    /// secret and the role name (`protocol-spec/keys.md`).
    pub const ROLE_KEY_RATCHET: &str = "cairn 2026 keys v1 role key ratchet";
    /// Key package id from the carrying message id and the key package.
    pub const KEY_PACKAGE_ID: &str = "cairn 2026 keys v1 key package id";
    /// Rekey confirmation hash of a new epoch secret.
    pub const REKEY_CONFIRMATION: &str = "cairn 2026 keys v1 rekey confirmation";
    /// Role-key grant confirmation hash of a role key.
    pub const ROLE_GRANT_CONFIRMATION: &str = "cairn 2026 keys v1 role key grant confirmation";
    /// AEAD key that wraps content keys, from a role key.
    pub const ROLE_WRAP_KEY: &str = "cairn 2026 keys v1 role wrapping key";
    /// Binding of a sealed content layer to the message that carries it
    /// (group, author, seq; `protocol-spec/keys.md`, "Member side").
    pub const CONTENT_BINDING: &str = "cairn 2026 keys v1 content binding";
    /// Label of a key-ring secret in the secrets file
    /// (`protocol-spec/store.md`, "Key-ring secrets").
    pub const KEY_SECRET_LABEL: &str = "cairn 2026 keys v1 secrets file label";
    /// Peer channel: the channel binding an application may sign or MAC
    /// (from the final transcript hash).
    pub const PEER_CHANNEL_BINDING: &str = "cairn 2026 peer v1 channel binding";
    /// Invitations: the invite string's checksum.
    pub const INVITE_CHECKSUM: &str = "cairn 2026 invite v1 string checksum";
    /// Invitations: the redeemer's proof of the invite secret, bound to
    /// the channel.
    pub const INVITE_PROOF: &str = "cairn 2026 invite v1 secret proof";
    /// Invitations: the short code both people compare.
    pub const INVITE_SHORT_CODE: &str = "cairn 2026 invite v1 short code";
    /// Invitations: the public id of an invitation, from its secret.
    pub const INVITE_ID: &str = "cairn 2026 invite v1 id";
}

/// BLAKE3 `derive_key(context, material)`, 32 bytes, zeroized on drop.
pub fn derive_key(context: &str, material: &[u8]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(context, material))
}

/// BLAKE3 keyed hash of `data` under `key` (a 32-byte MAC/PRF).
pub fn keyed_hash(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(key, data).as_bytes()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn contexts_are_distinct() {
        let all = [
            context::IDENTITY_SIGNING,
            context::IDENTITY_ONION,
            context::IDENTITY_X25519,
            context::RECOVERY_CHECKSUM,
            context::SEAL_TO_PUBLIC,
            context::MESSAGE_ID,
            context::MAILBOX_ID,
            context::EPOCH_GROUP_KEY,
            context::EPOCH_MAILBOX_WRITE,
            context::STORAGE_INDEX,
            context::STORAGE_VALUE,
            context::STORAGE_SECRETS,
            context::TEST_RNG,
            context::PEER_TRANSCRIPT,
            context::PEER_HANDSHAKE_I2R,
            context::PEER_HANDSHAKE_R2I,
            context::PEER_SESSION_I2R,
            context::PEER_SESSION_R2I,
            context::ROLE_KEY_RATCHET,
            context::KEY_PACKAGE_ID,
            context::REKEY_CONFIRMATION,
            context::ROLE_GRANT_CONFIRMATION,
            context::ROLE_WRAP_KEY,
            context::CONTENT_BINDING,
            context::KEY_SECRET_LABEL,
            context::PEER_CHANNEL_BINDING,
            context::INVITE_CHECKSUM,
            context::INVITE_PROOF,
            context::INVITE_SHORT_CODE,
            context::INVITE_ID,
        ];
        let set: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(set.len(), all.len());
        let derived: std::collections::BTreeSet<_> =
            all.iter().map(|c| *derive_key(c, &[7; 32])).collect();
        assert_eq!(derived.len(), all.len());
    }
}
