//! The relay client's promises, each checked over many seeded runs of a
//! hostile network (drops, delays that reorder, duplicates, cuts) that
//! calms down at [`CALM`], so that "eventually" can be checked at [`END`].

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use rand_core::Rng;

use super::World;
use super::driver::Event;
use super::network::Hostility;
use crate::relay_proto::{
    Deliveries, ErrorCode, ErrorReply, RelayLimits, Request, Response, Retry,
};
use crate::wire::{ENVELOPE_LEN, Envelope, MailboxId};

/// The network is hostile until then.
const CALM: Duration = Duration::from_secs(600);
/// Runs end then (what the calm period leaves undone is a failure).
const END: Duration = Duration::from_secs(900);
/// Seeds per property.
const SEEDS: u64 = 8;

fn seed(name: &str, n: u64) -> Vec<u8> {
    let mut s = name.as_bytes().to_vec();
    s.extend_from_slice(&n.to_le_bytes());
    s
}

fn every(w: &World, period: Duration) -> bool {
    w.now.as_millis().is_multiple_of(period.as_millis())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Relay limits asking a small proof of work to create a mailbox.
fn with_pow() -> RelayLimits {
    RelayLimits { pow_difficulty: 3, ..RelayLimits::default() }
}

/// The log of client `c`'s driver for relay `r`.
fn log(w: &World, c: usize, r: usize) -> &[(Duration, Event)] {
    &w.clients[c].drivers[r].log
}

/// Items of client `c` that relay `r` never acknowledged.
fn unacked(w: &World, c: usize, r: usize) -> Vec<u64> {
    let acked = &w.clients[c].drivers[r].acked;
    w.clients[c].outbox.keys().filter(|i| !acked.contains(i)).copied().collect()
}

/// An outbox item acknowledged by the relay is durably stored there, at
/// the moment of the acknowledgement, and nothing is written twice.
#[test]
fn every_acknowledged_post_is_stored_exactly_once() {
    for n in 0..SEEDS {
        let mut w = World::new(&seed("stored once", n), Hostility::hostile(CALM), 1, &[with_pow()]);
        w.enter_epoch(0, 2);
        let (mut checked, mut early) = (0, Vec::new());
        w.run_until(END, |w| {
            if w.now < CALM && every(w, secs(7)) {
                let count = 1 + w.rng.next_u32() % 3;
                let envelopes = (0..count).map(|i| w.envelope(1 + (i % 2) as u8)).collect();
                w.write(0, envelopes);
            }
            for (at, event) in &log(w, 0, 0)[checked..] {
                let Event::Acked(item) = event else { continue };
                let stored = |e: &Envelope| w.relays[0].store.index.contains_key(&e.as_bytes()[..]);
                if !w.clients[0].outbox[item].iter().all(stored) {
                    early.push((*at, *item));
                }
            }
            checked = log(w, 0, 0).len();
        });
        assert!(early.is_empty(), "seed {n}: acknowledged before stored: {early:?}");
        assert_eq!(unacked(&w, 0, 0), Vec::<u64>::new(), "seed {n}: never acknowledged");
        let writes = &w.relays[0].store.writes;
        let distinct: BTreeSet<&Vec<u8>> = writes.iter().collect();
        assert_eq!(distinct.len(), writes.len(), "seed {n}: an envelope stored twice");
        assert!(w.clients[0].outbox.len() > 50, "seed {n}: a run with posts");
    }
}

/// An envelope with a bad write signature: the relay refuses it for good.
fn forged(e: &Envelope) -> Envelope {
    let mut bytes = *e.as_bytes();
    bytes[ENVELOPE_LEN - 1] ^= 1;
    Envelope::parse(&bytes).expect("shape")
}

/// A post refused with a code that cannot succeed (a bad signature) is not
/// posted to that relay again, on that connection or any later one, while
/// the rest of its item and other items still go.
#[test]
fn a_typed_refusal_that_cannot_succeed_is_not_retried() {
    for n in 0..SEEDS {
        let limits = [RelayLimits::default()];
        let mut w = World::new(&seed("not retried", n), Hostility::hostile(CALM), 1, &limits);
        let mut bad: BTreeMap<u64, Envelope> = BTreeMap::new();
        w.run_until(END, |w| {
            if w.now < CALM && every(w, secs(5)) {
                let good = w.envelope(1);
                let item = if w.rng.next_u32() % 2 == 0 {
                    let forged = forged(&w.envelope(1));
                    let item = w.write(0, vec![good, forged.clone()]);
                    bad.insert(item, forged);
                    item
                } else {
                    w.write(0, vec![good])
                };
                let _ = item;
            }
        });
        let mut refused_at: BTreeMap<u64, Duration> = BTreeMap::new();
        let (mut again, mut final_retry) = (Vec::new(), true);
        for (at, event) in log(&w, 0, 0) {
            match event {
                Event::Refused { item, refusal, retry } => {
                    assert_eq!(refusal.code(), Some(ErrorCode::BadSignature), "seed {n}");
                    refused_at.entry(*item).or_insert(*at);
                    final_retry &= *retry == Retry::Never;
                }
                Event::Sent(_, Request::Post { envelope, .. }) => {
                    let after_refusal = bad.iter().find(|(item, e)| {
                        e.as_bytes()[..] == envelope[..] && refused_at.contains_key(item)
                    });
                    if let Some((item, _)) = after_refusal {
                        again.push((*at, *item));
                    }
                }
                _ => {}
            }
        }
        assert!(again.is_empty(), "seed {n}: posted again after a final refusal: {again:?}");
        assert!(final_retry, "seed {n}: a bad signature not refused for good");
        assert!(refused_at.len() >= bad.len() / 2, "seed {n}: few final refusals: {refused_at:?}");
        let unacked = unacked(&w, 0, 0);
        let stray: Vec<_> = unacked.iter().filter(|i| !bad.contains_key(i)).collect();
        assert!(stray.is_empty(), "seed {n}: good items never acknowledged: {stray:?}");
    }
}

/// The least wait a refusal asks for: `RateLimited` names it in
/// milliseconds; `Overloaded` names none and `node.md` says 5 s.
fn asked_wait(code: u16, info: u64) -> Option<Duration> {
    match ErrorCode::from_number(code)? {
        ErrorCode::RateLimited => Some(Duration::from_millis(info)),
        ErrorCode::Overloaded => Some(secs(5)),
        _ => None,
    }
}

/// A post refused with a wait (`RateLimited` by a relay enforcing a lower
/// rate than it announced, `Overloaded` by a busy one) goes again on the
/// same connection, not before the wait, and gets through.
#[test]
fn a_refusal_with_a_wait_is_retried_after_it() {
    for n in 0..SEEDS {
        let enforced = RelayLimits { requests_per_second: 2, burst: 2, ..RelayLimits::default() };
        let mut w = World::new(&seed("retried after", n), Hostility::hostile(CALM), 1, &[enforced]);
        let announced = RelayLimits { requests_per_second: 4, burst: 8, ..enforced };
        w.relays[0].announce = Some(announced);
        w.relays[0].overloaded_every = 5;
        w.run_until(END, |w| {
            if w.now < CALM && every(w, secs(30)) {
                for _ in 0..12 {
                    let e = w.envelope(1);
                    w.write(0, vec![e]);
                }
            }
        });
        // Per connection: request id → envelope; envelope → when it may go.
        let mut posts: BTreeMap<(u64, u32), Vec<u8>> = BTreeMap::new();
        let mut not_before: BTreeMap<(u64, Vec<u8>), Duration> = BTreeMap::new();
        let (mut limited, mut retried, mut early) = (0, 0, Vec::new());
        for (at, event) in log(&w, 0, 0) {
            match event {
                Event::Sent(conn, Request::Post { id, envelope, .. }) => {
                    if let Some(t) = not_before.remove(&(*conn, envelope.clone())) {
                        retried += 1;
                        if *at < t {
                            early.push((*at, t));
                        }
                    }
                    posts.insert((*conn, *id), envelope.clone());
                }
                Event::Received(conn, Response::Error(ErrorReply { id: Some(id), code, info })) => {
                    let wait = asked_wait(*code, *info);
                    if let (Some(wait), Some(e)) = (wait, posts.remove(&(*conn, *id))) {
                        limited += 1;
                        not_before.insert((*conn, e), *at + wait);
                    }
                }
                _ => {}
            }
        }
        assert!(early.is_empty(), "seed {n}: retried before the wait: {early:?}");
        assert!(limited > 10 && retried > 10, "seed {n}: {limited} limited, {retried} retried");
        assert_eq!(unacked(&w, 0, 0), Vec::<u64>::new(), "seed {n}: never acknowledged");
    }
}

/// When the group enters a new epoch, the client's subscriptions follow:
/// the relay ends up serving the newest mailboxes, what is posted there is
/// stored, and what is stored there is delivered.
#[test]
fn subscriptions_follow_every_epoch_change() {
    let changes = [(secs(60), 2), (secs(150), 3), (secs(300), 4), (secs(450), 5), (secs(660), 6)];
    for n in 0..SEEDS {
        let mut w = World::new(&seed("epochs", n), Hostility::hostile(CALM), 1, &[with_pow()]);
        let mut newest = 1;
        w.run_until(END, |w| {
            if let Some((_, e)) = changes.iter().find(|(at, _)| *at == w.now) {
                newest = *e;
                w.enter_epoch(0, *e);
            }
            if w.now < END - secs(60) && every(w, secs(5)) {
                let e = w.envelope(newest);
                w.write(0, vec![e]);
            }
        });
        let driver = &w.clients[0].drivers[0];
        let window =
            driver.session().expect("connected at the end").window(&w.clients[0].mailboxes);
        let conn = driver.conn().expect("a connection");
        let relay = &w.relays[0];
        let serving: BTreeSet<MailboxId> = relay.sessions[&conn]
            .as_ref()
            .expect("served")
            .subscriptions()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(serving, window.iter().copied().collect(), "seed {n}: not the newest mailboxes");
        for (_, e) in changes {
            let m = super::epoch(e).mailbox;
            let subscribed = relay.subscribes.iter().any(|(_, ms)| ms.contains(&m));
            assert!(subscribed, "seed {n}: epoch {e} never subscribed");
        }
        // Items of mailboxes the connection no longer uses are not this
        // property's (see "left undone" in the module doc).
        let current =
            |i: &u64| w.clients[0].outbox[i].iter().all(|e| window.contains(&e.mailbox()));
        let stuck: Vec<u64> = unacked(&w, 0, 0).into_iter().filter(current).collect();
        assert_eq!(stuck, Vec::<u64>::new(), "seed {n}: never acknowledged");
        let delivered: BTreeSet<Vec<u8>> = log(&w, 0, 0)
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Delivered { envelope, .. } => Some(envelope.as_bytes().to_vec()),
                _ => None,
            })
            .collect();
        for m in &window {
            let stored = relay.store.mailboxes.get(m).map(Vec::as_slice).unwrap_or_default();
            let missing = stored.iter().filter(|e| !delivered.contains(*e)).count();
            assert_eq!(missing, 0, "seed {n}: stored in the newest mailboxes, not delivered");
        }
    }
}

/// A relay that stores what is posted but never delivers it is named as
/// withholding by a reader that gets the same envelopes from another
/// relay; the relay that delivers is never named.
#[test]
fn withholding_is_reported() {
    const GRACE: Duration = Duration::from_secs(20);
    let names = ["honest", "hiding"];
    for n in 0..SEEDS {
        let limits = [RelayLimits::default(), RelayLimits::default()];
        let mut w = World::new(&seed("withholding", n), Hostility::hostile(CALM), 2, &limits);
        w.relays[1].withholds = true;
        w.run_until(END, |w| {
            if w.now < CALM + secs(60) && every(w, secs(5)) {
                let e = w.envelope(1);
                w.write(0, vec![e]);
            }
        });
        // The reader's view, replayed in time order into its record.
        let mut events: Vec<(Duration, usize, &Event)> =
            (0..2).flat_map(|r| log(&w, 1, r).iter().map(move |(at, e)| (*at, r, e))).collect();
        events.sort_by_key(|(at, r, _)| (*at, *r));
        let mut deliveries = Deliveries::default();
        let mut named: BTreeMap<String, usize> = BTreeMap::new();
        let mut events = events.into_iter().peekable();
        let mut t = Duration::ZERO;
        let mut delivered = 0;
        while t <= END {
            while let Some((_, r, e)) = events.next_if(|(at, _, _)| *at <= t) {
                let relay = names[r];
                match e {
                    Event::Connected(_) => deliveries.connected(relay, true, t),
                    Event::Ended(_) => deliveries.connected(relay, false, t),
                    Event::Subscribed(m) => deliveries.subscribed(relay, m, true, t),
                    Event::Delivered { envelope, .. } => {
                        delivered += 1;
                        deliveries.record(relay, envelope, t);
                    }
                    _ => {}
                }
            }
            for (relay, count) in deliveries.withheld(t, GRACE) {
                *named.entry(relay).or_default() += count;
            }
            t += Duration::from_secs(1);
        }
        assert!(delivered > 50, "seed {n}: the honest relay delivered {delivered}");
        assert!(named.get("hiding").is_some_and(|c| *c > 0), "seed {n}: not named: {named:?}");
        assert!(!named.contains_key("honest"), "seed {n}: the honest relay named: {named:?}");
    }
}
