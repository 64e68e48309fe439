//! `cairn-bench`: the scale benchmark of issue 14.
//!
//! `cargo run --release -p cairn-bench` builds a group (a founder, three
//! writing members), writes a history of chats, tasks and comments through
//! [`Replica::write`](cairn_proto::replica::Replica::write), and prints one
//! JSON line per figure — `{"name", "value", "unit", "limit_name",
//! "limit_value", "ratio"}` — then a human table on stderr. The limits are
//! measured in the same run. Options:
//!
//! * `--sizes 10000,20000,40000,100000`: history lengths (in messages);
//! * `--members 500`: the group size of the `fold` figure;
//! * `--sync-max 20000`: the largest size the `sync` figures run at (their
//!   history is written through `Node::act`, two durable commits a line:
//!   100k lines take the better part of an hour to write);
//! * `--budget-ms 1000`: time spent on each raw limit;
//! * `--only apply,write,fold,client,sync,relay,onion`: run only these
//!   figure groups (the limits are always measured); all but `onion` by
//!   default (`onion` needs Debian's `tor` and about a minute to start a
//!   private Tor network).
//!
//! Figures: `apply` (a member applying the history from envelopes, against
//! raw batch verification, and `apply_vs_crypto` against raw batch
//! verification plus the AEAD open each envelope needs), `memory` (its
//! resident memory),
//! `write` (chat writes), `persist` (the applying member's durable commit),
//! `causal` (causal bookkeeping per message), `open` (reopening the
//! applying member's replica from its store), `fold` (removing one member
//! of a large group, with its rekey), `client` (first screen, keypress
//! latency during a sync, memory), `sync` (a new member catching up from
//! a peer and from a relay, real nodes over loopback TCP), `relay` (the real
//! relay's ingest, fetch, disk and memory), and each per-message cost's
//! growth against its value at the smallest size.

// A bench binary: clocks belong here (cairn-proto bans them), and its
// output is stdout.
#![allow(clippy::disallowed_methods, clippy::disallowed_types, clippy::print_stdout)]

mod client;
mod figures;
mod limits;
mod onion;
mod relay;
mod report;
mod sync;
mod world;

use std::time::Duration;

/// The command line.
struct Args {
    sizes: Vec<usize>,
    members: usize,
    budget: Duration,
    sync_max: usize,
    only: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![10_000, 20_000, 40_000, 100_000],
        members: 500,
        budget: Duration::from_secs(1),
        sync_max: 20_000,
        only: figures::GROUPS.iter().map(|g| (*g).to_owned()).filter(|g| g != "onion").collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |s: &str| s.trim().parse::<usize>().map_err(|e| format!("{flag} {s}: {e}"));
        match flag.as_str() {
            "--sizes" => args.sizes = value.split(',').map(number).collect::<Result<_, _>>()?,
            "--members" => args.members = number(&value)?,
            "--budget-ms" => args.budget = Duration::from_millis(number(&value)? as u64),
            "--sync-max" => args.sync_max = number(&value)?,
            "--only" => {
                args.only = value.split(',').map(|g| g.trim().to_owned()).collect();
                if let Some(bad) = args.only.iter().find(|g| !figures::GROUPS.contains(&g.as_str()))
                {
                    return Err(format!("--only: no figure group {bad}"));
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    args.sizes.sort_unstable();
    args.sizes.dedup();
    if args.sizes.is_empty() || args.sizes[0] == 0 || args.members < 3 {
        return Err("sizes must be positive and members at least 3".into());
    }
    Ok(args)
}

fn main() {
    if client::rss_child() {
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "cairn-bench: {e}\nusage: cairn-bench [--sizes N,N,..] [--members N] [--budget-ms N] [--sync-max N] [--only GROUP,..]"
            );
            std::process::exit(2);
        }
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("cairn-bench: load average at start {}", load.trim());
    let report = figures::run(&args.sizes, args.members, args.budget, args.sync_max, &args.only);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("\n{}\nload average at end {}", report.table(), load.trim());
}
