//! `cairn chat send|read`.

use super::{Global, Outcome, find_group, hex};
use crate::text;

/// `chat` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ChatCommand {
    /// Send a chat line. It is stored in the outbox first: if no relay is
    /// reachable it goes out the next time cairn runs.
    ///
    /// Example: `cairn chat send bastion "meeting moved to 9"`
    Send {
        /// Group name or id.
        group: String,
        /// The text.
        text: String,
    },
    /// Print the group's chat, oldest first (after fetching what is new).
    ///
    /// Example: `cairn chat read bastion --json`
    Read {
        /// Group name or id.
        group: String,
    },
}

pub(crate) async fn run(g: &Global, command: ChatCommand) -> Outcome {
    let node = g.open().await?;
    node.start().await;
    match command {
        ChatCommand::Send { group, text } => {
            let id = find_group(&node, &group)?;
            let msg = super::act(
                &node,
                cairn_net::node::Action::Chat { group: id, text, reply_to: None },
            )?;
            let waiting = node.flush(super::FLUSH_WAIT).await;
            if g.json {
                println!("{}", serde_json::json!({ "message": hex(&msg.0), "queued": waiting }));
            } else if waiting > 0 {
                println!("queued {} (no relay reachable yet; sent on the next run)", hex(&msg.0));
            } else {
                println!("sent {}", hex(&msg.0));
            }
        }
        ChatCommand::Read { group } => {
            let id = find_group(&node, &group)?;
            node.sync(super::SYNC_WAIT).await;
            let lines = node.with_replica(&id, |r| {
                let named = |k| {
                    let s = r.state()?;
                    let now = s.members.get(k).and_then(|m| m.name.clone());
                    now.or_else(|| s.former.get(k).and_then(|f| f.name.clone()))
                };
                r.fold()
                    .chat()
                    .iter()
                    .map(|(mid, m, c)| {
                        (hex(&mid.0), hex(&m.author.0), named(&m.author), c.text.clone())
                    })
                    .collect::<Vec<_>>()
            })?;
            for (mid, author, name, said) in lines {
                if g.json {
                    let v = serde_json::json!({
                        "message": mid, "author": author, "name": name, "text": said,
                    });
                    println!("{v}");
                } else {
                    // The key always: a chosen name proves nothing.
                    let name = name.map(|n| format!(" {}", text::line(&n))).unwrap_or_default();
                    println!("{}{name}: {}", &author[..16], text::line(&said));
                }
            }
        }
    }
    Ok(())
}
