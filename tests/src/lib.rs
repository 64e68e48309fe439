//! Integration-test harness for cairn.
//!
//! * [`tornet`]: a private Tor network on 127.0.0.1 for end-to-end tests
//!   over real onion services (the `cairn-tornet` crate, which the demo
//!   uses too).
//! * [`nodes`]: real nodes with real profiles, and waiting for them.
//! * [`proxy`]: a withholding relay (a proxy that hides pushes).
//! * [`relay_proc`]: runs the real relay binary.
//! * [`scan`]: looks for secrets in every file under a directory.
//! * [`sockets`]: the sockets a process holds, from /proc.
//! * [`tmux`]: a terminal program driven through tmux (keys in, screen out).

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod nodes;
pub mod proxy;
pub mod relay_proc;
pub mod scan;
pub mod sockets;
pub mod tmux;
pub use cairn_tornet as tornet;
