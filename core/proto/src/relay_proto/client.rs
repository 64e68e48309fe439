//! The client side of a relay connection: a handshake phase, then a
//! [`ClientSession`] state machine, and what outlives a connection
//! ([`Memory`]) and spans a group's relays ([`Deliveries`]).
//!
//! A relay is untrusted: everything it sends is checked for shape here
//! (envelopes parse, pages are in increasing cursor order, pushes are for
//! subscribed mailboxes). Whether an envelope opens is for the caller (it
//! holds the epoch keys).
//!
//! * [`session`]: posts in flight, acknowledgements, refusals and their
//!   waits, proof-of-work demands, subscriptions following epochs.
//! * [`refusal`]: what each refusal code means for a post.
//! * [`memory`]: refusals for good, proofs and backoff across connections.
//! * [`deliveries`]: which relay delivered what, as evidence of withholding.
//! * [`requests`]: bare request frames, for tools and relay tests.

use super::frame;
use super::message::{ClientHello, Item, MAGIC, Response, ServerHello};
use super::{ErrorCode, RelayLimits, SUPPORTED_VERSIONS};
use crate::wire::{DecodeError, Envelope, EnvelopeError};

pub mod deliveries;
pub mod memory;
pub mod refusal;
pub mod requests;
pub mod session;

pub use deliveries::Deliveries;
pub use memory::{Ended, Memory, Reconnect};
pub use refusal::{Plan, Refusal, Retry};
pub use requests::Requests;
pub use session::{ClientAction, ClientSession};

/// Why a relay's answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A frame's payload did not decode.
    #[error("relay sent an undecodable frame: {0}")]
    Decode(#[from] DecodeError),
    /// The relay refused the connection.
    #[error("relay refused the connection: code {code} (speaks versions {supported:?})")]
    Refused {
        /// The error code number.
        code: u16,
        /// The versions the relay speaks.
        supported: Vec<u16>,
    },
    /// The relay chose a version this client did not offer.
    #[error("relay chose version {0}, which was not offered")]
    VersionNotOffered(u16),
    /// An envelope from the relay does not have the envelope shape.
    #[error("relay sent a malformed envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// A page whose cursors do not increase.
    #[error("relay sent a page out of cursor order")]
    PageOutOfOrder,
}

/// What a relay said, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// Post `id` is durably stored under `cursor`.
    Posted {
        /// The request id.
        id: u32,
        /// The envelope's cursor.
        cursor: u64,
        /// The relay already held it.
        duplicate: bool,
    },
    /// The reply to fetch `id`.
    Page {
        /// The request id.
        id: u32,
        /// The mailbox's last assigned cursor.
        head: u64,
        /// Envelopes with their cursors, in increasing cursor order.
        items: Vec<(u64, Envelope)>,
    },
    /// Subscribe `id` is in place.
    Subscribed {
        /// The request id.
        id: u32,
        /// Each mailbox's last assigned cursor, in request order.
        heads: Vec<u64>,
    },
    /// An envelope for a subscription.
    Push {
        /// Its cursor in its mailbox.
        cursor: u64,
        /// The envelope (its mailbox is [`Envelope::mailbox`]).
        envelope: Envelope,
    },
    /// The reply to ping `id`.
    Pong {
        /// The request id.
        id: u32,
    },
    /// A refusal of request `id`, or of the connection if `id` is `None`
    /// (the relay then closes it).
    Error {
        /// The refused request, if any.
        id: Option<u32>,
        /// The code number ([`ErrorCode::from_number`] names it).
        code: u16,
        /// The code's detail.
        info: u64,
    },
}

impl RelayEvent {
    /// The error code of an [`RelayEvent::Error`], if this build knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Error { code, .. } => ErrorCode::from_number(*code),
            _ => None,
        }
    }
}

/// A client connection before the relay's hello.
#[derive(Debug, Clone, Default)]
pub struct ClientHandshake {
    _private: (),
}

impl ClientHandshake {
    /// A handshake offering every version this build speaks.
    pub fn new() -> Self {
        Self { _private: () }
    }

    /// The first frame to send (header included).
    pub fn hello_frame(&self) -> Vec<u8> {
        frame::encode(&ClientHello { magic: MAGIC, versions: SUPPORTED_VERSIONS.to_vec() }.encode())
    }

    /// Handles the relay's hello payload: the session state machine.
    pub fn handle(self, payload: &[u8]) -> Result<ClientSession, ClientError> {
        let (version, limits) = welcome(payload)?;
        Ok(ClientSession::new(version, limits))
    }

    /// Handles the relay's hello payload, for bare [`Requests`].
    pub fn handle_raw(self, payload: &[u8]) -> Result<Requests, ClientError> {
        let (version, limits) = welcome(payload)?;
        Ok(Requests::new(version, limits))
    }
}

/// The version and limits of a welcome.
fn welcome(payload: &[u8]) -> Result<(u16, RelayLimits), ClientError> {
    match ServerHello::decode(payload)? {
        ServerHello::Welcome { version, limits } if SUPPORTED_VERSIONS.contains(&version) => {
            Ok((version, limits))
        }
        ServerHello::Welcome { version, .. } => Err(ClientError::VersionNotOffered(version)),
        ServerHello::Refused { code, supported } => Err(ClientError::Refused { code, supported }),
    }
}

/// Decodes and checks one frame's payload from the relay.
pub(crate) fn decode(payload: &[u8]) -> Result<RelayEvent, ClientError> {
    Ok(match Response::decode(payload)? {
        Response::Posted { id, cursor, duplicate } => RelayEvent::Posted { id, cursor, duplicate },
        Response::Page(page) => {
            let items = checked_items(page.items)?;
            RelayEvent::Page { id: page.id, head: page.head, items }
        }
        Response::Subscribed { id, heads } => RelayEvent::Subscribed { id, heads },
        Response::Push(Item { cursor, envelope }) => {
            RelayEvent::Push { cursor, envelope: Envelope::parse(&envelope)? }
        }
        Response::Pong { id } => RelayEvent::Pong { id },
        Response::Error(e) => RelayEvent::Error { id: e.id, code: e.code, info: e.info },
    })
}

fn checked_items(items: Vec<Item>) -> Result<Vec<(u64, Envelope)>, ClientError> {
    let mut last = 0;
    let mut out = Vec::with_capacity(items.len());
    for Item { cursor, envelope } in items {
        if cursor <= last {
            return Err(ClientError::PageOutOfOrder);
        }
        last = cursor;
        out.push((cursor, Envelope::parse(&envelope)?));
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use zeroize::Zeroizing;

    use super::*;
    use crate::crypto::XofRng;
    use crate::relay_proto::{
        Action, HandshakeOutcome, Page, RelayLimits, Request, ServerHandshake,
    };
    use crate::wire::{EpochKeys, fragment_message};

    /// Drives a client session against a server session in memory.
    #[test]
    fn client_and_server_agree() {
        let now = core::time::Duration::ZERO;
        let hs = ClientHandshake::new();
        let hello = hs.hello_frame();
        let (payload, _) = frame::split(&hello, super::super::MAX_REQUEST_FRAME).expect("frame");
        let HandshakeOutcome::Accept { mut session, reply } =
            ServerHandshake::new(RelayLimits::default()).handle(now, payload)
        else {
            panic!("refused")
        };
        let mut client = hs.handle(&reply.encode()).expect("welcome");
        assert_eq!(client.version(), 1);
        assert_eq!(client.limits(), &RelayLimits::default());

        let mut rng = XofRng::from_seed(b"relay client");
        let keys = EpochKeys::derive(&Zeroizing::new([5; 32]));
        let frag = fragment_message(&mut rng, b"hi").expect("split").remove(0);
        let env = Envelope::seal(&mut rng, &keys, &frag);
        client.post(now, 7, core::slice::from_ref(&env));
        let Some(ClientAction::Send(post)) = client.poll_action() else { panic!("no post") };
        let Request::Post { id, .. } = post else { panic!("not a post") };
        session.handle_frame(now, &post.encode());
        let Some(Action::Store(req)) = session.poll_action() else { panic!("no store") };
        assert_eq!((req.id, req.mailbox), (id, keys.mailbox));
        session.stored(id, Ok(crate::relay_proto::Stored { cursor: 1, duplicate: false }));
        let Some(Action::Send(reply)) = session.poll_action() else { panic!("no reply") };
        client.handle_frame(now, &reply.encode());
        assert_eq!(client.poll_action(), Some(ClientAction::Acked(7)));
        assert_eq!(client.poll_action(), None);
    }

    #[test]
    fn untrusted_pages_are_checked() {
        let client = ClientSession::new(1, RelayLimits::default());
        let item = |cursor| Item { cursor, envelope: vec![1; crate::wire::ENVELOPE_LEN] };
        let page = |items| Response::Page(Page { id: 1, head: 9, items }).encode();
        assert_eq!(client.decode(&page(vec![item(3), item(3)])), Err(ClientError::PageOutOfOrder));
        let short = Response::Push(Item { cursor: 1, envelope: vec![1; 3] }).encode();
        assert!(matches!(client.decode(&short), Err(ClientError::Envelope(_))));
        let err =
            Response::Error(crate::relay_proto::ErrorReply::new(None, ErrorCode::Overloaded, 0));
        let event = client.decode(&err.encode()).expect("decodes");
        assert_eq!(event.error_code(), Some(ErrorCode::Overloaded));
        let refused = ServerHello::Refused { code: 7, supported: vec![1] }.encode();
        let want = ClientError::Refused { code: 7, supported: vec![1] };
        assert_eq!(ClientHandshake::new().handle(&refused).map(|_| ()), Err(want));
    }
}
