//! Tor through arti: outgoing streams to onion services, and our own onion
//! service with a key derived from the identity.
//!
//! * One [`ArtiTransport`] (one `TorClient`) per profile, with the profile's
//!   own state and cache directories.
//! * Fail closed: [`Transport::connect`] refuses every address that is not
//!   `.onion` before arti sees it. Nothing else leaves the machine.
//! * Isolation: every [`IsolationKey`] gets its own arti isolation token,
//!   so streams of different groups never share a circuit.
//! * Keys: arti's primary keystore is in memory (`ephemeral`). The onion
//!   service key is handed to arti at every launch and never written to
//!   disk by arti; cairn keeps it in its own encrypted store.

mod bootstrap;
mod config;
mod listener;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arti_client::config::BoolOrAuto;
use arti_client::{BootstrapBehavior, IsolationToken, StreamPrefs, TorClient};
use cairn_proto::crypto::SigningKey;
use cairn_proto::identity::onion_address;
use futures::future::BoxFuture;
use futures::{FutureExt as _, Stream, StreamExt as _};
use safelog::DisplayRedacted as _;
use tor_hscrypto::pk::{HsIdKey, HsIdKeypair};
use tor_hsservice::HsNickname;
use tor_hsservice::config::OnionServiceConfigBuilder;
use tor_llcrypto::pk::ed25519::{ExpandedKeypair, Keypair};
use tor_rtcompat::PreferredRuntime;

pub use self::bootstrap::BootstrapProgress;
pub use self::config::{ArtiConfig, DEFAULT_CONNECT_TIMEOUT, TorNetwork};
pub use self::listener::OnionListener;
use crate::{BoxStream, Error, IsolationKey, PeerAddr, Refusal, Result, Transport};

/// First and largest pause of
/// [`ArtiTransport::launch_onion_service_when_ready`] between attempts.
pub const LAUNCH_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// Tor through arti, for one profile.
pub struct ArtiTransport {
    client: Arc<TorClient<PreferredRuntime>>,
    state_dir: PathBuf,
    connect_timeout: Duration,
    /// One arti isolation token per caller key; tokens are never reused.
    isolation: Mutex<HashMap<IsolationKey, IsolationToken>>,
}

impl std::fmt::Debug for ArtiTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtiTransport").field("state_dir", &self.state_dir).finish_non_exhaustive()
    }
}

impl ArtiTransport {
    /// Creates the Tor client without connecting to anything: nothing
    /// leaves the machine until [`bootstrap`](Self::bootstrap). Must be
    /// called inside a tokio runtime.
    pub fn new(config: &ArtiConfig) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Bug("ArtiTransport::new called outside a tokio runtime"));
        }
        install_crypto_provider();
        let client_config = config::client_config(config)?;
        let client = TorClient::builder()
            .config(client_config)
            .bootstrap_behavior(BootstrapBehavior::Manual)
            .create_unbootstrapped()
            .map_err(|e| Error::tor("create the tor client", e))?;
        Ok(Self {
            client,
            state_dir: config.state_dir.clone(),
            connect_timeout: config.connect_timeout,
            isolation: Mutex::new(HashMap::new()),
        })
    }

    /// Connects to the Tor network (directory documents, first circuits).
    /// Safe to call again, for example after a failure.
    pub async fn bootstrap(&self) -> Result<()> {
        self.client.bootstrap().await.map_err(|e| Error::tor("bootstrap", e))
    }

    /// Bootstrap progress as it happens (intermediate states may be
    /// skipped). The stream ends when the transport is dropped.
    pub fn bootstrap_events(&self) -> impl Stream<Item = BootstrapProgress> + Send + Unpin + use<> {
        self.client.bootstrap_events().map(|s| BootstrapProgress::from(&s))
    }

    /// Bootstrap progress now.
    pub fn bootstrap_progress(&self) -> BootstrapProgress {
        BootstrapProgress::from(&self.client.bootstrap_status())
    }

    /// Launches the onion service whose ed25519 identity key is `key` (the
    /// 32-byte RFC 8032 secret seed, e.g. `Identity::onion_key()`), and
    /// returns a listener for streams to virtual port `port`.
    ///
    /// `nickname` names the service inside this transport (letters, digits,
    /// `-` and `_`); each nickname can be launched once per transport. The
    /// key goes to arti's in-memory keystore only. The address arti reports
    /// is checked against the one cairn computes from the key: a mismatch is
    /// [`Error::OnionAddressMismatch`].
    pub fn launch_onion_service(
        &self,
        nickname: &str,
        key: &SigningKey,
        port: u16,
    ) -> Result<OnionListener> {
        let nickname: HsNickname =
            nickname.parse().map_err(|e| Error::config("invalid onion service nickname", e))?;
        self.remove_stale_service_state(&nickname)?;
        let service_config = OnionServiceConfigBuilder::default()
            .nickname(nickname)
            .build()
            .map_err(|e| Error::config("invalid onion service configuration", e))?;

        let keypair =
            HsIdKeypair::from(ExpandedKeypair::from(&Keypair::from_bytes(key.as_bytes())));
        let expected = onion_address(&key.public());
        let computed_by_arti = HsIdKey::from(&keypair).id();
        let (service, requests) = self
            .client
            .launch_onion_service_with_hsid(service_config, keypair)
            .map_err(|e| Error::tor("launch the onion service", e))?
            .ok_or(Error::Bug("onion service disabled in its own configuration"))?;

        // Both arti's view of the key and the running service's address
        // must equal ours; peers look for the service at `expected`.
        let reported = service.onion_address().ok_or(Error::OnionAddressMismatch)?;
        for hsid in [computed_by_arti, reported] {
            if hsid.display_unredacted().to_string() != expected.as_str() {
                tracing::error!("arti's onion address differs from cairn's; refusing to serve");
                return Err(Error::OnionAddressMismatch);
            }
        }
        tracing::debug!("onion service launched");
        Ok(OnionListener::new(
            service,
            Box::pin(tor_hsservice::handle_rend_requests(requests)),
            expected,
            port,
        ))
    }

    /// Bootstraps Tor, then launches the onion service as
    /// [`launch_onion_service`](Self::launch_onion_service) does, retrying
    /// both while they fail (Tor unreachable, no consensus yet): the first
    /// pause is [`LAUNCH_RETRY`]`.0`, doubling up to `.1`. Never gives up;
    /// a caller that wants to stop drops the future (cancel-safe: nothing
    /// is half-done between awaits). Used by the node for its peer service
    /// and by the relay for its onion listener.
    pub async fn launch_onion_service_when_ready(
        &self,
        nickname: &str,
        key: &SigningKey,
        port: u16,
    ) -> OnionListener {
        let mut wait = LAUNCH_RETRY.0;
        loop {
            let launched = match self.bootstrap().await {
                Ok(()) => self.launch_onion_service(nickname, key, port),
                Err(e) => Err(e),
            };
            match launched {
                Ok(listener) => return listener,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "onion service not up yet");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LAUNCH_RETRY.1);
                }
            }
        }
    }

    /// Removes `<state>/hss/<nickname>/` left by an earlier run. It holds no
    /// keys (those are in memory), only records of introduction points
    /// whose keys died with that run; arti would complain about them.
    fn remove_stale_service_state(&self, nickname: &HsNickname) -> Result<()> {
        let dir = self.state_dir.join("hss").join(nickname.to_string());
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove stale onion service state", e)),
        }
    }

    /// The arti isolation token for `key`, made on first use.
    fn token(&self, key: &IsolationKey) -> IsolationToken {
        let mut map = self.isolation.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(*key).or_insert_with(IsolationToken::new)
    }
}

impl Transport for ArtiTransport {
    /// Opens a stream to an onion service over a circuit isolated by
    /// `isolation`, within the configured connect timeout. Any other
    /// address is refused with [`Refusal::NotOnion`] before arti is called.
    fn connect<'a>(
        &'a self,
        addr: &'a PeerAddr,
        isolation: &'a IsolationKey,
    ) -> BoxFuture<'a, Result<BoxStream>> {
        async move {
            let PeerAddr::Onion { host, port } = addr else {
                tracing::warn!("refused a non-onion connection through tor");
                return Err(Refusal::NotOnion.into());
            };
            let mut prefs = StreamPrefs::new();
            prefs.set_isolation(self.token(isolation));
            prefs.connect_to_onion_services(BoolOrAuto::Explicit(true));
            let action = "connect to the onion service";
            let connecting = self.client.connect_with_prefs((host.as_str(), *port), &prefs);
            let stream = tokio::time::timeout(self.connect_timeout, connecting)
                .await
                .map_err(|_| Error::Timeout { action, after: self.connect_timeout })?
                .map_err(|e| Error::tor(action, e))?;
            Ok(Box::new(stream) as BoxStream)
        }
        .boxed()
    }
}

/// arti's TLS (to tor relays) uses rustls, which needs a process-wide
/// crypto provider. Installs *ring*'s unless the process chose one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only if another thread installed one meanwhile: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ErrorKind;

    fn config(dir: &std::path::Path, network: TorNetwork) -> ArtiConfig {
        ArtiConfig::new(dir.join("state"), dir.join("cache"), network)
    }

    #[tokio::test]
    async fn one_token_per_isolation_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = ArtiTransport::new(&config(dir.path(), TorNetwork::Public)).expect("transport");
        let (a, b) = (IsolationKey::from_bytes([1; 32]), IsolationKey::from_bytes([2; 32]));
        assert_eq!(t.token(&a), t.token(&a));
        assert_ne!(t.token(&a), t.token(&b));
    }

    #[tokio::test]
    async fn unknown_configuration_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("net.toml");
        std::fs::write(&file, "[address_filter]\nallow_local_adrs = true\n").expect("write");
        let err = ArtiTransport::new(&config(dir.path(), TorNetwork::Custom(file))).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::BadConfig));
        let missing = TorNetwork::Custom(dir.path().join("missing.toml"));
        let err = ArtiTransport::new(&config(dir.path(), missing)).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::BadConfig));
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ArtiTransport::new(&config(dir.path(), TorNetwork::Public)).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Bug));
    }
}
