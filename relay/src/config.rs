//! The relay's TOML configuration.
//!
//! Every option has a default; `cairn-relay.example.toml` (shown by
//! `cairn-relay --help`) lists them all with their meaning, and a test keeps
//! that file equal to [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::relay_proto::{MAX_FETCH, RelayLimits, pow};
use cairn_proto::wire::ENVELOPE_LEN;
use serde::{Deserialize, Serialize};

use crate::store::Policy;

/// The onion service's virtual port unless `listen.onion_port` says otherwise.
pub const DEFAULT_ONION_PORT: u16 = 7447;

/// The annotated example configuration: every option with its default.
pub const EXAMPLE: &str = include_str!("../cairn-relay.example.toml");

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        source: Box<toml::de::Error>,
    },
    /// An option has a value the relay cannot work with.
    #[error("config option {option}: {problem}")]
    Invalid {
        /// The option, as `section.name`.
        option: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// The whole configuration (see `cairn-relay.example.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory of the store and the status file.
    pub data_dir: PathBuf,
    /// Where the relay listens.
    pub listen: Listen,
    /// Per-connection and server-wide bounds.
    pub limits: Limits,
    /// Storage bounds and retention.
    pub storage: Storage,
    /// Diagnostic output.
    pub log: Log,
    /// Threads.
    pub runtime: Runtime,
    /// The Tor client of the onion listener.
    pub tor: Tor,
}

/// `[tor]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tor {
    /// An arti configuration file naming a private Tor network (tests and
    /// closed deployments). Absent: the public Tor network.
    pub network_config: Option<PathBuf>,
}

/// `[listen]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Loopback TCP addresses of the relay protocol.
    pub tcp: Vec<SocketAddr>,
    /// Allow non-loopback TCP addresses (exposes client IP addresses).
    pub allow_non_loopback_tcp: bool,
    /// Serve as a Tor onion service through arti (key in `data_dir/onion_key`).
    pub onion: bool,
    /// Virtual port of the onion service.
    pub onion_port: u16,
    /// Serve the metrics endpoint.
    pub metrics_enabled: bool,
    /// Loopback address of the metrics endpoint.
    pub metrics: SocketAddr,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: u32,
    /// Mailboxes one connection may use.
    pub max_mailboxes_per_connection: u16,
    /// Sustained requests per second per connection.
    pub requests_per_second: u32,
    /// Burst of requests above the rate.
    pub burst: u32,
    /// Posts in flight per connection.
    pub max_inflight_posts: u16,
    /// Envelopes per fetch.
    pub max_fetch: u16,
    /// Proof-of-work difficulty for new mailboxes (0: off).
    pub pow_difficulty: u8,
    /// Idle seconds before a connection is closed.
    pub idle_timeout_secs: u32,
    /// Seconds to receive the hello.
    pub handshake_timeout_secs: u32,
    /// Seconds to write one frame.
    pub write_timeout_secs: u32,
    /// Live pushes queued per connection.
    pub push_queue: u32,
    /// Bytes of fetch pages in flight over all connections.
    pub output_budget_bytes: u64,
    /// Posts queued for the writer.
    pub writer_queue: u32,
    /// Seconds to wait for in-flight posts at shutdown.
    pub shutdown_grace_secs: u32,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Envelope bytes kept in total.
    pub max_total_bytes: u64,
    /// Envelope bytes per mailbox.
    pub max_mailbox_bytes: u64,
    /// Mailboxes kept.
    pub max_mailboxes: u32,
    /// Seconds an envelope is kept.
    pub retention_secs: u64,
    /// Seconds between retention sweeps.
    pub sweep_interval_secs: u32,
    /// redb page cache bytes.
    pub cache_bytes: u64,
    /// Group-commit window in microseconds.
    pub commit_window_micros: u32,
    /// Most posts per commit.
    pub max_batch: u32,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// Output format.
    pub format: LogFormat,
    /// Most verbose level written.
    pub level: LogLevel,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default: start, stop, listeners, sweeps.
    Info,
    /// Per-connection events (still no addresses or mailbox ids).
    Debug,
    /// Everything.
    Trace,
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Runtime {
    /// Async worker threads.
    pub worker_threads: u16,
    /// Threads for store reads.
    pub blocking_threads: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/cairn-relay"),
            listen: Listen::default(),
            limits: Limits::default(),
            storage: Storage::default(),
            log: Log::default(),
            runtime: Runtime::default(),
            tor: Tor::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            tcp: vec![SocketAddr::from(([127, 0, 0, 1], 7447))],
            allow_non_loopback_tcp: false,
            onion: false,
            onion_port: DEFAULT_ONION_PORT,
            metrics_enabled: true,
            metrics: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let proto = RelayLimits::default();
        Self {
            max_connections: 1000,
            max_mailboxes_per_connection: proto.max_mailboxes,
            requests_per_second: proto.requests_per_second,
            burst: proto.burst,
            max_inflight_posts: proto.max_inflight,
            max_fetch: proto.max_fetch,
            pow_difficulty: 0,
            idle_timeout_secs: proto.idle_timeout_secs,
            handshake_timeout_secs: 10,
            write_timeout_secs: 30,
            push_queue: 16,
            output_budget_bytes: 16 << 20,
            writer_queue: 1024,
            shutdown_grace_secs: 5,
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            max_total_bytes: 2 << 30,
            max_mailbox_bytes: 64 << 20,
            max_mailboxes: 10_000,
            retention_secs: 30 * 24 * 3600,
            sweep_interval_secs: 60,
            cache_bytes: 16 << 20,
            commit_window_micros: 1000,
            max_batch: 64,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self { format: LogFormat::Plain, level: LogLevel::Info }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self { worker_threads: 2, blocking_threads: 4 }
    }
}

fn invalid(option: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { option, problem: problem.into() }
}

fn at_least<T: PartialOrd + std::fmt::Display>(
    option: &'static str,
    value: T,
    min: T,
) -> Result<(), ConfigError> {
    if value < min { Err(invalid(option, format!("must be at least {min}"))) } else { Ok(()) }
}

impl Config {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::parse(&text)
            .map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (without the checks of [`Config::validate`]).
    pub fn parse(text: &str) -> Result<Self, Box<toml::de::Error>> {
        toml::from_str(text).map_err(Box::new)
    }

    /// Checks that every option is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen.validate()?;
        self.limits.validate()?;
        self.storage.validate()?;
        at_least("runtime.worker_threads", self.runtime.worker_threads, 1)?;
        at_least("runtime.blocking_threads", self.runtime.blocking_threads, 1)
    }

    /// The limits announced to and enforced on each connection.
    pub fn relay_limits(&self) -> RelayLimits {
        let l = &self.limits;
        RelayLimits {
            max_mailboxes: l.max_mailboxes_per_connection,
            max_fetch: l.max_fetch,
            max_inflight: l.max_inflight_posts,
            requests_per_second: l.requests_per_second,
            burst: l.burst,
            pow_difficulty: l.pow_difficulty,
            idle_timeout_secs: l.idle_timeout_secs,
        }
    }

    /// The storage policy (limits in envelopes).
    pub fn policy(&self) -> Policy {
        let per = ENVELOPE_LEN as u64;
        Policy {
            max_total_envelopes: self.storage.max_total_bytes / per,
            max_mailbox_envelopes: self.storage.max_mailbox_bytes / per,
            max_mailboxes: u64::from(self.storage.max_mailboxes),
            pow_difficulty: self.limits.pow_difficulty,
            retention_secs: self.storage.retention_secs,
        }
    }

    /// The group-commit window.
    pub fn commit_window(&self) -> Duration {
        Duration::from_micros(u64::from(self.storage.commit_window_micros))
    }
}

impl Listen {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.onion && self.onion_port == 0 {
            return Err(invalid("listen.onion_port", "must be a port number from 1 to 65535"));
        }
        if !self.allow_non_loopback_tcp
            && let Some(a) = self.tcp.iter().find(|a| !a.ip().is_loopback())
        {
            let msg = format!("{a} is not loopback (see listen.allow_non_loopback_tcp)");
            return Err(invalid("listen.tcp", msg));
        }
        if self.metrics_enabled && !self.metrics.ip().is_loopback() {
            return Err(invalid("listen.metrics", "the metrics endpoint must be loopback"));
        }
        if self.tcp.is_empty() && !self.onion {
            return Err(invalid(
                "listen.tcp",
                "no listener configured (set listen.tcp or listen.onion)",
            ));
        }
        Ok(())
    }
}

impl Limits {
    fn validate(&self) -> Result<(), ConfigError> {
        at_least("limits.max_connections", self.max_connections, 1)?;
        at_least("limits.max_mailboxes_per_connection", self.max_mailboxes_per_connection, 1)?;
        at_least("limits.requests_per_second", self.requests_per_second, 1)?;
        at_least("limits.burst", self.burst, 1)?;
        at_least("limits.max_inflight_posts", self.max_inflight_posts, 1)?;
        at_least("limits.max_fetch", self.max_fetch, 1)?;
        if self.max_fetch > MAX_FETCH {
            return Err(invalid("limits.max_fetch", format!("must be at most {MAX_FETCH}")));
        }
        if self.pow_difficulty > pow::MAX_DIFFICULTY {
            let msg = format!("must be at most {}", pow::MAX_DIFFICULTY);
            return Err(invalid("limits.pow_difficulty", msg));
        }
        at_least("limits.idle_timeout_secs", self.idle_timeout_secs, 1)?;
        at_least("limits.handshake_timeout_secs", self.handshake_timeout_secs, 1)?;
        at_least("limits.write_timeout_secs", self.write_timeout_secs, 1)?;
        at_least("limits.push_queue", self.push_queue, 1)?;
        // One full page must fit, or a fetch would wait forever.
        let page = u64::from(self.max_fetch) * (ENVELOPE_LEN as u64 + 16);
        at_least("limits.output_budget_bytes", self.output_budget_bytes, page)?;
        at_least("limits.writer_queue", self.writer_queue, 1)
    }
}

impl Storage {
    fn validate(&self) -> Result<(), ConfigError> {
        let one = ENVELOPE_LEN as u64;
        at_least("storage.max_mailbox_bytes", self.max_mailbox_bytes, one)?;
        at_least("storage.max_total_bytes", self.max_total_bytes, self.max_mailbox_bytes)?;
        at_least("storage.max_mailboxes", self.max_mailboxes, 1)?;
        at_least("storage.retention_secs", self.retention_secs, 1)?;
        at_least("storage.sweep_interval_secs", self.sweep_interval_secs, 1)?;
        at_least("storage.cache_bytes", self.cache_bytes, 1 << 20)?;
        at_least("storage.max_batch", self.max_batch, 1)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_example_is_the_default() {
        let parsed = Config::parse(EXAMPLE).expect("example parses");
        assert_eq!(parsed, Config::default());
        parsed.validate().expect("defaults are valid");
    }

    #[test]
    fn every_option_is_in_the_example_and_the_readme() {
        let readme = include_str!("../README.md");
        let table = toml::Table::try_from(Config::default()).expect("serialises");
        for (section, value) in &table {
            let names: Vec<&str> = match value.as_table() {
                Some(t) => t.keys().map(String::as_str).collect(),
                None => vec![section.as_str()],
            };
            for name in names {
                let line = format!("\n{name} = ");
                assert!(EXAMPLE.contains(&line), "{section}.{name} missing from the example");
                let doc = format!("`{name}`");
                assert!(readme.contains(&doc), "{section}.{name} missing from relay/README.md");
            }
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_option_name() {
        let refused = |text: &str| match Config::parse(text).map(|c| c.validate()) {
            Ok(Err(ConfigError::Invalid { option, .. })) => option,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(refused("[listen]\ntcp = [\"0.0.0.0:1\"]"), "listen.tcp");
        assert_eq!(refused("[listen]\ntcp = []"), "listen.tcp");
        assert_eq!(refused("[listen]\nonion = true\nonion_port = 0"), "listen.onion_port");
        assert_eq!(refused("[listen]\nmetrics = \"10.0.0.1:9\""), "listen.metrics");
        assert_eq!(refused("[limits]\nmax_fetch = 65"), "limits.max_fetch");
        assert_eq!(refused("[limits]\npow_difficulty = 33"), "limits.pow_difficulty");
        assert_eq!(refused("[storage]\nmax_total_bytes = 1000"), "storage.max_total_bytes");
        assert!(Config::parse("[limits]\nmax_conections = 5").is_err(), "unknown keys");
        let ok = "[listen]\ntcp = [\"10.1.2.3:7\"]\nallow_non_loopback_tcp = true";
        Config::parse(ok).expect("parses").validate().expect("allowed explicitly");
        let onion_only = "[listen]\ntcp = []\nonion = true\n[tor]\nnetwork_config = \"/x.toml\"";
        Config::parse(onion_only).expect("parses").validate().expect("an onion listener alone");
    }
}
