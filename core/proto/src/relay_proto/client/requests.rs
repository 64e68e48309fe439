//! Requests without a state machine, for tools, benchmarks and relay tests
//! that must send exactly what they choose (pipelined posts, malformed
//! sequences) and read every reply themselves. A node uses
//! [`super::ClientSession`] instead: it retries, paces and follows epochs.

use super::{ClientError, RelayEvent};
use crate::relay_proto::RelayLimits;
use crate::relay_proto::frame;
use crate::relay_proto::message::{Request, SubscribeFrom};
use crate::wire::{Envelope, MailboxId};

/// Builds request frames with fresh ids and decodes what comes back.
#[derive(Debug, Clone)]
pub struct Requests {
    version: u16,
    limits: RelayLimits,
    next_id: u32,
}

impl Requests {
    pub(super) fn new(version: u16, limits: RelayLimits) -> Self {
        Self { version, limits, next_id: 1 }
    }

    /// The agreed protocol version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The limits the relay announced.
    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    fn request(&mut self, build: impl FnOnce(u32) -> Request) -> (u32, Vec<u8>) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        (id, frame::encode(&build(id).encode()))
    }

    /// A post frame (header included) and its request id. `pow` is a
    /// proof-of-work nonce for creating the mailbox.
    pub fn post(&mut self, envelope: &Envelope, pow: Option<u64>) -> (u32, Vec<u8>) {
        self.request(|id| Request::Post { id, envelope: envelope.as_bytes().to_vec(), pow })
    }

    /// A fetch frame and its request id.
    pub fn fetch(&mut self, mailbox: &MailboxId, after: u64, limit: u16) -> (u32, Vec<u8>) {
        self.request(|id| Request::Fetch { id, mailbox: mailbox.0, after, limit })
    }

    /// A subscribe frame and its request id.
    pub fn subscribe(&mut self, from: &[(MailboxId, u64)]) -> (u32, Vec<u8>) {
        let from = from.iter().map(|(m, after)| SubscribeFrom { mailbox: m.0, after: *after });
        let from = from.collect();
        self.request(|id| Request::Subscribe { id, from })
    }

    /// A ping frame and its request id.
    pub fn ping(&mut self) -> (u32, Vec<u8>) {
        self.request(|id| Request::Ping { id })
    }

    /// Decodes and checks one frame's payload from the relay.
    pub fn decode(&self, payload: &[u8]) -> Result<RelayEvent, ClientError> {
        super::decode(payload)
    }
}
