//! The single writer: posts in durable batches, eviction and retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_proto::relay_proto::{
    ErrorCode, QUOTA_MAILBOX_FULL, QUOTA_TOO_MANY_MAILBOXES, StoreRefusal, Stored,
};
use cairn_proto::wire::{ENVELOPE_LEN, MailboxId};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, WriteTransaction};

use super::index::Index;
use super::tables::{
    DEDUPE, DEDUPE_LEN, ENVELOPES, KEY_LEN, MAILBOXES, META, META_NEXT_SLOT, MailboxRecord,
    RECORD_LEN, VALUE_LEN, dedupe_key, envelope_key, envelope_value, split_value,
};
use super::{DbHandle, StoreError, db_err};

/// How often a writer whose transactions keep failing reopens the database.
pub const RECOVER_EVERY: Duration = Duration::from_secs(5);

/// What the writer enforces (sizes in envelopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Envelopes kept in total; beyond, fair-share eviction.
    pub max_total_envelopes: u64,
    /// Envelopes per mailbox; beyond, posts are refused.
    pub max_mailbox_envelopes: u64,
    /// Mailboxes kept; a post that would create another is refused.
    pub max_mailboxes: u64,
    /// Proof-of-work difficulty for new mailboxes (0: none).
    pub pow_difficulty: u8,
    /// Seconds an envelope is kept.
    pub retention_secs: u64,
}

/// One post for [`StoreWriter::commit_posts`].
#[derive(Debug, Clone, Copy)]
pub struct PostIn<'a> {
    /// The mailbox the envelope's write key names.
    pub mailbox: MailboxId,
    /// The envelope, write signature already verified.
    pub envelope: &'a [u8; ENVELOPE_LEN],
    /// A valid proof of work for `mailbox` came with it.
    pub pow_proved: bool,
}

/// The result of one committed batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Per post, in order: stored (or duplicate) with its cursor, or refused.
    pub outcomes: Vec<Result<Stored, StoreRefusal>>,
    /// Envelopes evicted to stay under the total limit.
    pub evicted: u64,
}

/// The result of one retention sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Envelopes removed for age.
    pub expired: u64,
    /// Emptied mailboxes forgotten.
    pub forgotten: u64,
    /// The sweep stopped at its removal cap; run another.
    pub more: bool,
}

/// The tables one write transaction works on.
struct Tables<'t> {
    mailboxes: Table<'t, &'static [u8; 32], &'static [u8; RECORD_LEN]>,
    envelopes: Table<'t, &'static [u8; KEY_LEN], &'static [u8; VALUE_LEN]>,
    dedupe: Table<'t, &'static [u8; DEDUPE_LEN], u64>,
}

/// The only writer of a store. Keeps an index of the mailboxes in memory,
/// changed together with the database in each transaction.
pub struct StoreWriter {
    db: DbHandle,
    path: PathBuf,
    index: Index,
    policy: Policy,
    durable: bool,
    /// A transaction failed: the database must be reopened and the index
    /// reloaded before the next one.
    failed: bool,
    last_recovery: Option<Instant>,
}

impl core::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreWriter").field("path", &self.path).finish_non_exhaustive()
    }
}

fn refusal(code: ErrorCode, info: u64) -> StoreRefusal {
    StoreRefusal { code, info }
}

impl StoreWriter {
    pub(super) fn new(db: DbHandle, path: PathBuf, policy: Policy) -> Result<Self, StoreError> {
        let index = load_index(&*db.get()?, &path)?;
        Ok(Self { db, path, index, policy, durable: true, failed: false, last_recovery: None })
    }

    /// Mailboxes known.
    pub fn mailboxes(&self) -> u64 {
        self.index.mailboxes()
    }

    /// Envelopes held.
    pub fn envelopes(&self) -> u64 {
        self.index.total()
    }

    /// The record of a mailbox, if it exists.
    pub fn record(&self, mailbox: &MailboxId) -> Option<MailboxRecord> {
        self.index.get(mailbox)
    }

    /// Turns durable commits off (`false`) or back on. Only for bulk
    /// loading in benchmarks and tests: the relay never calls it, and a
    /// commit made while off can be lost on a crash.
    pub fn dangerously_set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    fn begin(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn =
            self.db.get()?.begin_write().map_err(db_err(&self.path, "beginning a transaction"))?;
        let level = if self.durable { Durability::Immediate } else { Durability::None };
        txn.set_durability(level).map_err(|_| StoreError::Corrupt {
            path: self.path.clone(),
            what: "durability refused",
        })?;
        Ok(txn)
    }

    fn open<'t>(&self, txn: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        let err = || db_err(&self.path, "opening tables");
        Ok(Tables {
            mailboxes: txn.open_table(MAILBOXES).map_err(err())?,
            envelopes: txn.open_table(ENVELOPES).map_err(err())?,
            dedupe: txn.open_table(DEDUPE).map_err(err())?,
        })
    }

    /// Stores a batch of posts in one transaction, durable when this
    /// returns `Ok`. On `Err` nothing of the batch is stored.
    pub fn commit_posts(
        &mut self,
        posts: &[PostIn<'_>],
        now: u32,
    ) -> Result<CommitReport, StoreError> {
        self.guarded(|w| w.try_commit_posts(posts, now))
    }

    /// Removes envelopes older than the retention time (at most
    /// `max_removals` in this transaction) and forgets emptied mailboxes
    /// whose last post is that old.
    pub fn sweep(&mut self, now: u32, max_removals: u64) -> Result<SweepReport, StoreError> {
        self.guarded(|w| w.try_sweep(now, max_removals))
    }

    /// Runs a transaction. If it fails, the index may be ahead of the
    /// database, and after an I/O error redb refuses everything until the
    /// database is reopened: both are redone before the next transaction
    /// (at once, then at most every [`RECOVER_EVERY`] while it keeps
    /// failing, as on a full disk). The writer never gives up.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.failed {
            self.recover()?;
        }
        let result = f(self);
        if result.is_err() {
            self.failed = true;
            // A failed recovery is retried before the next transaction.
            let _ = self.recover();
        }
        result
    }

    /// Whether a failed transaction left the database to reopen
    /// ([`StoreWriter::heal`]).
    pub fn needs_recovery(&self) -> bool {
        self.failed
    }

    /// Reopens the database after a failure, if due: readers get a working
    /// database back even when no post comes to trigger it.
    pub fn heal(&mut self) {
        if self.failed {
            // Not yet (the disk may still be full): the next call retries.
            let _ = self.recover();
        }
    }

    /// Reopens the database and reloads the index.
    fn recover(&mut self) -> Result<(), StoreError> {
        let now = Instant::now();
        if self.last_recovery.is_some_and(|t| now < t + RECOVER_EVERY) {
            return Err(StoreError::Reopening { path: self.path.clone() });
        }
        self.last_recovery = Some(now);
        self.db.reopen()?;
        self.index = load_index(&*self.db.get()?, &self.path)?;
        self.failed = false;
        tracing::info!(path = %self.path.display(), "store reopened after a failure");
        Ok(())
    }

    fn try_commit_posts(
        &mut self,
        posts: &[PostIn<'_>],
        now: u32,
    ) -> Result<CommitReport, StoreError> {
        let txn = self.begin()?;
        let mut report = CommitReport::default();
        {
            let mut t = self.open(&txn)?;
            for post in posts {
                let outcome = self.apply(&mut t, post, now, &mut report.evicted)?;
                report.outcomes.push(outcome);
            }
        }
        self.write_next_slot(&txn)?;
        txn.commit().map_err(db_err(&self.path, "committing"))?;
        Ok(report)
    }

    fn write_next_slot(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        let mut meta = txn.open_table(META).map_err(db_err(&self.path, "opening meta"))?;
        meta.insert(META_NEXT_SLOT, u64::from(self.index.next_slot))
            .map_err(db_err(&self.path, "writing meta"))?;
        Ok(())
    }

    /// Stores one post inside the batch's transaction.
    fn apply(
        &mut self,
        t: &mut Tables<'_>,
        post: &PostIn<'_>,
        now: u32,
        evicted: &mut u64,
    ) -> Result<Result<Stored, StoreRefusal>, StoreError> {
        let dkey = dedupe_key(post.envelope);
        if let Some(c) = t.dedupe.get(&dkey).map_err(db_err(&self.path, "reading dedupe"))? {
            return Ok(Ok(Stored { cursor: c.value(), duplicate: true }));
        }
        let record = match self.index.get(&post.mailbox) {
            Some(r) => r,
            None => match self.admit_new(post, now) {
                Ok(r) => r,
                Err(refused) => return Ok(Err(refused)),
            },
        };
        if record.count() >= self.policy.max_mailbox_envelopes {
            return Ok(Err(refusal(ErrorCode::QuotaExceeded, QUOTA_MAILBOX_FULL)));
        }
        *evicted += self.make_room(t)?;
        // Eviction may have taken this mailbox's own oldest envelope.
        let mut record = self.index.get(&post.mailbox).unwrap_or(record);
        record.head += 1;
        record.last_post = now;
        let err = || db_err(&self.path, "storing an envelope");
        let value = envelope_value(now, post.envelope);
        t.envelopes.insert(&envelope_key(record.slot, record.head), &*value).map_err(err())?;
        t.dedupe.insert(&dkey, record.head).map_err(err())?;
        t.mailboxes.insert(&post.mailbox.0, &record.encode()).map_err(err())?;
        self.index.put(post.mailbox, record);
        Ok(Ok(Stored { cursor: record.head, duplicate: false }))
    }

    /// The record a new mailbox gets, or why it may not be created.
    fn admit_new(&mut self, post: &PostIn<'_>, now: u32) -> Result<MailboxRecord, StoreRefusal> {
        let d = self.policy.pow_difficulty;
        if d > 0 && !post.pow_proved {
            return Err(refusal(ErrorCode::ProofOfWorkRequired, u64::from(d)));
        }
        let too_many = refusal(ErrorCode::QuotaExceeded, QUOTA_TOO_MANY_MAILBOXES);
        if self.index.mailboxes() >= self.policy.max_mailboxes {
            return Err(too_many);
        }
        let slot = self.index.next_slot;
        self.index.next_slot = slot.checked_add(1).ok_or(too_many)?;
        Ok(MailboxRecord::new(slot, now))
    }

    /// Evicts until one more envelope fits under the total limit: each time
    /// the oldest envelope of the mailbox furthest over its fair share.
    fn make_room(&mut self, t: &mut Tables<'_>) -> Result<u64, StoreError> {
        let mut evicted = 0;
        while self.index.total() >= self.policy.max_total_envelopes {
            let Some(victim) = self.index.furthest_over_share() else { break };
            self.remove_oldest(t, victim)?;
            evicted += 1;
        }
        Ok(evicted)
    }

    /// Removes the oldest envelope of `mailbox` (and its dedupe entry).
    fn remove_oldest(&mut self, t: &mut Tables<'_>, mailbox: MailboxId) -> Result<(), StoreError> {
        let Some(mut r) = self.index.get(&mailbox).filter(|r| r.count() > 0) else { return Ok(()) };
        let err = || db_err(&self.path, "removing an envelope");
        let removed = t.envelopes.remove(&envelope_key(r.slot, r.first)).map_err(err())?;
        if let Some(v) = removed {
            let (_, envelope) = split_value(v.value());
            t.dedupe.remove(&dedupe_key(envelope)).map_err(err())?;
        }
        r.first += 1;
        t.mailboxes.insert(&mailbox.0, &r.encode()).map_err(err())?;
        self.index.put(mailbox, r);
        Ok(())
    }

    fn try_sweep(&mut self, now: u32, max_removals: u64) -> Result<SweepReport, StoreError> {
        let keep = u32::try_from(self.policy.retention_secs).unwrap_or(u32::MAX);
        let cutoff = now.saturating_sub(keep);
        let txn = self.begin()?;
        let mut report = SweepReport::default();
        {
            let mut t = self.open(&txn)?;
            for mailbox in self.index.ids() {
                let cap = max_removals - report.expired;
                let removed = self.expire(&mut t, mailbox, cutoff, cap)?;
                report.expired += removed;
                if removed == cap {
                    report.more = true;
                    break;
                }
                if self.index.get(&mailbox).is_some_and(|r| r.count() == 0 && r.last_post < cutoff)
                {
                    t.mailboxes.remove(&mailbox.0).map_err(db_err(&self.path, "forgetting"))?;
                    self.index.remove(&mailbox);
                    report.forgotten += 1;
                }
            }
        }
        txn.commit().map_err(db_err(&self.path, "committing"))?;
        Ok(report)
    }

    /// Removes the envelopes of `mailbox` stored before `cutoff` (oldest
    /// first, at most `max`).
    fn expire(
        &mut self,
        t: &mut Tables<'_>,
        mailbox: MailboxId,
        cutoff: u32,
        max: u64,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        while removed < max {
            let Some(r) = self.index.get(&mailbox).filter(|r| r.count() > 0) else { break };
            let key = envelope_key(r.slot, r.first);
            let got = t.envelopes.get(&key).map_err(db_err(&self.path, "reading an envelope"))?;
            let stored_at = got.map_or(0, |v| split_value(v.value()).0);
            if stored_at >= cutoff {
                break;
            }
            self.remove_oldest(t, mailbox)?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Reads every mailbox record and the next slot.
fn load_index(db: &Database, path: &Path) -> Result<Index, StoreError> {
    let txn = db.begin_read().map_err(db_err(path, "beginning a read"))?;
    let meta = txn.open_table(META).map_err(db_err(path, "opening meta"))?;
    let next = meta.get(META_NEXT_SLOT).map_err(db_err(path, "reading meta"))?.map(|v| v.value());
    let corrupt = |what| StoreError::Corrupt { path: path.to_owned(), what };
    let next = next.ok_or_else(|| corrupt("no next slot"))?;
    let mut index = Index::default();
    index.next_slot = u32::try_from(next).map_err(|_| corrupt("slot range"))?;
    let table = txn.open_table(MAILBOXES).map_err(db_err(path, "opening mailboxes"))?;
    for entry in table.iter().map_err(db_err(path, "reading mailboxes"))? {
        let (k, v) = entry.map_err(db_err(path, "reading mailboxes"))?;
        let record = MailboxRecord::decode(v.value()).ok_or_else(|| corrupt("mailbox record"))?;
        if record.slot >= index.next_slot {
            return Err(corrupt("mailbox slot beyond the next slot"));
        }
        index.put(MailboxId(*k.value()), record);
    }
    Ok(index)
}
