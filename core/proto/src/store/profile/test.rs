//! Profile tests, including the raw-bytes scan of the whole directory.

use super::*;
use crate::crypto::{PublicKey, XofRng};
use crate::store::suite::{entry, files_containing, raw_files};
use crate::store::{Batch, Store, StoredEntry};

const PW: &[u8] = b"correct horse battery staple";

fn rng(tag: &str) -> XofRng {
    XofRng::from_seed(tag.as_bytes())
}

#[test]
fn create_open_and_refuse_to_overwrite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("profile");
    let p = Profile::create(&dir, PW, KdfParams::MIN, rng("create")).expect("create");
    let pk = p.identity().public_key();
    drop(p);
    let names: Vec<_> = raw_files(&dir).iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(names.len(), 3, "key file, store, secrets file, no temporary: {names:?}");
    match Profile::create(&dir, b"other", KdfParams::MIN, rng("again")) {
        Err(StoreError::ProfileExists { path }) => assert!(path.ends_with(KEY_FILE)),
        other => panic!("expected ProfileExists, got {other:?}"),
    }
    let p = Profile::open(&dir, PW, rng("open")).expect("open");
    assert_eq!(p.identity().public_key(), pk, "the same identity comes back");
    drop(p);
    match Profile::open(&dir, b"wrong", rng("open")) {
        Err(StoreError::KeyFile { source: KeyFileError::WrongPassphrase, .. }) => {}
        other => panic!("expected a wrong passphrase, got {other:?}"),
    }
    match Profile::open(&tmp.path().join("nothing"), PW, rng("open")) {
        Err(StoreError::NoProfile { .. }) => {}
        other => panic!("expected NoProfile, got {other:?}"),
    }
}

#[test]
fn restore_recovers_the_identity_into_an_empty_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = Profile::create(&tmp.path().join("a"), PW, KdfParams::MIN, rng("a")).expect("create");
    let seed = p.identity().seed().clone();
    let r =
        Profile::restore(&tmp.path().join("b"), seed.clone(), b"new pw", KdfParams::MIN, rng("b"))
            .expect("restore");
    assert_eq!(r.identity().public_key(), p.identity().public_key());
    assert_eq!(r.store().version_vector(&[0; 32]).expect("vv").len(), 0);
    drop(r);
    let again = Profile::restore(&tmp.path().join("b"), seed, PW, KdfParams::MIN, rng("c"));
    assert!(matches!(again, Err(StoreError::ProfileExists { .. })), "{again:?}");
}

/// What the scan looks for: every byte string that must never be on disk.
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn add(&mut self, what: impl Into<String>, bytes: &[u8]) {
        self.0.push((what.into(), bytes.to_vec()));
    }
}

fn marked_entry(group: [u8; 32], author: PublicKey, seq: u64, n: &mut Needles) -> StoredEntry {
    let mut e = entry(group, author, seq);
    let marker = format!("ENTRY-MARKER-{seq}-{}", crate::hex::short(&group, 2));
    e.bytes = format!("header {marker} trailer").into_bytes();
    n.add(marker.clone(), marker.as_bytes());
    n.add(format!("entry id {seq}"), &e.id);
    e
}

/// Fills a profile with marked data; returns everything that must not leak.
fn fill(p: &mut Profile) -> Needles {
    let mut n = Needles(Vec::new());
    n.add("master seed", p.identity().seed().as_bytes());
    let (g1, g2) = ([0x11; 32], [0x22; 32]);
    let (me, peer) = (p.identity().public_key(), PublicKey([0x5a; 32]));
    n.add("group 1", &g1);
    n.add("group 2", &g2);
    n.add("own public key", &me.0);
    n.add("peer public key", &peer.0);
    let mut b = Batch::new();
    for seq in 0..3 {
        b = b.append(marked_entry(g1, me, seq, &mut n)).append(marked_entry(g2, peer, seq, &mut n));
    }
    b = b.put_state(g1, b"STATE-KEY-MARKER".to_vec(), b"STATE-VALUE-MARKER".to_vec());
    b = b.push_outbox(g2, b"OUTBOX-PAYLOAD-MARKER".to_vec());
    b = b.push_outbox(g1, b"SENT-OUTBOX-MARKER".to_vec());
    let ids = p.store_mut().commit(b).expect("commit").outbox_ids;
    p.store_mut().commit(Batch::new().remove_outbox(ids[1])).expect("remove");
    for m in
        ["STATE-KEY-MARKER", "STATE-VALUE-MARKER", "OUTBOX-PAYLOAD-MARKER", "SENT-OUTBOX-MARKER"]
    {
        n.add(m, m.as_bytes());
    }
    for (label, secret) in [([1; 32], "LIVE-SECRET-MARKER"), ([2; 32], "ERASED-SECRET-MARKER")] {
        p.store_mut().put_secret(&label, secret.as_bytes()).expect("put");
        n.add(secret, secret.as_bytes());
    }
    p.store_mut().put_secret(&[1; 32], b"REPLACED-SECRET-MARKER").expect("overwrite");
    p.store_mut().erase_secret(&[2; 32]).expect("erase");
    n.add("replacement secret", b"REPLACED-SECRET-MARKER");
    n
}

/// A thief with the directory but not the passphrase reads nothing: no
/// plaintext, no identifier, no key, no secret, live or erased.
#[test]
fn raw_bytes_of_the_profile_reveal_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("profile");
    let mut p = Profile::create(&dir, PW, KdfParams::MIN, rng("scan")).expect("create");
    let mut needles = fill(&mut p);
    drop(p);
    // The storage key is only known through the key file: read it back.
    let key_file = std::fs::read(dir.join(KEY_FILE)).expect("key file");
    let secrets = KeyFile::open(&key_file, PW).expect("open key file");
    needles.add("storage key", secrets.storage_key.as_bytes());
    for (what, bytes) in &needles.0 {
        let found = files_containing(&dir, bytes);
        assert!(found.is_empty(), "{what} found in {found:?}");
    }
    // The scan itself can fail: the data is there, behind the passphrase.
    let p = Profile::open(&dir, PW, rng("reopen")).expect("open");
    let got = p.store().state(&[0x11; 32], b"STATE-KEY-MARKER").expect("state");
    assert_eq!(got.as_deref(), Some(&b"STATE-VALUE-MARKER"[..]));
    let live = p.store().secret(&[1; 32]).expect("secret").map(|s| s.to_vec());
    assert_eq!(live.as_deref(), Some(&b"REPLACED-SECRET-MARKER"[..]));
    assert_eq!(p.store().outbox().expect("outbox").len(), 1);
}

/// The scan is able to see a leak: a plaintext file in the directory is found.
#[test]
fn the_scan_finds_what_is_there() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("leak"), b"xx ENTRY-MARKER-0-11 yy").expect("write");
    assert_eq!(files_containing(tmp.path(), b"ENTRY-MARKER-0-11").len(), 1);
}
