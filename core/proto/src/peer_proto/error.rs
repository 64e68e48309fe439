//! Why a peer session failed, and the numbered codes peers send each other.

use crate::relay_proto::frame::FrameError;
use crate::wire::DecodeError;

/// Numbered error codes of the peer protocol (the `code` of a
/// [`super::PeerMessage::Error`] or a refused [`super::Welcome`]). A number
/// is never reused; an unknown number is treated as a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
#[non_exhaustive]
pub enum PeerErrorCode {
    /// A frame or message that does not decode, or breaks a rule of its
    /// shape or of the message order. `info`: 0.
    Malformed = 1,
    /// A frame longer than the receiver accepts. `info`: the largest
    /// payload accepted.
    TooLarge = 2,
    /// No protocol version in common. `info`: 0.
    UnsupportedVersion = 3,
    /// The peer is not entitled to what it asked for (or failed to
    /// authenticate). `info`: 0.
    NotAuthorized = 4,
    /// The group named in a request is not known here. `info`: 0.
    UnknownGroup = 5,
    /// Too many requests; `info`: milliseconds to wait.
    RateLimited = 6,
    /// The peer failed locally (for example its store). `info`: 0.
    Internal = 7,
    /// The invitation was already used. `info`: 0.
    InviteUsed = 8,
    /// The invitation has expired. `info`: 0.
    InviteExpired = 9,
    /// The inviter did not approve the join. `info`: 0.
    NotApproved = 10,
}

impl PeerErrorCode {
    /// Every code, in number order.
    pub const ALL: [PeerErrorCode; 10] = [
        Self::Malformed,
        Self::TooLarge,
        Self::UnsupportedVersion,
        Self::NotAuthorized,
        Self::UnknownGroup,
        Self::RateLimited,
        Self::Internal,
        Self::InviteUsed,
        Self::InviteExpired,
        Self::NotApproved,
    ];

    /// The number on the wire.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code with this number, if this build knows it.
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.number() == n)
    }
}

/// Why a peer session failed. After any of these the session is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A frame header announced more than the receiver accepts; nothing
    /// was allocated for it.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The announced payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A frame header announced an empty payload.
    #[error("empty frame")]
    EmptyFrame,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({needed} more bytes expected)")]
    Truncated {
        /// Bytes still missing.
        needed: usize,
    },
    /// A payload did not decode canonically.
    #[error("undecodable payload: {0}")]
    Decode(#[from] DecodeError),
    /// A payload decoded but breaks a rule of its shape or of the order of
    /// messages.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// No version in common; `theirs` lists the versions the other side
    /// speaks.
    #[error("no common protocol version (they speak {theirs:?})")]
    UnsupportedVersion {
        /// The other side's versions.
        theirs: Vec<u16>,
    },
    /// The responder chose a version the initiator did not offer.
    #[error("peer chose version {0}, which was not offered")]
    VersionNotOffered(u16),
    /// The responder refused the hello with this code.
    #[error("peer refused the handshake with code {0}")]
    Refused(u16),
    /// The other side's x25519 share is of low order (or the wrong length).
    #[error("low-order or malformed key share")]
    BadShare,
    /// An identity or onion-service key is not strong (small order or not
    /// canonical).
    #[error("weak identity or onion key")]
    WeakKey,
    /// The responder's onion key is not the one of the address dialed, or
    /// its identity is not the one expected.
    #[error("the peer is not the one dialed")]
    WrongPeer,
    /// A handshake signature does not verify.
    #[error("bad handshake signature")]
    BadSignature,
    /// A frame did not open under the expected key and counter: altered,
    /// replayed, reordered, dropped or from another session.
    #[error("frame failed authentication")]
    Decrypt,
    /// 2^64 frames in one direction: the session must end.
    #[error("frame counter exhausted")]
    CounterExhausted,
    /// The stream ended between frames without a `Close`.
    #[error("stream ended without a close")]
    StreamEnded,
    /// The caller tried to send a resync message out of order (nothing
    /// was sent).
    #[error("resync message out of order: {0}")]
    OutOfOrder(&'static str),
    /// Sending on a session that is not open.
    #[error("session is not open")]
    NotOpen,
}

impl PeerError {
    /// The code to tell the other side, when it is worth telling.
    pub fn code(&self) -> PeerErrorCode {
        match self {
            Self::TooLarge { .. } => PeerErrorCode::TooLarge,
            Self::UnsupportedVersion { .. } | Self::VersionNotOffered(_) => {
                PeerErrorCode::UnsupportedVersion
            }
            Self::WeakKey | Self::WrongPeer | Self::BadSignature => PeerErrorCode::NotAuthorized,
            Self::CounterExhausted | Self::NotOpen | Self::OutOfOrder(_) => PeerErrorCode::Internal,
            _ => PeerErrorCode::Malformed,
        }
    }

    /// The `info` that goes with [`Self::code`].
    pub fn info(&self) -> u64 {
        match self {
            Self::TooLarge { max, .. } => u64::try_from(*max).unwrap_or(u64::MAX),
            _ => 0,
        }
    }
}

impl From<FrameError> for PeerError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TooLarge { len, max } => Self::TooLarge { len, max },
            FrameError::Incomplete { needed } => Self::Truncated { needed },
            _ => Self::EmptyFrame,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn numbers_are_stable() {
        for (i, code) in PeerErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(code.number()), i + 1);
            assert_eq!(PeerErrorCode::from_number(code.number()), Some(code));
        }
        assert_eq!(PeerErrorCode::from_number(0), None);
        assert_eq!(PeerErrorCode::from_number(11), None);
    }
}
