//! The relay as a Tor onion service, through arti in this process.
//!
//! The address is known before Tor is reachable (it derives from the key),
//! so it is printed at start. The service itself is launched on the first
//! `accept`: bootstrap first (retried with backoff while Tor is
//! unreachable: the relay keeps serving its other listeners meanwhile),
//! then the launch. Every step is cancel-safe: an `accept` dropped halfway
//! leaves the listener ready to carry on from where it was.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_net::arti::{ArtiConfig, ArtiTransport, OnionListener, TorNetwork};
use cairn_net::{Listener as _, PeerAddr};
use cairn_proto::crypto::SigningKey;
use cairn_proto::identity::onion_address;

use super::{AcceptFuture, BoxStream, Listener};
use crate::RelayError;
use crate::config::Config;

/// Service nickname inside arti (one service per relay process).
const NICKNAME: &str = "cairn-relay";
/// First and largest pause between bootstrap or launch attempts.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// An onion-service listener for the relay protocol.
pub struct OnionRelayListener {
    transport: Arc<ArtiTransport>,
    key: SigningKey,
    port: u16,
    address: PeerAddr,
    running: Option<OnionListener>,
    retry: Duration,
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
            source: io::Error::other(e.to_string()),
        })?;
        let address = PeerAddr::onion(&onion_address(&key.public()), config.listen.onion_port);
        Ok(Self {
            transport: Arc::new(transport),
            key,
            port: config.listen.onion_port,
            address,
            running: None,
            retry: RETRY_FIRST,
        })
    }

    /// `ADDRESS.onion:PORT`.
    pub fn address(&self) -> &PeerAddr {
        &self.address
    }

    /// Bootstraps Tor and launches the service, retrying until it works.
    async fn launch(&mut self) -> OnionListener {
        // Only Sync parts cross the awaits (the running listener is not Sync).
        let transport = Arc::clone(&self.transport);
        loop {
            match try_launch(&transport, &self.key, self.port).await {
                Ok(listener) => {
                    self.retry = RETRY_FIRST;
                    tracing::info!(address = %self.address, "onion service launched");
                    return listener;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?self.retry, "onion service not up yet");
                    tokio::time::sleep(self.retry).await;
                    self.retry = (self.retry * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

async fn try_launch(
    transport: &ArtiTransport,
    key: &SigningKey,
    port: u16,
) -> cairn_net::Result<OnionListener> {
    transport.bootstrap().await?;
    transport.launch_onion_service(NICKNAME, key, port)
}

impl Listener for OnionRelayListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            if self.running.is_none() {
                let launched = self.launch().await;
                self.running = Some(launched);
            }
            let running = self.running.as_mut().ok_or_else(|| io::Error::other("not launched"))?;
            match running.accept().await {
                Ok(stream) => Ok(Box::new(stream) as BoxStream),
                Err(e) => {
                    // A stopped service fails every accept: do not spin.
                    tokio::time::sleep(RETRY_FIRST).await;
                    Err(io::Error::other(e.to_string()))
                }
            }
        })
    }

    fn describe(&self) -> String {
        format!("onion {}", self.address)
    }
}

/// arti's state and cache live under `data_dir/arti`; its keystore is in
/// memory (the key is handed over at launch).
fn arti_config(data_dir: &Path, network: Option<&Path>) -> ArtiConfig {
    let network = network.map_or(TorNetwork::Public, |p| TorNetwork::Custom(p.to_owned()));
    let dir = data_dir.join("arti");
    ArtiConfig::new(dir.join("state"), dir.join("cache"), network)
}
