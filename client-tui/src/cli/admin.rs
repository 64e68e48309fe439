//! `cairn member|role|relay …` and `cairn rotate`: who is in the group,
//! what they may do, where its messages wait, and its keys.

use cairn_net::node::Action;

use super::{Failure, Global, Outcome, act, find_group, hex, parse_key, report};
use crate::text;

/// `member` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum MemberCommand {
    /// List members with their roles.
    ///
    /// Example: `cairn member list bastion`
    List {
        /// Group name or id.
        group: String,
    },
    /// Remove a member. The keys rotate with the removal: the removed
    /// member reads nothing written afterwards.
    ///
    /// Example: `cairn member remove bastion 3f2a…`
    Remove {
        /// Group name or id.
        group: String,
        /// The member's identity key (hex).
        member: String,
    },
    /// Set the name you go by in the group (every member sees it; names
    /// are self-chosen, so look-alikes are shown with their key).
    ///
    /// Example: `cairn member name bastion "Ana (field team)"`
    Name {
        /// Group name or id.
        group: String,
        /// The name (at most 64 bytes, one line).
        name: String,
    },
}

/// `role` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum RoleCommand {
    /// Give a member a role you manage.
    ///
    /// Example: `cairn role assign bastion 3f2a… organizer`
    Assign {
        /// Group name or id.
        group: String,
        /// The member's identity key (hex).
        member: String,
        /// The role.
        role: String,
    },
    /// Take a role from a member (the role's keys rotate).
    ///
    /// Example: `cairn role revoke bastion 3f2a… organizer`
    Revoke {
        /// Group name or id.
        group: String,
        /// The member's identity key (hex).
        member: String,
        /// The role.
        role: String,
    },
}

/// `relay` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum RelayCommand {
    /// List the group's relays.
    ///
    /// Example: `cairn relay list bastion`
    List {
        /// Group name or id.
        group: String,
    },
    /// Add a relay (`ADDRESS.onion:7447`).
    ///
    /// Example: `cairn relay add bastion abcd…xyz.onion:7447`
    Add {
        /// Group name or id.
        group: String,
        /// The relay's address.
        address: String,
    },
    /// Remove a relay.
    ///
    /// Example: `cairn relay remove bastion abcd…xyz.onion:7447`
    Remove {
        /// Group name or id.
        group: String,
        /// The relay's address.
        address: String,
    },
}

pub(crate) async fn member(g: &Global, command: MemberCommand) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    match command {
        MemberCommand::List { group } => {
            let s = node.state(&find_group(&node, &group)?)?;
            for (k, m) in &s.members {
                let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
                if g.json {
                    let v =
                        serde_json::json!({ "member": hex(&k.0), "roles": roles, "name": m.name });
                    println!("{v}");
                } else {
                    let name = text::line(m.name.as_deref().unwrap_or("-"));
                    println!("{} {} {name}", hex(&k.0), text::line(&roles.join(",")));
                }
            }
        }
        MemberCommand::Remove { group, member } => {
            let id = find_group(&node, &group)?;
            let m = act(&node, Action::Remove { group: id, member: parse_key(&member)? })?;
            report(g, &node, "removed", &m).await;
        }
        MemberCommand::Name { group, name } => {
            let id = find_group(&node, &group)?;
            let m = act(&node, Action::SetName { group: id, name })?;
            report(g, &node, "named", &m).await;
        }
    }
    Ok(())
}

pub(crate) async fn role(g: &Global, command: RoleCommand) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    let (id, m) = match command {
        RoleCommand::Assign { group, member, role } => {
            let (group, member) = (find_group(&node, &group)?, parse_key(&member)?);
            (act(&node, Action::Role { group, member, role, assign: true })?, "assigned")
        }
        RoleCommand::Revoke { group, member, role } => {
            let (group, member) = (find_group(&node, &group)?, parse_key(&member)?);
            (act(&node, Action::Role { group, member, role, assign: false })?, "revoked")
        }
    };
    report(g, &node, m, &id).await;
    Ok(())
}

pub(crate) async fn rotate(g: &Global, group: String) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    let m = act(&node, Action::Rotate { group: find_group(&node, &group)? })?;
    report(g, &node, "rotated", &m).await;
    Ok(())
}

pub(crate) async fn relay(g: &Global, command: RelayCommand) -> Outcome {
    if let RelayCommand::Add { address, .. } | RelayCommand::Remove { address, .. } = &command {
        address
            .parse::<cairn_net::PeerAddr>()
            .map_err(|e| Failure::input(format!("relay {address:?}: {e}")))?;
    }
    let node = g.open().await?;
    node.start().await;
    node.sync(super::SYNC_WAIT).await;
    match command {
        RelayCommand::List { group } => {
            for r in node.state(&find_group(&node, &group)?)?.relays {
                println!("{}", text::line(&r));
            }
        }
        RelayCommand::Add { group, address } => {
            let id = find_group(&node, &group)?;
            let mut relays = node.state(&id)?.relays;
            if relays.contains(&address) {
                return Err(Failure::input("that relay is already in the list"));
            }
            relays.push(address);
            let m = act(&node, Action::SetRelays { group: id, relays })?;
            report(g, &node, "relays", &m).await;
        }
        RelayCommand::Remove { group, address } => {
            let id = find_group(&node, &group)?;
            let mut relays = node.state(&id)?.relays;
            let before = relays.len();
            relays.retain(|r| *r != address);
            if relays.len() == before {
                return Err(Failure::input("that relay is not in the list"));
            }
            let m = act(&node, Action::SetRelays { group: id, relays })?;
            report(g, &node, "relays", &m).await;
        }
    }
    Ok(())
}
