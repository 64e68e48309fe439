//! Proof of work for creating a mailbox (optional; off by default).
//!
//! `hash = BLAKE3-derive_key("cairn 2026 relay pow v1", mailbox id ‖ nonce)`
//! with the nonce as 8 little-endian bytes. A nonce is a proof of
//! difficulty `d` for a mailbox when `hash` starts with at least `d` zero
//! bits (most significant bit of the first byte first). Finding one costs
//! about `2^d` hashes; checking it costs one.
//!
//! The proof binds the mailbox only: it is reusable on every relay and for
//! as long as the mailbox lives, which is the point (one proof per epoch per
//! relay is the cost asked of a group; a stranger pays it per mailbox).

use crate::wire::MailboxId;

/// Context string of the proof-of-work hash (used for nothing else).
pub const POW_CONTEXT: &str = "cairn 2026 relay pow v1";
/// Highest difficulty a relay may ask for (about 4 × 10⁹ hashes).
pub const MAX_DIFFICULTY: u8 = 32;

/// The proof-of-work hash of `nonce` for `mailbox`.
pub fn hash(mailbox: &MailboxId, nonce: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(POW_CONTEXT);
    h.update(&mailbox.0);
    h.update(&nonce.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Number of leading zero bits of `bytes`.
pub fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for b in bytes {
        bits += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    bits
}

/// Whether `nonce` is a proof of `difficulty` for `mailbox`.
pub fn check(mailbox: &MailboxId, nonce: u64, difficulty: u8) -> bool {
    leading_zero_bits(&hash(mailbox, nonce)) >= u32::from(difficulty)
}

/// Searches nonces `start..start + tries` for a proof of `difficulty`.
pub fn solve(mailbox: &MailboxId, difficulty: u8, start: u64, tries: u64) -> Option<u64> {
    (0..tries).map(|i| start.wrapping_add(i)).find(|n| check(mailbox, *n, difficulty))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn leading_zeros() {
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0x01, 0xff]), 7);
        assert_eq!(leading_zero_bits(&[0x00, 0x40]), 9);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn solve_then_check() {
        let m = MailboxId([7; 32]);
        let nonce = solve(&m, 12, 0, 1 << 20).expect("a 12-bit proof within 2^20 tries");
        assert!(check(&m, nonce, 12));
        assert!(leading_zero_bits(&hash(&m, nonce)) >= 12);
        // Bound to the mailbox: almost surely not a proof for another one.
        let other = MailboxId([8; 32]);
        assert!(!(0..4).all(|i| check(&other, nonce.wrapping_add(i), 12)));
        assert!(check(&m, 12345, 0), "difficulty 0 accepts anything");
    }

    #[test]
    fn vector() {
        // The spec's vector (protocol-spec/relay.md): the mailbox of the
        // epoch secret 33…33 in vectors/envelope.json.
        let mut m = [0u8; 32];
        hex::decode_to_slice(
            "e2fb5217f0f959af344f70ebb04c8409a80db6b75614a40450f0b35dc6e1b38f",
            &mut m,
        )
        .expect("hex");
        let m = MailboxId(m);
        assert_eq!(
            hex::encode(hash(&m, 0)),
            "dee557bdea17fbfd219b553ac19ccaa5aa95dd4d59361f6602d6111c3605ded3"
        );
        assert_eq!(solve(&m, 16, 0, 1 << 20), Some(42074));
        assert_eq!(
            hex::encode(hash(&m, 42074)),
            "000079844fd0ce60e128caeb59c518db422ee3c4369b2f1182e333fe0f07deec"
        );
    }
}
