//! The messages of the relay protocol (postcard, canonical).
//!
//! The hello messages are frozen: every future version encodes
//! [`ClientHello`] and [`ServerHello`] exactly like this one, so two
//! versions can always agree on which to speak (or say they cannot).

use serde::{Deserialize, Serialize};

use super::{ErrorCode, RelayLimits};
use crate::wire::{DecodeError, decode_canonical, encode};

/// The first eight bytes of a client hello: "this is the cairn relay
/// protocol", so that a stray connection is refused early.
pub const MAGIC: [u8; 8] = *b"cairnRLY";

/// The first frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// Always [`MAGIC`].
    pub magic: [u8; 8],
    /// The protocol versions the client speaks, at most
    /// [`super::MAX_VERSIONS`].
    pub versions: Vec<u16>,
}

/// The relay's answer to a [`ClientHello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerHello {
    /// The connection is open, speaking `version`, under `limits`.
    Welcome {
        /// The highest version both sides speak.
        version: u16,
        /// The limits the relay enforces on this connection.
        limits: RelayLimits,
    },
    /// The relay will not serve this connection; it closes it.
    Refused {
        /// An [`ErrorCode`] number.
        code: u16,
        /// The versions the relay speaks.
        supported: Vec<u16>,
    },
}

/// Where a subscription starts: pushes carry envelopes of `mailbox` with a
/// cursor greater than `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeFrom {
    /// The mailbox id.
    #[serde(with = "serde_bytes")]
    pub mailbox: [u8; 32],
    /// The highest cursor the client already has (0: none).
    pub after: u64,
}

/// A request from a client. Every request carries an `id` of the client's
/// choosing, which the reply repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Store one envelope in the mailbox its write key names.
    Post {
        /// Request id.
        id: u32,
        /// The envelope (exactly `ENVELOPE_LEN` bytes).
        #[serde(with = "serde_bytes")]
        envelope: Vec<u8>,
        /// A proof-of-work nonce, needed only to create a mailbox on a
        /// relay that asks for one.
        pow: Option<u64>,
    },
    /// Envelopes of `mailbox` with a cursor greater than `after`, oldest
    /// first, at most `limit` (capped by the relay's `max_fetch`).
    Fetch {
        /// Request id.
        id: u32,
        /// The mailbox id.
        #[serde(with = "serde_bytes")]
        mailbox: [u8; 32],
        /// The highest cursor the client already has.
        after: u64,
        /// Most envelopes wanted.
        limit: u16,
    },
    /// Push every envelope stored in these mailboxes after their cursors:
    /// first what is stored, then each new one as it arrives.
    Subscribe {
        /// Request id.
        id: u32,
        /// At most [`super::MAX_SUBSCRIBE`] mailboxes.
        from: Vec<SubscribeFrom>,
    },
    /// Keeps an idle connection open.
    Ping {
        /// Request id.
        id: u32,
    },
}

impl Request {
    /// The request's id, which the reply repeats.
    pub fn id(&self) -> u32 {
        match self {
            Request::Post { id, .. }
            | Request::Fetch { id, .. }
            | Request::Subscribe { id, .. }
            | Request::Ping { id } => *id,
        }
    }
}

/// One stored envelope and its cursor in its mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The relay-assigned cursor (counts within the mailbox, from 1).
    pub cursor: u64,
    /// The envelope bytes.
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
}

/// The reply to a fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The fetch's request id.
    pub id: u32,
    /// The last cursor the mailbox has assigned (0: never used). A client
    /// whose `after` is beyond it knows the relay lost the mailbox.
    pub head: u64,
    /// Envelopes in increasing cursor order.
    pub items: Vec<Item>,
}

/// A refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The refused request's id; `None` for the connection as a whole.
    pub id: Option<u32>,
    /// An [`ErrorCode`] number.
    pub code: u16,
    /// Detail whose meaning depends on the code (see [`ErrorCode`]).
    pub info: u64,
}

impl ErrorReply {
    /// A refusal of request `id` (or of the connection).
    pub fn new(id: Option<u32>, code: ErrorCode, info: u64) -> Self {
        Self { id, code: code.number(), info }
    }
}

/// A frame from the relay after the welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The post is durably stored (or was already).
    Posted {
        /// The post's request id.
        id: u32,
        /// The envelope's cursor in its mailbox.
        cursor: u64,
        /// The relay already held this envelope; `cursor` is the old one.
        duplicate: bool,
    },
    /// The reply to a fetch.
    Page(Page),
    /// The subscription is in place.
    Subscribed {
        /// The subscribe's request id.
        id: u32,
        /// The last assigned cursor of each mailbox, in request order.
        heads: Vec<u64>,
    },
    /// An envelope for a subscription (not a reply to a request).
    Push(Item),
    /// The reply to a ping.
    Pong {
        /// The ping's request id.
        id: u32,
    },
    /// A refusal.
    Error(ErrorReply),
}

macro_rules! codec {
    ($ty:ty, $max:expr) => {
        impl $ty {
            /// The canonical postcard encoding (a frame's payload).
            pub fn encode(&self) -> Vec<u8> {
                encode(self)
            }

            /// Decodes a frame's payload (canonical, size-limited).
            pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                decode_canonical(bytes, $max)
            }
        }
    };
}

codec!(ClientHello, super::MAX_REQUEST_FRAME);
codec!(ServerHello, super::MAX_RESPONSE_FRAME);
codec!(Request, super::MAX_REQUEST_FRAME);
codec!(Response, super::MAX_RESPONSE_FRAME);

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::ENVELOPE_LEN;

    #[test]
    fn post_fits_a_request_frame_and_a_full_page_a_response_frame() {
        let post =
            Request::Post { id: u32::MAX, envelope: vec![1; ENVELOPE_LEN], pow: Some(u64::MAX) };
        assert!(post.encode().len() <= super::super::MAX_REQUEST_FRAME);
        let items = (0..u64::from(super::super::MAX_FETCH))
            .map(|i| Item { cursor: u64::MAX - i, envelope: vec![2; ENVELOPE_LEN] })
            .collect();
        let page = Response::Page(Page { id: u32::MAX, head: u64::MAX, items });
        assert!(page.encode().len() <= super::super::MAX_RESPONSE_FRAME);
    }

    #[test]
    fn round_trips_and_rejects_non_canonical() {
        let msgs = [
            Request::Ping { id: 300 },
            Request::Fetch { id: 1, mailbox: [9; 32], after: 5, limit: 64 },
            Request::Subscribe { id: 2, from: vec![SubscribeFrom { mailbox: [3; 32], after: 0 }] },
        ];
        for m in msgs {
            assert_eq!(Request::decode(&m.encode()), Ok(m.clone()));
            let mut long = m.encode();
            long.push(0);
            assert_eq!(Request::decode(&long), Err(DecodeError::TrailingBytes(1)));
        }
        // Ping{id: 1} with an over-long varint for the id.
        assert_eq!(Request::decode(&[3, 0x81, 0x00]), Err(DecodeError::NonCanonical));
        assert_eq!(Request::decode(&[3]), Err(DecodeError::Incomplete));
        assert!(matches!(Request::decode(&[9]), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn hello_encoding_is_frozen() {
        let hello = ClientHello { magic: MAGIC, versions: vec![1] };
        assert_eq!(hello.encode(), b"cairnRLY\x01\x01");
        // As framed in relay.md's example.
        let framed = crate::hex::encode(&super::super::frame::encode(&hello.encode()));
        assert_eq!(framed, "0a000000636169726e524c590101");
        let welcome = ServerHello::Welcome { version: 1, limits: RelayLimits::default() };
        assert_eq!(welcome.encode(), [0, 1, 2, 0x40, 0x40, 0xc8, 1, 0x90, 3, 0, 0xac, 2]);
        let refused = ServerHello::Refused { code: 8, supported: vec![1] };
        assert_eq!(refused.encode(), [1, 8, 1, 1]);
        // The other examples of protocol-spec/relay.md.
        assert_eq!(Request::Ping { id: 7 }.encode(), [3, 7]);
        let err = Response::Error(ErrorReply::new(Some(7), ErrorCode::BadSignature, 0));
        assert_eq!(err.encode(), [5, 1, 7, 3, 0]);
        let posted = Response::Posted { id: 7, cursor: 300, duplicate: false };
        assert_eq!(posted.encode(), [0, 7, 0xac, 2, 0]);
    }
}
