//! [`Health`]: how the node's connections stand (Tor, listener, relays,
//! outbox, last sync), kept by the node as state. A view reads it when it
//! starts ([`super::Node::subscribe`]) and then folds the [`NodeEvent`]s,
//! which are the changes to it, with [`Health::apply`]: the same function
//! the node folds them with, so a view started late sees what an early one
//! does.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_proto::wire::GroupId;

use super::NodeEvent;

/// The node's connections, as state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Tor, or that it is not used.
    pub tor: Tor,
    /// Where peers reach this node, once it listens.
    pub listening: Option<String>,
    /// Each relay of each group that has been tried.
    pub relays: BTreeMap<(GroupId, String), Relay>,
    /// Outbox items not yet stored by every relay of their group.
    pub outbox: usize,
    /// When a message last arrived or a resync last finished (Unix seconds).
    pub last_sync: Option<u64>,
}

/// Tor's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tor {
    /// The node runs over loopback TCP (tests and demos): no Tor.
    NotUsed,
    /// Bootstrapping: percent done, and why it is stuck if it is.
    Bootstrapping {
        /// Percent done, 0–100.
        percent: u8,
        /// Why it is not progressing, if it is not.
        blocked: Option<String>,
    },
    /// Bootstrapped (or the onion service is up, which needs it).
    Ready,
}

/// One relay connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relay {
    /// Connected.
    Up,
    /// Unreachable; `retry_in` as the event said ([`Duration::MAX`]: not
    /// retried until restart or a relay list change).
    Down {
        /// Why.
        error: String,
        /// When the next attempt was due, counted from the failure.
        retry_in: Duration,
    },
}

impl Health {
    /// The state of a node that has not started: Tor at 0 % (or not used).
    pub fn new(tor: bool) -> Self {
        let tor = if tor { Tor::Bootstrapping { percent: 0, blocked: None } } else { Tor::NotUsed };
        Self { tor, listening: None, relays: BTreeMap::new(), outbox: 0, last_sync: None }
    }

    /// Folds one event in; `now` is Unix seconds.
    pub fn apply(&mut self, event: &NodeEvent, now: u64) {
        match event {
            NodeEvent::TorBootstrap { percent, blocked } if self.tor != Tor::NotUsed => {
                self.tor = if *percent >= 100 && blocked.is_none() {
                    Tor::Ready
                } else {
                    Tor::Bootstrapping { percent: *percent, blocked: blocked.clone() }
                };
            }
            NodeEvent::Listening { address } => {
                // In Tor mode the listener is the onion service: Tor works.
                if self.tor != Tor::NotUsed {
                    self.tor = Tor::Ready;
                }
                self.listening = Some(address.clone());
            }
            NodeEvent::RelayUp { group, relay } => {
                self.relays.insert((*group, relay.clone()), Relay::Up);
            }
            NodeEvent::RelayDown { group, relay, error, retry_in } => {
                let down = Relay::Down { error: error.clone(), retry_in: *retry_in };
                self.relays.insert((*group, relay.clone()), down);
            }
            NodeEvent::Queued { waiting, .. } => self.outbox = *waiting,
            NodeEvent::Delivered { .. } => self.outbox = self.outbox.saturating_sub(1),
            NodeEvent::Messages { .. } | NodeEvent::Synced { .. } => self.last_sync = Some(now),
            _ => {}
        }
    }

    /// Whether Tor is bootstrapped (false when it is not used).
    pub fn tor_ready(&self) -> bool {
        self.tor == Tor::Ready
    }

    /// How many relays of `group` are up.
    pub fn relays_up(&self, group: &GroupId) -> usize {
        self.relays.iter().filter(|((g, _), r)| g == group && **r == Relay::Up).count()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn tor_is_ready_at_100_percent_or_once_the_onion_service_listens() {
        let mut h = Health::new(true);
        h.apply(&NodeEvent::TorBootstrap { percent: 40, blocked: None }, 0);
        assert_eq!(h.tor, Tor::Bootstrapping { percent: 40, blocked: None });
        h.apply(&NodeEvent::Listening { address: "x.onion:1".into() }, 0);
        assert!(h.tor_ready(), "arti may never report 100 %; the onion service needs Tor");
        let mut h = Health::new(true);
        h.apply(&NodeEvent::TorBootstrap { percent: 100, blocked: None }, 0);
        assert!(h.tor_ready());
        let mut loopback = Health::new(false);
        loopback.apply(&NodeEvent::Listening { address: "127.0.0.1:1".into() }, 0);
        assert_eq!(loopback.tor, Tor::NotUsed);
    }

    #[test]
    fn relays_and_the_outbox_follow_their_events() {
        let mut h = Health::new(false);
        let group = GroupId([1; 32]);
        h.apply(&NodeEvent::RelayUp { group, relay: "a".into() }, 0);
        let down = NodeEvent::RelayDown {
            group,
            relay: "b".into(),
            error: "refused".into(),
            retry_in: Duration::from_secs(3),
        };
        h.apply(&down, 0);
        assert_eq!(h.relays_up(&group), 1);
        h.apply(&NodeEvent::Queued { waiting: 2, reason: String::new() }, 0);
        h.apply(&NodeEvent::Delivered { group, message: cairn_proto::wire::MessageId([0; 32]) }, 0);
        assert_eq!(h.outbox, 1);
        h.apply(
            &NodeEvent::Synced {
                group,
                peer: cairn_proto::crypto::PublicKey([0; 32]),
                accepted: 0,
            },
            7,
        );
        assert_eq!(h.last_sync, Some(7));
    }
}
