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
