//! Relay throughput and footprint beside the raw redb rates of the same run.
//!
//! `cargo bench -p cairn-relay --bench relay` prints:
//!
//! * raw redb: durable writes of relay-shaped entries (12-byte key, 2004-byte
//!   value) in batches of 1, 8 and 64, and a warm range read;
//! * ingest: signed envelopes posted to the real `cairn-relay` process by 8
//!   pipelining connections, for 1-envelope (≤ 1 KiB) and 9-envelope
//!   (16 KiB) messages, per envelope and per message, with the mean commit
//!   batch the relay achieved;
//! * fetch: envelopes per second read back through the protocol;
//! * footprint: the relay's RSS with 1 000 000 envelopes on disk (filled
//!   through the store's own writer), and database bytes per stored byte.
//!
//! Three rounds alternate raw redb and the relay; the summary gives medians
//! and the median of per-round ratios. Set `RELAY_BENCH_ENVELOPES` (default
//! 1 000 000) for the footprint store. Runs on one machine, shared with its
//! clients: quote ratios.

// A shell: clocks and the OS RNG belong here.
#![allow(clippy::disallowed_methods, clippy::disallowed_types, clippy::print_stdout, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::crypto::XofRng;
use cairn_proto::wire::{ENVELOPE_LEN, Envelope, EpochKeys, MailboxId, fragment_message};
use cairn_relay::Config;
use cairn_relay::client::RelayClient;
use cairn_relay::store::{Policy, PostIn, RelayStore};
use redb::{Database, ReadableDatabase, TableDefinition};
use zeroize::Zeroizing;

const RAW: TableDefinition<&[u8; 12], &[u8; 2004]> = TableDefinition::new("raw");
const CONNS: u32 = 8;

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("relay benchmark; load average at start: {}", load.trim());
    let tmp = tempfile::tempdir().expect("tempdir");
    let session = session_cost();
    let per_conn = ROUND_ENVELOPES / CONNS as usize;
    let sets: Vec<Vec<Envelope>> = (0..CONNS).map(|k| sealed(k, per_conn)).collect();
    // Rounds alternate raw redb and the relay, so that each ratio compares
    // figures taken a moment apart on this (noisy, shared) machine.
    let mut rounds = Vec::new();
    for r in 0..ROUNDS {
        let d = tmp.path().join(format!("round{r}"));
        let raw = raw_redb(&d, 12_032);
        let writer = store_writer(&d.join("writer"), 12_032);
        let ingest1 = ingest(&d.join("ingest1"), 1, &sets);
        let ingest9 = ingest(&d.join("ingest9"), 9, &sets);
        rounds.push(Round { raw, writer, ingest1, ingest9 });
    }
    let n = std::env::var("RELAY_BENCH_ENVELOPES").ok().and_then(|v| v.parse().ok());
    let footprint = footprint(&tmp.path().join("footprint"), n.unwrap_or(1_000_000).max(1000));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\n== summary: medians of {ROUNDS} rounds (load average at end: {}) ==", load.trim());
    summary(&rounds, session, &footprint);
}

const ROUNDS: usize = 3;
const ROUND_ENVELOPES: usize = 16_128;

struct Round {
    raw: Raw,
    writer: f64,
    ingest1: Ingest,
    ingest9: Ingest,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn summary(rounds: &[Round], session: (f64, f64, f64), fp: &Footprint) {
    let m = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    for (i, b) in [1, 8, 64].iter().enumerate() {
        let rate = m(&|r| r.raw.writes[i].1);
        println!("raw redb durable write, batch {b:>2}:      {rate:>8.0} entries/s");
    }
    println!("raw redb warm range read:             {:>8.0} entries/s", m(&|r| r.raw.read));
    println!("relay store writer alone, batch 64:   {:>8.0} envelopes/s", m(&|r| r.writer));
    println!(
        "sans-IO session CPU per post: {:.1} µs one at a time, {:.1} µs in batches \
         (write-signature check alone {:.1} µs)",
        session.0, session.1, session.2
    );
    for (name, k, pick) in [
        ("1-envelope (1 KiB) messages", 1.0, (|r: &Round| &r.ingest1) as fn(&Round) -> &Ingest),
        ("9-envelope (16 KiB) messages", 9.0, |r: &Round| &r.ingest9),
    ] {
        let rate = m(&|r| pick(r).envelopes_per_sec);
        println!(
            "ingest, {name}: {rate:>6.0} envelopes/s = {:>6.0} messages/s; mean batch {:.1}; \
             {:.0} % of raw batch-64 (median ratio); relay CPU {:.0} µs/envelope",
            rate / k,
            m(&|r| pick(r).mean_batch),
            100.0 * m(&|r| pick(r).envelopes_per_sec / r.raw.writes[2].1),
            m(&|r| pick(r).cpu_us),
        );
        println!(
            "fetch,  {name}: {:>6.0} envelopes/s = {:>6.0} messages/s; {:.0} % of raw read",
            m(&|r| pick(r).fetch_per_sec),
            m(&|r| pick(r).fetch_per_sec) / k,
            100.0 * m(&|r| pick(r).fetch_per_sec / r.raw.read),
        );
    }
    println!(
        "footprint: {} envelopes on disk: relay RSS {:.1} MiB (peak {:.1} MiB) after fetching \
         {} mailboxes; database {:.3} bytes per stored envelope byte",
        fp.envelopes,
        fp.rss as f64 / 1048576.0,
        fp.hwm as f64 / 1048576.0,
        fp.mailboxes_read,
        fp.disk_ratio
    );
}

/// CPU per post of the sans-IO session alone (decode, shape, write
/// signature, limits), and of the signature check alone.
fn session_cost() -> (f64, f64, f64) {
    use cairn_proto::relay_proto::{
        ClientHandshake, HandshakeOutcome, RelayLimits, ServerHandshake,
    };
    let envelopes = sealed(99, 2000);
    let mut client = ClientHandshake::new();
    let hello = client.hello_frame();
    let limits = RelayLimits { burst: u32::MAX, max_inflight: u16::MAX, ..RelayLimits::default() };
    let HandshakeOutcome::Accept { mut session, reply } =
        ServerHandshake::new(limits).handle(Duration::ZERO, &hello[4..])
    else {
        panic!("refused")
    };
    client = ClientHandshake::new();
    let mut cs = client.handle_raw(&reply.encode()).expect("welcome");
    let frames: Vec<Vec<u8>> = envelopes.iter().map(|e| cs.post(e, None).1).collect();
    let t = Instant::now();
    for f in &frames {
        session.handle_frame(Duration::ZERO, &f[4..]);
        assert!(session.poll_action().is_some());
    }
    let per_post = t.elapsed().as_secs_f64() * 1e6 / frames.len() as f64;
    let mut session = fresh_session(limits);
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let t = Instant::now();
    for chunk in frames.chunks(64) {
        session.handle_frames(Duration::ZERO, chunk.iter().map(|f| &f[4..]), &mut rng);
        while session.poll_action().is_some() {}
    }
    let per_batched = t.elapsed().as_secs_f64() * 1e6 / frames.len() as f64;
    let t = Instant::now();
    for e in &envelopes {
        e.verify_write().expect("valid");
    }
    let per_verify = t.elapsed().as_secs_f64() * 1e6 / envelopes.len() as f64;
    println!(
        "session: {per_post:.1} µs per post, {per_batched:.1} batched; signature {per_verify:.1} µs"
    );
    (per_post, per_batched, per_verify)
}

fn fresh_session(
    limits: cairn_proto::relay_proto::RelayLimits,
) -> cairn_proto::relay_proto::ServerSession {
    use cairn_proto::relay_proto::{ClientHandshake, HandshakeOutcome, ServerHandshake};
    let hello = ClientHandshake::new().hello_frame();
    match ServerHandshake::new(limits).handle(Duration::ZERO, &hello[4..]) {
        HandshakeOutcome::Accept { session, .. } => session,
        HandshakeOutcome::Refuse { .. } => panic!("refused"),
    }
}

struct Raw {
    writes: Vec<(usize, f64)>,
    read: f64,
}

/// Durable writes of relay-shaped entries, then a warm range read.
fn raw_redb(dir: &Path, n: u64) -> Raw {
    std::fs::create_dir_all(dir).expect("dir");
    let mut writes = Vec::new();
    let value = [7u8; 2004];
    let mut db = None;
    for batch in [1usize, 8, 64] {
        let path = dir.join(format!("raw{batch}.redb"));
        let d = Database::builder().set_cache_size(16 << 20).create(&path).expect("db");
        // Whole batches only.
        let count = if batch == 1 { n / 8 } else { n / batch as u64 * batch as u64 };
        let cpu0 = self_cpu();
        let t = Instant::now();
        let mut i = 0u64;
        while i < count {
            let txn = d.begin_write().expect("txn");
            {
                let mut table = txn.open_table(RAW).expect("table");
                for _ in 0..batch {
                    let mut k = [0u8; 12];
                    k[..4].copy_from_slice(&((i % 64) as u32).to_be_bytes());
                    k[4..].copy_from_slice(&i.to_be_bytes());
                    table.insert(&k, &value).expect("insert");
                    i += 1;
                }
            }
            txn.commit().expect("commit");
        }
        let rate = count as f64 / t.elapsed().as_secs_f64();
        let cpu = (self_cpu() - cpu0) * 1e6 / count as f64;
        println!(
            "raw redb durable write, batch {batch}: {rate:.0} entries/s, CPU {cpu:.0} µs each"
        );
        writes.push((batch, rate));
        db = Some((d, count));
    }
    let (d, count) = db.expect("db");
    let mut read = 0.0;
    for _ in 0..2 {
        let t = Instant::now();
        let txn = d.begin_read().expect("read");
        let table = txn.open_table(RAW).expect("table");
        let mut bytes = 0usize;
        for entry in table.range::<&[u8; 12]>(..).expect("range") {
            bytes += entry.expect("entry").1.value().len();
        }
        assert_eq!(bytes as u64, count * 2004);
        read = count as f64 / t.elapsed().as_secs_f64();
    }
    println!("raw redb warm range read: {read:.0} entries/s");
    Raw { writes, read }
}

/// The relay's own store writer alone (dedupe, cursors, quotas, the
/// relay's tables), durable batches of 64 over 8 mailboxes.
fn store_writer(dir: &Path, n: u64) -> f64 {
    let store = RelayStore::open(dir, 16 << 20).expect("store");
    let policy = unbounded_policy();
    let mut w = store.writer(policy).expect("writer");
    let mut envelope = Box::new([1u8; ENVELOPE_LEN]);
    let cpu0 = self_cpu();
    let t = Instant::now();
    let mut i = 0u64;
    while i < n {
        let batch: Vec<Box<[u8; ENVELOPE_LEN]>> = (i..i + 64)
            .map(|j| {
                envelope[100..108].copy_from_slice(&j.to_le_bytes());
                envelope.clone()
            })
            .collect();
        let posts: Vec<PostIn<'_>> = batch
            .iter()
            .enumerate()
            .map(|(o, e)| PostIn {
                mailbox: MailboxId([(o % 8) as u8; 32]),
                envelope: e,
                pow_proved: true,
            })
            .collect();
        w.commit_posts(&posts, 1).expect("commit");
        i += 64;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let cpu = self_cpu() - cpu0;
    println!(
        "relay store writer, batch 64: {rate:.0} envelopes/s, CPU {:.0} µs per envelope",
        cpu * 1e6 / n as f64
    );
    rate
}

/// CPU seconds of this process so far.
fn self_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

struct Ingest {
    envelopes_per_sec: f64,
    mean_batch: f64,
    fetch_per_sec: f64,
    cpu_us: f64,
}

/// A running relay process.
struct Proc {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Proc {
    fn start(dir: &Path, tune: impl FnOnce(&mut Config)) -> Self {
        std::fs::create_dir_all(dir).expect("dir");
        let mut c = Config { data_dir: dir.join("data"), ..Config::default() };
        c.listen.tcp = vec!["127.0.0.1:0".parse().expect("addr")];
        c.listen.metrics = "127.0.0.1:0".parse().expect("addr");
        c.limits.requests_per_second = 1_000_000;
        c.limits.burst = 1_000_000;
        c.storage.max_total_bytes = 8 << 30;
        c.log.level = cairn_relay::config::LogLevel::Warn;
        tune(&mut c);
        let path = dir.join("relay.toml");
        std::fs::write(&path, toml::to_string(&c).expect("toml")).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-relay"))
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn relay");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut addr, mut metrics) = (None, None);
        for line in out.lines() {
            let line = line.expect("line");
            if let Some(a) = line.strip_prefix("listening tcp ") {
                addr = a.parse().ok();
            } else if let Some(m) = line.strip_prefix("metrics http://") {
                metrics = m.trim_end_matches("/metrics").parse().ok();
            } else if line == "ready" {
                break;
            }
        }
        Self { child, addr: addr.expect("addr"), metrics: metrics.expect("metrics") }
    }

    fn metric(&self, name: &str) -> u64 {
        let text = cairn_relay::metrics::fetch(self.metrics).expect("metrics");
        cairn_relay::metrics::value_of(&text, name).unwrap_or(0)
    }

    /// User + system CPU seconds of the relay process so far.
    fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which ends with ')'), from field 3
        // (state): utime is field 14, stime 15; in clock ticks (100 per second).
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        (ticks(11) + ticks(12)) as f64 / 100.0
    }

    /// User and system CPU seconds separately.
    fn cpu_split(&self) -> (f64, f64) {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        (ticks(11) as f64 / 100.0, ticks(12) as f64 / 100.0)
    }

    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Signed envelopes for connection `k`'s mailbox.
fn sealed(k: u32, count: usize) -> Vec<Envelope> {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&k.to_le_bytes());
    let keys = EpochKeys::derive(&Zeroizing::new(secret));
    let mut rng = XofRng::from_seed(&k.to_le_bytes());
    (0..count)
        .map(|i| {
            let text = format!("bench {k} {i}");
            let frag = fragment_message(&mut rng, text.as_bytes()).expect("split").remove(0);
            Envelope::seal(&mut rng, &keys, &frag)
        })
        .collect()
}

/// Posts the envelopes of `sets` over [`CONNS`] pipelining connections
/// (bursts of whole messages of `per_message` envelopes, at most
/// `max_inflight` unacknowledged); then fetches everything back.
fn ingest(dir: &Path, per_message: usize, sets: &[Vec<Envelope>]) -> Ingest {
    let relay = Proc::start(dir, |_| {});
    let per_conn = sets[0].len();
    let batches: Vec<Vec<Envelope>> = sets.to_vec();
    let rt = runtime();
    let addr = relay.addr;
    let cpu_before = relay.cpu_secs();
    let t = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = batches
            .into_iter()
            .map(|envs| tokio::spawn(post_all(addr, envs, per_message)))
            .collect();
        for task in tasks {
            task.await.expect("poster");
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let posted = (per_conn * CONNS as usize) as f64;
    let commits = relay.metric("cairn_relay_commits_total").max(1) as f64;
    let mean_batch = relay.metric("cairn_relay_committed_posts_total") as f64 / commits;
    let commit_ms = relay.metric("cairn_relay_commit_microseconds_total") as f64 / commits / 1e3;
    let cpu = relay.cpu_secs() - cpu_before;
    let (user, sys) = relay.cpu_split();
    println!("  relay cpu so far: user {user:.2} s, system {sys:.2} s");
    println!(
        "ingest, {per_message}-envelope messages: {:.0} envelopes/s, mean batch {mean_batch:.1}, \
         mean commit {commit_ms:.2} ms, relay CPU {:.0} µs per envelope ({:.0} % of a core)",
        posted / secs,
        cpu * 1e6 / posted,
        100.0 * cpu / secs
    );
    let t = Instant::now();
    let fetched = rt.block_on(async {
        let tasks: Vec<_> = (0..CONNS).map(|k| tokio::spawn(fetch_all(addr, k))).collect();
        let mut n = 0;
        for task in tasks {
            n += task.await.expect("fetcher");
        }
        n
    });
    let fetch_per_sec = fetched as f64 / t.elapsed().as_secs_f64();
    assert_eq!(fetched, per_conn * CONNS as usize);
    println!("fetch: {fetch_per_sec:.0} envelopes/s");
    relay.stop();
    Ingest {
        envelopes_per_sec: posted / secs,
        mean_batch,
        fetch_per_sec,
        cpu_us: cpu * 1e6 / posted,
    }
}

async fn post_all(addr: SocketAddr, envelopes: Vec<Envelope>, per_message: usize) {
    let mut c = RelayClient::connect(addr).await.expect("connect");
    let window = usize::from(c.session().limits().max_inflight);
    // Bursts of whole messages, half a window each, written at once; the
    // next burst goes when the acks of the one before it are in.
    let burst = (window / 2 / per_message).max(1) * per_message;
    let refused = c.post_pipelined(&envelopes, burst).await.expect("post");
    assert!(refused.is_empty(), "{refused:?}");
}

async fn fetch_all(addr: SocketAddr, k: u32) -> usize {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&k.to_le_bytes());
    let m = EpochKeys::derive(&Zeroizing::new(secret)).mailbox;
    let mut c = RelayClient::connect(addr).await.expect("connect");
    c.fetch_all(&m, 0).await.expect("fetch").len()
}

struct Footprint {
    envelopes: u64,
    rss: u64,
    hwm: u64,
    mailboxes_read: u32,
    disk_ratio: f64,
}

/// Fills a store with `n` envelopes in 1 000 mailboxes through the store's
/// writer, then measures the relay serving it.
fn footprint(dir: &Path, n: u64) -> Footprint {
    const MAILBOXES: u64 = 1000;
    let data = dir.join("data");
    let t = Instant::now();
    {
        // A large cache for the bulk fill only; the relay opens it with its own.
        let store = RelayStore::open(&data, 512 << 20).expect("store");
        let policy = unbounded_policy();
        let mut w = store.writer(policy).expect("writer");
        w.dangerously_set_durable(false);
        // Shaped like envelopes (version 1), distinct, not signed: the
        // store does not check signatures.
        let mut envelope = Box::new([0u8; ENVELOPE_LEN]);
        envelope[0] = 1;
        let mut i = 0;
        let now =
            u32::try_from(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_secs())).unwrap_or(0);
        while i < n {
            let batch: Vec<Box<[u8; ENVELOPE_LEN]>> = (i..(i + 1000).min(n))
                .map(|j| {
                    envelope[100..108].copy_from_slice(&j.to_le_bytes());
                    envelope.clone()
                })
                .collect();
            let posts: Vec<PostIn<'_>> = batch
                .iter()
                .enumerate()
                .map(|(o, e)| {
                    let m = (i + o as u64) % MAILBOXES;
                    let mut id = [0u8; 32];
                    id[..8].copy_from_slice(&m.to_le_bytes());
                    PostIn { mailbox: MailboxId(id), envelope: e, pow_proved: true }
                })
                .collect();
            w.commit_posts(&posts, now).expect("commit");
            i += batch.len() as u64;
        }
        w.dangerously_set_durable(true);
        w.commit_posts(&[], now).expect("final durable commit");
        assert_eq!(w.envelopes(), n);
    }
    println!("filled {n} envelopes in {:.1} s", t.elapsed().as_secs_f64());
    let file = std::fs::metadata(data.join(cairn_relay::store::STORE_FILE)).expect("file").len();
    let relay = Proc::start(dir, |c| {
        c.storage.max_mailboxes = 100_000;
    });
    let rt = runtime();
    let addr = relay.addr;
    let read = 200u32;
    rt.block_on(async {
        for m in 0..read {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&u64::from(m * 5).to_le_bytes());
            let mut c = RelayClient::connect(addr).await.expect("connect");
            let got = c.fetch_all(&MailboxId(id), 0).await.expect("fetch");
            assert!(got.len() as u64 >= n / MAILBOXES);
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (rss, hwm) = relay.memory();
    relay.stop();
    Footprint {
        envelopes: n,
        rss,
        hwm,
        mailboxes_read: read,
        disk_ratio: file as f64 / (n as f64 * ENVELOPE_LEN as f64),
    }
}

/// No quotas, no retention, no proof of work: the benchmarks measure the
/// writer, not the policy.
fn unbounded_policy() -> Policy {
    Policy {
        max_total_envelopes: u64::MAX,
        max_mailbox_envelopes: u64::MAX,
        max_mailboxes: u64::MAX,
        pow_difficulty: 0,
        retention_secs: u64::MAX,
    }
}
