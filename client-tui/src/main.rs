//! `cairn`: the terminal client (the library's [`cairn::run`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    cairn::run()
}
