//! The two frozen messages that open a peer stream.
//!
//! Every version of the peer protocol encodes [`Hello`] and [`Welcome`]
//! exactly like this one, so two versions can always agree on which to
//! speak, or say that they cannot. The key share is a byte string whose
//! meaning the chosen version fixes (version 1: a 32-byte x25519 key).

use serde::{Deserialize, Serialize};

use super::{MAX_HELLO_FRAME, MAX_SHARE_LEN, MAX_VERSIONS, PeerError};
use crate::wire::{decode_canonical, encode};

/// The first eight bytes of a hello: "this is the cairn peer protocol".
pub const MAGIC: [u8; 8] = *b"cairnPER";

/// The initiator's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`MAGIC`].
    pub magic: [u8; 8],
    /// The versions the initiator speaks, 1 to [`MAX_VERSIONS`].
    pub versions: Vec<u16>,
    /// The initiator's ephemeral key share (at most [`MAX_SHARE_LEN`]).
    #[serde(with = "serde_bytes")]
    pub share: Vec<u8>,
}

/// The responder's answer to a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Welcome {
    /// The handshake goes on in `version`.
    Accepted {
        /// The highest version both sides speak.
        version: u16,
        /// The responder's ephemeral key share.
        #[serde(with = "serde_bytes")]
        share: Vec<u8>,
    },
    /// The responder will not go on; it closes the stream.
    Refused {
        /// A [`super::PeerErrorCode`] number.
        code: u16,
        /// The versions the responder speaks.
        supported: Vec<u16>,
    },
}

impl Hello {
    /// The canonical encoding (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes and checks the frozen shape: magic, 1..=8 versions, a share
    /// of at most [`MAX_SHARE_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, PeerError> {
        let hello: Self = decode_canonical(bytes, MAX_HELLO_FRAME)?;
        if hello.magic != MAGIC {
            return Err(PeerError::Malformed("bad magic"));
        }
        if hello.versions.is_empty() || hello.versions.len() > MAX_VERSIONS {
            return Err(PeerError::Malformed("version list length"));
        }
        if hello.share.len() > MAX_SHARE_LEN {
            return Err(PeerError::Malformed("share too long"));
        }
        Ok(hello)
    }
}

impl Welcome {
    /// The canonical encoding (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes and checks the frozen shape.
    pub fn decode(bytes: &[u8]) -> Result<Self, PeerError> {
        let welcome: Self = decode_canonical(bytes, MAX_HELLO_FRAME)?;
        match &welcome {
            Self::Accepted { share, .. } if share.len() > MAX_SHARE_LEN => {
                Err(PeerError::Malformed("share too long"))
            }
            Self::Refused { supported, .. } if supported.len() > MAX_VERSIONS => {
                Err(PeerError::Malformed("version list length"))
            }
            _ => Ok(welcome),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hello_encoding_is_frozen() {
        let hello = Hello { magic: MAGIC, versions: vec![1], share: vec![0xaa; 32] };
        let mut want = b"cairnPER\x01\x01\x20".to_vec();
        want.extend_from_slice(&[0xaa; 32]);
        assert_eq!(hello.encode(), want);
        assert_eq!(Hello::decode(&want), Ok(hello));
        let welcome = Welcome::Accepted { version: 1, share: vec![0xbb; 32] };
        let mut want = vec![0, 1, 0x20];
        want.extend_from_slice(&[0xbb; 32]);
        assert_eq!(welcome.encode(), want);
        assert_eq!(Welcome::Refused { code: 3, supported: vec![1] }.encode(), [1, 3, 1, 1]);
    }

    #[test]
    fn shape_is_checked() {
        let good = Hello { magic: MAGIC, versions: vec![1], share: vec![1; 32] };
        let bad_magic = Hello { magic: *b"cairnRLY", ..good.clone() };
        assert_eq!(Hello::decode(&bad_magic.encode()), Err(PeerError::Malformed("bad magic")));
        let none = Hello { versions: vec![], ..good.clone() };
        assert!(matches!(Hello::decode(&none.encode()), Err(PeerError::Malformed(_))));
        let many = Hello { versions: vec![1; 9], ..good.clone() };
        assert!(matches!(Hello::decode(&many.encode()), Err(PeerError::Malformed(_))));
        let long = Hello { share: vec![1; 65], ..good };
        assert!(matches!(Hello::decode(&long.encode()), Err(PeerError::Malformed(_))));
    }
}
