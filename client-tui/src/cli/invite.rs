//! `cairn invite`, `cairn join`, `cairn resync`, `cairn status` and
//! `cairn identity confirm`: the commands that talk to peers.

use std::io::BufRead as _;
use std::time::Duration;

use cairn_net::node::NodeEvent;
use cairn_net::node::invites::Approval;
use cairn_net::proto::identity::OnionAddress;

use super::{Failure, Global, Outcome, find_group, hex};

/// Options of `cairn invite`.
#[derive(clap::Args, Debug)]
pub(crate) struct InviteArgs {
    /// Group name or id.
    group: String,
    /// A role the new member gets (repeat; default: the group's newcomer role).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Minutes the invite stays valid.
    #[arg(long, default_value_t = 60)]
    ttl_minutes: u64,
    /// Admit whoever redeems the invite without asking (explicit choice).
    #[arg(long)]
    auto_approve: bool,
}

/// `cairn invite`: prints a one-time invite, waits for it to be redeemed,
/// shows the redeemer's fingerprint and short code and asks for approval.
pub(crate) async fn invite(g: &Global, args: InviteArgs) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    let group = find_group(&node, &args.group)?;
    let roles = if args.roles.is_empty() {
        let rules = node.state(&group)?.rules;
        vec![rules.newcomer.clone().unwrap_or_else(|| rules.founder.clone())]
    } else {
        args.roles
    };
    let approval = if args.auto_approve { Approval::Automatic } else { Approval::Manual };
    let mut events = node.events();
    let ttl = Duration::from_secs(args.ttl_minutes * 60);
    let mut ticket = node.invite(group, roles, ttl, approval).await?;
    let waiting = super::approve::Waiting::default();
    let _socket = super::approve::serve(&g.profile(), node.clone(), waiting.clone())?;
    println!("{}", ticket.text.as_str());
    eprintln!("cairn: hand this invite over privately; waiting for it to be redeemed…");
    loop {
        tokio::select! {
            done = &mut ticket.done => {
                return match done.ok().flatten() {
                    Some(member) => {
                        // Stay online while the new member fetches the
                        // history from this node and announces itself.
                        let settled = |n: &cairn_net::node::Node| {
                            n.state(&group).is_ok_and(|s| s.members.get(&member).is_some_and(|m| m.onion.is_some()))
                        };
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                        while !settled(&node) && tokio::time::Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        node.flush(super::FLUSH_WAIT).await;
                        println!("admitted {}", hex(&member.0));
                        Ok(())
                    }
                    None => Err(Failure::input("the invite expired or was refused; nobody was admitted")),
                };
            }
            event = events.recv() => {
                if let Ok(NodeEvent::JoinRequest { fingerprint, short_code, name, .. }) = event {
                    eprintln!("{name:?} wants to join: fingerprint {fingerprint}");
                    eprintln!("compare this code with them: {short_code}");
                    eprintln!("(or answer from elsewhere: `cairn approve {short_code}`)");
                    let pending = super::approve::Pending {
                        code: short_code.clone(),
                        fingerprint,
                        name,
                    };
                    if let Ok(mut w) = waiting.lock() {
                        w.push(pending);
                    }
                    ask_here(&node, short_code);
                }
            }
        }
    }
}

/// On a terminal, asks y/N here too (without blocking the node); the
/// first answer, here or by `cairn approve`, counts.
fn ask_here(node: &cairn_net::node::Node, code: String) {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return;
    }
    eprint!("admit? [y/N] ");
    let node = node.clone();
    tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let admit = matches!(line.trim(), "y" | "Y" | "yes");
        let _ = node.act(cairn_net::node::Action::Approve { code, admit });
    });
}

/// `cairn join INVITE`: redeems an invite.
pub(crate) async fn join(g: &Global, invite: &str, name: &str) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    let mut events = node.events();
    let join = node.join(invite, name);
    tokio::pin!(join);
    loop {
        tokio::select! {
            result = &mut join => {
                let group = result.map_err(|e| match e {
                    cairn_net::node::NodeError::Invite(_) => Failure::input(e.to_string()),
                    other => other.into(),
                })?;
                let waiting = node.flush(super::FLUSH_WAIT).await;
                println!("joined {}{}", hex(&group.0), if waiting > 0 { " (announcement queued)" } else { "" });
                return Ok(());
            }
            event = events.recv() => {
                if let Ok(NodeEvent::Joining { short_code, inviter }) = event {
                    eprintln!("inviter fingerprint {inviter}");
                    eprintln!("compare this code with the inviter: {short_code}");
                }
            }
        }
    }
}

/// `cairn resync [--from ONION]`: fetches from peers now; with `--from`, a
/// restored identity finds its groups again at that member.
pub(crate) async fn resync(g: &Global, from: Option<String>) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    if let Some(address) = from {
        let onion = OnionAddress::parse(address.trim_end_matches(":7448"))
            .map_err(|e| Failure::input(format!("{address:?} is not an onion address: {e}")))?;
        for group in node.recover_from(&onion.public_key()).await? {
            println!("recovered {}", hex(&group.0));
        }
    }
    node.resync_all().await;
    node.sync(super::SYNC_WAIT).await;
    for (id, name) in node.groups() {
        let n = node.with_replica(&id, |r| r.chain().len())?;
        println!("{} {name}: {n} messages", hex(&id.0));
    }
    Ok(())
}

/// `cairn status`: identity, groups, epochs, outbox.
pub(crate) async fn status(g: &Global) -> Outcome {
    let node = g.open().await?;
    let me = node.identity();
    let waiting = node.flush(Duration::ZERO).await;
    let groups: Vec<_> = node
        .groups()
        .into_iter()
        .map(|(id, name)| {
            let members = node.state(&id).map(|s| s.members.len()).unwrap_or(0);
            serde_json::json!({ "group": hex(&id.0), "name": name, "members": members })
        })
        .collect();
    let v = serde_json::json!({
        "identity": hex(&me.public_key().0),
        "onion": me.onion_address().as_str(),
        "restored_unconfirmed": node.is_restored_unconfirmed(),
        "outbox": waiting,
        "groups": groups,
    });
    if g.json {
        println!("{v}");
    } else {
        println!("identity {}", hex(&me.public_key().0));
        println!("onion    {}", me.onion_address().as_str());
        if node.is_restored_unconfirmed() {
            println!(
                "restored: not signing until its own messages are back (`cairn identity confirm`)"
            );
        }
        println!("outbox   {waiting} waiting");
        for (id, name) in node.groups() {
            println!("group    {} {name}", hex(&id.0));
        }
    }
    Ok(())
}
