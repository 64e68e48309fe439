//! The profile key file: the master seed and the storage key, sealed under a
//! passphrase.
//!
//! Layout (141 bytes, integers little-endian):
//!
//! | offset | len | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `CAIRNKEY` |
//! | 8 | 1 | format version = 1 |
//! | 9 | 4 | Argon2id memory, KiB |
//! | 13 | 4 | Argon2id passes |
//! | 17 | 4 | Argon2id lanes |
//! | 21 | 16 | salt |
//! | 37 | 24 | XChaCha20-Poly1305 nonce |
//! | 61 | 80 | AEAD(`seed ‖ storage key`), associated data = bytes 0..37 |
//!
//! The AEAD key is Argon2id(passphrase, salt) with the stored parameters,
//! which must lie within [`KdfParams::MIN`] and [`KdfParams::MAX`] so that a
//! forged file can neither weaken the derivation nor exhaust memory.

use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::MasterSeed;
use crate::crypto::{AeadKey, NONCE_LEN};

const MAGIC: &[u8; 8] = b"CAIRNKEY";
const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 37;
const SECRETS_LEN: usize = 64;
/// Length of a key file in bytes.
pub(crate) const KEY_FILE_LEN: usize =
    HEADER_LEN + NONCE_LEN + SECRETS_LEN + crate::crypto::TAG_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub passes: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

impl KdfParams {
    /// What new key files use: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self { memory_kib: 64 * 1024, passes: 3, lanes: 1 };
    /// The weakest parameters a key file may carry.
    pub const MIN: Self = Self { memory_kib: 19 * 1024, passes: 2, lanes: 1 };
    /// The most expensive parameters a key file may ask for.
    pub const MAX: Self = Self { memory_kib: 4 * 1024 * 1024, passes: 64, lanes: 16 };

    fn in_range(&self) -> bool {
        (Self::MIN.memory_kib..=Self::MAX.memory_kib).contains(&self.memory_kib)
            && (Self::MIN.passes..=Self::MAX.passes).contains(&self.passes)
            && (Self::MIN.lanes..=Self::MAX.lanes).contains(&self.lanes)
    }
}

/// Why a key file could not be opened or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file does not start with the key-file magic.
    #[error("not a cairn key file")]
    NotAKeyFile,
    /// The file has the wrong length.
    #[error("key file is damaged: expected {KEY_FILE_LEN} bytes, found {0}")]
    BadLength(usize),
    /// Made by a newer cairn.
    #[error("key file format version {0} is newer than this cairn understands; upgrade cairn")]
    NewerVersion(u8),
    /// A format version that no cairn ever wrote.
    #[error("key file format version {0} is not supported")]
    UnsupportedVersion(u8),
    /// Argon2 parameters outside the accepted range.
    #[error("key file asks for key-derivation parameters outside the accepted range")]
    BadParams,
    /// The passphrase is wrong (or the sealed part is damaged: the two cannot
    /// be told apart).
    #[error("wrong passphrase (or the key file is damaged)")]
    WrongPassphrase,
    /// Argon2 itself failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

/// The two secrets a key file protects.
#[derive(Debug, Clone)]
pub struct ProfileSecrets {
    /// The identity master seed.
    pub seed: MasterSeed,
    /// The key that seals every value in the profile's store.
    pub storage_key: AeadKey,
}

/// Encoding and decoding of key files (pure: the caller does the file I/O).
pub struct KeyFile;

/// The bytes of a typed passphrase as Argon2id takes them (`identity.md`,
/// "Passphrase bytes"): the text up to its first line break (`\n`, `\r\n`
/// or `\r`; a passphrase file ends with one), in Unicode Normalization Form
/// C, as UTF-8. Nothing else is changed (no trimming, no case folding).
/// Typed on two systems, a letter with an accent may arrive precomposed
/// (`é`, U+00E9) or decomposed (`e` + U+0301); NFC makes both one byte
/// string, so a profile opens wherever its passphrase is typed.
pub fn passphrase_bytes(text: &str) -> Zeroizing<Vec<u8>> {
    let line = text.split(['\n', '\r']).next().unwrap_or_default();
    // Room for the worst NFC growth, so that no reallocation leaves a copy.
    let mut nfc = Zeroizing::new(String::with_capacity(line.len() * 3 + 4));
    nfc.extend(unicode_normalization::UnicodeNormalization::nfc(line));
    Zeroizing::new(nfc.as_bytes().to_vec())
}

fn kdf(passphrase: &[u8], salt: &[u8; 16], params: KdfParams) -> Result<AeadKey, KeyFileError> {
    let p = Params::new(params.memory_kib, params.passes, params.lanes, Some(32))
        .map_err(|e| KeyFileError::Kdf(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase, salt, &mut out[..])
        .map_err(|e| KeyFileError::Kdf(e.to_string()))?;
    Ok(AeadKey::from_bytes(*out))
}

impl KeyFile {
    /// Seals `secrets` under `passphrase`.
    pub fn seal(
        rng: &mut (impl CryptoRng + ?Sized),
        secrets: &ProfileSecrets,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Vec<u8>, KeyFileError> {
        if !params.in_range() {
            return Err(KeyFileError::BadParams);
        }
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let mut out = Vec::with_capacity(KEY_FILE_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        for v in [params.memory_kib, params.passes, params.lanes] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&salt);
        let key = kdf(passphrase, &salt, params)?;
        let mut plain = Zeroizing::new([0u8; SECRETS_LEN]);
        plain[..32].copy_from_slice(secrets.seed.as_bytes());
        plain[32..].copy_from_slice(secrets.storage_key.as_bytes());
        let sealed = key.seal(rng, &plain[..], &out[..HEADER_LEN]);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a key file with `passphrase`.
    pub fn open(bytes: &[u8], passphrase: &[u8]) -> Result<ProfileSecrets, KeyFileError> {
        if bytes.len() < 9 || &bytes[..8] != MAGIC {
            return Err(KeyFileError::NotAKeyFile);
        }
        if bytes[8] > FORMAT_VERSION {
            return Err(KeyFileError::NewerVersion(bytes[8]));
        }
        if bytes.len() != KEY_FILE_LEN {
            return Err(KeyFileError::BadLength(bytes.len()));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let params = KdfParams { memory_kib: word(9), passes: word(13), lanes: word(17) };
        if bytes[8] != FORMAT_VERSION {
            return Err(KeyFileError::UnsupportedVersion(bytes[8]));
        }
        if !params.in_range() {
            return Err(KeyFileError::BadParams);
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[21..37]);
        let key = kdf(passphrase, &salt, params)?;
        let plain = Zeroizing::new(
            key.open(&bytes[HEADER_LEN..], &bytes[..HEADER_LEN])
                .map_err(|_| KeyFileError::WrongPassphrase)?,
        );
        let mut seed = [0u8; 32];
        let mut storage = [0u8; 32];
        seed.copy_from_slice(&plain[..32]);
        storage.copy_from_slice(&plain[32..]);
        Ok(ProfileSecrets {
            seed: MasterSeed::from_bytes(seed),
            storage_key: AeadKey::from_bytes(storage),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::crypto::XofRng;

    fn secrets() -> ProfileSecrets {
        let mut rng = XofRng::from_seed(b"keyfile secrets");
        ProfileSecrets {
            seed: MasterSeed::random(&mut rng),
            storage_key: AeadKey::random(&mut rng),
        }
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let mut rng = XofRng::from_seed(b"keyfile");
        let s = secrets();
        let file = KeyFile::seal(&mut rng, &s, b"correct horse", KdfParams::MIN).expect("seal");
        assert_eq!(file.len(), KEY_FILE_LEN);
        let opened = KeyFile::open(&file, b"correct horse").expect("open");
        assert_eq!(opened.seed, s.seed);
        assert_eq!(opened.storage_key, s.storage_key);
        assert_eq!(
            KeyFile::open(&file, b"correct horsf").err(),
            Some(KeyFileError::WrongPassphrase)
        );
    }

    #[test]
    fn damaged_files_give_clear_errors() {
        let mut rng = XofRng::from_seed(b"keyfile2");
        let file = KeyFile::seal(&mut rng, &secrets(), b"pw", KdfParams::MIN).expect("seal");
        assert_eq!(KeyFile::open(b"hello", b"pw").err(), Some(KeyFileError::NotAKeyFile));
        assert_eq!(KeyFile::open(&file[..100], b"pw").err(), Some(KeyFileError::BadLength(100)));
        let mut newer = file.clone();
        newer[8] = 9;
        assert_eq!(KeyFile::open(&newer, b"pw").err(), Some(KeyFileError::NewerVersion(9)));
        let mut zero = file.clone();
        zero[8] = 0;
        assert_eq!(KeyFile::open(&zero, b"pw").err(), Some(KeyFileError::UnsupportedVersion(0)));
        let mut weak = file.clone();
        weak[9..13].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(KeyFile::open(&weak, b"pw").err(), Some(KeyFileError::BadParams));
        let mut huge = file.clone();
        huge[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(KeyFile::open(&huge, b"pw").err(), Some(KeyFileError::BadParams));
        // A flipped bit anywhere in the salt, nonce or ciphertext is refused.
        for i in 21..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x10;
            assert_eq!(
                KeyFile::open(&bad, b"pw").err(),
                Some(KeyFileError::WrongPassphrase),
                "{i}"
            );
        }
    }
}
