//! The recovery string: the master seed in a form a person can copy by hand.
//!
//! Layout before encoding (37 bytes): `version (1) = 1 ‖ seed (32) ‖
//! checksum (4)` where `checksum = BLAKE3-derive_key(RECOVERY_CHECKSUM,
//! version ‖ seed)[..4]`. Encoded with Crockford's base32 alphabet
//! (`0-9a-z` without `i l o u`), lowercase, in 12 groups of 5 characters joined
//! by `-`. Parsing ignores case, dashes and white space, reads `o` as `0` and
//! `i`/`l` as `1`, and rejects non-zero trailing bits. A single mistyped
//! character changes the decoded bytes, so it fails the 32-bit checksum
//! (a wrong string passes with probability 2^-32), or the trailing-bit rule.

use zeroize::Zeroizing;

use super::MasterSeed;
use crate::crypto::{context, derive_key};

const VERSION: u8 = 1;
const RAW_LEN: usize = 1 + 32 + 4;
const ALPHABET: &str = "0123456789abcdefghjkmnpqrstvwxyz";
const GROUP: usize = 5;

/// Why a recovery string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// A character outside the alphabet.
    #[error("recovery string has an invalid character: {0}")]
    BadCharacter(String),
    /// Too many or too few characters.
    #[error("recovery string has the wrong length: expected 60 characters, got {0}")]
    BadLength(usize),
    /// The last character carries bits that must be zero: a typo there.
    #[error("recovery string ends with an impossible character: check the last group")]
    BadEnding,
    /// The checksum does not match: a typo somewhere.
    #[error("recovery string checksum does not match: check it for a typo")]
    BadChecksum,
    /// A version this software does not know.
    #[error("recovery string version {0} is not supported")]
    UnknownVersion(u8),
}

pub(crate) fn encoding() -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str(ALPHABET);
    spec.translate.from.push_str("ABCDEFGHJKMNPQRSTVWXYZOoIiLl");
    spec.translate.to.push_str("abcdefghjkmnpqrstvwxyz001111");
    spec.ignore.push_str("- \t\r\n");
    spec.check_trailing_bits = true;
    // The specification above is a constant; building it cannot fail.
    spec.encoding().unwrap_or_else(|_| data_encoding::BASE32_NOPAD.clone())
}

fn checksum(version: u8, seed: &[u8; 32]) -> [u8; 4] {
    let mut material = Zeroizing::new([0u8; 33]);
    material[0] = version;
    material[1..].copy_from_slice(seed);
    let digest = derive_key(context::RECOVERY_CHECKSUM, &material[..]);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Encodes `seed` as a recovery string.
pub fn recovery_string(seed: &MasterSeed) -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; RAW_LEN]);
    raw[0] = VERSION;
    raw[1..33].copy_from_slice(seed.as_bytes());
    raw[33..].copy_from_slice(&checksum(VERSION, seed.as_bytes()));
    let plain = Zeroizing::new(encoding().encode(&raw[..]));
    let mut out = Zeroizing::new(String::with_capacity(plain.len() + plain.len() / GROUP));
    for (i, c) in plain.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Parses a recovery string back into the seed.
pub fn parse_recovery(text: &str) -> Result<MasterSeed, RecoveryError> {
    let enc = encoding();
    let significant = text.chars().filter(|c| !"- \t\r\n".contains(*c)).count();
    if significant != enc.encode_len(RAW_LEN) {
        return Err(RecoveryError::BadLength(significant));
    }
    let raw = Zeroizing::new(enc.decode(text.as_bytes()).map_err(|e| {
        if e.kind == data_encoding::DecodeKind::Trailing {
            return RecoveryError::BadEnding;
        }
        let bad = text.get(e.position..).and_then(|s| s.chars().next());
        RecoveryError::BadCharacter(bad.map(|c| format!("{c:?}")).unwrap_or_default())
    })?);
    if raw.len() != RAW_LEN {
        return Err(RecoveryError::BadLength(significant));
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&raw[1..33]);
    let seed = MasterSeed::from_bytes(seed);
    if raw[33..] != checksum(raw[0], seed.as_bytes()) {
        return Err(RecoveryError::BadChecksum);
    }
    if raw[0] != VERSION {
        return Err(RecoveryError::UnknownVersion(raw[0]));
    }
    Ok(seed)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    fn sample() -> (MasterSeed, String) {
        let seed = MasterSeed::random(&mut XofRng::from_seed(b"recovery"));
        let text = recovery_string(&seed).to_string();
        (seed, text)
    }

    #[test]
    fn round_trip_and_lenient_input() {
        let (seed, text) = sample();
        assert_eq!(text.len(), 60 + 11);
        assert_eq!(parse_recovery(&text), Ok(seed.clone()));
        let messy = format!("  {}\n", text.to_uppercase().replace('-', " "));
        assert_eq!(parse_recovery(&messy), Ok(seed));
    }

    #[test]
    fn every_single_character_typo_is_rejected() {
        let (_, text) = sample();
        let chars: Vec<char> = text.chars().collect();
        let mut tried = 0;
        for (i, &orig) in chars.iter().enumerate() {
            if orig == '-' {
                continue;
            }
            for sub in ALPHABET.chars().filter(|&c| c != orig) {
                let mut typo = chars.clone();
                typo[i] = sub;
                let typo: String = typo.into_iter().collect();
                assert!(parse_recovery(&typo).is_err(), "typo at {i} ({orig}->{sub}) accepted");
                tried += 1;
            }
        }
        assert_eq!(tried, 60 * 31);
    }

    #[test]
    fn swapped_neighbours_and_bad_input_rejected() {
        let (_, text) = sample();
        let plain: Vec<char> = text.chars().filter(|c| *c != '-').collect();
        for i in 0..plain.len() - 1 {
            if plain[i] == plain[i + 1] {
                continue;
            }
            let mut s = plain.clone();
            s.swap(i, i + 1);
            let s: String = s.into_iter().collect();
            assert!(parse_recovery(&s).is_err(), "swap at {i} accepted");
        }
        assert_eq!(parse_recovery("abc"), Err(RecoveryError::BadLength(3)));
        // The last character holds 1 data bit and 4 zero bits.
        let mut ending = plain.clone();
        let last = ending.len() - 1;
        ending[last] = if ending[last] == '1' { '3' } else { '1' };
        let ending: String = ending.into_iter().collect();
        // Valid last characters are '0' and 'g'; '1' and '3' set a zero bit.
        assert_eq!(parse_recovery(&ending), Err(RecoveryError::BadEnding));
        let bad_char = format!("u{}", &plain.iter().skip(1).collect::<String>());
        assert!(matches!(parse_recovery(&bad_char), Err(RecoveryError::BadCharacter(_))));
    }
}
