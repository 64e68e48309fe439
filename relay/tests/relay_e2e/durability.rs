//! Nothing acknowledged is lost: restart, SIGTERM, SIGKILL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use cairn_proto::crypto::XofRng;
use cairn_proto::relay_proto::{ErrorCode, RelayEvent};
use cairn_proto::wire::{Envelope, MailboxId};
use rand_core::Rng;

use crate::harness::{RelayProc, Sealer, block_on, config, connect, posted};

/// Acknowledged posts: mailbox → cursor → envelope.
type Acked = BTreeMap<MailboxId, BTreeMap<u64, Envelope>>;

/// Checks that every acknowledged envelope is stored under its cursor.
async fn check_all_there(addr: SocketAddr, acked: &Acked) -> usize {
    try_all_there(addr, acked).await.expect("fetch")
}

/// [`check_all_there`], `Err` if a fetch fails.
async fn try_all_there(addr: SocketAddr, acked: &Acked) -> Result<usize, String> {
    let mut found = 0;
    for (m, posts) in acked {
        let mut c = connect(addr).await;
        let stored: BTreeMap<u64, Envelope> =
            c.fetch_all(m, 0).await.map_err(|e| format!("{e:?}"))?.into_iter().collect();
        for (cursor, env) in posts {
            assert_eq!(stored.get(cursor), Some(env), "acknowledged cursor {cursor} lost");
            found += 1;
        }
    }
    Ok(found)
}

#[test]
fn restart_keeps_everything_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked = Acked::new();
    let mut sealers = [Sealer::new(30, b"r1"), Sealer::new(31, b"r2")];
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        let mut c = connect(relay.addr).await;
        for i in 0..60 {
            let e = sealers[i % 2].next();
            let cursor = posted(&c.post(&e, None).await.expect("post"));
            acked.entry(e.mailbox()).or_default().insert(cursor, e);
        }
    });
    let status = relay.terminate(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM exit: {status:?}");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        assert_eq!(check_all_there(relay.addr, &acked).await, 60);
        // Cursors continue where they were.
        let mut c = connect(relay.addr).await;
        assert_eq!(posted(&c.post(&sealers[0].next(), None).await.expect("post")), 31);
    });
    assert_eq!(relay.metric("cairn_relay_stored_envelopes"), 61);
}

#[test]
fn sigterm_acknowledges_posts_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |c| c.storage.commit_window_micros = 3000);
    let mut s = Sealer::new(32, b"term");
    let envelopes: Vec<Envelope> = (0..400).map(|_| s.next()).collect();
    let pid = relay.pid().to_string();
    let (acked, refused) = block_on(async {
        let mut c = connect(relay.addr).await;
        let mut sent = BTreeMap::new();
        for e in &envelopes {
            let (id, frame) = c.session().post(e, None);
            if c.send_frame(&frame).await.is_err() {
                break;
            }
            sent.insert(id, e.clone());
            if sent.len() == 200 {
                let term = std::process::Command::new("kill").args(["-TERM", &pid]).status();
                assert!(term.expect("kill").success());
            }
        }
        let (mut acked, mut refused) = (Acked::new(), 0);
        // Read every reply until the relay closes the connection.
        while let Ok(event) = c.next_event().await {
            match event {
                RelayEvent::Posted { id, cursor, .. } => {
                    let e = sent[&id].clone();
                    acked.entry(e.mailbox()).or_default().insert(cursor, e);
                }
                RelayEvent::Error { code, .. } => {
                    let code = ErrorCode::from_number(code);
                    assert!(
                        matches!(code, Some(ErrorCode::ShuttingDown | ErrorCode::Overloaded)),
                        "{code:?}"
                    );
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        (acked, refused)
    });
    let n: usize = acked.values().map(BTreeMap::len).sum();
    assert!(n >= 1 && refused >= 1, "acked {n}, refused {refused}");
    let status = relay.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async { assert_eq!(check_all_there(relay.addr, &acked).await, n) });
}

/// Posts from `clients` pipelining connections until the relay dies; returns
/// what was acknowledged.
async fn post_until_killed(addr: SocketAddr, trial: u64, clients: u32) -> Acked {
    let mut tasks = Vec::new();
    for k in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut s =
                Sealer::new(40 + k, &[trial.to_le_bytes(), u64::from(k).to_le_bytes()].concat());
            let mut acked = Acked::new();
            let Ok(mut c) = cairn_relay::client::RelayClient::connect(addr).await else {
                return acked;
            };
            let mut sent = BTreeMap::new();
            loop {
                // Keep 16 posts in flight.
                while sent.len() < 16 {
                    let e = s.next();
                    let (id, frame) = c.session().post(&e, None);
                    if c.send_frame(&frame).await.is_err() {
                        return acked;
                    }
                    sent.insert(id, e);
                }
                match c.next_event().await {
                    Ok(RelayEvent::Posted { id, cursor, .. }) => {
                        let Some(e) = sent.remove(&id) else { panic!("ack for unknown id {id}") };
                        acked.entry(e.mailbox()).or_default().insert(cursor, e);
                    }
                    // A refused post is not acknowledged: it need not
                    // survive. Slow down as a rate limit asks.
                    Ok(RelayEvent::Error { id: Some(id), code, info })
                        if sent.remove(&id).is_some() =>
                    {
                        if code == ErrorCode::RateLimited.number() {
                            tokio::time::sleep(Duration::from_millis(info)).await;
                        }
                    }
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(_) => return acked,
                }
            }
        }));
    }
    let mut all = Acked::new();
    for t in tasks {
        for (m, posts) in t.await.expect("client task") {
            all.entry(m).or_default().extend(posts);
        }
    }
    all
}

#[test]
fn sigkill_during_a_stream_of_acknowledged_posts_loses_none() {
    const TRIALS: u64 = 20;
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_nanos();
    eprintln!("relay sigkill seed {seed}");
    let mut rng = XofRng::from_seed(&seed.to_le_bytes());
    // Four data directories, each killed five times: later trials start
    // from a file left by a killed relay.
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let mut acked: Vec<Acked> = vec![Acked::new(); dirs.len()];
    let (mut total, mut trials_with_acks) = (0, 0);
    for trial in 0..TRIALS {
        let d = usize::try_from(trial).expect("small") % dirs.len();
        let relay = RelayProc::start(dirs[d].path(), |_| {});
        let addr = relay.addr;
        let delay = Duration::from_millis(30 + rng.next_u64() % 220);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            relay.kill();
        });
        let got = block_on(post_until_killed(addr, trial, 2));
        killer.join().expect("killer");
        let n: usize = got.values().map(BTreeMap::len).sum();
        total += n;
        trials_with_acks += usize::from(n > 0);
        for (m, posts) in got {
            acked[d].entry(m).or_default().extend(posts);
        }
        // The store reopens and holds every acknowledged post so far.
        let relay = RelayProc::start(dirs[d].path(), |_| {});
        block_on(async { check_all_there(relay.addr, &acked[d]).await });
    }
    eprintln!("{total} acknowledged posts over {TRIALS} SIGKILLs, none lost");
    assert!(trials_with_acks >= 15, "too few trials got posts acknowledged before the kill");
}

#[test]
fn a_full_disk_refuses_posts_keeps_serving_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = 8 << 20;
    let unlimited = config(dir.path(), |c| {
        c.limits.requests_per_second = 1_000_000;
        c.limits.burst = 1_000_000;
    });
    let mut relay = RelayProc::start_with_file_limit(dir.path(), unlimited, limit);
    let mut s = Sealer::new(34, b"full");
    let (acked, refused) = block_on(async {
        let mut c = connect(relay.addr).await;
        let (mut acked, mut refused) = (Acked::new(), 0);
        // 20 MB of envelopes into files that may hold 8 MiB.
        for _ in 0..10_000 {
            let e = s.next();
            match c.post(&e, None).await.expect("the relay answers") {
                RelayEvent::Posted { cursor, .. } => {
                    acked.entry(e.mailbox()).or_default().insert(cursor, e);
                }
                RelayEvent::Error { code, .. } => {
                    assert_eq!(ErrorCode::from_number(code), Some(ErrorCode::Internal));
                    refused += 1;
                    if refused == 5 {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        (acked, refused)
    });
    let n: usize = acked.values().map(BTreeMap::len).sum();
    assert!(n > 100 && refused == 5, "acked {n}, refused {refused}");
    assert!(relay.alive(), "the relay survives a full disk: {}", relay.log());
    // It serves what it holds again once the database is reopened (at
    // most every few seconds while writes fail), and says why posts fail.
    let served = block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match try_all_there(relay.addr, &acked).await {
                Ok(found) => return found,
                Err(e) if std::time::Instant::now() > deadline => panic!("reads fail: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    assert_eq!(served, n);
    assert!(relay.log().contains("commit failed"), "{}", relay.log());
    // Room again (here: a restart without the limit): nothing acknowledged
    // was lost and posting works.
    let status = relay.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        assert_eq!(check_all_there(relay.addr, &acked).await, n);
        let mut c = connect(relay.addr).await;
        posted(&c.post(&s.next(), None).await.expect("post"));
    });
}
