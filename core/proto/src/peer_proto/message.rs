//! The messages of the peer protocol after the hellos (postcard,
//! canonical, every field bounded).
//!
//! The two authentication messages travel under the handshake keys; every
//! [`PeerMessage`] under the session keys. Each is one frame.

use serde::{Deserialize, Serialize};

use super::{MAX_HAVE, MAX_HEADS, MAX_PLAINTEXT, PeerError};
use crate::chain::VersionVector;
use crate::crypto::{PublicKey, Signature};
use crate::epoch::KeyPackage;
use crate::wire::{GroupId, MAX_MESSAGE_LEN, MessageId, decode_canonical, encode};

/// The responder's proof: its identity key and its onion-service key, each
/// signing `th1 ‖ identity ‖ onion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponderAuth {
    /// The responder's identity (signing) public key.
    pub identity: PublicKey,
    /// The public key of the responder's onion service.
    pub onion: PublicKey,
    /// By `identity`, prefix [`super::RESPONDER_IDENTITY_PREFIX`].
    pub identity_sig: Signature,
    /// By `onion`, prefix [`super::RESPONDER_ONION_PREFIX`].
    pub onion_sig: Signature,
}

/// The initiator's proof: its identity key signing `th2 ‖ identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiatorAuth {
    /// The initiator's identity (signing) public key.
    pub identity: PublicKey,
    /// By `identity`, prefix [`super::INITIATOR_PREFIX`].
    pub sig: Signature,
}

/// The latest message of one author in a group, as its sender holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The author.
    pub author: PublicKey,
    /// The author's latest sequence number held.
    pub seq: u64,
    /// That message's id.
    pub id: MessageId,
}

/// A message of an open session. Variant numbers are part of the protocol:
/// new kinds are added at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Asks for the messages of `group` the sender lacks. `have` is its
    /// version vector, sorted by author, authors distinct.
    ResyncRequest {
        /// The group.
        group: GroupId,
        /// Author → highest contiguous seq held (at most [`MAX_HAVE`]).
        have: Vec<(PublicKey, u64)>,
        /// Most [`PeerMessage::ResyncItem`]s wanted in reply (at least 1).
        limit: u32,
    },
    /// One signed inner message in reply to a resync request.
    ResyncItem {
        /// The encoded signed message (at most `MAX_MESSAGE_LEN` bytes).
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// The end of the reply to a resync request.
    ResyncDone {
        /// The sender has more that the requester lacks: ask again.
        more: bool,
    },
    /// The latest message per author in `group`, to compare heads.
    Heads {
        /// The group.
        group: GroupId,
        /// Sorted by author, authors distinct, at most [`MAX_HEADS`].
        heads: Vec<Head>,
    },
    /// A signed message for `group` delivered directly (key packages,
    /// rekeys, anything that could not go through a relay).
    Deliver {
        /// The group.
        group: GroupId,
        /// The encoded signed message (at most `MAX_MESSAGE_LEN` bytes).
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// A refusal of the last request (the session stays open unless a
    /// [`PeerMessage::Close`] follows).
    Error {
        /// A [`super::PeerErrorCode`] number.
        code: u16,
        /// Detail whose meaning depends on the code.
        info: u64,
    },
    /// The sender ends the session and closes the stream.
    Close,
    /// Asks an invitation's service to admit the sender
    /// (`crate::invite`).
    JoinRequest {
        /// Keyed hash of the invite secret over the channel binding.
        proof: [u8; 32],
        /// The key package the admitting rekey is wrapped to.
        key_package: KeyPackage,
        /// The name the redeemer gives (shown to the inviter).
        name: String,
    },
    /// The inviter admitted the sender: resync `group` from the inviter's
    /// own onion service.
    Welcome {
        /// The group.
        group: GroupId,
        /// Its genesis message.
        genesis: MessageId,
        /// The message that admitted the redeemer.
        admitted_by: MessageId,
        /// The inviter's own onion-service key.
        inviter_onion: PublicKey,
    },
    /// Asks which groups the sender shares with the receiver (a restored
    /// identity finding its groups again).
    GroupsRequest,
    /// The groups the requester is or was a member of, with their genesis.
    Groups {
        /// (group, genesis), at most [`MAX_GROUPS`].
        groups: Vec<(GroupId, MessageId)>,
    },
}

/// The most groups in one [`PeerMessage::Groups`].
pub const MAX_GROUPS: usize = 256;
/// The longest name in a [`PeerMessage::JoinRequest`], in bytes.
pub const MAX_JOIN_NAME: usize = 64;

fn strictly_increasing<T: Ord>(mut keys: impl Iterator<Item = T>) -> bool {
    let Some(mut last) = keys.next() else { return true };
    for k in keys {
        if k <= last {
            return false;
        }
        last = k;
    }
    true
}

impl PeerMessage {
    /// The canonical encoding (a frame's plaintext).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes canonically and checks every bound.
    pub fn decode(bytes: &[u8]) -> Result<Self, PeerError> {
        let m: Self = decode_canonical(bytes, MAX_PLAINTEXT)?;
        m.check()?;
        Ok(m)
    }

    /// The rules beyond the encoding: bounds and canonical order.
    pub fn check(&self) -> Result<(), PeerError> {
        match self {
            Self::ResyncRequest { have, limit, .. } => {
                if have.len() > MAX_HAVE {
                    return Err(PeerError::Malformed("version vector too long"));
                }
                if !strictly_increasing(have.iter().map(|(a, _)| a)) {
                    return Err(PeerError::Malformed("version vector not sorted"));
                }
                if *limit == 0 {
                    return Err(PeerError::Malformed("resync limit 0"));
                }
            }
            Self::ResyncItem { message } | Self::Deliver { message, .. } => {
                if message.len() > MAX_MESSAGE_LEN {
                    return Err(PeerError::Malformed("message too long"));
                }
            }
            Self::Heads { heads, .. } => {
                if heads.len() > MAX_HEADS {
                    return Err(PeerError::Malformed("too many heads"));
                }
                if !strictly_increasing(heads.iter().map(|h| h.author)) {
                    return Err(PeerError::Malformed("heads not sorted"));
                }
            }
            Self::JoinRequest { name, .. } if name.len() > MAX_JOIN_NAME => {
                return Err(PeerError::Malformed("join name too long"));
            }
            Self::Groups { groups } if groups.len() > MAX_GROUPS => {
                return Err(PeerError::Malformed("too many groups"));
            }
            Self::ResyncDone { .. }
            | Self::Error { .. }
            | Self::Close
            | Self::JoinRequest { .. }
            | Self::Welcome { .. }
            | Self::GroupsRequest
            | Self::Groups { .. } => {}
        }
        Ok(())
    }

    /// A resync request carrying `have` (sorted, as a vector iterates).
    pub fn resync_request(group: GroupId, have: &VersionVector, limit: u32) -> Self {
        let have = have.iter().map(|(a, s)| (*a, *s)).collect();
        Self::ResyncRequest { group, have, limit }
    }
}

macro_rules! auth_codec {
    ($ty:ty) => {
        impl $ty {
            /// The canonical encoding (a handshake frame's plaintext).
            pub fn encode(&self) -> Vec<u8> {
                encode(self)
            }

            /// Decodes canonically.
            pub fn decode(bytes: &[u8]) -> Result<Self, PeerError> {
                Ok(decode_canonical(bytes, super::MAX_HELLO_FRAME)?)
            }
        }
    };
}

auth_codec!(ResponderAuth);
auth_codec!(InitiatorAuth);

#[cfg(test)]
mod test {
    use super::*;

    fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }

    #[test]
    fn the_largest_messages_fit_a_frame() {
        let have = (0..MAX_HAVE).map(|i| (PublicKey([0; 32]), u64::MAX - i as u64)).collect();
        let req = PeerMessage::ResyncRequest { group: GroupId([9; 32]), have, limit: u32::MAX };
        assert!(req.encode().len() <= MAX_PLAINTEXT);
        let head = Head { author: key(1), seq: u64::MAX, id: MessageId([2; 32]) };
        let heads = PeerMessage::Heads { group: GroupId([9; 32]), heads: vec![head; MAX_HEADS] };
        assert!(heads.encode().len() <= MAX_PLAINTEXT);
        let deliver =
            PeerMessage::Deliver { group: GroupId([9; 32]), message: vec![1; MAX_MESSAGE_LEN] };
        assert!(deliver.encode().len() <= MAX_PLAINTEXT);
    }

    #[test]
    fn bounds_and_order_are_checked() {
        let g = GroupId([1; 32]);
        let unsorted =
            PeerMessage::ResyncRequest { group: g, have: vec![(key(2), 0), (key(1), 0)], limit: 1 };
        assert_eq!(
            PeerMessage::decode(&unsorted.encode()),
            Err(PeerError::Malformed("version vector not sorted"))
        );
        let dup =
            PeerMessage::ResyncRequest { group: g, have: vec![(key(1), 0), (key(1), 3)], limit: 1 };
        assert!(PeerMessage::decode(&dup.encode()).is_err());
        let zero = PeerMessage::ResyncRequest { group: g, have: vec![], limit: 0 };
        assert!(PeerMessage::decode(&zero.encode()).is_err());
        let long = PeerMessage::ResyncItem { message: vec![0; MAX_MESSAGE_LEN + 1] };
        assert_eq!(
            PeerMessage::decode(&long.encode()),
            Err(PeerError::Malformed("message too long"))
        );
        let h = |a| Head { author: key(a), seq: 0, id: MessageId([0; 32]) };
        let heads = PeerMessage::Heads { group: g, heads: vec![h(3), h(3)] };
        assert!(PeerMessage::decode(&heads.encode()).is_err());
        let vv: VersionVector = [(key(5), 1), (key(4), 2)].into_iter().collect();
        let ok = PeerMessage::resync_request(g, &vv, 10);
        assert_eq!(PeerMessage::decode(&ok.encode()), Ok(ok.clone()));
        let mut trailing = ok.encode();
        trailing.push(0);
        assert!(matches!(PeerMessage::decode(&trailing), Err(PeerError::Decode(_))));
    }

    #[test]
    fn examples_of_the_spec() {
        assert_eq!(PeerMessage::Close.encode(), [6]);
        assert_eq!(PeerMessage::ResyncDone { more: true }.encode(), [2, 1]);
        assert_eq!(PeerMessage::Error { code: 5, info: 0 }.encode(), [5, 5, 0]);
    }
}
