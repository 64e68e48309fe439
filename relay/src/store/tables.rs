//! Table definitions and the fixed layouts of keys and values.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name (`&str`) | `u64` (`format_version`, `next_slot`) |
//! | `mailboxes` | mailbox id (32 bytes) | [`MailboxRecord`] (24 bytes) |
//! | `envelopes` | slot (u32 BE) ‖ cursor (u64 BE) | stored-at (u32 LE, Unix seconds) ‖ envelope (2000) |
//! | `dedupe` | first 16 bytes of the envelope's dedupe hash | cursor (u64) |
//!
//! A mailbox gets a *slot*, a small number that stands for its 32-byte id
//! in the envelope keys (12-byte keys keep a stored envelope at about 1.05×
//! its size on disk). Big-endian keys sort by mailbox, then cursor.

use cairn_proto::wire::ENVELOPE_LEN;
use redb::TableDefinition;

/// `meta`: the format version and the next free slot.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `mailboxes`: mailbox id → record.
pub(super) const MAILBOXES: TableDefinition<&[u8; 32], &[u8; RECORD_LEN]> =
    TableDefinition::new("mailboxes");
/// `envelopes`: (slot, cursor) → stored-at ‖ envelope.
pub(super) const ENVELOPES: TableDefinition<&[u8; KEY_LEN], &[u8; VALUE_LEN]> =
    TableDefinition::new("envelopes");
/// `dedupe`: dedupe hash → cursor.
pub(super) const DEDUPE: TableDefinition<&[u8; DEDUPE_LEN], u64> = TableDefinition::new("dedupe");

/// `meta` key of the format version.
pub(super) const META_VERSION: &str = "format_version";
/// `meta` key of the next slot.
pub(super) const META_NEXT_SLOT: &str = "next_slot";

/// Length of an `envelopes` key.
pub(super) const KEY_LEN: usize = 12;
/// Length of an `envelopes` value.
pub(super) const VALUE_LEN: usize = 4 + ENVELOPE_LEN;
/// Length of a `dedupe` key.
pub(super) const DEDUPE_LEN: usize = 16;
/// Length of an encoded [`MailboxRecord`].
pub(super) const RECORD_LEN: usize = 24;
/// Context string of the dedupe hash.
const DEDUPE_CONTEXT: &str = "cairn 2026 relay dedupe v1";

/// What the relay keeps about one mailbox.
///
/// Envelopes are removed only from the front (oldest first), so the held
/// cursors are exactly `first..=head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxRecord {
    /// The mailbox's number in `envelopes` keys.
    pub slot: u32,
    /// The last assigned cursor (0: none yet).
    pub head: u64,
    /// The lowest cursor still held (`head + 1` when empty).
    pub first: u64,
    /// When the last post was stored (Unix seconds).
    pub last_post: u32,
}

impl MailboxRecord {
    /// A mailbox with nothing in it yet.
    pub fn new(slot: u32, now: u32) -> Self {
        Self { slot, head: 0, first: 1, last_post: now }
    }

    /// Envelopes held.
    pub fn count(&self) -> u64 {
        (self.head + 1).saturating_sub(self.first)
    }

    pub(super) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&self.slot.to_le_bytes());
        b[4..12].copy_from_slice(&self.head.to_le_bytes());
        b[12..20].copy_from_slice(&self.first.to_le_bytes());
        b[20..24].copy_from_slice(&self.last_post.to_le_bytes());
        b
    }

    pub(super) fn decode(b: &[u8; RECORD_LEN]) -> Option<Self> {
        let r = Self {
            slot: u32::from_le_bytes(b[0..4].try_into().ok()?),
            head: u64::from_le_bytes(b[4..12].try_into().ok()?),
            first: u64::from_le_bytes(b[12..20].try_into().ok()?),
            last_post: u32::from_le_bytes(b[20..24].try_into().ok()?),
        };
        (r.first >= 1 && r.first <= r.head + 1).then_some(r)
    }
}

/// The `envelopes` key of `cursor` in mailbox `slot`.
pub(super) fn envelope_key(slot: u32, cursor: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..4].copy_from_slice(&slot.to_be_bytes());
    k[4..].copy_from_slice(&cursor.to_be_bytes());
    k
}

/// The cursor in an `envelopes` key.
pub(super) fn key_cursor(key: &[u8; KEY_LEN]) -> u64 {
    let mut c = [0u8; 8];
    c.copy_from_slice(&key[4..]);
    u64::from_be_bytes(c)
}

/// The `envelopes` value of an envelope stored at `now`.
pub(super) fn envelope_value(now: u32, envelope: &[u8; ENVELOPE_LEN]) -> Box<[u8; VALUE_LEN]> {
    let mut v = Box::new([0u8; VALUE_LEN]);
    v[..4].copy_from_slice(&now.to_le_bytes());
    v[4..].copy_from_slice(envelope);
    v
}

/// When a stored value was stored, and its envelope.
pub(super) fn split_value(value: &[u8; VALUE_LEN]) -> (u32, &[u8]) {
    let (at, envelope) = value.split_at(4);
    let mut t = [0u8; 4];
    t.copy_from_slice(at);
    (u32::from_le_bytes(t), envelope)
}

/// The dedupe key of an envelope: 128 bits of a domain-separated BLAKE3.
/// (A collision needs about 2⁶⁴ work and only merges the colliding
/// poster's own envelopes: the hash covers the mailbox key too.)
pub(super) fn dedupe_key(envelope: &[u8]) -> [u8; DEDUPE_LEN] {
    let full = blake3::derive_key(DEDUPE_CONTEXT, envelope);
    let mut k = [0u8; DEDUPE_LEN];
    k.copy_from_slice(&full[..DEDUPE_LEN]);
    k
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let r = MailboxRecord { slot: 7, head: 10, first: 4, last_post: 99 };
        assert_eq!(MailboxRecord::decode(&r.encode()), Some(r));
        assert_eq!(r.count(), 7);
        assert_eq!(MailboxRecord::new(1, 0).count(), 0);
        let bad = MailboxRecord { first: 12, ..r };
        assert_eq!(MailboxRecord::decode(&bad.encode()), None, "first beyond head + 1");
        let k = envelope_key(0x0102_0304, 0x0506);
        assert_eq!(k, [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 5, 6]);
        assert_eq!(key_cursor(&k), 0x0506);
        assert!(envelope_key(1, u64::MAX) < envelope_key(2, 0), "mailbox first, then cursor");
        let v = envelope_value(5, &[9; ENVELOPE_LEN]);
        assert_eq!(split_value(&v), (5, &[9u8; ENVELOPE_LEN][..]));
    }
}
