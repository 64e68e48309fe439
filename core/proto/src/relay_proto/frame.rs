//! Frames: a 4-byte little-endian payload length, then the payload.
//!
//! The length is checked against the receiver's limit before anything is
//! allocated; an empty payload is invalid. [`split`] tells an incomplete
//! buffer (wait for more bytes) from an invalid one (close the connection).

/// Length of the frame header.
pub const HEADER_LEN: usize = 4;

/// Why bytes are not (yet) a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header announces more than the receiver accepts.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The announced payload length.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },
    /// The header announces an empty payload.
    #[error("empty frame")]
    Empty,
    /// The buffer ends before the frame does.
    #[error("incomplete frame: {needed} more bytes needed")]
    Incomplete {
        /// Bytes still missing (header first, then payload).
        needed: usize,
    },
}

/// The payload length a header announces, checked against `max`.
pub fn payload_len(header: [u8; HEADER_LEN], max: usize) -> Result<usize, FrameError> {
    let len = usize::try_from(u32::from_le_bytes(header)).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Splits the first frame off `buf`: its payload and the bytes it used.
pub fn split(buf: &[u8], max: usize) -> Result<(&[u8], usize), FrameError> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Err(FrameError::Incomplete { needed: HEADER_LEN - buf.len() });
    };
    let len = payload_len(*header, max)?;
    match rest.get(..len) {
        Some(payload) => Ok((payload, HEADER_LEN + len)),
        None => Err(FrameError::Incomplete { needed: len - rest.len() }),
    }
}

/// A frame holding `payload`. The caller keeps payloads under the
/// receiver's limit (every message type has a known maximum).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn round_trip_and_incomplete() {
        let f = encode(b"hello");
        assert_eq!(f, [5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']);
        assert_eq!(split(&f, 16), Ok((&b"hello"[..], 9)));
        for cut in 0..f.len() {
            let needed = if cut < 4 { 4 - cut } else { f.len() - cut };
            assert_eq!(split(&f[..cut], 16), Err(FrameError::Incomplete { needed }));
        }
        let mut two = f.clone();
        two.extend_from_slice(&encode(b"x"));
        assert_eq!(split(&two, 16), Ok((&b"hello"[..], 9)));
    }

    #[test]
    fn limits_checked_before_the_payload_arrives() {
        assert_eq!(split(&[0, 0, 0, 0], 16), Err(FrameError::Empty));
        assert_eq!(split(&[17, 0, 0, 0], 16), Err(FrameError::TooLarge { len: 17, max: 16 }));
        assert_eq!(
            payload_len([0xff; 4], 16),
            Err(FrameError::TooLarge { len: 0xffff_ffff, max: 16 })
        );
        assert_eq!(payload_len([16, 0, 0, 0], 16), Ok(16));
    }
}
