//! The one reader of relay frames (`relay.md` §2) from an async byte
//! stream: the relay's connections, its client, the node's relay client
//! and the test harness all read through [`FrameReader`].
//!
//! The frame rules are `cairn_proto::relay_proto::frame`'s
//! ([`frame::split`]): the length is checked against the limit before any
//! byte of the payload is buffered. Bytes are read into a buffer that grows
//! only to the frame being read and shrinks back after a large one, so an
//! idle connection holds a few KiB.
//!
//! ```
//! use cairn_net::frames::FrameReader;
//! use cairn_net::proto::relay_proto::frame;
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let bytes = [frame::encode(b"one"), frame::encode(b"two")].concat();
//! let mut reader = FrameReader::new(&bytes[..], 100);
//! assert_eq!(reader.next().await?, Some(b"one".to_vec()));
//! assert_eq!(reader.next().await?, Some(b"two".to_vec()));
//! assert_eq!(reader.next().await?, None);
//! # Ok::<(), cairn_net::frames::ReadError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use cairn_proto::relay_proto::frame::{self, FrameError, HEADER_LEN};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Buffer kept for small frames and idle connections.
const SMALL: usize = 4096;
/// Largest buffer grown for a client that sends many frames at once (so
/// that several pipelined posts arrive in one read and are checked as one
/// batch).
const LARGE: usize = 64 * 1024;

/// Why no frame could be read.
///
/// Exhaustive on purpose: each caller maps every case to a protocol
/// reaction (the relay answers `TooLarge` with an error code, treats
/// `Empty` as malformed), and a new case must make them decide again.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The header announced more than the limit (nothing was allocated
    /// for it).
    #[error("a frame longer than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The header announced an empty frame.
    #[error("an empty frame")]
    Empty,
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame")]
    Truncated,
    /// The stream failed.
    #[error("reading the stream failed: {0}")]
    Io(#[source] std::io::Error),
}

/// Reads frames of at most `max` payload bytes.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    len: usize,
    max: usize,
    /// Bytes the last read returned.
    last_read: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames of at most `max` payload bytes from `inner`.
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, buf: vec![0; SMALL.min(max + HEADER_LEN)], len: 0, max, last_read: 0 }
    }

    /// The next frame's payload; `None` at a clean end of stream. Cancel-safe:
    /// bytes enter the buffer only when a read completes.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        loop {
            match self.buffered() {
                Ok(Some(out)) => return Ok(Some(out)),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
            let spare = self.buf.len() - self.len;
            let n = self.inner.read(&mut self.buf[self.len..]).await.map_err(ReadError::Io)?;
            if n == 0 {
                return if self.len == 0 { Ok(None) } else { Err(ReadError::Truncated) };
            }
            self.len += n;
            self.last_read = n;
            // A full read means more is waiting: read more at once next time.
            if n == spare && self.buf.len() < LARGE.min(self.max + HEADER_LEN) {
                self.buf.resize((self.buf.len() * 2).min(LARGE.max(self.max + HEADER_LEN)), 0);
            }
        }
    }

    /// The next frame if it is already in the buffer (no I/O): `Ok(None)`
    /// means more bytes are needed.
    pub fn buffered(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        match frame::split(&self.buf[..self.len], self.max) {
            Ok((payload, used)) => {
                let out = payload.to_vec();
                self.consume(used);
                Ok(Some(out))
            }
            Err(FrameError::Incomplete { needed }) => {
                self.reserve(self.len + needed);
                Ok(None)
            }
            Err(FrameError::TooLarge { max, .. }) => Err(ReadError::TooLarge { max }),
            Err(_) => Err(ReadError::Empty),
        }
    }

    /// Reads and drops whatever arrives next (closing a connection);
    /// returns how many bytes, 0 at the end of the stream.
    pub async fn discard(&mut self) -> std::io::Result<usize> {
        self.len = 0;
        self.inner.read(&mut self.buf).await
    }

    /// Grows the buffer to hold `total` bytes (at most a header and `max`).
    fn reserve(&mut self, total: usize) {
        if self.buf.len() < total {
            self.buf.resize(total, 0);
        }
    }

    fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.len, 0);
        self.len -= used;
        // Back to a small buffer once drained by a client that has stopped
        // streaming (an idle connection costs little).
        if self.len == 0 && self.buf.len() > SMALL && self.last_read < self.buf.len() / 4 {
            self.buf.truncate(SMALL);
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn reader(bytes: Vec<u8>, max: usize) -> FrameReader<std::io::Cursor<Vec<u8>>> {
        FrameReader::new(std::io::Cursor::new(bytes), max)
    }

    #[tokio::test]
    async fn frames_small_and_large_then_end() {
        let mut bytes = frame::encode(b"one");
        bytes.extend(frame::encode(&vec![7; 10_000]));
        bytes.extend(frame::encode(b"three"));
        let mut r = reader(bytes, 20_000);
        assert_eq!(r.next().await.ok().flatten(), Some(b"one".to_vec()));
        assert_eq!(r.next().await.ok().flatten().map(|p| p.len()), Some(10_000));
        assert_eq!(r.next().await.ok().flatten(), Some(b"three".to_vec()));
        assert!(r.buf.len() <= LARGE.max(20_004), "grown only to the limit");
        assert!(matches!(r.next().await, Ok(None)));
    }

    #[tokio::test]
    async fn bad_headers_and_truncation() {
        let mut r = reader(vec![0xff, 0xff, 0, 0], 100);
        assert!(matches!(r.next().await, Err(ReadError::TooLarge { max: 100 })));
        assert_eq!(r.buf.len(), SMALL.min(104), "nothing allocated for it");
        assert!(matches!(reader(vec![0; 4], 100).next().await, Err(ReadError::Empty)));
        let cut = frame::encode(b"abcdef")[..7].to_vec();
        assert!(matches!(reader(cut, 100).next().await, Err(ReadError::Truncated)));
    }
}
