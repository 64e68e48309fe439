//! Errors of the transports, classified by who is at fault and what the
//! caller can do about it ([`ErrorKind`]).
//!
//! No variant carries a secret, a peer address or an onion address: errors
//! end up in logs.

use std::io;

use arti_client::HasKind as _;

/// What kind of failure an [`Error`] is: who is at fault, and what the
/// caller can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The network failed in a way that may go away: retry later, with
    /// backoff.
    Transient,
    /// The peer could not be reached (offline, unknown onion service,
    /// connection refused). Retry later or try another peer.
    PeerUnreachable,
    /// The transport refused the request on principle (for example a
    /// non-onion address through Tor). Retrying cannot help.
    Refused,
    /// The peer address is malformed.
    BadAddress,
    /// The configuration (ours or arti's) is unusable; a person must fix it.
    BadConfig,
    /// Local storage or the operating system failed (state directory,
    /// permissions, sockets).
    Local,
    /// A bug in cairn or arti; please report it.
    Bug,
}

/// Why a transport refused a request without trying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The Tor transport connects to `.onion` addresses only.
    #[error("the tor transport connects only to .onion addresses")]
    NotOnion,
    /// The loopback transport connects to and listens on loopback
    /// addresses only.
    #[error("the loopback transport accepts only loopback addresses")]
    NotLoopback,
}

/// An error of a transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before anything was sent.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// A peer address could not be parsed.
    #[error("invalid peer address: {0}")]
    BadAddress(&'static str),
    /// The configuration is unusable.
    #[error("bad configuration: {what}")]
    BadConfig {
        /// What is wrong.
        what: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An operation of arti failed.
    #[error("tor: could not {action}")]
    Tor {
        /// What was being done.
        action: &'static str,
        /// arti's error (redacts addresses when safe logging is on, its
        /// default).
        #[source]
        source: Box<arti_client::Error>,
    },
    /// An operation took longer than allowed (for example a connection to
    /// an onion service whose introduction points still exist but whose
    /// host is gone: arti waits for the rendezvous without a limit of its
    /// own).
    #[error("timed out: could not {action} within {after:?}")]
    Timeout {
        /// What was being done.
        action: &'static str,
        /// The limit.
        after: std::time::Duration,
    },
    /// A local I/O operation failed.
    #[error("could not {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// arti reports a different onion address than the one cairn computed
    /// from the same key: the service is not reachable where peers will
    /// look for it. Never expected; refuse to run rather than guess.
    #[error("bug: arti's onion address differs from the one derived from the identity key")]
    OnionAddressMismatch,
    /// The onion service stopped; its listener accepts nothing more.
    #[error("the onion service stopped")]
    ServiceStopped,
    /// Something that cannot happen happened.
    #[error("bug: {0}")]
    Bug(&'static str),
}

impl Error {
    /// Who is at fault and what the caller can do.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Refused(_) => ErrorKind::Refused,
            Error::BadAddress(_) => ErrorKind::BadAddress,
            Error::BadConfig { .. } => ErrorKind::BadConfig,
            Error::Tor { source, .. } => tor_kind(source),
            Error::Io { source, .. } => io_kind(source),
            Error::ServiceStopped => ErrorKind::Transient,
            Error::Timeout { .. } => ErrorKind::PeerUnreachable,
            Error::OnionAddressMismatch | Error::Bug(_) => ErrorKind::Bug,
        }
    }

    /// Wraps an arti error with what was being done.
    pub(crate) fn tor(action: &'static str, source: arti_client::Error) -> Self {
        Error::Tor { action, source: Box::new(source) }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(action: &'static str, source: io::Error) -> Self {
        Error::Io { action, source }
    }

    /// A configuration error with its cause.
    pub(crate) fn config(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::BadConfig { what: what.into(), source: Some(Box::new(source)) }
    }
}

/// Classifies arti's error kinds.
fn tor_kind(e: &arti_client::Error) -> ErrorKind {
    use arti_client::ErrorKind as K;
    match e.kind() {
        K::OnionServiceNotFound
        | K::OnionServiceNotRunning
        | K::OnionServiceConnectionFailed
        | K::OnionServiceProtocolViolation
        | K::OnionServiceMissingClientAuth
        | K::OnionServiceWrongClientAuth
        | K::RemoteConnectionRefused
        | K::RemoteHostNotFound
        | K::RemoteHostResolutionFailed
        | K::RemoteNetworkFailed
        | K::RemoteNetworkTimeout
        | K::RemoteStreamClosed
        | K::RemoteStreamError
        | K::RemoteStreamReset
        | K::RemoteProtocolViolation => ErrorKind::PeerUnreachable,
        K::InvalidStreamTarget | K::OnionServiceAddressInvalid => ErrorKind::BadAddress,
        K::ForbiddenStreamTarget => ErrorKind::Refused,
        K::InvalidConfig
        | K::InvalidConfigTransition
        | K::FeatureDisabled
        | K::FsPermissions
        | K::NoHomeDirectory => ErrorKind::BadConfig,
        K::PersistentStateAccessFailed
        | K::PersistentStateCorrupted
        | K::KeystoreAccessFailed
        | K::KeystoreCorrupted
        | K::LocalResourceAlreadyInUse
        | K::LocalResourceExhausted
        | K::CacheAccessFailed
        | K::CacheCorrupted => ErrorKind::Local,
        K::Internal | K::BadApiUsage | K::NotImplemented => ErrorKind::Bug,
        _ => ErrorKind::Transient,
    }
}

/// Classifies operating-system errors of socket and file operations.
fn io_kind(e: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::TimedOut
        | K::UnexpectedEof
        | K::BrokenPipe => ErrorKind::PeerUnreachable,
        K::Interrupted | K::WouldBlock => ErrorKind::Transient,
        _ => ErrorKind::Local,
    }
}
