//! Retention, quotas, fair-share eviction and proof of work, as configured.

use std::time::Duration;

use cairn_proto::relay_proto::{
    ErrorCode, QUOTA_MAILBOX_FULL, QUOTA_TOO_MANY_MAILBOXES, RelayEvent, pow,
};
use cairn_proto::wire::{ENVELOPE_LEN, Envelope};

use crate::harness::{RelayProc, Sealer, block_on, connect, posted};

const ENV: u64 = ENVELOPE_LEN as u64;

fn error(e: &RelayEvent) -> (Option<ErrorCode>, u64) {
    match e {
        RelayEvent::Error { info, .. } => (e.error_code(), *info),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn retention_removes_old_envelopes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |c| {
        c.storage.retention_secs = 2;
        c.storage.sweep_interval_secs = 1;
    });
    block_on(async {
        let mut s = Sealer::new(70, b"old");
        let mut c = connect(relay.addr).await;
        for _ in 0..5 {
            posted(&c.post(&s.next(), None).await.expect("post"));
        }
        assert_eq!(c.fetch_all(&s.keys().mailbox, 0).await.expect("fetch").len(), 5);
        // Stored-at has one-second resolution: after 4 s everything is over 2 s old.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut c = connect(relay.addr).await;
        assert!(c.fetch_all(&s.keys().mailbox, 0).await.expect("fetch").is_empty());
    });
    assert_eq!(relay.metric("cairn_relay_expired_total"), 5);
    assert_eq!(relay.metric("cairn_relay_stored_envelopes"), 0);
}

#[test]
fn per_mailbox_and_global_quotas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |c| {
        c.storage.max_mailbox_bytes = 5 * ENV;
        c.storage.max_mailboxes = 3;
    });
    block_on(async {
        let mut s = Sealer::new(80, b"quota");
        let mut c = connect(relay.addr).await;
        for _ in 0..5 {
            posted(&c.post(&s.next(), None).await.expect("post"));
        }
        let full = c.post(&s.next(), None).await.expect("reply");
        assert_eq!(error(&full), (Some(ErrorCode::QuotaExceeded), QUOTA_MAILBOX_FULL));
        for m in [81, 82] {
            let mut c = connect(relay.addr).await;
            posted(&c.post(&Sealer::new(m, b"q").next(), None).await.expect("post"));
        }
        let mut c = connect(relay.addr).await;
        let fourth = c.post(&Sealer::new(83, b"q").next(), None).await.expect("reply");
        assert_eq!(error(&fourth), (Some(ErrorCode::QuotaExceeded), QUOTA_TOO_MANY_MAILBOXES));
    });
}

#[test]
fn a_stranger_filling_new_mailboxes_does_not_evict_a_groups_recent_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 100 envelopes in total for at most 10 mailboxes: a fair share of 10.
    let relay = RelayProc::start(dir.path(), |c| {
        c.storage.max_total_bytes = 100 * ENV;
        c.storage.max_mailbox_bytes = 100 * ENV;
        c.storage.max_mailboxes = 10;
    });
    block_on(async {
        // The group: its current and previous epoch mailboxes, 4 + 4 recent messages.
        let mut group = [Sealer::new(90, b"group a"), Sealer::new(91, b"group b")];
        let mut kept: Vec<Vec<Envelope>> = vec![Vec::new(), Vec::new()];
        let mut c = connect(relay.addr).await;
        for (s, k) in group.iter_mut().zip(&mut kept) {
            for _ in 0..4 {
                let e = s.next();
                posted(&c.post(&e, None).await.expect("post"));
                k.push(e);
            }
        }
        // The stranger takes every other mailbox and posts 300 envelopes.
        let mut strangers: Vec<Sealer> =
            (0..8).map(|i| Sealer::new(200 + i, b"stranger")).collect();
        // Two mailboxes per connection, as a client must.
        let mut conns = Vec::new();
        for _ in 0..strangers.len() / 2 {
            conns.push(connect(relay.addr).await);
        }
        for round in 0..38 {
            for (i, s) in strangers.iter_mut().enumerate() {
                let reply = conns[i / 2].post(&s.next(), None).await.expect("post");
                assert!(matches!(reply, RelayEvent::Posted { .. }), "round {round}: {reply:?}");
            }
        }
        // The group's messages are all there; the stranger evicted its own.
        for (s, k) in group.iter().zip(&kept) {
            let got: Vec<Envelope> = c
                .fetch_all(&s.keys().mailbox, 0)
                .await
                .expect("fetch")
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            assert_eq!(&got, k, "the group lost messages");
        }
        let mut held = 0;
        for s in &strangers {
            let n = c_fetch_count(relay.addr, s).await;
            assert!(n <= 12, "a stranger mailbox holds {n}");
            held += n;
        }
        assert_eq!(held + 8, 100, "at the limit");
    });
    assert!(relay.metric("cairn_relay_evicted_total") >= 8 * 38 + 8 - 100);
}

async fn c_fetch_count(addr: std::net::SocketAddr, s: &Sealer) -> usize {
    let mut c = connect(addr).await;
    c.fetch_all(&s.keys().mailbox, 0).await.expect("fetch").len()
}

#[test]
fn proof_of_work_gates_new_mailboxes_only() {
    const D: u8 = 12;
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |c| c.limits.pow_difficulty = D);
    block_on(async {
        let mut s = Sealer::new(95, b"pow");
        let m = s.keys().mailbox;
        let mut c = connect(relay.addr).await;
        let refused = c.post(&s.next(), None).await.expect("reply");
        assert_eq!(error(&refused), (Some(ErrorCode::ProofOfWorkRequired), u64::from(D)));
        let wrong = (0..).find(|n| !pow::check(&m, *n, D)).expect("a non-proof");
        let refused = c.post(&s.next(), Some(wrong)).await.expect("reply");
        assert_eq!(error(&refused).0, Some(ErrorCode::ProofOfWorkRequired));
        let nonce = pow::solve(&m, D, 0, 1 << 24).expect("solvable");
        assert_eq!(posted(&c.post(&s.next(), Some(nonce)).await.expect("post")), 1);
        // The mailbox exists now: no more work.
        assert_eq!(posted(&c.post(&s.next(), None).await.expect("post")), 2);
    });
}
