//! The relay's onion-service key: `data_dir/onion_key`.
//!
//! 32 bytes, the ed25519 secret seed the `.onion` address derives from. A
//! relay runs unattended, so the key is stored unencrypted (like C tor's
//! `hs_ed25519_secret_key`), readable by the relay's user only. Made once,
//! atomically: a crash while creating it leaves either no key or the whole
//! key, never a truncated one.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use cairn_proto::crypto::SigningKey;
use zeroize::Zeroizing;

use crate::RelayError;

/// The key file's name inside the data directory.
pub const ONION_KEY_FILE: &str = "onion_key";

const KEY_LEN: usize = 32;

/// Loads the key, or makes and stores a fresh one when there is none.
pub fn load_or_create(data_dir: &Path) -> Result<SigningKey, RelayError> {
    let path = data_dir.join(ONION_KEY_FILE);
    match File::open(&path) {
        Ok(file) => read_key(file, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir),
        Err(source) => Err(RelayError::File { action: "opening", path, source }),
    }
}

fn read_key(mut file: File, path: &Path) -> Result<SigningKey, RelayError> {
    let file_err = |source| RelayError::File { action: "reading", path: path.to_owned(), source };
    let mode = file.metadata().map_err(file_err)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(mode = format!("{mode:o}"), "the onion key file is readable by others");
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    // Read one byte more than a key so a longer file is noticed.
    std::io::Read::by_ref(&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(file_err)?;
    let Ok(seed) = <[u8; KEY_LEN]>::try_from(bytes.as_slice()) else {
        return Err(file_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "an onion key is {KEY_LEN} bytes; this file is damaged (restore it from a backup)"
            ),
        )));
    };
    Ok(SigningKey::from_bytes(seed))
}

fn create(data_dir: &Path) -> Result<SigningKey, RelayError> {
    let path = data_dir.join(ONION_KEY_FILE);
    let tmp = data_dir.join(format!("{ONION_KEY_FILE}.tmp"));
    let mut seed = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(&mut seed[..]).map_err(|e| RelayError::File {
        action: "making",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let write_err = |source| RelayError::File { action: "writing", path: tmp.clone(), source };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(&seed[..]).and_then(|()| file.sync_all()).map_err(write_err)?;
    std::fs::rename(&tmp, &path).map_err(write_err)?;
    File::open(data_dir).and_then(|d| d.sync_all()).map_err(write_err)?;
    tracing::info!("made a new onion service key (back up {ONION_KEY_FILE})");
    Ok(SigningKey::from_bytes(*seed))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn made_once_then_loaded_with_owner_only_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        let again = load_or_create(dir.path()).expect("load");
        assert_eq!(first.public(), again.public(), "the address must survive restarts");
        let mode = std::fs::metadata(dir.path().join(ONION_KEY_FILE)).expect("meta").permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_key_is_an_error_not_a_new_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in [&[7u8; 31][..], &[7u8; 33][..], &[][..]] {
            std::fs::write(dir.path().join(ONION_KEY_FILE), bad).expect("write");
            let err = load_or_create(dir.path()).expect_err("refused");
            assert!(err.to_string().contains("damaged"), "{err}");
            let kept = std::fs::read(dir.path().join(ONION_KEY_FILE)).expect("read");
            assert_eq!(kept, bad, "the damaged file is left for the operator");
        }
    }
}
