//! Table definitions and the typed reads and writes over them.
//!
//! Every value goes through [`Keys::seal`]/[`Keys::open`]; every key through
//! the opaque layout of [`super::super::sealing`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand_core::CryptoRng;
use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use crate::crypto::PublicKey;
use crate::store::check::ChainView;
use crate::store::sealing::{
    CHAIN_KEY_LEN, Keys, arr, decode_entry, decode_tail, encode_entry, encode_tail,
};
use crate::store::{EntryId, GroupId, OutboxItem, StoreError, StoredEntry};

pub(super) type Bytes = &'static [u8];

pub(super) const META_NAME: &str = "meta";
const ENTRIES_NAME: &str = "entries";
const TAILS_NAME: &str = "tails";
const ENTRY_IDS_NAME: &str = "entry_ids";
const STATE_NAME: &str = "state";
const OUTBOX_NAME: &str = "outbox";
const COUNTERS_NAME: &str = "counters";

/// Plain (unsealed) metadata: format version and the key check value.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new(META_NAME);
pub(super) const ENTRIES: TableDefinition<Bytes, Bytes> = TableDefinition::new(ENTRIES_NAME);
pub(super) const TAILS: TableDefinition<Bytes, Bytes> = TableDefinition::new(TAILS_NAME);
pub(super) const ENTRY_IDS: TableDefinition<Bytes, Bytes> = TableDefinition::new(ENTRY_IDS_NAME);
pub(super) const STATE: TableDefinition<Bytes, Bytes> = TableDefinition::new(STATE_NAME);
pub(super) const OUTBOX: TableDefinition<Bytes, Bytes> = TableDefinition::new(OUTBOX_NAME);
pub(super) const COUNTERS: TableDefinition<Bytes, Bytes> = TableDefinition::new(COUNTERS_NAME);

/// `counters` key of the next outbox id.
const OUTBOX_NEXT: &[u8] = b"outbox_next";

/// The derived keys and the file name, for every read and write.
pub(super) struct Ctx {
    pub(super) keys: Keys,
    pub(super) path: PathBuf,
}

impl Ctx {
    /// Maps a redb error to [`StoreError::Database`] with context.
    pub(super) fn err<E: Into<redb::Error>>(
        &self,
        action: &'static str,
    ) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| StoreError::Database {
            action,
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    /// The entry stored under `entries` key `key`.
    pub(super) fn entry_at(
        &self,
        entries: &impl ReadableTable<Bytes, Bytes>,
        key: &[u8],
    ) -> Result<Option<StoredEntry>, StoreError> {
        let Some(v) = entries.get(key).map_err(self.err("reading an entry"))? else {
            return Ok(None);
        };
        let e = decode_entry(&self.keys.open(ENTRIES_NAME, key, v.value())?)?;
        if self.keys.chain_key(&e.group, &e.author, e.seq)[..] != *key {
            return Err(StoreError::Corrupt { what: "entry stored under another position" });
        }
        Ok(Some(e))
    }

    /// The entries of one chain with seq in `lo..=hi`, in order.
    pub(super) fn chain(
        &self,
        entries: &impl ReadableTable<Bytes, Bytes>,
        (g, a): (&GroupId, &PublicKey),
        lo: u64,
        hi: u64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let (lo, hi) = (self.keys.chain_key(g, a, lo), self.keys.chain_key(g, a, hi));
        let mut out = Vec::new();
        let range = entries.range(&lo[..]..=&hi[..]).map_err(self.err("scanning entries"))?;
        for item in range {
            let (k, v) = item.map_err(self.err("scanning entries"))?;
            let e = decode_entry(&self.keys.open(ENTRIES_NAME, k.value(), v.value())?)?;
            out.push(e);
        }
        Ok(out)
    }

    /// The tail of `(g, a)`.
    pub(super) fn tail(
        &self,
        tails: &impl ReadableTable<Bytes, Bytes>,
        g: &GroupId,
        a: &PublicKey,
    ) -> Result<Option<(u64, EntryId)>, StoreError> {
        let key = self.keys.tail_key(g, a);
        let Some(v) = tails.get(&key[..]).map_err(self.err("reading a tail"))? else {
            return Ok(None);
        };
        let (author, seq, id) = decode_tail(&self.keys.open(TAILS_NAME, &key, v.value())?)?;
        if author != *a {
            return Err(StoreError::Corrupt { what: "tail of another author" });
        }
        Ok(Some((seq, id)))
    }

    /// Every author's tail seq in group `g`.
    pub(super) fn tails_of(
        &self,
        tails: &impl ReadableTable<Bytes, Bytes>,
        g: &GroupId,
    ) -> Result<BTreeMap<PublicKey, u64>, StoreError> {
        let prefix = self.keys.group_prefix(g);
        let lo = [&prefix[..], &[0u8; 16]].concat();
        let hi = [&prefix[..], &[0xffu8; 16]].concat();
        let mut out = BTreeMap::new();
        for item in tails.range(&lo[..]..=&hi[..]).map_err(self.err("scanning tails"))? {
            let (k, v) = item.map_err(self.err("scanning tails"))?;
            let (author, seq, _) =
                decode_tail(&self.keys.open(TAILS_NAME, k.value(), v.value())?)?;
            out.insert(author, seq);
        }
        Ok(out)
    }

    /// The `entries` key where entry `id` is stored.
    pub(super) fn position(
        &self,
        ids: &impl ReadableTable<Bytes, Bytes>,
        id: &EntryId,
    ) -> Result<Option<[u8; CHAIN_KEY_LEN]>, StoreError> {
        let key = self.keys.id_key(id);
        let Some(v) = ids.get(&key[..]).map_err(self.err("reading the id index"))? else {
            return Ok(None);
        };
        let pos = self.keys.open(ENTRY_IDS_NAME, &key, v.value())?;
        if pos.len() != CHAIN_KEY_LEN {
            return Err(StoreError::Corrupt { what: "id index value has the wrong length" });
        }
        Ok(Some(arr(&pos)))
    }

    /// The state value under `(g, key)`.
    pub(super) fn state(
        &self,
        state: &impl ReadableTable<Bytes, Bytes>,
        g: &GroupId,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.keys.state_key(g, key);
        let Some(v) = state.get(&k[..]).map_err(self.err("reading state"))? else {
            return Ok(None);
        };
        Ok(Some(self.keys.open(STATE_NAME, &k, v.value())?.to_vec()))
    }

    /// Every outbox item in id (= push) order.
    pub(super) fn outbox(
        &self,
        outbox: &impl ReadableTable<Bytes, Bytes>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut out = Vec::new();
        for item in outbox.range::<Bytes>(..).map_err(self.err("scanning the outbox"))? {
            let (k, v) = item.map_err(self.err("scanning the outbox"))?;
            let plain = self.keys.open(OUTBOX_NAME, k.value(), v.value())?;
            let (id, group) = match (k.value().len(), plain.split_at_checked(32)) {
                (8, Some((group, _))) => (u64::from_be_bytes(arr(k.value())), arr(group)),
                _ => return Err(StoreError::Corrupt { what: "malformed outbox item" }),
            };
            out.push(OutboxItem { id, group, payload: plain[32..].to_vec() });
        }
        Ok(out)
    }
}

/// Every table, open in one write transaction.
pub(super) struct Writer<'c, 't> {
    ctx: &'c Ctx,
    entries: Table<'t, Bytes, Bytes>,
    tails: Table<'t, Bytes, Bytes>,
    ids: Table<'t, Bytes, Bytes>,
    state: Table<'t, Bytes, Bytes>,
    outbox: Table<'t, Bytes, Bytes>,
    counters: Table<'t, Bytes, Bytes>,
}

impl<'c, 't> Writer<'c, 't> {
    /// Opens (creating if needed) every sealed table.
    pub(super) fn open(ctx: &'c Ctx, txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let open = |def| txn.open_table(def).map_err(ctx.err("opening a table"));
        Ok(Self {
            ctx,
            entries: open(ENTRIES)?,
            tails: open(TAILS)?,
            ids: open(ENTRY_IDS)?,
            state: open(STATE)?,
            outbox: open(OUTBOX)?,
            counters: open(COUNTERS)?,
        })
    }

    fn put(
        table: &mut Table<'t, Bytes, Bytes>,
        ctx: &Ctx,
        rng: &mut (impl CryptoRng + ?Sized),
        (name, key, plain): (&str, &[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let sealed = ctx.keys.seal(rng, name, key, plain);
        table.insert(key, &sealed[..]).map_err(ctx.err("writing"))?;
        Ok(())
    }

    /// Writes entry `e`, its tail and its id index.
    pub(super) fn append(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        e: &StoredEntry,
    ) -> Result<(), StoreError> {
        let (ctx, keys) = (self.ctx, &self.ctx.keys);
        let pos = keys.chain_key(&e.group, &e.author, e.seq);
        let tail = encode_tail(&e.author, e.seq, &e.id);
        Self::put(&mut self.entries, ctx, rng, (ENTRIES_NAME, &pos, &encode_entry(e)))?;
        Self::put(&mut self.tails, ctx, rng, (TAILS_NAME, &pos[..32], &tail))?;
        Self::put(&mut self.ids, ctx, rng, (ENTRY_IDS_NAME, &keys.id_key(&e.id), &pos))
    }

    /// Stores a state value.
    pub(super) fn put_state(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        g: &GroupId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        let k = self.ctx.keys.state_key(g, key);
        Self::put(&mut self.state, self.ctx, rng, (STATE_NAME, &k, value))
    }

    /// Deletes every entry (with its id index), tail and state value of
    /// group `g`. Every `tails`, `state` and `entries` key of a group
    /// starts with its prefix, so each is one range; the id index is keyed
    /// by entry id, so it is found through the entries.
    pub(super) fn forget_group(&mut self, g: &GroupId) -> Result<(), StoreError> {
        let ctx = self.ctx;
        let prefix = ctx.keys.group_prefix(g);
        let (lo, hi) = ([&prefix[..], &[0u8; 24]].concat(), [&prefix[..], &[0xffu8; 24]].concat());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for item in self.entries.range(&lo[..]..=&hi[..]).map_err(ctx.err("scanning entries"))? {
            let (k, v) = item.map_err(ctx.err("scanning entries"))?;
            let e = decode_entry(&ctx.keys.open(ENTRIES_NAME, k.value(), v.value())?)?;
            ids.push(ctx.keys.id_key(&e.id));
            positions.push(k.value().to_vec());
        }
        for p in &positions {
            self.entries.remove(&p[..]).map_err(ctx.err("deleting an entry"))?;
        }
        for id in &ids {
            self.ids.remove(&id[..]).map_err(ctx.err("deleting an id"))?;
        }
        for table in [&mut self.tails, &mut self.state] {
            let keys: Vec<Vec<u8>> = table
                .range(&lo[..]..=&hi[..])
                .map_err(ctx.err("scanning a group"))?
                .map(|item| item.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(ctx.err("scanning a group"))?;
            for k in keys {
                table.remove(&k[..]).map_err(ctx.err("deleting a group's value"))?;
            }
        }
        Ok(())
    }

    /// Removes an outbox item (no-op if absent).
    pub(super) fn remove_outbox(&mut self, id: u64) -> Result<(), StoreError> {
        let key = id.to_be_bytes();
        self.outbox.remove(&key[..]).map_err(self.ctx.err("removing from the outbox"))?;
        Ok(())
    }

    /// Adds an outbox item and returns its new id.
    pub(super) fn push_outbox(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        g: &GroupId,
        payload: &[u8],
    ) -> Result<u64, StoreError> {
        let ctx = self.ctx;
        let id = match self.counters.get(OUTBOX_NEXT).map_err(ctx.err("reading a counter"))? {
            None => 1,
            Some(v) => {
                let plain = ctx.keys.open(COUNTERS_NAME, OUTBOX_NEXT, v.value())?;
                let b: [u8; 8] = plain[..].try_into().map_err(|_| StoreError::Corrupt {
                    what: "outbox counter has the wrong length",
                })?;
                u64::from_be_bytes(b)
            }
        };
        let next = (id + 1).to_be_bytes();
        Self::put(&mut self.counters, ctx, rng, (COUNTERS_NAME, OUTBOX_NEXT, &next))?;
        let item = [&g[..], payload].concat();
        Self::put(&mut self.outbox, ctx, rng, (OUTBOX_NAME, &id.to_be_bytes(), &item))?;
        Ok(id)
    }
}

impl ChainView for Writer<'_, '_> {
    fn tail_of(&self, g: &GroupId, a: &PublicKey) -> Result<Option<(u64, EntryId)>, StoreError> {
        self.ctx.tail(&self.tails, g, a)
    }
    fn id_at(&self, g: &GroupId, a: &PublicKey, seq: u64) -> Result<Option<EntryId>, StoreError> {
        let key = self.ctx.keys.chain_key(g, a, seq);
        Ok(self.ctx.entry_at(&self.entries, &key)?.map(|e| e.id))
    }
    fn has_id(&self, id: &EntryId) -> Result<bool, StoreError> {
        Ok(self.ctx.position(&self.ids, id)?.is_some())
    }
}
