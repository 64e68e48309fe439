//! Where connections come from.
//!
//! The relay serves any [`cairn_net::Listener`], the one transport
//! vocabulary of the workspace: loopback TCP is
//! [`cairn_net::TcpLoopbackListener`], the onion service (arti) is
//! [`onion::OnionRelayListener`], with its key in [`onion_key`]. A listener
//! never reveals a peer address to the relay: the connection handler gets
//! the stream only.
//!
//! ```
//! use cairn_net::{Listener, TcpLoopbackListener};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let listener = TcpLoopbackListener::bind("127.0.0.1:0".parse()?).await?;
//! assert!(cairn_relay::listener::describe(&listener).starts_with("tcp 127.0.0.1:"));
//! let boxed: Box<dyn Listener> = Box::new(listener);
//! # drop(boxed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod onion;
pub mod onion_key;

use cairn_net::{Listener, PeerAddr};

/// What to print and log about a listener (`tcp 127.0.0.1:7447` or
/// `onion ADDRESS.onion:PORT`, the relay's own public address); never
/// about a peer.
pub fn describe(listener: &(impl Listener + ?Sized)) -> String {
    match listener.local_addr() {
        addr @ PeerAddr::Tcp(_) => format!("tcp {addr}"),
        addr @ PeerAddr::Onion { .. } => format!("onion {addr}"),
    }
}
