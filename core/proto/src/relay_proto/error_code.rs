//! Numbered error codes: the only way a relay says no.
//!
//! Codes are stable: a number is never reused for another meaning. An error
//! reply carrying a request id refuses that request only; one without a
//! request id is about the connection, and the relay closes it right after.
//! A client that meets a number it does not know treats it as a refusal.

/// `info` of [`ErrorCode::QuotaExceeded`]: the mailbox holds as much as the
/// relay allows one mailbox to hold.
pub const QUOTA_MAILBOX_FULL: u64 = 1;
/// `info` of [`ErrorCode::QuotaExceeded`]: the relay holds as many mailboxes
/// as it allows, and this post would create another.
pub const QUOTA_TOO_MANY_MAILBOXES: u64 = 2;

/// Why a relay refused a request or closed a connection. The wire carries
/// the number (`u16`); `info` (a `u64` beside it) is explained per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A frame or message that does not decode (canonically), or an
    /// envelope of the wrong shape. `info`: 0.
    Malformed = 1,
    /// A frame longer than the relay accepts. `info`: the largest payload
    /// accepted.
    TooLarge = 2,
    /// The envelope's write signature does not verify under the key its
    /// mailbox id is the hash of (or the key is weak). `info`: 0.
    BadSignature = 3,
    /// A storage quota: `info` is [`QUOTA_MAILBOX_FULL`] or
    /// [`QUOTA_TOO_MANY_MAILBOXES`].
    QuotaExceeded = 4,
    /// The connection sends requests faster than its rate allows. `info`:
    /// milliseconds until the next request is allowed. Many offences in a
    /// row close the connection.
    RateLimited = 5,
    /// Creating a mailbox needs a proof of work and none (or a wrong one)
    /// came with the post. `info`: the difficulty in leading zero bits.
    ProofOfWorkRequired = 6,
    /// The relay is too busy now (connections, write queue); try later or
    /// another relay. `info`: 0.
    Overloaded = 7,
    /// No protocol version in common. `info`: 0; the refusal lists the
    /// versions the relay speaks.
    UnsupportedVersion = 8,
    /// The request names a mailbox beyond the connection's limit (one group
    /// per connection). `info`: the limit.
    TooManyMailboxes = 9,
    /// The connection did not read what the relay sent in time. `info`: 0.
    SlowReader = 10,
    /// The connection sent nothing for too long. `info`: 0.
    IdleTimeout = 11,
    /// The relay is shutting down; requests acknowledged so far are durable.
    /// `info`: 0.
    ShuttingDown = 12,
    /// The relay failed (for example its disk); the request was not
    /// carried out. `info`: 0.
    Internal = 13,
}

impl ErrorCode {
    /// Every code, in number order.
    pub const ALL: [ErrorCode; 13] = [
        Self::Malformed,
        Self::TooLarge,
        Self::BadSignature,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::ProofOfWorkRequired,
        Self::Overloaded,
        Self::UnsupportedVersion,
        Self::TooManyMailboxes,
        Self::SlowReader,
        Self::IdleTimeout,
        Self::ShuttingDown,
        Self::Internal,
    ];

    /// The number on the wire.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code with this number, if this build knows it.
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.number() == n)
    }

    /// A short lowercase name (for logs and metrics labels).
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::BadSignature => "bad_signature",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::ProofOfWorkRequired => "proof_of_work_required",
            Self::Overloaded => "overloaded",
            Self::UnsupportedVersion => "unsupported_version",
            Self::TooManyMailboxes => "too_many_mailboxes",
            Self::SlowReader => "slow_reader",
            Self::IdleTimeout => "idle_timeout",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn numbers_are_stable_and_round_trip() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(code.number()), i + 1);
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
        }
        assert_eq!(ErrorCode::from_number(0), None);
        assert_eq!(ErrorCode::from_number(14), None);
        assert_eq!(ErrorCode::ProofOfWorkRequired.to_string(), "proof_of_work_required (6)");
    }
}
