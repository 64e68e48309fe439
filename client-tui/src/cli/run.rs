//! `cairn run`: keep the node online (relays, peers, invitations) and print
//! its events, until interrupted.

use cairn_net::node::NodeEvent;

use super::{Global, Outcome};

pub(crate) async fn run(g: &Global) -> Outcome {
    let node = g.open().await?;
    let mut events = node.events();
    node.start().await;
    println!("identity {}", super::hex(&node.identity().public_key().0));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Ok(e) => print_event(g, &e),
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

fn print_event(g: &Global, e: &NodeEvent) {
    if g.json {
        println!("{}", serde_json::json!({ "event": format!("{e:?}") }));
    } else {
        println!("{e:?}");
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
