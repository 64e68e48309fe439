//! Diagnostic output (tracing) to standard error.
//!
//! What the relay logs is chosen so that a log leaks nothing about clients:
//! no addresses (listeners never hand them over), no mailbox ids, no
//! envelope bytes, no cursors. Connections are numbered from 1 at start,
//! and only at `debug` level.

use tracing::Level;

use crate::config::{Log, LogFormat, LogLevel};

fn level(l: LogLevel) -> Level {
    match l {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    }
}

/// Installs the global subscriber (once per process; later calls do nothing).
pub(crate) fn init(config: &Log) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level(config.level))
        .with_ansi(false)
        .with_target(false);
    let _ = match config.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
