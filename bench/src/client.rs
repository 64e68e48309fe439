//! The client figures (issue 14): what the terminal client costs with a
//! history of N messages in one group, through the client's own code
//! (`cairn::bench`: the kept view the backend patches on each node event,
//! the app state and the drawing on ratatui's test backend).
//!
//! * `client.first_screen.N`: open the redb store holding N messages, read
//!   the group back (`Replica::open`, what opening a profile does per
//!   group), build the view and draw the first frame; target 1 s.
//! * `client.first_view.N`: of that, the client's part: building the view
//!   from the opened group and drawing it (the rest is the replica's).
//! * `client.rebuild.N`: the view built from nothing at N messages (what
//!   every node event cost before the view was kept and patched).
//! * `client.key_p50.N`, `client.key_p99.N`: keypress to drawn frame while
//!   a replica takes in N messages envelope by envelope, an event after
//!   each (as the node does), a backend thread patching the view on each
//!   run of events and the UI loop taking what waits (keys, snapshots) and
//!   drawing one frame, as `cairn`'s does; target 50 ms. The node is stood in for by the replica under a mutex (the
//!   node's core lock); nothing is persisted during the sync.
//! * `client.rss.N`: resident memory of a child process that opened the
//!   N-message store, read the group and drew its first frame; target
//!   150 MiB.
//! * `client.rss_10_groups.N` (smallest N only): the same with ten groups
//!   of N messages held at once (the group read ten times, each a replica
//!   sharing nothing with the others); target 150 MiB.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cairn::bench::{Screen, Shot, View};
use cairn_proto::crypto::{AeadKey, XofRng};
use cairn_proto::replica::Replica;
use cairn_proto::store::{Batch, RedbStore, Store};
use cairn_proto::wire::{Envelope, GroupId, MessageId};

use crate::report::{Report, quantile};
use crate::world::{NOW, World};

/// The child process's environment variable: the store to measure.
const RSS_CHILD: &str = "CAIRN_BENCH_CLIENT_RSS";
/// The key of the benchmark's stores (not a secret).
const STORE_KEY: [u8; 32] = [7; 32];
/// The groups of `client.rss_10_groups`.
const GROUPS: usize = 10;
/// How often a key is pressed during the sync.
const KEY_EVERY: Duration = Duration::from_millis(5);
/// The screen: a common terminal.
const SIZE: (u16, u16) = (120, 40);

/// Runs the client figures at every size over the history after `setup`.
pub(crate) fn run(report: &mut Report, world: &World, setup: usize, sizes: &[usize]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = XofRng::from_seed(b"cairn-bench client");
    let mut reader = crate::figures::founder(world);
    let (group, genesis) = (reader.group(), reader.state().expect("state").genesis);
    let mut store = setup_store(dir.path(), world, group);
    let mut done = 0;
    for &size in sizes {
        for post in &world.wire[setup + done..setup + size] {
            for env in &post.envelopes {
                reader.receive_envelope(&mut rng, env, NOW).expect("envelope applies");
            }
        }
        reader.persist(&mut store, Batch::new()).expect("persist");
        drop(store);
        done = size;

        let (ms, view, rebuild) = first_screen(dir.path(), group, genesis);
        let target = "target (issue 14)";
        report.figure(format!("client.first_screen.{size}"), ms, "ms", target, 1000.0);
        report.figure(format!("client.first_view.{size}"), view, "ms", target, 1000.0);
        report.figure(format!("client.rebuild.{size}"), rebuild, "ms", "keypress target", 50.0);
        let (opened, rss) = rss_of_child(dir.path(), group, genesis, 1);
        eprintln!("client: {opened:.1} MiB resident once the group was read, {rss:.1} once drawn");
        report.figure(format!("client.rss.{size}"), rss, "MiB", target, 150.0);
        if size == sizes[0] {
            let (_, rss) = rss_of_child(dir.path(), group, genesis, GROUPS);
            eprintln!("client: {rss:.1} MiB resident with {GROUPS} groups of {size}");
            report.figure(format!("client.rss_{GROUPS}_groups.{size}"), rss, "MiB", target, 150.0);
        }
        store = open_store(dir.path());

        let history: Vec<&Envelope> =
            world.wire[setup..setup + size].iter().flat_map(|p| &p.envelopes).collect();
        let (p50, p99, keys) = keys_during_sync(world, &history);
        eprintln!("client: {keys} keys pressed during the sync of {size}");
        report.figure(format!("client.key_p50.{size}"), p50, "ms", target, 50.0);
        report.figure(format!("client.key_p99.{size}"), p99, "ms", target, 50.0);
    }
}

fn open_store(dir: &Path) -> RedbStore {
    let rng = Box::new(XofRng::from_seed(b"cairn-bench client store"));
    RedbStore::open(dir, &AeadKey::from_bytes(STORE_KEY), rng).expect("store")
}

/// A redb store holding the founder's keys and the setup's messages.
fn setup_store(dir: &Path, world: &World, group: GroupId) -> RedbStore {
    let mut store = open_store(dir);
    let mut batch = Batch::new();
    for (author, top) in world.store.version_vector(&group.0).expect("read") {
        for e in world.store.range(&group.0, &author, 0..=top).expect("read") {
            batch = batch.append(e);
        }
    }
    store.commit(batch).expect("setup commit");
    let mut founder = crate::figures::founder(world);
    founder.persist(&mut store, Batch::new()).expect("keys");
    store
}

/// Milliseconds from opening the store to the first frame drawn, of that
/// the view and the drawing, and of building the view from nothing again.
fn first_screen(dir: &Path, group: GroupId, genesis: MessageId) -> (f64, f64, f64) {
    let t = Instant::now();
    let replica = open(dir, group, genesis);
    let opened = t.elapsed();
    let screen = draw(&replica);
    let first = t.elapsed().as_secs_f64() * 1e3;
    let view = (t.elapsed() - opened).as_secs_f64() * 1e3;
    assert!(screen.shows("bench"), "the first screen shows the profile");
    let t = Instant::now();
    let shot = View::default().snapshot(&replica);
    let rebuild = t.elapsed().as_secs_f64() * 1e3;
    assert!(shot.lines() > 0, "the history shows");
    (first, view, rebuild)
}

/// The group read back from the store, as opening a profile does.
fn open(dir: &Path, group: GroupId, genesis: MessageId) -> Replica {
    let store = open_store(dir);
    Replica::open(&store, group, genesis).expect("open")
}

/// The first frame of `replica`'s group.
fn draw(replica: &Replica) -> Screen {
    let mut screen = Screen::new(SIZE.0, SIZE.1).expect("screen");
    screen.show(View::default().snapshot(replica));
    screen.draw().expect("draw");
    screen
}

/// What flows into the UI loop.
enum Ui {
    Key(Instant),
    Shot(Box<Shot>),
    /// The sync is over and its last snapshot sent.
    Done,
}

/// Keypress-to-frame latencies (p50, p99 in ms, and how many) while a
/// replica takes in `history`.
fn keys_during_sync(world: &World, history: &[&Envelope]) -> (f64, f64, usize) {
    let mut rng = XofRng::from_seed(b"cairn-bench client sync");
    let replica = Arc::new(Mutex::new(crate::figures::founder(world)));
    let (ui_tx, ui_rx) = mpsc::channel::<Ui>();
    let (events_tx, events_rx) = mpsc::channel::<()>();
    let mut latencies = Vec::new();
    std::thread::scope(|s| {
        // The node: one envelope at a time under the lock, an event after each.
        let node = replica.clone();
        s.spawn(move || {
            for env in history {
                let mut r = node.lock().unwrap_or_else(PoisonError::into_inner);
                r.receive_envelope(&mut rng, env, NOW).expect("envelope applies");
                drop(r);
                let _ = events_tx.send(());
            }
        });
        // The backend: one patch per run of events.
        let (backend_ui, backend_replica) = (ui_tx.clone(), replica.clone());
        s.spawn(move || {
            let mut view = View::default();
            while events_rx.recv().is_ok() {
                while events_rx.try_recv().is_ok() {}
                let r = backend_replica.lock().unwrap_or_else(PoisonError::into_inner);
                let shot = view.snapshot(&r);
                drop(r);
                if backend_ui.send(Ui::Shot(Box::new(shot))).is_err() {
                    return;
                }
            }
            let _ = backend_ui.send(Ui::Done);
        });
        // The keyboard, until the backend is done.
        let keys = ui_tx;
        s.spawn(move || {
            while keys.send(Ui::Key(Instant::now())).is_ok() {
                std::thread::sleep(KEY_EVERY);
            }
        });
        // The UI loop (as `cairn`'s): what is waiting, then one frame.
        let mut screen = Screen::new(SIZE.0, SIZE.1).expect("screen");
        let mut pressed = Vec::new();
        let mut done = false;
        while !done && let Ok(first) = ui_rx.recv() {
            for msg in std::iter::once(first).chain(ui_rx.try_iter()) {
                match msg {
                    Ui::Key(at) => {
                        screen.key('x');
                        pressed.push(at);
                    }
                    Ui::Shot(shot) => screen.show(*shot),
                    Ui::Done => done = true,
                }
            }
            screen.draw().expect("draw");
            latencies.extend(pressed.drain(..).map(|at| at.elapsed().as_secs_f64() * 1e3));
        }
        drop(ui_rx);
    });
    (quantile(&latencies, 0.5), quantile(&latencies, 0.99), latencies.len())
}

/// Resident memory (MiB) of a child once it read the group, and once it
/// drew the first frame.
fn rss_of_child(dir: &Path, group: GroupId, genesis: MessageId, groups: usize) -> (f64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let arg = format!(
        "{groups}:{}:{}:{}",
        dir.display(),
        cairn_proto::hex::encode(&group.0),
        cairn_proto::hex::encode(&genesis.0)
    );
    let out = std::process::Command::new(exe).env(RSS_CHILD, arg).output().expect("child runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: Vec<f64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    assert_eq!(kib.len(), 2, "the child prints two figures: {text}");
    (kib[0] / 1024.0, kib[1] / 1024.0)
}

/// VmRSS of this process, KiB.
fn rss_kib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap_or("0 kB");
    rss.trim().trim_end_matches("kB").trim().to_owned()
}

/// In the child (`CAIRN_BENCH_CLIENT_RSS` set): opens the store, reads
/// the group `groups` times (each read is a replica of its own, sharing
/// nothing with the others: what `groups` groups of that size cost, as a
/// profile holds one replica per group), draws the first, prints VmRSS in
/// KiB (once the groups are read, once drawn) and returns true.
pub(crate) fn rss_child() -> bool {
    let Ok(arg) = std::env::var(RSS_CHILD) else { return false };
    let (groups, rest) = arg.split_once(':').expect("groups:dir:group:genesis");
    let mut parts = rest.rsplitn(3, ':');
    let (genesis, group, dir) = (parts.next(), parts.next(), parts.next());
    let (Some(genesis), Some(group), Some(dir)) = (genesis, group, dir) else {
        panic!("{RSS_CHILD}: groups:dir:group:genesis");
    };
    let groups: usize = groups.parse().expect("a number of groups");
    let (group, genesis) = (GroupId(unhex(group)), MessageId(unhex(genesis)));
    let replicas: Vec<Replica> =
        (0..groups).map(|_| open(Path::new(dir), group, genesis)).collect();
    let opened = rss_kib();
    let screen = draw(&replicas[0]);
    println!("{opened} {}", rss_kib());
    drop((screen, replicas));
    true
}

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = s.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).expect("hex");
    }
    out
}
