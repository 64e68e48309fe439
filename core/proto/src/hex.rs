//! Lowercase hexadecimal, the one hex formatter of the workspace: ids,
//! public keys and fingerprints in the CLI, the TUI, logs and `Debug`
//! output.
//!
//! It takes `&[u8]`, so it prints whatever it is given: only public values
//! belong here. Secrets cannot reach it by accident: the secret types
//! (`crypto::secret_bytes!`) redact their `Debug` and expose their bytes
//! only through an explicitly named accessor.
//!
//! ```
//! use cairn_proto::hex;
//!
//! assert_eq!(hex::encode(&[0x0a, 0xff, 0x10]), "0aff10");
//! assert_eq!(hex::short(&[0x0a, 0xff, 0x10], 3), "0af");
//! assert_eq!(hex::short(&[0x0a], 8), "0a", "never more than there is");
//! ```

use data_encoding::HEXLOWER;

/// All of `bytes`, two lowercase digits per byte.
pub fn encode(bytes: &[u8]) -> String {
    HEXLOWER.encode(bytes)
}

/// The first `digits` hex digits of `bytes` (all of them if there are
/// fewer): the short form of an id or key, for example `short(&id, 8)`.
/// Encodes only the bytes it shows.
pub fn short(bytes: &[u8], digits: usize) -> String {
    let used = digits.div_ceil(2).min(bytes.len());
    let mut out = HEXLOWER.encode(&bytes[..used]);
    out.truncate(digits);
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn encode_and_short_forms() {
        let bytes: Vec<u8> = (0..=255).collect();
        let all = encode(&bytes);
        assert_eq!(all.len(), 512);
        assert!(all.starts_with("000102") && all.ends_with("fdfeff"));
        for digits in [0, 1, 7, 8, 16, 511, 512, 600] {
            assert_eq!(short(&bytes, digits), all[..digits.min(512)], "{digits}");
        }
        assert_eq!(encode(&[]), "");
    }
}
