//! Integration-test harness for cairn.

// A shell: clocks and the OS RNG belong here, not in cairn-proto (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
