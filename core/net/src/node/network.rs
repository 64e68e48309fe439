//! How the node reaches peers and relays: Tor (arti, onion addresses only)
//! or, by explicit opt-in for tests and demos, loopback TCP.
//!
//! In loopback mode peers still name each other by onion-service key (the
//! peer handshake proves that key either way); a *loopback directory* shared
//! by the local processes maps each onion address to a 127.0.0.1 port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_proto::crypto::PublicKey;
use cairn_proto::identity::{Identity, onion_address};
use futures::StreamExt as _;

use super::{NodeError, NodeEvent};
use crate::{
    ArtiConfig, ArtiTransport, Error, Listener, PeerAddr, TcpLoopbackTransport, TorNetwork,
    Transport,
};

/// The virtual port of every peer's onion service.
pub const PEER_PORT: u16 = 7448;

/// Which network the node uses.
#[derive(Debug, Clone)]
pub enum Network {
    /// Tor through arti; state under `<profile>/arti`.
    Tor(TorNetwork),
    /// Loopback TCP, for tests and local demos only (loudly announced): no
    /// anonymity, no Tor. `directory` maps onion addresses to local ports.
    LoopbackInsecure {
        /// The directory shared by the local nodes.
        directory: PathBuf,
    },
}

/// The node's transport and how it finds peers.
pub struct Net {
    transport: Arc<dyn Transport>,
    arti: Option<Arc<ArtiTransport>>,
    loopback_dir: Option<PathBuf>,
}

impl core::fmt::Debug for Net {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Net").field("tor", &self.arti.is_some()).finish_non_exhaustive()
    }
}

impl Net {
    /// Makes the transport for the profile in `profile_dir`. Nothing is
    /// contacted yet.
    pub fn new(profile_dir: &Path, network: &Network) -> Result<Self, NodeError> {
        match network {
            Network::Tor(tor) => {
                let arti_dir = profile_dir.join("arti");
                let config =
                    ArtiConfig::new(arti_dir.join("state"), arti_dir.join("cache"), tor.clone());
                let arti = Arc::new(ArtiTransport::new(&config)?);
                let transport: Arc<dyn Transport> = arti.clone();
                Ok(Self { transport, arti: Some(arti), loopback_dir: None })
            }
            Network::LoopbackInsecure { directory } => {
                std::fs::create_dir_all(directory)
                    .map_err(|e| Error::io("create the loopback directory", e))?;
                let transport = Arc::new(TcpLoopbackTransport::insecure_for_tests_and_demos());
                Ok(Self { transport, arti: None, loopback_dir: Some(directory.clone()) })
            }
        }
    }

    /// The transport for outgoing streams.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// The Tor transport, in Tor mode.
    pub fn arti(&self) -> Option<&ArtiTransport> {
        self.arti.as_deref()
    }

    /// Whether this is Tor.
    pub fn is_tor(&self) -> bool {
        self.arti.is_some()
    }

    /// Where the peer whose onion-service key is `onion` listens.
    pub fn peer_addr(&self, onion: &PublicKey) -> Result<PeerAddr, NodeError> {
        let address = onion_address(onion);
        let Some(dir) = &self.loopback_dir else {
            return Ok(PeerAddr::onion(&address, PEER_PORT));
        };
        let text = std::fs::read_to_string(dir.join(address.as_str()))
            .map_err(|e| Error::io("find a peer in the loopback directory", e))?;
        Ok(text.trim().parse()?)
    }

    /// Bootstraps Tor (reporting progress as events) and starts listening
    /// for peers: the identity's onion service, or a loopback port written
    /// to the loopback directory. Retries while Tor is unreachable. Events
    /// go to `emit` (the node's, which also keeps them as its health).
    pub async fn listen(
        &self,
        identity: &Identity,
        emit: Arc<dyn Fn(NodeEvent) + Send + Sync>,
    ) -> Result<Box<dyn Listener>, NodeError> {
        let Some(arti) = &self.arti else { return self.listen_loopback(identity, &*emit).await };
        let progress = arti.bootstrap_events();
        let reporter = {
            let emit = emit.clone();
            tokio::spawn(progress.for_each(move |p| {
                emit(NodeEvent::TorBootstrap { percent: p.percent, blocked: p.blocked });
                futures::future::ready(())
            }))
        };
        let listener = arti
            .launch_onion_service_when_ready("cairn-peer", identity.onion_key(), PEER_PORT)
            .await;
        reporter.abort();
        let address = format!("{}:{PEER_PORT}", identity.onion_address().as_str());
        emit(NodeEvent::Listening { address });
        Ok(Box::new(listener))
    }

    async fn listen_loopback(
        &self,
        identity: &Identity,
        emit: &(dyn Fn(NodeEvent) + Send + Sync),
    ) -> Result<Box<dyn Listener>, NodeError> {
        let transport = TcpLoopbackTransport::insecure_for_tests_and_demos();
        let listener = transport.listen(([127, 0, 0, 1], 0).into()).await?;
        let addr = listener.local_addr().to_string();
        if let Some(dir) = &self.loopback_dir {
            let path = dir.join(identity.onion_address().as_str());
            std::fs::write(&path, &addr)
                .map_err(|e| Error::io("write to the loopback directory", e))?;
        }
        emit(NodeEvent::Listening { address: addr });
        Ok(Box::new(listener))
    }
}
