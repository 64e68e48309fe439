//! A withholding relay for tests: a TCP proxy in front of a real relay that
//! forwards everything, except that once told to withhold it drops the
//! relay's pushes (new envelopes for subscribers) while still forwarding
//! posts and their acknowledgements — a relay that accepts messages and
//! hides them from others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use cairn_net::frames::FrameReader;
use cairn_net::proto::relay_proto::{MAX_RESPONSE_FRAME, frame};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The relay protocol's `Response::Push` variant index (`relay.md`).
const PUSH: u8 = 3;

/// Starts the proxy in front of `relay`; returns its address and the switch.
pub async fn withholding_proxy(relay: SocketAddr) -> Result<(SocketAddr, Arc<AtomicBool>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let withhold = Arc::new(AtomicBool::new(false));
    let switch = withhold.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let withhold = withhold.clone();
            tokio::spawn(async move {
                let Ok(upstream) = TcpStream::connect(relay).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut uw).await });
                let _ = down(&mut ur, &mut cw, &withhold).await;
                up.abort();
            });
        }
    });
    Ok((addr, switch))
}

/// Relay → client, frame by frame.
async fn down(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    withhold: &AtomicBool,
) -> anyhow::Result<()> {
    let mut frames = FrameReader::new(from, MAX_RESPONSE_FRAME);
    let mut first = true;
    while let Some(payload) = frames.next().await? {
        let push = !first && payload.first() == Some(&PUSH);
        first = false;
        if push && withhold.load(Ordering::SeqCst) {
            continue;
        }
        to.write_all(&frame::encode(&payload)).await?;
    }
    Ok(())
}
