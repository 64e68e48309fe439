//! `cairn group create|list|show|leave`.

use cairn_net::node::{Action, NodeError};
use cairn_net::proto::group::{Rules, templates};
use cairn_net::proto::wire::{Body, Name};

use super::{Failure, Global, Outcome, find_group, hex};
use crate::text;

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
        /// The name you go by in the group (`cairn member name` changes it).
        #[arg(long = "as", value_name = "NAME")]
        me_as: Option<String>,
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
    /// Leave a group: your leave message goes out (the others rotate the
    /// keys you knew), this profile erases the group's keys and stops
    /// following its relays once the leave is delivered. The history is
    /// kept, read-only, unless `--delete-history`; leaving again with it
    /// deletes a history kept before.
    ///
    /// Example: `cairn group leave bastion --delete-history`
    Leave {
        /// Group name or id (a unique prefix is enough).
        group: String,
        /// Delete the group's history from this profile too.
        #[arg(long)]
        delete_history: bool,
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
    if let GroupCommand::Create { template, rules, relays, me_as, .. } = &command {
        rules_of(template, rules.as_deref())?;
        if let Some(me) = me_as {
            let body = Body::Name(Name { name: me.trim().into() });
            body.check_limits().map_err(|why| Failure::input(format!("--as {me:?}: {why}")))?;
        }
        for r in relays {
            r.parse::<cairn_net::PeerAddr>()
                .map_err(|e| Failure::input(format!("relay {r:?}: {e}")))?;
        }
    }
    let node = g.open().await?;
    node.start().await;
    match command {
        GroupCommand::Create { name, template, rules, relays, me_as } => {
            let rules = rules_of(&template, rules.as_deref())?;
            let created = node.act(Action::CreateGroup { name: name.clone(), rules, relays })?;
            let group = created.group_id().ok_or(NodeError::Bug("a group action made no group"))?;
            if let Some(name) = me_as {
                node.act(Action::SetName { group, name })?;
            }
            node.flush(super::FLUSH_WAIT).await;
            if g.json {
                println!("{}", serde_json::json!({ "group": hex(&group.0), "name": name }));
            } else {
                println!("group {} {}", hex(&group.0), text::line(&name));
            }
        }
        GroupCommand::List => {
            let groups = node.groups();
            if g.json {
                let list: Vec<_> = groups
                    .iter()
                    .map(|(id, n)| {
                        let left = node.has_left(id);
                        serde_json::json!({ "group": hex(&id.0), "name": n, "left": left })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for (id, n) in groups {
                    let left = if node.has_left(&id) { " (left)" } else { "" };
                    println!("{} {}{left}", hex(&id.0), text::line(&n));
                }
            }
        }
        GroupCommand::Leave { group, delete_history } => {
            let id = find_group(&node, &group)?;
            let name = node.state(&id)?.name;
            // Nothing is written when this member had already left (or
            // was removed): leaving again only erases what remains.
            let done = node.act(Action::Leave { group: id, keep_history: !delete_history })?;
            let wrote = done.message_id().is_some();
            let waiting = node.flush(super::FLUSH_WAIT).await;
            if g.json {
                let v = serde_json::json!({
                    "group": hex(&id.0), "left": true, "history_kept": !delete_history,
                    "queued": waiting,
                });
                println!("{v}");
            } else {
                let history = if delete_history { "deleted" } else { "kept, read-only" };
                println!("left {}: keys erased, history {history}", text::line(&name));
                if wrote && waiting > 0 {
                    println!("your leave is queued (no relay reachable yet; sent on the next run)");
                }
            }
        }
        GroupCommand::Show { group } => {
            let id = find_group(&node, &group)?;
            let s = node.state(&id)?;
            let joins: Vec<_> = node
                .pending_joins()
                .into_iter()
                .filter(|(g, _)| *g == id)
                .map(|(_, n)| n)
                .collect();
            let members: Vec<_> = s
                .members
                .iter()
                .map(|(k, m)| serde_json::json!({ "member": hex(&k.0), "roles": m.roles, "name": m.name }))
                .collect();
            let json = serde_json::json!({
                "group": hex(&id.0), "name": s.name, "members": members,
                "relays": s.relays, "epoch": hex(&s.epoch.id.0), "left": node.has_left(&id),
                "stranded": node.with_replica(&id, |r| r.keys().stranded(&s).is_some())?,
                "pending_joins": joins.iter().map(|n| serde_json::json!({
                    "code": n.content.short_code, "name": n.content.name,
                    "fingerprint": n.content.fingerprint(), "held_by": hex(&n.answerer.0),
                    "until": n.content.until,
                })).collect::<Vec<_>>(),
            });
            if g.json {
                println!("{json}");
            } else {
                println!("group   {} {}", hex(&id.0), text::line(&s.name));
                if node.has_left(&id) {
                    println!("left    you left this group: its history is read-only");
                }
                if node.with_replica(&id, |r| r.keys().stranded(&s).is_some())? {
                    println!("keys    {}", crate::text::STRANDED_NOTICE);
                }
                println!("epoch   {}", hex(&s.epoch.id.0));
                for r in &s.relays {
                    println!("relay   {}", text::line(r));
                }
                for (k, m) in &s.members {
                    let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
                    let name = text::line(m.name.as_deref().unwrap_or("-"));
                    println!("member  {} {} {name}", hex(&k.0), text::line(&roles.join(",")));
                }
                for n in &joins {
                    println!(
                        "join    code {} {:?} fingerprint {} (answer: cairn approve {} [--deny])",
                        n.content.short_code,
                        text::line(&n.content.name),
                        n.content.fingerprint(),
                        n.content.short_code
                    );
                }
            }
        }
    }
    Ok(())
}
