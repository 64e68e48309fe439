//! The protocol against the real relay: posting, fetching, subscribing.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use cairn_proto::relay_proto::{ErrorCode, RelayEvent};
use cairn_proto::wire::{ENVELOPE_LEN, Envelope, MailboxId};

use crate::harness::{BIN, RelayProc, Sealer, block_on, connect, posted};

/// Re-signs nothing: puts `victim`'s public write key into an envelope
/// signed by someone else.
fn forged_for(victim: &Sealer, stranger: &mut Sealer) -> Envelope {
    let mut bytes = *stranger.next().as_bytes();
    bytes[1..33].copy_from_slice(&victim.keys().mailbox_public.0);
    Envelope::parse(&bytes).expect("shape")
}

#[test]
fn posts_signed_without_the_mailbox_write_key_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        let victim = Sealer::new(1, b"victim");
        let mut stranger = Sealer::new(2, b"stranger");
        let mut c = connect(relay.addr).await;
        let forged = forged_for(&victim, &mut stranger);
        assert_eq!(forged.mailbox(), victim.keys().mailbox, "claims the victim's mailbox");
        let reply = c.post(&forged, None).await.expect("reply");
        assert_eq!(reply.error_code(), Some(ErrorCode::BadSignature));
        // Every single bit flip of an honest envelope is refused too.
        let honest = Sealer::new(1, b"victim honest").next();
        for bit in [0usize, 8 * 40, 8 * 500 + 3, 8 * 1935, 8 * ENVELOPE_LEN - 1] {
            let mut b = *honest.as_bytes();
            b[bit / 8] ^= 1 << (bit % 8);
            let Ok(flipped) = Envelope::parse(&b) else { continue };
            let reply = c.post(&flipped, None).await.expect("reply");
            assert!(reply.error_code().is_some(), "flip of bit {bit} accepted: {reply:?}");
        }
        // Signed with the stranger's own key it is stored — in the
        // stranger's mailbox, never the victim's.
        posted(&c.post(&stranger.next(), None).await.expect("reply"));
        assert!(c.fetch_all(&victim.keys().mailbox, 0).await.expect("fetch").is_empty());
        assert_eq!(c.fetch_all(&stranger.keys().mailbox, 0).await.expect("fetch").len(), 1);
    });
    assert!(relay.metric("cairn_relay_posts_stored_total") == 1, "{}", relay.log());
}

#[test]
fn posts_are_fetched_back_in_cursor_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        let mut s = Sealer::new(3, b"order");
        let sent: Vec<Envelope> = (0..150).map(|_| s.next()).collect();
        let mut c = connect(relay.addr).await;
        // Pipelined: 150 posts in flight at the relay's pace, acks in order.
        let mut ids = Vec::new();
        for e in &sent {
            let (id, frame) = c.session().post(e, None);
            c.send_frame(&frame).await.expect("send");
            ids.push(id);
        }
        for (i, id) in ids.into_iter().enumerate() {
            assert_eq!(posted(&c.reply_to(id).await.expect("ack")), i as u64 + 1);
        }
        let m = s.keys().mailbox;
        let got = c.fetch_all(&m, 0).await.expect("fetch");
        let cursors: Vec<u64> = got.iter().map(|(c, _)| *c).collect();
        assert_eq!(cursors, (1..=150).collect::<Vec<_>>());
        assert!(got.iter().zip(&sent).all(|((_, a), b)| a == b), "bytes differ");
        match c.fetch(&m, 100, 10).await.expect("page") {
            RelayEvent::Page { head, items, .. } => {
                assert_eq!(head, 150);
                let cs: Vec<u64> = items.iter().map(|(c, _)| *c).collect();
                assert_eq!(cs, (101..=110).collect::<Vec<_>>());
            }
            other => panic!("{other:?}"),
        }
        // A duplicate keeps its cursor; another mailbox counts from 1.
        let dup = c.post(&sent[41], None).await.expect("reply");
        assert_eq!(dup, RelayEvent::Posted { id: dup_id(&dup), cursor: 42, duplicate: true });
        let mut other = Sealer::new(4, b"other");
        assert_eq!(posted(&c.post(&other.next(), None).await.expect("reply")), 1);
        assert_eq!(c.fetch_all(&m, 0).await.expect("fetch").len(), 150);
    });
}

fn dup_id(e: &RelayEvent) -> u32 {
    match e {
        RelayEvent::Posted { id, .. } => *id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn subscriptions_receive_live_posts_across_many_mailboxes() {
    const SUBSCRIBERS: u32 = 20;
    const BACKLOG: usize = 5;
    const LIVE: usize = 15;
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        // 40 mailboxes, each with a stored backlog.
        let mut sealers: Vec<Sealer> =
            (0..SUBSCRIBERS * 2).map(|m| Sealer::new(100 + m, &m.to_le_bytes())).collect();
        let mut expected: BTreeMap<MailboxId, Vec<Envelope>> = BTreeMap::new();
        for pair in sealers.chunks_mut(2) {
            let mut poster = connect(relay.addr).await;
            for s in pair {
                for _ in 0..BACKLOG {
                    let e = s.next();
                    posted(&poster.post(&e, None).await.expect("post"));
                    expected.entry(s.keys().mailbox).or_default().push(e);
                }
            }
        }
        // Each subscriber follows one group's two mailboxes from cursor 2.
        let mut subs = Vec::new();
        for pair in sealers.chunks(2) {
            let mut c = connect(relay.addr).await;
            let from: Vec<_> = pair.iter().map(|s| (s.keys().mailbox, 2)).collect();
            match c.subscribe(&from).await.expect("subscribe") {
                RelayEvent::Subscribed { heads, .. } => assert_eq!(heads, [5, 5]),
                other => panic!("{other:?}"),
            }
            subs.push((c, from));
        }
        // Live posts to every mailbox, from concurrent posters.
        let mut posters = Vec::new();
        for (g, pair) in sealers.chunks_mut(2).enumerate() {
            let live: Vec<Envelope> = pair
                .iter_mut()
                .flat_map(|s| (0..LIVE).map(|_| s.next()).collect::<Vec<_>>())
                .collect();
            for e in &live {
                expected.entry(e.mailbox()).or_default().push(e.clone());
            }
            let addr = relay.addr;
            posters.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                for e in &live {
                    posted(&c.post(e, None).await.unwrap_or_else(|err| panic!("group {g}: {err}")));
                }
            }));
        }
        for p in posters {
            p.await.expect("poster");
        }
        for (mut c, from) in subs {
            let want = (BACKLOG - 2 + LIVE) * 2;
            let mut got: BTreeMap<MailboxId, Vec<(u64, Envelope)>> = BTreeMap::new();
            for _ in 0..want {
                let event = tokio::time::timeout(Duration::from_secs(20), c.next_event())
                    .await
                    .expect("push in time")
                    .expect("event");
                let RelayEvent::Push { cursor, envelope } = event else { panic!("{event:?}") };
                got.entry(envelope.mailbox()).or_default().push((cursor, envelope));
            }
            for (m, _) in from {
                let pushed = &got[&m];
                let cursors: Vec<u64> = pushed.iter().map(|(c, _)| *c).collect();
                let all = (BACKLOG + LIVE) as u64;
                assert_eq!(cursors, (3..=all).collect::<Vec<_>>(), "in order, no gap, no repeat");
                let envs: Vec<&Envelope> = pushed.iter().map(|(_, e)| e).collect();
                assert_eq!(envs, expected[&m][2..].iter().collect::<Vec<_>>());
            }
        }
    });
    assert!(relay.metric("cairn_relay_pushes_total") >= u64::from(SUBSCRIBERS) * 2 * 18);
}

#[test]
fn one_group_per_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        let mut c = connect(relay.addr).await;
        for m in [10, 11, 10] {
            posted(&c.post(&Sealer::new(m, b"g").next(), None).await.expect("post"));
        }
        let third = c.post(&Sealer::new(12, b"g").next(), None).await.expect("reply");
        assert_eq!(third.error_code(), Some(ErrorCode::TooManyMailboxes));
        let fetch = c.fetch(&Sealer::new(13, b"g").keys().mailbox, 0, 5).await.expect("reply");
        assert_eq!(fetch.error_code(), Some(ErrorCode::TooManyMailboxes));
        // The refusals did not end the connection.
        assert!(matches!(c.ping().await.expect("pong"), RelayEvent::Pong { .. }));
    });
}

#[test]
fn status_check_config_and_example_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = RelayProc::start(dir.path(), |_| {});
    block_on(async {
        let mut c = connect(relay.addr).await;
        posted(&c.post(&Sealer::new(20, b"s").next(), None).await.expect("post"));
    });
    let status = Command::new(BIN).arg("status").arg("--config").arg(&relay.config).output();
    let status = status.expect("status runs");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}\n{}", String::from_utf8_lossy(&status.stderr));
    assert!(text.contains(&format!("pid {}", relay.pid())), "{text}");
    assert!(text.contains(&format!("tcp {}", relay.addr)), "{text}");
    assert!(text.lines().any(|l| l.contains("envelopes stored") && l.ends_with(" 1")), "{text}");
    let check = Command::new(BIN).arg("check-config").arg("--config").arg(&relay.config).output();
    assert!(check.expect("check-config runs").status.success());
    let example = Command::new(BIN).arg("example-config").output().expect("example-config runs");
    let example = String::from_utf8(example.stdout).expect("utf-8");
    assert_eq!(
        cairn_relay::Config::parse(&example).expect("parses"),
        cairn_relay::Config::default()
    );
    let help = Command::new(BIN).arg("--help").output().expect("help runs");
    let help = String::from_utf8(help.stdout).expect("utf-8");
    assert!(help.contains("max_mailbox_bytes") && help.contains("pow_difficulty"), "{help}");
    drop(relay);
    let config = dir.path().join("relay.toml");
    let stopped = Command::new(BIN).arg("status").arg("--config").arg(&config).output();
    let stopped = stopped.expect("status runs");
    assert!(!stopped.status.success(), "status of a stopped relay must fail");
}
