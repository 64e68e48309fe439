//! Checking the write signatures of many envelopes at once.
//!
//! A relay spends most of its CPU on write signatures. Batch verification
//! (one multiscalar multiplication for the batch) is about twice as fast per
//! signature, and `ed25519-consensus` gives it the same accept/reject rule
//! as single verification (ZIP-215), so the verdicts are those of
//! [`Envelope::verify_write`] — a test below holds the two together.

use rand_core::CryptoRng;

use crate::crypto::{PublicKey, Signature, verify_batch, verify_single};
use crate::wire::{ENVELOPE_LEN, ENVELOPE_PREFIX, Envelope};

/// Where the write signature starts (`wire.md`: the last 64 bytes).
const SIGNATURE_AT: usize = ENVELOPE_LEN - 64;

/// Keys already known to be strong (not small-order, canonical): a
/// connection uses a couple of mailboxes, so a few entries suffice.
#[derive(Debug, Default, Clone)]
pub(super) struct StrongKeys(Vec<PublicKey>);

/// Keys remembered per connection.
const REMEMBERED: usize = 4;

impl StrongKeys {
    fn check(&mut self, key: &PublicKey) -> bool {
        if self.0.contains(key) {
            return true;
        }
        if key.check_strong().is_err() {
            return false;
        }
        if self.0.len() == REMEMBERED {
            self.0.remove(0);
        }
        self.0.push(*key);
        true
    }
}

/// The verdict of [`Envelope::verify_write`] for each envelope, computed
/// with one batch verification (falling back to single checks only if the
/// batch fails). `rng` draws the batch's random coefficients: it must be
/// unpredictable to whoever made the envelopes.
pub(super) fn verify_writes(
    rng: &mut (impl CryptoRng + ?Sized),
    keys: &mut StrongKeys,
    envelopes: &[&Envelope],
) -> Vec<bool> {
    let parts: Vec<(PublicKey, Signature)> = envelopes
        .iter()
        .map(|e| {
            let mut sig = [0u8; 64];
            sig.copy_from_slice(&e.as_bytes()[SIGNATURE_AT..]);
            (e.mailbox_key(), Signature(sig))
        })
        .collect();
    let strong: Vec<bool> = parts.iter().map(|(k, _)| keys.check(k)).collect();
    let items: Vec<(&PublicKey, &[u8], &Signature)> = envelopes
        .iter()
        .zip(&parts)
        .zip(&strong)
        .filter(|(_, strong)| **strong)
        .map(|((e, (k, s)), _)| (k, &e.as_bytes()[..SIGNATURE_AT], s))
        .collect();
    // A batch of one or two costs more than checking them one by one.
    let verdicts = if items.len() <= 2 {
        items.iter().map(|(k, m, s)| verify_single(k, ENVELOPE_PREFIX, m, s).is_ok()).collect()
    } else {
        verify_batch(rng, ENVELOPE_PREFIX, &items)
    };
    let mut verdicts = verdicts.into_iter();
    strong.into_iter().map(|s| s && verdicts.next().unwrap_or(false)).collect()
}

#[cfg(test)]
mod test {
    use zeroize::Zeroizing;

    use super::*;
    use crate::crypto::XofRng;
    use crate::wire::{EpochKeys, fragment_message};

    #[test]
    fn batch_verdicts_equal_single_verdicts() {
        let mut rng = XofRng::from_seed(b"relay batch verify");
        let mut envs = Vec::new();
        for seed in 0..6u8 {
            let keys = EpochKeys::derive(&Zeroizing::new([seed; 32]));
            let frag = fragment_message(&mut rng, b"batch").expect("split").remove(0);
            envs.push(*Envelope::seal(&mut rng, &keys, &frag).as_bytes());
        }
        let good = envs[0];
        // A flipped ciphertext bit, a flipped signature bit, a stranger's
        // signature under a victim's key, and a weak (identity) key.
        envs[1][700] ^= 1;
        envs[2][ENVELOPE_LEN - 1] ^= 0x40;
        envs[3][1..33].copy_from_slice(&good[1..33]);
        let mut weak = [0u8; ENVELOPE_LEN];
        weak[0] = 1;
        weak[1] = 1;
        weak[SIGNATURE_AT] = 1;
        envs.push(weak);
        let parsed: Vec<Envelope> =
            envs.iter().map(|b| Envelope::parse(b).expect("shape")).collect();
        let refs: Vec<&Envelope> = parsed.iter().collect();
        let single: Vec<bool> = parsed.iter().map(|e| e.verify_write().is_ok()).collect();
        assert_eq!(single, [true, false, false, false, true, true, false]);
        let mut keys = StrongKeys::default();
        assert_eq!(verify_writes(&mut rng, &mut keys, &refs), single);
        // All good: the batch passes as a whole; and again with cached keys.
        let all_good = [refs[0], refs[4], refs[5], refs[0]];
        assert_eq!(verify_writes(&mut rng, &mut keys, &all_good), [true; 4]);
        assert_eq!(verify_writes(&mut rng, &mut keys, &[]), Vec::<bool>::new());
    }
}
