//! `cairn`: the terminal client.
//!
//! Without a subcommand (or with `tui`), the terminal UI (`tui`); the CLI
//! subcommands script the same node (`cli`); the arguments and what each
//! subcommand runs are in `args`. The `cairn` binary is [`run`]; the demo
//! (the `cairn-demo` crate) opens the same terminal UI on a node it runs
//! with [`run_tui`]. The client talks to relays only over the wire: it
//! links no relay server and no test network.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// A command-line program prints its results on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod cli;
mod text;
mod tui;

pub use args::run;
#[doc(hidden)]
pub use tui::bench;
pub use tui::{Extras, run_tui};
