//! The relay protocol without I/O: frames, messages, error codes, proof of
//! work and the two session state machines.
//!
//! A connection carries length-prefixed [frames](frame) of postcard-encoded
//! messages. The client opens with a [`ClientHello`], the relay answers with
//! a [`ServerHello`]; then the client sends [`Request`]s and the relay sends
//! [`Response`]s (replies carrying the request's id, and unsolicited pushes
//! for subscriptions). The normative description is
//! `protocol-spec/relay.md`.
//!
//! * [`ServerHandshake`] → [`ServerSession`]: what a relay does with each
//!   frame. It checks envelopes (shape, self-certifying write signature,
//!   proof of work), enforces the per-connection limits (request rate,
//!   mailboxes per connection, posts in flight) and turns requests into
//!   [`Action`]s for the shell: store, fetch, subscribe, send, close.
//! * [`ClientHandshake`] → [`ClientSession`]: the other side, for the node's
//!   relay client: posts in flight and their acknowledgements, refusals and
//!   their waits, proofs of work, subscriptions following the group's
//!   epochs, as [`ClientAction`]s. [`Memory`] carries what a client learned
//!   about a relay from one connection to the next, [`Deliveries`] the
//!   evidence that one of a group's relays withholds envelopes.
//!
//! Both sides are exercised against each other over a hostile simulated
//! network in `relay_proto/sim` (tests only).
//!
//! Time is a parameter (`now`, a [`core::time::Duration`] since an origin the
//! shell chooses); nothing here reads a clock or touches a socket.

pub mod client;
mod error_code;
pub mod frame;
mod limits;
mod message;
pub mod pow;
mod server;
#[cfg(test)]
mod sim;
mod verify;

pub use client::{
    ClientAction, ClientError, ClientHandshake, ClientSession, Deliveries, Ended, Memory, Plan,
    Reconnect, Refusal, RelayEvent, Requests, Retry,
};
pub use error_code::{ErrorCode, QUOTA_MAILBOX_FULL, QUOTA_TOO_MANY_MAILBOXES};
pub use limits::{RelayLimits, TokenBucket};
pub use message::{
    ClientHello, ErrorReply, Item, MAGIC, Page, Request, Response, ServerHello, SubscribeFrom,
};
pub use server::{
    Action, FetchRequest, HandshakeOutcome, ServerHandshake, ServerSession, StoreRefusal,
    StoreRequest, Stored, SubscribeRequest,
};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// The versions a relay of this build accepts, oldest first.
pub const SUPPORTED_VERSIONS: &[u16] = &[PROTOCOL_VERSION];
/// Largest payload of a frame sent by a client (a hello or a request).
pub const MAX_REQUEST_FRAME: usize = 4096;
/// Largest payload of a frame sent by a relay (a page of [`MAX_FETCH`]
/// envelopes fits with room to spare).
pub const MAX_RESPONSE_FRAME: usize = 160 * 1024;
/// Most envelopes one fetch may return.
pub const MAX_FETCH: u16 = 64;
/// Most mailboxes one subscribe request may name (a relay's own limit per
/// connection is usually lower, see [`RelayLimits::max_mailboxes`]).
pub const MAX_SUBSCRIBE: usize = 8;
/// Most versions a hello may list.
pub const MAX_VERSIONS: usize = 8;
