//! Accepting streams on a running onion service.

use std::pin::Pin;
use std::sync::Arc;

use cairn_proto::identity::OnionAddress;
use futures::future::BoxFuture;
use futures::{FutureExt as _, Stream, StreamExt as _};
use tor_cell::relaycell::msg::{Connected, End, EndReason};
use tor_hsservice::{RunningOnionService, StreamRequest};
use tor_proto::stream::IncomingStreamRequest;

use crate::{BoxStream, Error, Listener, PeerAddr, Result};

/// Incoming stream requests of one onion service.
pub(super) type Requests = Pin<Box<dyn Stream<Item = StreamRequest> + Send>>;

/// A running onion service, accepting streams on one virtual port.
///
/// Dropping it stops the service (its descriptor expires from the HSDirs;
/// peers can no longer connect).
pub struct OnionListener {
    /// Kept alive: arti stops the service when the last handle goes.
    _service: Arc<RunningOnionService>,
    requests: Requests,
    port: u16,
    addr: PeerAddr,
    onion: OnionAddress,
}

impl OnionListener {
    pub(super) fn new(
        service: Arc<RunningOnionService>,
        requests: Requests,
        onion: OnionAddress,
        port: u16,
    ) -> Self {
        let addr = PeerAddr::onion(&onion, port);
        Self { _service: service, requests, port, addr, onion }
    }

    /// The service's onion address (checked equal to the one cairn derives
    /// from the key).
    pub fn onion_address(&self) -> &OnionAddress {
        &self.onion
    }
}

impl std::fmt::Debug for OnionListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnionListener").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Listener for OnionListener {
    /// The next stream opened to our port. Streams to other ports are
    /// refused with `END DONE` (what any onion service answers, so the
    /// refusal reveals nothing about us); a stream that fails while being
    /// accepted is skipped.
    fn accept(&mut self) -> BoxFuture<'_, Result<BoxStream>> {
        async move {
            loop {
                let request = self.requests.next().await.ok_or(Error::ServiceStopped)?;
                let ours = matches!(
                    request.request(),
                    IncomingStreamRequest::Begin(begin) if begin.port() == self.port
                );
                if !ours {
                    let _ = request.reject(End::new_with_reason(EndReason::DONE)).await;
                    continue;
                }
                match request.accept(Connected::new_empty()).await {
                    Ok(stream) => return Ok(Box::new(stream) as BoxStream),
                    Err(e) => tracing::debug!("an incoming onion stream failed: {e}"),
                }
            }
        }
        .boxed()
    }

    fn local_addr(&self) -> &PeerAddr {
        &self.addr
    }
}
