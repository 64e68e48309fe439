//! Cutting a byte stream into frames, with a bounded buffer.
//!
//! The header is checked against the limit as soon as its four bytes are
//! in, before any payload byte is kept; the buffer then grows only with the
//! bytes that actually arrive, so a header announcing 4 GiB costs nothing
//! and a lying one costs at most what the peer really sent.

use super::PeerError;
use crate::relay_proto::frame::{HEADER_LEN, payload_len};

/// Frames out of a byte stream.
#[derive(Debug, Clone)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// The payload length of the frame being read, once its header is in.
    len: Option<usize>,
    max: usize,
}

impl FrameReader {
    /// A reader accepting payloads of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), len: None, max }
    }

    /// Changes the limit for the frames whose header is not read yet.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Bytes held for the frame being read.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes bytes off the front of `input` until one frame is complete and
    /// returns its payload; `None` when `input` ran out first.
    pub fn push(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, PeerError> {
        loop {
            let want = match self.len {
                None => HEADER_LEN,
                Some(len) => len,
            };
            let take = want.saturating_sub(self.buf.len()).min(input.len());
            let (now, rest) = input.split_at(take);
            self.buf.extend_from_slice(now);
            *input = rest;
            if self.buf.len() < want {
                return Ok(None);
            }
            match self.len {
                None => {
                    let header: [u8; HEADER_LEN] =
                        self.buf[..].try_into().map_err(|_| PeerError::EmptyFrame)?;
                    self.len = Some(payload_len(header, self.max)?);
                    self.buf.clear();
                }
                Some(_) => {
                    self.len = None;
                    return Ok(Some(core::mem::take(&mut self.buf)));
                }
            }
        }
    }

    /// The stream ended: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), PeerError> {
        match self.len {
            None if self.buf.is_empty() => Ok(()),
            None => Err(PeerError::Truncated { needed: HEADER_LEN - self.buf.len() }),
            Some(len) => Err(PeerError::Truncated { needed: len - self.buf.len() }),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::relay_proto::frame::encode;

    #[test]
    fn frames_come_out_whole_whatever_the_cuts() {
        let mut stream = encode(b"hello");
        stream.extend_from_slice(&encode(b"x"));
        for cut in 0..=stream.len() {
            let mut r = FrameReader::new(16);
            let mut got = Vec::new();
            for mut part in [&stream[..cut], &stream[cut..]] {
                while let Some(p) = r.push(&mut part).expect("valid") {
                    got.push(p);
                }
                assert!(part.is_empty());
            }
            assert_eq!(got, vec![b"hello".to_vec(), b"x".to_vec()], "cut at {cut}");
            assert_eq!(r.finish(), Ok(()));
        }
    }

    #[test]
    fn oversized_header_is_refused_before_any_payload() {
        let mut r = FrameReader::new(16);
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert_eq!(r.push(&mut input), Err(PeerError::TooLarge { len: 0xffff_ffff, max: 16 }));
        assert!(r.buffered() <= HEADER_LEN);
        let mut r = FrameReader::new(16);
        assert_eq!(r.push(&mut &[0, 0, 0, 0][..]), Err(PeerError::EmptyFrame));
    }

    #[test]
    fn truncation_is_reported_with_what_is_missing() {
        let mut r = FrameReader::new(1 << 20);
        // A header announcing 1 MiB, then 3 bytes: only the 3 bytes are held.
        let mut input: &[u8] = &[0, 0, 0x10, 0, 1, 2, 3];
        assert_eq!(r.push(&mut input), Ok(None));
        assert_eq!(r.buffered(), 3);
        assert!(r.buf.capacity() < 1024, "allocated the declared size");
        assert_eq!(r.finish(), Err(PeerError::Truncated { needed: (1 << 20) - 3 }));
        let mut r = FrameReader::new(16);
        assert_eq!(r.push(&mut &[5, 0][..]), Ok(None));
        assert_eq!(r.finish(), Err(PeerError::Truncated { needed: 2 }));
    }
}
