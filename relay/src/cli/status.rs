//! `cairn-relay status`, and the run-time file it reads.
//!
//! A running relay writes `running.toml` in its data directory: its process
//! id, what it listens on and the bound metrics address (which a config with
//! port 0 does not know). `status` reads that file, fetches the counters
//! from the loopback endpoint and prints a summary.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::RelayError;
use crate::config::Config;
use crate::metrics::{fetch, value_of};

/// The run-time file in the data directory.
pub const RUNNING_FILE: &str = "running.toml";

/// What `running.toml` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// The relay's process id.
    pub pid: u32,
    /// Each listener, as printed at start (`tcp 127.0.0.1:7447`, later an
    /// onion address).
    pub listeners: Vec<String>,
    /// The bound metrics endpoint, if enabled.
    pub metrics: Option<SocketAddr>,
}

impl Running {
    /// Writes the file (replacing an older one).
    pub fn write(&self, dir: &Path) -> Result<(), RelayError> {
        let path = dir.join(RUNNING_FILE);
        let text = toml::to_string(self).unwrap_or_default();
        let tmp = dir.join(format!("{RUNNING_FILE}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| RelayError::File { action: "writing", path, source })
    }

    /// Reads the file of a running relay.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(RUNNING_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no running relay ({} missing)", path.display()))?;
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// Removes the file (at a clean stop).
    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(RUNNING_FILE));
    }
}

/// The rows of the summary: (label, metric name).
const SUMMARY: &[(&str, &str)] = &[
    ("uptime (s)", "cairn_relay_uptime_seconds"),
    ("connections open", "cairn_relay_connections_open"),
    ("connections total", "cairn_relay_connections_total"),
    ("connections refused", "cairn_relay_connections_refused_total"),
    ("mailboxes", "cairn_relay_mailboxes"),
    ("envelopes stored", "cairn_relay_stored_envelopes"),
    ("store file (bytes)", "cairn_relay_store_file_bytes"),
    ("resident memory (bytes)", "cairn_relay_resident_memory_bytes"),
    ("posts stored", "cairn_relay_posts_stored_total"),
    ("posts duplicate", "cairn_relay_posts_duplicate_total"),
    ("fetches", "cairn_relay_fetches_total"),
    ("pushes", "cairn_relay_pushes_total"),
    ("evicted (fair share)", "cairn_relay_evicted_total"),
    ("expired (retention)", "cairn_relay_expired_total"),
    ("slow readers cut", "cairn_relay_slow_readers_total"),
    ("store errors", "cairn_relay_store_errors_total"),
];

/// `cairn-relay status --config FILE`.
pub(super) fn run(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let running = Running::read(&config.data_dir)?;
    let addr = running.metrics.context("the relay runs without its metrics endpoint")?;
    let text = fetch(addr).with_context(|| format!("relay (pid {}) not answering", running.pid))?;
    let mut out = format!("cairn-relay running, pid {}\n", running.pid);
    for l in &running.listeners {
        out.push_str(&format!("  listening        {l}\n"));
    }
    out.push_str(&format!("  metrics          http://{addr}/metrics\n"));
    for (label, name) in SUMMARY {
        let v = value_of(&text, name).map_or_else(|| "?".to_owned(), |v| v.to_string());
        out.push_str(&format!("  {label:<24} {v}\n"));
    }
    super::out(&out)
}
