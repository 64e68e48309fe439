//! Invitations (`protocol-spec/peer.md`, "Invitations"): a one-time,
//! short-lived invite string redeemed at a short-lived onion service made
//! for it.
//!
//! The string names the service (its onion key), a 32-byte secret and an
//! expiry. The redeemer dials the service; the handshake proves the
//! service's key and the inviter's identity; the redeemer proves the secret
//! bound to the channel (a recorded request cannot be replayed into another
//! session). Both people see a short code derived from the channel and
//! compare it: the invite string may have leaked, and the code shows that
//! the person the inviter talks to is the one they gave it to. The inviter
//! approves; its node posts the admission (with its rekey) and only then
//! sends the welcome.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{PublicKey, context, derive_key};
use crate::identity::OnionAddress;
use crate::peer_proto::PeerErrorCode;
use crate::wire::{decode_canonical, encode};

/// The prefix of every invite string.
pub const PREFIX: &str = "cairn-invite1-";
/// The invite format version (2: the members who may answer it).
pub const VERSION: u8 = 2;
/// At most this many members named in an invite as able to answer it.
pub const MAX_ANSWERERS: usize = 8;
/// The longest group-name hint, in bytes.
pub const MAX_HINT: usize = 64;
/// How long an invite lives by default, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 24 * 60 * 60;

/// Why an invite string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// Not a cairn invite (wrong prefix).
    #[error("not a cairn invite (it should start with {PREFIX})")]
    NotAnInvite,
    /// Damaged: a typo, or cut short.
    #[error("the invite is damaged (a typo, or cut short): check it")]
    Damaged,
    /// A newer invite format.
    #[error("invite version {0} is not supported by this cairn")]
    UnknownVersion(u8),
    /// Past its expiry.
    #[error("the invite expired; ask for a new one")]
    Expired,
}

/// A parsed invitation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The group (not secret: it names the group, nothing more).
    pub group: crate::wire::GroupId,
    /// Its genesis message.
    pub genesis: crate::wire::MessageId,
    /// The short-lived service's onion key.
    pub service: PublicKey,
    /// The one-time secret.
    pub secret: [u8; 32],
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    /// The group's name, as a hint for the redeemer (not authenticated
    /// until the welcome).
    pub hint: String,
    /// Loopback port of the service: tests and local demos only.
    pub loopback_port: Option<u16>,
    /// The onion keys of members who may answer the invite on their own
    /// services when the inviter's is gone (at most [`MAX_ANSWERERS`]).
    pub answerers: Vec<PublicKey>,
}

/// What an [`crate::wire::Invitation`] seals for the members who may answer
/// it: enough to check a redeemer's proof and admit it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationContent {
    /// The invite's secret.
    pub secret: [u8; 32],
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
    /// The roles it gives.
    pub roles: Vec<String>,
    /// Whether a person approves each join (the short code is compared).
    pub manual: bool,
}

impl core::fmt::Debug for InvitationContent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InvitationContent")
            .field("expires_at", &self.expires_at)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Drop for InvitationContent {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl InvitationContent {
    /// The public id of the invitation ([`invite_id`]).
    pub fn id(&self) -> crate::wire::InviteId {
        invite_id(&self.secret)
    }

    /// The canonical encoding, in a zeroizing buffer.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(encode(self))
    }

    /// Decodes a sealed invitation's content (at most 4 KiB, canonical).
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::wire::DecodeError> {
        decode_canonical(bytes, 4096)
    }
}

/// What a [`crate::wire::JoinPending`] seals for the members who may answer
/// it: who asks, the code to compare with them, and what an admission
/// needs (their key package), until the answering member gives up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingJoinContent {
    /// The redeemer's identity (proven in its session with the author).
    pub identity: PublicKey,
    /// The name it gave.
    pub name: String,
    /// The code both people compare (from the session's binding).
    pub short_code: String,
    /// Its key package, for the admission's rekey.
    pub key_package: crate::epoch::KeyPackage,
    /// Unix seconds after which the author no longer holds the session.
    pub until: u64,
}

impl PendingJoinContent {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a sealed pending join (at most 4 KiB, canonical).
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::wire::DecodeError> {
        decode_canonical(bytes, 4096)
    }

    /// The redeemer's fingerprint, to show.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.identity)
    }
}

/// The public id of an invite with this secret:
/// `BLAKE3-derive_key("cairn 2026 invite v1 id", secret)`.
pub fn invite_id(secret: &[u8; 32]) -> crate::wire::InviteId {
    *derive_key(context::INVITE_ID, secret)
}

impl core::fmt::Debug for Invite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Invite").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

impl Drop for Invite {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

fn checksum(bytes: &[u8]) -> [u8; 4] {
    let d = derive_key(context::INVITE_CHECKSUM, bytes);
    [d[0], d[1], d[2], d[3]]
}

impl Invite {
    /// The service's onion address.
    pub fn address(&self) -> OnionAddress {
        crate::identity::onion_address(&self.service)
    }

    /// The invite string: prefix, then base32 of version ‖ body ‖ checksum.
    pub fn to_text(&self) -> Zeroizing<String> {
        let body = Zeroizing::new(encode(self));
        let mut bytes = Zeroizing::new(vec![VERSION]);
        bytes.extend_from_slice(&body);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        Zeroizing::new(format!("{PREFIX}{}", crate::identity::recovery_encoding().encode(&bytes)))
    }

    /// Parses an invite string and checks its expiry against `now`.
    pub fn parse(text: &str, now: u64) -> Result<Self, InviteError> {
        let rest = text.trim().strip_prefix(PREFIX).ok_or(InviteError::NotAnInvite)?;
        let bytes = Zeroizing::new(
            crate::identity::recovery_encoding()
                .decode(rest.as_bytes())
                .map_err(|_| InviteError::Damaged)?,
        );
        if bytes.len() < 5 {
            return Err(InviteError::Damaged);
        }
        let (data, sum) = bytes.split_at(bytes.len() - 4);
        if checksum(data) != sum {
            return Err(InviteError::Damaged);
        }
        if data[0] != VERSION {
            return Err(InviteError::UnknownVersion(data[0]));
        }
        let invite: Invite =
            decode_canonical(&data[1..], 1024).map_err(|_| InviteError::Damaged)?;
        if invite.hint.len() > MAX_HINT || invite.answerers.len() > MAX_ANSWERERS {
            return Err(InviteError::Damaged);
        }
        if now > invite.expires_at {
            return Err(InviteError::Expired);
        }
        Ok(invite)
    }

    /// The invite's public id ([`invite_id`]).
    pub fn id(&self) -> crate::wire::InviteId {
        invite_id(&self.secret)
    }

    /// The redeemer's proof of the secret for the channel `binding`.
    pub fn proof(&self, binding: &[u8; 32]) -> [u8; 32] {
        proof(&self.secret, binding)
    }
}

/// The proof of an invite's `secret` for the channel `binding`:
/// `BLAKE3-derive_key("cairn 2026 invite v1 secret proof", secret ‖ binding)`.
pub fn proof(secret: &[u8; 32], binding: &[u8; 32]) -> [u8; 32] {
    let material = Zeroizing::new([&secret[..], binding].concat());
    *derive_key(context::INVITE_PROOF, &material)
}

/// The short code both people compare: six digits from the channel.
pub fn short_code(binding: &[u8; 32]) -> String {
    let d = derive_key(context::INVITE_SHORT_CODE, binding);
    let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{:03}-{:03}", n / 1000, n % 1000)
}

/// A readable fingerprint of an identity key: its first 16 bytes in hex,
/// in groups of four.
pub fn fingerprint(key: &PublicKey) -> String {
    key.0[..16].chunks(2).map(crate::hex::encode).collect::<Vec<_>>().join(" ")
}

/// The inviter's side of one invite: one use, until expiry.
#[derive(Debug)]
pub struct InviteHost {
    invite: Invite,
    used: bool,
}

/// A join request that passed the checks, waiting for approval.
#[derive(Debug, Clone)]
pub struct PendingJoin {
    /// The redeemer's identity (proven in the handshake).
    pub identity: PublicKey,
    /// Its fingerprint, to show.
    pub fingerprint: String,
    /// The code to compare.
    pub short_code: String,
    /// The name it gave.
    pub name: String,
    /// Its key package.
    pub key_package: crate::epoch::KeyPackage,
}

impl InviteHost {
    /// Hosts `invite`.
    pub fn new(invite: Invite) -> Self {
        Self { invite, used: false }
    }

    /// The invite.
    pub fn invite(&self) -> &Invite {
        &self.invite
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: u64) -> bool {
        now > self.invite.expires_at
    }

    /// Whether it was used.
    pub fn used(&self) -> bool {
        self.used
    }

    /// Checks a join request (peer proven by the handshake, `binding` of its
    /// channel). A good one uses the invite up, approved or not: it is one
    /// try.
    pub fn handle_join(
        &mut self,
        now: u64,
        peer: PublicKey,
        binding: &[u8; 32],
        proof: &[u8; 32],
        key_package: crate::epoch::KeyPackage,
        name: String,
    ) -> Result<PendingJoin, PeerErrorCode> {
        if self.used {
            return Err(PeerErrorCode::InviteUsed);
        }
        if self.expired(now) {
            return Err(PeerErrorCode::InviteExpired);
        }
        let expected = self.invite.proof(binding);
        // Every byte compared, whatever differs first.
        let differ = expected.iter().zip(proof).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differ != 0 {
            return Err(PeerErrorCode::NotAuthorized);
        }
        self.used = true;
        Ok(PendingJoin {
            identity: peer,
            fingerprint: fingerprint(&peer),
            short_code: short_code(binding),
            name,
            key_package,
        })
    }
}

#[cfg(test)]
mod test;
