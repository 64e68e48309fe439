//! Which relay delivered which envelope, for deduplication and for naming a
//! relay that withholds (`node.md`, "Withholding"). One per group, across
//! its relays: withholding shows only by comparing relays (or a relay with
//! the group's peers).
//!
//! A relay is expected to deliver an envelope only once a connection to it
//! has been subscribed to the envelope's mailbox for the grace period:
//! older epochs' mailboxes are followed on connections of their own, and
//! judging a relay by its main connection alone would name an honest relay
//! whose follower connection is still being made.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use core::time::Duration;

use crate::crypto::PublicKey;
use crate::wire::{Envelope, MailboxId};

/// Envelopes remembered for deduplication and withholding checks.
const REMEMBERED: usize = 8192;
/// Messages from peers remembered until a relay delivers them.
const PEER_REMEMBERED: usize = 1024;

/// A message a peer gave that no relay had delivered when it came.
struct PeerHeld {
    author: PublicKey,
    seq: u64,
    mailbox: MailboxId,
    learned: Duration,
    /// Relays already reported for not delivering it.
    reported: BTreeSet<String>,
}

/// One envelope: where it belongs, when it first came, from whom.
struct Sighting {
    mailbox: MailboxId,
    first: Duration,
    delivered_by: BTreeSet<String>,
    /// Relays already reported for not delivering it (reported once).
    reported: BTreeSet<String>,
}

/// Deliveries and subscriptions of one group's relays (times are `now`
/// since an origin the shell chooses).
#[derive(Default)]
pub struct Deliveries {
    order: VecDeque<[u8; 32]>,
    by: HashMap<[u8; 32], Sighting>,
    /// Per relay, since when its main connection is up.
    up_since: BTreeMap<String, Duration>,
    /// Per relay and mailbox, since when a connection is subscribed to it.
    serving: BTreeMap<(String, MailboxId), Duration>,
    /// Relays whose first connection attempt ended (up or down).
    tried: BTreeSet<String>,
    /// Per author, the highest seq any relay delivered.
    relay_heads: HashMap<PublicKey, u64>,
    /// Messages peers gave beyond what relays had delivered.
    from_peers: VecDeque<PeerHeld>,
}

impl Deliveries {
    /// Whether the main connection to `relay` is up.
    pub fn is_up(&self, relay: &str) -> bool {
        self.up_since.contains_key(relay)
    }

    /// Whether any relay's main connection is up.
    pub fn any_up(&self) -> bool {
        !self.up_since.is_empty()
    }

    /// Whether a first connection attempt to `relay` has ended.
    pub fn tried(&self, relay: &str) -> bool {
        self.tried.contains(relay)
    }

    /// Records a delivery; true if the envelope is new.
    pub fn record(&mut self, relay: &str, envelope: &Envelope, now: Duration) -> bool {
        let hash = *blake3::hash(envelope.as_bytes()).as_bytes();
        if let Some(seen) = self.by.get_mut(&hash) {
            seen.delivered_by.insert(relay.to_owned());
            return false;
        }
        if self.order.len() >= REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.by.remove(&old);
        }
        self.order.push_back(hash);
        let sighting = Sighting {
            mailbox: envelope.mailbox(),
            first: now,
            delivered_by: BTreeSet::from([relay.to_owned()]),
            reported: BTreeSet::new(),
        };
        self.by.insert(hash, sighting);
        true
    }

    /// Forgets a delivery that could not be stored, so that the same
    /// envelope is taken in when it comes again.
    pub fn forget(&mut self, envelope: &Envelope) {
        let hash = *blake3::hash(envelope.as_bytes()).as_bytes();
        if self.by.remove(&hash).is_some() {
            self.order.retain(|h| *h != hash);
        }
    }

    /// The main connection to `relay` came up (`true`) or ended (`false`:
    /// its follower connections end with it).
    pub fn connected(&mut self, relay: &str, up: bool, now: Duration) {
        self.tried.insert(relay.to_owned());
        if up {
            self.up_since.insert(relay.to_owned(), now);
        } else {
            self.up_since.remove(relay);
            self.serving.retain(|(r, _), _| r != relay);
        }
    }

    /// A connection to `relay` subscribed to `mailboxes` (`true`) or ended.
    pub fn subscribed(&mut self, relay: &str, mailboxes: &[MailboxId], up: bool, now: Duration) {
        for m in mailboxes {
            let key = (relay.to_owned(), *m);
            if up {
                self.serving.insert(key, now);
            } else {
                self.serving.remove(&key);
            }
        }
    }

    /// Relays delivered messages at these positions.
    pub fn relay_carried(&mut self, carried: impl IntoIterator<Item = (PublicKey, u64)>) {
        for (author, seq) in carried {
            let head = self.relay_heads.entry(author).or_default();
            *head = (*head).max(seq);
        }
        let heads = &self.relay_heads;
        self.from_peers.retain(|p| heads.get(&p.author).is_none_or(|h| *h < p.seq));
    }

    /// A peer gave messages at these positions (in these mailboxes): those
    /// no relay has delivered are expected from the relays within the grace.
    pub fn peer_carried(
        &mut self,
        carried: impl IntoIterator<Item = (PublicKey, u64, MailboxId)>,
        now: Duration,
    ) {
        for (author, seq, mailbox) in carried {
            if self.relay_heads.get(&author).is_some_and(|h| *h >= seq) {
                continue;
            }
            if self.from_peers.len() >= PEER_REMEMBERED {
                self.from_peers.pop_front();
            }
            let reported = BTreeSet::new();
            self.from_peers.push_back(PeerHeld { author, seq, mailbox, learned: now, reported });
        }
    }

    /// Per relay, how many envelopes (or messages a peer held) it newly
    /// failed to deliver although it has served their mailbox for `grace`
    /// since they first came.
    pub fn withheld(&mut self, now: Duration, grace: Duration) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        // What a peer held and no relay delivered: every relay serving the
        // mailbox withheld it (this names a group's only relay, too).
        for held in &mut self.from_peers {
            if now.saturating_sub(held.learned) < grace {
                continue;
            }
            for ((relay, mailbox), since) in &self.serving {
                let expected = *mailbox == held.mailbox && *since + grace <= now;
                if expected && held.reported.insert(relay.clone()) {
                    *counts.entry(relay.clone()).or_default() += 1;
                }
            }
        }
        for seen in self.by.values_mut() {
            if now.saturating_sub(seen.first) < grace {
                continue;
            }
            for ((relay, mailbox), since) in &self.serving {
                let expected = *mailbox == seen.mailbox && *since + grace <= now;
                if expected
                    && !seen.delivered_by.contains(relay)
                    && seen.reported.insert(relay.clone())
                {
                    *counts.entry(relay.clone()).or_default() += 1;
                }
            }
        }
        counts.into_iter().collect()
    }
}

#[cfg(test)]
mod test {
    use zeroize::Zeroizing;

    use super::*;
    use crate::crypto::XofRng;
    use crate::wire::{EpochKeys, Fragment};

    const GRACE: Duration = Duration::from_secs(20);

    /// The keys of a made-up epoch (its mailbox differs per `n`).
    fn epoch(n: u8) -> EpochKeys {
        EpochKeys::derive(&Zeroizing::new([n; 32]))
    }

    /// A new envelope each call (sealing draws a fresh nonce).
    fn envelope(keys: &EpochKeys, n: u8) -> Envelope {
        static SEALED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
        let seed = SEALED.fetch_add(1, core::sync::atomic::Ordering::Relaxed).to_le_bytes();
        let fragment = Fragment { tag: [n; 16], index: 0, count: 1, data: vec![n] };
        Envelope::seal(&mut XofRng::from_seed(&seed), keys, &fragment)
    }

    /// `relays` connected at `t0` and subscribed to `epoch`'s mailbox.
    fn serving(relays: &[&str], epoch: &EpochKeys, t0: Duration) -> Deliveries {
        let mut seen = Deliveries::default();
        for r in relays {
            seen.connected(r, true, t0);
            seen.subscribed(r, &[epoch.mailbox], true, t0);
        }
        seen
    }

    #[test]
    fn a_relay_serving_the_mailbox_that_never_delivers_is_reported_once() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let mut seen = serving(&["honest", "hiding"], &w, t0);
        assert!(seen.record("honest", &envelope(&w, 1), t0));
        assert!(seen.withheld(t0 + GRACE / 2, GRACE).is_empty(), "not before the grace");
        assert_eq!(seen.withheld(t0 + GRACE, GRACE), vec![("hiding".to_owned(), 1)]);
        assert!(seen.withheld(t0 + GRACE * 2, GRACE).is_empty(), "reported once");
    }

    #[test]
    fn a_forgotten_delivery_is_new_again() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let mut seen = serving(&["a"], &w, t0);
        let (env, other) = (envelope(&w, 1), envelope(&w, 2));
        assert!(seen.record("a", &env, t0));
        assert!(seen.record("a", &other, t0));
        seen.forget(&env);
        assert!(seen.record("a", &env, t0), "taken in when it comes again");
        assert!(!seen.record("a", &other, t0), "the others stay known");
    }

    #[test]
    fn a_late_delivery_within_the_grace_is_not_withholding() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let mut seen = serving(&["a", "b"], &w, t0);
        let env = envelope(&w, 1);
        assert!(seen.record("a", &env, t0));
        assert!(!seen.record("b", &env, t0 + GRACE / 2), "a duplicate");
        assert!(seen.withheld(t0 + GRACE * 2, GRACE).is_empty());
    }

    #[test]
    fn a_relay_not_yet_subscribed_to_an_older_mailbox_is_not_reported() {
        // The main connection serves the new epoch; the follower for the
        // old epoch is still connecting: old-mailbox envelopes delivered
        // by another relay are not this relay's to deliver yet.
        let t0 = Duration::from_secs(1000);
        let (old, new) = (epoch(1), epoch(2));
        let mut seen = Deliveries::default();
        seen.connected("a", true, t0);
        seen.subscribed("a", &[new.mailbox, old.mailbox], true, t0);
        seen.connected("b", true, t0);
        seen.subscribed("b", &[new.mailbox], true, t0);
        seen.record("a", &envelope(&old, 1), t0);
        assert!(seen.withheld(t0 + GRACE * 2, GRACE).is_empty());
        // Once it follows the old mailbox too, the grace starts from then.
        let later = t0 + GRACE * 2;
        seen.subscribed("b", &[old.mailbox], true, later);
        assert!(seen.withheld(later + GRACE / 2, GRACE).is_empty());
        assert_eq!(seen.withheld(later + GRACE, GRACE), vec![("b".to_owned(), 1)]);
    }

    #[test]
    fn a_relay_that_went_down_is_not_judged_until_it_serves_again() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let mut seen = serving(&["a", "b"], &w, t0);
        seen.connected("b", false, t0);
        seen.record("a", &envelope(&w, 1), t0);
        assert!(seen.withheld(t0 + GRACE * 3, GRACE).is_empty());
        assert!(!seen.is_up("b"));
        assert!(seen.tried("b"));
    }

    #[test]
    fn a_message_a_peer_held_that_no_relay_delivered_names_the_only_relay() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let author = PublicKey([7; 32]);
        let mut seen = serving(&["only"], &w, t0);
        seen.relay_carried([(author, 3)]);
        // Seq 3 came from the relay; 4 and 5 only from a peer.
        seen.peer_carried([(author, 3, w.mailbox), (author, 4, w.mailbox)], t0);
        seen.peer_carried([(author, 5, w.mailbox)], t0);
        assert!(seen.withheld(t0 + GRACE / 2, GRACE).is_empty(), "not before the grace");
        assert_eq!(seen.withheld(t0 + GRACE, GRACE), vec![("only".to_owned(), 2)]);
        assert!(seen.withheld(t0 + GRACE * 2, GRACE).is_empty(), "reported once");
    }

    #[test]
    fn a_relay_that_delivers_what_a_peer_gave_within_the_grace_is_not_named() {
        let t0 = Duration::from_secs(1000);
        let (w, other) = (epoch(1), epoch(2));
        let author = PublicKey([7; 32]);
        let mut seen = serving(&["only"], &w, t0);
        seen.peer_carried([(author, 1, w.mailbox), (author, 2, other.mailbox)], t0);
        seen.relay_carried([(author, 1)]);
        // Seq 2 is in a mailbox the relay is not subscribed to (yet).
        assert!(seen.withheld(t0 + GRACE * 3, GRACE).is_empty());
        assert!(seen.from_peers.len() == 1, "seq 1 is settled");
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Duration::from_secs(1000);
        let w = epoch(1);
        let mut seen = Deliveries::default();
        for n in 0..(REMEMBERED + 10) {
            assert!(seen.record("a", &envelope(&w, n as u8), t0));
        }
        assert_eq!(seen.by.len(), REMEMBERED);
        assert_eq!(seen.order.len(), REMEMBERED);
        let author = PublicKey([7; 32]);
        seen.peer_carried((1..=PEER_REMEMBERED as u64 + 10).map(|s| (author, s, w.mailbox)), t0);
        assert_eq!(seen.from_peers.len(), PEER_REMEMBERED);
    }
}
