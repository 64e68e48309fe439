//! The relay as a Tor onion service, through arti in this process.
//!
//! The address is known before Tor is reachable (it derives from the key),
//! so it is printed at start. The service itself is launched on the first
//! `accept`, by [`ArtiTransport::launch_onion_service_when_ready`]
//! (bootstrap, then launch, retried with backoff while Tor is unreachable:
//! the relay keeps serving its other listeners meanwhile). Every step is
//! cancel-safe: an `accept` dropped halfway leaves the listener ready to
//! start again.

use std::io;
use std::path::Path;
use std::time::Duration;

use cairn_net::arti::{ArtiConfig, ArtiTransport, OnionListener, TorNetwork};
use cairn_net::{BoxStream, LAUNCH_RETRY, Listener, PeerAddr};
use cairn_proto::crypto::SigningKey;
use cairn_proto::identity::onion_address;

use crate::RelayError;
use crate::config::Config;

/// Service nickname inside arti (one service per relay process).
const NICKNAME: &str = "cairn-relay";
/// Pause after a failed accept on a running service.
const RETRY_AFTER_FAILURE: Duration = LAUNCH_RETRY.0;

/// An onion-service listener for the relay protocol.
pub struct OnionRelayListener {
    transport: ArtiTransport,
    key: SigningKey,
    port: u16,
    address: PeerAddr,
    running: Option<OnionListener>,
}

impl std::fmt::Debug for OnionRelayListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnionRelayListener").field("address", &self.address).finish_non_exhaustive()
    }
}

impl OnionRelayListener {
    /// Prepares the listener from the configuration and the relay's key
    /// (`listener::onion_key`). Makes no connection yet. Must be called
    /// inside the tokio runtime.
    pub fn new(config: &Config, key: SigningKey) -> Result<Self, RelayError> {
        let arti = arti_config(&config.data_dir, config.tor.network_config.as_deref());
        let transport = ArtiTransport::new(&arti).map_err(|e| RelayError::Listen {
            what: "onion service".into(),
            source: io::Error::other(e),
        })?;
        let address = PeerAddr::onion(&onion_address(&key.public()), config.listen.onion_port);
        Ok(Self { transport, key, port: config.listen.onion_port, address, running: None })
    }

    /// `ADDRESS.onion:PORT`.
    pub fn address(&self) -> &PeerAddr {
        &self.address
    }
}

impl Listener for OnionRelayListener {
    fn accept(&mut self) -> cairn_net::BoxFuture<'_, cairn_net::Result<BoxStream>> {
        Box::pin(async move {
            let running = match &mut self.running {
                Some(running) => running,
                None => {
                    let launched = self
                        .transport
                        .launch_onion_service_when_ready(NICKNAME, &self.key, self.port)
                        .await;
                    tracing::info!(address = %self.address, "onion service launched");
                    self.running.insert(launched)
                }
            };
            let accepted = running.accept().await;
            if accepted.is_err() {
                // A stopped service fails every accept: do not spin.
                tokio::time::sleep(RETRY_AFTER_FAILURE).await;
            }
            accepted
        })
    }

    fn local_addr(&self) -> &PeerAddr {
        &self.address
    }
}

/// arti's state and cache live under `data_dir/arti`; its keystore is in
/// memory (the key is handed over at launch).
fn arti_config(data_dir: &Path, network: Option<&Path>) -> ArtiConfig {
    let network = network.map_or(TorNetwork::Public, |p| TorNetwork::Custom(p.to_owned()));
    let dir = data_dir.join("arti");
    ArtiConfig::new(dir.join("state"), dir.join("cache"), network)
}
