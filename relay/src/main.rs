//! The `cairn-relay` binary; see `cairn-relay --help` and `relay/README.md`.

fn main() -> std::process::ExitCode {
    cairn_relay::cli::main()
}
