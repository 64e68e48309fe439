//! Where connections come from.
//!
//! The relay serves any [`Listener`]: something that accepts bidirectional
//! byte streams. The loopback TCP listener is here; the onion-service
//! listener (arti) is [`onion::OnionRelayListener`], with its key in
//! [`onion_key`]. A listener never reveals a
//! peer address to the relay: the connection handler gets the stream only.
//!
//! ```
//! use cairn_relay::listener::{Listener, TcpLoopbackListener};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let listener = TcpLoopbackListener::bind("127.0.0.1:0".parse()?).await?;
//! assert!(listener.describe().starts_with("tcp 127.0.0.1:"));
//! let boxed: Box<dyn Listener> = Box::new(listener);
//! # drop(boxed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod onion;
pub mod onion_key;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// A bidirectional byte stream the relay can serve.
pub trait RelayStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> RelayStream for T {}

/// An accepted connection.
pub type BoxStream = Box<dyn RelayStream>;

/// What [`Listener::accept`] returns.
pub type AcceptFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>>;

/// A source of connections.
pub trait Listener: Send + 'static {
    /// The next connection. Must be cancel-safe: dropping the future before
    /// it completes loses no connection.
    fn accept(&mut self) -> AcceptFuture<'_>;

    /// What to print and log about this listener (for example
    /// `tcp 127.0.0.1:7447` or an onion address); never about a peer.
    fn describe(&self) -> String;
}

/// Loopback TCP (tests and local use).
#[derive(Debug)]
pub struct TcpLoopbackListener {
    inner: TcpListener,
    addr: SocketAddr,
}

impl TcpLoopbackListener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let inner = TcpListener::bind(addr).await?;
        let addr = inner.local_addr()?;
        Ok(Self { inner, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Listener for TcpLoopbackListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, _peer) = self.inner.accept().await?;
            // Small frames: do not wait to coalesce them.
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxStream)
        })
    }

    fn describe(&self) -> String {
        format!("tcp {}", self.addr)
    }
}
