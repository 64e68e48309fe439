//! Tor v3 onion addresses (rend-spec-v3, "Encoding onion addresses").
//!
//! `address = base32(pubkey ‖ checksum ‖ version) + ".onion"` with
//! `checksum = SHA3-256(".onion checksum" ‖ pubkey ‖ version)[..2]`, version 3.

use sha3::{Digest, Sha3_256};

use crate::crypto::PublicKey;

/// A v3 onion address, lowercase, with the `.onion` suffix.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OnionAddress(String);

impl OnionAddress {
    /// The address as text (`<56 chars>.onion`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses `<56 base32 chars>.onion` (either case): the length, the
    /// alphabet, the version byte and the checksum must all be right, so a
    /// mistyped or v2 address is refused rather than dialled.
    pub fn parse(text: &str) -> Result<OnionAddress, BadOnionAddress> {
        let lower = text.to_ascii_lowercase();
        let label = lower.strip_suffix(".onion").ok_or(BadOnionAddress::NoOnionSuffix)?;
        if label.len() != 56 {
            return Err(BadOnionAddress::Length(label.len()));
        }
        let raw = data_encoding::BASE32_NOPAD
            .decode(label.to_ascii_uppercase().as_bytes())
            .map_err(|_| BadOnionAddress::NotBase32)?;
        let key: [u8; 32] =
            raw.get(..32).and_then(|k| k.try_into().ok()).ok_or(BadOnionAddress::NotBase32)?;
        // Recomputing from the key checks both the checksum and the version.
        let expected = onion_address(&PublicKey(key));
        if expected.0 != lower {
            return Err(BadOnionAddress::Checksum);
        }
        Ok(expected)
    }

    /// The onion-service public key the address encodes.
    pub fn public_key(&self) -> PublicKey {
        let label = self.0.trim_end_matches(".onion").to_ascii_uppercase();
        let raw = data_encoding::BASE32_NOPAD.decode(label.as_bytes()).unwrap_or_default();
        let mut key = [0u8; 32];
        if let Some(k) = raw.get(..32) {
            key.copy_from_slice(k);
        }
        PublicKey(key)
    }
}

/// Why a text is not a v3 onion address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadOnionAddress {
    /// It does not end in `.onion`.
    #[error("not an onion address (no .onion suffix)")]
    NoOnionSuffix,
    /// The label is not 56 characters (v2 addresses had 16).
    #[error("a v3 onion address has 56 characters before .onion, not {0}")]
    Length(usize),
    /// Characters outside base32.
    #[error("an onion address is base32 (a-z, 2-7)")]
    NotBase32,
    /// Checksum or version byte wrong: a typo, or not a v3 address.
    #[error("onion address checksum or version is wrong (mistyped?)")]
    Checksum,
}

// An onion address identifies a person's service: keep it out of logs by
// default. Display it only where the user asked for it.
impl core::fmt::Debug for OnionAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OnionAddress(<redacted>)")
    }
}

impl core::fmt::Display for OnionAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes the v3 onion address of an ed25519 onion-service identity key.
pub fn onion_address(key: &PublicKey) -> OnionAddress {
    const VERSION: u8 = 3;
    let mut hasher = Sha3_256::new();
    hasher.update(b".onion checksum");
    hasher.update(key.0);
    hasher.update([VERSION]);
    let digest = hasher.finalize();
    let mut raw = Vec::with_capacity(35);
    raw.extend_from_slice(&key.0);
    raw.extend_from_slice(&digest[..2]);
    raw.push(VERSION);
    let mut text = data_encoding::BASE32_NOPAD.encode(&raw).to_ascii_lowercase();
    text.push_str(".onion");
    OnionAddress(text)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parse_round_trips_and_refuses_typos() {
        let key = PublicKey([7; 32]);
        let address = onion_address(&key);
        let parsed = OnionAddress::parse(&address.as_str().to_ascii_uppercase()).expect("parses");
        assert_eq!(parsed, address);
        assert_eq!(parsed.public_key(), key);
        let text = address.as_str();
        for i in 0..56 {
            let mut typo = text.as_bytes().to_vec();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).expect("ascii");
            assert!(OnionAddress::parse(&typo).is_err(), "typo at {i} accepted");
        }
        assert_eq!(OnionAddress::parse("example.com"), Err(BadOnionAddress::NoOnionSuffix));
        assert_eq!(OnionAddress::parse("abcdefghijklmnop.onion"), Err(BadOnionAddress::Length(16)));
        let bad_alphabet = format!("{}1.onion", &text[..55]);
        assert_eq!(OnionAddress::parse(&bad_alphabet), Err(BadOnionAddress::NotBase32));
    }

    /// The vector from C tor's `test_hs_common.c` (`test_build_address`): the
    /// RFC 8032 test-1 public key.
    #[test]
    fn tor_test_vector() {
        let key: [u8; 32] =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        assert_eq!(
            onion_address(&PublicKey(key)).as_str(),
            "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
        );
    }
}
