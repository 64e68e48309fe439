//! The transport interface: [`Transport`] connects, [`Listener`] accepts,
//! both hand out [`BoxStream`]s.

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{PeerAddr, Result};

/// A byte stream to or from a peer.
///
/// **No half-close.** Over Tor, shutting down the write half sends nothing
/// the other side can see: a reader waiting for end-of-stream waits forever.
/// Protocols frame every message (length first) and finish by dropping the
/// whole stream. Call `flush()` after writing: Tor streams buffer.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A boxed [`ByteStream`], as every transport returns it.
pub type BoxStream = Box<dyn ByteStream>;

/// Connects to peers.
///
/// Implemented by [`ArtiTransport`](crate::ArtiTransport) (onion addresses
/// only) and [`TcpLoopbackTransport`](crate::TcpLoopbackTransport)
/// (127.0.0.0/8 only). Code above the transport takes `&dyn Transport` or a
/// generic `T: Transport` and works with either.
///
/// ```
/// use cairn_net::{IsolationKey, Listener, TcpLoopbackTransport, Transport};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let transport = TcpLoopbackTransport::insecure_for_tests_and_demos();
/// let mut listener = transport.listen("127.0.0.1:0".parse()?).await?;
/// let addr = listener.local_addr().clone();
///
/// let dialer: &dyn Transport = &transport;
/// let group = IsolationKey::from_bytes([7; 32]);
/// let (client, server) = tokio::join!(dialer.connect(&addr, &group), listener.accept());
/// let (mut client, mut server) = (client?, server?);
///
/// // Framed: a length byte, then the message.
/// client.write_all(&[5, b'h', b'e', b'l', b'l', b'o']).await?;
/// client.flush().await?;
/// let mut len = [0u8; 1];
/// server.read_exact(&mut len).await?;
/// let mut msg = vec![0u8; usize::from(len[0])];
/// server.read_exact(&mut msg).await?;
/// assert_eq!(msg, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
pub trait Transport: Send + Sync {
    /// Opens a stream to `addr`. Streams with different `isolation` keys
    /// never share a Tor circuit; use one key per group, so that a relay
    /// serving two of a person's groups cannot link them.
    ///
    /// Fails with [`ErrorKind::Refused`](crate::ErrorKind::Refused) before
    /// anything leaves the process if `addr` is not one this transport may
    /// reach.
    fn connect<'a>(
        &'a self,
        addr: &'a PeerAddr,
        isolation: &'a IsolationKey,
    ) -> BoxFuture<'a, Result<BoxStream>>;
}

/// Accepts streams from peers.
pub trait Listener: Send {
    /// Waits for the next incoming stream.
    fn accept(&mut self) -> BoxFuture<'_, Result<BoxStream>>;

    /// The address peers connect to.
    fn local_addr(&self) -> &PeerAddr;
}

/// Which streams may share circuits: streams with equal keys may, streams
/// with different keys never do. One key per group (derive it from the
/// group id); the bytes are not secret, but are kept out of logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IsolationKey([u8; 32]);

impl IsolationKey {
    /// Wraps 32 bytes, for example a group id.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for IsolationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IsolationKey(<redacted>)")
    }
}
