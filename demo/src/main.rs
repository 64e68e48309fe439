//! `cairn-demo`: the system end to end, every step verified; exit code 0
//! only if every step was.
//!
//! Its own program, not a `cairn` subcommand: it runs a relay server and a
//! private Tor network in process, which the client must not link (the
//! client talks to relays over the wire only). It opens the client's own
//! terminal UI (`cairn::run_tui`) for Alice.
//!
//! * `network`: members on their own onion services (a private Tor network
//!   when Debian's `tor` is installed, else loopback, announced), a real
//!   relay, invitations, chat, tasks, removal, catching up; Alice's TUI at
//!   the end unless `--headless`.
//! * `defences`: the protocol core against a hostile relay and a forking
//!   member (tampering, withholding, equivocation), identity recovery and
//!   durable storage, with an in-process relay stand-in that can misbehave.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// A command-line program prints its results on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod defences;
mod network;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rand_core::{Rng, UnwrapErr};

/// Run cairn end to end and verify every step.
///
/// On a private Tor network on this machine when Debian's `tor` is
/// installed (else loopback TCP, announced as not anonymous): a real relay
/// and three members on their own onion services found a group, invite and
/// approve, chat, work a task, remove a member and catch up after being
/// offline; then the protocol's defences against a hostile relay and a
/// forking member. Without `--headless`, Alice's terminal UI shows it live
/// and stays open at the end (Bob answers her). Exit code 0 only if every
/// step verified.
///
/// Example: `cairn-demo --headless`
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Print the verified steps only; no TUI (also when not on a terminal).
    #[arg(long)]
    headless: bool,
    /// Loopback TCP even if `tor` is installed (not anonymous).
    #[arg(long)]
    loopback: bool,
    /// Keep the demo profiles in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let Args { headless, loopback, dir } = Args::parse();
    run(headless, dir, loopback)
}

/// One verified (or failed) step.
struct Step {
    name: String,
    ok: bool,
    detail: String,
}

#[derive(Default)]
struct Report {
    steps: Vec<Step>,
    /// While a TUI shows the demo live: steps go to its notice line (the
    /// terminal is the TUI's), and the script waits `pace` between steps.
    narrator: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    pace: std::time::Duration,
}

impl Report {
    fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) -> bool {
        let (name, detail) = (name.into(), detail.into());
        let line = format!("[{}] {name}: {detail}", if ok { " ok " } else { "FAIL" });
        match &self.narrator {
            Some(n) => {
                let _ = n.send(format!("demo {line}"));
            }
            None => eprintln!("  {line}"),
        }
        self.steps.push(Step { name, ok, detail });
        ok
    }

    /// Lets a person watching the TUI follow (no wait when headless).
    async fn pause(&self) {
        tokio::time::sleep(self.pace).await;
    }
}

/// Runs the demo: `headless` prints the verified steps only; `loopback`
/// skips Tor even when it is installed.
fn run(headless: bool, dir: Option<PathBuf>, loopback: bool) -> ExitCode {
    use std::io::IsTerminal as _;
    let headless = headless || {
        let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
        if !tty {
            eprintln!("cairn-demo: not on a terminal: running headless (no TUI)");
        }
        !tty
    };
    let keep = dir.is_some();
    let root = dir.unwrap_or_else(|| {
        let n = UnwrapErr(getrandom::SysRng).next_u64();
        std::env::temp_dir().join(format!("cairn-demo-{n:016x}"))
    });
    eprintln!("cairn-demo: profiles in {}", root.display());
    let mut report = Report::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    eprintln!("part 1: on the network");
    match runtime {
        Ok(rt) => {
            let networked = rt.block_on(network::script(&root, loopback, !headless, &mut report));
            if let Err(e) = networked {
                report.check("network part ran to the end", false, format!("{e:#}"));
            }
            // The nodes' last tasks stop with the runtime.
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        Err(e) => {
            report.check("async runtime", false, e.to_string());
        }
    }
    eprintln!("part 2: the protocol's defences");
    if let Err(e) = defences::script(&root.join("defences"), &mut report) {
        report.check("defences part ran to the end", false, format!("{e:#}"));
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    let failed: Vec<&str> =
        report.steps.iter().filter(|s| !s.ok).map(|s| s.name.as_str()).collect();
    println!(
        "cairn-demo: {} steps, {} verified, {} failed",
        report.steps.len(),
        report.steps.len() - failed.len(),
        failed.len()
    );
    for s in &report.steps {
        println!("{} {} — {}", if s.ok { "ok  " } else { "FAIL" }, s.name, s.detail);
    }
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
