//! `cairn`: the terminal client.
//!
//! Only identity commands work today; the TUI and the group commands arrive
//! with the client issue.

fn main() {}
