//! Canonical postcard decoding with a hard size limit.
//!
//! postcard's own decoder accepts some non-minimal encodings (for example an
//! over-long varint). Canonical form is enforced generically: a value is
//! accepted only if encoding it again yields exactly the input bytes. So
//! every accepted message has exactly one encoding, and its id (a hash of the
//! encoding) is a function of its content.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes could not be decoded. Incomplete input is told apart from
/// invalid input so a stream reader knows whether to wait for more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Longer than the limit for this type; nothing was allocated.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends before the value does.
    #[error("input is incomplete")]
    Incomplete,
    /// The bytes do not form a value of this type.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A complete value followed by extra bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A value whose re-encoding differs from the input.
    #[error("non-canonical encoding")]
    NonCanonical,
    /// A version this software does not know.
    #[error("unsupported version {0}")]
    UnknownVersion(u8),
}

/// Encodes a value with postcard.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own types into a Vec cannot fail: they contain no maps
    // with non-string keys or other unsupported shapes.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Decodes exactly one canonical value of `T` from `bytes`, at most `max` long.
pub fn decode_canonical<T>(bytes: &[u8], max: usize) -> Result<T, DecodeError>
where
    T: Serialize + DeserializeOwned,
{
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { len: bytes.len(), max });
    }
    let (value, rest): (T, &[u8]) = postcard::take_from_bytes(bytes).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Incomplete,
        other => DecodeError::Malformed(other.to_string()),
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod test {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        n: u64,
        flag: bool,
    }

    #[test]
    fn canonical_rules() {
        let v = Sample { n: 5, flag: true };
        let bytes = encode(&v);
        assert_eq!(decode_canonical::<Sample>(&bytes, 64), Ok(v));
        // Over-long varint for 5: 0x85 0x00.
        assert_eq!(
            decode_canonical::<Sample>(&[0x85, 0x00, 1], 64),
            Err(DecodeError::NonCanonical)
        );
        assert_eq!(decode_canonical::<Sample>(&[5, 1, 0], 64), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(decode_canonical::<Sample>(&[5], 64), Err(DecodeError::Incomplete));
        assert!(matches!(decode_canonical::<Sample>(&[5, 2], 64), Err(DecodeError::Malformed(_))));
        assert_eq!(
            decode_canonical::<Sample>(&[5, 1], 1),
            Err(DecodeError::TooLarge { len: 2, max: 1 })
        );
    }
}
