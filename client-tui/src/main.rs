//! `cairn`: the terminal client.
//!
//! Today it runs the protocol-core demo (`cairn demo`); the TUI and the
//! group, task and chat commands arrive with the client issue.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// A command-line program prints its results on stdout.
#![allow(clippy::print_stdout)]

mod demo;

use clap::{Parser, Subcommand};

/// cairn: decentralized task-and-chat for groups that must not be found.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo of what works today and verify every step.
    ///
    /// Two members with real encrypted profiles (Argon2id key files, redb
    /// stores) exchange signed, sealed messages as fixed-size envelopes; the
    /// demo tampers, withholds and equivocates and shows each detected.
    /// Example: `cairn demo --headless`
    Demo {
        /// Print the summary only (no TUI; the TUI arrives with the client issue).
        #[arg(long)]
        headless: bool,
        /// Keep the demo profiles in this directory instead of a temporary one.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { headless, dir } => demo::run(headless, dir),
    }
}
