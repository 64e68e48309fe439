//! `cairn init` and `cairn identity show|export|restore`.

use cairn_net::node::{create_profile, open_profile, restore_profile};
use cairn_net::proto::identity::{Identity, KdfParams, parse_recovery, recovery_string};

use super::{Failure, Global, Outcome, hex};

/// `identity` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum IdentityCommand {
    /// Show this profile's public identity: key and onion address.
    ///
    /// Example: `cairn --profile ~/.cairn/work identity show`
    Show,
    /// Print the recovery string (write it on paper; anyone who has it IS you).
    ///
    /// Example: `cairn identity export`
    Export,
    /// Make a new profile from a recovery string read from `--recovery-file`
    /// (or standard input). The identity, and its onion address, come back;
    /// groups come back from peers and relays, and the profile signs nothing
    /// until its own latest messages are back.
    ///
    /// Example: `cairn --profile ~/.cairn/restored identity restore --recovery-file paper.txt`
    Restore {
        /// File holding the recovery string.
        #[arg(long)]
        recovery_file: Option<std::path::PathBuf>,
    },
    /// Let a restored identity sign again (only once you are sure its own
    /// latest messages are back: signing earlier forks your own chain).
    ///
    /// Example: `cairn identity confirm`
    Confirm,
}

/// `cairn init`: a new identity in a new profile.
pub(crate) fn init(g: &Global) -> Outcome {
    let passphrase = g.passphrase("new passphrase")?;
    let profile = create_profile(&g.profile(), &passphrase, KdfParams::DEFAULT)?;
    show(g, profile.identity());
    if !g.json {
        println!("profile created in {}", g.profile().display());
        println!("next: write down `cairn identity export`, then `cairn group create`");
    }
    Ok(())
}

pub(crate) fn run(g: &Global, command: IdentityCommand) -> Outcome {
    match command {
        IdentityCommand::Show => {
            let passphrase = g.passphrase("passphrase")?;
            let (_lock, profile) = open_profile(&g.profile(), &passphrase)?;
            show(g, profile.identity());
            Ok(())
        }
        IdentityCommand::Export => {
            let passphrase = g.passphrase("passphrase")?;
            let (_lock, profile) = open_profile(&g.profile(), &passphrase)?;
            let words = recovery_string(profile.identity().seed());
            if g.json {
                println!("{}", serde_json::json!({ "recovery": words.as_str() }));
            } else {
                println!("{}", words.as_str());
            }
            Ok(())
        }
        IdentityCommand::Restore { recovery_file } => restore(g, recovery_file),
        IdentityCommand::Confirm => {
            let passphrase = g.passphrase("passphrase")?;
            let (_lock, profile) = open_profile(&g.profile(), &passphrase)?;
            let mut core = cairn_net::node::profile::Core::open(profile)?;
            core.confirm_restored()?;
            println!("confirmed: this identity signs again");
            Ok(())
        }
    }
}

fn restore(g: &Global, file: Option<std::path::PathBuf>) -> Outcome {
    let text = match file {
        Some(f) => std::fs::read_to_string(&f)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?,
        None => {
            eprint!("recovery string: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::input(format!("cannot read the recovery string: {e}")))?;
            line
        }
    };
    let seed = parse_recovery(text.trim())
        .map_err(|e| Failure::input(format!("not a valid recovery string: {e}")))?;
    let passphrase = g.passphrase("new passphrase")?;
    let profile = restore_profile(&g.profile(), seed, &passphrase, KdfParams::DEFAULT)?;
    show(g, profile.identity());
    if !g.json {
        println!("restored; run `cairn resync` to bring your groups back");
    }
    Ok(())
}

fn show(g: &Global, identity: &Identity) {
    let key = hex(&identity.public_key().0);
    let onion = identity.onion_address();
    if g.json {
        println!("{}", serde_json::json!({ "identity": key, "onion": onion.as_str() }));
    } else {
        println!("identity {key}");
        println!("onion    {}", onion.as_str());
    }
}
