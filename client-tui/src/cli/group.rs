//! `cairn group create|list|show`.

use cairn_net::proto::group::{Rules, templates};

use super::{Failure, Global, Outcome, find_group, hex};

/// `group` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum GroupCommand {
    /// Found a group from a template or a rules file.
    ///
    /// Example: `cairn group create bastion --template organizer --relay abcd…xyz.onion:7447`
    Create {
        /// The group's name.
        name: String,
        /// A template: organizer (organizer/member/observer), pursuance, direct.
        #[arg(long, default_value = "organizer")]
        template: String,
        /// Rules in TOML instead of a template (`protocol-spec/group.md`).
        #[arg(long, conflicts_with = "template")]
        rules: Option<std::path::PathBuf>,
        /// A relay address (repeat for several).
        #[arg(long = "relay")]
        relays: Vec<String>,
    },
    /// List this profile's groups.
    ///
    /// Example: `cairn group list --json`
    List,
    /// Show a group's members, roles, relays and epoch.
    ///
    /// Example: `cairn group show bastion`
    Show {
        /// Group name or id (a unique prefix is enough).
        group: String,
    },
}

fn rules_of(template: &str, file: Option<&std::path::Path>) -> Result<Rules, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
        return Rules::from_toml(&text)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())));
    }
    match template {
        "organizer" => Ok(templates::organizer_member_observer()),
        "pursuance" => Ok(templates::pursuance()),
        "direct" => Ok(templates::direct()),
        other => Err(Failure::input(format!(
            "unknown template {other:?}: use organizer, pursuance or direct"
        ))),
    }
}

pub(crate) async fn run(g: &Global, command: GroupCommand) -> Outcome {
    // Check what the user typed before touching the profile.
    if let GroupCommand::Create { template, rules, relays, .. } = &command {
        rules_of(template, rules.as_deref())?;
        for r in relays {
            r.parse::<cairn_net::PeerAddr>()
                .map_err(|e| Failure::input(format!("relay {r:?}: {e}")))?;
        }
    }
    let node = g.open().await?;
    node.start().await;
    match command {
        GroupCommand::Create { name, template, rules, relays } => {
            let rules = rules_of(&template, rules.as_deref())?;
            let group = node.create_group(&name, &rules, relays)?;
            node.flush(super::FLUSH_WAIT).await;
            if g.json {
                println!("{}", serde_json::json!({ "group": hex(&group.0), "name": name }));
            } else {
                println!("group {} {name}", hex(&group.0));
            }
        }
        GroupCommand::List => {
            let groups = node.groups();
            if g.json {
                let list: Vec<_> = groups
                    .iter()
                    .map(|(id, n)| serde_json::json!({ "group": hex(&id.0), "name": n }))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for (id, n) in groups {
                    println!("{} {n}", hex(&id.0));
                }
            }
        }
        GroupCommand::Show { group } => {
            let id = find_group(&node, &group)?;
            let s = node.state(&id)?;
            let members: Vec<_> = s
                .members
                .iter()
                .map(|(k, m)| serde_json::json!({ "member": hex(&k.0), "roles": m.roles }))
                .collect();
            let json = serde_json::json!({
                "group": hex(&id.0), "name": s.name, "members": members,
                "relays": s.relays, "epoch": hex(&s.epoch.id.0),
            });
            if g.json {
                println!("{json}");
            } else {
                println!("group   {} {}", hex(&id.0), s.name);
                println!("epoch   {}", hex(&s.epoch.id.0));
                for r in &s.relays {
                    println!("relay   {r}");
                }
                for (k, m) in &s.members {
                    let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
                    println!("member  {} {}", hex(&k.0), roles.join(","));
                }
            }
        }
    }
    Ok(())
}
