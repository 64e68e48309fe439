//! `cairn run`: keep the node online (relays, peers, invitations) and print
//! its events, until interrupted.

use cairn_net::node::NodeEvent;

use super::{Global, Outcome, hex};

pub(crate) async fn run(g: &Global) -> Outcome {
    let node = g.open().await?;
    let mut events = node.events();
    // A member who may invite answers joins of invitations it was shared
    // (`peer.md`, "Invitations"): `cairn approve CODE` answers one here.
    let waiting = super::approve::Waiting::default();
    let _socket = super::approve::serve(&g.profile(), node.clone(), waiting.clone())?;
    node.start().await;
    println!("identity {}", super::hex(&node.identity().public_key().0));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    // Once whoever reads our output is gone, the node stays online and
    // stops printing (`println!` would panic on the broken pipe).
    let mut printing = true;
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Ok(e) => {
                    if let NodeEvent::JoinRequest { fingerprint, short_code, name, .. } = &e
                        && let Ok(mut w) = waiting.lock()
                    {
                        w.push(super::approve::Pending {
                            code: short_code.clone(),
                            fingerprint: fingerprint.clone(),
                            name: name.clone(),
                        });
                    }
                    if let NodeEvent::JoinAnswered { short_code, .. } = &e
                        && let Ok(mut w) = waiting.lock()
                    {
                        w.retain(|p| p.code != *short_code);
                    }
                    printing = printing && print_event(g, &e);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("cairn: {n} events skipped (output too slow)");
                }
                Err(_) => break,
            },
        }
    }
    let waiting = node.flush(super::FLUSH_WAIT).await;
    if waiting > 0 {
        eprintln!("cairn: {waiting} messages stay in the outbox; they go out on the next run");
    }
    Ok(())
}

/// Prints one event; false when stdout is closed.
fn print_event(g: &Global, e: &NodeEvent) -> bool {
    use std::io::Write;
    let text = describe(e);
    let line = if g.json { serde_json::json!({ "event": text }).to_string() } else { text };
    writeln!(std::io::stdout().lock(), "{line}").is_ok()
}

/// One line per event: a word saying what happened, then the details.
fn describe(e: &NodeEvent) -> String {
    use cairn_net::node::SecurityWarning as W;
    match e {
        NodeEvent::TorBootstrap { percent, blocked } => {
            format!(
                "tor {percent}%{}",
                blocked.as_ref().map(|b| format!(" blocked: {b}")).unwrap_or_default()
            )
        }
        NodeEvent::Listening { address } => format!("listening {address}"),
        NodeEvent::RelayUp { relay, .. } => format!("relay-up {relay}"),
        NodeEvent::RelayDown { relay, error, retry_in, .. } => {
            format!("relay-down {relay} ({error}); retry in {}s", retry_in.as_secs())
        }
        NodeEvent::Messages { group, ids } => format!("messages {} {}", hex(&group.0), ids.len()),
        NodeEvent::Queued { waiting, reason } => format!("queued {waiting} ({reason})"),
        NodeEvent::PostRefused { relay, reason, .. } => format!("post-refused {relay}: {reason}"),
        NodeEvent::Delivered { message, .. } => format!("delivered {}", hex(&message.0)),
        NodeEvent::Synced { peer, accepted, .. } => format!("synced {} {accepted}", hex(&peer.0)),
        NodeEvent::JoinRequest { fingerprint, short_code, name, .. } => {
            format!(
                "join-request {name:?} fingerprint {fingerprint} code {short_code} \
                 (answer: cairn approve {short_code} [--deny])"
            )
        }
        NodeEvent::JoinAnswered { short_code, name, admitted, by, .. } => {
            let what = if *admitted { "admitted" } else { "declined" };
            format!("join-answered code {short_code} {name:?} {what} by {}", hex(&by.0))
        }
        NodeEvent::Joining { short_code, inviter } => {
            format!("joining: compare code {short_code} with the inviter ({inviter})")
        }
        NodeEvent::Warning(W::Withheld { relay, count, .. }) => {
            format!("WARNING relay {relay} withheld {count} envelopes other relays delivered")
        }
        NodeEvent::Warning(W::Equivocation { author, .. }) => {
            format!("WARNING {} signed two different messages at one position", hex(&author.0))
        }
        NodeEvent::Warning(W::Rejected { id, reason, .. }) => {
            format!("WARNING message {} rejected: {reason}", hex(&id.0))
        }
        NodeEvent::Warning(W::Gap { author, from, to, .. }) => {
            format!("WARNING messages {from}..={to} of {} are missing", hex(&author.0))
        }
        NodeEvent::Warning(W::RestoredUnconfirmed) => {
            "WARNING restored identity: not signing until its own messages are back".into()
        }
        other => format!("{other:?}"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
