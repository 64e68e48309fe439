//! `relay`: the real `cairn-relay` (its store, writer thread and
//! connections, in this process) over loopback TCP, beside raw redb in the
//! same run.
//!
//! * `relay.ingest.N`: signed envelopes posted by 8 pipelining connections
//!   (one mailbox each), envelopes/s, vs raw durable redb writes of
//!   envelope-sized rows in transactions of 64 (the relay's batch);
//! * `relay.fetch.N`: every envelope read back through the protocol, vs a
//!   raw redb range read of the same rows;
//! * `relay.disk.N`: database bytes per stored envelope byte;
//! * `relay.rss.N`: this process's resident memory grown since before the
//!   relay opened (the envelopes to post were made before), vs the bytes
//!   stored.
//!
//! `cargo bench -p cairn-relay --bench relay` keeps its own, longer figures
//! (the relay as a process, 1-envelope and 9-envelope messages, the
//! footprint with 1 000 000 envelopes); these are the same measures at the
//! history sizes of this run.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use cairn_net::TcpLoopbackListener;
use cairn_proto::crypto::XofRng;
use cairn_proto::wire::{ENVELOPE_LEN, Envelope, EpochKeys, fragment_message};
use cairn_relay::client::RelayClient;
use cairn_relay::listener::onion::OnionRelayListener;
use cairn_relay::listener::onion_key;
use cairn_relay::{Config, Relay};
use redb::{Database, ReadableDatabase, TableDefinition};
use zeroize::Zeroizing;

use crate::report::Report;

/// Posting connections (one mailbox each).
const CONNS: usize = 8;

/// A two-thread runtime (the machine has two cores).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A relay served from this process on a loopback port.
pub(crate) struct InProcessRelay {
    pub(crate) addr: SocketAddr,
    /// `ADDRESS.onion:PORT` when it serves an onion service too.
    pub(crate) onion: Option<String>,
    store_file: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcessRelay {
    /// Opens a relay on `dir` with limits that let one benchmark client
    /// post as fast as it can and keep everything it posts.
    pub(crate) async fn start(dir: &Path) -> Self {
        Self::start_on(dir, None).await
    }

    /// Opens a relay on `dir` that also serves an onion service on the Tor
    /// network `arti_config` describes (the service launches on the first
    /// accept).
    pub(crate) async fn start_on(dir: &Path, arti_config: Option<&Path>) -> Self {
        let mut config = Config { data_dir: dir.join("data"), ..Config::default() };
        config.limits.requests_per_second = 1_000_000;
        config.limits.burst = 1_000_000;
        config.storage.max_total_bytes = 64 << 30;
        config.storage.max_mailbox_bytes = 32 << 30;
        let listener = TcpLoopbackListener::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
        let addr = listener.socket_addr();
        let mut listeners: Vec<Box<dyn cairn_net::Listener>> = vec![Box::new(listener)];
        let mut onion = None;
        if let Some(arti_config) = arti_config {
            config.listen.onion = true;
            config.tor.network_config = Some(arti_config.to_owned());
            std::fs::create_dir_all(&config.data_dir).expect("relay dir");
            let key = onion_key::load_or_create(&config.data_dir).expect("onion key");
            let l = OnionRelayListener::new(&config, key).expect("onion listener");
            onion = Some(l.address().to_string());
            listeners.push(Box::new(l));
        }
        let relay = Relay::open(&config).expect("relay opens");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            relay.run(listeners, None, shutdown).await.expect("relay runs");
        });
        let store_file = config.data_dir.join(cairn_relay::store::STORE_FILE);
        Self { addr, onion, store_file, stop, task }
    }

    /// Stops the relay (it commits what is queued).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("relay stopped");
    }
}

/// Runs the `relay` figures at every size.
pub(crate) fn run(report: &mut Report, sizes: &[usize]) {
    let max = *sizes.last().expect("a size");
    let per_conn = max.div_ceil(CONNS);
    let sets: Vec<Vec<Envelope>> = (0..CONNS).map(|k| sealed(k as u32, per_conn)).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let rss_before = rss_bytes();
    let rt = runtime();
    let relay = rt.block_on(InProcessRelay::start(&dir.path().join("relay")));
    let addr = relay.addr;
    let mut done = 0;
    for &size in sizes {
        let (from, to) = (done / CONNS, size / CONNS);
        let segment = (to - from) * CONNS;
        let t = Instant::now();
        rt.block_on(async {
            let posters: Vec<_> = sets
                .iter()
                .map(|set| tokio::spawn(post_all(addr, set[from..to].to_vec())))
                .collect();
            for p in posters {
                p.await.expect("poster");
            }
        });
        let ingest = segment as f64 / t.elapsed().as_secs_f64();
        let (raw_write, raw_read) = raw_redb(dir.path(), segment.min(16_384));
        let raw = "raw redb durable write, 64 rows per commit";
        report.figure(format!("relay.ingest.{size}"), ingest, "env/s", raw, raw_write);
        let stored = to * CONNS;
        let t = Instant::now();
        let fetched = rt.block_on(async {
            let fetchers: Vec<_> = (0..CONNS).map(|k| tokio::spawn(fetch_all(addr, k))).collect();
            let mut n = 0;
            for f in fetchers {
                n += f.await.expect("fetcher");
            }
            n
        });
        assert_eq!(fetched, stored, "every envelope comes back");
        let fetch = fetched as f64 / t.elapsed().as_secs_f64();
        report.figure(
            format!("relay.fetch.{size}"),
            fetch,
            "env/s",
            "raw redb range read",
            raw_read,
        );
        let file = std::fs::metadata(&relay.store_file).map_or(0, |m| m.len());
        let payload = (stored * ENVELOPE_LEN) as f64;
        let disk = file as f64 / payload;
        report.figure(format!("relay.disk.{size}"), disk, "B/B", "envelope bytes", 1.0);
        let rss = rss_bytes().saturating_sub(rss_before) as f64 / 1048576.0;
        report.figure(format!("relay.rss.{size}"), rss, "MiB", "MiB stored", payload / 1048576.0);
        done = size;
    }
    rt.block_on(relay.stop());
}

/// Posts `envelopes` over one connection, half a window at a time.
async fn post_all(addr: SocketAddr, envelopes: Vec<Envelope>) {
    let mut c = RelayClient::connect(addr).await.expect("connect");
    let burst = usize::from(c.session().limits().max_inflight).max(2) / 2;
    let refused = c.post_pipelined(&envelopes, burst).await.expect("post");
    assert!(refused.is_empty(), "{refused:?}");
}

async fn fetch_all(addr: SocketAddr, k: usize) -> usize {
    let mailbox = keys(k as u32).mailbox;
    let mut c = RelayClient::connect(addr).await.expect("connect");
    c.fetch_all(&mailbox, 0).await.expect("fetch").len()
}

fn keys(k: u32) -> EpochKeys {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&k.to_le_bytes());
    EpochKeys::derive(&Zeroizing::new(secret))
}

/// `count` signed envelopes for mailbox `k`.
fn sealed(k: u32, count: usize) -> Vec<Envelope> {
    let keys = keys(k);
    let mut rng = XofRng::from_seed(&k.to_le_bytes());
    (0..count)
        .map(|i| {
            let text = crate::world::chat_text(i);
            let frag = fragment_message(&mut rng, text.as_bytes()).expect("split").remove(0);
            Envelope::seal(&mut rng, &keys, &frag)
        })
        .collect()
}

const RAW: TableDefinition<&[u8; 12], &[u8]> = TableDefinition::new("raw");

/// Raw redb with the relay's shape: `rows` envelope-sized rows written in
/// durable transactions of 64, then read back by one range; rows/s each.
fn raw_redb(dir: &Path, rows: usize) -> (f64, f64) {
    let path = dir.join("raw-relay.redb");
    let db = Database::builder().create(&path).expect("redb database");
    let value = vec![7u8; ENVELOPE_LEN];
    let rows = rows.div_ceil(64) * 64;
    let t = Instant::now();
    for start in (0..rows).step_by(64) {
        let txn = db.begin_write().expect("write transaction");
        {
            let mut table = txn.open_table(RAW).expect("table");
            for i in start..start + 64 {
                let mut key = [0u8; 12];
                key[..4].copy_from_slice(&((i % CONNS) as u32).to_be_bytes());
                key[4..].copy_from_slice(&(i as u64).to_be_bytes());
                table.insert(&key, value.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let write = rows as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(RAW).expect("table");
    let mut bytes = 0;
    for entry in table.range::<&[u8; 12]>(..).expect("range") {
        bytes += entry.expect("entry").1.value().len();
    }
    assert_eq!(bytes, rows * ENVELOPE_LEN);
    let read = rows as f64 / t.elapsed().as_secs_f64();
    drop((table, txn, db));
    let _ = std::fs::remove_file(&path);
    (write, read)
}

/// Milliseconds per durable redb commit of one envelope-sized row (the
/// latency one write waits for on this disk), the median of `count`.
pub(crate) fn raw_commit_latency(dir: &Path, count: usize) -> f64 {
    let path = dir.join("raw-commit.redb");
    let db = Database::builder().create(&path).expect("redb database");
    let value = vec![7u8; ENVELOPE_LEN];
    let mut times = Vec::new();
    for i in 0..count {
        let t = Instant::now();
        let txn = db.begin_write().expect("write transaction");
        {
            let mut table = txn.open_table(RAW).expect("table");
            let mut key = [0u8; 12];
            key[4..].copy_from_slice(&(i as u64).to_be_bytes());
            table.insert(&key, value.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(db);
    let _ = std::fs::remove_file(&path);
    crate::report::quantile(&times, 0.5)
}

/// This process's resident memory (`VmRSS`), in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

/// Raw loopback TCP round trip: one byte each way on a connected pair,
/// for about `budget`; returns microseconds per round trip.
pub(crate) fn tcp_round_trip(budget: std::time::Duration) -> f64 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let echo = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            s.set_nodelay(true).expect("nodelay");
            let mut b = [0u8; 1];
            while s.read_exact(&mut b).await.is_ok() {
                if s.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let mut b = [1u8; 1];
        let (mut trips, t) = (0u64, Instant::now());
        while trips < 100 || t.elapsed() < budget {
            s.write_all(&b).await.expect("write");
            s.read_exact(&mut b).await.expect("read");
            trips += 1;
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / trips as f64;
        drop(s);
        echo.await.expect("echo");
        per
    })
}
