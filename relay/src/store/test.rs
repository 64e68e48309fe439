use cairn_proto::relay_proto::{
    ErrorCode, QUOTA_MAILBOX_FULL, QUOTA_TOO_MANY_MAILBOXES, StoreRefusal, Stored,
};
use cairn_proto::wire::ENVELOPE_LEN;

use redb::Database;

use super::*;

const CACHE: usize = 1 << 20;

fn policy() -> Policy {
    Policy {
        max_total_envelopes: 1000,
        max_mailbox_envelopes: 100,
        max_mailboxes: 50,
        pow_difficulty: 0,
        retention_secs: 100,
    }
}

/// A distinct fake envelope (the store does not check signatures).
fn env(mailbox: u8, n: u64) -> Box<[u8; ENVELOPE_LEN]> {
    let mut e = Box::new([mailbox; ENVELOPE_LEN]);
    e[100..108].copy_from_slice(&n.to_le_bytes());
    e
}

fn mb(n: u8) -> MailboxId {
    MailboxId([n; 32])
}

/// Posts `count` envelopes (numbered from `from`) one batch each; returns cursors.
fn post(w: &mut StoreWriter, m: u8, from: u64, count: u64, now: u32) -> Vec<u64> {
    (from..from + count)
        .map(|n| {
            let e = env(m, n);
            let p = PostIn { mailbox: mb(m), envelope: &e, pow_proved: false };
            let report = w.commit_posts(&[p], now).expect("commit");
            report.outcomes[0].expect("stored").cursor
        })
        .collect()
}

fn cursors(s: &RelayStore, m: u8) -> Vec<u64> {
    s.page(&mb(m), 0, 64).expect("page").1.iter().map(|i| i.cursor).collect()
}

#[test]
fn cursors_count_per_mailbox_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = RelayStore::open(dir.path(), CACHE).expect("open");
        let mut w = s.writer(policy()).expect("writer");
        assert_eq!(post(&mut w, 1, 0, 3, 10), [1, 2, 3]);
        assert_eq!(post(&mut w, 2, 0, 2, 10), [1, 2], "a relay-wide counter would leak");
        let (head, items) = s.page(&mb(1), 1, 64).expect("page");
        assert_eq!(head, 3);
        assert_eq!(items.iter().map(|i| i.cursor).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(items[0].envelope, env(1, 1).to_vec());
        assert_eq!(s.page(&mb(1), 1, 1).expect("page").1.len(), 1, "limit");
        assert_eq!(s.heads(&[mb(2), mb(9)]).expect("heads"), [2, 0]);
    }
    let s = RelayStore::open(dir.path(), CACHE).expect("reopen");
    let mut w = s.writer(policy()).expect("writer");
    assert_eq!((w.mailboxes(), w.envelopes()), (2, 5));
    assert_eq!(post(&mut w, 1, 3, 1, 11), [4]);
    assert_eq!(cursors(&s, 1), [1, 2, 3, 4]);
}

#[test]
fn duplicates_are_dropped_even_within_a_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = RelayStore::open(dir.path(), CACHE).expect("open");
    let mut w = s.writer(policy()).expect("writer");
    let (a, b) = (env(1, 1), env(1, 2));
    let p = |e| PostIn { mailbox: mb(1), envelope: e, pow_proved: false };
    let report = w.commit_posts(&[p(&a), p(&b), p(&a)], 5).expect("commit");
    let got: Vec<_> = report.outcomes.iter().map(|o| o.expect("ok")).collect();
    assert_eq!(
        got.iter().map(|s| (s.cursor, s.duplicate)).collect::<Vec<_>>(),
        [(1, false), (2, false), (1, true)]
    );
    let again = w.commit_posts(&[p(&b)], 6).expect("commit");
    assert_eq!(again.outcomes[0], Ok(Stored { cursor: 2, duplicate: true }));
    assert_eq!(cursors(&s, 1), [1, 2]);
}

#[test]
fn quotas_and_proof_of_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = RelayStore::open(dir.path(), CACHE).expect("open");
    let limits =
        Policy { max_mailbox_envelopes: 2, max_mailboxes: 2, pow_difficulty: 8, ..policy() };
    let mut w = s.writer(limits).expect("writer");
    let (e1, e2, e3) = (env(1, 1), env(1, 2), env(1, 3));
    let p = |m, e, pow| PostIn { mailbox: mb(m), envelope: e, pow_proved: pow };
    let outcomes = |w: &mut StoreWriter, posts: &[PostIn<'_>]| {
        w.commit_posts(posts, 1).expect("commit").outcomes
    };
    let pow_needed = Err(StoreRefusal { code: ErrorCode::ProofOfWorkRequired, info: 8 });
    assert_eq!(outcomes(&mut w, &[p(1, &e1, false)]), [pow_needed]);
    assert!(outcomes(&mut w, &[p(1, &e1, true), p(1, &e2, false)]).iter().all(Result::is_ok));
    let full = Err(StoreRefusal { code: ErrorCode::QuotaExceeded, info: QUOTA_MAILBOX_FULL });
    assert_eq!(outcomes(&mut w, &[p(1, &e3, false)]), [full]);
    let (f1, g1) = (env(2, 1), env(3, 1));
    assert!(outcomes(&mut w, &[p(2, &f1, true)])[0].is_ok());
    let many = Err(StoreRefusal { code: ErrorCode::QuotaExceeded, info: QUOTA_TOO_MANY_MAILBOXES });
    assert_eq!(outcomes(&mut w, &[p(3, &g1, true)]), [many]);
}

#[test]
fn a_stranger_filling_new_mailboxes_evicts_only_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = RelayStore::open(dir.path(), CACHE).expect("open");
    // 20 mailboxes may share 200 envelopes: a fair share of 10 each.
    let limits = Policy { max_total_envelopes: 200, max_mailboxes: 20, ..policy() };
    let mut w = s.writer(limits).expect("writer");
    post(&mut w, 1, 0, 8, 1); // the group: 8 envelopes, within its share
    // The stranger fills all other mailboxes, round after round.
    for round in 0..40 {
        for m in 2..21 {
            post(&mut w, m, round, 1, 2);
        }
    }
    assert_eq!(w.envelopes(), 200, "at the limit, not over");
    assert_eq!(cursors(&s, 1), (1..=8).collect::<Vec<_>>(), "the group lost nothing");
    // The stranger's mailboxes were evicted oldest first and evenly.
    for m in 2..21 {
        let c = cursors(&s, m);
        assert!(c.len() >= 10 && c.len() <= 11, "mailbox {m} holds {}", c.len());
        assert_eq!(c.last(), Some(&40));
    }
    // A globally-oldest-first policy would have taken the group's 8 first.
}

#[test]
fn the_largest_mailbox_is_evicted_first_and_its_dedupe_entries_go_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = RelayStore::open(dir.path(), CACHE).expect("open");
    let mut w = s.writer(Policy { max_total_envelopes: 10, ..policy() }).expect("writer");
    post(&mut w, 1, 0, 7, 1);
    post(&mut w, 2, 0, 3, 1);
    let report = {
        let e = env(3, 0);
        w.commit_posts(&[PostIn { mailbox: mb(3), envelope: &e, pow_proved: false }], 2)
            .expect("commit")
    };
    assert_eq!(report.evicted, 1);
    assert_eq!(cursors(&s, 1), [2, 3, 4, 5, 6, 7]);
    assert_eq!(cursors(&s, 2), [1, 2, 3]);
    // The evicted envelope is new again if re-posted.
    assert_eq!(post(&mut w, 1, 0, 1, 3), [8]);
}

#[test]
fn retention_expires_old_envelopes_then_forgets_empty_mailboxes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = RelayStore::open(dir.path(), CACHE).expect("open");
    let mut w = s.writer(policy()).expect("writer");
    post(&mut w, 1, 0, 3, 1000);
    post(&mut w, 1, 3, 2, 1050);
    post(&mut w, 2, 0, 2, 1000);
    let r = w.sweep(1120, 1_000).expect("sweep");
    assert_eq!(r, SweepReport { expired: 5, forgotten: 1, more: false });
    assert_eq!(cursors(&s, 1), [4, 5]);
    assert_eq!(s.heads(&[mb(1), mb(2)]).expect("heads"), [5, 0]);
    // Cursors keep counting after expiry.
    assert_eq!(post(&mut w, 1, 5, 1, 1121), [6]);
    // A removal cap splits a big sweep.
    post(&mut w, 3, 0, 5, 1121);
    let r = w.sweep(1300, 4).expect("sweep");
    assert!(r.more && r.expired == 4);
    let r = w.sweep(1300, 100).expect("sweep");
    assert_eq!(r.expired, 4);
    assert_eq!(w.envelopes(), 0);
}

#[test]
fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(RelayStore::open(dir.path(), CACHE).expect("open"));
    {
        let db = Database::create(dir.path().join(STORE_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        txn.open_table(META).expect("meta").insert(META_VERSION, 2).expect("insert");
        txn.commit().expect("commit");
    }
    let err = RelayStore::open(dir.path(), CACHE).expect_err("refused");
    assert!(matches!(err, StoreError::NewerFormat { found: 2, .. }), "{err}");
}
