//! A private Tor network on 127.0.0.1, made of Debian's `tor` daemons, for
//! tests and the demo (`cairn-demo`) that need real onion services (see `shared/TORNET.md` for the
//! measured facts behind every choice here).
//!
//! [`TorNet::start`] generates (or reuses cached) node keys, writes the
//! torrcs, starts three directory authorities and a few relays, waits until
//! the consensus lists every node with `HSDir`, and writes the arti
//! configuration for the network ([`TorNet::arti_config_path`]). Dropping
//! the [`TorNet`] stops every tor by the PID in its pid file, also when a
//! test panics. If the test process is killed instead, every tor exits by
//! itself within about 15 s: each torrc names the test process in
//! `__OwningControllerProcess`.
//!
//! [`TorNet::shared`] hands out one network per test process while any test
//! holds it. Tests that need the network should live in one test function
//! per test binary: nextest runs every test in its own process, so each
//! test function would otherwise bring up a network of its own.
//!
//! Environment:
//! * `CAIRN_TORNET_KEYS`: cache directory for node keys (default
//!   `<target dir>/<profile>/tornet-keys`).
//! * `CAIRN_TORNET_KEEP=1`: keep the run directory (torrcs, logs, arti
//!   state) after the network is stopped, for debugging.

// A test harness: clocks and processes belong here (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod consensus;
mod keys;
mod process;
mod torrc;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::torrc::{Node, Role};

/// How long the authorities may take to publish a consensus listing every
/// node (measured: 15–20 s).
const CONSENSUS_TIMEOUT: Duration = Duration::from_secs(90);

/// Ports reserved per network (two per node).
const PORTS_PER_NETWORK: u16 = 32;

/// The relays started beside the three directory authorities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Middle relays.
    pub relays: usize,
    /// Exit relays. Their policy accepts every address and port (arti only
    /// uses exits whose microdescriptor port summary, which ignores private
    /// addresses, accepts the port); only this network's clients use them.
    /// Tests use one to show that a transport which leaked a non-onion
    /// connection would have reached a local listener.
    pub exits: usize,
}

impl Default for Layout {
    /// Three authorities, two relays and one exit (see
    /// `protocol-spec/transport.md`, "Testing", for the measurements).
    /// arti's onion-service circuits need four distinct `Fast` + `Stable`
    /// relays; authorities give `Stable` only to nodes whose uptime is at
    /// least the median, so a young network of five nodes often has too few.
    fn default() -> Self {
        Self { relays: 2, exits: 1 }
    }
}

/// How long each phase of the bring-up took.
#[derive(Clone, Copy, Debug)]
pub struct BringUp {
    /// Generating or loading the node keys.
    pub keys: Duration,
    /// Starting every tor until it daemonized.
    pub start: Duration,
    /// Waiting for a consensus listing every node with `HSDir`.
    pub consensus: Duration,
    /// All of the above.
    pub total: Duration,
}

/// A running private Tor network; dropping it stops every tor.
#[derive(Debug)]
pub struct TorNet {
    run_dir: PathBuf,
    keep: bool,
    nodes: Vec<Node>,
    arti_config: PathBuf,
    bring_up: BringUp,
}

static SHARED: Mutex<Weak<TorNet>> = Mutex::new(Weak::new());

impl TorNet {
    /// The network of this process, started with [`Layout::default`] on the
    /// first call. It stays up while any caller holds the returned `Arc`.
    pub fn shared() -> Result<Arc<TorNet>> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(net) = slot.upgrade() {
            return Ok(net);
        }
        let net = Arc::new(Self::start(Layout::default())?);
        *slot = Arc::downgrade(&net);
        Ok(net)
    }

    /// Starts a network of three directory authorities plus `layout`, and
    /// returns once every node is in the consensus with `HSDir`.
    pub fn start(layout: Layout) -> Result<Self> {
        let t0 = Instant::now();
        let mut roles = vec![Role::Authority; 3];
        roles.extend(std::iter::repeat_n(Role::Relay, layout.relays));
        roles.extend(std::iter::repeat_n(Role::Exit, layout.exits));
        let base = free_port_base(roles.len())?;
        let cache = key_cache_dir();
        let nodes = roles
            .iter()
            .enumerate()
            .map(|(i, &role)| {
                let nickname = match role {
                    Role::Authority => format!("auth{i}"),
                    Role::Relay => format!("relay{i}"),
                    Role::Exit => format!("exit{i}"),
                };
                let keys = keys::node_keys(&cache, &nickname, role == Role::Authority)?;
                let or_port = base + 2 * u16::try_from(i).context("too many nodes")?;
                Ok(Node { nickname, role, or_port, dir_port: or_port + 1, keys })
            })
            .collect::<Result<Vec<_>>>()?;
        let keys_done = t0.elapsed();

        let run_dir = tempfile::Builder::new()
            .prefix("cairn-tornet-")
            .tempdir()
            .context("creating the run directory")?
            .keep();
        let keep = std::env::var_os("CAIRN_TORNET_KEEP").is_some_and(|v| v != "0");
        // From here on, dropping `net` stops whatever was started.
        let net = TorNet {
            arti_config: run_dir.join("arti-network.toml"),
            run_dir,
            keep,
            nodes,
            bring_up: BringUp {
                keys: keys_done,
                start: Duration::ZERO,
                consensus: Duration::ZERO,
                total: Duration::ZERO,
            },
        };
        net.write_files()?;
        net.start_processes(t0, keys_done)
    }

    fn write_files(&self) -> Result<()> {
        let authorities: Vec<Node> =
            self.nodes.iter().filter(|n| n.role == Role::Authority).cloned().collect();
        let owner = std::process::id();
        for node in &self.nodes {
            let dir = self.node_dir(node);
            keys::install(&node.keys, &dir)?;
            let text = torrc::torrc(node, &self.nodes, &dir, owner);
            fs::write(dir.join("torrc"), text).context("writing a torrc")?;
        }
        fs::write(&self.arti_config, torrc::arti_toml(&authorities))
            .context("writing the arti configuration")
    }

    fn start_processes(mut self, t0: Instant, keys_done: Duration) -> Result<Self> {
        let (authorities, relays): (Vec<&Node>, Vec<&Node>) =
            self.nodes.iter().partition(|n| n.role == Role::Authority);
        let dirs = |nodes: Vec<&Node>| -> Vec<PathBuf> {
            nodes.iter().map(|n| self.node_dir(n)).collect()
        };
        let (authorities, relays) = (dirs(authorities), dirs(relays));
        process::start_all(&authorities.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
        process::start_all(&relays.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
        let started = t0.elapsed();
        self.wait_for_consensus()?;
        let total = t0.elapsed();
        self.bring_up = BringUp {
            keys: keys_done,
            start: started - keys_done,
            consensus: total - started,
            total,
        };
        Ok(self)
    }

    /// Polls every authority until each serves a consensus that passes
    /// [`consensus::check_ready`].
    fn wait_for_consensus(&self) -> Result<()> {
        let deadline = Instant::now() + CONSENSUS_TIMEOUT;
        let nicks = |exits_only: bool| -> Vec<&str> {
            self.nodes
                .iter()
                .filter(|n| !exits_only || n.role == Role::Exit)
                .map(|n| n.nickname.as_str())
                .collect()
        };
        let (all, exits) = (nicks(false), nicks(true));
        let authorities: Vec<&Node> =
            self.nodes.iter().filter(|n| n.role == Role::Authority).collect();
        loop {
            let verdict = authorities.iter().try_for_each(|a| {
                let consensus = consensus::fetch(a.dir_port)
                    .ok_or_else(|| format!("{} serves no consensus yet", a.nickname))?;
                consensus::check_ready(&consensus, &all, &exits)
            });
            let Err(why) = verdict else { return Ok(()) };
            if Instant::now() > deadline {
                let logs: String =
                    self.nodes.iter().map(|n| process::log_tail(&self.node_dir(n))).collect();
                bail!(
                    "the network is not ready for onion services after {CONSENSUS_TIMEOUT:?}: \
                     {why}; logs:{logs}"
                );
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    fn node_dir(&self, node: &Node) -> PathBuf {
        self.run_dir.join("nodes").join(&node.nickname)
    }

    /// The arti configuration (TOML) for this network: authorities,
    /// fallback caches, `allow_local_addrs` and the subnet family prefixes.
    /// Storage and keystore settings are left to the client.
    pub fn arti_config_path(&self) -> &Path {
        &self.arti_config
    }

    /// A fresh, private (0700) directory under the run directory, for arti
    /// state and cache directories. Removed with the network unless
    /// `CAIRN_TORNET_KEEP` is set.
    pub fn scratch_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.scratch_root().join(name);
        if dir.exists() {
            bail!("scratch directory {name} already exists");
        }
        keys::make_private_dir(&dir)?;
        Ok(dir)
    }

    /// The parent of every [`scratch_dir`](Self::scratch_dir).
    pub fn scratch_root(&self) -> PathBuf {
        self.run_dir.join("scratch")
    }

    /// How long the bring-up took.
    pub fn bring_up(&self) -> BringUp {
        self.bring_up
    }

    /// The flags of every node in the first authority's current consensus,
    /// one `nickname: flags` line each (for diagnostics).
    pub fn consensus_flags(&self) -> String {
        let Some(first) = self.nodes.first() else { return String::new() };
        let consensus = consensus::fetch(first.dir_port).unwrap_or_default();
        consensus::flags(&consensus)
            .iter()
            .map(|(nick, flags)| {
                format!(
                    "{nick}: {}\n",
                    flags.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
                )
            })
            .collect()
    }

    /// A one-line description of the network and its bring-up time.
    pub fn summary(&self) -> String {
        let count = |r: Role| self.nodes.iter().filter(|n| n.role == r).count();
        let b = self.bring_up;
        format!(
            "private Tor network: {} authorities + {} relays + {} exits up in {:.1} s \
             (keys {:.1} s, start {:.1} s, consensus {:.1} s) at {}",
            count(Role::Authority),
            count(Role::Relay),
            count(Role::Exit),
            b.total.as_secs_f64(),
            b.keys.as_secs_f64(),
            b.start.as_secs_f64(),
            b.consensus.as_secs_f64(),
            self.run_dir.display(),
        )
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        let dirs: Vec<PathBuf> = self.nodes.iter().map(|n| self.node_dir(n)).collect();
        // In parallel: each stop may wait up to two seconds.
        thread::scope(|s| {
            for dir in &dirs {
                s.spawn(move || process::stop(dir));
            }
        });
        if !self.keep {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// A base port for this process: derived from the PID (so parallel test
/// processes rarely collide) and checked free on 127.0.0.1.
fn free_port_base(nodes: usize) -> Result<u16> {
    let needed = u16::try_from(2 * nodes).ok().filter(|&n| n <= PORTS_PER_NETWORK);
    let Some(needed) = needed else { bail!("too many nodes for one port range") };
    const FIRST: u32 = 15_000;
    const SLOTS: u32 = 1_500; // 15000 + 1500 * 32 = 63000
    let start = std::process::id().wrapping_mul(7_919) % SLOTS;
    for i in 0..SLOTS {
        let slot = (start + i) % SLOTS;
        let base = u16::try_from(FIRST + slot * u32::from(PORTS_PER_NETWORK))
            .context("port out of range")?;
        if (base..base + needed).all(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("no free range of {needed} ports on 127.0.0.1")
}

/// Where node keys are cached between runs.
fn key_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_TORNET_KEYS") {
        return PathBuf::from(dir);
    }
    // Test binaries live in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|p| p.join("tornet-keys")))
        .unwrap_or_else(|| std::env::temp_dir().join("cairn-tornet-keys"))
}
