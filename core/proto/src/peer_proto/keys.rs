//! The transcript, the key schedule and the per-direction frame keys.
//!
//! * Transcript hash `th` = `BLAKE3-derive_key(PEER_TRANSCRIPT, every byte of
//!   the handshake on the wire so far)`, frame headers included.
//! * Handshake keys from `shared ‖ th1` (after the two hellos), session
//!   keys from `shared ‖ th3` (after both authentications): distinct
//!   contexts per direction and per stage, so no key is ever used for two
//!   purposes and the session keys commit to both identities.
//! * Frames are sealed with XChaCha20-Poly1305 under the direction's key,
//!   nonce = counter (u64 LE) ‖ 16 zero bytes, associated data = the
//!   frame header. The counter is never sent: the receiver opens frame n
//!   with counter n, so anything but the next frame fails to open.

use zeroize::Zeroizing;

use super::PeerError;
use crate::crypto::{AeadKey, NONCE_LEN, TAG_LEN, context, derive_key};
use crate::relay_proto::frame::{self, HEADER_LEN};

/// Signature prefix of the responder's identity key over its statement.
pub const RESPONDER_IDENTITY_PREFIX: &[u8] = b"cairn peer responder identity v1\0";
/// Signature prefix of the responder's onion-service key over its statement.
pub const RESPONDER_ONION_PREFIX: &[u8] = b"cairn peer responder onion v1\0";
/// Signature prefix of the initiator's identity key over its statement.
pub const INITIATOR_PREFIX: &[u8] = b"cairn peer initiator identity v1\0";

/// The X25519 shared secret of one handshake: zeroized on drop, redacted
/// in `Debug` (the phases that hold it derive `Debug`).
pub(super) struct Shared(Zeroizing<[u8; 32]>);

impl Shared {
    pub(super) fn new(secret: Zeroizing<[u8; 32]>) -> Self {
        Self(secret)
    }

    /// The secret bytes (tests check that they never show in `Debug`).
    #[cfg(test)]
    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Shared(<redacted>)")
    }
}

/// The running hash of every handshake byte.
#[derive(Clone)]
pub(super) struct Transcript(blake3::Hasher);

impl core::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Transcript")
    }
}

impl Transcript {
    pub(super) fn new() -> Self {
        Self(blake3::Hasher::new_derive_key(context::PEER_TRANSCRIPT))
    }

    /// Adds a frame as it is on the wire (header and payload).
    pub(super) fn add_frame(&mut self, payload: &[u8]) {
        self.0.update(&frame_header(payload.len()));
        self.0.update(payload);
    }

    /// The hash of everything added so far.
    pub(super) fn hash(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The 4-byte header of a frame of `len` payload bytes.
fn frame_header(len: usize) -> [u8; HEADER_LEN] {
    u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes()
}

/// The nonce of frame number `counter`: `counter (u64 LE) ‖ 16 zero bytes`.
pub fn nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&counter.to_le_bytes());
    n
}

/// One direction of a session: its key and the number of the next frame.
#[derive(Debug)]
pub struct DirectionKey {
    key: AeadKey,
    counter: u64,
}

impl DirectionKey {
    /// `BLAKE3-derive_key(ctx, shared ‖ th)`, counter 0.
    pub(super) fn derive(ctx: &str, shared: &Shared, th: &[u8; 32]) -> Self {
        let mut material = Zeroizing::new([0u8; 64]);
        material[..32].copy_from_slice(&shared.0[..]);
        material[32..].copy_from_slice(th);
        Self { key: AeadKey::from_bytes(*derive_key(ctx, &material[..])), counter: 0 }
    }

    /// The number of the next frame.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Whether two keys are equal (tests compare keys of sessions).
    #[cfg(test)]
    pub(super) fn same_key(&self, other: &Self) -> bool {
        self.key == other.key
    }

    fn next(&mut self) -> Result<[u8; NONCE_LEN], PeerError> {
        let n = nonce(self.counter);
        self.counter = self.counter.checked_add(1).ok_or(PeerError::CounterExhausted)?;
        Ok(n)
    }

    /// Seals `plaintext` as the next frame; returns the whole frame.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, PeerError> {
        let header = frame_header(plaintext.len() + TAG_LEN);
        let n = self.next()?;
        let sealed = self.key.seal_with_nonce(&n, plaintext, &header);
        Ok(frame::encode(&sealed))
    }

    /// Opens the payload of the next frame.
    pub fn open(&mut self, payload: &[u8]) -> Result<Vec<u8>, PeerError> {
        let header = frame_header(payload.len());
        let n = nonce(self.counter);
        let plain =
            self.key.open_with_nonce(&n, payload, &header).map_err(|_| PeerError::Decrypt)?;
        self.counter = self.counter.checked_add(1).ok_or(PeerError::CounterExhausted)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn shared() -> Shared {
        Shared::new(Zeroizing::new([1; 32]))
    }

    #[test]
    fn frames_open_only_in_order() {
        let mut tx = DirectionKey::derive(context::PEER_SESSION_I2R, &shared(), &[2; 32]);
        let mut rx = DirectionKey::derive(context::PEER_SESSION_I2R, &shared(), &[2; 32]);
        let f0 = tx.seal(b"zero").expect("seal");
        let f1 = tx.seal(b"one").expect("seal");
        assert_eq!(f0.len(), HEADER_LEN + 4 + TAG_LEN);
        // Frame 1 first: refused, and the counter does not move.
        assert_eq!(rx.open(&f1[HEADER_LEN..]), Err(PeerError::Decrypt));
        assert_eq!(rx.open(&f0[HEADER_LEN..]).as_deref(), Ok(&b"zero"[..]));
        assert_eq!(rx.open(&f0[HEADER_LEN..]), Err(PeerError::Decrypt));
        assert_eq!(rx.open(&f1[HEADER_LEN..]).as_deref(), Ok(&b"one"[..]));
        assert_eq!(rx.counter(), 2);
    }

    #[test]
    fn counter_exhaustion_is_an_error() {
        let mut tx = DirectionKey::derive(context::PEER_SESSION_I2R, &shared(), &[2; 32]);
        tx.counter = u64::MAX;
        assert_eq!(tx.seal(b"x"), Err(PeerError::CounterExhausted));
    }

    #[test]
    fn nonce_layout() {
        let n = nonce(0x0102);
        assert_eq!(n[..3], [2, 1, 0]);
        assert!(n[8..].iter().all(|&b| b == 0));
    }
}
