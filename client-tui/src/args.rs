//! The command line: `cairn`'s arguments and what each subcommand runs.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Global, admin, chat, group, identity, invite, task};
use crate::tui;

/// cairn: decentralized task-and-chat for groups that must not be found.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Without one: the terminal UI.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The terminal UI (also what `cairn` alone runs).
    ///
    /// Example: `cairn --profile ~/.cairn/work tui --color magenta`
    Tui {
        /// The colour the profile's name is shown in, remembered in the
        /// profile (a name such as cyan, magenta, light-red, or #rrggbb).
        #[arg(long)]
        color: Option<String>,
    },
    /// Make a new profile: a fresh identity sealed under a passphrase.
    ///
    /// Example: `cairn --profile ~/.cairn/work init`
    Init,
    /// Show, export or restore the identity.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Create, list and inspect groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Send and read chat.
    #[command(subcommand)]
    Chat(chat::ChatCommand),
    /// Create, assign, comment on, close and reopen tasks.
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// List and remove members.
    #[command(subcommand)]
    Member(admin::MemberCommand),
    /// Give and take roles.
    #[command(subcommand)]
    Role(admin::RoleCommand),
    /// Rotate the group's keys: a new epoch for every member.
    ///
    /// Example: `cairn rotate bastion`
    Rotate {
        /// Group name or id.
        group: String,
    },
    /// List, add and remove the group's relays.
    #[command(subcommand)]
    Relay(admin::RelayCommand),
    /// Make a one-time invite and wait for it: shows the redeemer's
    /// fingerprint and a short code to compare, then asks to admit them.
    ///
    /// Example: `cairn invite bastion --role member`
    Invite(invite::InviteArgs),
    /// Answer join requests: those a running `cairn invite` or `cairn run`
    /// on this profile waits on, and those other members who may invite
    /// shared with you (a join waiting at their node). Without CODE, lists
    /// them (name, fingerprint, short code); with CODE, admits the person
    /// who shows that code (or refuses, with `--deny`). Compare the code
    /// with the person first.
    ///
    /// Example: `cairn approve` then `cairn approve 123-456`
    Approve {
        /// The short code the person sees.
        code: Option<String>,
        /// Refuse instead of admitting.
        #[arg(long)]
        deny: bool,
    },
    /// Redeem an invite: shows a short code to compare with the inviter.
    ///
    /// Example: `cairn join cairn-invite1-… --name bob`
    Join {
        /// The invite string.
        invite: String,
        /// The name the inviter sees.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Fetch from peers now. With `--from ADDRESS.onion`, a restored
    /// identity finds its groups again at that member.
    ///
    /// Example: `cairn resync --from abcd…xyz.onion`
    Resync {
        /// A member's onion address.
        #[arg(long)]
        from: Option<String>,
    },
    /// This profile: identity, onion address, groups, outbox.
    ///
    /// Example: `cairn status --json`
    Status,
    /// Stay online: serve peers, follow the relays, send the outbox; print
    /// events until interrupted.
    ///
    /// Example: `cairn --profile ~/.cairn/work run`
    Run,
    /// Run the end-to-end demo: the `cairn-demo` program, when it sits
    /// next to this one (as after `cargo build --workspace`).
    ///
    /// The demo is its own program because it runs a relay server and a
    /// private Tor network, which the client does not link. Its arguments
    /// are passed on (`--headless`, `--loopback`, `--dir DIR`); from the
    /// source tree, `cargo run -p cairn-demo` builds and runs it.
    ///
    /// Example: `cairn demo --headless`
    Demo {
        /// The arguments for `cairn-demo`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Runs `cairn` with this process's arguments.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Tui { color: None });
    if let Command::Demo { args } = command {
        return demo(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cairn: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let g = cli.global;
    let outcome = runtime.block_on(async {
        match command {
            Command::Tui { color } => tui::run(&g, color).await,
            Command::Init => identity::init(&g),
            Command::Identity(c) => identity::run(&g, c),
            Command::Group(c) => group::run(&g, c).await,
            Command::Chat(c) => chat::run(&g, c).await,
            Command::Task(c) => task::run(&g, c).await,
            Command::Member(c) => admin::member(&g, c).await,
            Command::Role(c) => admin::role(&g, c).await,
            Command::Rotate { group } => admin::rotate(&g, group).await,
            Command::Relay(c) => admin::relay(&g, c).await,
            Command::Invite(a) => invite::invite(&g, a).await,
            Command::Approve { code, deny } => cli::approve::approve(&g, code, deny).await,
            Command::Join { invite: text, name } => invite::join(&g, &text, &name).await,
            Command::Resync { from } => invite::resync(&g, from).await,
            Command::Status => invite::status(&g).await,
            Command::Run => cli::run::run(&g).await,
            Command::Demo { .. } => Ok(()),
        }
    });
    // Do not hang on a stuck background task once the work is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    cli::finish(outcome)
}

/// The name of the demo's program (`cairn-demo`, `.exe` on Windows).
fn demo_program() -> String {
    format!("cairn-demo{}", std::env::consts::EXE_SUFFIX)
}

/// `cairn demo`: runs the `cairn-demo` program beside this one with `args`
/// and exits as it does; without it, says how to get it (exit 1).
fn demo(args: Vec<OsString>) -> ExitCode {
    let beside = std::env::current_exe().ok().map(|p| p.with_file_name(demo_program()));
    let Some(program) = beside.filter(|p| p.is_file()) else {
        eprintln!(
            "cairn: the demo is its own program, `cairn-demo` (it runs a relay and a private \
             Tor network, which this client does not link), and it is not next to this binary. \
             From the source tree: `cargo run -p cairn-demo` (add `-- --headless` for no TUI)."
        );
        return ExitCode::FAILURE;
    };
    match std::process::Command::new(&program).args(args).status() {
        Ok(status) => status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .map_or(ExitCode::FAILURE, ExitCode::from),
        Err(e) => {
            eprintln!("cairn: cannot run {}: {e}", program.display());
            ExitCode::FAILURE
        }
    }
}
