//! The short-lived secrets file: fixed-size slots overwritten in place.
//!
//! redb is copy-on-write: an overwritten or deleted value survives in freed
//! pages until they happen to be reused. Secrets that must really disappear
//! (epoch secrets, key-package secrets) therefore live here instead.
//!
//! Layout (`protocol-spec/store.md`), all slots [`SLOT_LEN`] bytes:
//!
//! * header (offset 0): magic `CAIRNSEC`, version (u32 LE), slot length
//!   (u32 LE), key check `seal(KEY_CHECK)` with AD [`HEADER_AD`], zeros;
//! * slot `i` (offset `(i + 1) * SLOT_LEN`): all zeros when free, else
//!   `nonce ‖ AEAD(label ‖ generation (u64 LE) ‖ len (u16 LE) ‖ secret ‖
//!   zero padding to MAX_SECRET_LEN) ‖ tag` with AD = `i` (u64 LE), then zeros.
//!
//! `put` writes the new record into a free slot and syncs, then zeroes the
//! label's old slot and syncs: a crash leaves the old or the new record (or
//! both; the higher generation wins on open and the other is zeroed).
//! Anything that does not open is a free slot and is zeroed on open.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::files::{open_private, sync_dir};
use super::sealing::arr;
use super::{FORMAT_VERSION, SecretLabel, StoreError};
use crate::crypto::{AeadKey, NONCE_LEN, TAG_LEN, context, derive_key};

/// The largest secret the file holds.
pub const MAX_SECRET_LEN: usize = 256;
/// Length of the header and of every slot: a power of two no smaller than a
/// disk sector, so that a slot never straddles two sectors.
pub(crate) const SLOT_LEN: usize = 512;
const MAGIC: &[u8; 8] = b"CAIRNSEC";
const HEADER_AD: &[u8] = b"cairn secrets file header v1";
const KEY_CHECK: &[u8] = b"cairn secrets file key check v1";
const PLAIN_LEN: usize = 32 + 8 + 2 + MAX_SECRET_LEN;
/// Length of a sealed record at the start of a slot.
pub(crate) const RECORD_LEN: usize = NONCE_LEN + PLAIN_LEN + TAG_LEN;
const NAME: &str = "secrets.bin";

/// The secrets file of a profile (`secrets.bin`).
pub struct SecretsFile {
    file: File,
    path: PathBuf,
    key: AeadKey,
    /// Label and generation of the record in each slot; `None` = free.
    slots: Vec<Option<(SecretLabel, u64)>>,
    next_generation: u64,
}

impl core::fmt::Debug for SecretsFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretsFile").field("path", &self.path).finish_non_exhaustive()
    }
}

fn slot_offset(i: usize) -> u64 {
    ((i + 1) * SLOT_LEN) as u64
}

impl SecretsFile {
    /// Opens (creating if missing) the secrets file at `path`, sealed under a
    /// key derived from `storage_key`. Unreadable slots are zeroed.
    pub fn open(
        path: &Path,
        storage_key: &AeadKey,
        rng: &mut (impl CryptoRng + ?Sized),
    ) -> Result<Self, StoreError> {
        let key =
            AeadKey::from_bytes(*derive_key(context::STORAGE_SECRETS, storage_key.as_bytes()));
        let (file, created) = open_private(path)?;
        let mut this =
            Self { file, path: path.to_path_buf(), key, slots: Vec::new(), next_generation: 0 };
        let bytes =
            Zeroizing::new(std::fs::read(path).map_err(|e| StoreError::io("reading", path, e))?);
        // A valid file is never shorter than its header: anything shorter is
        // a creation torn by a crash, and holds no secret.
        if bytes.len() < SLOT_LEN {
            this.write_header(rng)?;
            if created && let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            return Ok(this);
        }
        this.check_header(&bytes)?;
        this.load_slots(&bytes)?;
        Ok(this)
    }

    fn write_header(&mut self, rng: &mut (impl CryptoRng + ?Sized)) -> Result<(), StoreError> {
        let mut h = vec![0u8; SLOT_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(SLOT_LEN as u32).to_le_bytes());
        let check = self.key.seal(rng, KEY_CHECK, HEADER_AD);
        h[16..16 + check.len()].copy_from_slice(&check);
        self.write_at(0, &h)?;
        self.sync()
    }

    fn check_header(&self, b: &[u8]) -> Result<(), StoreError> {
        if b.len() < SLOT_LEN || &b[..8] != MAGIC {
            return Err(StoreError::Corrupt { what: "secrets.bin is not a cairn secrets file" });
        }
        let version = u32::from_le_bytes(arr(&b[8..12]));
        if version > FORMAT_VERSION {
            return Err(StoreError::NewerFormat { found: version, supported: FORMAT_VERSION });
        }
        if version != FORMAT_VERSION || u32::from_le_bytes(arr(&b[12..16])) != SLOT_LEN as u32 {
            return Err(StoreError::Corrupt { what: "secrets.bin has an unknown layout" });
        }
        let check_len = NONCE_LEN + KEY_CHECK.len() + TAG_LEN;
        match self.key.open(&b[16..16 + check_len], HEADER_AD) {
            Ok(p) if p == KEY_CHECK => Ok(()),
            _ => Err(StoreError::WrongKey),
        }
    }

    /// Indexes the slots, keeps the newest record per label and zeroes the
    /// rest (torn writes, garbage, superseded records).
    fn load_slots(&mut self, b: &[u8]) -> Result<(), StoreError> {
        let count = (b.len() - SLOT_LEN) / SLOT_LEN;
        let mut scrub = BTreeSet::new();
        for i in 0..count {
            let off = slot_offset(i) as usize;
            let slot = &b[off..off + SLOT_LEN];
            let parsed = self.open_record(i, slot).ok();
            if parsed.is_none() && slot.iter().any(|&x| x != 0) {
                scrub.insert(i);
            }
            let meta = parsed.map(|(label, generation, _)| (label, generation));
            self.slots.push(meta);
        }
        for i in 0..count {
            let Some((label, generation)) = self.slots[i] else { continue };
            self.next_generation = self.next_generation.max(generation + 1);
            if self.newest(&label) != Some(i) {
                scrub.insert(i);
            }
        }
        for &i in &scrub {
            if let Some(s) = self.slots.get_mut(i) {
                *s = None;
            }
            self.write_at(slot_offset(i), &[0u8; SLOT_LEN])?;
        }
        // A torn extension leaves a partial slot at the end: zero it too.
        let tail = slot_offset(count) as usize;
        if b.len() > tail {
            self.write_at(tail as u64, &vec![0u8; b.len() - tail])?;
            scrub.insert(count);
        }
        if !scrub.is_empty() {
            self.sync()?;
        }
        Ok(())
    }

    /// Opens the record in slot `i`: label, generation, secret.
    fn open_record(
        &self,
        i: usize,
        slot: &[u8],
    ) -> Result<(SecretLabel, u64, Zeroizing<Vec<u8>>), StoreError> {
        let bad = || StoreError::Decrypt { table: NAME };
        let record = slot.get(..RECORD_LEN).ok_or_else(bad)?;
        let plain =
            Zeroizing::new(self.key.open(record, &(i as u64).to_le_bytes()).map_err(|_| bad())?);
        if plain.len() != PLAIN_LEN {
            return Err(bad());
        }
        let len = u16::from_le_bytes(arr(&plain[40..42])) as usize;
        if len > MAX_SECRET_LEN {
            return Err(bad());
        }
        let secret = Zeroizing::new(plain[42..42 + len].to_vec());
        Ok((arr(&plain[..32]), u64::from_le_bytes(arr(&plain[32..40])), secret))
    }

    /// The slot holding the newest record for `label`.
    fn newest(&self, label: &SecretLabel) -> Option<usize> {
        let held = self.slots.iter().enumerate();
        let mine = held.filter_map(|(i, s)| s.filter(|(l, _)| l == label).map(|(_, g)| (g, i)));
        mine.max().map(|(_, i)| i)
    }

    /// Stores `secret` under `label`, then erases the label's previous record.
    pub fn put(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        label: &SecretLabel,
        secret: &[u8],
    ) -> Result<(), StoreError> {
        if secret.len() > MAX_SECRET_LEN {
            return Err(StoreError::SecretTooLarge { len: secret.len(), max: MAX_SECRET_LEN });
        }
        let old = self.slots_of(label);
        let free = self.slots.iter().position(Option::is_none).unwrap_or(self.slots.len());
        let generation = self.next_generation;
        let mut plain = Zeroizing::new([0u8; PLAIN_LEN]);
        plain[..32].copy_from_slice(label);
        plain[32..40].copy_from_slice(&generation.to_le_bytes());
        plain[40..42].copy_from_slice(&(secret.len() as u16).to_le_bytes());
        plain[42..42 + secret.len()].copy_from_slice(secret);
        let mut slot = vec![0u8; SLOT_LEN];
        slot[..RECORD_LEN].copy_from_slice(&self.key.seal(
            rng,
            &plain[..],
            &(free as u64).to_le_bytes(),
        ));
        self.write_at(slot_offset(free), &slot)?;
        self.sync()?;
        self.next_generation += 1;
        if free == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[free] = Some((*label, generation));
        self.zero_slots(&old)
    }

    /// The secret stored under `label`.
    pub fn get(&self, label: &SecretLabel) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(i) = self.newest(label) else { return Ok(None) };
        let mut slot = Zeroizing::new(vec![0u8; SLOT_LEN]);
        self.read_at(slot_offset(i), &mut slot)?;
        let (found, _, secret) = self.open_record(i, &slot)?;
        if found != *label {
            return Err(StoreError::Corrupt { what: "secrets.bin changed under us" });
        }
        Ok(Some(secret))
    }

    /// Overwrites every record of `label` with zeros.
    pub fn erase(&mut self, label: &SecretLabel) -> Result<(), StoreError> {
        let slots = self.slots_of(label);
        self.zero_slots(&slots)
    }

    fn slots_of(&self, label: &SecretLabel) -> Vec<usize> {
        let held = self.slots.iter().enumerate();
        held.filter(|(_, s)| s.is_some_and(|(l, _)| l == *label)).map(|(i, _)| i).collect()
    }

    fn zero_slots(&mut self, slots: &[usize]) -> Result<(), StoreError> {
        if slots.is_empty() {
            return Ok(());
        }
        for &i in slots {
            self.write_at(slot_offset(i), &[0u8; SLOT_LEN])?;
        }
        self.sync()?;
        for &i in slots {
            self.slots[i] = None;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|e| StoreError::io("syncing", &self.path, e))
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        positioned::write_all_at(&self.file, data, offset)
            .map_err(|e| StoreError::io("writing", &self.path, e))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        positioned::read_exact_at(&self.file, buf, offset)
            .map_err(|e| StoreError::io("reading", &self.path, e))
    }

    /// The slot index holding `label`'s record (tests look at raw bytes).
    #[cfg(test)]
    pub(crate) fn slot_of(&self, label: &SecretLabel) -> Option<usize> {
        self.newest(label)
    }
}

/// Positioned reads and writes, which do not move a shared cursor.
mod positioned {
    use std::fs::File;
    use std::io;

    #[cfg(unix)]
    pub(super) fn write_all_at(f: &File, data: &[u8], off: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(f, data, off)
    }
    #[cfg(unix)]
    pub(super) fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, off)
    }
    #[cfg(not(unix))]
    pub(super) fn write_all_at(mut f: &File, data: &[u8], off: u64) -> io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        f.seek(SeekFrom::Start(off))?;
        f.write_all(data)
    }
    #[cfg(not(unix))]
    pub(super) fn read_exact_at(mut f: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(buf)
    }
}

#[cfg(test)]
mod test;
