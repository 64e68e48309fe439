//! Crash durability of the redb store.
//!
//! A child process (this test binary, re-run with [`CHILD_ENV`] set) commits
//! batches in a loop and prints `ACK <seq>` after each `commit` (and the
//! secret written with it) returned. The parent SIGKILLs it at a random
//! moment, reopens the store and checks that it opens cleanly, that every
//! acknowledged entry is there, and that each batch was applied whole. Each
//! directory is killed several times, so later runs also start from a file
//! that was left by a killed process.
//!
//! SIGKILL loses what the process had not handed to the kernel; it does not
//! lose the page cache, so this checks that acknowledgement comes after the
//! write, not that the fsync reached the disk (that is redb's
//! `Durability::Immediate`, see `protocol-spec/store.md`).

// A shell: clocks and the OS RNG belong here, not in cairn-proto.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use cairn_proto::crypto::{AeadKey, PublicKey, XofRng, keyed_hash};
use cairn_proto::store::{Batch, RedbStore, Store, StoredEntry};
use rand_core::Rng;

/// Set in the child to the directory of the store it should fill.
const CHILD_ENV: &str = "CAIRN_STORE_CRASH_CHILD";
const GROUP: [u8; 32] = [0x47; 32];
const AUTHOR: PublicKey = PublicKey([0x41; 32]);
const LABEL: [u8; 32] = [0x53; 32];
const DIRS: usize = 8;
const KILLS_PER_DIR: usize = 3;

fn storage_key() -> AeadKey {
    AeadKey::from_bytes([0x4b; 32])
}

fn os_rng() -> Box<dyn rand_core::CryptoRng + Send> {
    Box::new(rand_core::UnwrapErr(getrandom::SysRng))
}

/// The deterministic entry at `seq`, so the parent can check contents.
fn entry(seq: u64) -> StoredEntry {
    let id = keyed_hash(&[1; 32], &seq.to_be_bytes());
    let bytes = format!("entry {seq} ").repeat(40).into_bytes();
    StoredEntry { group: GROUP, author: AUTHOR, seq, id, lamport: seq, bytes }
}

/// Not a test of its own: the body of the child process.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let mut store = RedbStore::open(Path::new(&dir), &storage_key(), os_rng()).expect("open");
    let mut next = store.tail(&GROUP, &AUTHOR).expect("tail").map_or(0, |(s, _)| s + 1);
    let mut out = std::io::stdout().lock();
    loop {
        // Batches of 1 to 4 entries, with the state and outbox item they imply.
        let last = next + next % 4;
        let mut batch = Batch::new()
            .put_state(GROUP, b"last".to_vec(), last.to_be_bytes().to_vec())
            .push_outbox(GROUP, format!("batch ending {last}").into_bytes());
        for seq in next..=last {
            batch = batch.append(entry(seq));
        }
        store.commit(batch).expect("commit");
        store.put_secret(&LABEL, &last.to_be_bytes()).expect("secret");
        writeln!(out, "ACK {last}").and_then(|()| out.flush()).expect("stdout");
        next = last + 1;
    }
}

/// Runs one child on `dir`, kills it after `delay`, returns its acks.
fn run_and_kill(dir: &Path, delay: Duration) -> Vec<u64> {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        // Only whole lines count; libtest may print its own text before ours.
        while r.read_line(&mut line).expect("read") > 0 && line.ends_with('\n') {
            if let Some(n) = line.split("ACK ").nth(1) {
                acks.push(n.trim().parse::<u64>().expect("ack number"));
            }
            line.clear();
        }
        acks
    });
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    reader.join().expect("reader thread")
}

/// Reopens `dir` and checks it against every ack so far; returns the tail.
fn check(dir: &Path, max_ack: Option<u64>) -> Option<u64> {
    let store = RedbStore::open(dir, &storage_key(), os_rng()).expect("store opens cleanly");
    let tail = store.tail(&GROUP, &AUTHOR).expect("tail").map(|(seq, _)| seq);
    let Some(tail) = tail else {
        assert_eq!(max_ack, None, "acknowledged entries lost");
        return None;
    };
    assert!(max_ack <= Some(tail), "ack {max_ack:?} beyond tail {tail}");
    let chain = store.range(&GROUP, &AUTHOR, 0..=u64::MAX).expect("range");
    assert_eq!(chain, (0..=tail).map(entry).collect::<Vec<_>>(), "chain damaged");
    // The batch is atomic: state and outbox end exactly where the entries do.
    let state = store.state(&GROUP, b"last").expect("state");
    assert_eq!(state, Some(tail.to_be_bytes().to_vec()), "state out of step with entries");
    let outbox = store.outbox().expect("outbox");
    let last = outbox.last().map(|i| i.payload.clone());
    assert_eq!(last, Some(format!("batch ending {tail}").into_bytes()), "outbox out of step");
    let secret = store.secret(&LABEL).expect("secret").map(|s| s.to_vec());
    let secret = secret.map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")));
    assert!(secret >= max_ack && secret <= Some(tail), "secret {secret:?}, acks {max_ack:?}");
    Some(tail)
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    let started = Instant::now();
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_nanos();
    eprintln!("store_crash seed {seed}");
    let mut rng = XofRng::from_seed(&seed.to_le_bytes());
    let (mut total_acks, mut killed_mid_run) = (0, 0);
    for _ in 0..DIRS {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut max_ack = None;
        for _ in 0..KILLS_PER_DIR {
            let delay = Duration::from_millis(20 + rng.next_u64() % 280);
            let acks = run_and_kill(dir.path(), delay);
            total_acks += acks.len();
            killed_mid_run += usize::from(!acks.is_empty());
            max_ack = acks.iter().copied().max().max(max_ack);
            check(dir.path(), max_ack);
        }
    }
    eprintln!("{total_acks} acks in {killed_mid_run} runs, {:?}", started.elapsed());
    assert!(killed_mid_run >= DIRS, "too few children got to commit before the kill");
}
