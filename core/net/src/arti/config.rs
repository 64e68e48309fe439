//! Building arti's client configuration for one profile.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arti_client::TorClientConfig;
use arti_client::config::{ConfigurationSource, ConfigurationSources};
use serde::Serialize;
use tor_config::load::ConfigResolveOptions;
use tor_config::resolve_return_results;
use tor_config::sources::MustRead;

use crate::{Error, Result};

/// How long [`Transport::connect`](crate::Transport::connect) may take by
/// default: arti's own limits do not cover every stage of an onion-service
/// connection (a rendezvous that never completes waits forever).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an [`ArtiTransport`](super::ArtiTransport) keeps its state, and
/// which Tor network it uses. One per profile: profiles never share arti
/// state.
#[derive(Clone, Debug)]
pub struct ArtiConfig {
    /// arti's state directory (guards, onion-service state; never keys: the
    /// keystore is in memory).
    pub state_dir: PathBuf,
    /// arti's cache directory (directory documents).
    pub cache_dir: PathBuf,
    /// The Tor network.
    pub network: TorNetwork,
    /// Limit for one `connect` (see [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
}

impl ArtiConfig {
    /// A configuration with the default connect timeout.
    pub fn new(state_dir: PathBuf, cache_dir: PathBuf, network: TorNetwork) -> Self {
        Self { state_dir, cache_dir, network, connect_timeout: DEFAULT_CONNECT_TIMEOUT }
    }
}

/// Which Tor network to use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TorNetwork {
    /// The public Tor network, with arti's built-in authorities.
    Public,
    /// Another network (a private test network), described by an arti
    /// configuration file (TOML) with its `tor_network` section and any
    /// settings it needs (`address_filter`, `path_rules`, ...). Unknown keys
    /// are an error. Its `storage` settings are overridden by
    /// [`ArtiConfig`]'s directories and the in-memory keystore.
    Custom(PathBuf),
}

/// The settings cairn always imposes, layered over the network file.
#[derive(Serialize)]
struct Overrides {
    storage: Storage,
}

#[derive(Serialize)]
struct Storage {
    state_dir: LiteralPath,
    cache_dir: LiteralPath,
    keystore: Keystore,
}

/// arti's `CfgPath` form for a path used as is (no `${VAR}` expansion).
#[derive(Serialize)]
struct LiteralPath {
    literal: PathBuf,
}

#[derive(Serialize)]
struct Keystore {
    primary: PrimaryKeystore,
}

#[derive(Serialize)]
struct PrimaryKeystore {
    /// In memory only: the onion-service keys never reach the disk.
    kind: &'static str,
}

/// arti's configuration for `config`: the network file (if any), then
/// cairn's storage overrides, which win.
pub(super) fn client_config(config: &ArtiConfig) -> Result<TorClientConfig> {
    let mut sources = ConfigurationSources::new_empty();
    if let TorNetwork::Custom(path) = &config.network {
        check_readable(path)?;
        sources.push_source(ConfigurationSource::from_path(path), MustRead::MustRead);
    }
    let overrides = Overrides {
        storage: Storage {
            state_dir: LiteralPath { literal: config.state_dir.clone() },
            cache_dir: LiteralPath { literal: config.cache_dir.clone() },
            keystore: Keystore { primary: PrimaryKeystore { kind: "ephemeral" } },
        },
    };
    let text = toml::to_string(&overrides)
        .map_err(|e| Error::config("cannot express the storage settings in TOML", e))?;
    sources.push_source(ConfigurationSource::from_verbatim(text), MustRead::MustRead);

    let tree =
        sources.load().map_err(|e| Error::config("cannot read the arti configuration", e))?;
    let resolved =
        resolve_return_results::<TorClientConfig>(&tree, &ConfigResolveOptions::default())
            .map_err(|e| Error::config("invalid arti configuration", e))?;
    if !resolved.unrecognized.is_empty() {
        let keys: Vec<String> = resolved.unrecognized.iter().map(|k| k.to_string()).collect();
        return Err(Error::BadConfig {
            what: format!("unknown keys in the arti configuration: {}", keys.join(", ")),
            source: None,
        });
    }
    Ok(resolved.value)
}

fn check_readable(path: &Path) -> Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| Error::config(format!("cannot read {}", path.display()), e))
}
