//! Fragmentation: a message split into fixed-size pieces, one per envelope.
//!
//! Fragment layout (exactly [`SEALED_PAYLOAD_LEN`] bytes, the plaintext of one
//! envelope):
//!
//! | offset | len | field |
//! |---:|---:|---|
//! | 0 | 16 | message tag: random, equal in every fragment of one message |
//! | 16 | 1 | index, from 0 |
//! | 17 | 1 | count, 1..=[`MAX_FRAGMENTS`] |
//! | 18 | 2 | data length, little-endian |
//! | 20 | len | data |
//! | 20+len | rest | zero padding |
//!
//! Canonical form: every fragment but the last is full; the last holds at
//! least one byte; padding is zero. The [`Reassembler`] holds a bounded
//! number of incomplete messages and evicts the oldest first.

use std::collections::{BTreeMap, VecDeque};

use rand_core::CryptoRng;

use super::SEALED_PAYLOAD_LEN;

const HEADER_LEN: usize = 20;
/// Message bytes carried by one fragment.
pub const FRAGMENT_DATA_LEN: usize = SEALED_PAYLOAD_LEN - HEADER_LEN;
/// The most fragments one message may have.
pub const MAX_FRAGMENTS: usize = 64;
/// The most incomplete messages a [`Reassembler`] keeps.
pub const MAX_PENDING_MESSAGES: usize = 256;

/// Why a fragment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The message is larger than [`MAX_FRAGMENTS`] fragments can carry.
    #[error("message of {0} bytes is too large to send")]
    MessageTooLarge(usize),
    /// An empty message cannot be sent.
    #[error("empty message")]
    Empty,
    /// A fragment is not exactly [`SEALED_PAYLOAD_LEN`] bytes.
    #[error("fragment has the wrong length")]
    BadLength,
    /// Index, count or data length out of range, or not canonical.
    #[error("malformed fragment header: {0}")]
    BadHeader(&'static str),
    /// Padding bytes are not zero.
    #[error("fragment padding is not zero")]
    BadPadding,
    /// A fragment disagrees with another fragment of the same message.
    #[error("fragment conflicts with an earlier one of the same message")]
    Conflict,
}

/// One parsed fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The message tag.
    pub tag: [u8; 16],
    /// Position of this fragment.
    pub index: u8,
    /// Number of fragments of the message.
    pub count: u8,
    /// The message bytes carried.
    pub data: Vec<u8>,
}

impl Fragment {
    /// Encodes to exactly [`SEALED_PAYLOAD_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; SEALED_PAYLOAD_LEN];
        out[..16].copy_from_slice(&self.tag);
        out[16] = self.index;
        out[17] = self.count;
        // data.len() <= FRAGMENT_DATA_LEN < 2^16 by construction.
        out[18..20].copy_from_slice(&(self.data.len() as u16).to_le_bytes());
        out[HEADER_LEN..HEADER_LEN + self.data.len()].copy_from_slice(&self.data);
        out
    }

    /// Parses and checks a fragment.
    pub fn decode(bytes: &[u8]) -> Result<Self, FragmentError> {
        if bytes.len() != SEALED_PAYLOAD_LEN {
            return Err(FragmentError::BadLength);
        }
        let (index, count) = (bytes[16], bytes[17]);
        let len = u16::from_le_bytes([bytes[18], bytes[19]]) as usize;
        if count == 0 || count as usize > MAX_FRAGMENTS {
            return Err(FragmentError::BadHeader("count out of range"));
        }
        if index >= count {
            return Err(FragmentError::BadHeader("index not below count"));
        }
        let last = index + 1 == count;
        if len > FRAGMENT_DATA_LEN || len == 0 || (!last && len != FRAGMENT_DATA_LEN) {
            return Err(FragmentError::BadHeader("data length not canonical"));
        }
        if bytes[HEADER_LEN + len..].iter().any(|&b| b != 0) {
            return Err(FragmentError::BadPadding);
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&bytes[..16]);
        Ok(Self { tag, index, count, data: bytes[HEADER_LEN..HEADER_LEN + len].to_vec() })
    }
}

/// Splits `message` into fragments under one fresh random tag.
pub fn fragment_message(
    rng: &mut (impl CryptoRng + ?Sized),
    message: &[u8],
) -> Result<Vec<Fragment>, FragmentError> {
    if message.is_empty() {
        return Err(FragmentError::Empty);
    }
    let count = message.len().div_ceil(FRAGMENT_DATA_LEN);
    if count > MAX_FRAGMENTS {
        return Err(FragmentError::MessageTooLarge(message.len()));
    }
    let mut tag = [0u8; 16];
    rng.fill_bytes(&mut tag);
    Ok(message
        .chunks(FRAGMENT_DATA_LEN)
        .enumerate()
        .map(|(i, chunk)| Fragment {
            tag,
            // i < count <= 64: fits in u8.
            index: i as u8,
            count: count as u8,
            data: chunk.to_vec(),
        })
        .collect())
}

struct Partial {
    count: u8,
    pieces: BTreeMap<u8, Vec<u8>>,
}

/// Collects fragments until a message is whole. Memory is bounded by
/// [`MAX_PENDING_MESSAGES`] × [`MAX_FRAGMENTS`] fragments.
#[derive(Default)]
pub struct Reassembler {
    partial: BTreeMap<[u8; 16], Partial>,
    arrival: VecDeque<[u8; 16]>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of incomplete messages held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Adds a fragment; returns the whole message once its last piece is in.
    /// A duplicate of a held fragment is ignored.
    pub fn add(&mut self, fragment: Fragment) -> Result<Option<Vec<u8>>, FragmentError> {
        if fragment.count == 1 {
            return Ok(Some(fragment.data));
        }
        if !self.partial.contains_key(&fragment.tag) {
            self.make_room();
            self.arrival.push_back(fragment.tag);
            let fresh = Partial { count: fragment.count, pieces: BTreeMap::new() };
            self.partial.insert(fragment.tag, fresh);
        }
        let Some(partial) = self.partial.get_mut(&fragment.tag) else {
            return Ok(None);
        };
        if partial.count != fragment.count {
            return Err(FragmentError::Conflict);
        }
        match partial.pieces.get(&fragment.index) {
            Some(held) if *held != fragment.data => return Err(FragmentError::Conflict),
            Some(_) => return Ok(None),
            None => {}
        }
        partial.pieces.insert(fragment.index, fragment.data);
        if partial.pieces.len() < partial.count as usize {
            return Ok(None);
        }
        let done = self.partial.remove(&fragment.tag);
        self.arrival.retain(|t| *t != fragment.tag);
        Ok(done.map(|p| p.pieces.into_values().flatten().collect()))
    }

    fn make_room(&mut self) {
        while self.partial.len() >= MAX_PENDING_MESSAGES {
            match self.arrival.pop_front() {
                Some(oldest) => {
                    self.partial.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    #[test]
    fn split_and_reassemble_in_any_order() {
        let mut rng = XofRng::from_seed(b"frag");
        let message: Vec<u8> = (0..FRAGMENT_DATA_LEN * 3 + 5).map(|i| i as u8).collect();
        let mut frags = fragment_message(&mut rng, &message).expect("split");
        assert_eq!(frags.len(), 4);
        frags.reverse();
        let mut r = Reassembler::new();
        let mut out = None;
        for f in frags {
            let decoded = Fragment::decode(&f.encode()).expect("decode");
            assert_eq!(decoded, f);
            assert!(out.is_none());
            out = r.add(decoded).expect("add");
        }
        assert_eq!(out, Some(message));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn limits_and_canonical_form() {
        let mut rng = XofRng::from_seed(b"frag2");
        let too_big = vec![1u8; FRAGMENT_DATA_LEN * MAX_FRAGMENTS + 1];
        assert!(matches!(
            fragment_message(&mut rng, &too_big),
            Err(FragmentError::MessageTooLarge(_))
        ));
        assert_eq!(fragment_message(&mut rng, &[]), Err(FragmentError::Empty));
        let f = fragment_message(&mut rng, b"short").expect("split").remove(0);
        let mut bytes = f.encode();
        bytes[SEALED_PAYLOAD_LEN - 1] = 1;
        assert_eq!(Fragment::decode(&bytes), Err(FragmentError::BadPadding));
        let mut bytes = f.encode();
        bytes[17] = 0;
        assert!(matches!(Fragment::decode(&bytes), Err(FragmentError::BadHeader(_))));
        let mut bytes = f.encode();
        bytes[17] = 2; // claims two fragments, but the first is not full
        assert!(matches!(Fragment::decode(&bytes), Err(FragmentError::BadHeader(_))));
    }

    #[test]
    fn pending_is_bounded() {
        let mut rng = XofRng::from_seed(b"frag3");
        let mut r = Reassembler::new();
        for _ in 0..MAX_PENDING_MESSAGES * 3 {
            let msg = vec![7u8; FRAGMENT_DATA_LEN + 1];
            let first = fragment_message(&mut rng, &msg).expect("split").remove(0);
            assert_eq!(r.add(first), Ok(None));
            assert!(r.pending() <= MAX_PENDING_MESSAGES);
        }
        assert_eq!(r.pending(), MAX_PENDING_MESSAGES);
    }
}
