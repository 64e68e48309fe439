//! The behavioural test suite every [`Store`] implementation must pass.
//!
//! Each case takes `&mut dyn Store` (which also proves the trait is
//! object-safe). `store_suite!(expr)` expands to one `#[test]` per case;
//! `expr` yields `(store, guard)`, the guard living as long as the test
//! (e.g. a temporary directory).

use std::collections::BTreeMap;

use super::{Batch, GroupId, OutboxItem, Store, StoreError, StoredEntry};
use crate::crypto::{PublicKey, keyed_hash};

pub(crate) const G1: GroupId = [0x61; 32];
pub(crate) const G2: GroupId = [0x62; 32];
pub(crate) const A: PublicKey = PublicKey([0xa1; 32]);
pub(crate) const B: PublicKey = PublicKey([0xb2; 32]);

/// The entry `(group, author, seq)`; `variant` changes its id (a fork).
pub(crate) fn entry_v(group: GroupId, author: PublicKey, seq: u64, variant: u8) -> StoredEntry {
    let mut input = [0u8; 73];
    input[..32].copy_from_slice(&group);
    input[32..64].copy_from_slice(&author.0);
    input[64..72].copy_from_slice(&seq.to_be_bytes());
    input[72] = variant;
    let id = keyed_hash(&[9; 32], &input);
    let bytes = format!("entry {seq} variant {variant}").into_bytes();
    StoredEntry { group, author, seq, id, lamport: seq * 2, bytes }
}

/// The canonical entry `(group, author, seq)`.
pub(crate) fn entry(group: GroupId, author: PublicKey, seq: u64) -> StoredEntry {
    entry_v(group, author, seq, 0)
}

/// Everything observable through the trait for G1/G2 × A/B.
#[derive(Debug, PartialEq)]
struct Snapshot {
    chains: Vec<Vec<StoredEntry>>,
    tails: Vec<Option<(u64, [u8; 32])>>,
    vvs: Vec<BTreeMap<PublicKey, u64>>,
    state: Vec<Option<Vec<u8>>>,
    outbox: Vec<OutboxItem>,
}

fn snapshot(s: &dyn Store) -> Snapshot {
    let mut snap =
        Snapshot { chains: vec![], tails: vec![], vvs: vec![], state: vec![], outbox: vec![] };
    for g in [G1, G2] {
        for a in [A, B] {
            snap.chains.push(s.range(&g, &a, 0..=u64::MAX).expect("range"));
            snap.tails.push(s.tail(&g, &a).expect("tail"));
        }
        snap.vvs.push(s.version_vector(&g).expect("vv"));
        snap.state.push(s.state(&g, b"k").expect("state"));
    }
    snap.outbox = s.outbox().expect("outbox");
    snap
}

pub(crate) fn commit_and_read(s: &mut dyn Store) {
    assert_eq!(s.tail(&G1, &A).expect("tail"), None);
    let es: Vec<_> = (0..5).map(|i| entry(G1, A, i)).collect();
    let receipt = s.commit(es.iter().cloned().fold(Batch::new(), Batch::append)).expect("commit");
    assert_eq!(receipt.appended, es.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!(s.tail(&G1, &A).expect("tail"), Some((4, es[4].id)));
    assert_eq!(s.tail(&G1, &B).expect("tail"), None);
    assert_eq!(s.tail(&G2, &A).expect("tail"), None);
    assert_eq!(s.range(&G1, &A, 0..=u64::MAX).expect("range"), es);
    assert_eq!(s.range(&G1, &A, 1..=3).expect("range"), es[1..=3].to_vec());
    assert_eq!(s.range(&G1, &A, 4..=9).expect("range"), es[4..].to_vec());
    assert_eq!(s.range(&G1, &A, 5..=9).expect("range"), vec![]);
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 3..=1;
    assert_eq!(s.range(&G1, &A, reversed).expect("range"), vec![]);
    assert_eq!(s.range(&G1, &B, 0..=9).expect("range"), vec![]);
    for e in &es {
        assert_eq!(s.entry(&e.id).expect("entry").as_ref(), Some(e));
    }
    assert_eq!(s.entry(&[0xee; 32]).expect("entry"), None);
}

pub(crate) fn version_vector_per_group(s: &mut dyn Store) {
    let b = Batch::new()
        .append(entry(G1, A, 0))
        .append(entry(G1, A, 1))
        .append(entry(G1, B, 0))
        .append(entry(G2, B, 0))
        .append(entry(G2, B, 1))
        .append(entry(G2, B, 2));
    s.commit(b).expect("commit");
    let vv1 = s.version_vector(&G1).expect("vv");
    assert_eq!(vv1, BTreeMap::from([(A, 1), (B, 0)]));
    assert_eq!(s.version_vector(&G2).expect("vv"), BTreeMap::from([(B, 2)]));
    assert!(s.version_vector(&[0x63; 32]).expect("vv").is_empty());
}

pub(crate) fn state_values(s: &mut dyn Store) {
    s.commit(Batch::new().put_state(G1, b"k".to_vec(), b"v1".to_vec())).expect("commit");
    assert_eq!(s.state(&G1, b"k").expect("state"), Some(b"v1".to_vec()));
    assert_eq!(s.state(&G2, b"k").expect("state"), None);
    assert_eq!(s.state(&G1, b"k2").expect("state"), None);
    let b = Batch::new()
        .put_state(G1, b"k".to_vec(), b"v2".to_vec())
        .put_state(G2, b"k".to_vec(), b"other".to_vec())
        .put_state(G1, b"empty".to_vec(), vec![]);
    s.commit(b).expect("commit");
    assert_eq!(s.state(&G1, b"k").expect("state"), Some(b"v2".to_vec()));
    assert_eq!(s.state(&G2, b"k").expect("state"), Some(b"other".to_vec()));
    assert_eq!(s.state(&G1, b"empty").expect("state"), Some(vec![]));
}

pub(crate) fn outbox_order_and_ids(s: &mut dyn Store) {
    let b = Batch::new()
        .push_outbox(G2, b"p1".to_vec())
        .push_outbox(G1, b"p2".to_vec())
        .push_outbox(G2, b"p3".to_vec());
    let ids = s.commit(b).expect("commit").outbox_ids;
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let items = s.outbox().expect("outbox");
    let payloads: Vec<_> = items.iter().map(|i| (i.id, i.group, i.payload.clone())).collect();
    assert_eq!(
        payloads,
        vec![
            (ids[0], G2, b"p1".to_vec()),
            (ids[1], G1, b"p2".to_vec()),
            (ids[2], G2, b"p3".to_vec())
        ]
    );
    // Remove the newest and the middle one, plus an unknown id (ignored).
    let b = Batch::new().remove_outbox(ids[2]).remove_outbox(ids[1]).remove_outbox(999_999);
    assert!(s.commit(b).expect("commit").outbox_ids.is_empty());
    let later = s.commit(Batch::new().push_outbox(G1, b"p4".to_vec())).expect("commit");
    assert!(later.outbox_ids[0] > ids[2], "ids are never reused");
    let left: Vec<_> = s.outbox().expect("outbox").iter().map(|i| i.id).collect();
    assert_eq!(left, vec![ids[0], later.outbox_ids[0]]);
}

pub(crate) fn not_contiguous_leaves_store_unchanged(s: &mut dyn Store) {
    s.commit(Batch::new().append(entry(G1, A, 0)).push_outbox(G1, b"x".to_vec())).expect("commit");
    let before = snapshot(s);
    let gap = Batch::new()
        .append(entry(G1, B, 0))
        .put_state(G1, b"k".to_vec(), b"v".to_vec())
        .push_outbox(G2, b"y".to_vec())
        .remove_outbox(before.outbox[0].id)
        .append(entry(G1, A, 2));
    match s.commit(gap) {
        Err(StoreError::NotContiguous { expected: 1, got: 2 }) => {}
        other => panic!("expected NotContiguous {{ 1, 2 }}, got {other:?}"),
    }
    assert_eq!(snapshot(s), before, "a refused batch writes nothing");
    match s.commit(Batch::new().append(entry(G2, B, 1))) {
        Err(StoreError::NotContiguous { expected: 0, got: 1 }) => {}
        other => panic!("a new author starts at 0, got {other:?}"),
    }
    assert_eq!(snapshot(s), before);
}

pub(crate) fn reappend_is_noop(s: &mut dyn Store) {
    s.commit(Batch::new().append(entry(G1, A, 0)).append(entry(G1, A, 1))).expect("commit");
    let before = snapshot(s);
    let r = s.commit(Batch::new().append(entry(G1, A, 0)).append(entry(G1, A, 1))).expect("again");
    assert!(r.appended.is_empty());
    assert_eq!(snapshot(s), before);
    // A re-append followed by the next entry: only the new one is appended.
    let b = Batch::new().append(entry(G1, A, 1)).append(entry(G1, A, 2));
    assert_eq!(s.commit(b).expect("commit").appended, vec![entry(G1, A, 2).id]);
    assert_eq!(s.tail(&G1, &A).expect("tail"), Some((2, entry(G1, A, 2).id)));
}

pub(crate) fn conflict_is_refused(s: &mut dyn Store) {
    s.commit(Batch::new().append(entry(G1, A, 0)).append(entry(G1, A, 1))).expect("commit");
    let before = snapshot(s);
    let fork =
        Batch::new().put_state(G1, b"k".to_vec(), b"v".to_vec()).append(entry_v(G1, A, 1, 7));
    match s.commit(fork) {
        Err(StoreError::Conflict { author, seq: 1 }) if author == A => {}
        other => panic!("expected Conflict at seq 1, got {other:?}"),
    }
    assert_eq!(snapshot(s), before, "equivocation never overwrites");
    assert_eq!(s.entry(&entry(G1, A, 1).id).expect("entry"), Some(entry(G1, A, 1)));
    assert_eq!(s.entry(&entry_v(G1, A, 1, 7).id).expect("entry"), None);
    // A fork inside one batch is caught as well.
    let b = Batch::new().append(entry(G2, B, 0)).append(entry_v(G2, B, 0, 3));
    assert!(matches!(s.commit(b), Err(StoreError::Conflict { seq: 0, .. })));
    assert_eq!(snapshot(s), before);
}

pub(crate) fn duplicate_id_is_refused(s: &mut dyn Store) {
    s.commit(Batch::new().append(entry(G1, A, 0))).expect("commit");
    let before = snapshot(s);
    let mut moved = entry(G2, B, 0);
    moved.id = entry(G1, A, 0).id;
    assert!(matches!(s.commit(Batch::new().append(moved)), Err(StoreError::DuplicateId)));
    assert_eq!(snapshot(s), before);
}

pub(crate) fn secrets_put_get_erase(s: &mut dyn Store) {
    let (l1, l2) = ([1u8; 32], [2u8; 32]);
    assert_eq!(s.secret(&l1).expect("get"), None);
    s.put_secret(&l1, b"first").expect("put");
    s.put_secret(&l2, b"second").expect("put");
    assert_eq!(s.secret(&l1).expect("get").as_deref().map(Vec::as_slice), Some(&b"first"[..]));
    s.put_secret(&l1, b"replaced").expect("put");
    assert_eq!(s.secret(&l1).expect("get").as_deref().map(Vec::as_slice), Some(&b"replaced"[..]));
    s.erase_secret(&l1).expect("erase");
    s.erase_secret(&l1).expect("erase twice is fine");
    assert_eq!(s.secret(&l1).expect("get"), None);
    assert_eq!(s.secret(&l2).expect("get").as_deref().map(Vec::as_slice), Some(&b"second"[..]));
    s.put_secret(&l1, &[7; super::MAX_SECRET_LEN]).expect("the maximum fits");
    s.put_secret(&l2, b"").expect("empty secrets are fine");
    assert_eq!(s.secret(&l2).expect("get").map(|v| v.len()), Some(0));
    match s.put_secret(&l1, &[7; super::MAX_SECRET_LEN + 1]) {
        Err(StoreError::SecretTooLarge { len: 257, max: 256 }) => {}
        other => panic!("expected SecretTooLarge, got {other:?}"),
    }
    assert_eq!(s.secret(&l1).expect("get").map(|v| v.len()), Some(super::MAX_SECRET_LEN));
}

/// Forgetting a group deletes its entries, ids, tails and state, and
/// nothing of another group nor the outbox; a batch that also appends to
/// the group is refused whole; the group can be written afresh after.
pub(crate) fn forget_group_deletes_one_group(s: &mut dyn Store) {
    let mut b = Batch::new().push_outbox(G1, b"leave".to_vec());
    for (g, a) in [(G1, A), (G1, B), (G2, A)] {
        b = b.append(entry(g, a, 0)).append(entry(g, a, 1));
    }
    s.commit(b.put_state(G1, b"k".to_vec(), b"v1".to_vec()).put_state(
        G2,
        b"k".to_vec(),
        b"v2".to_vec(),
    ))
    .expect("commit");
    let before = snapshot(s);
    let refused = s.commit(Batch::new().forget_group(G1).append(entry(G1, A, 2)));
    assert!(matches!(refused, Err(StoreError::AppendToForgotten)), "{refused:?}");
    assert_eq!(snapshot(s), before, "a refused batch changed the store");

    let kept_id = entry(G2, A, 1).id;
    s.commit(Batch::new().forget_group(G1).put_state(G2, b"k".to_vec(), b"v3".to_vec()))
        .expect("forget");
    for a in [A, B] {
        assert_eq!(s.tail(&G1, &a).expect("tail"), None);
        assert!(s.range(&G1, &a, 0..=u64::MAX).expect("range").is_empty());
        assert_eq!(s.entry(&entry(G1, a, 0).id).expect("entry"), None, "the id index kept it");
    }
    assert!(s.version_vector(&G1).expect("vv").is_empty());
    assert_eq!(s.state(&G1, b"k").expect("state"), None);
    assert_eq!(s.state(&G2, b"k").expect("state"), Some(b"v3".to_vec()));
    assert_eq!(s.range(&G2, &A, 0..=u64::MAX).expect("range").len(), 2);
    assert!(s.entry(&kept_id).expect("entry").is_some());
    assert_eq!(s.outbox().expect("outbox").len(), 1, "the leave on its way was dropped");
    // The same entries can be stored again (a member who rejoins).
    s.commit(Batch::new().append(entry(G1, A, 0))).expect("written afresh");
    assert_eq!(s.tail(&G1, &A).expect("tail"), Some((0, entry(G1, A, 0).id)));
}

/// Expands to one `#[test]` per suite case; `$make` yields `(store, guard)`.
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store::suite::store_suite!(@cases $make;
            commit_and_read,
            version_vector_per_group,
            state_values,
            outbox_order_and_ids,
            not_contiguous_leaves_store_unchanged,
            reappend_is_noop,
            conflict_is_refused,
            duplicate_id_is_refused,
            secrets_put_get_erase,
            forget_group_deletes_one_group
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        mod suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    let (mut store, _guard) = $make;
                    $crate::store::suite::$case(&mut store);
                }
            )*
        }
    };
}
pub(crate) use store_suite;

/// Every file under `dir` (recursively), as raw bytes.
pub(crate) fn raw_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let path = e.expect("dir entry").path();
        if path.is_dir() {
            out.extend(raw_files(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read file");
            out.push((path, bytes));
        }
    }
    out
}

/// The files under `dir` in which `needle` occurs.
pub(crate) fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    assert!(!needle.is_empty());
    raw_files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p)
        .collect()
}
