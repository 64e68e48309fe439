//! A profile data directory: key file, identity, store.
//!
//! ```text
//! <dir>/profile.key   master seed + storage key, sealed under the passphrase
//! <dir>/store.redb    the RedbStore (sealed values, opaque keys)
//! <dir>/secrets.bin   the SecretsFile (short-lived secrets, erased in place)
//! ```
//!
//! One process serves one profile: redb locks `store.redb`, so a second
//! [`Profile::open`] of the same directory fails instead of sharing it.

use std::path::{Path, PathBuf};

use rand_core::CryptoRng;

use super::files::{KEY_FILE, SECRETS_FILE, STORE_FILE, create_dir_private, write_atomic};
use super::{RedbStore, StoreError};
use crate::crypto::AeadKey;
use crate::identity::{Identity, KdfParams, KeyFile, KeyFileError, MasterSeed, ProfileSecrets};

/// An open profile: its identity and its store.
pub struct Profile {
    dir: PathBuf,
    identity: Identity,
    store: RedbStore,
}

impl core::fmt::Debug for Profile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Profile").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Profile {
    /// Makes a new profile in `dir` (created if missing): a fresh master seed
    /// and storage key, sealed under `passphrase` in `profile.key`.
    ///
    /// Refuses with [`StoreError::ProfileExists`] if `dir` already holds a
    /// key file, store or secrets file. `rng` is kept for the store's nonces.
    pub fn create(
        dir: &Path,
        passphrase: &[u8],
        params: KdfParams,
        mut rng: impl CryptoRng + Send + 'static,
    ) -> Result<Self, StoreError> {
        let seed = MasterSeed::random(&mut rng);
        Self::init(dir, seed, passphrase, params, rng)
    }

    /// Makes a profile in `dir` for an identity restored from its recovery
    /// seed, with a fresh storage key. The directory must hold no profile.
    ///
    /// The identity comes back; groups and history come back from peers. A
    /// restored node must not sign before it has fetched its own latest
    /// entries (else it would equivocate): that rule lives above the store.
    pub fn restore(
        dir: &Path,
        seed: MasterSeed,
        passphrase: &[u8],
        params: KdfParams,
        rng: impl CryptoRng + Send + 'static,
    ) -> Result<Self, StoreError> {
        Self::init(dir, seed, passphrase, params, rng)
    }

    /// Opens the profile in `dir` with `passphrase`.
    pub fn open(
        dir: &Path,
        passphrase: &[u8],
        rng: impl CryptoRng + Send + 'static,
    ) -> Result<Self, StoreError> {
        let path = dir.join(KEY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoProfile { path });
            }
            Err(e) => return Err(StoreError::io("reading", &path, e)),
        };
        let secrets = KeyFile::open(&bytes, passphrase).map_err(key_file_err(&path))?;
        Self::assemble(dir, secrets, rng)
    }

    fn init(
        dir: &Path,
        seed: MasterSeed,
        passphrase: &[u8],
        params: KdfParams,
        mut rng: impl CryptoRng + Send + 'static,
    ) -> Result<Self, StoreError> {
        create_dir_private(dir)?;
        for name in [KEY_FILE, STORE_FILE, SECRETS_FILE] {
            let path = dir.join(name);
            match path.try_exists() {
                Ok(false) => {}
                Ok(true) => return Err(StoreError::ProfileExists { path }),
                Err(e) => return Err(StoreError::io("checking", &path, e)),
            }
        }
        let secrets = ProfileSecrets { seed, storage_key: AeadKey::random(&mut rng) };
        let path = dir.join(KEY_FILE);
        let bytes =
            KeyFile::seal(&mut rng, &secrets, passphrase, params).map_err(key_file_err(&path))?;
        // The key file first: a crash before the store exists leaves a
        // profile whose store is created on the next open.
        write_atomic(dir, KEY_FILE, &bytes)?;
        Self::assemble(dir, secrets, rng)
    }

    fn assemble(
        dir: &Path,
        secrets: ProfileSecrets,
        rng: impl CryptoRng + Send + 'static,
    ) -> Result<Self, StoreError> {
        let ProfileSecrets { seed, storage_key } = secrets;
        let store = RedbStore::open(dir, &storage_key, Box::new(rng))?;
        Ok(Self { dir: dir.to_path_buf(), identity: Identity::from_seed(seed), store })
    }

    /// The profile's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The identity the key file holds.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The profile's store.
    pub fn store(&self) -> &RedbStore {
        &self.store
    }

    /// The profile's store, for writing.
    pub fn store_mut(&mut self) -> &mut RedbStore {
        &mut self.store
    }
}

fn key_file_err(path: &Path) -> impl FnOnce(KeyFileError) -> StoreError + '_ {
    move |source| StoreError::KeyFile { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod test;
