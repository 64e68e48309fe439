//! Secrets-file tests, several on the raw bytes of the directory.

use super::*;
use crate::crypto::XofRng;
use crate::store::suite::files_containing;

const L1: SecretLabel = [1; 32];
const L2: SecretLabel = [2; 32];

fn key() -> AeadKey {
    AeadKey::from_bytes([3; 32])
}

fn open(dir: &Path, seed: &str) -> SecretsFile {
    SecretsFile::open(&dir.join(NAME), &key(), &mut XofRng::from_seed(seed.as_bytes()))
        .expect("open")
}

fn get(f: &SecretsFile, l: &SecretLabel) -> Option<Vec<u8>> {
    f.get(l).expect("get").map(|s| s.to_vec())
}

fn raw(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(NAME)).expect("read")
}

/// The sealed record currently holding `label`, as raw bytes.
fn record_of(f: &SecretsFile, dir: &Path, label: &SecretLabel) -> Vec<u8> {
    let off = slot_offset(f.slot_of(label).expect("held")) as usize;
    raw(dir)[off..off + RECORD_LEN].to_vec()
}

/// Asserts no 16-byte piece of `record` (nor `plain`) is anywhere in `dir`.
fn assert_gone(dir: &Path, plain: &[u8], record: &[u8]) {
    assert_eq!(files_containing(dir, plain), Vec::<PathBuf>::new(), "plaintext left");
    for chunk in record.chunks_exact(16) {
        assert_eq!(files_containing(dir, chunk), Vec::<PathBuf>::new(), "sealed bytes left");
    }
}

#[test]
fn put_get_erase_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    f.put(&mut rng, &L1, b"one").expect("put");
    f.put(&mut rng, &L2, b"two").expect("put");
    f.put(&mut rng, &L1, b"uno").expect("put");
    drop(f);
    let mut f = open(dir.path(), "b");
    assert_eq!(get(&f, &L1), Some(b"uno".to_vec()));
    assert_eq!(get(&f, &L2), Some(b"two".to_vec()));
    f.erase(&L2).expect("erase");
    drop(f);
    let f = open(dir.path(), "c");
    assert_eq!(get(&f, &L2), None);
    assert_eq!(get(&f, &L1), Some(b"uno".to_vec()));
    // Slots are reused: two labels never need more than three slots.
    assert!(raw(dir.path()).len() <= 4 * SLOT_LEN);
}

#[test]
fn overwritten_and_erased_secrets_leave_no_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    let (first, second) = (b"FIRST-SECRET-0123456789abcdef", b"SECOND-SECRET-0123456789abcdef");
    f.put(&mut rng, &L2, b"KEPT-SECRET-0123456789abcdef").expect("put");
    f.put(&mut rng, &L1, first).expect("put");
    let first_record = record_of(&f, dir.path(), &L1);
    f.put(&mut rng, &L1, second).expect("overwrite");
    assert_gone(dir.path(), first, &first_record);
    let second_record = record_of(&f, dir.path(), &L1);
    f.erase(&L1).expect("erase");
    assert_gone(dir.path(), second, &second_record);
    assert_eq!(get(&f, &L1), None);
    assert_eq!(get(&f, &L2), Some(b"KEPT-SECRET-0123456789abcdef".to_vec()));
    // The live secret is sealed, never in the clear.
    assert!(files_containing(dir.path(), b"KEPT-SECRET").is_empty());
}

#[test]
fn crash_between_write_and_erase_keeps_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    let old = b"OLD-SECRET-VALUE-0123456789";
    f.put(&mut rng, &L1, old).expect("put");
    let (old_slot, old_record) = (f.slot_of(&L1).expect("held"), record_of(&f, dir.path(), &L1));
    f.put(&mut rng, &L1, b"new").expect("put");
    drop(f);
    // Put the old record back, as if the crash came before it was zeroed.
    let mut bytes = raw(dir.path());
    let off = slot_offset(old_slot) as usize;
    bytes[off..off + RECORD_LEN].copy_from_slice(&old_record);
    std::fs::write(dir.path().join(NAME), &bytes).expect("write");
    let f = open(dir.path(), "b");
    assert_eq!(get(&f, &L1), Some(b"new".to_vec()));
    assert_gone(dir.path(), old, &old_record);
}

#[test]
fn torn_and_garbage_slots_are_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    f.put(&mut rng, &L1, b"kept").expect("put");
    drop(f);
    let mut bytes = raw(dir.path());
    let garbage: Vec<u8> = (0..SLOT_LEN + 100).map(|i| (i * 7 + 1) as u8).collect();
    bytes.extend_from_slice(&garbage); // one garbage slot and a torn partial one
    std::fs::write(dir.path().join(NAME), &bytes).expect("write");
    let mut f = open(dir.path(), "b");
    assert_eq!(get(&f, &L1), Some(b"kept".to_vec()));
    assert!(files_containing(dir.path(), &garbage[..64]).is_empty(), "garbage is zeroed");
    f.put(&mut rng, &L2, b"fresh").expect("put into the freed slot");
    assert_eq!(f.slot_of(&L2), Some(1));
    drop(f);
    let f = open(dir.path(), "c");
    assert_eq!(get(&f, &L2), Some(b"fresh".to_vec()));
}

#[test]
fn a_record_copied_to_another_slot_does_not_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    f.put(&mut rng, &L1, b"v").expect("put");
    let record = record_of(&f, dir.path(), &L1);
    drop(f);
    let mut bytes = raw(dir.path());
    let mut slot = vec![0u8; SLOT_LEN];
    slot[..RECORD_LEN].copy_from_slice(&record);
    bytes.extend_from_slice(&slot); // slot 1 now holds slot 0's record
    std::fs::write(dir.path().join(NAME), &bytes).expect("write");
    let f = open(dir.path(), "b");
    assert_eq!(f.slot_of(&L1), Some(0), "the copy is bound to slot 0 by its AD");
    assert_eq!(raw(dir.path())[slot_offset(1) as usize..], vec![0u8; SLOT_LEN][..]);
}

#[test]
fn wrong_key_and_newer_version_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    f.put(&mut rng, &L1, b"v").expect("put");
    drop(f);
    let other = AeadKey::from_bytes([4; 32]);
    let r = SecretsFile::open(&dir.path().join(NAME), &other, &mut rng);
    assert!(matches!(r, Err(StoreError::WrongKey)), "{r:?}");
    assert_eq!(get(&open(dir.path(), "b"), &L1), Some(b"v".to_vec()), "nothing was scrubbed");
    let mut bytes = raw(dir.path());
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(dir.path().join(NAME), &bytes).expect("write");
    let r = SecretsFile::open(&dir.path().join(NAME), &key(), &mut rng);
    assert!(matches!(r, Err(StoreError::NewerFormat { found: 7, supported: 1 })), "{r:?}");
}

#[test]
fn oversized_secret_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = XofRng::from_seed(b"rng");
    let mut f = open(dir.path(), "a");
    let r = f.put(&mut rng, &L1, &[0; MAX_SECRET_LEN + 1]);
    assert!(matches!(r, Err(StoreError::SecretTooLarge { len: 257, max: 256 })), "{r:?}");
    assert_eq!(
        r.err().map(|e| e.to_string()).as_deref(),
        Some("secret is 257 bytes; at most 256 bytes can be stored")
    );
    assert_eq!(get(&f, &L1), None);
}
