//! Plain TCP on the loopback interface, for tests and local demos.
//!
//! No Tor, no anonymity, no encryption: anyone on the machine can connect
//! and read. It refuses every address outside 127.0.0.0/8 (and `::1`), and
//! can only be made through a constructor whose name says what it is.

use std::net::SocketAddr;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::net::{TcpListener, TcpStream};

use crate::{BoxStream, Error, IsolationKey, Listener, PeerAddr, Refusal, Result, Transport};

/// Loopback TCP: for tests and local demos only.
#[derive(Debug)]
pub struct TcpLoopbackTransport {
    _private: (),
}

impl TcpLoopbackTransport {
    /// The loopback transport. Logs a warning every time it is made:
    /// nothing sent over it is anonymous or encrypted.
    pub fn insecure_for_tests_and_demos() -> Self {
        tracing::warn!(
            "INSECURE TRANSPORT: plain TCP on 127.0.0.1, without Tor. \
             Nothing is anonymous or encrypted; for tests and local demos only."
        );
        Self { _private: () }
    }

    /// Listens on `addr`, which must be a loopback address (port 0 picks a
    /// free port).
    pub async fn listen(&self, addr: SocketAddr) -> Result<TcpLoopbackListener> {
        TcpLoopbackListener::bind(addr).await
    }
}

impl Transport for TcpLoopbackTransport {
    /// Connects to a loopback socket address. `isolation` has no meaning
    /// without Tor and is ignored.
    fn connect<'a>(
        &'a self,
        addr: &'a PeerAddr,
        _isolation: &'a IsolationKey,
    ) -> BoxFuture<'a, Result<BoxStream>> {
        async move {
            let PeerAddr::Tcp(addr) = addr else {
                return Err(Refusal::NotLoopback.into());
            };
            check_loopback(addr)?;
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::io("connect over loopback", e))?;
            stream.set_nodelay(true).map_err(|e| Error::io("set TCP_NODELAY", e))?;
            Ok(Box::new(stream) as BoxStream)
        }
        .boxed()
    }
}

/// Refuses anything but 127.0.0.0/8 and `::1`.
fn check_loopback(addr: &SocketAddr) -> Result<()> {
    if addr.ip().is_loopback() { Ok(()) } else { Err(Refusal::NotLoopback.into()) }
}

/// A loopback TCP listener.
///
/// Made by [`TcpLoopbackTransport::listen`] (a node), or directly by
/// [`bind`](Self::bind) for a server such as the relay, which listens
/// without dialling anyone and so needs no transport. Only
/// [`dangerously_bind_non_loopback`](Self::dangerously_bind_non_loopback)
/// listens beyond 127.0.0.0/8.
#[derive(Debug)]
pub struct TcpLoopbackListener {
    listener: TcpListener,
    socket: SocketAddr,
    addr: PeerAddr,
}

impl TcpLoopbackListener {
    /// Listens on `addr`, which must be a loopback address (port 0 picks a
    /// free port); anything else is [`Refusal::NotLoopback`].
    pub async fn bind(addr: SocketAddr) -> Result<Self> {
        check_loopback(&addr)?;
        Self::bind_unchecked(addr).await
    }

    /// Listens on any address, loopback or not: plain TCP that anyone on
    /// the network can reach and read. For a relay whose operator asked for
    /// it explicitly (`listen.allow_non_loopback_tcp`, for example behind
    /// their own tunnel); never for a node.
    pub async fn dangerously_bind_non_loopback(addr: SocketAddr) -> Result<Self> {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "plain TCP listener on a non-loopback address");
        }
        Self::bind_unchecked(addr).await
    }

    async fn bind_unchecked(addr: SocketAddr) -> Result<Self> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| Error::io("bind a loopback listener", e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("read the loopback listener's address", e))?;
        Ok(Self { listener, socket: local, addr: PeerAddr::Tcp(local) })
    }

    /// The bound socket address ([`Listener::local_addr`] as a
    /// [`SocketAddr`]).
    pub fn socket_addr(&self) -> SocketAddr {
        self.socket
    }
}

impl Listener for TcpLoopbackListener {
    fn accept(&mut self) -> BoxFuture<'_, Result<BoxStream>> {
        async move {
            let (stream, _) =
                self.listener.accept().await.map_err(|e| Error::io("accept over loopback", e))?;
            stream.set_nodelay(true).map_err(|e| Error::io("set TCP_NODELAY", e))?;
            Ok(Box::new(stream) as BoxStream)
        }
        .boxed()
    }

    fn local_addr(&self) -> &PeerAddr {
        &self.addr
    }
}

#[cfg(test)]
mod test {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::ErrorKind;

    const GROUP: IsolationKey = IsolationKey::from_bytes([1; 32]);

    #[tokio::test]
    async fn framed_round_trip() {
        let transport = TcpLoopbackTransport::insecure_for_tests_and_demos();
        let mut listener = transport.listen(([127, 0, 0, 1], 0).into()).await.expect("listen");
        let addr = listener.local_addr().clone();
        let server = tokio::spawn(async move {
            let mut s = listener.accept().await.expect("accept");
            let mut len = [0u8; 4];
            s.read_exact(&mut len).await.expect("len");
            let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut msg).await.expect("msg");
            s.write_all(&len).await.expect("echo len");
            s.write_all(&msg).await.expect("echo");
            s.flush().await.expect("flush");
        });
        let mut c = transport.connect(&addr, &GROUP).await.expect("connect");
        let msg = b"framed over loopback";
        c.write_all(&(msg.len() as u32).to_be_bytes()).await.expect("len");
        c.write_all(msg).await.expect("msg");
        c.flush().await.expect("flush");
        let mut back = [0u8; 4 + 20];
        c.read_exact(&mut back).await.expect("echo");
        assert_eq!(&back[4..], msg);
        server.await.expect("server");
    }

    #[tokio::test]
    async fn refuses_everything_but_loopback() {
        let transport = TcpLoopbackTransport::insecure_for_tests_and_demos();
        for addr in ["192.0.2.1:80", "10.0.0.1:80", "[2001:db8::1]:80", "0.0.0.0:80"] {
            let addr: PeerAddr = addr.parse().expect("addr");
            let err = transport.connect(&addr, &GROUP).await.err().expect("refused");
            assert_eq!(err.kind(), ErrorKind::Refused, "{addr}");
            let PeerAddr::Tcp(sock) = addr else { unreachable!() };
            let err = transport.listen(sock).await.expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::Refused, "{addr}");
        }
        let onion: PeerAddr = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion:80"
            .parse()
            .expect("onion");
        let err = transport.connect(&onion, &GROUP).await.err().expect("refused");
        assert!(matches!(err, Error::Refused(Refusal::NotLoopback)));
    }
}
