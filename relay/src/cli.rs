//! The `cairn-relay` command line: `run`, `status`, `check-config`,
//! `example-config`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_net::{Listener, TcpLoopbackListener};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{Config, EXAMPLE};
use crate::listener::onion::OnionRelayListener;
use crate::listener::{describe, onion_key};
use crate::{Relay, RelayError, logging};

mod status;

pub use status::{RUNNING_FILE, Running};

/// Text after `--help`: every configuration option.
const CONFIG_HELP: &str = concat!(
    "Configuration file (TOML). Every option, with its default:\n\n",
    include_str!("../cairn-relay.example.toml")
);

/// cairn-relay: an untrusted, bounded store-and-forward relay for cairn
/// groups. It stores fixed-size encrypted envelopes per mailbox, checks that
/// each post is signed by the mailbox's write key, and learns nothing about
/// who its users are.
#[derive(Debug, Parser)]
#[command(name = "cairn-relay", version, after_long_help = CONFIG_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay until SIGTERM or SIGINT (then finish acknowledged work
    /// and exit 0). Prints each listening address, then `ready`.
    #[command(after_long_help = CONFIG_HELP)]
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the counters of the running relay (read from its loopback
    /// metrics endpoint); exit 1 if it is not running.
    Status {
        /// The configuration file of the relay.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and print the effective configuration.
    #[command(after_long_help = CONFIG_HELP)]
    CheckConfig {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print an example configuration: every option with its default.
    ExampleConfig,
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(&config),
        Command::Status { config } => status::run(&config),
        Command::CheckConfig { config } => check_config(&config),
        Command::ExampleConfig => out(EXAMPLE),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "cairn-relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output.
fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("writing to stdout")
}

fn check_config(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let text = toml::to_string(&config).context("printing the configuration")?;
    out(&format!("# {}: ok\n{text}", path.display()))
}

fn run(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(config.runtime.worker_threads))
        .max_blocking_threads(usize::from(config.runtime.blocking_threads))
        .thread_name("cairn-relay")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn serve(config: Config) -> Result<(), RelayError> {
    warn_about_file_limit(config.limits.max_connections);
    let relay = Relay::open(&config)?;
    let mut listeners: Vec<Box<dyn Listener>> = Vec::new();
    let mut described = Vec::new();
    for addr in &config.listen.tcp {
        let what = format!("tcp {addr}");
        let l = if config.listen.allow_non_loopback_tcp {
            TcpLoopbackListener::dangerously_bind_non_loopback(*addr).await
        } else {
            TcpLoopbackListener::bind(*addr).await
        };
        let l = l.map_err(|e| RelayError::Listen { what, source: std::io::Error::other(e) })?;
        described.push(describe(&l));
        listeners.push(Box::new(l));
    }
    if config.listen.onion {
        let key = onion_key::load_or_create(&config.data_dir)?;
        let l = OnionRelayListener::new(&config, key)?;
        described.push(describe(&l));
        listeners.push(Box::new(l));
    }
    let (metrics, metrics_addr) = bind_metrics(&config).await?;
    let running = Running { pid: std::process::id(), listeners: described, metrics: metrics_addr };
    running.write(&config.data_dir)?;
    announce(&running);
    tracing::info!(
        listeners = ?running.listeners,
        envelopes = relay.counters().stored_envelopes.load(std::sync::atomic::Ordering::Relaxed),
        "relay started"
    );
    let result = relay.run(listeners, metrics, shutdown_signal()).await;
    Running::remove(&config.data_dir);
    result
}

async fn bind_metrics(
    config: &Config,
) -> Result<(Option<TcpListener>, Option<SocketAddr>), RelayError> {
    if !config.listen.metrics_enabled {
        return Ok((None, None));
    }
    let addr = config.listen.metrics;
    let listen_err = |source| RelayError::Listen { what: format!("metrics {addr}"), source };
    let l = TcpListener::bind(addr).await.map_err(listen_err)?;
    let bound = l.local_addr().map_err(listen_err)?;
    Ok((Some(l), Some(bound)))
}

/// Prints where the relay listens (scripts and tests read these lines).
fn announce(running: &Running) {
    let mut lines = String::new();
    for l in &running.listeners {
        lines.push_str(&format!("listening {l}\n"));
    }
    if let Some(m) = running.metrics {
        lines.push_str(&format!("metrics http://{m}/metrics\n"));
    }
    lines.push_str("ready\n");
    let _ = out(&lines);
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop the relay with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// Warns when the open-file limit cannot hold `max_connections`.
fn warn_about_file_limit(max_connections: u32) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else { return };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft
        && soft < u64::from(max_connections) + 64
    {
        tracing::warn!(soft, max_connections, "open-file limit is below max_connections + 64");
    }
}
