//! The real store: a redb database of sealed values, plus the secrets file.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use rand_core::CryptoRng;
use redb::backends::FileBackend;
use redb::{Database, ReadTransaction, ReadableDatabase, TableError};
use zeroize::Zeroizing;

use super::check::plan_appends;
use super::files::{SECRETS_FILE, STORE_FILE, open_private, sync_dir};
use super::sealing::Keys;
use super::{
    Batch, CommitReceipt, EntryId, GroupId, OutboxItem, SecretLabel, SecretsFile, Store,
    StoreError, StoredEntry,
};
use crate::crypto::{AeadKey, PublicKey};

mod tables;

use tables::{Ctx, ENTRIES, ENTRY_IDS, META, OUTBOX, STATE, TAILS, Writer};

/// The store format version this build writes and understands.
pub const FORMAT_VERSION: u32 = 1;
/// redb page cache size. redb's default (1 GiB) is far too much for a client.
const CACHE_SIZE: usize = 16 * 1024 * 1024;
/// `meta` key of the format version (u32 little-endian, plain).
const META_VERSION: &str = "format_version";
/// `meta` key of the key check value (sealed).
const META_KEY_CHECK: &str = "key_check";
/// What the key check value seals.
const KEY_CHECK_PLAIN: &[u8] = b"cairn store key check v1";

/// A [`Store`] in a redb database (`store.redb`) with short-lived secrets in
/// a [`SecretsFile`] (`secrets.bin`), both in one profile directory.
///
/// Every value is sealed under the storage key and every table key is an
/// opaque keyed hash (`protocol-spec/store.md`). Commits are durable when
/// they return (redb `Durability::Immediate`: the file is synced).
pub struct RedbStore {
    /// `None` while the database is closed after a failed write and could
    /// not be opened again yet (see [`RedbStore::reopen`]).
    db: Option<Database>,
    ctx: Ctx,
    opener: Opener,
    secrets: SecretsFile,
    rng: Box<dyn CryptoRng + Send>,
}

impl core::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.ctx.path).finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (creating if missing) `store.redb` and `secrets.bin` in `dir`.
    ///
    /// `rng` supplies the nonces of every sealed value. Fails with
    /// [`StoreError::WrongKey`] if `storage_key` is not the key the store was
    /// made with, and [`StoreError::NewerFormat`] if a newer cairn wrote it.
    pub fn open(
        dir: &Path,
        storage_key: &AeadKey,
        rng: Box<dyn CryptoRng + Send>,
    ) -> Result<Self, StoreError> {
        Self::open_with(dir, storage_key, rng, Box::new(open_db))
    }

    fn open_with(
        dir: &Path,
        storage_key: &AeadKey,
        rng: Box<dyn CryptoRng + Send>,
        opener: Opener,
    ) -> Result<Self, StoreError> {
        let path = dir.join(STORE_FILE);
        let ctx = Ctx { keys: Keys::new(storage_key), path };
        let db = opener(&ctx)?;
        let mut rng = rng;
        if !check_meta(&db, &ctx)? {
            init_meta(&db, &ctx, &mut rng)?;
        }
        // After the key check, so that a wrong key never touches the secrets.
        let secrets = SecretsFile::open(&dir.join(SECRETS_FILE), storage_key, &mut rng)?;
        Ok(Self { db: Some(db), ctx, opener, secrets, rng })
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or_else(|| StoreError::Reopening { path: self.ctx.path.clone() })
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db()?.begin_read().map_err(self.ctx.err("beginning a read"))
    }

    /// Closes the database and opens it again. After a failed write redb
    /// refuses everything, reads included, until then; opening recovers the
    /// last durable commit, so nothing committed is lost and a profile
    /// keeps working once the disk has room, without a restart. If opening
    /// fails the store stays closed (reads give [`StoreError::Reopening`])
    /// and the next commit tries again.
    fn reopen(&mut self) {
        // Closed first: redb locks the file while a handle is open.
        self.db = None;
        let db = (self.opener)(&self.ctx);
        self.db = db.ok().filter(|db| matches!(check_meta(db, &self.ctx), Ok(true)));
    }

    fn commit_once(&mut self, batch: &Batch) -> Result<CommitReceipt, StoreError> {
        let ctx = &self.ctx;
        let db =
            self.db.as_ref().ok_or_else(|| StoreError::Reopening { path: ctx.path.clone() })?;
        let txn = db.begin_write().map_err(ctx.err("beginning a transaction"))?;
        let mut receipt = CommitReceipt::default();
        {
            // An error returns early and drops `txn` uncommitted: redb aborts
            // it, so nothing of the batch is written.
            let mut w = Writer::open(ctx, &txn)?;
            super::check::check_forget(batch)?;
            for g in &batch.forget {
                w.forget_group(g)?;
            }
            for i in plan_appends(&w, &batch.entries)? {
                let Some(e) = batch.entries.get(i) else { continue };
                w.append(&mut self.rng, e)?;
                receipt.appended.push(e.id);
            }
            for id in &batch.outbox_remove {
                w.remove_outbox(*id)?;
            }
            for (g, payload) in &batch.outbox_push {
                receipt.outbox_ids.push(w.push_outbox(&mut self.rng, g, payload)?);
            }
            for (g, key, value) in &batch.state_puts {
                w.put_state(&mut self.rng, g, key, value)?;
            }
        }
        // Durability::Immediate is redb's default: fsync before returning.
        txn.commit().map_err(ctx.err("committing"))?;
        Ok(receipt)
    }
}

/// Opens the database file of a store: [`open_db`], or in tests a file
/// behind a backend that fails on demand.
type Opener = Box<dyn Fn(&Ctx) -> Result<Database, StoreError> + Send + Sync>;

/// Checks the format version and the key; false if the store is new.
fn check_meta(db: &Database, ctx: &Ctx) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(ctx.err("beginning a read"))?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err((ctx.err("opening the meta table"))(e)),
    };
    let get = |k| meta.get(k).map_err(ctx.err("reading the meta table"));
    let version = get(META_VERSION)?
        .ok_or(StoreError::Corrupt { what: "no format version" })?
        .value()
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| StoreError::Corrupt { what: "malformed format version" })?;
    if version > FORMAT_VERSION {
        return Err(StoreError::NewerFormat { found: version, supported: FORMAT_VERSION });
    }
    if version != FORMAT_VERSION {
        return Err(StoreError::Corrupt { what: "unknown format version" });
    }
    let check = get(META_KEY_CHECK)?.ok_or(StoreError::Corrupt { what: "no key check" })?;
    match ctx.keys.open(tables::META_NAME, META_KEY_CHECK.as_bytes(), check.value()) {
        Ok(plain) if plain[..] == *KEY_CHECK_PLAIN => Ok(true),
        _ => Err(StoreError::WrongKey),
    }
}

/// Creates every table and writes the format version and key check.
fn init_meta(
    db: &Database,
    ctx: &Ctx,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(ctx.err("beginning a transaction"))?;
    {
        let mut meta = txn.open_table(META).map_err(ctx.err("creating tables"))?;
        let version = FORMAT_VERSION.to_le_bytes();
        let check =
            ctx.keys.seal(rng, tables::META_NAME, META_KEY_CHECK.as_bytes(), KEY_CHECK_PLAIN);
        let put = |m: &mut redb::Table<&str, &[u8]>, k, v: &[u8]| {
            m.insert(k, v).map(drop).map_err(ctx.err("writing the meta table"))
        };
        put(&mut meta, META_VERSION, &version[..])?;
        put(&mut meta, META_KEY_CHECK, &check[..])?;
        Writer::open(ctx, &txn)?;
    }
    txn.commit().map_err(ctx.err("committing"))
}

/// Opens or creates the database file (owner-only permissions on Unix).
fn open_db(ctx: &Ctx) -> Result<Database, StoreError> {
    let (file, created) = open_private(&ctx.path)?;
    let backend = FileBackend::new(file).map_err(ctx.err("opening"))?;
    let db = Database::builder()
        .set_cache_size(CACHE_SIZE)
        .create_with_backend(backend)
        .map_err(ctx.err("opening"))?;
    if created && let Some(dir) = ctx.path.parent() {
        sync_dir(dir)?;
    }
    Ok(db)
}

impl Store for RedbStore {
    fn commit(&mut self, batch: Batch) -> Result<CommitReceipt, StoreError> {
        if self.db.is_none() {
            self.reopen();
        }
        let result = self.commit_once(&batch);
        if let Err(StoreError::Database { .. }) = result {
            self.reopen();
        }
        result
    }

    fn reopen_if_closed(&mut self) -> Result<(), StoreError> {
        if self.db.is_none() {
            self.reopen();
        }
        self.db().map(drop)
    }

    fn tail(&self, g: &GroupId, a: &PublicKey) -> Result<Option<(u64, EntryId)>, StoreError> {
        let txn = self.read()?;
        let tails = txn.open_table(TAILS).map_err(self.ctx.err("opening tails"))?;
        self.ctx.tail(&tails, g, a)
    }

    fn range(
        &self,
        g: &GroupId,
        a: &PublicKey,
        seqs: RangeInclusive<u64>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let (lo, hi) = seqs.into_inner();
        if lo > hi {
            return Ok(Vec::new());
        }
        let txn = self.read()?;
        let entries = txn.open_table(ENTRIES).map_err(self.ctx.err("opening entries"))?;
        self.ctx.chain(&entries, (g, a), lo, hi)
    }

    fn entry(&self, id: &EntryId) -> Result<Option<StoredEntry>, StoreError> {
        let txn = self.read()?;
        let ids = txn.open_table(ENTRY_IDS).map_err(self.ctx.err("opening the id index"))?;
        let Some(pos) = self.ctx.position(&ids, id)? else { return Ok(None) };
        let entries = txn.open_table(ENTRIES).map_err(self.ctx.err("opening entries"))?;
        let e = self.ctx.entry_at(&entries, &pos)?;
        match e {
            Some(e) if e.id == *id => Ok(Some(e)),
            _ => Err(StoreError::Corrupt { what: "id index points to another entry" }),
        }
    }

    fn version_vector(&self, g: &GroupId) -> Result<BTreeMap<PublicKey, u64>, StoreError> {
        let txn = self.read()?;
        let tails = txn.open_table(TAILS).map_err(self.ctx.err("opening tails"))?;
        self.ctx.tails_of(&tails, g)
    }

    fn state(&self, g: &GroupId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let state = txn.open_table(STATE).map_err(self.ctx.err("opening state"))?;
        self.ctx.state(&state, g, key)
    }

    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let txn = self.read()?;
        let outbox = txn.open_table(OUTBOX).map_err(self.ctx.err("opening the outbox"))?;
        self.ctx.outbox(&outbox)
    }

    fn put_secret(&mut self, label: &SecretLabel, secret: &[u8]) -> Result<(), StoreError> {
        self.secrets.put(&mut self.rng, label, secret)
    }

    fn secret(&self, label: &SecretLabel) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.secrets.get(label)
    }

    fn erase_secret(&mut self, label: &SecretLabel) -> Result<(), StoreError> {
        self.secrets.erase(label)
    }
}

#[cfg(test)]
mod test;
