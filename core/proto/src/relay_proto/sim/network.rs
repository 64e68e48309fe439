//! A seeded hostile network between relay clients and relays, faithful to
//! what a stream (TCP, a Tor stream) can do to frames:
//!
//! * **delay**: each frame takes a random time, up to [`Hostility::max_delay`];
//! * **reorder**: frames of different connections overtake each other (a
//!   connection's own frames stay in order, as on any stream), and a
//!   relay's replies come in commit order, not request order;
//! * **drop**: a lost frame stalls its direction of the connection for good
//!   (a stream never skips a frame: it delivers nothing more), without
//!   either end being told: a half-open connection;
//! * **duplicate**: a client re-posts what a cut connection left
//!   unacknowledged, and a relay replays pushes after a new subscription;
//!   the network duplicates a connection's hello or request frames only by
//!   carrying them over a second connection;
//! * **disconnect**: connections are cut at random (both ends learn it), and
//!   clients reconnect.
//!
//! After `calm_at` it behaves, so that the properties' liveness halves
//! ("eventually stored") can be checked.

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use rand_core::Rng;

use crate::crypto::XofRng;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Dir {
    ToRelay,
    ToClient,
}

/// How hostile the network is, in events per thousand.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hostility {
    /// Chance per frame that it is lost (stalling its direction).
    pub(super) drop: u32,
    /// Frames take up to this long (uniformly), so they reorder.
    pub(super) max_delay: Duration,
    /// Chance per connection per second of a cut.
    pub(super) cut_per_second: u32,
    /// From then on: no drops, duplicates or cuts, and short delays.
    pub(super) calm_at: Duration,
}

impl Hostility {
    pub(super) fn hostile(calm_at: Duration) -> Self {
        let max_delay = Duration::from_millis(800);
        Self { drop: 5, max_delay, cut_per_second: 8, calm_at }
    }
}

/// A frame on its way.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) at: Duration,
    pub(super) conn: u64,
    pub(super) dir: Dir,
    pub(super) payload: Vec<u8>,
}

/// What the network did at one step.
#[derive(Debug)]
pub(super) enum NetEvent {
    Frame {
        conn: u64,
        dir: Dir,
        payload: Vec<u8>,
    },
    /// The connection is gone, both ends learn it.
    Cut(u64),
}

/// The connections and the frames in flight.
pub(super) struct Network {
    pub(super) rng: XofRng,
    hostility: Hostility,
    next_conn: u64,
    /// Live connections → (client, relay) they join.
    pub(super) conns: BTreeMap<u64, (usize, usize)>,
    /// Connections to cut at a time (a relay's close after its last frame).
    closing: BTreeMap<u64, Duration>,
    frames: Vec<InFlight>,
    /// Per connection and direction, when its last frame arrives (a
    /// stream delivers in order).
    last: BTreeMap<(u64, Dir), Duration>,
    /// Directions of connections that lost a frame: nothing more arrives.
    stalled: BTreeSet<(u64, Dir)>,
}

impl Network {
    pub(super) fn new(seed: &[u8], hostility: Hostility) -> Self {
        let rng = XofRng::from_seed(seed);
        let (conns, closing) = (BTreeMap::new(), BTreeMap::new());
        Self {
            rng,
            hostility,
            next_conn: 1,
            conns,
            closing,
            frames: Vec::new(),
            last: BTreeMap::new(),
            stalled: BTreeSet::new(),
        }
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.next_u32() % 1000 < per_mille
    }

    fn calm(&self, now: Duration) -> bool {
        now >= self.hostility.calm_at
    }

    pub(super) fn open(&mut self, client: usize, relay: usize) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, (client, relay));
        id
    }

    /// Ends a connection at once (frames in flight are lost).
    pub(super) fn cut(&mut self, conn: u64) {
        self.conns.remove(&conn);
        self.closing.remove(&conn);
        self.frames.retain(|f| f.conn != conn);
        self.last.retain(|(c, _), _| *c != conn);
        self.stalled.retain(|(c, _)| *c != conn);
    }

    /// Ends a connection once what was sent before has arrived.
    pub(super) fn close_after_flight(&mut self, now: Duration, conn: u64) {
        let at = now + self.hostility.max_delay + Duration::from_millis(1);
        self.closing.entry(conn).or_insert(at);
    }

    pub(super) fn send(&mut self, now: Duration, conn: u64, dir: Dir, payload: Vec<u8>) {
        if !self.conns.contains_key(&conn) || self.stalled.contains(&(conn, dir)) {
            return;
        }
        let calm = self.calm(now);
        if !calm && self.chance(self.hostility.drop) {
            self.stalled.insert((conn, dir));
            return;
        }
        let max = if calm { 50 } else { self.hostility.max_delay.as_millis().max(1) as u64 };
        let at = now + Duration::from_millis(self.rng.next_u64() % max);
        let last = self.last.entry((conn, dir)).or_default();
        // In order within the connection (the sort below is stable).
        let at = at.max(*last);
        *last = at;
        self.frames.push(InFlight { at, conn, dir, payload });
    }

    /// Everything due by `now`, in arrival order, then random cuts (and
    /// closes whose frames have arrived).
    pub(super) fn step(&mut self, now: Duration, dt: Duration) -> Vec<NetEvent> {
        let (mut due, later): (Vec<_>, Vec<_>) = self.frames.drain(..).partition(|f| f.at <= now);
        self.frames = later;
        due.sort_by_key(|f| f.at);
        let frames = due.into_iter().map(|f| NetEvent::Frame {
            conn: f.conn,
            dir: f.dir,
            payload: f.payload,
        });
        let mut out: Vec<NetEvent> = frames.collect();
        let mut cuts: Vec<u64> =
            self.closing.iter().filter(|(_, at)| **at <= now).map(|(c, _)| *c).collect();
        if !self.calm(now) {
            let per_million = self.hostility.cut_per_second.saturating_mul(dt.as_millis() as u32);
            let live: Vec<u64> = self.conns.keys().copied().collect();
            cuts.extend(live.into_iter().filter(|_| self.rng.next_u32() % 1_000_000 < per_million));
        }
        cuts.sort_unstable();
        cuts.dedup();
        for conn in cuts {
            self.cut(conn);
            out.push(NetEvent::Cut(conn));
        }
        out
    }
}
